"""Polling the frontend's importing queue off the controller's thread.

One poll at a time runs on the poll lane.  :class:`Poller` starts the next one when
``core/backoff.PollSchedule`` says so: ``poll_interval`` (or ten times a slow poll's
duration) after a poll that answered, 1 s doubling to ``poll_retry_cap`` after one that
failed.  A failure opens the ``frontend`` problem with its reason (name resolution,
connection refused, timeout, HTTP status), counts in the frontend-error metric, and is
logged; the next answer closes it.  A malformed record is logged once, when it first
appears, not at every poll.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from ..adapters.frontend import error_kind
from ..core.backoff import PollSchedule
from ..core.observer import FRONTEND, Observer
from ..core.task import ImportTask, MalformedTask
from ..errors import ImporterError
from ..settings import FrontendSettings
from .lanes import Done, Lane

__all__ = ["Poller", "Queue"]

log = logging.getLogger(__name__)

Queue = tuple[list[ImportTask], list[MalformedTask]]


class Poller:
    """Schedules polls on ``lane`` and hands out the answers (see the module docstring)."""

    def __init__(
        self,
        *,
        fetch: Callable[[], Queue],
        lane: Lane,
        observer: Observer,
        settings: FrontendSettings,
        clock: Callable[[], float],
    ) -> None:
        self.fetch, self.lane, self.observer, self.clock = fetch, lane, observer, clock
        self.schedule = PollSchedule(
            interval=settings.poll_interval, slowdown=settings.poll_backoff, retry_cap=settings.poll_retry_cap
        )
        self._next = 0.0
        self._problem: str | None = None
        self._malformed_seen: set[tuple[int | None, str]] = set()

    def pump(self) -> list[Queue]:
        """The answers of the polls that ended (usually none or one); start the next poll when due."""
        answers = self._collect()
        if self.clock() >= self._next and not self.lane.inflight():
            self._next = math.inf  # set when this poll ends
            self.lane.submit("poll", self.fetch)
            answers += self._collect()  # an inline lane has finished already
        return answers

    def due_in(self) -> float:
        """Seconds until the next poll is due (infinite while one is in flight)."""
        return max(0.0, self._next - self.clock())

    def note_malformed(self, rejected: list[MalformedTask]) -> None:
        """Log each malformed record of this answer that the previous answer did not have."""
        seen = {(exc.build_id, exc.message) for exc in rejected}
        for build_id, message in sorted(seen - self._malformed_seen, key=str):
            log.error("rejected task record (build %s): %s", "unknown" if build_id is None else build_id, message)
        self._malformed_seen = seen

    def _collect(self) -> list[Queue]:
        answers: list[Queue] = []
        for done in self.lane.finished():
            if done.error is None:
                self._next = self.schedule.after_success(started=done.started, ended=done.ended)
                self._recovered()
                answers.append(done.value)
            else:
                self._next = self.schedule.after_failure(ended=done.ended)
                self._failed(done)
        return answers

    def _failed(self, done: Done) -> None:
        error = done.error
        assert error is not None
        self.observer.frontend_error("poll", kind=error_kind(error))
        reason = f"cannot fetch the importing queue: {error}"
        wait = self._next - done.ended
        log.warning("%s; next poll in %.0f s", reason, wait, exc_info=not isinstance(error, ImporterError))
        if reason != self._problem:
            self.observer.problem(FRONTEND, reason=reason)
            self._problem = reason

    def _recovered(self) -> None:
        if self._problem is not None:
            log.info("the frontend answers polls again")
            self._problem = None
            self.observer.problem(FRONTEND, reason=None)
