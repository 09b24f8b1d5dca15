"""Liveness by file: loops touch a file, the probe checks its age.

A probe without HTTP: ``copr-importer heartbeat --max-age N FILE`` is alive while
the loop keeps touching the file.  The shipped manifests probe ``/livez`` instead
(docs/operations.md); ``--heartbeat`` stays for setups that cannot reach it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["Heartbeat", "age"]


class Heartbeat:
    """Touches ``path`` at most once per ``every`` seconds."""

    def __init__(self, path: Path | None, *, every: float = 1.0) -> None:
        self.path = path
        self.every = every
        self._last = 0.0

    def beat(self) -> None:
        if self.path is None:
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self.path.touch()


def age(path: Path) -> float:
    """Seconds since ``path`` was last touched (infinite when missing)."""
    try:
        return time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return float("inf")
