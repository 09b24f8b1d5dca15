"""A real control plane for the session: etcd, kube-apiserver (RBAC, PodSecurity,
service-account signing), kube-controller-manager, kube-scheduler and kwok, all on
127.0.0.1, built by scripts/build-control-plane and started by scripts/control-plane.

kwok plays the kubelet for nodes annotated ``kwok.x-k8s.io/node=fake``: their pods
run for 2 s and succeed without running code, which is what the executor tests need.
The plane itself (the ``control_plane`` fixture) is in ``tests/conftest.py``: the chaos
tests share it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from tests.support.controlplane import REPO, ControlPlane, namespace_manifest

__all__ = ["REPO", "ControlPlane"]


@pytest.fixture
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    """A fresh namespace enforcing the restricted Pod Security Standard, with the
    Jobs' service account and the data PVC."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    control_plane.kubectl("apply", "-f", "-", stdin=namespace_manifest(name, data=f"/tmp/{name}"))
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
