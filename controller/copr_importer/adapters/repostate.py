"""The importer's own state inside a bare repository: ``<repo>/.copr-importer/``.

Git ignores unknown names in a repository directory, clones never see them
(``git upload-pack`` advertises refs only), and the web side serves no hidden
name, so nothing here reaches a user.  Three files:

``lock``
    An ``flock`` taken by whoever writes to the repository or maintains it (the
    git-writer while it has the repository open, ``maintain-repos`` while it
    repacks).  Git's own ``*.lock`` files guard each ref; this one makes a
    commit and a repack of the same repository take turns, in every process and
    pod that shares the volume.

``root``
    The default branch's root commit, where new branches start (copr's
    ``mkbranch``).  Only a hint: a reader checks it is a root commit and walks
    the history again otherwise.  Earlier versions kept it in
    ``refs/importer/root``, where every clone saw it.

``ref-update``
    The ref the writer is changing right now and the value it writes.  Git's
    ref locks are never broken: a ``<ref>.lock`` found later is removed only
    when this record proves it is the writer's own, left by a ``kill -9`` in the
    middle of the update (see :meth:`RepoState.own_leftover_lock`).
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

from .lockfile import flock_within

__all__ = ["RepoLocked", "RepoState", "STATE_DIR"]

STATE_DIR = ".copr-importer"
_RECORD_SIZE = 512  # one ref name and a sha; rewritten in place, never grown


class RepoLocked(Exception):
    """Another process holds the repository's lock."""


class RepoState:
    """The files of one repository's ``.copr-importer`` directory."""

    def __init__(self, repo_path: Path) -> None:
        self.dir = repo_path / STATE_DIR
        self._lock_fd: int | None = None
        self._record_fd: int | None = None

    def _ensure_dir(self) -> None:
        # The directory inherits the repository's setgid group; mode follows the umask
        # that the caller set for a shared repository.
        self.dir.mkdir(mode=0o777, exist_ok=True)

    # --- the repository lock ---------------------------------------------------

    def lock(self, *, wait: float) -> None:
        """Take the repository's lock, waiting up to ``wait`` seconds; :class:`RepoLocked` if not."""
        if self._lock_fd is not None:
            return
        self._ensure_dir()
        fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o666)
        if not flock_within(fd, seconds=wait, step=0.05):
            os.close(fd)
            raise RepoLocked(f"{self.dir.parent} is locked by another process (maintenance?)")
        self._lock_fd = fd

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    def unlock(self) -> None:
        for fd in (self._record_fd, self._lock_fd):
            if fd is not None:
                os.close(fd)  # closing the descriptor releases the flock
        self._lock_fd = self._record_fd = None

    # --- the root-commit hint --------------------------------------------------

    def read_root(self) -> str | None:
        try:
            text = (self.dir / "root").read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return text if len(text) == 40 and all(c in "0123456789abcdef" for c in text) else None

    def write_root(self, sha: str) -> None:
        """Written in place: a torn hint fails :meth:`read_root`'s check and is recomputed."""
        self._ensure_dir()
        (self.dir / "root").write_text(sha + "\n")

    # --- the ref-update record -------------------------------------------------

    def _record(self) -> int:
        if self._record_fd is None:
            self._ensure_dir()
            self._record_fd = os.open(self.dir / "ref-update", os.O_RDWR | os.O_CREAT, 0o666)
        return self._record_fd

    def begin_ref_update(self, ref: str, *, new: str) -> None:
        """Say which ref is about to change (before git's lock on it is taken)."""
        line = f"{ref} {new}\n".encode()
        if len(line) > _RECORD_SIZE:
            raise ValueError(f"ref name too long: {ref!r}")
        os.pwrite(self._record(), line.ljust(_RECORD_SIZE, b" "), 0)

    def end_ref_update(self) -> None:
        os.pwrite(self._record(), b" " * _RECORD_SIZE, 0)

    def own_leftover_lock(self) -> Path | None:
        """The ``<ref>.lock`` a killed writer left, if the record proves it is ours.

        Proof: the record names the ref (so the writer died between writing the
        record and clearing it), the lock was created after the record was
        written (a lock that was already there made the update fail, and the
        record would have been cleared), and it holds nothing or exactly the
        value the writer was writing.  Only the writer calls this, holding the
        spool's writer lock and this repository's lock, so no other writer of
        ours is alive.  Anything else is someone else's lock and stays.
        """
        try:
            fd = self._record()
        except OSError:
            return None
        record = os.pread(fd, _RECORD_SIZE, 0).decode("utf-8", "replace").split()
        recorded_ns = os.fstat(fd).st_mtime_ns
        if len(record) != 2:
            return None
        ref, new = record
        lock = self.dir.parent / f"{ref}.lock"
        try:
            content = lock.read_text()
            created_ns = lock.stat().st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            return None
        if created_ns >= recorded_ns and content.strip() in ("", new):
            return lock
        return None

    def clear_own_leftover(self) -> Path | None:
        """Remove the writer's own leftover ref lock (see :meth:`own_leftover_lock`); returns it."""
        lock = self.own_leftover_lock()
        if lock is not None:
            with suppress(FileNotFoundError):
                lock.unlink()
            self.end_ref_update()
        return lock
