"""Retry and deadline arithmetic: when to try again, and how long a request may still take.

Pure: callers pass the times (a monotonic clock); nothing here sleeps or reads a clock.

* :func:`exponential` is the delay after ``n`` consecutive failures, doubling up to a cap.
* :class:`PollSchedule` decides when the controller polls the frontend's queue next.  After
  a poll that answered, it waits ``interval``, or ``slowdown`` times the poll's own duration
  when that is longer (a 100 000-task queue that takes 3 s to list is polled every 30 s).
  After a poll that failed, it waits 1 s, doubling to ``retry_cap``; the failed poll's
  duration does not count, so a frontend that answered 503 for 15 s is polled again
  within ``retry_cap`` of recovering, not after ten times the outage.
* :func:`request_timeouts` gives the connect and read timeouts of one attempt that must
  end by an overall deadline.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PollSchedule", "exponential", "request_timeouts"]


def exponential(failures: int, *, first: float, cap: float) -> float:
    """``first``, ``2 * first``, ``4 * first``... after 1, 2, 3... failures, at most ``cap``; 0 before any."""
    if failures < 1:
        return 0.0
    return min(cap, first * 2.0 ** min(failures - 1, 64))


@dataclass(slots=True)
class PollSchedule:
    """The next poll time after each poll's end (see the module docstring)."""

    interval: float
    slowdown: float
    retry_cap: float
    failures: int = 0

    def after_success(self, *, started: float, ended: float) -> float:
        self.failures = 0
        return started + max(self.interval, self.slowdown * max(0.0, ended - started))

    def after_failure(self, *, ended: float) -> float:
        self.failures += 1
        return ended + max(self.interval, exponential(self.failures, first=1.0, cap=self.retry_cap))


def request_timeouts(*, now: float, deadline: float, connect: float, read: float) -> tuple[float, float] | None:
    """(connect, read) timeouts for an attempt starting at ``now`` that must end by ``deadline``:
    neither may outlast the time left.  None when the deadline has passed."""
    left = deadline - now
    if left <= 0:
        return None
    return min(connect, left), min(read, left)
