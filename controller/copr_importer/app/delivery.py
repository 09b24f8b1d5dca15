"""Reports to the frontend, and whether the frontend takes our password.

Reports wait in the durable outbox (``adapters/outbox.py``) and leave on the report
lane (``app/lanes.py``): at most ``frontend.concurrency`` at a time, each build's at
most once at a time, oldest build first.  A report's file goes away only after the
frontend answered 2xx; a failed delivery backs off (2 s doubling to 5 minutes) and is
tried again, so a report is sent once per result, and when it must be sent again
(the answer was lost) it is sent byte for byte the same.  Nothing here waits for the
frontend: :meth:`Delivery.pump` hands calls out and collects the ones that ended.

The password: checked at start-up and every ``frontend.credentials_check_interval``
with the client's authenticated no-op (``check_credentials``), and judged again by every
report's answer.  While the frontend rejects it, the ``frontend-auth`` problem is open
("frontend rejected the password") and the check is repeated every 30 s (or the
check interval, if shorter), so a corrected password file is noticed without a
restart; the reports that waited for it then leave at once.  A local source has no password.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..adapters import phasetrace
from ..adapters.frontend import FrontendRefused, error_kind
from ..adapters.outbox import Outbox
from ..core.observer import FRONTEND_AUTH, Observer
from ..settings import FrontendSettings
from .lanes import Done, Lane
from .storagehealth import StorageHealth

__all__ = ["Delivery"]

log = logging.getLogger(__name__)

_CHECK = "password check"  # the lane key of a check (reports use build ids)
_RECHECK = 30.0
_STATS_EVERY = 1.0
_WARN_EVERY = 60.0  # one warning a minute about failing deliveries, the rest at debug level


class ReportSink(Protocol):
    def deliver(self, report: dict[str, Any]) -> None: ...


class Delivery:
    """Drives the outbox over the report lane (see the module docstring)."""

    def __init__(
        self,
        *,
        sink: ReportSink,
        outbox: Outbox,
        lane: Lane,
        observer: Observer,
        storage: StorageHealth,
        settings: FrontendSettings,
        clock: Callable[[], float],
    ) -> None:
        self.sink, self.outbox, self.lane, self.observer, self.storage = sink, outbox, lane, observer, storage
        self.settings, self.clock = settings, clock
        self._check: Callable[[], None] | None = getattr(sink, "check_credentials", None)
        self._next_check = 0.0 if self._check is not None else math.inf
        self.rejected: str | None = None  # why the frontend refuses the password, while it does
        self._recheck = min(_RECHECK, settings.credentials_check_interval)
        self._next_stats = 0.0
        self._last_warning = -math.inf

    def put(self, report: dict[str, Any]) -> None:
        """Store a report durably (OSError when the disk refuses; the caller keeps its result)."""
        self.outbox.put(report)

    def unsent(self) -> int:
        return self.outbox.unsent()

    def busy(self) -> bool:
        return self.lane.inflight() > 0

    def pump(self) -> None:
        """Collect ended calls, send what is due, check the password when due, publish the figures."""
        self._collect()
        try:
            self.outbox.tidy()
        except OSError as exc:
            self.storage.failed(exc, doing="removing delivered reports")
        self._send_due()
        now = self.clock()
        if now >= self._next_check and self._check is not None and not self.lane.busy(_CHECK) and self.lane.free():
            self._next_check = math.inf  # set again when the check ends
            self.lane.submit(_CHECK, self._check)
        self._collect()  # an inline lane has finished already
        if now >= self._next_stats:
            self._next_stats = now + _STATS_EVERY
            self.observer.unsent_reports(count=self.outbox.unsent(), oldest_age=self.outbox.oldest_age())

    def drain(self, *, seconds: float) -> None:
        """At a stop: wait up to ``seconds`` for the deliveries in flight to end and note them,
        so that a report the frontend took is not sent again at the next start."""
        end = time.monotonic() + seconds
        while self.lane.inflight() and time.monotonic() < end:
            time.sleep(0.02)
            self._collect()

    def _collect(self) -> None:
        for done in self.lane.finished():
            self._finished(done)

    def _send_due(self) -> None:
        for build_id in self.outbox.take_due(self.lane.free()):
            try:
                report = self.outbox.read(build_id)
            except (OSError, ValueError) as exc:
                delay = self.outbox.failed(build_id)
                log.error("cannot read the report of build %d: %s; trying again in %.0f s", build_id, exc, delay)
                continue
            self.lane.submit(build_id, functools.partial(self._deliver, build_id, report))

    def _deliver(self, build_id: int, report: dict[str, Any]) -> None:
        """On the report lane's thread: send, and remove the report's file as soon as the
        frontend took it, so that a kill before the controller's thread notes the delivery
        (its next tick) does not make the next start send the report a second time."""
        self.sink.deliver(report)
        self.outbox.discard_file(build_id)

    def _finished(self, done: Done) -> None:
        if done.key == _CHECK:
            self._checked(done.error)
            return
        build_id = done.key
        assert isinstance(build_id, int)
        if done.error is None:
            phasetrace.mark(build_id, "reported")
            self._accepted()
            self._last_warning = -math.inf  # the next failure is news
            try:
                self.outbox.delivered(build_id)
            except OSError as exc:  # it stays marked as delivered and is removed later
                self.storage.failed(exc, doing=f"removing the delivered report of build {build_id}")
            return
        delay = self.outbox.failed(build_id)
        self._failed("report", done.error)
        self._warn(f"report for build {build_id} not delivered ({done.error}); trying again in {delay:.0f} s")

    def _checked(self, error: Exception | None) -> None:
        now = self.clock()
        if error is None:
            self._accepted()
            self._next_check = now + self.settings.credentials_check_interval
            return
        self._next_check = now + self._recheck
        self._failed("check", error)
        if not isinstance(error, FrontendRefused):
            self._warn(f"cannot check the frontend password: {error}")

    def _failed(self, call: str, error: Exception) -> None:
        self.observer.frontend_error(call, kind=error_kind(error))
        if isinstance(error, FrontendRefused) and error.password_rejected:
            self._rejected(str(error))

    def _rejected(self, detail: str) -> None:
        if self.rejected is None:
            log.error("frontend rejected the password (%s); reports wait in the outbox until it takes it", detail)
            self.observer.problem(FRONTEND_AUTH, reason=f"frontend rejected the password: {detail}")
            self._next_check = min(self._next_check, self.clock() + self._recheck)
        self.rejected = detail

    def _accepted(self) -> None:
        if self.rejected is not None:
            log.info("the frontend takes the password again; delivering the waiting reports")
            self.rejected = None
            self.observer.problem(FRONTEND_AUTH, reason=None)
            self.outbox.hurry()  # they waited for the password, not for their backoff

    def _warn(self, message: str) -> None:
        now = self.clock()
        if now - self._last_warning >= _WARN_EVERY:
            log.warning("%s", message)
            self._last_warning = now
        else:
            log.debug("%s", message)
