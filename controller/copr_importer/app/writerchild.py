"""The embedded git-writer's process: take the writer lock, then apply requests until SIGTERM.

The zygote forks it; the controller's ``WriterProcess`` (``app/embedded.py``)
restarts it with backoff when it dies.  Two things differ from the
``git-writer`` sidecar:

* the lock: when another git-writer holds ``spool/writer.lock`` (one started by
  hand, or an orphan of an old version that did not die with its controller),
  this one waits: it says so once, naming the holder's pid, and tries again
  with backoff up to 10 s.  Exiting instead made the controller restart it in a
  loop (thousands of tracebacks a minute);
* its counters reach the controller as running totals over a pipe
  (:class:`CountsSender`), which never blocks the writer: a record that does not
  fit is dropped, because the next one carries the totals too.

SIGINT is ignored (a terminal's ^C reaches the whole process group; the
controller decides); SIGTERM ends the current pass and the process.
"""

from __future__ import annotations

import logging
import os
import signal
import struct
import time
from collections.abc import Callable
from pathlib import Path

from ..adapters import lifeline
from ..adapters.lockfile import flock_holder
from ..core.observer import Observer
from ..settings import Settings
from .gitwriter import GitWriter, WriterBusy
from .stopping import stop_on_signals

__all__ = ["RECORD", "CountsSender", "serve"]

log = logging.getLogger(__name__)

RECORD = struct.Struct("=QQ")
"""(commits, requests applied) so far: 16 bytes, below PIPE_BUF, so each write is whole."""
_LOCK_RETRY_MAX = 10.0


class CountsSender(Observer):
    """In the writer: running totals of commits and applied requests, written to a pipe without waiting."""

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._fd = fd
        self._commits = self._requests = 0

    def commits_applied(self, count: int) -> None:
        self._commits += count
        self._send()

    def requests_applied(self, count: int) -> None:
        self._requests += count
        self._send()

    def _send(self) -> None:
        try:
            os.write(self._fd, RECORD.pack(self._commits, self._requests))
        except (BlockingIOError, BrokenPipeError):
            pass  # the next record carries these totals too


def serve(settings: Settings, fds: list[int], *, leftovers_before: float) -> int:
    """The writer process's life; ``fds`` holds the write end of the counts pipe.

    ``leftovers_before``: the controller's start (epoch seconds).  Its workers die with
    it, so whatever an import step left in the spool before then is swept at once."""
    counts = CountsSender(fds[0])
    with stop_on_signals((signal.SIGTERM,)) as should_stop:
        writer = GitWriter(settings=settings, observer=counts, leftovers_before=leftovers_before)
        try:
            if _take_lock(writer.acquire, lock=writer.spool.root / "writer.lock", should_stop=should_stop):
                lifeline.set_title("copr-importer: git-writer")
                writer.sweep()
                writer.run(should_stop=should_stop)
        finally:
            writer.close()
    return 0


def _take_lock(acquire: Callable[[], None], *, lock: Path, should_stop: Callable[[], bool]) -> bool:
    """``acquire()`` until it works (True) or a stop is asked for (False), saying once that it waits."""
    waited_since: float | None = None
    delay = 0.5
    while not should_stop():
        try:
            acquire()
        except WriterBusy:
            if waited_since is None:
                waited_since = time.monotonic()
                holder = flock_holder(lock)
                log.warning(
                    "another git-writer holds %s (pid %s); waiting for it, trying again every %.0f s at most",
                    lock,
                    holder if holder is not None else "unknown",
                    _LOCK_RETRY_MAX,
                )
                lifeline.set_title(f"copr-importer: git-writer (waiting for the lock held by pid {holder})")
            _sleep(delay, should_stop=should_stop)
            delay = min(delay * 2, _LOCK_RETRY_MAX)
            continue
        if waited_since is not None:
            log.warning("took the git-writer lock after waiting %.0f s", time.monotonic() - waited_since)
        return True
    return False


def _sleep(seconds: float, *, should_stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while not should_stop() and time.monotonic() < deadline:
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
