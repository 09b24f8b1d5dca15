"""When each queued build was first seen and when it started: queue wait and step duration.

Pure bookkeeping for telemetry, fed with a monotonic clock by the caller:

* a build listed by the source is *pending* from the first poll that lists it
  until its first dispatch; the queue wait is first seen -> first dispatch;
* a dispatched build is *in flight* until its step ends; the step duration is
  dispatch -> end, as the controller sees it (for a Job this includes the
  scheduling and image pull; that is what occupies a slot);
* a build running when first seen (a Job adopted after a restart) is never
  pending and has no queue wait or duration;
* builds that leave the queue are forgotten, so memory follows the queue.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

__all__ = ["TaskTimes"]


class TaskTimes:
    """First-seen and start times of the builds in the queue.

    Only :meth:`listed` (once per poll) walks the queue; the calls made every
    tick or per build cost O(1) or O(running), as the queue may hold 100 000 builds.
    """

    def __init__(self) -> None:
        self._first_seen: dict[int, float] = {}
        self._started: dict[int, float] = {}  # in flight: dispatched by us, step not ended
        self._dispatched: set[int] = set()  # ever dispatched or seen running, while queued
        self._pending: set[int] = set()  # queued, never started

    @property
    def pending(self) -> int:
        """Queued builds never started."""
        return len(self._pending)

    def listed(self, build_ids: Collection[int], *, now: float) -> None:
        """The source's current queue: remember new builds, forget the ones gone."""
        current = set(build_ids)
        for build_id in current - self._first_seen.keys():
            self._first_seen[build_id] = now
        for build_id in self._first_seen.keys() - current:
            del self._first_seen[build_id]
        self._dispatched &= current | self._started.keys()
        self._pending = current - self._dispatched

    def running(self, build_ids: Iterable[int]) -> None:
        """Builds the executor runs: not pending, even if we never dispatched them."""
        for build_id in build_ids:
            self._dispatched.add(build_id)
            self._pending.discard(build_id)

    def dispatched(self, build_id: int, *, now: float) -> float | None:
        """Record a start; return the queue wait on the first start of a build seen queued."""
        self._started[build_id] = now
        first = build_id not in self._dispatched
        self._dispatched.add(build_id)
        self._pending.discard(build_id)
        seen = self._first_seen.get(build_id)
        return now - seen if first and seen is not None else None

    def ended(self, build_id: int, *, now: float) -> float | None:
        """Record a step's end; return its duration when we saw it start."""
        started = self._started.pop(build_id, None)
        return None if started is None else now - started
