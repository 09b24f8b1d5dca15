"""cgit's list of repositories: one include-file stanza per bare repository.

cgit reads ``repo.url=``/``repo.path=`` stanzas from an include file (see
``web/cgitrc``) on every request, so a repository appears as soon as its stanza
is in the file, with no rescan of the git root.  copr-dist-git appends such a
stanza when it creates a repository; the git-writer calls
:meth:`CgitList.ensure_listed` for every repository it commits to.

Contract:

* of our processes only the git-writer writes the file (it holds the spool's
  writer lock); copr-dist-git's ``copr-dist-git-refresh-cgit`` may rewrite it on
  the same host (its monthly full refresh), under ``flock`` on its lock file
  (``cgit_cache_lock_file``).  With a ``lock`` we take the same flock around
  reading and appending, so neither sees the other's half-written file;
* stanzas have copr's exact form (``\nrepo.url=<o/p/pkg.git>\nrepo.path=<path>/\n``),
  and with ``subdirs`` (copr's ``cgit_cache_list_file``) the url is also appended
  to the list that copr's full refresh merges with its scan, so a refresh that
  scanned before the repository existed still keeps its stanza;
* the listed urls are read into a set, and read again only when the file changed
  under us (its inode, size or mtime), so listing an already-listed repository
  costs a set lookup and a ``stat``; a stanza that someone else's rewrite dropped
  is appended again on the repository's next commit;
* a missing stanza is appended with one ``write`` and fsynced, so readers never
  see a half stanza unless the machine crashes mid-write;
* a torn tail from such a crash (an incomplete last line, or a ``repo.url``
  without its ``repo.path``) is cut off when the file is loaded; the stanza is
  appended again on the next commit to that repository, which also repairs a
  crash between creating a repository and listing it;
* failing to list (also: the lock held for longer than ``lock_timeout``) is
  logged, never fails an import: the next commit retries.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..settings import Settings
from .atomicfile import fsync_dir
from .lockfile import flock_within

__all__ = ["CgitList", "read_listed"]

log = logging.getLogger(__name__)
_URL = b"repo.url="
_PATH = b"repo.path="


def _scan(data: bytes) -> tuple[set[str], int]:
    """The urls of complete stanzas in ``data``, and where its intact part ends."""
    listed: set[str] = set()
    pending: str | None = None
    intact = 0
    offset = 0
    for line in data.splitlines(keepends=True):
        offset += len(line)
        if not line.endswith(b"\n"):
            break  # torn last line
        text = line.rstrip(b"\n")
        if text.startswith(_URL):
            pending = text[len(_URL) :].decode("utf-8", "surrogateescape")
        elif text.startswith(_PATH) and pending is not None:
            listed.add(pending)
            pending = None
        if pending is None:
            intact = offset
    return listed, intact


def read_listed(path: Path) -> set[str]:
    """The repository urls that ``path`` lists completely (empty if it is missing)."""
    try:
        return _scan(path.read_bytes())[0]
    except FileNotFoundError:
        return set()


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class CgitList:
    """Appends a stanza for each repository under ``git_root`` not yet in ``path``."""

    def __init__(
        self,
        path: Path,
        *,
        git_root: Path,
        lock: Path | None = None,
        subdirs: Path | None = None,
        lock_timeout: float = 60.0,
    ) -> None:
        self.path = path
        # cgit resolves repo.path on its own, from another working directory.
        self.git_root = git_root.absolute()
        self.lock = lock
        self.subdirs = subdirs
        self.lock_timeout = lock_timeout
        self._listed: set[str] | None = None
        self._seen: tuple[int, int, int] | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> CgitList:
        return cls(
            settings.cgit_list_path, git_root=settings.git_root, lock=settings.cgit_lock, subdirs=settings.cgit_subdirs
        )

    def ensure_listed(self, repo_path: Path) -> bool:
        """List the bare repository at ``repo_path`` unless it is listed already; True if it was added."""
        repo_path = repo_path.absolute()
        url = repo_path.relative_to(self.git_root).as_posix()
        if self._listed is not None and url in self._listed and _stat(self.path) == self._seen:
            return False  # one stat: a list rewritten under us (copr's refresh) is read again
        try:
            with self._locked():
                listed = self._load()
                if url in listed:
                    return False
                self._append(self.path, f"\nrepo.url={url}\nrepo.path={repo_path}/\n".encode())
                listed.add(url)
                self._seen = _stat(self.path)
                self._record_subdir(url)
        except OSError as exc:
            log.warning("cannot list %s for cgit in %s (retried on its next commit): %s", url, self.path, exc)
            return False
        log.info("listed %s for cgit", url)
        return True

    def _record_subdir(self, url: str) -> None:
        """Add ``url`` to copr's list of repositories, which its full refresh merges with its scan."""
        if self.subdirs is None:
            return
        try:
            self._append(self.subdirs, f"{url}\n".encode())
        except OSError as exc:  # the stanza is in; copr's next full scan finds the repository anyway
            log.warning("cannot record %s in %s: %s", url, self.subdirs, exc)

    def ensure_all(self) -> int:
        """List every repository under the git root (``<owner>/<project>/<pkg>.git``) that is
        missing; return how many were added.  For repositories that existed before the
        list did, e.g. imported by copr-dist-git: the writer lists only what it commits to."""
        return sum(self.ensure_listed(repo) for repo in sorted(self.git_root.glob("*/*/*.git")) if repo.is_dir())

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold copr's cgit lock (flock, as ``copr-dist-git-refresh-cgit`` takes it), if there is one."""
        if self.lock is None:
            yield
            return
        fd = os.open(self.lock, os.O_RDWR | os.O_CREAT, 0o664)
        try:
            if not flock_within(fd, seconds=self.lock_timeout, step=0.1):
                raise OSError(f"{self.lock} stayed locked for {self.lock_timeout:g} s")
            yield
        finally:
            os.close(fd)  # releases the flock

    def _load(self) -> set[str]:
        """The listed urls, read again if the file changed since we last saw it."""
        seen = _stat(self.path)
        if self._listed is None or seen != self._seen:
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                data = b""
            listed, intact = _scan(data)
            if intact < len(data):
                log.warning("cutting a torn stanza off %s (%d bytes)", self.path, len(data) - intact)
                os.truncate(self.path, intact)
            self._listed, self._seen = listed, _stat(self.path)
        return self._listed

    @staticmethod
    def _append(path: Path, data: bytes) -> None:
        created = not path.exists()
        if created:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(f"short write ({written} of {len(data)} bytes)")
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, size)  # leave no torn stanza for the next append
                raise
        finally:
            os.close(fd)
        if created:
            fsync_dir(path.parent)
