"""The package index pip on this machine is configured with, read as pip reads it.

pip merges its configuration files in this order, each overriding the one before:
global (``$XDG_CONFIG_DIRS/pip/pip.conf``, ``/etc/pip.conf``), user
(``~/.pip/pip.conf``, ``$XDG_CONFIG_HOME/pip/pip.conf``; skipped when
``PIP_CONFIG_FILE`` names an existing file), site (``<sys.prefix>/pip.conf``),
the file named by ``PIP_CONFIG_FILE`` (``os.devnull`` there: no files at all),
then ``PIP_*`` environment variables.  Across those, the section decides first:
``[global]`` is overridden by the command's section (``[download]``, the command
that fetches sdists) and both by the environment.  With nothing configured, the
index is pip's own default, asked of the installed pip, so no host is written here.
"""

from __future__ import annotations

import configparser
import importlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from ...errors import ConfigError

__all__ = ["configured_index_url", "pip_config_files"]

_SECTIONS = ("global", "download")


def pip_config_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """pip's configuration files in the order they are merged (later wins)."""
    env = os.environ if environ is None else environ
    explicit = env.get("PIP_CONFIG_FILE")
    if explicit == os.devnull:
        return []
    home = Path(env.get("HOME") or "/nonexistent")  # no HOME (a container's uid): no user files
    xdg_dirs = [d for d in (env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep) if d]
    files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs] + [Path("/etc/pip.conf")]
    if not (explicit and Path(explicit).exists()):
        config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        files += [home / ".pip" / "pip.conf", config_home / "pip" / "pip.conf"]
    files.append(Path(sys.prefix) / "pip.conf")
    if explicit:
        files.append(Path(explicit))
    return files


def configured_index_url(environ: Mapping[str, str] | None = None) -> str:
    """``index-url`` as ``pip download`` would use it."""
    env = os.environ if environ is None else environ
    if env.get("PIP_INDEX_URL"):
        return env["PIP_INDEX_URL"].strip()
    found: dict[str, str] = {}
    for path in pip_config_files(env):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read pip's configuration {path}: {exc}") from exc
        for section in _SECTIONS:
            for key in ("index-url", "index_url"):
                if parser.has_option(section, key):
                    found[section] = parser.get(section, key).strip()
    for section in reversed(_SECTIONS):
        if found.get(section):
            return found[section]
    return _pip_default()


def _pip_default() -> str:
    try:
        index = importlib.import_module("pip._internal.models.index")
    except ImportError:
        raise ConfigError("no package index: set sources.pypi_index_url or configure pip's index-url") from None
    return str(index.PyPI.simple_url)
