"""The controller loop: poll tasks, admit them, run steps, report every result.

One :meth:`Controller.tick` does, in order:

1. collect ended steps: success waits for the writer's result; bad input has
   written a failure result; a transient failure is retried after a growing
   delay, and reported as failed after ``max_attempts``;
2. turn results from the spool into reports in the durable outbox, then drop
   the result and the task's ordering ticket;
3. deliver due reports;
4. poll the source when due: file ordering tickets for new tasks, report
   malformed records that carry a build id, cancel tasks that left the queue;
5. start what :func:`~copr_importer.core.admission.choose` picks.

The executor and the source are interfaces, so the same loop drives local
worker processes now and Kubernetes Jobs later.  Each event also goes to an
:class:`~copr_importer.core.observer.Observer` (telemetry; no-ops by default).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..adapters.outbox import Outbox
from ..adapters.spool import Spool
from ..core import naming
from ..core.admission import Limits, choose, prioritize
from ..core.observer import Observer
from ..core.task import ImportTask, MalformedTask
from ..errors import ImporterError
from ..settings import Settings
from .importstep import EXIT_BAD_INPUT, EXIT_OK
from .localexec import Outcome
from .logformat import task_fields

__all__ = ["Controller", "Executor", "Finished", "TaskSource", "report_for"]

log = logging.getLogger(__name__)


class TaskSource(Protocol):
    def fetch_queue(self) -> tuple[list[ImportTask], list[MalformedTask]]: ...
    def confirm(self, build_id: int) -> ImportTask | None: ...
    def deliver(self, report: dict[str, Any]) -> None: ...


class Executor(Protocol):
    def start(self, task: ImportTask) -> None: ...
    def running(self) -> list[ImportTask]: ...
    def poll(self) -> list[Outcome]: ...
    def cancel(self, build_id: int) -> None: ...
    def wait(self, timeout: float) -> None: ...


@dataclass(frozen=True, slots=True)
class Finished:
    """A reported task, kept for status views and the CLI summary."""

    build_id: int
    report: dict[str, Any]


def report_for(result: dict[str, Any]) -> dict[str, Any]:
    """The frontend's body for a result: copr's keys plus our extras (copr ignores extras)."""
    report: dict[str, Any] = {"build_id": result["build_id"]}
    commits = result.get("branch_commits") or {}
    if commits:
        report["branch_commits"] = commits
        report["reponame"] = result["reponame"]
        if result.get("branch_errors"):
            report["branch_errors"] = result["branch_errors"]
    else:
        error = result.get("error") or {"code": "srpm_import_failed", "message": "unknown failure"}
        report["error"] = error["code"]
        report["error_message"] = error["message"]
    return report


def _ticket_key(task: ImportTask) -> str:
    return naming.reponame_key(task.reponame)


class Controller:
    """Wires a task source, an executor, the spool and the outbox."""

    def __init__(
        self,
        *,
        settings: Settings,
        source: TaskSource,
        executor: Executor,
        spool: Spool,
        outbox: Outbox,
        limits: Callable[[], Limits] | None = None,
        clock: Callable[[], float] = time.monotonic,
        observer: Observer | None = None,
    ) -> None:
        self.settings = settings
        self.source, self.executor, self.spool, self.outbox = source, executor, spool, outbox
        ex = settings.executor
        self.limits = limits or (lambda: Limits(total=ex.workers, per_owner=ex.per_owner, per_sandbox=ex.per_sandbox))
        self.clock = clock
        self.observer = observer or Observer()  # telemetry hooks; no-ops by default
        self.queue: dict[int, ImportTask] = {}
        self._ordered: list[ImportTask] = []  # the queue in priority order, computed once per poll
        self.awaiting: set[int] = set(spool.request_ids())  # handed over, result not yet seen
        self.reported: set[int] = set()
        self.attempts: dict[int, int] = {}
        self.retry_at: dict[int, float] = {}
        self.finished: deque[Finished] = deque(maxlen=1000)
        # Builds whose result was collected, remembered after the frontend forgets them:
        # their step's end (a Job's completion) may be seen later than the result.
        self._done: dict[int, None] = {}
        self._next_poll = 0.0
        self._polled_once = False
        self._start_failures = 0  # consecutive executor.start failures
        self._dispatch_after = 0.0

    # --- the loop -----------------------------------------------------------

    def tick(self) -> None:
        self.observer.ticked()
        for outcome in self.executor.poll():
            self._on_outcome(outcome)
        self._collect_results()
        self.outbox.flush(self.source.deliver)
        if self.clock() >= self._next_poll:
            self._poll()
        self._dispatch()

    def idle(self) -> bool:
        """Polled at least once, and nothing queued, running, awaiting the writer or undelivered."""
        return self._polled_once and not (
            self.queue or self.executor.running() or self.awaiting or self.outbox.pending()
        )

    def run(
        self,
        *,
        until_idle: bool = False,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        while not should_stop():
            self.tick()
            if until_idle and self.idle():
                return
            self.executor.wait(0.02)

    # --- steps --------------------------------------------------------------

    def _on_outcome(self, outcome: Outcome) -> None:
        build_id = outcome.task.build_id
        self.observer.step_ended(build_id, exit_code=outcome.exit_code)
        if build_id in self.reported or build_id in self._done:
            return  # its result was collected before the end of its step was noticed
        if outcome.exit_code == EXIT_OK:
            self.awaiting.add(build_id)
            return
        if outcome.exit_code == EXIT_BAD_INPUT:
            if not self.spool.has_result(build_id):
                self._fail(outcome.task, code="srpm_import_failed", message=outcome.message)
            return
        attempts = self.attempts[build_id] = self.attempts.get(build_id, 0) + 1
        if attempts >= self.settings.executor.max_attempts:
            code = "import_timeout_exceeded" if "timeout" in outcome.message else "srpm_import_failed"
            self._fail(outcome.task, code=code, message=f"gave up after {attempts} attempts: {outcome.message}")
            return
        delay = self.settings.executor.retry_delay * 2 ** (attempts - 1)
        self.retry_at[build_id] = self.clock() + delay
        log.warning(
            "build %d failed transiently (%s); retry %d in %.0f s",
            build_id,
            outcome.message,
            attempts + 1,
            delay,
            extra=task_fields(outcome.task, phase="retry"),
        )

    def _fail(self, task: ImportTask, *, code: str, message: str) -> None:
        log.error("build %d failed: %s", task.build_id, message, extra=task_fields(task, phase="report"))
        error = {"code": code, "message": message}
        self.spool.write_result(
            task.build_id, result={"build_id": task.build_id, "reponame": task.reponame, "error": error}
        )

    def _collect_results(self) -> None:
        for build_id, result in self.spool.results():
            report = report_for(result)
            self.outbox.put(report)  # durable before the result goes away
            self.observer.reported(report, package=result.get("reponame"))
            task = self.queue.pop(build_id, None)
            if task is not None:
                self.spool.remove_ticket(key=_ticket_key(task), build_id=build_id)
            elif result.get("reponame"):
                self.spool.remove_ticket(key=naming.reponame_key(result["reponame"]), build_id=build_id)
            self.spool.remove_result(build_id)
            self.awaiting.discard(build_id)
            self.attempts.pop(build_id, None)
            self.reported.add(build_id)
            self._remember_done(build_id)
            self.finished.append(Finished(build_id, report))

    def _remember_done(self, build_id: int) -> None:
        self._done[build_id] = None
        if len(self._done) > 10_000:
            del self._done[next(iter(self._done))]

    def _poll(self) -> None:
        started = self.clock()
        try:
            tasks, rejected = self.source.fetch_queue()
        except ImporterError as exc:
            log.error("cannot fetch the importing queue: %s", exc)
            return
        finally:
            frontend = self.settings.frontend
            wait = max(frontend.poll_interval, frontend.poll_backoff * (self.clock() - started))
            self._next_poll = started + wait
        listed = {t.build_id for t in tasks} | {r.build_id for r in rejected if r.build_id}
        self._report_rejected(rejected)
        for task in self.executor.running():
            # A build that left the queue was canceled, unless it left because we reported it.
            if task.build_id not in listed and task.build_id not in self._done:
                log.info(
                    "build %d left the queue (canceled); stopping its import",
                    task.build_id,
                    extra=task_fields(task, phase="cancel"),
                )
                self.executor.cancel(task.build_id)
                self.observer.canceled(task.build_id)
        self.reported &= listed  # the frontend forgets reported builds; so do we
        fresh = {t.build_id: t for t in tasks if t.build_id not in self.reported}
        for build_id, task in fresh.items():
            if build_id not in self.queue:
                self.spool.add_ticket(key=_ticket_key(task), build_id=build_id)
        for build_id, task in self.queue.items():
            if build_id not in fresh and build_id not in self.awaiting:
                self.spool.remove_ticket(key=_ticket_key(task), build_id=build_id)
        self.queue = fresh
        self._ordered = prioritize(list(fresh.values()))
        self.observer.polled(queued=fresh.keys())
        if not self._polled_once:
            self._drop_stale_tickets()
            self._polled_once = True

    def _report_rejected(self, rejected: list[MalformedTask]) -> None:
        for exc in rejected:
            if exc.build_id is None or exc.build_id in self.reported:
                continue
            report = {"build_id": exc.build_id, "error": exc.code, "error_message": exc.message}
            self.outbox.put(report)
            self.observer.reported(report, package=None)
            self.reported.add(exc.build_id)
            self.finished.append(Finished(exc.build_id, {"build_id": exc.build_id, "error": exc.code}))

    def _drop_stale_tickets(self) -> None:
        """Tickets left by an earlier run for builds that are gone would block their package."""
        for key, build_id in list(self.spool.all_tickets()):
            if build_id not in self.queue and build_id not in self.awaiting and not self.spool.has_result(build_id):
                self.spool.remove_ticket(key=key, build_id=build_id)

    def _start_failed(self, task: ImportTask, *, error: ImporterError) -> None:
        """Nothing started (the cluster refused, throttled or could not be reached, or the Job
        template is broken): no attempt is spent, and dispatching pauses for 1 s, doubling
        up to a minute while it keeps failing, so a broken cluster is not hammered."""
        self._start_failures += 1
        pause = min(2.0 ** (self._start_failures - 1), 60.0)
        self._dispatch_after = self.clock() + pause
        log.error(
            "cannot start build %d: %s; dispatching again in %.0f s",
            task.build_id,
            error,
            pause,
            extra=task_fields(task, phase="dispatch"),
        )

    def _dispatch(self) -> None:
        now = self.clock()
        running, limits = self.executor.running(), self.limits()
        self.observer.capacity(running=running, limit=limits.total)
        if len(running) >= limits.total or now < self._dispatch_after:
            return  # no free slot, or starts are paused: skip walking a queue that may hold 100 000 tasks
        held = self.reported | self.awaiting | {b for b, t in self.retry_at.items() if t > now}
        ordered = [t for t in self._ordered if t.build_id in self.queue]
        chosen = choose(queue=ordered, running=running, limits=limits, held=held, presorted=True)
        for task in chosen:
            if self.settings.frontend.confirm_before_start:
                try:
                    current = self.source.confirm(task.build_id)
                except MalformedTask as exc:
                    self.queue.pop(task.build_id, None)
                    self._report_rejected([exc])
                    continue
                except ImporterError as exc:
                    log.error("cannot confirm build %d: %s", task.build_id, exc)
                    return
                if current is None:
                    log.info("build %d is gone from the frontend; skipping it", task.build_id)
                    self.queue.pop(task.build_id, None)
                    self.spool.remove_ticket(key=_ticket_key(task), build_id=task.build_id)
                    continue
                task = current
            self.retry_at.pop(task.build_id, None)
            log.info("starting build %d (%s)", task.build_id, task.reponame, extra=task_fields(task, phase="dispatch"))
            try:
                self.executor.start(task)
            except ImporterError as exc:
                self._start_failed(task, error=exc)
                return
            self._start_failures = 0
            self.observer.dispatched(task.build_id)
