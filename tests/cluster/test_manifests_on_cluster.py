"""manifests/ on the real control plane: accepted by the server, pods admitted under
"restricted", and the controller's own token refused what it must not do."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.cluster.conftest import REPO, ControlPlane

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def applied(control_plane: ControlPlane) -> ControlPlane:
    # A server-side dry run cannot create the namespace the other objects go into.
    control_plane.kubectl("apply", "-f", str(REPO / "manifests/namespace.yaml"))
    control_plane.kubectl("apply", "-k", str(REPO / "manifests"), "--dry-run=server")
    control_plane.kubectl("apply", "-k", str(REPO / "manifests"))
    return control_plane


def token_kubeconfig(plane: ControlPlane, tmp_path: Path) -> str:
    admin = yaml.safe_load(plane.kubectl("config", "view", "--raw", "--minify"))
    token = plane.kubectl("create", "token", "copr-importer-controller", "-n", "copr-importer").strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": admin["clusters"][0]["cluster"]}],
        "users": [{"name": "controller", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "controller", "namespace": "copr-importer"}}],
        "current-context": "c",
    }
    path = tmp_path / "controller.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def can(plane: ControlPlane, kubeconfig: str, *args: str) -> bool:
    done = subprocess.run(
        [str(plane.bin / "kubectl"), "--kubeconfig", kubeconfig, "auth", "can-i", *args], capture_output=True, text=True
    )
    return done.stdout.strip() == "yes"


def test_the_controller_token_gets_exactly_what_it_needs(applied: ControlPlane, tmp_path: Path) -> None:
    kubeconfig = token_kubeconfig(applied, tmp_path)
    for allowed in (
        ["create", "jobs"],
        ["watch", "jobs"],
        ["delete", "jobs"],
        ["list", "pods"],
        ["get", "configmap/copr-importer-settings"],
        ["create", "events"],
    ):
        assert can(applied, kubeconfig, *allowed), allowed
    for refused in (
        ["get", "secrets"],
        ["list", "secrets"],
        ["get", "configmap/other"],
        ["create", "pods"],
        ["create", "jobs", "-n", "default"],
        ["list", "jobs", "--all-namespaces"],
        ["create", "namespaces"],
        ["create", "clusterrolebindings"],
        ["patch", "nodes"],
        ["update", "configmap/copr-importer-settings"],
    ):
        assert not can(applied, kubeconfig, *refused), refused


def assert_admitted(applied: ControlPlane, *, selector: str, events: str, what: str) -> None:
    """Wait until a pod matching ``selector`` exists; fail at once on a FailedCreate event
    (Pod Security refusing the pod) matching ``events``."""
    deadline = time.monotonic() + 60
    while not applied.kubectl("get", "pods", "-n", "copr-importer", "-l", selector, "-o", "name"):
        refused = applied.kubectl(
            "get",
            "events",
            "-n",
            "copr-importer",
            "--field-selector",
            events,
            "-o",
            "jsonpath={.items[*].message}",
        )
        assert not refused, refused
        assert time.monotonic() < deadline, f"no pod was created for {what}"
        time.sleep(0.5)


@pytest.mark.parametrize("component", ["controller", "web"])
def test_the_pods_are_admitted_under_restricted(applied: ControlPlane, component: str) -> None:
    selector = f"app.kubernetes.io/component={component}"
    assert_admitted(applied, selector=selector, events="reason=FailedCreate", what=component)


def test_the_single_node_overlay_binds_its_claim_to_the_node_directory(control_plane: ControlPlane) -> None:
    built = control_plane.kubectl("kustomize", str(REPO / "overlays/single-node"))
    docs = [d for d in yaml.safe_load_all(built) if d]
    (pv,) = [d for d in docs if d["kind"] == "PersistentVolume"]
    (pvc,) = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert pvc["spec"]["volumeName"] == pv["metadata"]["name"]
    assert pvc["spec"]["storageClassName"] == pv["spec"]["storageClassName"] == ""
    assert pv["spec"]["claimRef"] == {"namespace": pvc["metadata"]["namespace"], "name": pvc["metadata"]["name"]}
    assert pv["spec"]["capacity"]["storage"] == pvc["spec"]["resources"]["requests"]["storage"]
    assert pvc["spec"]["accessModes"] == pv["spec"]["accessModes"]
    # Every image, the ConfigMap's job-image included, is the locally built one.
    images = re.findall(r"(?:image|job-image): (\S+)", built)
    assert images and all(i.startswith("localhost/copr-importer/") for i in images), images
    # kind-up: the node directory the kind node maps from the host.
    mounts = yaml.safe_load((REPO / "kind-config.yaml").read_text())["nodes"][0]["extraMounts"]
    assert pv["spec"]["hostPath"]["path"] in {m["containerPath"] for m in mounts}


def test_the_lifecycle_cronjobs_pods_are_admitted_under_restricted(applied: ControlPlane) -> None:
    names = ("expire-logs", "gc-lookaside", "prune-projects", "maintain-repos")
    for name in names:
        applied.kubectl("create", "job", f"check-{name}", f"--from=cronjob/copr-importer-{name}", "-n", "copr-importer")
    for name in names:
        events = f"reason=FailedCreate,involvedObject.name=check-{name}"
        assert_admitted(applied, selector=f"job-name=check-{name}", events=events, what=f"check-{name}")
