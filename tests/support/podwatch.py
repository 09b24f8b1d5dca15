"""Every state the pods of one namespace go through, from a watch in a thread: how
many import pods were live at once, how each container ended, and the specs the
pods really had (Jobs and their pods are deleted once reported)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, watch

__all__ = ["Ended", "PodWatch"]

IMPORT = "import"
_LIVE = ("Pending", "Running")


@dataclass(frozen=True)
class Ended:
    """A container's terminated state (``last`` when it came from ``lastState``, i.e. a restart)."""

    pod: str
    container: str
    exit_code: int
    reason: str
    last: bool = False


@dataclass
class PodWatch:
    api: client.ApiClient
    namespace: str
    specs: dict[str, Any] = field(default_factory=dict)  # pod name -> spec as the apiserver returned it
    ended: set[Ended] = field(default_factory=set)
    live_imports: list[int] = field(default_factory=list)  # after each event
    restarts: dict[tuple[str, str], int] = field(default_factory=dict)
    seen: dict[str, dict[str, float]] = field(default_factory=dict)  # pod -> phase -> monotonic time first seen
    live_at: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, live import pods)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._phase: dict[str, str] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> PodWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def mark(self) -> int:
        """A position in :attr:`live_imports`, to look at what came after it."""
        with self._lock:
            return len(self.live_imports)

    def most_live_imports(self, *, since: int = 0, until: int | None = None) -> int:
        with self._lock:
            return max(self.live_imports[since:until], default=0)

    def component(self, pod: str) -> str:
        return str(self.specs.get(pod, {}).get("component", ""))

    def _run(self) -> None:
        core = client.CoreV1Api(self.api)
        version = ""
        while not self._stop.is_set():
            try:
                for event in watch.Watch().stream(
                    core.list_namespaced_pod,
                    self.namespace,
                    resource_version=version,
                    timeout_seconds=5,
                    _request_timeout=15,
                ):
                    pod = event["object"]
                    version = pod.metadata.resource_version
                    self._note(event["type"], pod)
            except Exception as exc:  # a broken watch is listed again from scratch
                self.errors.append(repr(exc))
                version = ""
                self._stop.wait(1)

    def _note(self, kind: str, pod: Any) -> None:
        name = pod.metadata.name
        labels = pod.metadata.labels or {}
        now = time.monotonic()
        with self._lock:
            self.seen.setdefault(name, {}).setdefault(pod.status.phase or "Pending", now)
            self.specs.setdefault(name, {"component": labels.get("app.kubernetes.io/component", ""), "spec": pod.spec})
            statuses = [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]
            for status in statuses:
                self.restarts[(name, status.name)] = status.restart_count
                for state, last in ((status.state, False), (status.last_state, True)):
                    done = state.terminated if state is not None else None
                    if done is not None:
                        self.ended.add(Ended(name, status.name, done.exit_code, done.reason or "", last))
            live = kind != "DELETED" and pod.metadata.deletion_timestamp is None and pod.status.phase in _LIVE
            self._phase[name] = pod.status.phase if live else "gone"
            if labels.get("app.kubernetes.io/component") == IMPORT:
                count = sum(
                    1
                    for pod_name, phase in self._phase.items()
                    if phase in _LIVE and self.specs[pod_name]["component"] == IMPORT
                )
                self.live_imports.append(count)
                self.live_at.append((now, count))
