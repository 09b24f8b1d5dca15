"""Which settings file a command reads when ``--config`` names none.

So that a systemd unit or a container needs no arguments:

1. ``--config FILE``;
2. else the environment variable ``COPR_IMPORTER_CONFIG``: a file, or empty for
   "no file" (the built-in defaults, e.g. for a one-off run on a host that has a
   configuration);
3. else :data:`DEFAULT_CONFIG` when it exists;
4. else no file: the built-in local defaults (``./importer-data``).

A file named by 1 or 2 must exist; only the default location may be absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

__all__ = ["CONFIG_ENV", "DEFAULT_CONFIG", "config_path"]

CONFIG_ENV = "COPR_IMPORTER_CONFIG"
DEFAULT_CONFIG = Path("/etc/copr-importer/importer.toml")


def config_path(given: Path | None, *, environ: Mapping[str, str], default: Path = DEFAULT_CONFIG) -> Path | None:
    """The settings file to read, or None for the built-in defaults."""
    if given is not None:
        return given
    if CONFIG_ENV in environ:
        named = environ[CONFIG_ENV]
        return Path(named) if named else None
    return default if default.exists() else None
