"""The controller fails safe on the real control plane (``run --kubernetes`` as a process):
started while the apiserver cannot be reached, or while RBAC refuses its ConfigMap, it
stays up and not ready with the reason, starts no Job until it knows N, and goes to work
once the cluster is fixed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import ControlPlane
from tests.cluster.test_kubernetes_executor import set_parallelism
from tests.support.controllerproc import get, log_lines, running, scrape, server_of
from tests.support.frontend_stub import FrontendStub
from tests.support.pipeline import cli
from tests.support.tcpforward import TcpForwarder
from tests.support.waiting import wait_until

pytestmark = pytest.mark.cluster

CONTROLLER_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch", "create", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
]
CONFIG_MAP_RULE = {
    "apiGroups": [""],
    "resources": ["configmaps"],
    "resourceNames": ["copr-importer-settings"],
    "verbs": ["get"],
}


@pytest.fixture
def frontend() -> Iterator[FrontendStub]:
    stub = FrontendStub(password="pw")
    for build_id in (1, 2, 3):
        stub.queue.append(
            {
                "build_id": build_id,
                "owner": "alice",
                "project": "demo",
                "branches": ["f43"],
                "pkg_name": f"pkg{build_id}",
                "srpm_url": "http://127.0.0.1:9/x.src.rpm",
                "sandbox": f"alice/demo--{build_id}",
                "background": False,
            }
        )
    stub.start()
    yield stub
    stub.stop()


def controller_command(tmp_path: Path, *, namespace: str, frontend: FrontendStub, kubeconfig: str) -> list[str]:
    config = tmp_path / "importer.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        f'[frontend]\nbase_url = "{frontend.url}"\npassword = "pw"\npoll_interval = 0.2\n'
        f'[kubernetes]\nnamespace = "{namespace}"\n'
    )
    return cli(
        "run", "--kubernetes", "--kubeconfig", kubeconfig, "--config", str(config), "--listen", "127.0.0.1:0",
        "--log-format", "json",
    )  # fmt: skip


def jobs(plane: ControlPlane, namespace: str) -> list[str]:
    return plane.kubectl("get", "jobs", "-n", namespace, "-o", "name").split()


def kubeconfig_for(plane: ControlPlane, tmp_path: Path, *, server: str | None = None, token: str | None = None) -> str:
    """The admin kubeconfig, optionally with another server address or a token's identity."""
    config = yaml.safe_load(plane.kubectl("config", "view", "--raw", "--minify"))
    if server is not None:
        config["clusters"][0]["cluster"]["server"] = server
    if token is not None:
        config["users"][0]["user"] = {"token": token}
    path = tmp_path / "controller.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def role(namespace: str, rules: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(
        [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ctl", "namespace": namespace}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "ctl", "namespace": namespace},
                "rules": rules,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "ctl", "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ctl"},
                "subjects": [{"kind": "ServiceAccount", "name": "ctl", "namespace": namespace}],
            },
        ]
    )


def test_a_configmap_rbac_refuses_means_no_job_until_it_is_allowed(
    control_plane: ControlPlane, namespace: str, frontend: FrontendStub, tmp_path: Path
) -> None:
    # Seen before: a 403 on the ConfigMap made the controller fall back to executor.workers
    # (4) and create Jobs while the ConfigMap said 0.  Here it says 2, and the 403 must hold them all.
    set_parallelism(control_plane, namespace, "2")
    control_plane.kubectl("apply", "-f", "-", stdin=role(namespace, CONTROLLER_RULES))
    token = control_plane.kubectl("create", "token", "ctl", "-n", namespace).strip()
    kubeconfig = kubeconfig_for(control_plane, tmp_path, token=token)
    log = tmp_path / "controller.log"
    command = controller_command(tmp_path, namespace=namespace, frontend=frontend, kubeconfig=kubeconfig)
    with running(command, log) as controller:
        base = server_of(log)
        wait_until(
            lambda: "cannot read ConfigMap copr-importer-settings" in get(base + "/readyz")[1],
            timeout=60,
            what="readiness to name the ConfigMap",
        )
        code, why = get(base + "/readyz")
        assert code == 503 and "403" in why and "starting no Job until N is known" in why
        wait_until(lambda: frontend.polls() >= 10, timeout=60, what="ten polls: every chance to start Jobs")
        assert jobs(control_plane, namespace) == [] and controller.poll() is None
        assert scrape(base)[("copr_importer_problem", (("component", "cluster"),))] == 1

        control_plane.kubectl("apply", "-f", "-", stdin=role(namespace, [*CONTROLLER_RULES, CONFIG_MAP_RULE]))
        wait_until(lambda: get(base + "/readyz")[0] == 200, timeout=60, what="readiness once N is readable")
        wait_until(
            lambda: scrape(base)[("copr_importer_jobs_created_total", ())] == 3,
            timeout=120,
            what="the three imports to start as Jobs",
        )
    assert any(line["message"] == "parallelism N = 2, from ConfigMap copr-importer-settings" for line in log_lines(log))


def test_an_unreachable_apiserver_at_start_up_is_waited_for(
    control_plane: ControlPlane, namespace: str, frontend: FrontendStub, tmp_path: Path
) -> None:
    # Seen before: the controller exited with status 2 after about 3 s (CrashLoopBackOff).
    set_parallelism(control_plane, namespace, "2")
    apiserver = TcpForwarder(target_port=control_plane.apiserver_port)  # down: nothing listens yet
    kubeconfig = kubeconfig_for(control_plane, tmp_path, server=f"https://127.0.0.1:{apiserver.port}")
    log = tmp_path / "controller.log"
    command = controller_command(tmp_path, namespace=namespace, frontend=frontend, kubeconfig=kubeconfig)
    try:
        with running(command, log) as controller:
            base = server_of(log)

            def list_failures() -> int:
                return sum(1 for line in log_lines(log) if line["message"].startswith("cannot list jobs"))

            wait_until(lambda: list_failures() >= 3, timeout=120, what="three failed lists, retried with backoff")
            code, why = get(base + "/readyz")
            assert code == 503 and "cannot list jobs" in why and "Kubernetes API unreachable" in why
            assert controller.poll() is None and get(base + "/livez")[0] == 200
            assert jobs(control_plane, namespace) == []

            apiserver.start()
            wait_until(lambda: get(base + "/readyz")[0] == 200, timeout=120, what="readiness once the API answers")
            wait_until(
                lambda: scrape(base)[("copr_importer_jobs_created_total", ())] == 3,
                timeout=120,
                what="the three imports to start as Jobs",
            )
    finally:
        apiserver.stop()
