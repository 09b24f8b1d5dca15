"""What subcommands share: ``--config``/``--data-dir`` and the logging options, loading settings
from them, and the ``--task-json``/``--task-file`` options and reading a task from them.

Without ``--config`` the settings file is ``$COPR_IMPORTER_CONFIG``, else
/etc/copr-importer/importer.toml when it exists, else none (see
:mod:`copr_importer.configuration.locate`)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from ..adapters.opsserver import parse_listen
from ..app.logformat import FORMATS
from ..configuration.locate import CONFIG_ENV, DEFAULT_CONFIG, config_path
from ..core.task import ImportTask, MalformedTask, parse_task
from ..errors import ConfigError
from ..settings import Settings, load_settings

__all__ = ["add_common", "add_config", "add_task_options", "controller_url", "settings_from", "task_from"]


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        help=f"settings file: .toml, or copr-dist-git's .conf (default: ${CONFIG_ENV}, else {DEFAULT_CONFIG} "
        "if it exists)",
    )


def add_common(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--data-dir", type=Path, help="root of git/, lookaside/, per-task-logs/, spool/")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        default="auto",
        help="stderr log lines: json (one object per line), text, or auto: text on a terminal, else json",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from ``--config``, with the command-line options that override fields applied on top."""
    overrides: dict[str, Any] = {"data_dir": getattr(args, "data_dir", None)}
    if getattr(args, "frontend", None):
        overrides["frontend.base_url"] = args.frontend
    if getattr(args, "password_file", None):
        overrides["frontend.password_file"] = args.password_file
    if getattr(args, "workers", None) is not None:
        overrides["executor.workers"] = args.workers
    overrides["sources.pypi_index_url"] = getattr(args, "index_url", None)
    overrides["sources.rubygems_url"] = getattr(args, "gem_source", None)
    return load_settings(config_path(getattr(args, "config", None), environ=os.environ), **overrides)


def controller_url(settings: Settings) -> str:
    """The URL of the controller's operations server, from ``telemetry.listen``: what
    ``status`` reads when not given ``--url``.  A wildcard address is reached on loopback."""
    listen = settings.telemetry.listen
    if not listen:
        raise ConfigError("telemetry.listen is empty: the controller serves no /status (give --url)")
    host, port = parse_listen(listen)
    if port == 0:
        raise ConfigError(f"telemetry.listen = {listen!r}: the port is chosen at start and logged (give --url)")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def add_task_options(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--task-json", help="the task record as JSON")
    group.add_argument("--task-file", type=Path, help="a file holding the task record")


def task_from(args: argparse.Namespace) -> ImportTask:
    """The task given by ``--task-json`` or ``--task-file``; :class:`MalformedTask` if it is unreadable or invalid."""
    try:
        raw = args.task_json if args.task_json is not None else args.task_file.read_text()
        return parse_task(json.loads(raw))
    except OSError as exc:
        raise MalformedTask(f"cannot read the task file: {exc}", build_id=None) from exc
    except ValueError as exc:
        raise MalformedTask(f"not JSON: {exc}", build_id=None) from exc
