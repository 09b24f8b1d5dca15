"""Completion reports waiting for delivery, kept on disk until the frontend takes them.

A report is written atomically to ``<dir>/<build_id>.json`` before the result it
comes from is dropped, and removed only after a successful delivery.  A report
that cannot be delivered (frontend down, 5xx, even a 4xx such as a wrong
password) stays and is retried with exponential backoff capped at
``max_delay``: reports are never dropped.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ImporterError
from . import atomicfile

__all__ = ["Outbox"]

log = logging.getLogger(__name__)


class Outbox:
    """Durable queue of reports with per-report backoff."""

    def __init__(self, folder: Path, *, max_delay: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.max_delay = max_delay
        self._clock = clock
        self._next_try: dict[int, float] = {}
        self._failures: dict[int, int] = {}

    def put(self, report: dict[str, Any]) -> None:
        atomicfile.write_json(self.folder / f"{int(report['build_id'])}.json", value=report)

    def pending(self) -> list[int]:
        return sorted(int(n[:-5]) for n in os.listdir(self.folder) if n.endswith(".json") and n[:-5].isdigit())

    def flush(self, deliver: Callable[[dict[str, Any]], None]) -> int:
        """Try every due report once; return how many were delivered."""
        delivered = 0
        now = self._clock()
        for build_id in self.pending():
            if self._next_try.get(build_id, 0.0) > now:
                continue
            path = self.folder / f"{build_id}.json"
            try:
                report = json.loads(path.read_text())
                deliver(report)
            except (ImporterError, OSError, ValueError) as exc:
                failures = self._failures[build_id] = self._failures.get(build_id, 0) + 1
                delay = min(self.max_delay, 2.0**failures)
                self._next_try[build_id] = now + delay
                log.error("report for build %d not delivered (%s); retry in %.0f s", build_id, exc, delay)
                continue
            path.unlink(missing_ok=True)
            self._next_try.pop(build_id, None)
            self._failures.pop(build_id, None)
            delivered += 1
        return delivered
