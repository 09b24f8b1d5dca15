"""Per-import phase timestamps for benchmarks: where an import's wall time goes.

When ``COPR_IMPORTER_TRACE=<file>`` is set, :func:`mark` appends one line per call to
that file::

    <CLOCK_MONOTONIC seconds> <build id> <phase>

from whichever process makes the call (the controller, a worker, the git-writer),
so one file tells an import's story across processes: the monotonic clock is the
machine's, comparable between processes and with a benchmark's own
``time.monotonic()``.  Each line is one ``write(2)`` with ``O_APPEND``, shorter than
``PIPE_BUF``, so lines of different processes never mix.  ``bench/coprfrontend.py``
reads it; the phases are listed in :data:`PHASES`, in the order an import passes
them.

Unset, :func:`mark` costs one comparison.  A failed write is ignored: a trace
never changes what the importer does.
"""

from __future__ import annotations

import os
import time

__all__ = ["PHASES", "mark"]

_ENV = "COPR_IMPORTER_TRACE"
PHASES = (
    "polled",  # the controller first saw the build in the frontend's queue (it filed its ticket)
    "confirming",  # the controller asked the frontend to confirm it (get-import-task)
    "confirmed",  # the controller took the frontend's answer
    "dispatched",  # the controller handed it to the executor
    "step_started",  # a worker (or a Job's import step) began the import step
    "handed_over",  # the step published its request in the spool
    "step_done",  # the step ended (the worker answers the controller)
    "step_seen",  # the controller saw the step's end
    "committed",  # the git-writer published its result (commits and result durable)
    "collected",  # the controller turned the result into a report in the outbox
    "reported",  # the frontend answered the report 2xx
)
_path = os.environ.get(_ENV) or None
_fd: int | None = None
_pid = 0


def mark(build_id: int, phase: str) -> None:
    """Note that ``build_id`` reached ``phase`` now (if tracing is on)."""
    if _path is None:
        return
    global _fd, _pid
    try:
        if _fd is None or _pid != os.getpid():  # a forked child opens its own
            _fd = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            _pid = os.getpid()
        os.write(_fd, f"{time.monotonic():.6f} {build_id} {phase}\n".encode())
    except OSError:
        pass
