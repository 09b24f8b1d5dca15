"""``copr-importer logs <build_id>``: print a per-task log, from the data directory or a URL base.

``--url http://host/per-task-logs/`` reads it where the web server publishes it (in
Kubernetes the logs live on the shared volume); otherwise ``settings.log_root``.
``--follow`` keeps printing what is appended until interrupted.  Exit codes: 0
printed, 1 no such log (the path or URL tried is named), 2 a usage or read
error, 75 the server is unreachable (try again later).
"""

from __future__ import annotations

import argparse
import sys
import time

from ..adapters.tasklogreader import DirectoryLogs, HttpLogs, LogNotFound, TaskLogReader
from ..app.importstep import EXIT_TRANSIENT
from ..errors import TransientError
from .common import add_common, settings_from

__all__ = ["register"]

EXIT_NO_LOG = 1


def build_id(text: str) -> int:
    """argparse type: a positive decimal integer (a build id names a file, so nothing else is let through)."""
    if not (text.isascii() and text.isdigit()) or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"not a build id (a positive integer): {text!r}")
    return int(text)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = sub.add_parser("logs", help="print the per-task log of a build")
    add_common(logs)
    logs.add_argument("build_id", type=build_id)
    logs.add_argument("--url", help="base URL the logs are served under, e.g. http://host/per-task-logs/")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing what is appended (^C stops)")
    logs.add_argument("--interval", type=float, default=1.0, help="seconds between reads with --follow (default 1)")
    logs.set_defaults(func=_cmd_logs)


def _cmd_logs(args: argparse.Namespace) -> int:
    reader: TaskLogReader = HttpLogs(args.url) if args.url else DirectoryLogs(settings_from(args).log_root)
    try:
        offset = _print(reader.read(args.build_id))
        while args.follow:
            time.sleep(args.interval)
            offset += _print(reader.read(args.build_id, offset=offset))
    except LogNotFound as exc:
        print(f"copr-importer: {exc}", file=sys.stderr)
        return EXIT_NO_LOG
    except TransientError as exc:
        print(f"copr-importer: {exc}", file=sys.stderr)
        return EXIT_TRANSIENT
    return 0


def _print(data: bytes) -> int:
    # Bytes as they are: a log may hold a package's non-UTF-8 output.
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return len(data)
