"""Typed settings, each with the reason for its default.

Settings are frozen dataclasses built once at start-up from a TOML file (our
format) or from copr-dist-git's ``[dist-git]`` INI file (drop-in; copr-dist-git's
defaults for what it does not set, see :mod:`.configuration.coprconf`), then from
command-line overrides.  A TOML file may also start from copr's file
(``copr_dist_git_conf = "/etc/copr/copr-dist-git.conf"``, and ``dist_git_conf``
for dist-git.conf) and set anything on top.  Live values that change while the
controller runs, such as the parallelism N in Kubernetes, are separate objects.

Every value is checked against its field's type hint before anything starts
(:mod:`.configuration.checks`): numbers are >= 0 unless :data:`BOUNDS` is
stricter, ``*_bytes`` fields also take sizes such as ``"8GiB"``, and an unknown
key is refused with the closest known name.  A new field needs nothing more
than its type hint (and a :data:`BOUNDS` entry if 0 makes no sense).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from .configuration.checks import Bound, Origin, Schema, put_dotted
from .configuration.coprconf import COPR_KEYS
from .configuration.files import merged, read_settings_file
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
    "SourceSettings",
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
    local_files: bool = False
    """Whether an SRPM URL may be a local path or ``file://``.  Only a local run (SRPM
    paths on the command line, a local task file) turns it on, never a settings file,
    so a frontend's task record cannot make the importer read local files."""


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
    """Seconds the writer sleeps when its spool is empty, unless a hand-over rings
    its doorbell first (import steps on the writer's machine do): short, because an
    import pod on another node cannot ring, commits are what users wait for, and an
    empty scan costs a few directory reads."""
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
    busy_wait: float = 30.0
    """Seconds the writer waits for a repository that ``maintain-repos`` is packing before
    it calls the repository busy (a transient error, retried later): packing a
    repository takes well under a second unless it is huge, and waiting briefly is
    cheaper than a retry."""
    pack_idle_loose_objects: int = 100
    """At an idle moment the writer packs a repository it wrote this many objects into
    since the last packing (git's ``maintenance.loose-objects.auto`` is 100): loose
    objects cost an inode each and slow clones down."""
    pack_busy_loose_objects: int = 1000
    """Without an idle moment (a long mass rebuild), a repository is packed between two
    requests once it took this many objects: the bound on its loose objects.  A
    geometric repack of such a repository took 0.6-2.4 s on a heavily loaded 2-core
    machine, so it is kept rare: every 200 or so builds of one package."""
    prune_expire: str = "2.weeks.ago"
    """``maintain-repos`` prunes unreachable loose objects older than this (git's
    ``gc.pruneExpire``): anything younger may be an object a writer has just written
    and not yet referenced."""


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
    tasks_per_worker: int = 1000
    """Imports one embedded worker process runs before it is replaced by a fresh fork of the
    zygote, so that whatever a long-lived process accumulates (heap fragmentation, caches,
    a leak in a library) stays bounded.  A replacement costs a fork and a few ms of
    warming up, under 0.1 ms per import at 1000; a leak of 10 KiB per import stays
    under 10 MiB per worker."""
    worker_memory_limit: int | None = GiB
    """Address space (``RLIMIT_AS``, bytes) of each embedded worker process; 0 or None: no limit.
    An SRPM that makes its worker allocate without end (through a decoder's or a
    library's blind spot that a crafted input finds) then fails that import
    transiently, so it is retried and finally reported failed, instead of taking the
    machine.  An idle worker maps about 45 MiB; the largest real needs are an rpm
    header (rpm allows 256 MiB of header data, which the reader holds about three
    times over while decoding it) and a payload's decompression window (at most
    64 MiB: the reader refuses more).  1 GiB covers them with room, and copr's 10
    workers at their limit still fit a 16 GiB host.  It counts mapped, not resident,
    memory: compare it with the Job's 512 MiB memory limit only loosely."""
    stop_grace: float = 5.0
    """Seconds the embedded workers and git-writer get after SIGTERM before SIGKILL.  A
    worker dies at once (its task runs again next time); the writer finishes its current
    batch, which takes milliseconds, and a writer killed mid-batch recovers at its next
    start.  Well within systemd's 90 s and Kubernetes' 30 s stop timeouts."""


@dataclass(frozen=True, slots=True)
class JobSettings:
    """The Job each import becomes in Kubernetes (the template's ``job`` variable)."""

    image: str = "quay.io/copr-importer/job:0.1.0"
    """The job image (job-image/Dockerfile), tagged with the release it was built from.
    In Kubernetes the settings ConfigMap's ``kubernetes.image_key`` overrides it live."""
    image_pull_policy: str = "IfNotPresent"
    """Tags are versions, never moved: a node pulls each once (kind and the real
    node tests load images locally and cannot pull at all)."""
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
    tmp_size_limit: str = "2Gi"
    """Size of the Job's /tmp (an emptyDir), where SRPMs are built from sources: room
    for a clone and an SRPM, and the disk limit of repository code (make_srpm, tito)."""
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
    image_key: str = "job-image"
    """Optional key of the same ConfigMap that overrides ``job.image``: read live, and
    an image reference kustomize rewrites, so an overlay swaps it with the other images."""
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
class SourceSettings:
    """Building SRPMs from PyPI, RubyGems and git (tasks with ``source_type``); see README."""

    pypi_index_url: str = ""
    """A PyPI-compatible simple index (PEP 503/691).  Empty: the index pip on this
    machine is configured with (PIP_INDEX_URL, pip.conf, else pip's own default), so
    a mirror set up for pip serves the importer too and no host is written here."""
    rubygems_url: str = ""
    """A RubyGems-compatible source (``/info/<gem>``, ``/gems/<file>``).  Empty: the
    first of ``:sources:`` in gem's configuration (/etc/gemrc, ~/.gemrc)."""
    work_dir: Path | None = None
    """Where sources are unpacked and SRPMs built; None: the system's temporary
    directory (in a Job, its size-limited emptyDir at /tmp)."""
    command_timeout: float = 900.0
    """Wall-clock seconds for one external command (git clone, make, tito, rpmbuild).
    Copr gives a whole SRPM build an hour; 15 minutes per step leaves that room for
    a clone, a checkout and a build, and stops a Makefile that never ends."""
    output_limit: int = 64 * 1024
    """Bytes of a command's output kept for the per-task log (its start and its
    end); users read the log in a browser and the end is what explains a failure."""
    max_file_bytes: int = 4 * GiB
    """Largest file a command may write (RLIMIT_FSIZE): a generous SRPM, never a
    runaway that fills the disk."""
    memory_limit: int = 4 * GiB
    """Address-space limit of each command (RLIMIT_AS) where no container limits
    it; git and rpmbuild need far less, a runaway build gets an error, not the OOM killer."""
    run_repository_code: bool = False
    """Allow the ``make_srpm`` and ``tito`` methods, which execute code from the
    repository.  Off for embedded runs, where that code would run as the importer's
    user beside its data; the manifests turn it on for import Jobs, which run it
    under restricted Pod Security with time, memory and disk limits."""
    tito_command: str = "tito"
    """The tito executable (``tito`` on PATH by default)."""


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
    cgit_lock: Path | None = None
    """A file flock()ed while appending to ``cgit_list``: copr's cgit_cache_lock_file,
    which copr-dist-git-refresh-cgit holds while it rewrites the list, so that both
    can run on one host.  None: no lock, the git-writer is the list's only writer."""
    cgit_subdirs: Path | None = None
    """copr's cgit_cache_list_file: the repositories (``owner/project/pkg.git``, one a
    line) that copr's full cgit refresh merges with its own scan.  Each new stanza is
    recorded there too, so a refresh that scanned before the repository existed keeps
    it.  None: not written."""
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
    sources: SourceSettings = field(default_factory=SourceSettings)

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


# Ranges stricter than "a number >= 0", which every numeric setting obeys.
BOUNDS: dict[str, Bound] = {
    "frontend.connect_timeout": Bound(0, low_open=True),
    "frontend.read_timeout": Bound(0, low_open=True),
    "frontend.max_attempts": Bound(1),
    "frontend.total_timeout": Bound(0, low_open=True),
    "frontend.poll_retry_cap": Bound(0, low_open=True),
    "frontend.concurrency": Bound(1),
    "frontend.credentials_check_interval": Bound(0, low_open=True),
    "download.request_timeout": Bound(0, low_open=True),
    "download.total_timeout": Bound(0, low_open=True),
    "download.max_bytes": Bound(1),
    "download.max_attempts": Bound(1),
    "unpack.max_total_bytes": Bound(1),
    "unpack.max_files": Bound(1),
    "git.batch_size": Bound(1),
    "executor.max_attempts": Bound(1),
    "executor.task_timeout": Bound(0, low_open=True),
    "executor.tasks_per_worker": Bound(1),
    "job.active_deadline_seconds": Bound(1),
    "job.bad_input_exit_code": Bound(1, high=255),
    "kubernetes.watch_timeout": Bound(1),
    "lifecycle.frontend_failures_before_giving_up": Bound(1),
    "telemetry.live_after": Bound(0, low_open=True),
    "telemetry.throughput_window": Bound(0, low_open=True),
    "sources.command_timeout": Bound(0, low_open=True),
    "sources.output_limit": Bound(1),
    "sources.max_file_bytes": Bound(1),
    "sources.memory_limit": Bound(1),
}

# Top-level TOML keys that are not settings but say where else to read them.
COPR_CONF_KEY = "copr_dist_git_conf"
DIST_GIT_CONF_KEY = "dist_git_conf"

SCHEMA = Schema(
    Settings,
    bounds=BOUNDS,
    aliases={copr: dotted for copr, (dotted, _) in COPR_KEYS.items()},
    directives=(COPR_CONF_KEY, DIST_GIT_CONF_KEY),
)


def from_mapping(
    data: Mapping[str, Any], *, where: str = "settings", origins: Mapping[str, Origin] | None = None
) -> Settings:
    """Settings from a nested mapping shaped like the TOML file, every value checked."""
    settings: Settings = SCHEMA.build(data, where=where, origins=origins)
    if settings.download.local_files:
        # Only a local run turns it on (adapters.download.allow_local_files), so that no
        # settings file can make a frontend's records read local files.
        raise ConfigError(f"{where}: download.local_files cannot be set in settings: a local run sets it")
    return _cross_checked(settings, where=where)


def validate(settings: Settings, *, where: str = "settings") -> Settings:
    """Check every value of ``settings`` again (after programmatic changes) and the rules
    that tie several together; a :class:`ConfigError` names the setting."""
    SCHEMA.check(settings, where=where)
    return _cross_checked(settings, where=where)


def _cross_checked(settings: Settings, *, where: str) -> Settings:
    src = settings.sources
    for name, url in (("pypi_index_url", src.pypi_index_url), ("rubygems_url", src.rubygems_url)):
        if url and not url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}: sources.{name} = {url!r}: expected an http(s) URL")
    if settings.lookaside.sources_style == "old" and settings.lookaside.hashtype != "md5":
        # Old-format lines carry no hash type and every client reads them as md5.
        raise ConfigError(f'{where}: lookaside.sources_style "old" requires lookaside.hashtype "md5"')
    return settings


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read ``path`` (``.toml``, or copr's ``.conf``/``.ini``) and apply overrides.

    Overrides use dotted names for sections: ``{"executor.workers": 2}``; None means
    "not given".  Every value is checked before anything uses it.
    """
    data: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    if path is not None:
        data, origins = read_settings_file(path, copr_key=COPR_CONF_KEY, dist_git_key=DIST_GIT_CONF_KEY)
    given: dict[str, Any] = {}
    for dotted, value in overrides.items():
        if value is not None:
            put_dotted(given, dotted, value)
            origins[dotted] = Origin("command line", dotted)
    return from_mapping(merged(data, given), where=str(path) if path else "settings", origins=origins)


__all__ += ["BOUNDS", "SCHEMA", "from_mapping", "validate", "replace"]
