"""The ``copr-importer`` command line.

Each subcommand lives in its own module with a ``register(sub)`` function that adds
its parser and sets ``func``. The deployment units:

* ``run``          the controller; embedded by default (local workers + git-writer);
* ``import-step``  one import, as a Kubernetes Job runs it;
* ``git-writer``   the writer loop, as the sidecar runs it;

and ``status``, the progress of a running controller.

And for operators:

* ``render``       the Job a task would become, optionally dry-run on a cluster;
* ``logs``         a build's per-task log, from the data directory or a URL;
* ``set-limit``    change N in the controller's ConfigMap;
* ``expire-logs``, ``gc-lookaside``, ``prune-projects``  the storage lifecycle;
* ``maintain-repos`` pack and prune the git repositories;
* ``cgit-list``    list in cgit the repositories that existed before the list;
* ``config``       the settings in force (all, or one key), as a command would read them.

``--version`` prints the version.  Without ``--config``, a command reads
``$COPR_IMPORTER_CONFIG``, else /etc/copr-importer/importer.toml if it exists.

Exit codes: 0 success, 1 some imports failed (``run``), no such log (``logs``) or refused by
the server's dry run (``render``), 2 a usage or settings error, or a data directory that
another controller holds or that belongs to another kind of run (``run``),
65 bad input (``import-step``, ``render``), 75 try again later (also: a git-writer holds the
spool, for ``git-writer`` and ``cgit-list``), 130 interrupted.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import os
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn, TextIO

from .. import __version__
from ..app.logformat import configure_logging
from ..errors import ImporterError

__all__ = ["console", "main"]

# The module that registers each subcommand, in the order --help lists them.  Only
# the named command's module is imported: an import Job's step neither pays for nor
# needs the Kubernetes client or GitPython.
COMMAND_MODULES = {
    "run": "run",
    "import-step": "units",
    "git-writer": "units",
    "status": "status",
    "render": "render",
    "logs": "logs",
    "set-limit": "setlimit",
    "expire-logs": "lifecycle",
    "gc-lookaside": "lifecycle",
    "prune-projects": "lifecycle",
    "maintain-repos": "maintain",
    "cgit-list": "cgit",
    "config": "config",
}


# Commands whose process has nothing left to do once the command returns: an import
# Job's container.  The console script ends them without the interpreter's teardown
# of its modules (about 0.035 of the 0.27 CPU seconds an SRPM task's step took; see
# console() and bench/stepstart.py).
ONE_SHOT = frozenset({"import-step"})


def _parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="copr-importer", description="Copr-compatible dist-git importer")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    wanted = COMMAND_MODULES.get(argv[0]) if argv else None
    for name in [wanted] if wanted else dict.fromkeys(COMMAND_MODULES.values()):
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def _writer_busy(exc: ImporterError) -> bool:
    """``exc`` is the git-writer's "another writer holds the spool" (its module is loaded
    only by the commands that run a writer, and importing it needs git)."""
    writer = sys.modules.get("copr_importer.app.gitwriter")
    return writer is not None and isinstance(exc, writer.WriterBusy)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser(argv).parse_args(argv)
    configure_logging(fmt=getattr(args, "log_format", "auto"), verbose=getattr(args, "verbose", False))
    try:
        result: int = args.func(args)
        return result
    except ImporterError as exc:
        print(f"copr-importer: {exc}", file=sys.stderr)
        return 75 if _writer_busy(exc) else 2
    except KeyboardInterrupt:
        return 130


def console() -> NoReturn:
    """The ``copr-importer`` console script: :func:`main`, then the process's exit.

    After a one-shot command, with no other thread left, the exit runs what the
    interpreter's own would that can matter to anyone (the ``atexit`` handlers, which
    flush and close the log handlers; a collection, which finalizes unreachable
    objects such as unclosed files; the standard streams' buffers) and skips the
    rest, tearing down every module one object at a time, which only frees memory
    the kernel takes back anyway.  Every other command (the loops, in particular,
    with their threads) exits the ordinary way.
    """
    code = main()
    if len(sys.argv) > 1 and sys.argv[1] in ONE_SHOT and threading.active_count() == 1:
        atexit._run_exitfuncs()
        gc.collect()
        if not _flushed(sys.stdout) and code == 0:
            code = 120  # the interpreter's exit status when it cannot flush stdout; a failure keeps its own
        _flushed(sys.stderr)
        os._exit(code)
    sys.exit(code)


def _flushed(stream: TextIO | None) -> bool:
    """Flush ``stream`` unless it is absent or closed (as the interpreter's exit does)."""
    try:
        if stream is not None and not stream.closed:
            stream.flush()
    except OSError:
        return False
    return True


if __name__ == "__main__":
    console()
