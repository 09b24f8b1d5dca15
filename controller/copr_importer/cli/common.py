"""What every subcommand shares: ``--config``/``--data-dir``, logging options, loading settings from them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..app.logformat import FORMATS
from ..settings import Settings, load_settings

__all__ = ["add_common", "settings_from"]


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
    return load_settings(getattr(args, "config", None), **overrides)
