"""The operator subcommands against a real control plane: ``render --server-dry-run`` and ``set-limit``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from copr_importer.adapters.jobtemplate import default_template
from copr_importer.adapters.kube import Kube
from copr_importer.app.kubeexec import KubernetesExecutor
from tests.cluster.conftest import ControlPlane
from tests.cluster.test_kubernetes_executor import set_parallelism, settings_for, task
from tests.support.pipeline import cli
from tests.support.waiting import wait_until

pytestmark = pytest.mark.cluster


def run(plane: ControlPlane, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    line = cli(command, "--kubeconfig", plane.kubeconfig, *args)
    return subprocess.run(line, capture_output=True, text=True, timeout=120)


def dry_run(plane: ControlPlane, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    record = json.dumps(task(7).to_record())
    return run(plane, "render", "--task-json", record, "--namespace", namespace, "--server-dry-run", *args)


def contained(part: Any, whole: Any, path: str = "") -> list[str]:
    """Where ``part`` differs from ``whole``, ignoring what ``whole`` has in addition (server defaults)."""
    if isinstance(part, dict) and isinstance(whole, dict):
        return [d for k, v in part.items() for d in contained(v, whole.get(k), f"{path}.{k}")]
    if isinstance(part, list) and isinstance(whole, list) and len(part) == len(whole):
        return [d for i, (p, w) in enumerate(zip(part, whole, strict=True)) for d in contained(p, w, f"{path}[{i}]")]
    return [] if part == whole else [f"{path}: {part!r} != {whole!r}"]


def jobs(plane: ControlPlane, namespace: str) -> list[Any]:
    return list(client.BatchV1Api(plane.api()).list_namespaced_job(namespace).items)


def test_render_is_accepted_by_the_server_and_is_what_the_executor_creates(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    set_parallelism(control_plane, namespace, "1")
    done = dry_run(control_plane, namespace)
    assert done.returncode == 0, done.stderr
    assert f"server dry run: accepted (namespace {namespace})" in done.stderr
    assert jobs(control_plane, namespace) == []  # a dry run persists nothing
    rendered = yaml.safe_load(done.stdout)

    kube = Kube(namespace=namespace, api_client=control_plane.api())
    executor = KubernetesExecutor(settings=settings_for(tmp_path, namespace), kube=kube)
    executor.open()
    try:
        executor.start(task(7))
    finally:
        executor.close()
    created = kube.api_client.sanitize_for_serialization(
        client.BatchV1Api(kube.api_client).read_namespaced_job("import-7", namespace)
    )
    assert contained(rendered, created) == []


def test_a_template_the_server_refuses_gets_the_servers_message(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    set_parallelism(control_plane, namespace, "1")
    template = tmp_path / "refused.j2"
    template.write_text(default_template().replace("restartPolicy: Never", "restartPolicy: Always"))
    done = dry_run(control_plane, namespace, "--template", str(template))
    assert done.returncode == 1, done.stderr
    assert "server dry run: refused: Kubernetes API: 422" in done.stderr
    assert 'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"' in done.stderr
    assert yaml.safe_load(done.stdout)["kind"] == "Job"  # still printed, to be fixed
    assert jobs(control_plane, namespace) == []


def test_pods_pod_security_would_refuse_are_a_warning_on_the_job(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    # PodSecurity admits a Job whatever its pod template says and only warns; the
    # pods would then be refused, so the warning must reach the operator.
    template = tmp_path / "escalating.j2"
    template.write_text(default_template().replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"))
    done = dry_run(control_plane, namespace, "--template", str(template))
    assert done.returncode == 0, done.stderr
    assert (
        'server dry run: warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false'
        in done.stderr
    )
    assert "server dry run: accepted with 1 warning" in done.stderr
    assert jobs(control_plane, namespace) == []


def test_the_dry_run_uses_the_configmap_template_and_passes_on_server_warnings(
    control_plane: ControlPlane, namespace: str
) -> None:
    anchor = "          terminationMessagePolicy:"
    env = "          env:\n            - {name: LANG, value: C}\n            - {name: LANG, value: C.UTF-8}\n"
    template = default_template().replace(anchor, env + anchor)
    manifest = control_plane.kubectl(
        *("create", "configmap", "copr-importer-settings", "-n", namespace, "--from-literal=parallelism=1"),
        *(f"--from-literal=job-template={template}", "--dry-run=client", "-o", "yaml"),
    )
    control_plane.kubectl("apply", "-f", "-", stdin=manifest)
    done = dry_run(control_plane, namespace)
    assert done.returncode == 0, done.stderr
    assert f"ConfigMap {namespace}/copr-importer-settings key job-template" in done.stderr
    container = yaml.safe_load(done.stdout)["spec"]["template"]["spec"]["containers"][0]
    assert [e["value"] for e in container["env"]] == ["C", "C.UTF-8"]
    assert "server dry run: warning:" in done.stderr and 'hides previous definition of "LANG"' in done.stderr


def test_set_limit_patches_the_configmap_and_the_running_executor_follows(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    manifest = control_plane.kubectl(
        *("create", "configmap", "copr-importer-settings", "-n", namespace, "--from-literal=parallelism=2"),
        *("--from-literal=importer.toml=[executor]\nper_owner = 5\n", "--dry-run=client", "-o", "yaml"),
    )
    control_plane.kubectl("apply", "-f", "-", stdin=manifest)
    kube = Kube(namespace=namespace, api_client=control_plane.api())
    executor = KubernetesExecutor(settings=settings_for(tmp_path, namespace), kube=kube, refresh=0.2)
    executor.open()
    try:
        assert executor.limits().total == 2
        done = run(control_plane, "set-limit", "4", "--namespace", namespace)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"{namespace}/copr-importer-settings parallelism: 2 -> 4"
        wait_until(lambda: executor.limits().total == 4, timeout=10, what="the executor to see N=4")
        assert kube.config_map("copr-importer-settings") == {
            "parallelism": "4",
            "importer.toml": "[executor]\nper_owner = 5\n",  # the other keys are left alone
        }

        for bad in ("lots", "-1", "10001"):
            refused = run(control_plane, "set-limit", "--namespace", namespace, "--", bad)
            assert refused.returncode == 2 and "nothing changed" in refused.stderr, refused.stderr
        assert (kube.config_map("copr-importer-settings") or {})["parallelism"] == "4"
        assert executor.limits().total == 4
    finally:
        executor.close()


def test_set_limit_without_the_configmap_says_so(control_plane: ControlPlane, namespace: str) -> None:
    done = run(control_plane, "set-limit", "3", "--namespace", namespace)
    assert done.returncode == 2
    assert f"no ConfigMap {namespace}/copr-importer-settings" in done.stderr
