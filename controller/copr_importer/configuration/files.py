"""Reading a settings file into a mapping shaped like our TOML file.

* ``.toml``: our format.  Two top-level keys are not settings but say where else to
  read them: ``copr_dist_git_conf`` (copr-dist-git.conf, read first, with its
  defaults) and ``dist_git_conf`` (dist-git.conf, for the git root); every other
  value of the TOML file then lies over copr's;
* any other name: copr-dist-git's INI file (:mod:`.coprconf`).

Returns the mapping and, for values that came from copr's files, where they came from
(to name the copr key in an error).  copr's notes are logged at info level, its
warnings (unknown keys) at warning level.  Values are checked by the caller.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .checks import Origin
from .coprconf import CoprConfig, read_copr

__all__ = ["merged", "read_settings_file"]

log = logging.getLogger("copr_importer.settings")


def merged(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``top``'s values over it, section by section."""
    result = {k: dict(v) if isinstance(v, Mapping) else v for k, v in base.items()}
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), dict):
            result[key].update(value)
        else:
            result[key] = value
    return result


def _dotted(data: Mapping[str, Any]) -> set[str]:
    sections = {f"{k}.{n}" for k, v in data.items() if isinstance(v, Mapping) for n in v}
    return sections | {k for k, v in data.items() if not isinstance(v, Mapping)}


def _reported(copr: CoprConfig) -> CoprConfig:
    for note in copr.notes:
        log.info("%s", note)
    for warning in copr.warnings:
        log.warning("%s", warning)
    return copr


def _read_toml(path: Path, *, copr_key: str, dist_git_key: str) -> tuple[dict[str, Any], dict[str, Origin]]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    copr_conf, dist_git_conf = data.pop(copr_key, None), data.pop(dist_git_key, None)
    for key, value in ((copr_key, copr_conf), (dist_git_key, dist_git_conf)):
        if value is not None and not (isinstance(value, str) and value):
            raise ConfigError(f"{path}: {key} = {value!r}: expected a path (a non-empty string)")
    if copr_conf is None:
        if dist_git_conf is not None:
            raise ConfigError(f"{path}: {dist_git_key} is read only with {copr_key}")
        return data, {}
    copr = _reported(read_copr(Path(copr_conf), dist_git_conf=Path(dist_git_conf) if dist_git_conf else None))
    ours = _dotted(data)
    return merged(copr.data, data), {k: v for k, v in copr.origins.items() if k not in ours}


def read_settings_file(path: Path, *, copr_key: str, dist_git_key: str) -> tuple[dict[str, Any], dict[str, Origin]]:
    """The mapping in ``path`` and where its values came from; ``copr_key``/``dist_git_key``
    are the TOML keys that name copr's files."""
    try:
        if path.suffix == ".toml":
            return _read_toml(path, copr_key=copr_key, dist_git_key=dist_git_key)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read settings {path}: {exc}") from exc
    copr = _reported(read_copr(path))
    return copr.data, copr.origins
