"""``copr-importer status``: queue depth, active/N, throughput, ETA, recent failures, and
what is wrong (open problems with their reasons, unsent reports, frontend errors by kind).

It reads a running controller's ``/status`` (``--url``, else the address in the
settings' ``telemetry.listen``, from ``--config`` or the default file; in Kubernetes through
``kubectl port-forward`` or ``kubectl exec``).  On a terminal it redraws in
place every ``--interval`` seconds until Ctrl-C, with plain ANSI cursor
movement (no extra dependency for one screen of text); otherwise, or with
``--once``, it prints once, as text or as the JSON document (``--json``).
Exit status: 0, or 1 when the controller cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TextIO

from ..adapters.statusclient import fetch_status
from ..core.progress import render_status
from ..errors import TransientError
from ..settings import TelemetrySettings
from .common import add_config, controller_url, settings_from

__all__ = ["register"]

DEFAULT_URL = "http://" + TelemetrySettings().listen
_UP_AND_CLEAR = "\x1b[{}F\x1b[J"  # cursor up N lines to column 0, clear to the end of the screen


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser("status", help="show a running controller's progress")
    status.add_argument(
        "--url", help=f"the controller's address (default: telemetry.listen from the settings, else {DEFAULT_URL})"
    )
    add_config(status)
    status.add_argument("--once", action="store_true", help="print once and exit, even on a terminal")
    status.add_argument("--json", action="store_true", help="print the status document as JSON (implies --once)")
    status.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes (default: 2)")
    status.add_argument("--failures", type=int, default=10, help="how many recent failures to show (default: 10)")
    status.set_defaults(func=_cmd_status)


def _cmd_status(args: argparse.Namespace) -> int:
    if args.url is None:
        args.url = controller_url(settings_from(args))
    out = sys.stdout
    if args.json or args.once or not out.isatty():
        return _print_once(args, out)
    return _live(args, out)


def _print_once(args: argparse.Namespace, out: TextIO) -> int:
    try:
        doc = fetch_status(args.url)
    except TransientError as exc:
        print(f"copr-importer: {exc}", file=sys.stderr)
        return 1
    if args.json:
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        out.write("\n".join(render_status(doc, failures=args.failures)) + "\n")
    return 0


def _live(args: argparse.Namespace, out: TextIO) -> int:
    shown = 0
    try:
        while True:
            try:
                lines = render_status(fetch_status(args.url), failures=args.failures)
            except TransientError as exc:
                lines = [f"{exc} (retrying every {args.interval:g} s)"]
            stamp = time.strftime("%H:%M:%S")
            lines = [*lines, f"updated {stamp}; Ctrl-C to quit"]
            out.write((_UP_AND_CLEAR.format(shown) if shown else "") + "\n".join(lines) + "\n")
            out.flush()
            shown = len(lines)
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
