"""The deployment units' subcommands: ``import-step`` (a Job) and ``git-writer`` (the sidecar).

``import-step`` loads only what one import needs (no GitPython, no Kubernetes
client): it is what every import Job's container starts, and it runs as PID 1
there.  A PID 1 without a handler ignores SIGTERM, so the kubelet would wait the
whole grace period and then SIGKILL it; the step instead stops at once on SIGTERM,
discarding its unfinished staging directory (a hand-over is an atomic rename: it
either happened or not), and exits 143.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from ..adapters.spool import Spool
from ..app.importstep import EXIT_BAD_INPUT, run_step
from ..core.task import MalformedTask
from .common import add_common, add_task_options, settings_from, task_from

__all__ = ["EXIT_TERMINATED", "register"]

EXIT_TERMINATED = 128 + signal.SIGTERM


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    step = sub.add_parser("import-step", help="run one import step (what a Job runs)")
    add_common(step)
    add_task_options(step)
    step.add_argument(
        "--termination-log", type=Path, help="write the outcome here too (Kubernetes: /dev/termination-log)"
    )
    step.set_defaults(func=_cmd_import_step)
    writer = sub.add_parser("git-writer", help="run the git-writer loop (the sidecar)")
    add_common(writer)
    writer.add_argument(
        "--listen", metavar="HOST:PORT", help="serve /metrics, /livez, /readyz here (default: telemetry.writer_listen)"
    )
    writer.set_defaults(func=_cmd_git_writer)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SystemExit passes the step's "except Exception" and runs every cleanup on its way out.
    raise SystemExit(EXIT_TERMINATED)


def _cmd_import_step(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    settings = settings_from(args)
    try:
        task = task_from(args)
    except MalformedTask as exc:
        print(f"copr-importer: invalid task: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    outcome = run_step(task, settings=settings, spool=Spool(settings.spool_root))
    print(outcome.message, file=sys.stderr)
    if args.termination_log is not None:
        # The kubelet keeps at most 4096 bytes; the controller reads it from the pod.
        args.termination_log.write_text(outcome.message[:4000])
    return outcome.exit_code


def _cmd_git_writer(args: argparse.Namespace) -> int:
    from ..adapters.opsserver import serve
    from ..app.gitwriter import writer_main
    from ..app.stopping import stop_on_signals
    from ..app.telemetry import WriterTelemetry

    settings = settings_from(args)
    # Import Jobs mount these as subPaths of the data volume; a missing one would be
    # created by the kubelet, owned by root, and unwritable for the step.
    for folder in (settings.lookaside_root, settings.log_root):
        folder.mkdir(parents=True, exist_ok=True)
    telemetry = WriterTelemetry(settings=settings.telemetry)
    listen = settings.telemetry.writer_listen if args.listen is None else args.listen
    server = serve(listen, endpoints=telemetry, required=args.listen is not None)
    try:
        with stop_on_signals() as should_stop:
            writer_main(settings, should_stop=should_stop, observer=telemetry)
    finally:
        if server is not None:
            server.close()
    return 0
