"""Completion reports waiting for delivery, kept on disk until the frontend takes them.

A report is written atomically to ``<dir>/<build_id>.json`` before the result it
comes from is dropped, and removed only after a successful delivery.  A report
that cannot be delivered (frontend down, 5xx, even a 4xx such as a wrong
password) stays and is retried with exponential backoff capped at
``max_delay``: reports are never dropped.

Only the controller writes here (one controller per data directory), so the
folder is listed once, at start-up, and then followed in memory, with the reports
that wait in a heap by the time of their next try: :meth:`Outbox.take_due` costs no
system call and no walk over the reports however many wait (ten thousand, while the
frontend is down).  A report taken is in flight until :meth:`Outbox.delivered` or
:meth:`Outbox.failed`; one delivered but not yet unlinked (the disk turned read-only
in between) is never handed out again.
"""

from __future__ import annotations

import heapq
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
        self._waiting: list[tuple[float, int]] = []  # (next try, build id); stale pairs are skipped
        self._sent: set[int] = set()
        # One controller writes here (one per data directory): a temporary at its start is
        # what a killed one left.
        atomicfile.remove_temporaries(folder)
        for name in os.listdir(folder):
            if name.endswith(".json") and name[:-5].isdigit():
                try:
                    written = os.stat(folder / name).st_mtime
                except FileNotFoundError:
                    continue
                self._add(int(name[:-5]), written=written)

    def _add(self, build_id: int, *, written: float) -> None:
        self._entries[build_id] = _Entry(written)
        self._sent.discard(build_id)
        heapq.heappush(self._waiting, (0.0, build_id))

    def _path(self, build_id: int) -> Path:
        return self.folder / f"{build_id}.json"

    def put(self, report: dict[str, Any]) -> None:
        """Store ``report`` durably (raises OSError when the disk refuses)."""
        build_id = int(report["build_id"])
        atomicfile.write_json(self._path(build_id), value=report)
        if build_id not in self._entries or build_id in self._sent:
            self._add(build_id, written=self._wall())

    def unsent(self) -> int:
        """How many reports are not delivered yet."""
        return len(self._entries) - len(self._sent)

    def pending(self) -> list[int]:
        """Build ids whose reports are not delivered yet."""
        return sorted(b for b in self._entries if b not in self._sent)

    def take_due(self, limit: int) -> list[int]:
        """Up to ``limit`` reports whose backoff has passed, earliest first (new ones by build id);
        each is in flight until :meth:`delivered` or :meth:`failed`."""
        now, taken = self._clock(), list[int]()
        while self._waiting and len(taken) < limit and self._waiting[0][0] <= now:
            next_try, build_id = heapq.heappop(self._waiting)
            entry = self._entries.get(build_id)
            if entry is not None and build_id not in self._sent and entry.next_try == next_try:
                taken.append(build_id)
        return taken

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
        heapq.heappush(self._waiting, (entry.next_try, build_id))
        return delay

    def hurry(self) -> None:
        """Make every waiting report due now (what they waited for is fixed); those in flight stay so."""
        waiting = {b for _, b in self._waiting}
        self._waiting = []
        for build_id, entry in self._entries.items():
            if build_id in waiting and build_id not in self._sent:
                entry.next_try = 0.0
                self._waiting.append((0.0, build_id))
        heapq.heapify(self._waiting)

    def delivered(self, build_id: int) -> None:
        """The frontend took the report: remove it (OSError leaves it marked sent, for :meth:`tidy`)."""
        if build_id in self._entries:
            self._sent.add(build_id)
            self.tidy()

    def discard_file(self, build_id: int) -> None:
        """Remove a delivered report's file at once, from any thread: it touches no state here,
        and a failure is left to :meth:`delivered`, which the controller's thread calls next."""
        try:
            self._path(build_id).unlink(missing_ok=True)
        except OSError:
            pass

    def tidy(self) -> None:
        """Remove the files of delivered reports (again, for those whose removal failed)."""
        for build_id in list(self._sent):
            self._path(build_id).unlink(missing_ok=True)
            del self._entries[build_id]
            self._sent.discard(build_id)

    def oldest_age(self) -> float | None:
        """Seconds since the oldest undelivered report was written; None when there is none."""
        times = [e.written for b, e in self._entries.items() if b not in self._sent]
        return max(0.0, self._wall() - min(times)) if times else None
