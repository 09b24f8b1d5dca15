"""What a failed git operation means for the caller: the disk, someone else's lock, or the repository.

The same three answers whether the failure came from Python (an ``OSError`` with
an errno), from libgit2 (a message that ends in the system's error text), or
from a ``git`` subprocess (its stderr):

* :class:`~copr_importer.errors.StorageError`: ENOSPC, EROFS, EIO, EDQUOT;
  transient, the operator's problem, never the build's (when a message lost its
  errno, the filesystem itself is asked whether it is full or read-only);
* :class:`RepositoryBusy`: a lock someone else holds (a ref's ``*.lock``,
  ``packed-refs.lock``, a running ``git gc``) or a ref that moved under us;
  transient, retried later, the lock is never touched;
* :class:`RepositoryError`: anything else.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ..errors import ImporterError, StorageError, TransientError

__all__ = ["RepositoryBusy", "RepositoryError", "classify"]


class RepositoryError(ImporterError):
    """A git operation failed on a repository (callers never see pygit2's or GitPython's errors)."""


class RepositoryBusy(RepositoryError, TransientError):
    """A lock on the repository is held by someone else, or a ref changed under us: try again later."""


_STORAGE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EIO, errno.EDQUOT)
# libgit2 and git append strerror() to their messages; match the same texts.
_STORAGE_TEXTS = tuple(os.strerror(code) for code in _STORAGE_ERRNOS)
_BUSY_TEXTS = (
    "failed to lock file",  # libgit2: a <file>.lock exists
    ".lock': File exists",  # git: Unable to create '<file>.lock': File exists.
    "cannot lock ref",  # git: a ref transaction met a lock or a moved ref
    "old reference value does not match",  # libgit2: compare-and-swap lost
    "a reference with that name already exists",  # libgit2: created meanwhile
    "gc is already running",  # git gc's gc.pid
    "Another git process seems to be running",
)


def classify(exc: BaseException | str, *, path: Path, doing: str) -> ImporterError:
    """The exception to raise for ``exc`` (an exception, or a git subprocess's stderr)."""
    text = exc if isinstance(exc, str) else str(exc)
    code = exc.errno if isinstance(exc, OSError) else None
    message = f"{doing} in {path}: {text.strip()}"
    if code in _STORAGE_ERRNOS or any(t in text for t in _STORAGE_TEXTS):
        return StorageError(message)
    if any(t in text for t in _BUSY_TEXTS):
        return RepositoryBusy(message)
    refusal = _disk_refuses(path)
    if refusal:
        return StorageError(f"{message} ({refusal})")
    return RepositoryError(message)


def _disk_refuses(path: Path) -> str | None:
    """Ask the filesystem when the error lost its errno (libgit2 reports some failed
    writes as "no error"): full, out of inodes, or mounted read-only."""
    for candidate in (path, *path.parents):
        try:
            fs = os.statvfs(candidate)
        except OSError:
            continue
        if fs.f_flag & os.ST_RDONLY:
            return os.strerror(errno.EROFS)
        if fs.f_bavail == 0 or (fs.f_files and fs.f_favail == 0):
            return os.strerror(errno.ENOSPC)
        return None
    return None
