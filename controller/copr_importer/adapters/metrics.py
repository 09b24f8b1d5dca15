"""The Prometheus metrics, in a registry of their own (the only module that imports prometheus_client).

Each process makes its own ``CollectorRegistry`` (:func:`new_registry`), never the global one,
so tests and embedded runs in one process do not collide, and nothing but our
metrics is exposed (no process or platform collectors: the kubelet and
node exporters already report those).

Naming follows Prometheus conventions: the ``copr_importer_`` prefix, base units
in the name (``_seconds``), ``_total`` on counters.  Labels take values from
small fixed sets only (step results, limit-refresh results, report outcomes,
the version): never build ids, owners or package names.  The full table, with
meanings, is in docs/operations.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "ControllerMetrics", "WriterMetrics", "exposition", "new_registry"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
_PREFIX = "copr_importer_"

# Queue waits span seconds (an idle importer) to a day (a mass rebuild of 100 000 builds).
_WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
# Steps take seconds for small SRPMs, up to task_timeout (3 h) for multi-GiB ones.
_DURATION_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 10800)


def new_registry(*, version: str) -> CollectorRegistry:
    """A registry of our own, holding ``copr_importer_build_info{version}``."""
    registry = CollectorRegistry(auto_describe=True)
    info = Gauge(_PREFIX + "build_info", "Always 1; the version as a label", ["version"], registry=registry)
    info.labels(version=version).set(1)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(registry)


class ControllerMetrics:
    """What the controller loop and its executor report."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = self.registry = registry
        self.leader = Gauge(
            _PREFIX + "leader",
            "1 while this controller's loop runs (one replica with the Recreate strategy: no election)",
            registry=r,
        )
        self.tasks_pending = Gauge(
            _PREFIX + "tasks_pending", "Builds listed by the source and not started yet", registry=r
        )
        self.jobs_active = Gauge(_PREFIX + "jobs_active", "Import steps running now (Jobs or workers)", registry=r)
        self.jobs_limit = Gauge(_PREFIX + "jobs_limit", "N, the cap on running import steps in force", registry=r)
        self.jobs_created = Counter(_PREFIX + "jobs_created", "Import steps started (Jobs or workers)", registry=r)
        self.jobs_finished = Counter(
            _PREFIX + "jobs_finished", "Import steps that ended, by result", ["result"], registry=r
        )
        self.queue_wait = Histogram(
            _PREFIX + "queue_wait_seconds",
            "Time from the first poll that listed a build to its first start",
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.job_duration = Histogram(
            _PREFIX + "job_duration_seconds",
            "Time from starting an import step to seeing it end",
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.imports_reported = Counter(
            _PREFIX + "imports_reported",
            "Reports put in the outbox for the frontend, by outcome (imported, partial, failed)",
            ["outcome"],
            registry=r,
        )
        self.config_reloads = Counter(
            _PREFIX + "config_reloads",
            "Re-reads of the live limit N, by result (ok, invalid, error)",
            ["result"],
            registry=r,
        )

        self.problem = Gauge(
            _PREFIX + "problem",
            "1 while a component cannot do its work (the reason is in /status and /readyz), else 0",
            ["component"],
            registry=r,
        )
        self.frontend_errors = Counter(
            _PREFIX + "frontend_errors",
            "Failed frontend requests, by call (poll, confirm, report, check) and kind (dns, refused, timeout...)",
            ["call", "kind"],
            registry=r,
        )
        self.reports_unsent = Gauge(
            _PREFIX + "reports_unsent", "Reports in the outbox that the frontend has not taken yet", registry=r
        )
        self.reports_unsent_age = Gauge(
            _PREFIX + "reports_unsent_oldest_seconds",
            "Age of the oldest report the frontend has not taken yet (0 when none waits)",
            registry=r,
        )

    def preset(
        self,
        *,
        results: Iterable[str],
        limit_results: Iterable[str],
        outcomes: Iterable[str],
        components: Iterable[str] = (),
        errors: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Create every labelled series at 0, so rates exist before the first event."""
        for result in results:
            self.jobs_finished.labels(result=result)
        for result in limit_results:
            self.config_reloads.labels(result=result)
        for outcome in outcomes:
            self.imports_reported.labels(outcome=outcome)
        for component in components:
            self.problem.labels(component=component).set(0)
        for call, kind in errors:
            self.frontend_errors.labels(call=call, kind=kind)

    def track_writer_backlog(self, count: Callable[[], float]) -> None:
        """The writer's backlog, computed at scrape time (from the shared spool)."""
        gauge = Gauge(
            _PREFIX + "writer_backlog_requests",
            "Hand-over requests in the spool waiting for the git-writer",
            registry=self.registry,
        )
        gauge.set_function(count)


class WriterMetrics:
    """What the git-writer reports (on its own endpoint, or forwarded to the embedded controller's)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.commits = Counter(
            _PREFIX + "writer_commits", "Branches moved to a new commit by the git-writer", registry=registry
        )
        self.requests_applied = Counter(
            _PREFIX + "writer_requests_applied",
            "Hand-over requests whose results the git-writer published",
            registry=registry,
        )
