"""The embedded default: controller, local workers and the git-writer on one machine.

The writer runs in its own process, as the sidecar does in Kubernetes; if it
dies the controller starts it again (the spool makes that safe).  SIGTERM and
SIGINT stop the loop: running steps are terminated and stay ``importing`` on
the frontend, so they run again next time.

Telemetry has one endpoint here: the writer child counts its commits and
applied requests in shared memory (:class:`WriterCounts`, never blocking the
writer), and the controller folds them into its own metrics every tick.
"""

from __future__ import annotations

import logging
import multiprocessing
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized

from ..adapters.opsserver import serve
from ..adapters.outbox import Outbox
from ..adapters.spool import Spool
from ..core.observer import Observer
from ..settings import Settings
from .controller import Controller, TaskSource
from .gitwriter import writer_main
from .localexec import LocalExecutor
from .stopping import stop_on_signals
from .telemetry import ControllerTelemetry

__all__ = ["WriterCounts", "WriterProcess", "run_embedded"]

log = logging.getLogger(__name__)
_FORK = multiprocessing.get_context("fork")


class WriterCounts(Observer):
    """The writer's counters in shared memory: the child adds, the parent folds the growth in.

    They outlive a writer restart (the parent owns them), so the totals stay monotonic.
    """

    def __init__(self) -> None:
        self.commits: Synchronized[int] = _FORK.Value("Q", 0)
        self.requests: Synchronized[int] = _FORK.Value("Q", 0)
        self._folded = (0, 0)

    def commits_applied(self, count: int) -> None:  # in the child
        with self.commits.get_lock():
            self.commits.value += count

    def requests_applied(self, count: int) -> None:  # in the child
        with self.requests.get_lock():
            self.requests.value += count

    def fold_into(self, target: Observer) -> None:  # in the parent
        commits, requests = self.commits.value, self.requests.value
        target.commits_applied(commits - self._folded[0])
        target.requests_applied(requests - self._folded[1])
        self._folded = (commits, requests)


def _writer_child(settings: Settings, counts: WriterCounts | None) -> None:
    with stop_on_signals() as should_stop:
        writer_main(settings, should_stop=should_stop, observer=counts)


class WriterProcess:
    """Keeps one git-writer child process alive."""

    def __init__(self, settings: Settings, *, counts: WriterCounts | None = None) -> None:
        self.settings = settings
        self.counts = counts
        self._process: BaseProcess | None = None

    def ensure(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        if self._process is not None:
            log.error("git-writer exited with %s; restarting it", self._process.exitcode)
        self._process = _FORK.Process(
            target=_writer_child, args=(self.settings, self.counts), name="git-writer", daemon=True
        )
        self._process.start()

    def stop(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join(30)


def run_embedded(
    settings: Settings,
    *,
    source: TaskSource,
    until_idle: bool,
    listen: str | None = None,
    listen_required: bool = True,
) -> Controller:
    """Run the whole pipeline locally; return the controller for its summary.

    ``listen`` (HOST:PORT) starts the operations server; None or empty: none.
    """
    spool = Spool(settings.spool_root)
    telemetry = ControllerTelemetry(settings=settings.telemetry, mode="embedded", spool=spool, forwards_writer=True)
    server = serve(listen, endpoints=telemetry, required=listen_required)
    counts = WriterCounts()
    executor = LocalExecutor(settings=settings)
    controller = Controller(
        settings=settings,
        source=source,
        executor=executor,
        spool=spool,
        outbox=Outbox(settings.data_dir / "outbox"),
        observer=telemetry,
    )
    writer = WriterProcess(settings, counts=counts)
    try:
        with stop_on_signals() as should_stop:
            while not should_stop():
                writer.ensure()
                counts.fold_into(telemetry)
                controller.tick()
                if until_idle and controller.idle():
                    break
                executor.wait(0.02)
    finally:
        controller.close()
        executor.shutdown()
        writer.stop()
        telemetry.stopped()
        if server is not None:
            server.close()
    return controller
