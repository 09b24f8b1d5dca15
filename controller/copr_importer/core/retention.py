"""Age rules for the storage lifecycle, and which files are per-task logs.

Pure: the adapters list files as :class:`FileFacts` (a path, a size, a
modification time) and the callers pass ``now``; nothing here reads a clock or
the filesystem.  An age limit of ``d`` days keeps a file whose mtime is exactly
``d`` days old and removes it a moment later.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DAY", "FileFacts", "expired_logs", "is_older", "is_task_log"]

DAY = 86400.0

# Copr names a task's log after its build id: ``<build_id>.log``.  Anything else in
# the directory (an operator's notes, a rotated file) is not ours to expire.
_TASK_LOG = re.compile(r"^[0-9]{1,20}\.log$")


@dataclass(frozen=True, slots=True)
class FileFacts:
    """A regular file as listed: its path relative to the listed root, size and mtime."""

    path: str
    size: int
    mtime: float


def is_older(mtime: float, *, now: float, days: float) -> bool:
    """True when ``mtime`` lies more than ``days`` days before ``now``."""
    return now - mtime > days * DAY


def is_task_log(name: str) -> bool:
    """True for ``<build_id>.log``, the only names log expiry may touch."""
    return bool(_TASK_LOG.match(name))


def expired_logs(files: Iterable[FileFacts], *, now: float, max_age_days: float) -> list[FileFacts]:
    """The per-task logs among ``files`` (a flat listing) older than ``max_age_days``, oldest first."""
    chosen = [f for f in files if is_task_log(f.path) and is_older(f.mtime, now=now, days=max_age_days)]
    return sorted(chosen, key=lambda f: (f.mtime, f.path))
