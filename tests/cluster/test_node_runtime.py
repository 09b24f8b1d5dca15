"""The test node runtime restarts containers as a kubelet does (``tests/support/noderuntime.py``):
a container of a ``restartPolicy: Always`` pod and a native sidecar come back after their
process died, with ``restartCount``, ``lastState`` and a crash-loop back-off in the pod's
status; what a container started dies with it; nothing of a pod outlives it."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import ControlPlane
from tests.support.noderuntime import NodeRuntime
from tests.support.processes import alive, children, title
from tests.support.waiting import wait_until

pytestmark = pytest.mark.cluster

NODE = "local-node-0"
IMAGE = "local/shell:1"
EXIT_KILLED = 128 + signal.SIGKILL


@pytest.fixture
def node(control_plane: ControlPlane, tmp_path: Path) -> Iterator[NodeRuntime]:
    # A long back-off, so that the crash loop's waiting state lasts long enough to be seen.
    runtime = NodeRuntime(
        api=control_plane.api(),
        node=NODE,
        work=tmp_path / "node",
        images={IMAGE: ["sleep", "600"]},
        apiserver_port=control_plane.apiserver_port,
        keep=(Path(sys.prefix),),
        backoff=(5.0, 5.0),
    )
    runtime.start()
    try:
        yield runtime
    finally:
        runtime.stop()
        control_plane.kubectl("delete", "node", NODE, "--wait=false")


def container(name: str, script: str, **extra: Any) -> dict[str, Any]:
    """A container running ``sh -c script``, within the restricted Pod Security Standard."""
    return {
        "name": name,
        "image": IMAGE,
        "command": ["sh", "-c", script],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        **extra,
    }


def create_pod(plane: ControlPlane, namespace: str, name: str, *, restart: str, **spec: Any) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "nodeName": NODE,
            "restartPolicy": restart,
            "serviceAccountName": "copr-importer-job",
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            **spec,
        },
    }
    plane.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(pod))


def status_of(plane: ControlPlane, namespace: str, pod: str, name: str) -> dict[str, Any]:
    """The container status ``name`` of ``pod``, init containers included ({} until reported)."""
    status = yaml.safe_load(plane.kubectl("get", "pod", "-n", namespace, pod, "-o", "yaml")).get("status", {})
    for each in [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]:
        if each["name"] == name:
            return dict(each)
    return {}


def phase_of(plane: ControlPlane, namespace: str, pod: str) -> str:
    return plane.kubectl("get", "pod", "-n", namespace, pod, "-o", "jsonpath={.status.phase}")


def one_pid(runtime: NodeRuntime, name: str) -> int:
    wait_until(lambda: len(runtime.container_pids(name)) == 1, timeout=60, what=f"container {name} to run")
    (pid,) = runtime.container_pids(name)
    return pid


def restarted_after_kill(plane: ControlPlane, namespace: str, pod: str, name: str) -> dict[str, Any]:
    """The status of container ``name`` once it came back from its SIGKILL (restartCount 1)."""
    wait_until(
        lambda: status_of(plane, namespace, pod, name).get("restartCount") == 1,
        timeout=60,
        what=f"{pod}/{name} to restart",
    )
    status = status_of(plane, namespace, pod, name)
    assert status["lastState"]["terminated"]["exitCode"] == EXIT_KILLED, status
    return status


def test_an_always_pod_s_container_comes_back_after_a_kill_and_a_crash_loop_backs_off(
    control_plane: ControlPlane, namespace: str, node: NodeRuntime
) -> None:
    create_pod(
        control_plane,
        namespace,
        "always",
        restart="Always",
        containers=[container("main", "sleep 600 & exec sleep 600"), container("crash", "exit 3")],
    )
    first = one_pid(node, "main")
    wait_until(lambda: bool(children(first)), timeout=30, what="the container's background child")
    (child,) = children(first)
    os.kill(first, signal.SIGKILL)
    main = restarted_after_kill(control_plane, namespace, "always", "main")
    assert "running" in main["state"], main
    assert one_pid(node, "main") != first
    wait_until(lambda: not alive(child), timeout=30, what="the killed container's child to die with it")

    # "exit 3" at once, every time: restarted at once the first time, then after the back-off.
    wait_until(
        lambda: (
            status_of(control_plane, namespace, "always", "crash").get("state", {}).get("waiting", {}).get("reason")
            == "CrashLoopBackOff"
        ),
        timeout=60,
        what="the crash loop's back-off",
    )
    crash = status_of(control_plane, namespace, "always", "crash")
    assert crash["restartCount"] >= 1 and crash["lastState"]["terminated"]["exitCode"] == 3, crash
    wait_until(
        lambda: status_of(control_plane, namespace, "always", "crash").get("restartCount", 0) >= 2,
        timeout=60,
        what="a restart after the back-off",
    )
    assert phase_of(control_plane, namespace, "always") == "Running"

    control_plane.kubectl("delete", "pod", "-n", namespace, "always", "--wait=true", "--timeout=60s")
    wait_until(lambda: not node.processes(), timeout=30, what="no process of the pod left")


def test_a_native_sidecar_comes_back_while_the_main_container_runs_and_stops_with_it(
    control_plane: ControlPlane, namespace: str, node: NodeRuntime, tmp_path: Path
) -> None:
    done = tmp_path / "done"
    create_pod(
        control_plane,
        namespace,
        "job-like",
        restart="Never",
        initContainers=[container("sidecar", "exec sleep 600", restartPolicy="Always")],
        containers=[container("main", f"while [ ! -e {done} ]; do sleep 0.2; done")],
    )
    first = one_pid(node, "sidecar")
    os.kill(first, signal.SIGKILL)
    restarted_after_kill(control_plane, namespace, "job-like", "sidecar")
    assert status_of(control_plane, namespace, "job-like", "main")["restartCount"] == 0
    assert one_pid(node, "sidecar") != first

    done.touch()  # the main container ends: the pod is done, its sidecar stopped, not restarted
    wait_until(lambda: phase_of(control_plane, namespace, "job-like") == "Succeeded", timeout=60, what="Succeeded")
    wait_until(lambda: not node.processes(), timeout=30, what="no process of the pod left")
    assert status_of(control_plane, namespace, "job-like", "sidecar")["restartCount"] == 1


def test_a_node_crash_kills_every_process_and_the_runtime_comes_back_as_a_kubelet_does(
    control_plane: ControlPlane, namespace: str, node: NodeRuntime
) -> None:
    # A process that set its title reads an empty environment in /proc: found by its session.
    titled = "import setproctitle, time; setproctitle.setproctitle('titled'); time.sleep(600)"
    create_pod(
        control_plane,
        namespace,
        "service",
        restart="Always",
        containers=[
            container("server", "exec sleep 600"),
            container("titled", f'exec {sys.executable} -c "{titled}"'),
        ],
    )
    create_pod(
        control_plane, namespace, "once", restart="Never", containers=[container("step", "sleep 600 & exec sleep 600")]
    )
    server, step, retitled = one_pid(node, "server"), one_pid(node, "step"), one_pid(node, "titled")
    wait_until(lambda: bool(children(step)), timeout=30, what="the step's background child")
    (child,) = children(step)
    wait_until(lambda: title(retitled) == "titled", timeout=60, what="the process's new title")

    assert node.crash() == 4
    wait_until(lambda: not any(map(alive, (server, step, child, retitled))), timeout=30, what="every process killed")
    # The Always pod's container comes back; the Never pod's ends Failed with 137.
    restarted_after_kill(control_plane, namespace, "service", "server")
    restarted_after_kill(control_plane, namespace, "service", "titled")
    assert one_pid(node, "server") != server
    wait_until(lambda: phase_of(control_plane, namespace, "once") == "Failed", timeout=60, what="the step's pod Failed")
    step_status = status_of(control_plane, namespace, "once", "step")
    assert step_status["state"]["terminated"]["exitCode"] == EXIT_KILLED, step_status
    assert step_status["restartCount"] == 0
