"""Telemetry: loop events become Prometheus metrics, health answers and the status document.

:class:`ControllerTelemetry` and :class:`WriterTelemetry` are the
:class:`~copr_importer.core.observer.Observer` the loops are given, and the
:class:`~copr_importer.adapters.opsserver.Endpoints` the HTTP server serves.
They live in ``app/`` because they wire three things together: the pure
bookkeeping (``core/tasktimes.py``, ``core/progress.py``), the metric objects
(``adapters/metrics.py``, the only importer of prometheus_client) and the spool.

Hooks run in the loop's thread, requests in the server's threads: shared state
is guarded by one lock, held only for dictionary updates.

Health:

* live: the loop ticked within ``telemetry.live_after`` seconds;
* ready (controller): no component has an open problem (the frontend's queue cannot
  be read, the frontend rejects the password, the controller's disk refuses writes, the
  git-writer reports one, the cluster cannot be reached or N is unknown), the source
  answered a poll at least once and, in Kubernetes, the Job list+watch holds a complete
  view; the reasons are in the answer.  (writer): its loop runs.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from typing import Any

from .. import __version__
from ..adapters.frontend import ERROR_KINDS
from ..adapters.metrics import CONTENT_TYPE, ControllerMetrics, WriterMetrics, exposition, new_registry
from ..adapters.spool import Spool
from ..core import observer
from ..core.progress import Throughput, eta_seconds
from ..core.task import ImportTask
from ..core.tasktimes import TaskTimes
from ..settings import TelemetrySettings
from .importstep import EXIT_BAD_INPUT, EXIT_OK

__all__ = ["ControllerTelemetry", "WriterTelemetry", "step_result"]

IMPORTED, PARTIAL, FAILED = "imported", "partial", "failed"
_RECENT_FAILURES = 50


def step_result(exit_code: int) -> str:
    """The import step's exit code as a metric label."""
    if exit_code == EXIT_OK:
        return observer.SUCCEEDED
    if exit_code == EXIT_BAD_INPUT:
        return observer.FAILED_BAD_INPUT
    return observer.FAILED_TRANSIENT


def _report_outcome(report: Mapping[str, Any]) -> str:
    if not report.get("branch_commits"):
        return FAILED
    return PARTIAL if report.get("branch_errors") else IMPORTED


class _Liveness:
    def __init__(self, *, settings: TelemetrySettings, clock: Callable[[], float]) -> None:
        self.settings, self.clock = settings, clock
        self.started = clock()
        self.last_tick: float | None = None

    def ticked(self) -> None:
        self.last_tick = self.clock()

    def live(self) -> tuple[bool, str]:
        if self.last_tick is None:
            # Starting up (taking the writer lock, the first list of Jobs) counts as alive for a while.
            age = self.clock() - self.started
            return age <= self.settings.live_after, f"starting for {age:.0f} s"
        age = self.clock() - self.last_tick
        return age <= self.settings.live_after, f"last tick {age:.1f} s ago (limit {self.settings.live_after:.0f} s)"


class ControllerTelemetry(observer.Observer):
    """The controller's metrics, health and status; see the module docstring."""

    def __init__(
        self,
        *,
        settings: TelemetrySettings,
        mode: str,
        spool: Spool,
        forwards_writer: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mode, self.spool, self.clock = mode, spool, clock
        self.registry = new_registry(version=__version__)
        self.m = ControllerMetrics(self.registry)
        self.m.preset(
            results=observer.STEP_RESULTS,
            limit_results=observer.LIMIT_RESULTS,
            outcomes=(IMPORTED, PARTIAL, FAILED),
            components=observer.PROBLEM_COMPONENTS,
            errors=[(call, kind) for call in observer.FRONTEND_CALLS for kind in ERROR_KINDS],
        )
        self.m.track_writer_backlog(self._writer_backlog)
        # Embedded: the writer child's counters are folded in here (one endpoint).
        self.writer = WriterMetrics(self.registry) if forwards_writer else None
        self._lock = threading.Lock()
        self._alive = _Liveness(settings=settings, clock=clock)
        self._times = TaskTimes()
        self._throughput = Throughput(window=settings.throughput_window)
        self._failures: deque[dict[str, Any]] = deque(maxlen=_RECENT_FAILURES)
        self._totals = {"succeeded": 0, "failed": 0}
        self._active = self._limit = 0
        self._problems: dict[str, tuple[str, float]] = {}  # component -> (reason, since)
        self._errors: dict[str, int] = {}  # frontend errors by kind
        self._unsent: tuple[int, float | None] = (0, None)
        self._polled = False
        self._synced = mode != "kubernetes"  # only the Job watch has to sync

    def _writer_backlog(self) -> float:
        return float(len(self.spool.request_ids()))

    # --- observer hooks -----------------------------------------------------

    def ticked(self) -> None:
        if self._alive.last_tick is None:
            self.m.leader.set(1)
        self._alive.ticked()

    def polled(self, *, queued: Collection[int]) -> None:
        with self._lock:
            self._times.listed(queued, now=self.clock())
            self._polled = True
            self.m.tasks_pending.set(self._times.pending)

    def capacity(self, *, running: Collection[ImportTask], limit: int) -> None:
        with self._lock:
            self._times.running(t.build_id for t in running)
            self._active, self._limit = len(running), limit
            self.m.tasks_pending.set(self._times.pending)
        self.m.jobs_active.set(len(running))
        self.m.jobs_limit.set(limit)

    def dispatched(self, build_id: int) -> None:
        with self._lock:
            wait = self._times.dispatched(build_id, now=self.clock())
            self.m.tasks_pending.set(self._times.pending)
        self.m.jobs_created.inc()
        if wait is not None:
            self.m.queue_wait.observe(wait)

    def step_ended(self, build_id: int, *, exit_code: int) -> None:
        with self._lock:
            duration = self._times.ended(build_id, now=self.clock())
        self.m.jobs_finished.labels(result=step_result(exit_code)).inc()
        if duration is not None:
            self.m.job_duration.observe(duration)

    def canceled(self, build_id: int) -> None:
        with self._lock:
            self._times.ended(build_id, now=self.clock())
        self.m.jobs_finished.labels(result=observer.CANCELED).inc()

    def reported(self, report: Mapping[str, Any], *, package: str | None) -> None:
        outcome = _report_outcome(report)
        self.m.imports_reported.labels(outcome=outcome).inc()
        now = self.clock()
        with self._lock:
            self._throughput.add(now)
            self._totals["succeeded" if outcome == IMPORTED else "failed"] += 1
            if outcome != IMPORTED:
                self._failures.appendleft(_failure(report, package=package, at=now))

    def problem(self, component: str, *, reason: str | None) -> None:
        with self._lock:
            if reason is None:
                self._problems.pop(component, None)
            else:
                since = self._problems.get(component, (reason, self.clock()))[1]
                self._problems[component] = (reason, since)
        self.m.problem.labels(component=component).set(0 if reason is None else 1)

    def frontend_error(self, call: str, *, kind: str) -> None:
        self.m.frontend_errors.labels(call=call, kind=kind).inc()
        with self._lock:
            self._errors[kind] = self._errors.get(kind, 0) + 1

    def unsent_reports(self, *, count: int, oldest_age: float | None) -> None:
        self._unsent = (count, oldest_age)
        self.m.reports_unsent.set(count)
        self.m.reports_unsent_age.set(oldest_age or 0.0)

    def limit_refreshed(self, result: str) -> None:
        self.m.config_reloads.labels(result=result).inc()

    def cluster_synced(self, synced: bool) -> None:
        self._synced = synced

    def commits_applied(self, count: int) -> None:
        if self.writer is not None and count:
            self.writer.commits.inc(count)

    def requests_applied(self, count: int) -> None:
        if self.writer is not None and count:
            self.writer.requests_applied.inc(count)

    def stopped(self) -> None:
        self.m.leader.set(0)

    # --- endpoints ----------------------------------------------------------

    def metrics(self) -> tuple[bytes, str]:
        return exposition(self.registry), CONTENT_TYPE

    def live(self) -> tuple[bool, str]:
        return self._alive.live()

    def ready(self) -> tuple[bool, str]:
        with self._lock:
            reasons = [f"{component}: {reason}" for component, (reason, _) in sorted(self._problems.items())]
        if not self._polled:
            reasons.append("the task source has not answered a poll yet")
        if not self._synced:
            reasons.append("the Job watch is not synced")
        if reasons:
            return False, "; ".join(reasons)
        return True, "polled the source" + (", Job watch synced" if self.mode == "kubernetes" else "")

    def status(self) -> dict[str, Any]:
        now = self.clock()
        backlog = self._writer_backlog()
        ready, why = self.ready()
        with self._lock:
            running_for = now - self._alive.started
            per_minute = self._throughput.per_minute(now=now, running_for=running_for)
            pending, active = self._times.pending, self._active
            failures = [
                {k: v for k, v in f.items() if k != "at"} | {"age_seconds": round(now - f["at"], 1)}
                for f in self._failures
            ]
            doc = {
                "version": __version__,
                "mode": self.mode,
                "ready": ready,
                "ready_reason": why,
                "uptime_seconds": round(running_for, 1),
                "queue": {"pending": pending, "active": active, "limit": self._limit},
                "writer_backlog": int(backlog),
                "throughput": {
                    "window_seconds": self._throughput.window,
                    "span_seconds": round(min(self._throughput.window, running_for), 1),  # shorter after a start
                    "imports": self._throughput.count(now),
                    "per_minute": round(per_minute, 2),
                },
                "eta_seconds": eta_seconds(backlog=pending + active, per_minute=per_minute),
                "totals": dict(self._totals),
                "recent_failures": failures,
                "problems": [
                    {"component": c, "reason": r, "since_seconds": round(now - t, 1)}
                    for c, (r, t) in sorted(self._problems.items())
                ],
                "reports": {
                    "unsent": self._unsent[0],
                    "oldest_seconds": None if self._unsent[1] is None else round(self._unsent[1], 1),
                },
                "frontend_errors": dict(sorted(self._errors.items())),
            }
        return doc


def _failure(report: Mapping[str, Any], *, package: str | None, at: float) -> dict[str, Any]:
    if report.get("branch_commits"):  # partial: some branches failed
        errors = report.get("branch_errors") or {}
        message = "; ".join(f"{b}: {e}" for b, e in sorted(errors.items()))
        code = "branch_failed"
    else:
        code, message = str(report.get("error", "?")), str(report.get("error_message", ""))
    return {
        "build_id": report.get("build_id"),
        "package": package or report.get("reponame") or "?",
        "error": code,
        "message": message[:500],
        "at": at,
    }


class WriterTelemetry(observer.Observer):
    """The git-writer sidecar's own endpoint: its counters and liveness (no /status)."""

    def __init__(self, *, settings: TelemetrySettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = new_registry(version=__version__)
        self.m = WriterMetrics(self.registry)
        self._alive = _Liveness(settings=settings, clock=clock)

    def ticked(self) -> None:
        self._alive.ticked()

    def commits_applied(self, count: int) -> None:
        self.m.commits.inc(count)

    def requests_applied(self, count: int) -> None:
        self.m.requests_applied.inc(count)

    def metrics(self) -> tuple[bytes, str]:
        return exposition(self.registry), CONTENT_TYPE

    def live(self) -> tuple[bool, str]:
        return self._alive.live()

    def ready(self) -> tuple[bool, str]:
        ticked = self._alive.last_tick is not None
        return ticked, "the writer loop runs" if ticked else "waiting for the writer lock"

    def status(self) -> None:
        return None
