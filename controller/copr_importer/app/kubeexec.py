"""The Kubernetes executor: each import step runs as a Job, at most N at a time.

* The view of the cluster is a list followed by a watch from the list's
  resourceVersion (bookmarks on, client-side timeouts), relisting on 410.  Running
  imports are counted from that view, never from a counter of our own; a Job
  just created counts at once and is confirmed by the watch.
* ``start`` renders the task's Job and creates it; 409 means the Job exists
  (a restarted controller) and is adopted.
* A finished Job becomes an :class:`Outcome` once (succeeded: 0; FailJob by the
  pod failure policy: bad input; deadline or backoff: transient), gets an Event
  when it failed, and is then deleted with propagation Background.  Finished
  Jobs still present after a restart are therefore exactly the unreported ones.
* N comes from a ConfigMap key through :class:`LiveLimit`, re-read every
  ``refresh`` seconds; an invalid value keeps the last good one and posts a
  Warning Event on the ConfigMap.
"""

from __future__ import annotations

import logging
import threading
import time

from ..adapters.jobtemplate import default_template
from ..adapters.kube import Conflict, Expired, JobState, Kube
from ..core.admission import Limits
from ..core.jobspec import render_job
from ..core.livelimit import LiveLimit
from ..core.observer import LIMIT_ERROR, LIMIT_INVALID, LIMIT_OK, Observer
from ..core.task import ImportTask
from ..errors import ImporterError
from ..settings import Settings
from .importstep import EXIT_BAD_INPUT, EXIT_OK, EXIT_TRANSIENT
from .localexec import Outcome

__all__ = ["KubernetesExecutor"]

log = logging.getLogger(__name__)
_ANNOTATION = "copr-importer.fedorainfracloud.org/"


class KubernetesExecutor:
    """Implements the controller's executor interface with Jobs."""

    def __init__(
        self, *, settings: Settings, kube: Kube, refresh: float = 1.0, observer: Observer | None = None
    ) -> None:
        self.settings = settings
        self.observer = observer or Observer()  # telemetry hooks; no-ops by default
        self.kube = kube
        self.refresh = refresh
        self.live = LiveLimit(settings.executor.workers)
        self._jobs: dict[int, JobState] = {}
        self._tasks: dict[int, ImportTask] = {}
        self._reported: set[int] = set()
        self._canceled: set[int] = set()  # deleted by us; no longer a running import
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._stopping = threading.Event()
        self._next_refresh = 0.0
        self._config: dict[str, str] = {}  # the ConfigMap's data at the last refresh
        self._shipped_template = default_template()  # read once, not per Job
        self._version = ""
        self._thread = threading.Thread(target=self._watch_loop, name="job-watch", daemon=True)

    # --- cluster view -------------------------------------------------------

    def open(self) -> None:
        """List once (so the first tick sees adopted Jobs), then watch in the background."""
        self._relist()
        self._thread.start()

    def close(self) -> None:
        self._stopping.set()

    def _relist(self) -> None:
        states, self._version = self.kube.list_jobs()
        with self._lock:
            self._jobs = {s.build_id: s for s in states}
        self._changed.set()
        self.observer.cluster_synced(True)

    def _watch_loop(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            try:
                timeout = self.settings.kubernetes.watch_timeout
                for kind, state, version in self.kube.watch_jobs(resource_version=self._version, timeout=timeout):
                    self._version = version
                    if state is not None:
                        self._apply(kind, state)
                    if self._stopping.is_set():
                        return
                delay = 1.0
            except Expired:
                log.info("job watch expired; listing again")
                self._relist_quietly()
            except Exception as exc:
                self.observer.cluster_synced(False)
                log.warning("job watch failed (%s); listing again in %.0f s", exc, delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, 30.0)
                self._relist_quietly()

    def _relist_quietly(self) -> None:
        try:
            self._relist()
        except ImporterError as exc:
            log.warning("cannot list jobs: %s", exc)

    def _apply(self, kind: str, state: JobState) -> None:
        with self._lock:
            if kind == "DELETED":
                self._jobs.pop(state.build_id, None)
                self._reported.discard(state.build_id)
                self._canceled.discard(state.build_id)
                self._tasks.pop(state.build_id, None)
            else:
                self._jobs[state.build_id] = state
        self._changed.set()

    # --- executor interface -------------------------------------------------

    def start(self, task: ImportTask) -> None:
        template = self._template()
        body = render_job(task, template=template, namespace=self.kube.namespace, job=self.settings.job)
        try:
            self.kube.create_job(body)
        except Conflict:
            log.info("job for build %d exists already; adopting it", task.build_id)
        provisional = JobState(body["metadata"]["name"], "", task.build_id, {}, 1, False, False, "")
        with self._lock:
            self._tasks[task.build_id] = task
            self._jobs.setdefault(task.build_id, provisional)

    def running(self) -> list[ImportTask]:
        with self._lock:
            return [
                self._task_for(s) for s in self._jobs.values() if not s.finished and s.build_id not in self._canceled
            ]

    def _task_for(self, state: JobState) -> ImportTask:
        known = self._tasks.get(state.build_id)
        if known is not None:
            return known
        # An adopted Job: its annotations carry what the caps need.
        a = state.annotations
        return ImportTask(
            build_id=state.build_id,
            owner=a.get(_ANNOTATION + "owner", "?"),
            project=a.get(_ANNOTATION + "project", "?"),
            pkg_name=a.get(_ANNOTATION + "package", "?"),
            branches=(),
            srpm_url="",
            sandbox=a.get(_ANNOTATION + "sandbox", "?"),
        )

    def poll(self) -> list[Outcome]:
        with self._lock:
            done = [s for s in self._jobs.values() if s.finished and s.build_id not in self._reported]
            self._reported.update(s.build_id for s in done)
        outcomes = [self._outcome(state) for state in done]
        for state in done:
            try:
                self.kube.delete_job(state.name)
            except ImporterError as exc:
                log.warning("cannot delete job %s: %s", state.name, exc)
        return outcomes

    def _outcome(self, state: JobState) -> Outcome:
        task = self._task_for(state)
        if state.succeeded:
            return Outcome(task, EXIT_OK, "handed over", 0.0)
        message = self._message(state)
        self._warn(
            kind="Job", name=state.name, uid=state.uid, reason="ImportFailed", message=f"{state.reason}: {message}"
        )
        if state.reason == "PodFailurePolicy":
            return Outcome(task, EXIT_BAD_INPUT, message, 0.0)
        if state.reason == "DeadlineExceeded":
            limit = self.settings.job.active_deadline_seconds
            return Outcome(task, EXIT_TRANSIENT, f"import_timeout_exceeded: killed after {limit} s", 0.0)
        return Outcome(task, EXIT_TRANSIENT, f"job failed ({state.reason}): {message}", 0.0)

    def _message(self, state: JobState) -> str:
        try:
            return self.kube.termination_message(state.name) or state.reason
        except ImporterError as exc:
            return f"{state.reason} (no termination message: {exc})"

    def _warn(self, *, kind: str, name: str, uid: str, reason: str, message: str) -> None:
        """Post a Warning Event; failing to post is logged, never fatal."""
        try:
            self.kube.post_event(kind=kind, name=name, uid=uid, reason=reason, message=message, warning=True)
        except ImporterError as exc:
            log.warning("cannot post event on %s %s: %s", kind, name, exc)

    def cancel(self, build_id: int) -> None:
        with self._lock:
            state = self._jobs.get(build_id)
            if state is not None:
                # Until the watch reports the deletion, events may still show the Job active.
                self._canceled.add(build_id)
                self._reported.add(build_id)
        if state is not None:
            self.kube.delete_job(state.name)

    def wait(self, timeout: float) -> None:
        self._changed.wait(timeout)
        self._changed.clear()

    # --- live configuration -------------------------------------------------

    def limits(self) -> Limits:
        """N from the ConfigMap (refreshed at most every ``refresh`` s), with the static caps."""
        now = time.monotonic()
        if now >= self._next_refresh:
            self._next_refresh = now + self.refresh
            self._refresh_limit()
        ex = self.settings.executor
        return Limits(total=self.live.value, per_owner=ex.per_owner, per_sandbox=ex.per_sandbox)

    def _refresh_limit(self) -> None:
        name = self.settings.kubernetes.limit_config_map
        try:
            data = self.kube.config_map(name)
        except ImporterError as exc:
            log.warning("cannot read ConfigMap %s: %s (keeping N=%d)", name, exc, self.live.value)
            self.observer.limit_refreshed(LIMIT_ERROR)
            return
        self._config = data or {}
        update = self.live.update(None if data is None else data.get(self.settings.kubernetes.limit_key))
        # Counted per new value (LiveLimit answers a repeated raw value as unchanged), like the Event.
        if update.changed or update.problem:
            self.observer.limit_refreshed(LIMIT_INVALID if update.problem else LIMIT_OK)
        if update.changed:
            log.info("parallelism is now %d", update.value)
        if update.problem:
            log.warning("ConfigMap %s: %s", name, update.problem)
            self._warn(kind="ConfigMap", name=name, uid="", reason="InvalidParallelism", message=update.problem)

    def _template(self) -> str:
        return self._config.get(self.settings.kubernetes.template_key) or self._shipped_template
