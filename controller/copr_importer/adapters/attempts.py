"""Transient failures per build, counted on disk so that a restart does not reset them.

``<dir>/<build_id>`` holds the number of runs of the build that ended in a transient
failure, written atomically and durably before the controller acts on it.  An SRPM that
kills its worker every time therefore ends as a reported failure after
``executor.max_attempts`` runs, however often the controller itself is restarted in
between.  The count is removed when the build's result is reported (or when the build
has left the frontend's queue).  Only the controller writes here.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import atomicfile

__all__ = ["Attempts"]


class Attempts:
    """Durable transient-failure counts, one small file per build."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        atomicfile.remove_temporaries(folder)  # left by a killed controller (the only writer here)

    def count(self, build_id: int) -> int:
        try:
            return int((self.folder / str(build_id)).read_text().strip() or "0")
        except FileNotFoundError:
            return 0
        except ValueError:  # a torn file from another tool: count from scratch
            return 0

    def add(self, build_id: int) -> int:
        """Count one more transient failure; return the new count (OSError when the disk refuses)."""
        count = self.count(build_id) + 1
        atomicfile.write_bytes(self.folder / str(build_id), data=f"{count}\n".encode())
        return count

    def forget(self, build_id: int) -> None:
        (self.folder / str(build_id)).unlink(missing_ok=True)

    def builds(self) -> list[int]:
        """Builds that have a count."""
        return sorted(int(n) for n in os.listdir(self.folder) if n.isdigit())
