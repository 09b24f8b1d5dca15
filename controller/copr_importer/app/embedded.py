"""The embedded default: controller, a pool of import workers and the git-writer on one machine.

The processes, as ``ps`` shows them::

    copr-importer: controller                this loop (the title is set by ``run``)
    └─ copr-importer: zygote                 forks the others from a clean process (app/zygote.py)
       ├─ copr-importer: worker 1 … N        pre-started, many tasks each (app/localexec.py, app/worker.py)
       └─ copr-importer: git-writer          (app/writerchild.py)

Each child dies with its parent (PDEATHSIG), so when the controller dies,
however it dies, nothing of it hands over, commits, or holds the writer lock or
the operations port afterwards.  The writer is started again when it ends, at
once if it had lived a minute, else after a pause that doubles while it keeps
ending quickly (1 s up to a minute).

SIGTERM and SIGINT stop the loop; the workers and the writer then get SIGTERM,
and SIGKILL after ``executor.stop_grace``.  Running steps are not reported: they
stay ``importing`` on the frontend and run again next time.  The writer is
given the controller's start time, so that it sweeps at once what import steps
left in the spool before it (``app/leftovers.py``): no worker of an earlier run
can be alive.

Telemetry has one endpoint here: the writer child sends running totals of its
commits and applied requests over a pipe (:class:`WriterCounts`), and the
controller folds their growth into its own metrics every tick.
"""

from __future__ import annotations

import logging
import os
import time

from ..adapters.opsserver import serve
from ..adapters.outbox import Outbox
from ..adapters.spool import Spool
from ..core.observer import Observer
from ..errors import TransientError
from ..settings import Settings
from .controller import Controller, TaskSource
from .localexec import LocalExecutor, describe_exit
from .stopping import stop_on_signals
from .telemetry import ControllerTelemetry
from .writerchild import RECORD
from .zygote import Zygote

__all__ = ["WriterCounts", "WriterProcess", "run_embedded"]

log = logging.getLogger(__name__)
_LONG_LIFE = 60.0  # a writer that ran this long before it ended is started again at once


class WriterCounts:
    """The writer child's counters, folded into ``target`` as they grow.

    Each writer process gets a pipe of its own (:meth:`open`) and starts from
    zero; the totals seen from earlier writers stay folded, so the metrics stay
    monotonic across restarts.
    """

    def __init__(self, target: Observer) -> None:
        self.target = target
        self._fd: int | None = None
        self._seen = (0, 0)
        self._partial = b""

    def open(self) -> int:
        """A pipe for a new writer: returns the write end, which the caller closes once it was passed on."""
        self.close()
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        self._fd, self._seen, self._partial = read_end, (0, 0), b""
        return write_end

    def fold(self) -> None:
        """Add what the current writer counted since the last fold."""
        data = self._partial + self._drain()
        whole = len(data) - len(data) % RECORD.size
        self._partial = data[whole:]
        if not whole:
            return
        commits, requests = RECORD.unpack_from(data, whole - RECORD.size)
        self.target.commits_applied(commits - self._seen[0])
        self.target.requests_applied(requests - self._seen[1])
        self._seen = (commits, requests)

    def close(self) -> None:
        if self._fd is not None:
            self.fold()
            os.close(self._fd)
            self._fd = None

    def _drain(self) -> bytes:
        chunks = []
        while self._fd is not None:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


class WriterProcess:
    """Keeps one git-writer child alive (see the module docstring for the restart pauses)."""

    def __init__(self, settings: Settings, *, zygote: Zygote, counts: WriterCounts, started: float) -> None:
        self.settings = settings
        self.zygote = zygote
        self.counts = counts
        self.controller_started = started  # epoch seconds: spool leftovers from before it are swept
        self.pid: int | None = None
        self._spawned_at = 0.0
        self._start_after = 0.0
        self._quick_ends = 0

    def ensure(self) -> None:
        """Start the writer if it is not running and its pause is over; call it every tick."""
        if self.pid is not None:
            status = self.zygote.exits.pop(self.pid, None)
            if status is None:
                return
            self._ended(status)
        now = time.monotonic()
        if now < self._start_after:
            return
        write_end = self.counts.open()
        try:
            self.pid = self.zygote.spawn(
                "writer",
                title="copr-importer: git-writer (starting)",
                fds=[write_end],
                leftovers_before=self.controller_started,
            )
        except TransientError as exc:
            self._pause(f"cannot start the git-writer: {exc}")
        else:
            self._spawned_at = now
        finally:
            os.close(write_end)

    def _ended(self, status: int) -> None:
        lived = time.monotonic() - self._spawned_at
        self._quick_ends = 0 if lived >= _LONG_LIFE else self._quick_ends + 1
        self._pause(f"the git-writer (pid {self.pid}) ended after {lived:.0f} s: {describe_exit(status)}")
        self.pid = None

    def _pause(self, why: str) -> None:
        pause = min(2.0 ** (self._quick_ends - 1), 60.0) if self._quick_ends else 0.0
        self._start_after = time.monotonic() + pause
        log.error("%s; starting it again in %.0f s", why, pause)


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
    started = time.time()  # before any worker of this run exists
    spool = Spool(settings.spool_root)
    zygote = Zygote(settings=settings)
    telemetry = ControllerTelemetry(settings=settings.telemetry, mode="embedded", spool=spool, forwards_writer=True)
    server = serve(listen, endpoints=telemetry, required=listen_required)
    counts = WriterCounts(telemetry)
    executor = LocalExecutor(settings=settings, zygote=zygote)
    controller = Controller(
        settings=settings,
        source=source,
        executor=executor,
        spool=spool,
        outbox=Outbox(settings.data_dir / "outbox"),
        observer=telemetry,
    )
    writer = WriterProcess(settings, zygote=zygote, counts=counts, started=started)
    try:
        with stop_on_signals() as should_stop:
            while not should_stop():
                writer.ensure()
                counts.fold()
                controller.tick()
                if until_idle and controller.idle():
                    break
                controller.wait()
    finally:
        controller.close()  # in-flight frontend calls end; reports being answered get a moment
        zygote.close(grace=settings.executor.stop_grace)
        counts.close()
        telemetry.stopped()
        if server is not None:
            server.close()
    return controller
