"""Starting and stopping the real control plane (scripts/control-plane), for the
cluster tests and the cluster benchmark."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config

REPO = Path(__file__).resolve().parents[2]
KCM_CONTROLLERS = (
    "job-controller,ttl-after-finished-controller,garbage-collector-controller,namespace-controller,"
    "serviceaccount-controller,pod-garbage-collector-controller,root-ca-certificate-publisher-controller,"
    "persistentvolume-binder-controller,deployment-controller,replicaset-controller,"
    # A claim in use keeps a finalizer until these remove it: without them, deleting
    # a namespace with a bound claim never finishes.
    "persistentvolumeclaim-protection-controller,persistentvolume-protection-controller"
)


def env_file_value(path: Path, name: str) -> str:
    """``NAME``'s value in a file of ``export NAME=value`` lines (what the scripts write)."""
    for line in path.read_text().splitlines():
        if line.startswith(f"export {name}="):
            return line.split("=", 1)[1]
    raise RuntimeError(f"{name} not in {path}")


@dataclass
class ControlPlane:
    kubeconfig: str
    bin: Path
    state: Path

    def env_value(self, name: str) -> str:
        """A value from the ``env`` file scripts/control-plane writes."""
        return env_file_value(self.state / "env", name)

    @property
    def apiserver_port(self) -> int:
        return int(self.env_value("APISERVER_PORT"))

    def api(self) -> client.ApiClient:
        return config.new_client_from_config(config_file=self.kubeconfig)

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [str(self.bin / "kubectl"), "--kubeconfig", self.kubeconfig, *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision (what the apiserver does every 5 minutes); return it."""
        endpoint = f"--endpoints=http://127.0.0.1:{self.env_value('ETCD_CLIENT_PORT')}"
        etcdctl = [str(self.bin / "etcdctl"), endpoint]
        status = subprocess.run([*etcdctl, "endpoint", "status", "--write-out=json"], capture_output=True, check=True)
        revision = int(json.loads(status.stdout)[0]["Status"]["header"]["revision"])
        subprocess.run([*etcdctl, "compaction", str(revision)], capture_output=True, check=True)
        return revision


FAKE_NODE = """
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    type: kwok
"""


def start_control_plane(*, apiserver_args: Sequence[str] = (), kwok: bool = True) -> ControlPlane:
    """Build (or find cached) binaries and start a plane with kwok and a fake node
    (``kwok=False``: neither, for a real node).

    ``apiserver_args`` are extra kube-apiserver flags (e.g. to turn a watch cache off)."""
    build = subprocess.run([str(REPO / "scripts/build-control-plane")], capture_output=True, text=True)
    if build.returncode != 0:
        raise RuntimeError(f"scripts/build-control-plane failed:\n{build.stderr[-3000:]}")
    bin_dir = Path(build.stdout.strip().splitlines()[-1])
    state = Path(tempfile.mkdtemp(prefix="control-plane-"))
    start = subprocess.run(
        [str(REPO / "scripts/control-plane"), "start", str(state)],
        env={
            **_env(bin_dir, kwok=kwok),
            "APISERVER_EXTRA_ARGS": " ".join([os.environ.get("APISERVER_EXTRA_ARGS", ""), *apiserver_args]),
        },
        capture_output=True,
        text=True,
    )
    plane = ControlPlane(kubeconfig=str(state / "admin.kubeconfig"), bin=bin_dir, state=state)
    if start.returncode != 0:
        stop_control_plane(plane)
        raise RuntimeError(f"control plane did not start:\n{start.stderr[-3000:]}")
    if kwok:
        plane.kubectl("apply", "-f", "-", stdin=FAKE_NODE)
    return plane


def running_control_plane(*, apiserver_args: Sequence[str] = ()) -> Iterator[ControlPlane]:
    """The body of a control-plane fixture: start, yield, always stop; a start failure fails the test."""
    try:
        plane = start_control_plane(apiserver_args=apiserver_args)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield plane
    finally:
        stop_control_plane(plane)


def stop_control_plane(plane: ControlPlane) -> None:
    """Stop every process, and remove the state directory (etcd's data, logs, certificates)
    unless ``COPR_IMPORTER_KEEP_CONTROL_PLANE`` is set, for looking at the logs afterwards."""
    subprocess.run(
        [str(REPO / "scripts/control-plane"), "stop", str(plane.state)], env=_env(plane.bin), capture_output=True
    )
    if not os.environ.get("COPR_IMPORTER_KEEP_CONTROL_PLANE"):
        shutil.rmtree(plane.state, ignore_errors=True)


def _env(bin_dir: Path, *, kwok: bool = True) -> dict[str, str]:
    return {
        **os.environ,
        "CONTROL_PLANE_BIN": str(bin_dir),
        "CONTROL_PLANE_KWOK": "1" if kwok else "0",
        "KCM_CONTROLLERS": KCM_CONTROLLERS,
    }


def namespace_manifest(name: str, *, data: str) -> str:
    """A namespace enforcing "restricted", the Jobs' service account, and the data
    PVC bound to a hostPath PV at ``data``."""
    return f"""
apiVersion: v1
kind: Namespace
metadata:
  name: {name}
  labels:
    pod-security.kubernetes.io/enforce: restricted
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: copr-importer-job
  namespace: {name}
automountServiceAccountToken: false
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: data-{name}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteMany]
  hostPath: {{path: {data}}}
  claimRef: {{namespace: {name}, name: copr-importer-data}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: copr-importer-data
  namespace: {name}
spec:
  accessModes: [ReadWriteMany]
  storageClassName: ""
  volumeName: data-{name}
  resources: {{requests: {{storage: 1Gi}}}}
"""
