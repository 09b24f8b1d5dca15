"""``copr-importer config``: the settings in force, as TOML, or one of them.

What a command would run with: the file from ``--config`` (or the default one),
copr-dist-git's defaults when that file is copr's, and ``--data-dir``.  Like
copr's ``copr-dist-git-config KEY``, ``copr-importer config KEY`` prints one
value (``executor.workers``, ``git_dir``).  The frontend password is never
printed.  Exit status 2 when the settings are invalid or the key is unknown.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from pathlib import PurePath
from typing import Any

from ..errors import ConfigError
from ..settings import SCHEMA, Settings
from .common import add_common, settings_from

__all__ = ["register"]

_SECRET = {"frontend.password"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = sub.add_parser("config", help="print the settings in force (all as TOML, or one KEY)")
    add_common(config)
    config.add_argument("key", nargs="?", help="one setting, e.g. executor.workers or git_dir")
    config.set_defaults(func=_cmd_config)


def _cmd_config(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.key is None:
        print("\n".join(_toml(settings)))
        return 0
    values = dict(_flat(settings))
    if args.key not in values:
        hint = SCHEMA.suggest(args.key)
        raise ConfigError(f"unknown setting {args.key}" + (f" (did you mean {hint}?)" if hint else ""))
    value = values[args.key]
    print("" if value is None else _shown(args.key, value, bare=True))
    return 0


def _flat(instance: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for item in fields(instance):
        value = getattr(instance, item.name)
        if is_dataclass(value):
            yield from _flat(value, f"{prefix}{item.name}.")
        else:
            yield f"{prefix}{item.name}", value


def _shown(dotted: str, value: Any, *, bare: bool = False) -> str:
    if dotted in _SECRET and value is not None:
        return "(hidden)" if bare else '"(hidden)"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | PurePath):
        return str(value) if bare else json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str)
    return repr(value)


def _toml(settings: Settings) -> Iterator[str]:
    yield "# The settings in force; derived locations:"
    for label, path in (
        ("git root", settings.git_root),
        ("lookaside", settings.lookaside_root),
        ("per-task logs", settings.log_root),
        ("cgit list", settings.cgit_list_path),
        ("spool", settings.spool_root),
    ):
        yield f"#   {label:<14} {path}"
    section = ""
    for dotted, value in _flat(settings):
        head, _, name = dotted.rpartition(".")
        if head != section:
            section = head
            yield f"\n[{section}]"
        yield f"# {name} is not set" if value is None else f"{name} = {_shown(dotted, value)}"
