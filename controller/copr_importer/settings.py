"""Typed settings, each with the reason for its default.

Settings are frozen dataclasses built once at start-up from a TOML file (our
format) or from copr-dist-git's ``[dist-git]`` INI file (drop-in), then from
command-line overrides.  Live values that change while the controller runs,
such as the parallelism N in Kubernetes, are separate objects, not settings.
"""

from __future__ import annotations

import configparser
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError

__all__ = [
    "DownloadSettings",
    "ExecutorSettings",
    "FrontendSettings",
    "GitSettings",
    "JobSettings",
    "KubernetesSettings",
    "LifecycleSettings",
    "LookasideSettings",
    "Settings",
    "TelemetrySettings",
    "UnpackSettings",
    "load_settings",
]

GiB = 1024**3


@dataclass(frozen=True, slots=True)
class FrontendSettings:
    """How to reach the Copr frontend."""

    base_url: str | None = None
    """``frontend_base_url``; None means tasks come from a local source."""
    password: str | None = None
    """``frontend_auth``, the frontend's BACKEND_PASSWORD.  Prefer ``password_file``."""
    password_file: Path | None = None
    """A file holding the password (a mounted Secret); read at start-up."""
    poll_interval: float = 0.75
    """Shortest time in seconds between two queue polls; it bounds pickup latency
    (a task waits for the next poll), and 0.75 s keeps its p99 under a second.  Copr
    polls every 15 s.  A short queue is cheap to list, and a long one slows polling
    down by itself (``poll_backoff``); a free slot only waits for a poll when the
    queue is short."""
    poll_backoff: float = 10.0
    """The next poll starts no sooner than this many times the last poll's duration
    after it, so polling takes at most a tenth of one frontend worker however long
    the queue grows (a 100 000-task queue that takes 3 s to list is polled every 30 s)."""
    connect_timeout: float = 10.0
    """Seconds to open a connection; a frontend that does not answer is retried."""
    read_timeout: float = 60.0
    """Seconds to wait for a response; the queue can be 100 000 records long."""
    total_timeout: float = 120.0
    """Wall-clock limit in seconds for one request, answer included: ``read_timeout``
    bounds each read, so a server that sends a byte now and then would otherwise hold a
    request for ever.  Twice the read timeout leaves a 100 000-record queue time to arrive."""
    max_attempts: int = 5
    """Attempts per confirmation (``get-import-task``) on connection errors and 5xx before
    giving up for now.  Polls and reports are tried once per turn: their own schedules
    (``poll_retry_cap``, the outbox's backoff) are their retries."""
    backoff: float = 1.0
    """First retry delay in seconds, doubled per attempt (capped at 60 s)."""
    poll_retry_cap: float = 30.0
    """Longest wait in seconds between two polls while polls fail (1 s, doubling up to this):
    a frontend that comes back is polled again within this time, yet a dead one is asked
    only twice a minute."""
    concurrency: int = 4
    """Frontend requests in flight per kind: confirmations and reports each have this many
    threads, and polls one, so that a frontend slow to answer one kind does not hold up
    the others.  Four keep two-branch imports flowing at 25/s with 50 ms per request."""
    credentials_check_interval: float = 300.0
    """Seconds between checks of the password with an authenticated no-op (a report for
    build 0, which copr answers ``{"updated": false}`` after checking the password); every
    30 s while the password is rejected, so a fixed password file is noticed quickly."""
    confirm_before_start: bool = True
    """Re-fetch ``get-import-task/<id>`` before starting, as copr's worker does, so a
    build canceled since the last poll is not imported."""

    def resolved_password(self) -> str | None:
        """The password, read from ``password_file`` when that is set."""
        if self.password_file is not None:
            try:
                return self.password_file.read_text().strip()
            except OSError as exc:
                raise ConfigError(f"cannot read frontend password file: {exc}") from exc
        return self.password


@dataclass(frozen=True, slots=True)
class DownloadSettings:
    """Fetching the SRPM."""

    request_timeout: float = 120.0
    """Seconds per request without progress; copr's SafeRequest uses 120 s."""
    total_timeout: float = 3600.0
    """Wall-clock limit for one download; copr has none, so a stalled server held a slot."""
    max_bytes: int = 8 * GiB
    """Largest SRPM accepted.  Real SRPMs above 4 GiB exist (cpio's limit); 8 GiB
    leaves room for them and still stops a runaway stream."""
    max_attempts: int = 5
    """Attempts on 5xx, 408 and network errors, as copr's SafeRequest."""
    backoff: float = 5.0
    """Delay before retry k is ``k * backoff`` seconds (copr: 5, 10, 15, 20)."""


@dataclass(frozen=True, slots=True)
class UnpackSettings:
    """Limits that defend the unpacker against hostile payloads."""

    max_total_bytes: int = 16 * GiB
    """Sum of unpacked file sizes; stops decompression bombs while allowing the
    largest real SRPMs (game data, firmware) with their mostly incompressible tarballs."""
    max_files: int = 10_000
    """Files in one SRPM; real ones have a few dozen patches at most."""


@dataclass(frozen=True, slots=True)
class LookasideSettings:
    """The lookaside cache layout."""

    hashtype: Literal["md5", "sha512"] = "md5"
    """Copr's builders verify md5 (old-format ``sources``); sha512 is the modern dist-git choice."""
    with_hashtype_dir: bool = False
    """Insert ``<hashtype>/`` before the hash directory (modern layout).  Off for copr."""
    sources_style: Literal["old", "bsd"] = "old"
    """``<md5>  <file>`` lines for copr; ``bsd`` writes ``SHA512 (<file>) = <hash>``."""


@dataclass(frozen=True, slots=True)
class GitSettings:
    """Commits made by the git-writer."""

    user_name: str = "CoprDistGit"
    """Copr's ``git_user_name`` default."""
    user_email: str = "copr-devel@lists.fedorahosted.org"
    """Copr's ``git_user_email`` default."""
    default_branch: str = "master"
    """Branch that receives the initial commit; new branches start at its root commit."""
    poll_interval: float = 0.05
    """Seconds the writer sleeps when its spool is empty: short, because commits are
    what users wait for, and an empty scan costs a few directory reads."""
    batch_size: int = 32
    """Requests applied between two filesystem syncs: enough to amortize a sync (a few
    ms on local disks, more on network storage) yet results reach the controller
    within a fraction of a second."""
    durable: bool = True
    """Sync commits before publishing results, and results before dropping requests,
    so that even a power loss loses or doubles nothing.  Off only for scratch data."""
    record_days: float = 7.0
    """Days the writer keeps each applied build's result, to hand it back unchanged when
    the build is handed over again.  A repeat comes from an import step that started
    before the build was applied (a retried Job, a worker of a killed controller), so
    within ``job.active_deadline_seconds`` or ``executor.task_timeout`` (3 h); a week
    also covers a writer stopped over a long weekend with such a request waiting."""
    record_builds: int = 1000
    """At most this many results kept per package (the newest): bounds the record of a
    package built very often; far above the builds one package gets in a week."""
    backoff_cap: float = 30.0
    """Longest wait between two tries after a storage error (disk full, read-only, I/O)
    or a repository error: a freed disk is used again within half a minute, while a
    lasting fault costs one try every 30 s."""
    sweep_interval: float = 600.0
    """Seconds between two sweeps of leftovers of killed processes (staging directories,
    temporaries): a sweep lists a few directories, and leftovers only cost space."""


@dataclass(frozen=True, slots=True)
class ExecutorSettings:
    """How many imports run at once and how failures are retried."""

    workers: int = 4
    """N, the global cap on running imports.  Copr defaults to 10 workers on one host;
    a local default of 4 suits a laptop.  In Kubernetes the live value comes from a ConfigMap."""
    per_owner: int | None = 5
    """Copr's hard-coded owner limit."""
    per_sandbox: int | None = 3
    """Copr's hard-coded sandbox limit (one user's builds in one project)."""
    max_attempts: int = 3
    """Runs of one task that end in a transient error before it is reported failed;
    copr retries forever, which hid broken builds for days."""
    retry_delay: float = 30.0
    """Seconds before a transiently failed task may start again (doubled per attempt)."""
    task_timeout: float = 3 * 3600.0
    """Wall-clock limit per import; copr's legacy pool used 3 h."""


@dataclass(frozen=True, slots=True)
class JobSettings:
    """The Job each import becomes in Kubernetes (the template's ``job`` variable)."""

    image: str = "quay.io/copr-importer/job:latest"
    """The job image (job-image/Dockerfile)."""
    image_pull_policy: str = "IfNotPresent"
    """kind loads images locally, so never force a pull."""
    backoff_limit: int = 2
    """Pod retries for infrastructure failures; bad input fails the Job at once."""
    active_deadline_seconds: int = 3 * 3600
    """Kill an import that runs longer; copr's legacy pool used 3 h."""
    ttl_seconds_after_finished: int = 24 * 3600
    """Finished Jobs stay a day, so a controller outage of hours loses no result."""
    bad_input_exit_code: int = 65
    """The import step's exit code for bad input (EX_DATAERR): podFailurePolicy FailJob."""
    service_account: str = "copr-importer-job"
    """A service account with no permissions; the pod mounts no token anyway."""
    run_as_user: int = 10001
    """A numeric non-root uid/gid, as Pod Security "restricted" requires."""
    cpu_request: str = "100m"
    """A small import needs well under a CPU-second."""
    cpu_limit: str = "1"
    memory_request: str = "128Mi"
    memory_limit: str = "512Mi"
    """Unpacking streams; memory does not grow with the SRPM's size."""
    data_claim: str = "copr-importer-data"
    """The PVC shared with the git-writer."""
    data_mount_path: str = "/var/lib/copr-importer"
    settings_config_map: str = "copr-importer-settings"
    """ConfigMap holding importer.toml, mounted read-only into the Job."""
    config_mount_path: str = "/etc/copr-importer/importer.toml"


@dataclass(frozen=True, slots=True)
class KubernetesSettings:
    """Where the controller finds its Jobs and its live configuration."""

    namespace: str = "copr-importer"
    """Namespace of the Jobs, the ConfigMaps and the Events."""
    limit_config_map: str = "copr-importer-settings"
    """ConfigMap whose ``limit_key`` holds N."""
    limit_key: str = "parallelism"
    template_key: str = "job-template"
    """Optional key of the same ConfigMap that overrides the shipped Job template."""
    watch_timeout: int = 60
    """Server-side watch timeout in seconds; the client gives up 10 s later."""


@dataclass(frozen=True, slots=True)
class LifecycleSettings:
    """Storage lifecycle: what ``expire-logs``, ``gc-lookaside`` and ``prune-projects`` remove.

    Copr's dist-git disks filled up more than once (issues #3579, #4331) because
    nothing expired by default; these are the defaults of the CronJobs in manifests/.
    """

    log_max_age_days: float = 30.0
    """Per-task logs older than this are deleted.  Copr's ``cron.monthly`` uses 30 days:
    users open the log from the build page within days of an import, and the frontend
    keeps the build's outcome after the log is gone."""
    gc_safety_age_days: float = 7.0
    """Lookaside files younger than this are never collected, referenced or not.  An
    import writes (or, when reusing it, touches) its lookaside files before the
    git-writer commits the ``sources`` that references them; the window is at most
    ``executor.max_attempts`` x ``executor.task_timeout`` (3 x 3 h) plus the writer's
    backlog.  A week covers that and a writer outage over a long weekend."""
    prune_guard_days: float = 90.0
    """A deleted project whose files changed within this many days is kept, as
    copr's ``prune-dist-git.py`` does: a project deleted by mistake and re-created, or
    a deletion the frontend has not finished, keeps its history for a quarter."""
    frontend_failures_before_giving_up: int = 3
    """Consecutive unanswered project look-ups after which ``prune-projects`` stops
    asking and keeps every remaining project (a dead frontend would otherwise cost a
    full timeout per project)."""


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    """The operations endpoints (/metrics, /livez, /readyz, /status); see docs/operations.md."""

    listen: str = "127.0.0.1:9420"
    """The controller's HOST:PORT. Loopback, because /status names builds and packages and
    nothing should be reachable from the network unless asked for; in Kubernetes the
    manifests pass the pod's IP. Empty: no server."""
    writer_listen: str = "127.0.0.1:9421"
    """The git-writer sidecar's HOST:PORT (the next port: both share a pod's network).
    The embedded writer has no server; its counters appear on the controller's."""
    live_after: float = 120.0
    """/livez fails when the loop has not ticked for this long: longer than one frontend
    poll or one large commit can block it."""
    throughput_window: float = 300.0
    """Imports/min and the ETA are computed over the last 5 minutes: long enough to
    smooth over bursts of tiny SRPMs, short enough to follow a change of N."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the importer needs, rooted at one data directory."""

    data_dir: Path = Path("./importer-data")
    """Holds git/, lookaside/, per-task-logs/ and spool/ unless those are set."""
    git_dir: Path | None = None
    """Bare repositories; copr: /var/lib/dist-git/git."""
    lookaside_dir: Path | None = None
    """Lookaside root; copr: /var/lib/dist-git/cache/lookaside/pkgs."""
    per_task_log_dir: Path | None = None
    """Per-task logs, served to users; copr: /var/lib/copr-dist-git/per-task-logs."""
    cgit_list: Path | None = None
    """cgit's include file listing the repositories, appended to by the git-writer;
    copr: cgit_cache_file.  The default, ``<data_dir>/cgit/repos.rc``, is where
    web/httpd.conf looks, so the web side needs no setting of its own."""
    frontend: FrontendSettings = field(default_factory=FrontendSettings)
    download: DownloadSettings = field(default_factory=DownloadSettings)
    unpack: UnpackSettings = field(default_factory=UnpackSettings)
    lookaside: LookasideSettings = field(default_factory=LookasideSettings)
    git: GitSettings = field(default_factory=GitSettings)
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    job: JobSettings = field(default_factory=JobSettings)
    kubernetes: KubernetesSettings = field(default_factory=KubernetesSettings)
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)

    @property
    def git_root(self) -> Path:
        return self.git_dir or self.data_dir / "git"

    @property
    def lookaside_root(self) -> Path:
        return self.lookaside_dir or self.data_dir / "lookaside" / "pkgs"

    @property
    def log_root(self) -> Path:
        return self.per_task_log_dir or self.data_dir / "per-task-logs"

    @property
    def cgit_list_path(self) -> Path:
        return self.cgit_list or self.data_dir / "cgit" / "repos.rc"

    @property
    def spool_root(self) -> Path:
        """The hand-over area between import steps, the writer and the controller.
        It must share a filesystem with the lookaside so that files move by rename."""
        return self.data_dir / "spool"


_SECTIONS = {
    "frontend": FrontendSettings,
    "download": DownloadSettings,
    "unpack": UnpackSettings,
    "lookaside": LookasideSettings,
    "git": GitSettings,
    "executor": ExecutorSettings,
    "job": JobSettings,
    "kubernetes": KubernetesSettings,
    "lifecycle": LifecycleSettings,
    "telemetry": TelemetrySettings,
}
_PATH_KEYS = {"data_dir", "git_dir", "lookaside_dir", "per_task_log_dir", "cgit_list", "password_file"}

# copr-dist-git's [dist-git] keys and where they land.
_COPR_KEYS = {
    "frontend_base_url": ("frontend", "base_url"),
    "frontend_auth": ("frontend", "password"),
    "sleep_time": ("frontend", "poll_interval"),
    "per_task_log_dir": (None, "per_task_log_dir"),
    "lookaside_location": (None, "lookaside_dir"),
    "cgit_cache_file": (None, "cgit_list"),
    "git_user_name": ("git", "user_name"),
    "git_user_email": ("git", "user_email"),
    "max_workers": ("executor", "workers"),
}


def _coerce(cls: type, key: str, value: Any) -> Any:
    known = {f.name: f for f in fields(cls)}
    if key not in known:
        raise ConfigError(f"unknown setting {cls.__name__}.{key}")
    if key in _PATH_KEYS and value is not None:
        return Path(value)
    return value


def _build(cls: type, values: dict[str, Any]) -> Any:
    return cls(**{k: _coerce(cls, k, v) for k, v in values.items()})


def from_mapping(data: dict[str, Any]) -> Settings:
    """Settings from a nested mapping shaped like the TOML file."""
    top: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"[{key}] must be a table")
            top[key] = _build(_SECTIONS[key], value)
        else:
            top[key] = _coerce(Settings, key, value)
    try:
        settings = Settings(**top)
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc
    return validate(settings)


def _from_copr_ini(path: Path) -> dict[str, Any]:
    parser = configparser.ConfigParser()
    parser.read(path)
    if not parser.has_section("dist-git"):
        raise ConfigError(f"{path}: no [dist-git] section")
    data: dict[str, Any] = {}
    for key, raw in parser.items("dist-git"):
        if key not in _COPR_KEYS:
            continue  # redis_*, the other cgit_* and the legacy keys have no meaning here
        section, name = _COPR_KEYS[key]
        value: Any = int(raw) if name in {"workers"} else float(raw) if name == "poll_interval" else raw
        (data.setdefault(section, {}) if section else data)[name] = value
    return data


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read ``path`` (``.toml``, or copr's ``.conf``/``.ini``) and apply overrides.

    Overrides use dotted names for sections: ``{"executor.workers": 2}``.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            if path.suffix == ".toml":
                data = tomllib.loads(path.read_text())
            else:
                data = _from_copr_ini(path)
        except (OSError, tomllib.TOMLDecodeError, configparser.Error, ValueError) as exc:
            raise ConfigError(f"cannot read settings {path}: {exc}") from exc
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, _, name = dotted.rpartition(".")
        (data.setdefault(section, {}) if section else data)[name] = value
    return from_mapping(data)


def validate(settings: Settings) -> Settings:
    """Reject values that cannot work, with the setting's name in the message."""
    ex = settings.executor
    if ex.workers < 0:
        raise ConfigError("executor.workers must be >= 0")
    if settings.git.batch_size < 1:
        raise ConfigError("git.batch_size must be >= 1")
    fe = settings.frontend
    if fe.concurrency < 1:
        raise ConfigError("frontend.concurrency must be >= 1")
    if min(fe.total_timeout, fe.connect_timeout, fe.read_timeout, fe.poll_retry_cap) <= 0:
        raise ConfigError("frontend timeouts and frontend.poll_retry_cap must be > 0")
    if ex.max_attempts < 1 or settings.download.max_attempts < 1 or fe.max_attempts < 1:
        raise ConfigError("max_attempts must be >= 1")
    life = settings.lifecycle
    if min(life.log_max_age_days, life.gc_safety_age_days, life.prune_guard_days) < 0:
        raise ConfigError("lifecycle ages must be >= 0 days")
    if life.frontend_failures_before_giving_up < 1:
        raise ConfigError("lifecycle.frontend_failures_before_giving_up must be >= 1")
    if settings.lookaside.hashtype not in ("md5", "sha512"):
        raise ConfigError("lookaside.hashtype must be md5 or sha512")
    if settings.lookaside.sources_style not in ("old", "bsd"):
        raise ConfigError("lookaside.sources_style must be old or bsd")
    if settings.lookaside.sources_style == "old" and settings.lookaside.hashtype != "md5":
        # Old-format lines carry no hash type and every client reads them as md5.
        raise ConfigError("sources_style 'old' requires hashtype 'md5'")
    if settings.telemetry.live_after <= 0 or settings.telemetry.throughput_window <= 0:
        raise ConfigError("telemetry.live_after and telemetry.throughput_window must be > 0")
    return settings


__all__ += ["from_mapping", "validate", "replace"]
