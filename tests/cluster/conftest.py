"""A real control plane for the session: etcd, kube-apiserver (RBAC, PodSecurity,
service-account signing), kube-controller-manager, kube-scheduler and kwok, all on
127.0.0.1, built by scripts/build-control-plane and started by scripts/control-plane.

kwok plays the kubelet for nodes annotated ``kwok.x-k8s.io/node=fake``: their pods
run for 2 s and succeed without running code, which is what the executor tests need.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config

REPO = Path(__file__).resolve().parents[2]
KCM_CONTROLLERS = (
    "job-controller,ttl-after-finished-controller,garbage-collector-controller,namespace-controller,"
    "serviceaccount-controller,pod-garbage-collector-controller,root-ca-certificate-publisher-controller,"
    "persistentvolume-binder-controller,deployment-controller,replicaset-controller"
)


@dataclass
class ControlPlane:
    kubeconfig: str
    bin: Path
    state: Path

    @property
    def apiserver_port(self) -> int:
        for line in (self.state / "env").read_text().splitlines():
            if line.startswith("export APISERVER_PORT="):
                return int(line.split("=", 1)[1])
        raise RuntimeError("APISERVER_PORT not in the control plane's env file")

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


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    build = subprocess.run([str(REPO / "scripts/build-control-plane")], capture_output=True, text=True)
    if build.returncode != 0:
        pytest.fail(f"scripts/build-control-plane failed:\n{build.stderr[-3000:]}")
    bin_dir = Path(build.stdout.strip().splitlines()[-1])
    state = Path(tempfile.mkdtemp(prefix="control-plane-"))
    env = {
        **os.environ,
        "CONTROL_PLANE_BIN": str(bin_dir),
        "CONTROL_PLANE_KWOK": "1",
        "KCM_CONTROLLERS": KCM_CONTROLLERS,
    }
    start = subprocess.run(
        [str(REPO / "scripts/control-plane"), "start", str(state)], env=env, capture_output=True, text=True
    )
    try:
        if start.returncode != 0:
            pytest.fail(f"control plane did not start:\n{start.stderr[-3000:]}")
        plane = ControlPlane(kubeconfig=str(state / "admin.kubeconfig"), bin=bin_dir, state=state)
        plane.kubectl("apply", "-f", "-", stdin=FAKE_NODE)
        yield plane
    finally:
        subprocess.run([str(REPO / "scripts/control-plane"), "stop", str(state)], env=env, capture_output=True)


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


@pytest.fixture
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    """A fresh namespace enforcing the restricted Pod Security Standard, with the
    Jobs' service account and the data PVC."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    control_plane.kubectl(
        "apply",
        "-f",
        "-",
        stdin=f"""
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
  hostPath: {{path: /tmp/{name}}}
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
""",
    )
    deadline = time.monotonic() + 60
    while (
        control_plane.kubectl("get", "pvc", "-n", name, "copr-importer-data", "-o", "jsonpath={.status.phase}")
        != "Bound"
    ):
        assert time.monotonic() < deadline, "PVC never bound"
        time.sleep(0.5)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false")
    control_plane.kubectl("delete", "pv", f"data-{name}", "--wait=false")
