"""The events the loops report, as a no-op base class that telemetry overrides.

The controller loop, the executors and the git-writer call these hooks and know
nothing about how (or whether) they are counted: :class:`Observer` does nothing,
so a loop without telemetry (a unit test, ``import-step``) pays one method call.
``app/telemetry.py`` turns them into Prometheus metrics, health and the status
view.  Hooks must be cheap and must not raise: they run inside the loops.
Step and limit-refresh results are small fixed sets: they become metric labels.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from .task import ImportTask

__all__ = [
    "CANCELED",
    "CLUSTER",
    "FAILED_BAD_INPUT",
    "FAILED_TRANSIENT",
    "FRONTEND",
    "FRONTEND_AUTH",
    "FRONTEND_CALLS",
    "GIT_WRITER",
    "LIMIT_ERROR",
    "LIMIT_INVALID",
    "LIMIT_OK",
    "LIMIT_RESULTS",
    "PROBLEM_COMPONENTS",
    "STORAGE",
    "STEP_RESULTS",
    "SUCCEEDED",
    "Observer",
]

SUCCEEDED = "succeeded"
FAILED_BAD_INPUT = "failed_bad_input"  # the SRPM or the task is wrong: reported, not retried
FAILED_TRANSIENT = "failed_transient"  # crashed, timed out, infrastructure: retried up to max_attempts
CANCELED = "canceled"  # the build left the frontend's queue while it ran
STEP_RESULTS = (SUCCEEDED, FAILED_BAD_INPUT, FAILED_TRANSIENT, CANCELED)

FRONTEND_CALLS = ("poll", "confirm", "report", "check")  # the frontend requests the controller makes

# Components that can have a problem (readiness false with a reason): a metric label, a fixed set.
FRONTEND = "frontend"  # the importing queue cannot be read
FRONTEND_AUTH = "frontend-auth"  # the frontend rejects the password
STORAGE = "storage"  # the controller's own files: disk full, read-only, failing
GIT_WRITER = "git-writer"  # what the git-writer reports in the spool
CLUSTER = "cluster"  # the Kubernetes API cannot be reached, or N cannot be read
PROBLEM_COMPONENTS = (FRONTEND, FRONTEND_AUTH, STORAGE, GIT_WRITER, CLUSTER)

LIMIT_OK = "ok"  # a new valid N was read and is in force
LIMIT_INVALID = "invalid"  # a new value was read but is unusable: the last good N stays
LIMIT_ERROR = "error"  # the ConfigMap could not be read (counted per attempt)
LIMIT_RESULTS = (LIMIT_OK, LIMIT_INVALID, LIMIT_ERROR)


class Observer:
    """Every hook does nothing; subclasses override the ones they count."""

    # --- controller loop ----------------------------------------------------

    def ticked(self) -> None:
        """One pass of a loop (the controller's tick, the writer's pass) began."""

    def polled(self, *, queued: Collection[int]) -> None:
        """The source answered; ``queued`` are the build ids it lists that are not yet reported."""

    def capacity(self, *, running: Collection[ImportTask], limit: int) -> None:
        """The executor's running imports and the N in force, sampled before dispatching."""

    def dispatched(self, build_id: int) -> None:
        """An import step was started (a worker forked, a Job created)."""

    def step_ended(self, build_id: int, *, exit_code: int) -> None:
        """An import step ended with the import step's exit code."""

    def canceled(self, build_id: int) -> None:
        """A running step was stopped because its build left the queue."""

    def reported(self, report: Mapping[str, Any], *, package: str | None) -> None:
        """A report for the frontend was put in the outbox; ``package`` is owner/project/pkg if known."""

    def problem(self, component: str, *, reason: str | None) -> None:
        """``component`` (``frontend``, ``storage``, ``cluster``, ``git-writer``...) cannot do
        its work for ``reason`` (disk full, password rejected, apiserver unreachable), or is
        well again (``reason`` None).  Telemetry turns an open problem into readiness false
        with the reason in /status, ``status`` and a metric; the loop keeps retrying."""

    def frontend_error(self, call: str, *, kind: str) -> None:
        """A frontend request failed: ``call`` is one of :data:`FRONTEND_CALLS`, ``kind`` says
        why (the frontend adapter's small fixed set: dns, refused, timeout, http_5xx...)."""

    def unsent_reports(self, *, count: int, oldest_age: float | None) -> None:
        """The outbox holds ``count`` undelivered reports, the oldest written ``oldest_age`` s ago."""

    # --- Kubernetes executor ------------------------------------------------

    def limit_refreshed(self, result: str) -> None:
        """The live N was reloaded: one of :data:`LIMIT_RESULTS` (a repeated value is no reload)."""

    def cluster_synced(self, synced: bool) -> None:
        """The Job list+watch holds a complete view (True) or lost it and relists (False)."""

    # --- git-writer ---------------------------------------------------------

    def commits_applied(self, count: int) -> None:
        """``count`` branches moved to a new commit."""

    def requests_applied(self, count: int) -> None:
        """``count`` hand-over requests got their results published."""
