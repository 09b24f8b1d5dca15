"""A test-only node runtime: a kubelet stand-in that really runs pods as local processes.

It registers a Ready Node and, for every pod bound to it:

* prepares its volumes under a private directory: emptyDir, persistentVolumeClaim
  (resolved to the PV's hostPath), configMap, secret, downwardAPI and projected
  volumes (the service-account token comes from the TokenRequest API, the CA from
  the ``kube-root-ca.crt`` ConfigMap);
* runs each container (native sidecars first) as a process in a private mount
  namespace (``unshare --mount``) where the volumes (or their ``subPath``) are
  bind-mounted at their mount paths and ``/dev/termination-log`` is a per-container file; with the
  container's env (value, configMapKeyRef, secretKeyRef, fieldRef; ``status.podIP``
  is 127.0.0.1), ``$(VAR)`` references in command and args expanded from it as the
  kubelet does, its working directory, and ``KUBERNETES_SERVICE_HOST=127.0.0.1`` so in-cluster clients
  reach the apiserver on loopback;
* reports phase, container states, exit codes and termination messages as a
  kubelet would;
* restarts a container whose process ended as a kubelet does: any container of a
  ``restartPolicy: Always`` pod, a failed one of an ``OnFailure`` pod, and native
  sidecars (init containers with ``restartPolicy: Always``) until the pod's main
  containers are done.  The first restart is immediate, the next ones wait a
  back-off that doubles from ``backoff[0]`` up to ``backoff[1]`` (the kubelet's
  10 s and 300 s, shortened for tests), shown as ``waiting: CrashLoopBackOff``; a
  container that ran twice the cap starts over.  ``restartCount`` and
  ``lastState`` are reported.  The other processes of a container die with its
  main process (its process group is killed, as a PID namespace's would be);
* kills processes when the pod is deleted (SIGTERM, then SIGKILL after the pod's
  deletion grace period, at least 2 s as the kubelet's; reporting them terminated
  and the pod Failed before it goes, as a kubelet does) or its
  ``activeDeadlineSeconds`` pass;
* knows its processes: every container runs in a session of its own and gets
  ``COPR_TEST_NODE_RUNTIME=<marker>`` in its environment; :meth:`NodeRuntime.processes`
  finds whatever is in one of those sessions or still carries the mark (children that
  left the container's process group or session too; a process that set its title
  reads an empty environment, but keeps its session).

Limits (it is not a container runtime): images are not pulled; each image name
maps to a local command (``images``); processes run as the test's user, so
``runAsUser``, ``readOnlyRootFilesystem``, capabilities, seccomp and resource
limits are admitted by the apiserver but not enforced; there is no network
namespace (pods share 127.0.0.1); probes are not run.
"""

from __future__ import annotations

import base64
import datetime
import os
import re
import shlex
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.support.processes import in_sessions, with_environment

__all__ = ["NodeRuntime"]

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
MARKER_VAR = "COPR_TEST_NODE_RUNTIME"
_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """The kubelet's ``$(VAR)`` expansion: unknown references stay as written, ``$$`` is ``$``."""
    return _VAR_REF.sub(lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


@dataclass
class _Container:
    name: str
    spec: Any
    process: subprocess.Popen[bytes]
    term_file: Path
    sidecar: bool
    started: str
    since: float = field(default_factory=time.monotonic)
    restarts: int = 0
    exit_code: int | None = None
    finished: str = ""
    restart_at: float | None = None  # monotonic time of the next start, while it is to restart
    backoff: float = 0.0  # the wait before the next restart after this one
    last: dict[str, Any] | None = None  # the previous instance's terminated state

    def terminated(self) -> dict[str, Any]:
        assert self.exit_code is not None
        return {
            "exitCode": self.exit_code,
            "reason": "Completed" if self.exit_code == 0 else "Error",
            "message": self.term_file.read_text()[:4096],
            "startedAt": self.started,
            "finishedAt": self.finished,
        }


@dataclass
class _Pod:
    uid: str
    name: str
    namespace: str
    dir: Path
    started: float
    spec: Any
    api: Any  # the pod object as it was started (env and volumes of restarts come from it)
    volumes: dict[str, Path] = field(default_factory=dict)
    containers: dict[str, _Container] = field(default_factory=dict)
    done: bool = False
    start_time: str = field(default_factory=lambda: _now())


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _exit_status(returncode: int) -> int:
    """A container's exit code as the kubelet reports it: 128 + the signal that ended it."""
    return returncode if returncode >= 0 else 128 - returncode


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


class NodeRuntime:
    def __init__(
        self,
        *,
        api: client.ApiClient,
        node: str,
        work: Path,
        images: dict[str, list[str]],
        apiserver_port: int,
        env: dict[str, str] | None = None,
        keep: tuple[Path, ...] = (),
        backoff: tuple[float, float] = (0.5, 5.0),
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.node = node
        self.work = work
        self.images = images
        self.apiserver_port = apiserver_port
        self.base_env = env or {}
        # Host paths the commands need (the checkout, its virtualenv): they stay visible
        # even under a volume mounted over a parent directory such as /tmp.
        self.keep = keep
        self.backoff = backoff
        self.marker = f"{node}-{uuid.uuid4().hex}"
        self.restarts: Counter[str] = Counter()  # container name -> restarts, over every pod
        self.ended: list[tuple[str, str, int]] = []  # (pod, container, exit code) of every container end
        # The sessions of containers (their main processes' pids) while a process is in them
        # (their numbers are free for reuse after that).  Replaced, not changed: other
        # threads read it.
        self.sessions: frozenset[int] = frozenset()
        self._pruned = 0.0
        self.pods: dict[str, _Pod] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="node-runtime", daemon=True)
        self.errors: list[str] = []

    # --- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        if not Path("/dev/termination-log").exists():
            Path("/dev/termination-log").touch()  # a mount point for per-container files
        body = client.V1Node(metadata=client.V1ObjectMeta(name=self.node, labels={"type": "local-runtime"}))
        try:
            self.core.create_node(body)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
        status = {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "test runtime",
                    "lastHeartbeatTime": _now(),
                    "lastTransitionTime": _now(),
                }
            ],
            "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"},
            "capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"},
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        }
        self.core.patch_node_status(self.node, {"status": status})
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for pod in list(self.pods.values()):
            self._kill(pod)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._reconcile()
                self._prune_sessions()
            except Exception as exc:
                self.errors.append(repr(exc))
            self._stop.wait(0.2)

    def _prune_sessions(self) -> None:
        """Forget sessions nobody is in any more, at least every second: a number is reused
        only after the kernel's pids went all the way round, which takes far longer."""
        if time.monotonic() - self._pruned < 1.0:
            return
        sessions = self.sessions
        held = set(in_sessions(set(sessions), zombies=True).values())
        self.sessions = self.sessions - (sessions - held)
        self._pruned = time.monotonic()

    # --- reconcile ----------------------------------------------------------

    def _reconcile(self) -> None:
        listed = self.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={self.node}").items
        seen = set()
        for pod in listed:
            uid = pod.metadata.uid
            seen.add(uid)
            if pod.metadata.deletion_timestamp is not None:
                self._remove(uid, pod)
                continue
            if uid not in self.pods:
                if pod.status.phase in (None, "Pending"):
                    self._start_pod(pod)
                continue
            self._check(self.pods[uid])
        for uid in set(self.pods) - seen:
            self._kill(self.pods.pop(uid))

    def _remove(self, uid: str, pod: Any) -> None:
        if uid in self.pods:
            state = self.pods.pop(uid)
            # SIGTERM, then SIGKILL after the deletion's grace period (the kubelet's minimum is 2 s).
            self._kill(state, grace=max(2, pod.metadata.deletion_grace_period_seconds or 0))
            if not state.done:
                # The kubelet reports the stopped containers and a terminal phase before the
                # pod goes: the job controller replaces a pod only once it is terminal (with a
                # pod failure policy), and a finalizer holds the pod object until then.
                for container in state.containers.values():
                    if container.exit_code is None:
                        container.exit_code = _exit_status(container.process.returncode)
                        container.finished = _now()
                        self.ended.append((state.name, container.name, container.exit_code))
                state.done = True
                self._report(state)
        try:  # what the kubelet does once the containers are gone
            self.core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
        except client.ApiException as exc:
            if exc.status != 404:
                raise

    def _kill(self, pod: _Pod, *, grace: float = 5.0) -> None:
        # Containers whose end was noted lost their processes then (_exited); a later killpg
        # could hit a new process group that reuses the number.
        live = [c for c in pod.containers.values() if c.exit_code is None]
        for container in pod.containers.values():
            container.restart_at = None
        for container in live:
            if container.process.poll() is None:
                _kill_group(container.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for container in live:
            try:
                container.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                container.process.kill()
                container.process.wait()
            # What is left of the container dies with it (its group's number stays taken while
            # any member lives, so this cannot reach another group).
            _kill_group(container.process.pid, signal.SIGKILL)

    # --- what runs ----------------------------------------------------------

    def container_pids(self, name: str) -> list[int]:
        """The main processes of the running containers called ``name``, in every pod."""
        return sorted(
            c.process.pid
            for pod in list(self.pods.values())
            for c in list(pod.containers.values())
            if c.name == name and c.exit_code is None and c.process.returncode is None  # poll() is the loop's
        )

    def pod_of(self, pid: int) -> tuple[str, str] | None:
        """(namespace, name) of the pod whose container's main process is ``pid``."""
        for pod in list(self.pods.values()):
            if any(c.process.pid == pid for c in list(pod.containers.values())):
                return pod.namespace, pod.name
        return None

    def processes(self) -> list[int]:
        """Every live process started for a container of this runtime (zombies excepted):
        those in a container's session, and those that carry the runtime's mark in their
        environment (which finds what started a session of its own, unless it also set
        its title)."""
        return sorted(set(in_sessions(set(self.sessions))) | set(with_environment(MARKER_VAR, self.marker)))

    def crash(self) -> int:
        """SIGKILL every process of every container at once, as a node's reboot or a crash
        of its container runtime does; returns how many were killed.  The runtime then
        does what a kubelet coming back does: containers that are to restart come back
        (with their back-off), the others are reported terminated with 137."""
        killed = 0
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        return killed

    # --- starting -----------------------------------------------------------

    def _start_pod(self, pod: Any) -> None:
        state = _Pod(
            pod.metadata.uid,
            pod.metadata.name,
            pod.metadata.namespace,
            self.work / pod.metadata.uid,
            time.monotonic(),
            pod.spec,
            pod,
        )
        state.dir.mkdir(parents=True, exist_ok=True)
        try:
            state.volumes = self._volumes(pod, state.dir / "volumes")
            sidecars = [c for c in pod.spec.init_containers or [] if c.restart_policy == "Always"]
            for spec in [*sidecars, *pod.spec.containers]:
                state.containers[spec.name] = self._run(state, spec, sidecar=spec in sidecars)
        except Exception as exc:
            self.errors.append(f"{pod.metadata.name}: {exc!r}")
            self._kill(state)
            self._status(
                pod.metadata.name,
                pod.metadata.namespace,
                {"phase": "Failed", "reason": "RuntimeError", "message": str(exc)[:500]},
            )
            return
        self.pods[state.uid] = state
        self._report(state)

    def _volumes(self, pod: Any, root: Path) -> dict[str, Path]:
        paths = {}
        for volume in pod.spec.volumes or []:
            target = root / volume.name
            if volume.persistent_volume_claim is not None:
                claim = self.core.read_namespaced_persistent_volume_claim(
                    volume.persistent_volume_claim.claim_name, pod.metadata.namespace
                )
                pv = self.core.read_persistent_volume(claim.spec.volume_name)
                paths[volume.name] = Path(pv.spec.host_path.path)
                paths[volume.name].mkdir(parents=True, exist_ok=True)
                continue
            target.mkdir(parents=True, exist_ok=True)
            if volume.config_map is not None:
                self._write_files(target, self._config_map(pod.metadata.namespace, volume.config_map.name))
            elif volume.secret is not None:
                self._write_files(target, self._secret(pod.metadata.namespace, volume.secret.secret_name))
            elif volume.projected is not None:
                for source in volume.projected.sources:
                    self._write_files(target, self._projected(pod, source))
            elif volume.downward_api is not None:
                self._write_files(
                    target, {i.path: self._field(pod, i.field_ref.field_path) for i in volume.downward_api.items}
                )
            paths[volume.name] = target
        return paths

    def _projected(self, pod: Any, source: Any) -> dict[str, str]:
        if source.service_account_token is not None:
            request = client.AuthenticationV1TokenRequest(
                spec=client.V1TokenRequestSpec(
                    audiences=[source.service_account_token.audience] if source.service_account_token.audience else [],
                    expiration_seconds=source.service_account_token.expiration_seconds or 3600,
                    bound_object_ref=client.V1BoundObjectReference(
                        kind="Pod", api_version="v1", name=pod.metadata.name, uid=pod.metadata.uid
                    ),
                )
            )
            token = self.core.create_namespaced_service_account_token(
                pod.spec.service_account_name, pod.metadata.namespace, request
            )
            return {source.service_account_token.path: token.status.token}
        if source.config_map is not None:
            data = self._config_map(pod.metadata.namespace, source.config_map.name)
            return {i.path: data[i.key] for i in source.config_map.items} if source.config_map.items else data
        if source.downward_api is not None:
            return {i.path: self._field(pod, i.field_ref.field_path) for i in source.downward_api.items}
        if source.secret is not None:
            data = self._secret(pod.metadata.namespace, source.secret.name)
            return {i.path: data[i.key] for i in source.secret.items} if source.secret.items else data
        return {}

    def _config_map(self, namespace: str, name: str) -> dict[str, str]:
        return dict(self.core.read_namespaced_config_map(name, namespace).data or {})

    def _secret(self, namespace: str, name: str) -> dict[str, str]:
        data = self.core.read_namespaced_secret(name, namespace).data or {}
        return {k: base64.b64decode(v).decode() for k, v in data.items()}

    @staticmethod
    def _field(pod: Any, path: str) -> str:
        values = {
            "metadata.name": pod.metadata.name,
            "metadata.namespace": pod.metadata.namespace,
            "metadata.uid": pod.metadata.uid,
            "spec.nodeName": pod.spec.node_name,
            "spec.serviceAccountName": pod.spec.service_account_name,
            "status.podIP": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
        }
        return values[path]

    @staticmethod
    def _write_files(folder: Path, files: dict[str, str]) -> None:
        for name, content in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(content)

    def _env(self, pod: Any, spec: Any) -> dict[str, str]:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": "/tmp",
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.apiserver_port),
            **self.base_env,
            MARKER_VAR: self.marker,
        }
        for var in spec.env or []:
            source = var.value_from
            if source is None:
                env[var.name] = var.value or ""
            elif source.config_map_key_ref is not None:
                ref = source.config_map_key_ref
                env[var.name] = self._config_map(pod.metadata.namespace, ref.name)[ref.key]
            elif source.secret_key_ref is not None:
                ref = source.secret_key_ref
                env[var.name] = self._secret(pod.metadata.namespace, ref.name)[ref.key]
            elif source.field_ref is not None:
                env[var.name] = self._field(pod, source.field_ref.field_path)
        return env

    def _run(self, state: _Pod, spec: Any, *, sidecar: bool) -> _Container:
        pod, volumes, pod_dir = state.api, state.volumes, state.dir
        if spec.image not in self.images:
            raise RuntimeError(f"no local command for image {spec.image}")
        env = self._env(pod, spec)
        argv = [expand(a, env) for a in spec.command or []] or list(self.images[spec.image])
        argv += [expand(a, env) for a in spec.args or []]
        term = pod_dir / f"{spec.name}.termination-log"
        term.write_text("")
        # The termination log first: a later mount over /tmp could hide its source.
        script = ["set -e", f"mount --bind {shlex.quote(str(term))} /dev/termination-log"]
        mounts = list(spec.volume_mounts or [])

        def source_of(mount: Any) -> Path:  # subPath: a directory inside the volume, made if missing
            if not mount.sub_path:
                return volumes[mount.name]
            folder = volumes[mount.name] / mount.sub_path
            folder.mkdir(parents=True, exist_ok=True)
            return folder

        sources = [str(source_of(m)) for m in mounts]

        def shadows(mount: Any) -> bool:  # e.g. /tmp over a source that lives under /tmp
            return any(src == mount.mount_path or src.startswith(mount.mount_path.rstrip("/") + "/") for src in sources)

        stash = f"/run/test-node-runtime/{pod.metadata.uid}/{spec.name}"
        for i, path in enumerate(self.keep):
            script.append(f"mkdir -p {stash}/{i} && mount --bind {shlex.quote(str(path))} {stash}/{i}")
        for mount in sorted(mounts, key=shadows):
            source = source_of(mount)
            script.append(f"mkdir -p {shlex.quote(mount.mount_path)}")
            script.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(mount.mount_path)}")
        for i, path in enumerate(self.keep):
            script.append(f"mkdir -p {shlex.quote(str(path))} && mount --bind {stash}/{i} {shlex.quote(str(path))}")
        if spec.working_dir:
            script.append(f"cd {shlex.quote(spec.working_dir)}")
        script.append('exec "$@"')
        log = open(pod_dir / f"{spec.name}.log", "ab")
        process = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(script), "sh", *argv],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.sessions |= {process.pid}
        return _Container(spec.name, spec, process, term, sidecar, _now())

    # --- watching -----------------------------------------------------------

    def _check(self, pod: _Pod) -> None:
        if pod.done:
            return
        changed = False
        deadline = pod.spec.active_deadline_seconds
        if deadline and time.monotonic() - pod.started > deadline:
            self._kill(pod)
            pod.done = True
            self._status(
                pod.name,
                pod.namespace,
                {
                    "phase": "Failed",
                    "reason": "DeadlineExceeded",
                    "message": "Pod was active on the node longer than allowed",
                },
            )
            return
        for container in pod.containers.values():
            code = container.process.poll()
            if code is not None and container.exit_code is None:
                self._exited(pod, container, code)
                changed = True
        if self._mains_done(pod) and pod.spec.restart_policy != "Always":
            for container in pod.containers.values():
                container.restart_at = None
                if container.sidecar and container.process.poll() is None:
                    _kill_group(container.process.pid, signal.SIGTERM)
                    container.process.wait(10)
                    container.exit_code, container.finished = 0, _now()
            pod.done = True
            changed = True
        else:
            now = time.monotonic()
            for container in list(pod.containers.values()):
                if container.restart_at is not None and now >= container.restart_at:
                    self._restart(pod, container)
                    changed = True
        if changed:
            self._report(pod)

    def _exited(self, pod: _Pod, container: _Container, code: int) -> None:
        """Note a container's end, and when it starts again if the kubelet would restart it."""
        container.exit_code, container.finished = _exit_status(code), _now()
        self.ended.append((pod.name, container.name, container.exit_code))
        _kill_group(container.process.pid, signal.SIGKILL)  # its other processes die with it
        policy = pod.spec.restart_policy or "Always"
        if not (container.sidecar or policy == "Always" or (policy == "OnFailure" and container.exit_code != 0)):
            return  # a sidecar's restart is undone in _check when the main containers are done
        initial, cap = self.backoff
        now = time.monotonic()
        if now - container.since >= 2 * cap:
            container.backoff = 0.0  # it ran long enough: its crash loop is forgotten
        container.restart_at = now + container.backoff
        container.backoff = min(cap, max(initial, 2 * container.backoff))

    def _restart(self, pod: _Pod, old: _Container) -> None:
        last = old.terminated()  # before the new instance empties the termination log
        try:
            new = self._run(pod, old.spec, sidecar=old.sidecar)
        except Exception as exc:  # e.g. a ConfigMap gone: tried again after the next back-off
            self.errors.append(f"{pod.name}/{old.name}: restart: {exc!r}")
            old.restart_at = time.monotonic() + old.backoff
            return
        new.restarts, new.backoff, new.last = old.restarts + 1, old.backoff, last
        pod.containers[old.name] = new
        self.restarts[old.name] += 1

    @staticmethod
    def _mains_done(pod: _Pod) -> bool:
        return all(c.exit_code is not None and c.restart_at is None for c in pod.containers.values() if not c.sidecar)

    def _report(self, pod: _Pod) -> None:
        statuses = []
        for c in pod.containers.values():
            if c.exit_code is None:
                state: dict[str, Any] = {"running": {"startedAt": c.started}}
            elif c.restart_at is not None:
                wait = max(0, round(c.restart_at - time.monotonic()))
                message = f"back-off {wait}s restarting failed container={c.name} pod={pod.name}"
                state = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
            else:
                state = {"terminated": c.terminated()}
            statuses.append(
                {
                    "name": c.name,
                    "state": state,
                    "lastState": {"terminated": c.last} if c.last else {},
                    "ready": c.exit_code is None,
                    "restartCount": c.restarts,
                    "image": "local",
                    "imageID": "local",
                    "started": c.exit_code is None,
                }
            )
        mains = [c for c in pod.containers.values() if not c.sidecar]
        if pod.done:
            phase = "Succeeded" if all(c.exit_code == 0 for c in mains) else "Failed"
        else:
            phase = "Running"
        running = all(c.exit_code is None for c in pod.containers.values())
        ready = "True" if phase == "Running" and running else "False"
        self._status(
            pod.name,
            pod.namespace,
            {
                "phase": phase,
                "podIP": "127.0.0.1",
                "podIPs": [{"ip": "127.0.0.1"}],
                "hostIP": "127.0.0.1",
                "startTime": pod.start_time,
                "containerStatuses": [s for s in statuses if s["name"] in {c.name for c in pod.spec.containers}],
                "initContainerStatuses": [
                    s for s in statuses if s["name"] not in {c.name for c in pod.spec.containers}
                ],
                "conditions": [
                    {"type": "Ready", "status": ready, "lastTransitionTime": _now()},
                    {"type": "ContainersReady", "status": ready, "lastTransitionTime": _now()},
                    {"type": "Initialized", "status": "True", "lastTransitionTime": _now()},
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": _now()},
                ],
            },
        )

    def _status(self, name: str, namespace: str, status: dict[str, Any]) -> None:
        try:
            self.core.patch_namespaced_pod_status(name, namespace, {"status": status})
        except client.ApiException as exc:
            if exc.status != 404:
                raise
