"""The Kubernetes API: the only module that imports the official client.

It exposes the few calls the controller needs and speaks plain values
(:class:`JobState`, :class:`PodState`, dicts), so a change of client touches one
file.  Jobs and their pods are listed and watched the same way: objects without
our build-id label become ``None``.  API errors
are mapped onto the exception tree: 409 is :class:`Conflict` (create means
adopt), 410 is :class:`Expired` (list again), 5xx and 429 are transient, other
4xx permanent.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from ..core.jobspec import BUILD_ID_LABEL, MANAGED_SELECTOR
from ..errors import ConfigError, ImporterError, PermanentError, TransientError

__all__ = ["Conflict", "Expired", "JobState", "Kube", "PodState", "WatchEvent"]


T = TypeVar("T")
# (event type, the object's state or None for a bookmark or a foreign object, resourceVersion)
WatchEvent = tuple[str, T | None, str]


class Conflict(ImporterError):
    """The object exists already (HTTP 409)."""


class Expired(ImporterError):
    """The watch's resourceVersion is too old (HTTP 410): list again."""


def _mapped(exc: ApiException) -> ImporterError:
    status = exc.status or 0
    if status == 409:
        return Conflict(exc.reason or "conflict")
    if status == 410:
        return Expired(exc.reason or "gone")
    if status >= 500 or status in (0, 429):
        return TransientError(f"Kubernetes API: {status} {exc.reason}")
    return PermanentError(f"Kubernetes API: {status} {exc.reason}: {_server_message(exc)}", code="kubernetes_refused")


def _server_message(exc: ApiException) -> str:
    """The message of the server's Status object (what ``kubectl`` shows), else the raw body."""
    try:
        status = json.loads(exc.body or "")
    except (TypeError, ValueError):
        status = None
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"])
    return f"{exc.body!s:.300}"


@dataclass(frozen=True, slots=True)
class JobState:
    """What the controller needs to know about one of its Jobs."""

    name: str
    uid: str
    build_id: int
    annotations: dict[str, str]
    active: int
    finished: bool
    succeeded: bool
    reason: str  # the Failed condition's reason, e.g. PodFailurePolicy, DeadlineExceeded


@dataclass(frozen=True, slots=True)
class PodState:
    """An import pod, as far as its outcome goes."""

    name: str
    build_id: int
    phase: str  # Pending, Running, Succeeded, Failed, Unknown
    exit_code: int | None  # the first terminated container's, once there is one
    message: str  # its termination message


def _build_id(obj: Any) -> int | None:
    raw_id = (obj.metadata.labels or {}).get(BUILD_ID_LABEL, "")
    return int(raw_id) if raw_id.isdigit() else None


def _pod_state(pod: Any) -> PodState | None:
    build_id = _build_id(pod)
    if build_id is None:
        return None
    exit_code, message = None, ""
    for status in pod.status.container_statuses or []:
        terminated = status.state.terminated if status.state else None
        if terminated is not None:
            exit_code, message = terminated.exit_code, str(terminated.message or "")
            break
    return PodState(pod.metadata.name, build_id, pod.status.phase or "Unknown", exit_code, message)


def _job_state(job: Any) -> JobState | None:
    build_id = _build_id(job)
    if build_id is None:
        return None
    status = job.status
    conditions = {c.type: c for c in (status.conditions or []) if c.status == "True"}
    failed = conditions.get("Failed")
    return JobState(
        name=job.metadata.name,
        uid=job.metadata.uid,
        build_id=build_id,
        annotations=dict(job.metadata.annotations or {}),
        active=status.active or 0,
        finished="Complete" in conditions or failed is not None,
        succeeded="Complete" in conditions,
        reason=(failed.reason or "") if failed is not None else "",
    )


class Kube:
    """Namespaced calls for the controller."""

    def __init__(self, *, namespace: str, api_client: client.ApiClient | None = None) -> None:
        self.namespace = namespace
        self.api_client = api_client or client.ApiClient()
        self.batch = client.BatchV1Api(self.api_client)
        self.core = client.CoreV1Api(self.api_client)
        self.requests = 0

    @classmethod
    def connect(cls, *, namespace: str, kubeconfig: str | None = None) -> Kube:
        """In-cluster credentials when running in a pod, else the kubeconfig."""
        if kubeconfig is None:
            try:
                config.load_incluster_config()
                return cls(namespace=namespace)
            except config.ConfigException:
                pass
        try:
            api_client = config.new_client_from_config(config_file=kubeconfig)
        except (config.ConfigException, OSError) as exc:
            raise ConfigError(
                f"no usable Kubernetes credentials ({kubeconfig or 'in-cluster, then ~/.kube/config'}): {exc}"
            ) from exc
        return cls(namespace=namespace, api_client=api_client)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        try:
            return fn(*args, _request_timeout=(10, 30), **kwargs)
        except ApiException as exc:
            raise _mapped(exc) from None
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            raise TransientError(f"Kubernetes API unreachable: {exc}") from exc

    def list_jobs(self) -> tuple[list[JobState], str]:
        return self._list(self.batch.list_namespaced_job, _job_state)

    def list_pods(self) -> tuple[list[PodState], str]:
        return self._list(self.core.list_namespaced_pod, _pod_state)

    def watch_jobs(self, *, resource_version: str, timeout: int) -> Iterator[WatchEvent[JobState]]:
        """Yield (event type, state, resourceVersion) until the server ends the watch."""
        lister = self.batch.list_namespaced_job
        return self._watch(lister, _job_state, resource_version=resource_version, timeout=timeout)

    def watch_pods(self, *, resource_version: str, timeout: int) -> Iterator[WatchEvent[PodState]]:
        lister = self.core.list_namespaced_pod
        return self._watch(lister, _pod_state, resource_version=resource_version, timeout=timeout)

    def _list(self, lister: Any, convert: Callable[[Any], T | None]) -> tuple[list[T], str]:
        result = self._call(lister, self.namespace, label_selector=MANAGED_SELECTOR)
        states = [s for s in (convert(item) for item in result.items) if s is not None]
        return states, result.metadata.resource_version

    def _watch(
        self, lister: Any, convert: Callable[[Any], T | None], *, resource_version: str, timeout: int
    ) -> Iterator[WatchEvent[T]]:
        self.requests += 1
        stream = watch.Watch().stream(
            lister,
            self.namespace,
            label_selector=MANAGED_SELECTOR,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout,
            _request_timeout=(10, timeout + 10),  # client-side guard against a silent stream
        )
        try:
            for event in stream:
                kind, obj = event["type"], event["object"]
                if kind == "ERROR":
                    code = obj.get("code") if isinstance(obj, dict) else None
                    raise Expired("watch expired") if code == 410 else TransientError(f"watch error: {obj}")
                if kind == "BOOKMARK":
                    # The client does not deserialize bookmarks: the object is a plain dict.
                    meta = obj.get("metadata", {}) if isinstance(obj, dict) else obj.metadata.to_dict()
                    yield kind, None, str(meta.get("resourceVersion") or meta.get("resource_version"))
                    continue
                yield kind, convert(obj), obj.metadata.resource_version
        except ApiException as exc:
            raise _mapped(exc) from None
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            raise TransientError(f"watch interrupted: {exc}") from exc

    def create_job(self, body: dict[str, Any], *, dry_run: bool = False) -> None:
        extra = {"dry_run": "All"} if dry_run else {}
        self._call(self.batch.create_namespaced_job, self.namespace, body, **extra)

    def dry_run_job(self, body: dict[str, Any]) -> list[str]:
        """Have the server validate and admit ``body`` without persisting it; return its warnings."""
        _, _, headers = self._call(self.batch.create_namespaced_job_with_http_info, self.namespace, body, dry_run="All")
        return _warnings(headers.get("Warning", "") if headers else "")

    def delete_job(self, name: str) -> None:
        options = client.V1DeleteOptions(propagation_policy="Background")
        try:
            self._call(self.batch.delete_namespaced_job, name, self.namespace, body=options)
        except PermanentError as exc:
            if "404" not in str(exc):
                raise

    def config_map(self, name: str) -> dict[str, str] | None:
        try:
            cm = self._call(self.core.read_namespaced_config_map, name, self.namespace)
        except PermanentError as exc:
            if "404" in str(exc):
                return None
            raise
        return dict(cm.data or {})

    def patch_config_map(self, name: str, *, data: dict[str, str]) -> dict[str, str]:
        """Merge ``data`` into the ConfigMap's data (other keys untouched); return the data now stored."""
        cm = self._call(self.core.patch_namespaced_config_map, name, self.namespace, {"data": data})
        return dict(cm.data or {})

    def post_event(self, *, kind: str, name: str, uid: str, reason: str, message: str, warning: bool) -> None:
        now = datetime.datetime.now(datetime.UTC)
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{name}.", namespace=self.namespace),
            involved_object=client.V1ObjectReference(
                kind=kind,
                name=name,
                namespace=self.namespace,
                uid=uid,
                api_version="batch/v1" if kind == "Job" else "v1",
            ),
            reason=reason,
            message=message[:1000],
            type="Warning" if warning else "Normal",
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            source=client.V1EventSource(component="copr-importer-controller"),
        )
        self._call(self.core.create_namespaced_event, self.namespace, event)


def _warnings(header: str) -> list[str]:
    """The texts of an HTTP ``Warning`` header (RFC 7234: ``299 - "text"``, comma-joined when several)."""
    texts = []
    for part in header.split('299 - "')[1:]:
        texts.append(part.rstrip().rstrip(",").rstrip().removesuffix('"').replace('\\"', '"'))
    return texts
