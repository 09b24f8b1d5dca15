"""Crash-safe file replacement: write a temporary sibling, fsync, rename.

A reader (or a process restarted after ``kill -9``) sees either the old file or
the complete new one, never a prefix.
"""

from __future__ import annotations

import ctypes
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["fsync_dir", "remove_temporaries", "sync_filesystem", "write_bytes", "write_json"]

_libc = ctypes.CDLL(None, use_errno=True)


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_filesystem(path: Path) -> None:
    """Flush every dirty page of the filesystem holding ``path`` (``syncfs(2)``):
    one call makes a whole batch of files durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(path))
    finally:
        os.close(fd)


def write_bytes(path: Path, *, data: bytes, durable: bool = True) -> None:
    """Atomically replace ``path`` with ``data``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        out = open(tmp, "wb")
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        out = open(tmp, "wb")
    with out:
        out.write(data)
        if durable:
            out.flush()
            os.fsync(out.fileno())
    os.replace(tmp, path)
    if durable:
        fsync_dir(path.parent)


def write_json(path: Path, *, value: Any, durable: bool = True) -> None:
    """Atomically replace ``path`` with ``value`` as JSON."""
    write_bytes(path, data=json.dumps(value, indent=1, sort_keys=True).encode(), durable=durable)


def remove_temporaries(folder: Path) -> int:
    """Remove what interrupted :func:`write_bytes` calls left in ``folder`` (``.<name>.tmp-<pid>``);
    only for a folder whose one writer is the caller, at its start. Returns how many went."""
    removed = 0
    for name in os.listdir(folder):
        if name.startswith(".") and ".tmp-" in name:
            (folder / name).unlink(missing_ok=True)
            removed += 1
    return removed
