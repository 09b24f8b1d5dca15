"""The local executor: each import step runs in its own forked worker process.

At most as many processes run as the controller starts (the controller applies
N); a process that outlives ``task_timeout`` is killed and counts as a
transient failure, like a Job past its ``activeDeadlineSeconds``.  A canceled
task's process is terminated.  The step's outcome travels back over a pipe;
a process that dies without sending one counts as transient.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

from ..core.task import ImportTask
from ..settings import Settings
from .importstep import EXIT_TRANSIENT, run_step

__all__ = ["LocalExecutor", "Outcome"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished step, as the controller sees it."""

    task: ImportTask
    exit_code: int
    message: str
    seconds: float


@dataclass(slots=True)
class _Run:
    task: ImportTask
    process: BaseProcess
    pipe: multiprocessing.connection.Connection
    started: float


def _child(task: ImportTask, settings: Settings, pipe: multiprocessing.connection.Connection) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    outcome = run_step(task, settings=settings)
    pipe.send((outcome.exit_code, outcome.message))
    pipe.close()
    os._exit(outcome.exit_code)  # skip the parent's atexit handlers inherited by fork


class LocalExecutor:
    """Runs import steps as child processes of the controller."""

    def __init__(self, *, settings: Settings) -> None:
        self.settings = settings
        self._context = multiprocessing.get_context("fork")
        self._runs: dict[int, _Run] = {}

    def start(self, task: ImportTask) -> None:
        parent_end, child_end = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_child, args=(task, self.settings, child_end), name=f"import-{task.build_id}", daemon=True
        )
        process.start()
        child_end.close()
        self._runs[task.build_id] = _Run(task, process, parent_end, time.monotonic())

    def running(self) -> list[ImportTask]:
        return [run.task for run in self._runs.values()]

    def poll(self) -> list[Outcome]:
        """Outcomes of the steps that ended since the last call."""
        outcomes = []
        now = time.monotonic()
        for build_id, run in list(self._runs.items()):
            # Liveness first: a process that had exited before the pipe is read has
            # sent whatever it was going to send, so "dead and nothing sent" is sure.
            alive = run.process.is_alive()
            if run.pipe.poll():  # the step sent its outcome and is exiting
                code, message = run.pipe.recv()
                run.process.join()
                outcomes.append(Outcome(run.task, int(code), str(message), now - run.started))
            elif not alive:
                run.process.join()
                message = f"worker died with exit code {run.process.exitcode}"
                outcomes.append(Outcome(run.task, EXIT_TRANSIENT, message, now - run.started))
            elif now - run.started > self.settings.executor.task_timeout:
                run.process.kill()
                run.process.join()
                message = f"import_timeout_exceeded: killed after {self.settings.executor.task_timeout:.0f} s"
                outcomes.append(Outcome(run.task, EXIT_TRANSIENT, message, now - run.started))
            else:
                continue
            run.pipe.close()
            del self._runs[build_id]
        return outcomes

    def wait(self, timeout: float) -> None:
        """Sleep until a step ends or ``timeout`` seconds pass."""
        pipes = [run.pipe for run in self._runs.values()]
        if pipes:
            multiprocessing.connection.wait(pipes, timeout)
        else:
            time.sleep(timeout)

    def cancel(self, build_id: int) -> None:
        run = self._runs.pop(build_id, None)
        if run is not None:
            run.process.terminate()
            run.process.join(10)
            run.pipe.close()

    def shutdown(self) -> None:
        for build_id in list(self._runs):
            self.cancel(build_id)
