"""A pooled import worker: takes tasks over its pipe, runs each import step, answers with the outcome.

It runs in a process forked by the zygote (``app/zygote.py``) and talks to the
controller's :class:`~copr_importer.app.localexec.LocalExecutor` over one duplex
pipe of pickled messages::

    controller → worker   an ImportTask
    worker → controller   (exit code, message, retiring)

The worker leaves (exit 0) when the pipe closes, after ``tasks_per_worker``
tasks, or after a step that did not end cleanly (a transient failure may leave
anything behind: memory, open files, a stuck thread); it says so in its last
answer (``retiring``), so that it is given no further task.  Killing it at any
moment is safe: its task is a transient failure, and its unfinished hand-over
directory is swept by the executor.  SIGTERM ends it at once.

It imports the source providers, which the import step loads only when a task
needs one (an import Job runs one task): the zygote imports this module, so every
worker it forks shares one copy of them (and of Jinja2 and PyYAML) instead of
importing its own at its first PyPI or RubyGems task.
"""

from __future__ import annotations

from multiprocessing.connection import Connection

from ..adapters import lifeline, phasetrace
from ..adapters.providers import pypi, rubygems, scm  # noqa: F401  (loaded once, in the zygote: see below)
from ..adapters.spool import Spool
from ..core.task import ImportTask
from ..settings import Settings
from .importstep import EXIT_TRANSIENT, run_step

__all__ = ["serve"]


def serve(settings: Settings, fds: list[int], *, slot: int) -> int:
    """The worker's life: ``fds`` is its end of the pipe; ``slot`` names it in ``ps``."""
    lifeline.limit_address_space(settings.executor.worker_memory_limit)
    conn = Connection(fds[0])
    spool = Spool(settings.spool_root)
    for served in range(1, settings.executor.tasks_per_worker + 1):
        lifeline.set_title(f"copr-importer: worker {slot} idle")
        try:
            task: ImportTask = conn.recv()
        except EOFError:
            return 0
        lifeline.set_title(f"copr-importer: worker {slot} build {task.build_id}")
        phasetrace.mark(task.build_id, "step_started")
        try:
            outcome = run_step(task, settings=settings, spool=spool)
            code, message = outcome.exit_code, outcome.message
        except Exception as exc:  # the step's own handler failed (out of memory while logging, say)
            code, message = EXIT_TRANSIENT, f"the import worker failed: {type(exc).__name__}: {exc}"
        limit = settings.executor.worker_memory_limit
        if code == EXIT_TRANSIENT and limit and ("out of memory" in message or "MemoryError" in message):
            message = f"{message} (executor.worker_memory_limit is {limit // 1024**2} MiB)"
        retiring = code == EXIT_TRANSIENT or served == settings.executor.tasks_per_worker
        phasetrace.mark(task.build_id, "step_done")
        conn.send((code, message, retiring))
        if retiring:
            break
    return 0
