"""The Kubernetes executor: each import step runs as a Job, at most N at a time.

* The view of the cluster comes from two reflectors (list, then watch from the
  list's resourceVersion with bookmarks and client-side timeouts, relisting on
  410): one for the Jobs, one for their pods.  Running imports are counted from
  that view, never from a counter of our own; a Job just created counts at once
  and is confirmed by the watch.
* The pods give the outcome early.  The job controller marks a Job finished about
  a second after its pod ended (it batches pod updates), so a pod that succeeded,
  or failed with the bad-input exit code (which the pod failure policy turns into
  FailJob), decides the import at once and frees its slot.  Any other pod failure
  waits for the Job, which may retry.
* ``start`` renders the task's Job and creates it; 409 means the Job exists
  (a restarted controller) and is adopted.
* A decided import becomes an :class:`Outcome` once (succeeded: 0; FailJob by the
  pod failure policy: bad input; deadline or backoff: transient), gets an Event
  when it failed, and its Job is then deleted with propagation Background.  Finished
  Jobs still present after a restart are therefore exactly the unreported ones.
* N comes from a ConfigMap key through :class:`LiveLimit`, re-read every
  ``refresh`` seconds; an invalid value keeps the last good one and posts a
  Warning Event on the ConfigMap.  The Job template and the job image may be
  replaced in the same ConfigMap; new Jobs use what was read last.
* Fail safe: until both lists succeeded and a valid N was read, N is 0 and the
  ``cluster`` problem says why (the apiserver cannot be reached, RBAC refuses the
  ConfigMap, the key is missing): no Job is started on a guess, and no transient
  API error ends the process; the lists and the ConfigMap are tried again.
"""

from __future__ import annotations

import logging
import threading
import time

from ..adapters.jobtemplate import default_template
from ..adapters.kube import Conflict, JobState, Kube, PodState
from ..core.admission import Limits
from ..core.jobspec import live_job_settings, render_job
from ..core.livelimit import LiveLimit
from ..core.observer import CLUSTER, LIMIT_ERROR, LIMIT_INVALID, LIMIT_OK, Observer
from ..core.task import ImportTask
from ..errors import ImporterError
from ..settings import Settings
from .importstep import EXIT_BAD_INPUT, EXIT_OK, EXIT_TRANSIENT
from .localexec import Outcome
from .reflector import Reflector

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
        self.live = LiveLimit(0)  # no Job until a valid N was read
        self._issues: dict[str, str] = {}  # what keeps N at 0 or the view stale, by source
        self._limit_error = ""  # the last ConfigMap read error, logged once
        self._jobs: dict[int, JobState] = {}
        self._ended: dict[int, PodState] = {}  # the latest pod of each import that ended
        self._tasks: dict[int, ImportTask] = {}
        self._reported: set[int] = set()  # outcome handed out, or canceled: the slot is free
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._next_refresh = 0.0
        self._config: dict[str, str] = {}  # the ConfigMap's data at the last refresh
        self._shipped_template = default_template()  # read once, not per Job
        timeout = settings.kubernetes.watch_timeout
        self._reflectors: tuple[Reflector[JobState], Reflector[PodState]] = (
            Reflector(
                name="job",
                lister=kube.list_jobs,
                watcher=lambda version: kube.watch_jobs(resource_version=version, timeout=timeout),
                reset=self._reset_jobs,
                apply=self._apply_job,
                broken=self._jobs_broken,
            ),
            Reflector(
                name="pod",
                lister=kube.list_pods,
                watcher=lambda version: kube.watch_pods(resource_version=version, timeout=timeout),
                reset=self._reset_pods,
                apply=self._apply_pod,
                broken=lambda why: self._issue("pods", why),
            ),
        )

    # --- cluster view -------------------------------------------------------

    def open(self, *, block: bool = True) -> None:
        """List once (with ``block``, so the first tick sees adopted Jobs and their pods), then
        watch in the background.  Never raises for the cluster: a list that fails is tried
        again in the background, and until it works N is 0."""
        for reflector in self._reflectors:
            reflector.open(block=block)

    def close(self) -> None:
        for reflector in self._reflectors:
            reflector.close()

    def _issue(self, source: str, why: str | None) -> None:
        """Open (``why``) or close (None) one reason for the ``cluster`` problem."""
        with self._lock:
            before = "; ".join(self._issues.values()) or None
            if why is None:
                self._issues.pop(source, None)
            else:
                self._issues[source] = why
            after = "; ".join(self._issues.values()) or None
        if after != before:
            self.observer.problem(CLUSTER, reason=after)

    def _jobs_broken(self, why: str) -> None:
        self.observer.cluster_synced(False)
        self._issue("jobs", why)

    def _reset_jobs(self, states: list[JobState]) -> None:
        with self._lock:
            self._jobs = {s.build_id: s for s in states}
        self._changed.set()
        self.observer.cluster_synced(True)
        self._issue("jobs", None)

    def _apply_job(self, kind: str, state: JobState) -> None:
        with self._lock:
            if kind == "DELETED":
                self._jobs.pop(state.build_id, None)
                self._reported.discard(state.build_id)
                self._tasks.pop(state.build_id, None)
            else:
                self._jobs[state.build_id] = state
        self._changed.set()

    def _reset_pods(self, pods: list[PodState]) -> None:
        with self._lock:
            self._ended = {}
            for pod in pods:
                self._note_ended(pod)
        self._changed.set()
        self._issue("pods", None)

    def _apply_pod(self, kind: str, pod: PodState) -> None:
        with self._lock:
            if kind == "DELETED":
                if pod.build_id not in self._jobs:  # late events of a Job already gone
                    self._ended.pop(pod.build_id, None)
                return
            self._note_ended(pod)
        self._changed.set()

    def _note_ended(self, pod: PodState) -> None:
        """Keep the latest ended pod of each import; one that decided it is never replaced."""
        if pod.phase not in ("Succeeded", "Failed"):
            return
        known = self._ended.get(pod.build_id)
        if known is None or not _decides(known):
            self._ended[pod.build_id] = pod

    def _decided(self, state: JobState) -> bool:
        pod = self._ended.get(state.build_id)
        return state.finished or (pod is not None and _decides(pod))

    # --- executor interface -------------------------------------------------

    def start(self, task: ImportTask) -> None:
        template = self._template()
        job = live_job_settings(self.settings.job, config=self._config, image_key=self.settings.kubernetes.image_key)
        body = render_job(task, template=template, namespace=self.kube.namespace, job=job)
        try:
            self.kube.create_job(body)
        except Conflict:
            log.info("job for build %d exists already; adopting it", task.build_id)
        provisional = JobState(body["metadata"]["name"], "", task.build_id, {}, 1, False, False, "")
        with self._lock:
            self._tasks[task.build_id] = task
            self._jobs.setdefault(task.build_id, provisional)

    def running(self) -> list[ImportTask]:
        """Imports that hold a slot: every Job whose outcome :meth:`poll` has not handed out, nor canceled.

        A decided Job keeps its slot until then: the watch may decide it between the
        controller's ``poll`` and its dispatch, and the task must not look free to
        start again.
        """
        with self._lock:
            return [self._task_for(s) for s in self._jobs.values() if s.build_id not in self._reported]

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
            done = [
                (s, self._ended.get(s.build_id))
                for s in self._jobs.values()
                if s.build_id not in self._reported and self._decided(s)
            ]
            self._reported.update(s.build_id for s, _ in done)
        outcomes = [self._outcome(state, pod=pod) for state, pod in done]
        for state, _ in done:
            try:
                self.kube.delete_job(state.name)
            except ImporterError as exc:
                log.warning("cannot delete job %s: %s", state.name, exc)
        return outcomes

    def _outcome(self, state: JobState, *, pod: PodState | None) -> Outcome:
        task = self._task_for(state)
        if state.succeeded or (pod is not None and pod.phase == "Succeeded"):
            return Outcome(task, EXIT_OK, "handed over", 0.0)
        message = (pod.message if pod is not None else "") or state.reason or "no termination message"
        reason = "PodFailurePolicy" if pod is not None and _decides(pod) else state.reason
        self._warn(kind="Job", name=state.name, uid=state.uid, reason="ImportFailed", message=f"{reason}: {message}")
        if reason == "PodFailurePolicy":
            return Outcome(task, EXIT_BAD_INPUT, message, 0.0)
        if reason == "DeadlineExceeded":
            limit = self.settings.job.active_deadline_seconds
            return Outcome(task, EXIT_TRANSIENT, f"import_timeout_exceeded: killed after {limit} s", 0.0)
        return Outcome(task, EXIT_TRANSIENT, f"job failed ({reason}): {message}", 0.0)

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
                self._reported.add(build_id)
        if state is None:
            return
        try:
            self.kube.delete_job(state.name)
        except ImporterError:
            with self._lock:
                self._reported.discard(build_id)  # still running: the controller tries again
            raise

    def wait(self, timeout: float) -> None:
        self._changed.wait(timeout)
        self._changed.clear()

    def wake(self) -> None:
        """End a :meth:`wait` now (a frontend call finished: the controller has work)."""
        self._changed.set()

    # --- live configuration -------------------------------------------------

    def limits(self) -> Limits:
        """N from the ConfigMap (refreshed at most every ``refresh`` s), with the static caps;
        N is 0 until a valid value was read and the Jobs and pods were listed."""
        now = time.monotonic()
        if now >= self._next_refresh:
            self._next_refresh = now + self.refresh
            self._refresh_limit()
        ex = self.settings.executor
        listed = all(reflector.listed for reflector in self._reflectors)
        total = self.live.value if self.live.known and listed else 0
        return Limits(total=total, per_owner=ex.per_owner, per_sandbox=ex.per_sandbox)

    def _refresh_limit(self) -> None:
        name = self.settings.kubernetes.limit_config_map
        try:
            data = self.kube.config_map(name)
        except ImporterError as exc:
            self.observer.limit_refreshed(LIMIT_ERROR)
            self._limit_unread(f"cannot read ConfigMap {name}: {exc}")
            return
        self._config = data or {}
        if data is None and not self.live.known:
            self._limit_unread(f"ConfigMap {name} not found")
            return
        self._limit_error = ""
        known = self.live.known
        update = self.live.update(None if data is None else data.get(self.settings.kubernetes.limit_key))
        if self.live.known:
            self._issue("limit", None)
            if not known:
                log.info("parallelism N = %d, from ConfigMap %s", update.value, name)
        elif update.problem:
            self._issue("limit", f"ConfigMap {name}: {update.problem}; starting no Job until N is known")
        # Counted per new value (LiveLimit answers a repeated raw value as unchanged), like the Event.
        if update.changed or update.problem:
            self.observer.limit_refreshed(LIMIT_INVALID if update.problem else LIMIT_OK)
        if update.changed and known:
            log.info("parallelism is now %d", update.value)
        if update.problem:
            log.warning("ConfigMap %s: %s", name, update.problem)
            self._warn(kind="ConfigMap", name=name, uid="", reason="InvalidParallelism", message=update.problem)

    def _limit_unread(self, why: str) -> None:
        if why != self._limit_error:  # once per distinct error, not every second
            log.warning("%s (%s)", why, f"keeping N={self.live.value}" if self.live.known else "starting no Job")
            self._limit_error = why
        if not self.live.known:
            self._issue("limit", f"{why}; starting no Job until N is known")

    def _template(self) -> str:
        return self._config.get(self.settings.kubernetes.template_key) or self._shipped_template


def _decides(pod: PodState) -> bool:
    """A pod decides its import when it succeeded, or failed with the bad-input exit code (FailJob)."""
    return pod.phase == "Succeeded" or (pod.phase == "Failed" and pod.exit_code == EXIT_BAD_INPUT)
