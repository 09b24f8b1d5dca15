"""Completion reports waiting for delivery, kept on disk until the frontend takes them.

A report is written atomically to ``<dir>/<build_id>.json`` before the result it
comes from is dropped, and removed only after a successful delivery.  A report
that cannot be delivered (frontend down, 5xx, even a 4xx such as a wrong
password) stays and is retried with exponential backoff capped at
``max_delay``: reports are never dropped.

Only the controller writes here (one controller per data directory), so the
folder is listed once, at start-up, and then followed in memory: :meth:`Outbox.due`
costs no system call per tick however many reports wait.  A report delivered but
not yet unlinked (the disk turned read-only in between) is never handed out again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.backoff import exponential
from . import atomicfile

__all__ = ["Outbox"]


@dataclass(slots=True)
class _Entry:
    written: float  # wall-clock time the report was first written
    failures: int = 0
    next_try: float = 0.0  # monotonic
    sent: bool = False  # delivered; the file is still to be removed


class Outbox:
    """Durable queue of reports with per-report backoff."""

    def __init__(
        self,
        folder: Path,
        *,
        max_delay: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.max_delay = max_delay
        self._clock, self._wall = clock, wall
        self._entries: dict[int, _Entry] = {}
        for name in os.listdir(folder):
            if name.endswith(".json") and name[:-5].isdigit():
                try:
                    written = os.stat(folder / name).st_mtime
                except FileNotFoundError:
                    continue
                self._entries[int(name[:-5])] = _Entry(written)

    def _path(self, build_id: int) -> Path:
        return self.folder / f"{build_id}.json"

    def put(self, report: dict[str, Any]) -> None:
        """Store ``report`` durably (raises OSError when the disk refuses)."""
        build_id = int(report["build_id"])
        atomicfile.write_json(self._path(build_id), value=report)
        entry = self._entries.get(build_id)
        if entry is None or entry.sent:
            self._entries[build_id] = _Entry(self._wall())

    def unsent(self) -> int:
        """How many reports are not delivered yet."""
        return sum(1 for e in self._entries.values() if not e.sent)

    def pending(self) -> list[int]:
        """Build ids whose reports are not delivered yet."""
        return sorted(b for b, e in self._entries.items() if not e.sent)

    def due(self) -> list[int]:
        """Undelivered reports whose backoff has passed, oldest build first."""
        now = self._clock()
        return sorted(b for b, e in self._entries.items() if not e.sent and e.next_try <= now)

    def read(self, build_id: int) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self._path(build_id).read_bytes())
        return value

    def failed(self, build_id: int) -> float:
        """A delivery failed: back off; return the delay before the next try."""
        entry = self._entries.get(build_id)
        if entry is None:
            return 0.0
        entry.failures += 1
        delay = exponential(entry.failures, first=2.0, cap=self.max_delay)
        entry.next_try = self._clock() + delay
        return delay

    def hurry(self) -> None:
        """Make every undelivered report due now (what they waited for is fixed)."""
        for entry in self._entries.values():
            entry.next_try = 0.0

    def delivered(self, build_id: int) -> None:
        """The frontend took the report: remove it (OSError leaves it marked sent, for :meth:`tidy`)."""
        entry = self._entries.get(build_id)
        if entry is None:
            return
        entry.sent = True
        self._path(build_id).unlink(missing_ok=True)
        del self._entries[build_id]

    def tidy(self) -> None:
        """Remove the files of delivered reports whose removal failed earlier."""
        for build_id in [b for b, e in self._entries.items() if e.sent]:
            self._path(build_id).unlink(missing_ok=True)
            del self._entries[build_id]

    def oldest_age(self) -> float | None:
        """Seconds since the oldest undelivered report was written; None when there is none."""
        times = [e.written for e in self._entries.values() if not e.sent]
        return max(0.0, self._wall() - min(times)) if times else None
