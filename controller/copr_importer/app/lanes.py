"""Frontend calls off the controller's thread, in lanes of worker threads.

The controller hands a call to a lane (:meth:`Lane.submit`) only while the lane has a
free worker, and collects the finished calls in its own thread at every tick
(:meth:`Lane.finished`): the controller's state is never touched by another thread,
and nothing queues up behind a request that hangs.  Polls, confirmations and reports
have lanes of their own, so a frontend that hangs on reports holds up neither
dispatching nor polling.  Workers are daemon threads: a stopping controller interrupts
the requests in flight (the client's ``close``) and does not wait for its lanes.

A finished call also calls ``on_finish`` (from the worker's thread): the controller
passes the executor's ``wake``, so that its wait for the next tick ends at once and
a confirmed task starts without waiting out the tick's sleep.

An inline lane (``threaded=False``) runs each call at once in the caller's thread and
still hands its outcome out through :meth:`Lane.finished`: the same controller code,
deterministic, for unit tests.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

__all__ = ["Done", "Lane", "Lanes"]

_INLINE_WORKERS = 1_000_000  # an inline lane never runs out of workers


@dataclass(frozen=True, slots=True)
class Done:
    """A finished call: its value, or the exception it raised, and when it ran."""

    key: Hashable
    value: Any
    error: Exception | None
    started: float
    ended: float


class Lane:
    """Up to ``workers`` calls at a time, each under a key that is unique while in flight."""

    def __init__(
        self,
        name: str,
        *,
        workers: int,
        threaded: bool = True,
        clock: Callable[[], float],
        on_finish: Callable[[], None] = lambda: None,
    ) -> None:
        self.name, self.on_finish = name, on_finish
        self.workers = workers if threaded else _INLINE_WORKERS
        self._threaded, self._clock = threaded, clock
        self._inflight: set[Hashable] = set()  # touched by the controller's thread only
        self._finished: list[Done] = []
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[tuple[Hashable, Callable[[], Any]] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def free(self) -> int:
        return self.workers - len(self._inflight)

    def busy(self, key: Hashable) -> bool:
        return key in self._inflight

    def inflight(self) -> int:
        return len(self._inflight)

    def submit(self, key: Hashable, call: Callable[[], Any]) -> None:
        if key in self._inflight or self.free() <= 0:
            raise RuntimeError(f"lane {self.name}: {key!r} in flight, or no free worker")
        self._inflight.add(key)
        if not self._threaded:
            self._run(key, call)
            return
        if len(self._threads) < self.workers:
            thread = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()
        self._jobs.put((key, call))

    def finished(self) -> list[Done]:
        """The calls that ended since the last look; their keys are free again."""
        with self._lock:
            done, self._finished = self._finished, []
        for item in done:
            self._inflight.discard(item.key)
        return done

    def close(self) -> None:
        """Let the workers end after their current call; do not wait for them."""
        for _ in self._threads:
            self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._run(*job)

    def _run(self, key: Hashable, call: Callable[[], Any]) -> None:
        started = self._clock()
        value: Any = None
        error: Exception | None = None
        try:
            value = call()
        except Exception as exc:  # handed to the controller, which decides
            error = exc
        with self._lock:
            self._finished.append(Done(key, value, error, started, self._clock()))
        self.on_finish()


class Lanes:
    """The controller's three lanes: one poll at a time, ``workers`` confirmations, ``workers`` reports."""

    def __init__(
        self,
        *,
        workers: int,
        threaded: bool = True,
        clock: Callable[[], float] = time.monotonic,
        on_finish: Callable[[], None] = lambda: None,
    ) -> None:
        common: dict[str, Any] = {"threaded": threaded, "clock": clock, "on_finish": on_finish}
        self.poll = Lane("poll", workers=1, **common)
        self.confirm = Lane("confirm", workers=workers, **common)
        self.report = Lane("report", workers=workers, **common)

    @classmethod
    def inline(cls, *, clock: Callable[[], float] = time.monotonic) -> Lanes:
        return cls(workers=1, threaded=False, clock=clock)

    def busy(self) -> bool:
        return any(lane.inflight() for lane in (self.poll, self.confirm, self.report))

    def close(self) -> None:
        for lane in (self.poll, self.confirm, self.report):
            lane.close()
