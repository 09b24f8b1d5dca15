"""cgit's list of repositories: one include-file stanza per bare repository.

cgit reads ``repo.url=``/``repo.path=`` stanzas from an include file (see
``web/cgitrc``) on every request, so a repository appears as soon as its stanza
is in the file, with no rescan of the git root.  copr-dist-git appends such a
stanza when it creates a repository; the git-writer calls
:meth:`CgitList.ensure_listed` for every repository it commits to.

Contract:

* only the git-writer writes the file (it holds the spool's writer lock);
* the listed urls are read once, on first use, into a set, so listing an
  already-listed repository costs a set lookup;
* a missing stanza is appended with one ``write`` and fsynced, so readers never
  see a half stanza unless the machine crashes mid-write;
* a torn tail from such a crash (an incomplete last line, or a ``repo.url``
  without its ``repo.path``) is cut off when the file is loaded; the stanza is
  appended again on the next commit to that repository, which also repairs a
  crash between creating a repository and listing it;
* failing to list is logged, never fails an import: the next commit retries.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .atomicfile import fsync_dir

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


class CgitList:
    """Appends a stanza for each repository under ``git_root`` not yet in ``path``."""

    def __init__(self, path: Path, *, git_root: Path) -> None:
        self.path = path
        # cgit resolves repo.path on its own, from another working directory.
        self.git_root = git_root.absolute()
        self._listed: set[str] | None = None

    def ensure_listed(self, repo_path: Path) -> bool:
        """List the bare repository at ``repo_path`` unless it is listed already; True if it was added."""
        repo_path = repo_path.absolute()
        url = repo_path.relative_to(self.git_root).as_posix()
        try:
            listed = self._load()
            if url in listed:
                return False
            self._append(f"repo.url={url}\nrepo.path={repo_path}\n\n".encode())
        except OSError as exc:
            log.warning("cannot list %s for cgit in %s (retried on its next commit): %s", url, self.path, exc)
            return False
        listed.add(url)
        log.info("listed %s for cgit", url)
        return True

    def ensure_all(self) -> int:
        """List every repository under the git root (``<owner>/<project>/<pkg>.git``) that is
        missing; return how many were added.  For repositories that existed before the
        list did, e.g. imported by copr-dist-git: the writer lists only what it commits to."""
        return sum(self.ensure_listed(repo) for repo in sorted(self.git_root.glob("*/*/*.git")) if repo.is_dir())

    def _load(self) -> set[str]:
        if self._listed is None:
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                data = b""
            listed, intact = _scan(data)
            if intact < len(data):
                log.warning("cutting a torn stanza off %s (%d bytes)", self.path, len(data) - intact)
                os.truncate(self.path, intact)
            self._listed = listed
        return self._listed

    def _append(self, stanza: bytes) -> None:
        created = not self.path.exists()
        if created:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                written = os.write(fd, stanza)
                if written != len(stanza):
                    raise OSError(f"short write ({written} of {len(stanza)} bytes)")
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, size)  # leave no torn stanza for the next append
                raise
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.path.parent)
