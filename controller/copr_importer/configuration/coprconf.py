"""copr-dist-git's own configuration, read as settings.

A host that runs copr-dist-git has ``/etc/copr/copr-dist-git.conf`` (its ``[dist-git]``
section, read by copr's ``ConfigReader``) and dist-git's ``/etc/dist-git/dist-git.conf``
(read by copr's helper scripts for the git root).  :func:`read_copr` turns both into
a mapping shaped like our TOML file.  Contract:

* every key copr-dist-git reads is either mapped onto a setting (:data:`COPR_KEYS`)
  or known to mean nothing here (:data:`IGNORED`, reported in one note); any other
  key, e.g. a misspelled one, is a warning naming it and the closest known key;
* what the file does not set takes copr-dist-git's defaults (:data:`COPR_DEFAULTS`):
  the git root and lookaside under /var/lib/dist-git, per-task logs under
  /var/lib/copr-dist-git, cgit's list, its subdirectory list and its lock under
  /var/cache/cgit, 10 workers, copr's frontend URL and password placeholders.
  Two exceptions, on purpose: ``sleep_time`` is not defaulted to copr's 15 s (our
  poll adapts to the queue's size; see ``FrontendSettings.poll_interval``), and
  our own state (spool, outbox) goes to ``/var/lib/copr-importer``;
* values are read as copr reads them (``ConfigParser`` with its interpolation);
  a value copr's ``getint`` would refuse is a :class:`ConfigError` naming the key;
* the git root is dist-git.conf's ``[dist-git] gitroot_dir`` and the default branch
  its ``default_branch``, as copr's ``setup_git_package``/``mkbranch`` read them;
  a missing dist-git.conf means dist-git's shipped values, with a note.

Nothing here logs; the caller reports :attr:`CoprConfig.notes` and ``warnings``.
"""

from __future__ import annotations

import configparser
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .checks import Origin, put_dotted

__all__ = ["COPR_DEFAULTS", "COPR_KEYS", "DIST_GIT_CONF", "IGNORED", "CoprConfig", "read_copr"]

DIST_GIT_CONF = Path("/etc/dist-git/dist-git.conf")
"""Where copr's scripts read dist-git's settings (``crudini --get /etc/dist-git/dist-git.conf``)."""

STATE_DIR = "/var/lib/copr-importer"
"""Our own state (spool, outbox) on a copr-dist-git host; the package's tmpfiles create it."""

# copr key -> dotted setting it sets, and how copr reads it (ConfigParser.get/getint).
COPR_KEYS: dict[str, tuple[str, type]] = {
    "frontend_base_url": ("frontend.base_url", str),
    "frontend_auth": ("frontend.password", str),
    "sleep_time": ("frontend.poll_interval", int),
    "per_task_log_dir": ("per_task_log_dir", str),
    "lookaside_location": ("lookaside_dir", str),
    "cgit_cache_file": ("cgit_list", str),
    "cgit_cache_list_file": ("cgit_subdirs", str),
    "cgit_cache_lock_file": ("cgit_lock", str),
    "git_user_name": ("git.user_name", str),
    "git_user_email": ("git.user_email", str),
    "max_workers": ("executor.workers", int),
}

# copr-dist-git's defaults (copr_dist_git/helpers.py, ConfigReader).
COPR_DEFAULTS: dict[str, str] = {
    "frontend_base_url": "http://copr-fe",
    "frontend_auth": "PASSWORDHERE",
    "per_task_log_dir": "/var/lib/copr-dist-git/per-task-logs",
    "lookaside_location": "/var/lib/dist-git/cache/lookaside/pkgs/",
    "cgit_cache_file": "/var/cache/cgit/repo-configuration.rc",
    "cgit_cache_list_file": "/var/cache/cgit/repo-subdirs.list",
    "cgit_cache_lock_file": "/var/cache/cgit/copr-repo.lock",
    "git_user_name": "CoprDistGit",
    "git_user_email": "copr-devel@lists.fedorahosted.org",
    "max_workers": "10",
}

# Keys copr-dist-git reads that mean nothing here, and why.
IGNORED: dict[str, str] = {
    "log_dir": "logs go to stderr, the journal under systemd",
    "multiple_threads": "copr's unused legacy pool",
    "pool_busy_sleep_time": "copr's unused legacy pool",
    "redis_host": "no Redis: per-package order comes from the git-writer's queue",
    "redis_port": "no Redis",
    "redis_password": "no Redis",
    "redis_db": "no Redis",
    "sentry_dsn": "no Sentry; see the metrics and the logs",
    "git_base_url": "repositories are written under dist-git.conf's gitroot_dir, as setup_git_package does",
}

# dist-git.conf's shipped values (release-engineering/dist-git, configs/dist-git/dist-git.conf).
DIST_GIT_DEFAULTS = {"gitroot_dir": "/var/lib/dist-git/git", "default_branch": "master"}
_DIST_GIT_KEYS = {"gitroot_dir": "git_dir", "default_branch": "git.default_branch"}


@dataclass(frozen=True, slots=True)
class CoprConfig:
    """Settings data from copr-dist-git's files, and what to tell the operator about them."""

    data: dict[str, Any]
    """Shaped like the TOML file: top-level keys and section tables."""
    origins: dict[str, Origin] = field(default_factory=dict)
    """Dotted setting -> the file and key it came from, to name them in errors."""
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _typed(raw: str, kind: type, *, where: str, key: str) -> Any:
    if kind is str:
        return raw
    try:
        return kind(raw.strip())
    except ValueError:
        raise ConfigError(f"{where}: [dist-git] {key} = {raw!r}: expected an integer, as copr reads it") from None


def _parse(path: Path, *, interpolation: bool) -> configparser.ConfigParser:
    parser = configparser.ConfigParser() if interpolation else configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return parser


def _closest(key: str) -> str:
    close = difflib.get_close_matches(key, [*COPR_KEYS, *IGNORED], n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def read_copr(path: Path, *, dist_git_conf: Path | None = None) -> CoprConfig:
    """Settings data from copr-dist-git.conf at ``path`` and dist-git.conf at ``dist_git_conf``
    (default: :data:`DIST_GIT_CONF`, where copr's scripts read it)."""
    parser = _parse(path, interpolation=True)
    where = str(path)
    if not parser.has_section("dist-git"):
        raise ConfigError(f"{where}: no [dist-git] section: is this copr-dist-git.conf?")
    result = CoprConfig(data={"data_dir": STATE_DIR})
    given: dict[str, str] = {}
    for key in parser.options("dist-git"):
        if key in COPR_KEYS:
            try:
                given[key] = parser.get("dist-git", key)
            except configparser.Error as exc:
                raise ConfigError(f"{where}: [dist-git] {key}: {exc}") from None
        elif key not in IGNORED:
            result.warnings.append(f"{where}: [dist-git] {key} is not a copr-dist-git setting, ignored{_closest(key)}")
    for section in parser.sections():
        if section != "dist-git":
            result.warnings.append(f"{where}: section [{section}] is not read by copr-dist-git, ignored")
    ignored = sorted(k for k in parser.options("dist-git") if k in IGNORED)
    if ignored:
        reasons = "; ".join(f"{k}: {IGNORED[k]}" for k in ignored)
        result.notes.append(f"{where}: keys without meaning here: {reasons}")
    for key, (dotted, kind) in COPR_KEYS.items():
        if key in given:
            put_dotted(result.data, dotted, _typed(given[key], kind, where=where, key=key))
            result.origins[dotted] = Origin(where, f"[dist-git] {key}")
        elif key in COPR_DEFAULTS:
            put_dotted(result.data, dotted, _typed(COPR_DEFAULTS[key], kind, where="copr-dist-git's defaults", key=key))
    git_root = _read_dist_git(dist_git_conf or DIST_GIT_CONF, result)
    _check_git_base_url(parser, git_root=git_root, where=where, result=result)
    return result


def _read_dist_git(path: Path, result: CoprConfig) -> str:
    """dist-git.conf's git root and default branch into ``result``; the git root."""
    values = dict(DIST_GIT_DEFAULTS)
    if path.exists():
        parser = _parse(path, interpolation=False)  # crudini does not interpolate
        for key, dotted in _DIST_GIT_KEYS.items():
            if parser.has_option("dist-git", key):
                values[key] = parser.get("dist-git", key)
                result.origins[dotted] = Origin(str(path), f"[dist-git] {key}")
    else:
        shown = ", ".join(f"{k} = {v}" for k, v in DIST_GIT_DEFAULTS.items())
        result.notes.append(f"{path} does not exist: dist-git's defaults apply ({shown})")
    for key, dotted in _DIST_GIT_KEYS.items():
        put_dotted(result.data, dotted, values[key])
    return values["gitroot_dir"]


def _check_git_base_url(parser: configparser.ConfigParser, *, git_root: str, where: str, result: CoprConfig) -> None:
    """copr's pyrpkg clones from ``git_base_url``; it must name the same repositories."""
    if not parser.has_option("dist-git", "git_base_url"):
        return
    url = parser.get("dist-git", "git_base_url", raw=True).replace("%%", "%")
    expected = git_root.rstrip("/") + "/%(module)s"
    if url.rstrip("/") != expected:
        result.warnings.append(
            f"{where}: [dist-git] git_base_url = {url!r} is not dist-git.conf's gitroot_dir + '/%(module)s' "
            f"({expected!r}); repositories are written under {git_root}"
        )
