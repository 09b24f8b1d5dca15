"""A real node for the node tests and the node benchmark: the images built by
scripts/build-images, a control plane without kwok, and the kubelet, containerd and
runc started by scripts/real-node; afterwards, proof that the host is as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.controlplane import REPO, ControlPlane, env_file_value, start_control_plane, stop_control_plane
from tests.support.frontend_stub import FrontendStub
from tests.support.podwatch import PodWatch

__all__ = ["RealNode", "build_images", "deployed", "deployment_docs", "running_real_node"]

# The kubelet's tunables (scripts/real-node restores them) and the links, cgroups
# and host paths a node may leave behind.
_SYSCTLS = ("vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops")
_HOST_PATHS = ("/var/lib/kubelet", "/var/lib/cni", "/run/containerd", "/var/log/containers", "/opt/containerd")


@dataclass
class RealNode:
    plane: ControlPlane
    state: Path
    images: dict[str, str]  # name -> reference, e.g. "job" -> "localhost/copr-importer/job:0.1.0"
    start_seconds: float  # scripts/real-node start: network, containerd, image imports, kubelet Ready

    def env_value(self, name: str) -> str:
        return env_file_value(self.state / "env", name)

    @property
    def gateway(self) -> str:
        """The host's address on the pods' network: what pods reach, and nothing else."""
        return self.env_value("NODE_GATEWAY")

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return self.plane.kubectl(*args, stdin=stdin)

    def ctr(self, *args: str) -> str:
        socket = self.env_value("NODE_CONTAINERD_SOCKET")
        done = subprocess.run(["ctr", "-a", socket, "-n", "k8s.io", *args], capture_output=True, text=True, check=True)
        return done.stdout


def _run(command: list[str], *, env: dict[str, str] | None = None, what: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def build_images() -> dict[str, tuple[str, str]]:
    """name -> (reference, archive) from scripts/build-images (cached by input hash)."""
    out = _run([str(REPO / "scripts/build-images")], what="scripts/build-images")
    return {name: (ref, archive) for name, ref, archive in (line.split() for line in out.splitlines() if line)}


def _host_snapshot() -> dict[str, Any]:
    """What a real node changes on the host (its own names only: other work on the
    machine may add links or cgroups of its own meanwhile)."""
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    netns = Path("/run/netns")
    return {
        "sysctls": {s: Path("/proc/sys", s).read_text().strip() for s in _SYSCTLS},
        "links": sorted(
            name for line in links.splitlines() if (name := line.split(":")[1].strip()).startswith("cpnode")
        ),
        "netns": sorted(p.name for p in netns.iterdir()) if netns.is_dir() else None,
        "cgroups": sorted(
            str(p) for p in Path("/sys/fs/cgroup").glob("*/*") if p.name.startswith(("copr-importer-node", "kubepods"))
        ),
        "paths": {p: os.path.exists(p) for p in _HOST_PATHS},
        "mounts": [
            line for line in Path("/proc/self/mountinfo").read_text().splitlines() if "copr-importer-node" in line
        ],
    }


def running_real_node() -> Iterator[RealNode]:
    """Build what is missing, start a plane and the node; stop both and check the host afterwards."""
    try:
        _run(
            [str(REPO / "scripts/build-control-plane")],
            env={**os.environ, "WITH_KUBELET": "1"},
            what="WITH_KUBELET=1 scripts/build-control-plane",
        )
        images = build_images()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    before = _host_snapshot()
    plane = start_control_plane(apiserver_args=["--kubelet-preferred-address-types=Hostname"], kwok=False)
    state = Path(tempfile.mkdtemp(prefix="copr-importer-node-"))
    listing = state / "images.txt"
    listing.write_text("".join(f"{name} {ref} {archive}\n" for name, (ref, archive) in images.items()))
    env = {**os.environ, "CONTROL_PLANE_STATE": str(plane.state), "NODE_IMAGES": str(listing)}
    try:
        started = time.monotonic()
        _run([str(REPO / "scripts/real-node"), "start", str(state / "node")], env=env, what="scripts/real-node start")
        images_by_name = {n: ref for n, (ref, _) in images.items()}
        yield RealNode(plane, state / "node", images_by_name, start_seconds=time.monotonic() - started)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    finally:
        subprocess.run([str(REPO / "scripts/real-node"), "stop", str(state / "node")], capture_output=True)
        stop_control_plane(plane)
        if not os.environ.get("COPR_IMPORTER_KEEP_CONTROL_PLANE"):
            shutil.rmtree(state, ignore_errors=True)
    after = _host_snapshot()
    assert after == before, "the real node left the host changed"


def deployment_docs(
    node: RealNode, *, namespace: str, data: Path, settings: str, parallelism: int, password: str
) -> list[dict[str, Any]]:
    """overlays/single-node as kustomize builds it, moved into ``namespace``, its volume
    at ``data``, its settings replaced, and the frontend's password Secret added."""
    built = node.kubectl("kustomize", str(REPO / "overlays/single-node"))
    docs = [d for d in yaml.safe_load_all(built) if d]
    pv_name = f"data-{namespace}"
    for doc in docs:
        meta = doc["metadata"]
        kind = doc["kind"]
        if kind == "Namespace":
            meta["name"] = namespace
        elif "namespace" in meta:
            meta["namespace"] = namespace
        if kind == "RoleBinding":
            for subject in doc["subjects"]:
                subject["namespace"] = namespace
        if kind == "ConfigMap":
            doc["data"].update({"importer.toml": settings, "parallelism": str(parallelism)})
        if kind == "PersistentVolume":
            meta["name"] = pv_name
            doc["spec"]["hostPath"]["path"] = str(data)
            doc["spec"]["claimRef"]["namespace"] = namespace
        if kind == "PersistentVolumeClaim":
            doc["spec"]["volumeName"] = pv_name
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "copr-importer-frontend", "namespace": namespace},
            "stringData": {"password": password},
        }
    )
    return docs


def _settings(node: RealNode, namespace: str, frontend: FrontendStub) -> str:
    return (
        'data_dir = "/var/lib/copr-importer"\n'
        f'[frontend]\nbase_url = "{frontend.url}"\npassword_file = "/run/secrets/copr-importer/password"\n'
        "poll_interval = 0.5\n"
        f'[kubernetes]\nnamespace = "{namespace}"\n'
        '[job]\ndata_claim = "copr-importer-data"\n'
    )


@contextmanager
def deployed(node: RealNode, frontend: FrontendStub, data: Path, *, parallelism: int) -> Iterator[tuple[str, PodWatch]]:
    """Apply the single-node overlay into a fresh namespace; watch its pods; remove it afterwards."""
    namespace = f"node-{uuid.uuid4().hex[:6]}"
    data.mkdir(mode=0o755)
    os.chown(data, 10001, 10001)  # a hostPath volume keeps its owner: the pods' uid must own it
    docs = deployment_docs(
        node,
        namespace=namespace,
        data=data,
        settings=_settings(node, namespace, frontend),
        parallelism=parallelism,
        password=frontend.password,
    )
    node.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    # An administrator who applies again with --server-side takes the fields over from
    # the client-side apply without conflicts (the fieldRefs carry their apiVersion).
    node.kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(docs))
    pods = PodWatch(node.plane.api(), namespace).start()
    try:
        yield namespace, pods
    finally:
        try:  # the watch sees the pods stop, then the namespace go
            node.kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=180s")
        finally:
            pods.stop()
            node.kubectl("delete", "pv", f"data-{namespace}", "--wait=false")
