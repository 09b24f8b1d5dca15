"""The controller loop: poll tasks, admit them, run steps, report every result.

One :meth:`Controller.tick` never waits for the frontend nor for a step.  In order:

1. handle ended steps: success waits for the writer's result; bad input has written a
   failure result; a transient failure is counted on disk (``adapters/attempts.py``)
   and retried after a growing delay, or reported as failed after ``max_attempts``,
   also across restarts.  A run that failed because of the disk spends no attempt;
2. turn results from the spool into reports in the durable outbox, then drop the
   result, the task's ordering ticket and its attempt count;
3. let ``app/delivery.py`` send due reports and check the password;
4. take a finished poll (file ordering tickets for new tasks, report malformed records
   that carry a build id, log each malformed record once, cancel tasks that left the
   queue), and start the next poll when ``core/backoff.PollSchedule`` says so;
5. start what admission picks.  With ``confirm_before_start`` each pick is confirmed
   with ``get-import-task`` first, holding its slot meanwhile, and started when the
   frontend says it is still there.

Frontend calls run on lanes of threads (``app/lanes.py``), so a slow or hanging frontend
only delays the kind of call it is slow at, never the loop, its liveness or a SIGTERM.
An OSError from the controller's own files opens the storage problem
(``app/storagehealth.py``): the work that hit it stays to be tried again, nothing new
starts while it lasts, and nothing is reported failed because of it.

The executor and the source are interfaces, so the same loop drives local worker
processes and Kubernetes Jobs.  Each event also goes to an
:class:`~copr_importer.core.observer.Observer` (telemetry; no-ops by default).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .. import __version__
from ..adapters import phasetrace
from ..adapters.attempts import Attempts
from ..adapters.outbox import Outbox
from ..adapters.spool import Spool
from ..core import naming
from ..core.admission import Limits, prioritize
from ..core.observer import Observer
from ..core.task import ImportTask, MalformedTask
from ..errors import ImporterError
from ..settings import Settings
from .delivery import Delivery
from .dispatcher import Dispatcher, Executor
from .importstep import EXIT_BAD_INPUT, EXIT_OK
from .lanes import Lanes
from .localexec import Outcome
from .logformat import task_fields
from .polling import Poller
from .reports import finished_line, report_for, stopped_line
from .storagehealth import StorageHealth, looks_like_storage_fault
from .tickets import FILED, NAME_TOO_LONG, REFUSED, Tickets, ticket_key

__all__ = ["Controller", "Executor", "Finished", "TaskSource"]

log = logging.getLogger(__name__)

# At a stop, reports in flight get this long to be answered: a report the frontend took
# but whose answer was not seen would be sent again (byte-identical) at the next start.
_DRAIN_SECONDS = 3.0
_TICK = 0.02  # the longest wait between ticks for an executor without max_wait


class TaskSource(Protocol):
    def fetch_queue(self) -> tuple[list[ImportTask], list[MalformedTask]]: ...
    def confirm(self, build_id: int) -> ImportTask | None: ...
    def deliver(self, report: dict[str, Any]) -> None: ...


def _nothing() -> None:
    pass


@dataclass(frozen=True, slots=True)
class Finished:
    """A reported task, kept for status views and the CLI summary."""

    build_id: int
    report: dict[str, Any]


@dataclass(slots=True)
class _Ended:
    """An ended step not yet fully handled, and its attempt number once counted."""

    outcome: Outcome
    attempt: int | None = None


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
        lanes: Lanes | None = None,
        mode: str = "embedded",
    ) -> None:
        self.settings, self.mode = settings, mode
        self.source, self.executor, self.spool = source, executor, spool
        ex, fe = settings.executor, settings.frontend
        self.limits = limits or (lambda: Limits(total=ex.workers, per_owner=ex.per_owner, per_sandbox=ex.per_sandbox))
        self.clock = clock
        self.observer = observer or Observer()  # telemetry hooks; no-ops by default
        # An executor with ``wake()`` ends its wait between ticks when a frontend call finishes.
        self.lanes = lanes or Lanes(workers=fe.concurrency, clock=clock, on_finish=getattr(executor, "wake", _nothing))
        self.attempts = Attempts(settings.data_dir / "attempts")
        self.storage = StorageHealth(
            observer=self.observer, folders=[outbox.folder, spool.root], spool=spool, clock=clock
        )
        self.tickets = Tickets(spool=spool, storage=self.storage)
        self.delivery = Delivery(
            sink=source,
            outbox=outbox,
            lane=self.lanes.report,
            observer=self.observer,
            storage=self.storage,
            settings=fe,
            clock=clock,
        )
        self.queue: dict[int, ImportTask] = {}
        self._ordered: list[ImportTask] = []  # the queue in priority order, computed once per poll
        self.awaiting: set[int] = set(spool.request_ids())  # handed over, result not yet seen
        # A report in the outbox is a reported build, also after a restart: never import it again.
        self.reported: set[int] = set(outbox.pending())
        self.retry_at: dict[int, float] = {}
        self.finished: deque[Finished] = deque(maxlen=1000)
        # Builds whose result was collected, remembered after the frontend forgets them:
        # their step's end (a Job's completion) may be seen later than the result.
        self._done: dict[int, None] = {}
        self._ended: deque[_Ended] = deque()
        self.poller = Poller(
            fetch=source.fetch_queue, lane=self.lanes.poll, observer=self.observer, settings=fe, clock=clock
        )
        self._polled_once = False
        confirm = source.confirm if fe.confirm_before_start else None
        self.dispatcher = Dispatcher(
            confirm=confirm,
            executor=executor,
            lane=self.lanes.confirm,
            limits=self.limits,
            observer=self.observer,
            hooks=self,
            clock=clock,
        )
        self._announced = self._closed = False

    # --- the loop -----------------------------------------------------------

    def tick(self) -> None:
        self.observer.ticked()
        if not self._announced:
            self._announce()
        for outcome in self.executor.poll():
            self.observer.step_ended(outcome.task.build_id, exit_code=outcome.exit_code)
            phasetrace.mark(outcome.task.build_id, "step_seen")
            self._ended.append(_Ended(outcome))
        # Each phase alone: a disk that refuses one kind of write stops nothing else.
        self._phase(self._handle_ended, doing="recording the end of an import step")
        self._phase(self._collect_results, doing="turning results into reports")
        self._phase(self.delivery.pump, doing="delivering reports")
        self._phase(self._poll, doing="applying the frontend's queue")
        self.storage.check()
        self._phase(self._dispatch, doing="starting imports")

    def _phase(self, phase: Callable[[], None], *, doing: str) -> None:
        try:
            phase()
        except OSError as exc:
            self.storage.failed(exc, doing=doing)

    def idle(self) -> bool:
        """Polled at least once, and nothing queued, running, awaiting the writer, undelivered or in flight."""
        return self._polled_once and not (
            self.queue
            or self.executor.running()
            or self.awaiting
            or self._ended
            or self.delivery.unsent()
            or self.lanes.busy()
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
            self.wait()

    def wait(self) -> None:
        """Wait between two ticks: until the executor has news or is woken (a step ended,
        results were published, a frontend call finished), the next poll is due, or the
        executor's ``max_wait`` passed (0.02 s for an executor that does not say)."""
        self.executor.wait(min(getattr(self.executor, "max_wait", _TICK), self.poller.due_in()))

    def close(self) -> None:
        """Give the reports in flight a moment to be taken, interrupt every other frontend call
        in flight (they are not waited for), and say goodbye."""
        if self._closed:
            return
        self._closed = True
        self.delivery.drain(seconds=_DRAIN_SECONDS)
        closer = getattr(self.source, "close", None)
        if closer is not None:
            closer()
        self.lanes.close()
        reports = [f.report for f in self.finished]
        log.info("%s", stopped_line(reports, unsent=self.delivery.unsent(), running=len(self.executor.running())))

    def _announce(self) -> None:
        self._announced = True
        fe, k8s = self.settings.frontend, self.settings.kubernetes
        limit = f"from ConfigMap {k8s.limit_config_map}" if self.mode == "kubernetes" else str(self.limits().total)
        log.info(
            "copr-importer %s starting (%s): frontend %s, data directory %s, N = %s",
            __version__,
            self.mode,
            fe.base_url or "none (local tasks)",
            self.settings.data_dir.resolve(),
            limit,
        )

    # --- steps --------------------------------------------------------------

    def _handle_ended(self) -> None:
        while self._ended:
            self._on_outcome(self._ended[0])  # an OSError leaves it first in line
            self._ended.popleft()

    def _on_outcome(self, ended: _Ended) -> None:
        outcome = ended.outcome
        build_id = outcome.task.build_id
        if build_id in self.reported or build_id in self._done:
            return  # its result was collected before the end of its step was noticed
        if outcome.exit_code == EXIT_OK:
            self.awaiting.add(build_id)
            return
        if outcome.exit_code == EXIT_BAD_INPUT:
            if not self.spool.has_result(build_id):
                self._fail(outcome.task, code="srpm_import_failed", message=outcome.message)
            return
        delay = self.settings.executor.retry_delay
        if ended.attempt is None and (looks_like_storage_fault(outcome.message) or self.storage.probe()):
            self.retry_at[build_id] = self.clock() + delay
            log.warning(
                "build %d failed because of the disk (%s); retrying in %.0f s without spending an attempt",
                build_id,
                outcome.message,
                delay,
                extra=task_fields(outcome.task, phase="retry"),
            )
            return
        if ended.attempt is None:
            ended.attempt = self.attempts.add(build_id)  # durable before it decides anything
        if ended.attempt >= self.settings.executor.max_attempts:
            code = "import_timeout_exceeded" if "timeout" in outcome.message else "srpm_import_failed"
            message = f"gave up after {ended.attempt} attempts: {outcome.message}"
            self._fail(outcome.task, code=code, message=message)
            return
        delay *= 2 ** (ended.attempt - 1)
        self.retry_at[build_id] = self.clock() + delay
        log.warning(
            "build %d failed transiently (%s); retry %d in %.0f s",
            build_id,
            outcome.message,
            ended.attempt + 1,
            delay,
            extra=task_fields(outcome.task, phase="retry"),
        )

    def _fail(self, task: ImportTask, *, code: str, message: str) -> None:
        error = {"code": code, "message": message}
        self.spool.write_result(
            task.build_id, result={"build_id": task.build_id, "reponame": task.reponame, "error": error}
        )

    def _collect_results(self) -> None:
        for build_id, result in self.spool.results():
            if build_id not in self._done:
                self._reported(report_for(result), package=result.get("reponame"))  # durable first
                phasetrace.mark(build_id, "collected")
            task = self.queue.pop(build_id, None)
            if task is not None:
                self.tickets.drop(key=ticket_key(task), build_id=build_id)
            elif result.get("reponame"):
                self.tickets.drop(key=naming.reponame_key(result["reponame"]), build_id=build_id)
            self.attempts.forget(build_id)
            self.spool.remove_result(build_id)
            self.awaiting.discard(build_id)
            self.retry_at.pop(build_id, None)

    def _reported(self, report: dict[str, Any], *, package: str | None) -> None:
        """Put ``report`` in the outbox (OSError: nothing happened) and note it everywhere."""
        build_id = int(report["build_id"])
        self.delivery.put(report)
        self._done[build_id] = None
        if len(self._done) > 10_000:
            del self._done[next(iter(self._done))]
        self.reported.add(build_id)
        self.finished.append(Finished(build_id, report))
        self.observer.reported(report, package=package)
        extra = {"task_id": build_id, "package": package or report.get("reponame"), "phase": "report"}
        line = finished_line(report, package=package)
        if report.get("branch_commits"):
            log.info("%s", line, extra=extra)
        else:
            log.warning("%s", line, extra=extra)

    # --- polling ------------------------------------------------------------

    def _poll(self) -> None:
        self.tickets.drop_stale()
        for tasks, rejected in self.poller.pump():
            self._apply_queue(tasks, rejected)

    def _apply_queue(self, tasks: list[ImportTask], rejected: list[MalformedTask]) -> None:
        listed = {t.build_id for t in tasks} | {r.build_id for r in rejected if r.build_id}
        self.poller.note_malformed(rejected)
        self._report_rejected(rejected)
        for task in self.executor.running():
            # A build that left the queue was canceled, unless it left because we reported it.
            if task.build_id not in listed and task.build_id not in self._done:
                self._cancel(task)
        self.reported &= listed  # the frontend forgets reported builds; so do we
        fresh = {t.build_id: t for t in tasks if t.build_id not in self.reported}
        queue: dict[int, ImportTask] = {}
        for build_id, task in fresh.items():
            if build_id in self.queue:
                filed = FILED
            else:
                filed = self.tickets.file(task)
                phasetrace.mark(build_id, "polled")
            if filed == NAME_TOO_LONG:
                self.reject(task.build_id, "owner, project and package names too long for a file name")
            elif filed != REFUSED:  # refused: not queued; the next poll tries again
                queue[build_id] = task
        for build_id, task in self.queue.items():
            if build_id not in fresh and build_id not in self.awaiting:
                self.tickets.drop(key=ticket_key(task), build_id=build_id)
        self.queue = queue
        self._ordered = prioritize(list(queue.values()))
        self.observer.polled(queued=queue.keys())
        if not self._polled_once:
            self._sweep()
            self._polled_once = True

    def _cancel(self, task: ImportTask) -> None:
        log.info(
            "build %d left the queue (canceled, or reported before a restart); stopping its import",
            task.build_id,
            extra=task_fields(task, phase="cancel"),
        )
        try:
            self.executor.cancel(task.build_id)
        except ImporterError as exc:  # the next poll tries again
            log.warning("cannot stop the import of build %d: %s", task.build_id, exc)
            return
        self.observer.canceled(task.build_id)

    def reject(self, build_id: int, message: str) -> None:
        """``build_id``'s record is malformed (its names do not fit a file name, the confirmed record
        is broken): report it so, once."""
        self.queue.pop(build_id, None)
        log.error("rejected task record (build %d): %s", build_id, message)
        self._report_rejected([MalformedTask(message, build_id=build_id)])

    def _report_rejected(self, rejected: list[MalformedTask]) -> None:
        for exc in rejected:
            if exc.build_id is None or exc.build_id in self.reported:
                continue
            report = {"build_id": exc.build_id, "error": exc.code, "error_message": exc.message}
            try:
                self._reported(report, package=None)
            except OSError as error:  # not reported yet: the next poll tries again
                self.storage.failed(error, doing=f"writing the report of build {exc.build_id}")

    def _sweep(self) -> None:
        """After the first poll: drop what an earlier run left for builds that are gone."""

        def live(build_id: int) -> bool:
            return build_id in self.queue or build_id in self.awaiting or self.spool.has_result(build_id)

        self.tickets.sweep(keep=live)
        for build_id in self.attempts.builds():
            if not live(build_id):
                self.attempts.forget(build_id)

    # --- dispatching (app/dispatcher.py asks these) -------------------------

    def _dispatch(self) -> None:
        self.dispatcher.dispatch(candidates=self._candidates, paused=self.storage.troubled)

    def _candidates(self) -> tuple[list[ImportTask], set[int]]:
        now = self.clock()
        held = self.reported | self.awaiting | {b for b, t in self.retry_at.items() if t > now}
        return [t for t in self._ordered if t.build_id in self.queue], held

    def wanted(self, build_id: int) -> bool:
        return build_id in self.queue and build_id not in self.reported and build_id not in self.awaiting

    def gone(self, task: ImportTask) -> None:
        self.queue.pop(task.build_id, None)
        self.tickets.drop(key=ticket_key(task), build_id=task.build_id)

    def started(self, task: ImportTask) -> None:
        self.retry_at.pop(task.build_id, None)
