"""End to end on the real control plane: ``manifests/`` applied, the controller and
its git-writer sidecar running under the test node runtime with the controller's
real service-account token (RBAC enforced), importing SRPMs from the Copr frontend
stub through Jobs whose pods run the real import step."""

from __future__ import annotations

import json
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.cluster.conftest import REPO, ControlPlane
from tests.support.craft import CraftFile, evil_srpm
from tests.support.frontend_stub import FrontendStub
from tests.support.noderuntime import NodeRuntime
from tests.support.pipeline import assert_reported_and_committed_once, git
from tests.support.srpms import binary_tarball
from tests.support.waiting import wait_until

pytestmark = pytest.mark.cluster

CONTROLLER_IMAGE = "quay.io/copr-importer/controller:0.1.0"
JOB_IMAGE = "quay.io/copr-importer/job:0.1.0"


@contextmanager
def running_node(
    control_plane: ControlPlane, work: Path, *, env: dict[str, str] | None = None
) -> Iterator[NodeRuntime]:
    """The test node runtime as ``local-node-0``; ``env`` goes to every container it runs."""
    control_plane.kubectl("cordon", "kwok-node-0")  # every pod of this test must really run
    runtime = NodeRuntime(
        api=control_plane.api(),
        node="local-node-0",
        work=work,
        images={
            CONTROLLER_IMAGE: [sys.executable, "-m", "copr_importer"],
            JOB_IMAGE: [sys.executable, "-m", "copr_importer", "import-step"],
        },
        apiserver_port=control_plane.apiserver_port,
        env={"PYTHONPATH": str(REPO / "controller"), **(env or {})},
        keep=(REPO, Path(sys.prefix)),
    )
    runtime.start()
    try:
        yield runtime
    finally:
        runtime.stop()
        control_plane.kubectl("delete", "node", "local-node-0", "--wait=false")
        control_plane.kubectl("uncordon", "kwok-node-0")


@pytest.fixture
def local_node(control_plane: ControlPlane, tmp_path: Path) -> Iterator[NodeRuntime]:
    with running_node(control_plane, tmp_path / "node") as runtime:
        yield runtime


def deployment_for(
    plane: ControlPlane, namespace: str, *, data: Path, frontend: FrontendStub, parallelism: int, extra: str = ""
) -> list[dict[str, Any]]:
    """manifests/ as kustomize builds it, moved to ``namespace`` and pointed at the stub."""
    built = plane.kubectl("kustomize", str(REPO / "manifests"))
    # Not the web side: the node runtime cannot run its httpd as another user, and
    # tests/integration/test_web.py runs the same configuration for real.
    docs = [
        d
        for d in yaml.safe_load_all(built)
        if d and d["metadata"].get("labels", {}).get("app.kubernetes.io/component") != "web"
    ]
    settings = (
        'data_dir = "/var/lib/copr-importer"\n'
        f'[frontend]\nbase_url = "{frontend.url}"\npassword_file = "/run/secrets/copr-importer/password"\n'
        "poll_interval = 0.5\n"
        f'[kubernetes]\nnamespace = "{namespace}"\n'
        f'[job]\nimage = "{JOB_IMAGE}"\n' + extra
    )
    for doc in docs:
        meta = doc["metadata"]
        if doc["kind"] == "Namespace":
            meta["name"] = namespace
        elif "namespace" in meta:
            meta["namespace"] = namespace
        if doc["kind"] == "RoleBinding":
            for subject in doc["subjects"]:
                subject["namespace"] = namespace
        if doc["kind"] == "ConfigMap":
            doc["data"]["importer.toml"] = settings
            doc["data"]["parallelism"] = str(parallelism)
        if doc["kind"] == "PersistentVolumeClaim":
            doc["spec"].update(storageClassName="", volumeName=f"data-{namespace}")
        if doc["kind"] == "Deployment":
            # Pods share the host's 127.0.0.1 under the node runtime: any free port, not 9420/9421.
            pod = doc["spec"]["template"]["spec"]
            for container in [*pod.get("initContainers", []), *pod["containers"]]:
                container["args"] = [
                    "$(POD_IP):0" if a.startswith("$(POD_IP):") else a for a in container.get("args", [])
                ]
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "copr-importer-frontend", "namespace": namespace},
            "stringData": {"password": frontend.password},
        }
    )
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"data-{namespace}"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteMany"],
                "hostPath": {"path": str(data)},
                "claimRef": {"namespace": namespace, "name": "copr-importer-data"},
            },
        }
    )
    return docs


def until(predicate: Callable[[], bool], *, timeout: float, what: str, runtime: NodeRuntime) -> None:
    """:func:`wait_until`, explaining a timeout with the runtime's errors and pod logs."""

    def diagnostics() -> str:
        logs = "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in sorted(runtime.work.rglob("*.log")))
        return f"runtime errors: {runtime.errors}\n{logs}"

    wait_until(predicate, timeout=timeout, what=what, interval=0.5, diagnostics=diagnostics)


def served_url(runtime: NodeRuntime, container: str) -> str | None:
    """The address a pod's server logged (its port is a free one, see :func:`deployment_for`)."""
    for log in runtime.work.rglob(f"{container}.log"):
        for line in log.read_text().splitlines():
            if line.startswith("{") and '"url"' in line:
                return str(json.loads(line)["url"])
    return None


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        body = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


@contextmanager
def importer(
    plane: ControlPlane, frontend: FrontendStub, data: Path, *, parallelism: int, extra: str = ""
) -> Iterator[str]:
    """Deploy manifests/ into a fresh namespace (``extra``: more lines of importer.toml); remove it afterwards."""
    namespace = f"e2e-{uuid.uuid4().hex[:6]}"
    data.mkdir()
    docs = deployment_for(plane, namespace, data=data, frontend=frontend, parallelism=parallelism, extra=extra)
    plane.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    try:
        yield namespace
    finally:
        plane.kubectl("delete", "namespace", namespace, "--wait=false")
        plane.kubectl("delete", "pv", f"data-{namespace}", "--wait=false")


def test_imports_run_as_jobs_end_to_end(
    control_plane: ControlPlane,
    local_node: NodeRuntime,
    frontend: FrontendStub,
    srpm_factory: Callable[..., Path],
    tmp_path: Path,
) -> None:
    foo = srpm_factory(name="foo", sources={"foo-1.tar.gz": binary_tarball(name="foo", version="1")})
    bar = srpm_factory(name="bar", patches={"bar.patch": b"-a\n+b\n"})
    evil = evil_srpm(tmp_path, member=CraftFile("../../etc/x", b"x"))
    frontend.task(1, srpm=foo, pkg="foo", branches=["f43", "master"])
    frontend.task(2, srpm=bar, pkg="bar", branches=["f43"])
    frontend.task(3, srpm=evil, pkg="evil", branches=["f43"])
    data = tmp_path / "data"
    with importer(control_plane, frontend, data, parallelism=2) as namespace:
        until(lambda: len(frontend.reports) >= 3, timeout=180, what="three reports", runtime=local_node)
        reports = {r["build_id"]: r for r in frontend.reports}
        assert set(reports[1]["branch_commits"]) == {"f43", "master"}
        repo = data / "git/alice/demo/foo.git"
        assert git(repo, "rev-parse", "f43") == reports[1]["branch_commits"]["f43"]
        assert set(reports[2]["branch_commits"]) == {"f43"}
        assert reports[3]["error"] == "unsafe_srpm" and "escapes the directory" in reports[3]["error_message"]
        assert "escapes the directory" in (data / "per-task-logs/3.log").read_text()
        # The bad-input exit code failed the Job through its podFailurePolicy; the
        # controller posted an Event on it (with its own, RBAC-limited token).
        until(
            lambda: (
                "ImportFailed"
                in control_plane.kubectl("get", "events", "-n", namespace, "-o", "jsonpath={.items[*].reason}")
            ),
            timeout=60,
            what="an ImportFailed event",
            runtime=local_node,
        )
        until(
            lambda: not control_plane.kubectl("get", "jobs", "-n", namespace, "-o", "name"),
            timeout=60,
            what="reported Jobs to be deleted",
            runtime=local_node,
        )
        # Both containers serve on the pod IP the downward API gave them (127.0.0.1 here).
        controller, writer = served_url(local_node, "controller"), served_url(local_node, "git-writer")
        assert controller is not None and controller.startswith("http://127.0.0.1:")
        assert writer is not None and writer.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(controller + "/readyz", timeout=10) as response:
            assert response.read() == b"ok: polled the source, Job watch synced\n"
        metrics = scrape(controller)
        assert metrics[("copr_importer_jobs_finished_total", (("result", "succeeded"),))] == 2
        assert metrics[("copr_importer_jobs_finished_total", (("result", "failed_bad_input"),))] == 1
        assert metrics[("copr_importer_jobs_limit", ())] == 2
        assert metrics[("copr_importer_config_reloads_total", (("result", "ok"),))] == 1  # 4 (settings) -> 2
        assert not any(name.startswith("copr_importer_writer_commits") for name, _ in metrics)  # the sidecar's
        until(
            lambda: scrape(writer)[("copr_importer_writer_requests_applied_total", ())] == 2,
            timeout=30,
            what="the sidecar's counters",
            runtime=local_node,
        )
        assert scrape(writer)[("copr_importer_writer_commits_total", ())] == 3


def test_killing_the_controller_mid_run_loses_and_doubles_nothing(
    control_plane: ControlPlane,
    local_node: NodeRuntime,
    frontend: FrontendStub,
    srpm_factory: Callable[..., Path],
    tmp_path: Path,
) -> None:
    builds = {}
    for build_id in range(1, 9):
        pkg, version = f"pkg{build_id % 3}", str(build_id)
        builds[build_id] = pkg
        srpm = srpm_factory(
            name=pkg, version=version, sources={f"{pkg}-{version}.tar.gz": binary_tarball(name=pkg, version=version)}
        )
        frontend.task(build_id, srpm=srpm, pkg=pkg, branches=["f43"])
    data = tmp_path / "data"
    with importer(control_plane, frontend, data, parallelism=2) as namespace:
        until(lambda: len(frontend.reports) >= 2, timeout=180, what="the first reports", runtime=local_node)
        control_plane.kubectl(
            "delete",
            "pod",
            "-n",
            namespace,
            "-l",
            "app.kubernetes.io/component=controller",
            "--grace-period=0",
            "--force",
            "--wait=false",
        )
        until(
            lambda: {r["build_id"] for r in frontend.reports} == set(builds),
            timeout=240,
            what="every build to be reported",
            runtime=local_node,
        )
    assert_reported_and_committed_once(frontend.reports, builds=builds, git_root=data / "git")
