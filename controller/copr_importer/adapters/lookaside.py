"""The lookaside cache on disk: atomic stores, verified reuse.

Layout (copr): ``<root>/<owner>/<project>/<pkg>/<file>/<md5>/<file>``; with
``with_hashtype_dir`` the modern ``…/<file>/<hashtype>/<hash>/<file>``.

A new file is fsynced in a temporary name inside the target directory and then
renamed into place, so a crash never leaves a truncated blob under a final
name.  A file that already exists is re-hashed rather than trusted; a corrupt
one (copr's non-atomic copy could leave such) is replaced.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

from ..core import naming
from ..core.sources import SourceEntry
from ..settings import LookasideSettings
from .atomicfile import fsync_dir
from .unpacker import UnpackedFile

__all__ = ["Lookaside"]

log = logging.getLogger(__name__)


def _hash_file(path: Path, hashtype: str) -> str:
    digest = hashlib.new(hashtype)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _touch(path: Path) -> None:
    """Make a reused file as young as this import, so that gc-lookaside's safety age
    also protects it until the git-writer has committed the ``sources`` naming it."""
    try:
        os.utime(path)
    except FileNotFoundError:
        pass  # collected meanwhile: the caller stores it again
    except PermissionError:
        log.warning("cannot touch %s (another owner); gc-lookaside may see it as old", path)


class Lookaside:
    """Stores binary sources of one package."""

    def __init__(self, root: Path, *, settings: LookasideSettings) -> None:
        self.root = root
        self.settings = settings

    def path_for(self, *, owner: str, project: str, pkg: str, entry: SourceEntry) -> Path:
        rel = naming.lookaside_relpath(
            owner=owner,
            project=project,
            pkg=pkg,
            filename=entry.filename,
            hashtype=entry.hashtype,
            digest=entry.digest,
            with_hashtype=self.settings.with_hashtype_dir,
        )
        return self.root / rel

    def store(self, file: UnpackedFile, *, owner: str, project: str, pkg: str) -> SourceEntry:
        """Move ``file`` into the cache (or verify the copy already there)."""
        hashtype = self.settings.hashtype
        entry = SourceEntry(file.name, hashtype, file.md5 if hashtype == "md5" else file.sha512)
        final = self.path_for(owner=owner, project=project, pkg=pkg, entry=entry)
        if final.is_file():
            _touch(final)
            try:
                if _hash_file(final, hashtype) == entry.digest:
                    return entry
                log.warning("lookaside file %s is corrupt; replacing it", final)
            except FileNotFoundError:
                log.info("lookaside file %s vanished (collected); storing it again", final)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        self._place(file.path, tmp)
        os.replace(tmp, final)
        fsync_dir(final.parent)
        log.info("stored %s in the lookaside (%d bytes)", file.name, file.size)
        return entry

    @staticmethod
    def _place(source: Path, tmp: Path) -> None:
        try:
            os.rename(source, tmp)  # same filesystem: no copy
        except OSError:
            shutil.copyfile(source, tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o644)
