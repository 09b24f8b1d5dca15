"""Files on the data volume as the storage lifecycle sees them: listing, measuring, removing.

Listings never follow symbolic links and report regular files only.  Removal is
careful in the ways the lifecycle needs:

* :func:`remove_file` stats the file again and keeps it when its mtime changed
  since it was listed (an import reused it meanwhile);
* :func:`remove_empty_dirs` climbs from a removed file's directory towards a
  stop directory, removing only directories that are empty;
* :func:`remove_tree` first renames the tree to a hidden name next to it, so
  that readers (git over HTTP, cgit, the lookaside) never see half of it, then
  deletes it.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import uuid
from collections.abc import Iterable
from pathlib import Path

from ..core.retention import FileFacts

__all__ = ["list_files", "list_flat", "measure", "remove_empty_dirs", "remove_file", "remove_tree", "subdirectories"]

log = logging.getLogger(__name__)


def _lstat(path: str) -> os.stat_result | None:
    """lstat, or None for a file removed since its directory was read (an import or
    another lifecycle run works on the same volume)."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _raise(exc: OSError) -> None:
    raise exc


def list_flat(root: Path) -> list[FileFacts]:
    """The regular files directly in ``root`` (none when it does not exist)."""
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return []
    files = []
    for entry in entries:
        st = _lstat(entry.path)
        if st is not None and stat.S_ISREG(st.st_mode):
            files.append(FileFacts(entry.name, st.st_size, st.st_mtime))
    return files


def list_files(root: Path) -> list[FileFacts]:
    """Every regular file under ``root``, with its path relative to ``root`` ("/"-separated)."""
    files = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            st = _lstat(path)
            if st is not None and stat.S_ISREG(st.st_mode):
                files.append(FileFacts(os.path.relpath(path, root).replace(os.sep, "/"), st.st_size, st.st_mtime))
    return files


def subdirectories(root: Path) -> list[str]:
    """Names of the real directories (not links) directly in ``root``."""
    try:
        return sorted(e.name for e in os.scandir(root) if e.is_dir(follow_symlinks=False))
    except FileNotFoundError:
        return []


def measure(roots: Iterable[Path]) -> tuple[float, int]:
    """The newest mtime of anything under ``roots`` (directories too) and the bytes of their
    files, each inode counted once.  Missing roots contribute nothing.  An unreadable
    directory raises OSError: it could hide a recent change."""
    newest, total, seen = 0.0, 0, set[tuple[int, int]]()
    for root in roots:
        if not root.exists():
            continue
        for folder, dirs, names in os.walk(root, onerror=_raise):
            for path in [folder, *(os.path.join(folder, n) for n in [*names, *dirs])]:
                st = _lstat(path)
                if st is None:
                    continue
                newest = max(newest, st.st_mtime)
                if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_size
    return newest, total


def remove_file(path: Path, *, listed_mtime: float) -> int | None:
    """Delete ``path`` unless it changed since it was listed; return the bytes freed, or None if kept."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if st.st_mtime != listed_mtime:
        log.info("%s changed since it was listed; kept", path)
        return None
    path.unlink()
    return st.st_size


def remove_empty_dirs(start: Path, *, stop: Path) -> int:
    """Remove ``start`` and its parents while they are empty, never ``stop`` or above it."""
    removed, current = 0, start
    while current != stop and stop in current.parents:
        try:
            current.rmdir()
        except OSError:  # not empty (or already gone): the climb ends here
            break
        removed += 1
        current = current.parent
    return removed


def remove_tree(path: Path) -> None:
    """Delete a directory tree; readers see it whole until it vanishes at once."""
    hidden = path.with_name(f".{path.name}.removing-{uuid.uuid4().hex[:8]}")
    os.rename(path, hidden)
    shutil.rmtree(hidden)
