"""Which operating-system errors are the storage's fault, and how to say so.

A write that fails because the disk is full, over quota, read-only, failing or
refused by permissions is the operator's problem, never the build's: the work
that hit it stays and is retried (:class:`~copr_importer.errors.StorageError`).
Everything else an import or the git-writer meets is judged by its caller.
"""

from __future__ import annotations

import errno

from ..errors import StorageError

__all__ = ["STORAGE_ERRNOS", "describe", "is_storage_fault", "storage_error"]

STORAGE_ERRNOS = frozenset(
    {
        errno.ENOSPC,  # no space left
        errno.EDQUOT,  # quota exceeded
        errno.EROFS,  # read-only filesystem (remounted after errors, or mounted so)
        errno.EIO,  # the device failed
        errno.EUCLEAN,  # the filesystem needs fsck
        errno.ESTALE,  # NFS lost the file handle
        errno.EFBIG,  # a file size limit of the filesystem or of the process
        errno.EACCES,  # permissions: an operator's change of owners or modes
        errno.EPERM,
        errno.EMFILE,  # out of file descriptors: the process or the system
        errno.ENFILE,
        errno.ENOMEM,
    }
)


def is_storage_fault(exc: BaseException) -> bool:
    """True for an :class:`OSError` that the storage caused, or a :class:`StorageError`."""
    return isinstance(exc, StorageError) or (isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS)


def describe(exc: OSError) -> str:
    """``"no space left on device (/data/spool/x)"``: readable, without Python's type names."""
    reason = (exc.strerror or str(exc)).lower() if exc.errno is not None else str(exc)
    return f"{reason} ({exc.filename})" if exc.filename else reason


def storage_error(exc: OSError, *, doing: str) -> StorageError:
    """The transient error for a storage fault met while ``doing`` something."""
    return StorageError(f"storage refused {doing}: {describe(exc)}")
