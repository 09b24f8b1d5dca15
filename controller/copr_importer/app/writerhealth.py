"""The git-writer's open problems, and how long it waits after each.

A storage fault (disk full, over quota, read-only, failing) pauses the whole
writer: every write would meet it.  Any other transient error (a repository
locked by someone else, one git cannot read, an unexpected error) defers only
its package, so the others go on.  Waits start at one second and double up to
``cap``.  The requests stay in the spool meanwhile: nothing is reported failed
because of a problem of ours.

Every change of the open problems goes to ``Observer.problem("git-writer", ...)``
(the sidecar's readiness) and to the spool's writer-health file (the
controller's, in both shapes), so readiness turns false with the reason while a
problem lasts and true again once writes succeed.  A health file that cannot be
written (the same full disk) is logged and tried again at the next change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from ..adapters.spool import Spool
from ..core.observer import Observer

__all__ = ["WriterHealth"]

log = logging.getLogger(__name__)

COMPONENT = "git-writer"
STORAGE = ""  # the key of the storage problem; package keys are never empty
_UNKNOWN = object()  # what the health file says before this writer wrote it
_FAILED = object()  # the last write of the health file failed


@dataclass(slots=True)
class _Problem:
    reason: str
    failures: int
    retry_at: float


class WriterHealth:
    """Open problems by package key (``STORAGE`` for the disk), with their backoff."""

    def __init__(
        self,
        *,
        spool: Spool,
        observer: Observer,
        cap: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spool = spool
        self.observer = observer
        self.cap = cap
        self.clock = clock
        self._open: dict[str, _Problem] = {}
        self._told: str | None = None  # the observer's view
        self._written: object = _UNKNOWN  # the health file's: a dead writer's problem, perhaps
        self._since = 0.0

    def paused(self) -> float:
        """Seconds left before the writer may try its storage again (0: go)."""
        problem = self._open.get(STORAGE)
        return max(0.0, problem.retry_at - self.clock()) if problem else 0.0

    def deferred(self, key: str) -> bool:
        problem = self._open.get(key)
        return problem is not None and problem.retry_at > self.clock()

    def failed(self, key: str, *, reason: str) -> None:
        """``key``'s work failed for ``reason``: wait before trying it again."""
        failures = self._open[key].failures + 1 if key in self._open else 1
        delay = min(self.cap, 2.0 ** (failures - 1))
        self._open[key] = _Problem(reason, failures, self.clock() + delay)
        log.error("%s; trying again in %.0f s", reason, delay)
        self._publish()

    def succeeded(self, keys: Collection[str]) -> None:
        """Work on ``keys`` succeeded: their problems are over (and a problem a killed
        writer left in the health file is cleared at the first success)."""
        if self._written is _UNKNOWN or any(k in self._open for k in keys):
            for key in keys:
                self._open.pop(key, None)
            self._publish()

    def forget_except(self, keys: Collection[str]) -> None:
        """Drop the problems of packages with no request left (removed by someone else)."""
        gone = [k for k in self._open if k != STORAGE and k not in keys]
        self.succeeded(gone)

    def _publish(self) -> None:
        reason = None
        if self._open:
            first = self._open.get(STORAGE) or next(iter(self._open.values()))
            more = len(self._open) - 1
            reason = first.reason + (f" (and {more} more)" if more else "")
        if reason != self._told:
            if reason is None:
                log.info("writes succeed again; the git-writer is well")
            elif self._told is None:
                self._since = time.time()
            self.observer.problem(COMPONENT, reason=reason)
            self._told = reason
        if reason != self._written:
            try:
                self.spool.write_writer_health(reason, since=self._since)
            except OSError as exc:
                log.warning("cannot write the writer's health file: %s", exc)
                self._written = _FAILED  # tried again at the next change
                return
            self._written = reason
