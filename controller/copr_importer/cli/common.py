"""What subcommands share: ``--config``/``--data-dir`` and the logging options, loading settings
from them, and the ``--task-json``/``--task-file`` options and reading a task from them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..app.logformat import FORMATS
from ..core.task import ImportTask, MalformedTask, parse_task
from ..settings import Settings, load_settings

__all__ = ["add_common", "add_task_options", "settings_from", "task_from"]


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="settings file: .toml, or copr-dist-git's .conf")
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
    return load_settings(getattr(args, "config", None), **overrides)


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
