"""The embedded default: controller, local workers and the git-writer on one machine.

The writer runs in its own process, as the sidecar does in Kubernetes; if it
dies the controller starts it again (the spool makes that safe).  SIGTERM and
SIGINT stop the loop: running steps are terminated and stay ``importing`` on
the frontend, so they run again next time.
"""

from __future__ import annotations

import logging
import multiprocessing
from multiprocessing.process import BaseProcess

from ..adapters.outbox import Outbox
from ..adapters.spool import Spool
from ..settings import Settings
from .controller import Controller, TaskSource
from .gitwriter import writer_main
from .localexec import LocalExecutor
from .stopping import stop_on_signals

__all__ = ["WriterProcess", "run_embedded"]

log = logging.getLogger(__name__)


def _writer_child(settings: Settings) -> None:
    with stop_on_signals() as should_stop:
        writer_main(settings, should_stop=should_stop)


class WriterProcess:
    """Keeps one git-writer child process alive."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._process: BaseProcess | None = None

    def ensure(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        if self._process is not None:
            log.error("git-writer exited with %s; restarting it", self._process.exitcode)
        self._process = multiprocessing.get_context("fork").Process(
            target=_writer_child, args=(self.settings,), name="git-writer", daemon=True
        )
        self._process.start()

    def stop(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join(30)


def run_embedded(settings: Settings, *, source: TaskSource, until_idle: bool) -> Controller:
    """Run the whole pipeline locally; return the controller for its summary."""
    spool = Spool(settings.spool_root)
    executor = LocalExecutor(settings=settings)
    controller = Controller(
        settings=settings, source=source, executor=executor, spool=spool, outbox=Outbox(settings.data_dir / "outbox")
    )
    writer = WriterProcess(settings)
    try:
        with stop_on_signals() as should_stop:
            while not should_stop():
                writer.ensure()
                controller.tick()
                if until_idle and controller.idle():
                    break
                executor.wait(0.02)
    finally:
        executor.shutdown()
        writer.stop()
    return controller
