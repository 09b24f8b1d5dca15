"""The local executor: a pool of pre-started worker processes that take tasks over a pipe.

Workers are forked by the zygote (``app/zygote.py``, which says why not from
the controller) and each runs many import steps (``app/worker.py``), so a task
pays neither a process start nor imports.  The pool keeps N workers
(``executor.workers``) and replaces one, at once, when it

* crashed or was killed from outside (SIGKILL, the OOM killer, a failed write of
  its log): its task is a transient failure of that task only, ``ended="crash"``;
* outlived ``executor.task_timeout`` on a task: killed, a transient failure with
  ``ended="timeout"``, like a Job past its ``activeDeadlineSeconds``;
* ran a canceled task: killed, and no outcome is given (the build left the queue);
* retired: after ``executor.tasks_per_worker`` tasks, or after a step that ended
  transiently (its outcome is kept: that is a normal outcome).

A worker's death is known from the zygote, which reaped it, so it is never
mistaken for an answer (a pipe at end-of-file reads as ready).  A slot stays
taken until its worker is dead, so a killed worker that is slow to die never
runs beside its replacement, and the hand-over directory it left in the spool
is removed before its task can run again.  Nothing here waits for a fixed time:
every wait ends as soon as a worker answers or dies, the git-writer published
results (it rings ``spool/results.bell``), or :meth:`LocalExecutor.wake` is called
(a frontend call of the controller finished).  Where the spool cannot hold that
FIFO, :attr:`LocalExecutor.max_wait` tells the controller to wait briefly only.
"""

from __future__ import annotations

import logging
import multiprocessing.connection
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

from ..adapters.doorbell import Doorbell
from ..adapters.spool import RESULTS_BELL, Spool
from ..core.task import ImportTask
from ..errors import TransientError
from ..settings import Settings
from .importstep import EXIT_TRANSIENT
from .logformat import task_fields
from .zygote import LOST, Zygote

__all__ = ["ENDED_CRASH", "ENDED_STEP", "ENDED_TIMEOUT", "LocalExecutor", "Outcome", "describe_exit"]

log = logging.getLogger(__name__)

ENDED_STEP = "step"  # the step gave its own outcome (it may still be transient)
ENDED_CRASH = "crash"  # the process died without an outcome: a signal (SIGKILL, OOM) or an exit
ENDED_TIMEOUT = "timeout"  # killed after executor.task_timeout


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished step, as the controller sees it."""

    task: ImportTask
    exit_code: int
    message: str
    seconds: float
    ended: str = ENDED_STEP
    """How the step ended: :data:`ENDED_STEP`, :data:`ENDED_CRASH` or :data:`ENDED_TIMEOUT`."""


@dataclass(eq=False, slots=True)
class _Worker:
    slot: int
    pid: int
    conn: Connection
    task: ImportTask | None = None
    started: float = 0.0
    leaving: str | None = None  # why it goes: "retiring", "timeout", "canceled", "lost" (pipe broken)
    at_eof: bool = False  # its pipe is closed: it is dying, and the zygote will say how
    served: int = 0  # tasks given to it


def describe_exit(status: int) -> str:
    """A wait status in words: ``killed by SIGKILL``, ``exit code 1``."""
    if status == LOST:
        return "killed with its zygote, which died"
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        name = signal.Signals(signum).name if signum in signal.valid_signals() else str(signum)
        return f"killed by {name}" + (" (the OOM killer, or someone)" if signum == signal.SIGKILL else "")
    return f"exit code {os.waitstatus_to_exitcode(status)}"


class LocalExecutor:
    """The controller's executor on one machine; see the module docstring."""

    def __init__(self, *, settings: Settings, zygote: Zygote | None = None) -> None:
        self.settings = settings
        self._zygote = zygote or Zygote(settings=settings)
        self._owns_zygote = zygote is None
        self._spool = Spool(settings.spool_root)
        self._workers: dict[int, _Worker] = {}  # by pid, until the zygote reports the death
        self._spawn_after = 0.0  # starting workers pauses after a failure
        self._spawn_failures = 0
        self._bell = Doorbell(self._spool.root / RESULTS_BELL)
        # Woken by results and wake(), the controller needs no timer but its own
        # (next poll, retries, timeouts: a quarter second late at most); without a
        # doorbell it looks for results every 20 ms, as it did before there were any.
        self.max_wait = 0.25 if self._bell.listen() else 0.02

    # --- the executor interface ---------------------------------------------

    def start(self, task: ImportTask) -> None:
        """Hand ``task`` to an idle worker (starting one if none is idle); TransientError if none can take it."""
        for worker in [w for w in self._workers.values() if w.task is None and w.leaving is None]:
            if self._give(worker, task):
                return
        if not self._give(self._spawn(force=True), task):
            raise TransientError("a new import worker died before it could take a task")

    def _give(self, worker: _Worker, task: ImportTask) -> bool:
        try:
            worker.conn.send(task)
        except OSError:
            worker.leaving = "lost"  # it died while idle; the zygote will report its end
            return False
        worker.task, worker.started, worker.served = task, time.monotonic(), worker.served + 1
        return True

    def running(self) -> list[ImportTask]:
        return [w.task for w in self._workers.values() if w.task is not None and w.leaving != "canceled"]

    def poll(self) -> list[Outcome]:
        """Outcomes of the steps that ended since the last call; dead workers are replaced."""
        self._zygote.collect()
        outcomes: list[Outcome] = []
        now = time.monotonic()
        for worker in list(self._workers.values()):
            answer = self._answer(worker, now)
            if answer is not None:
                outcomes.append(answer)
            status = self._zygote.exits.pop(worker.pid, None)
            if status is not None:
                outcomes.extend(self._dead(worker, status=status, now=now))
            elif worker.task is not None and worker.leaving is None and self._overdue(worker, now):
                self._zygote.signal(worker.pid, signal.SIGKILL)
                worker.leaving = "timeout"
        self._top_up()
        return outcomes

    def wait(self, timeout: float) -> None:
        """Sleep until a worker answers or dies, results are published, :meth:`wake` is
        called, or ``timeout`` seconds pass."""
        ready: list[Connection | int] = [w.conn for w in self._workers.values() if self._listening(w)]
        news = self._zygote.connection()
        if news is not None:
            ready.append(news)
        bell = self._bell.fileno()
        if bell is not None:
            ready.append(bell)
        if ready:
            multiprocessing.connection.wait(ready, timeout)
        else:
            time.sleep(timeout)
        self._bell.drain()

    def wake(self) -> None:
        """End a :meth:`wait` now; any thread may call it."""
        self._bell.ring()

    def cancel(self, build_id: int) -> None:
        for worker in self._workers.values():
            if worker.task is not None and worker.task.build_id == build_id and worker.leaving != "canceled":
                worker.leaving = "canceled"
                self._zygote.signal(worker.pid, signal.SIGKILL)

    def shutdown(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL after ``executor.stop_grace``); their tasks stay unreported."""
        if self._owns_zygote:
            self._zygote.close(grace=self.settings.executor.stop_grace)
        else:
            self._zygote.stop_children(grace=self.settings.executor.stop_grace, pids=set(self._workers))
        for worker in self._workers.values():
            worker.conn.close()
        self._workers.clear()
        self._bell.close()

    # --- workers ------------------------------------------------------------

    def _listening(self, worker: _Worker) -> bool:
        return worker.task is not None and worker.leaving != "canceled" and not worker.at_eof

    def _overdue(self, worker: _Worker, now: float) -> bool:
        return now - worker.started > self.settings.executor.task_timeout

    def _answer(self, worker: _Worker, now: float) -> Outcome | None:
        """The outcome the worker sent, if it sent one."""
        if not self._listening(worker):
            return None
        task = worker.task
        assert task is not None
        try:
            if not worker.conn.poll():
                return None
            code, message, retiring = worker.conn.recv()
        except (EOFError, OSError):
            worker.at_eof = True
            return None
        worker.task = None
        self._spawn_failures = 0  # workers start and work
        if retiring:
            worker.leaving = "retiring"
        elif worker.leaving == "timeout":  # answered after all, just before the kill: it must go anyway
            worker.leaving = "retiring"
        return Outcome(task, int(code), str(message), now - worker.started)

    def _dead(self, worker: _Worker, *, status: int, now: float) -> list[Outcome]:
        """A worker's end: a task it still held failed transiently, unless it was canceled."""
        answer = self._answer(worker, now)  # one sent just before the end
        del self._workers[worker.pid]
        worker.conn.close()
        task = worker.task
        how = describe_exit(status)
        if task is None:
            if worker.leaving in (None, "lost"):
                log.warning("idle import worker %d (pid %d) ended: %s", worker.slot, worker.pid, how)
            # One that could not even start (a memory limit below its needs?) must not loop; one
            # lost with its zygote says nothing about that (the zygote's restart has its own pause).
            if not worker.served and status != LOST:
                self._spawn_failed(f"an import worker ended before its first task: {how}")
            return [answer] if answer is not None else []
        for staging in self._spool.root.joinpath("incoming").glob(f"{task.build_id}.*"):
            self._spool.discard(staging)  # its unfinished hand-over: nobody else stages this build now
        if worker.leaving == "canceled":
            return []
        seconds = now - worker.started
        if worker.leaving == "timeout":
            message = f"import_timeout_exceeded: killed after {self.settings.executor.task_timeout:.0f} s"
            ended = ENDED_TIMEOUT
        else:
            message, ended = f"the import worker died without an outcome: {how}", ENDED_CRASH
        log.warning("build %d: %s", task.build_id, message, extra=task_fields(task, phase="import"))
        return [Outcome(task, EXIT_TRANSIENT, message, seconds, ended)]

    def _top_up(self) -> None:
        """Start workers until N are alive and not leaving (a failure pauses this, doubling up to a minute)."""
        staying = sum(1 for w in self._workers.values() if w.leaving is None)
        for _ in range(self.settings.executor.workers - staying):
            try:
                self._spawn()
            except TransientError:
                return

    def _spawn(self, *, force: bool = False) -> _Worker:
        if not force and time.monotonic() < self._spawn_after:
            raise TransientError("starting import workers is paused after a failure")
        taken = {w.slot for w in self._workers.values() if w.leaving is None}
        slot = next(n for n in range(1, len(taken) + 2) if n not in taken)
        ours, theirs = multiprocessing.Pipe(duplex=True)
        try:
            pid = self._zygote.spawn("worker", title=f"copr-importer: worker {slot}", fds=[theirs.fileno()], slot=slot)
        except TransientError as exc:
            ours.close()
            self._spawn_failed(str(exc))
            raise
        finally:
            theirs.close()
        worker = self._workers[pid] = _Worker(slot, pid, ours)
        return worker

    def _spawn_failed(self, why: str) -> None:
        """Pause starting workers: 1 s, doubling up to a minute while they keep failing."""
        self._spawn_failures += 1
        pause = min(2.0 ** (self._spawn_failures - 1), 60.0)
        self._spawn_after = time.monotonic() + pause
        log.error("%s; starting import workers again in %.0f s", why, pause)
