"""The lookaside cache on disk: atomic stores, verified reuse.

Layout (copr): ``<root>/<owner>/<project>/<pkg>/<file>/<md5>/<file>``; with
``with_hashtype_dir`` the modern ``…/<file>/<hashtype>/<hash>/<file>``.

A new file is fsynced under a temporary name and then renamed into place, so a
crash never leaves a truncated blob under a final name.  Temporaries live in
one hidden directory, ``<root>/.incoming/`` (the web side serves no hidden name,
and the lifecycle commands see no package there): a failed store removes its
own, and :meth:`Lookaside.sweep_temporaries` removes those of killed processes.
A file that already exists is re-hashed rather than trusted; a corrupt one
(copr's non-atomic copy could leave such) is replaced.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import uuid
from pathlib import Path

from ..core import naming
from ..core.sources import SourceEntry
from ..settings import LookasideSettings
from . import failpoint
from .atomicfile import fsync_dir
from .unpacker import UnpackedFile

__all__ = ["Lookaside"]

log = logging.getLogger(__name__)
TEMPORARIES = ".incoming"


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
        tmp = self._temporary()
        try:
            self._place(file.path, tmp)
            failpoint.reached()
            os.replace(tmp, final)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        fsync_dir(final.parent)
        log.info("stored %s in the lookaside (%d bytes)", file.name, file.size)
        return entry

    def _temporary(self) -> Path:
        """A fresh hidden name on the lookaside's filesystem; unique across pods, whose pids repeat."""
        folder = self.root / TEMPORARIES
        folder.mkdir(exist_ok=True)
        return folder / uuid.uuid4().hex

    def sweep_temporaries(self, *, before: float) -> int:
        """Remove temporaries last changed before ``before`` (epoch seconds): their
        processes were killed (a running import changes its file as it copies)."""
        removed = 0
        try:
            entries = list(os.scandir(self.root / TEMPORARIES))
        except FileNotFoundError:
            return 0
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_mtime < before:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

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


def _unlink_quietly(path: Path) -> None:
    """Remove a temporary after a failure; the sweep catches what this cannot."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cannot remove the temporary %s: %s", path, exc)
