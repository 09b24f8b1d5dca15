"""The Kubernetes executor against a real control plane (pods played by kwok)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kubernetes import client

from copr_importer.adapters.jobtemplate import default_template
from copr_importer.adapters.kube import Kube
from copr_importer.app.kubeexec import KubernetesExecutor
from copr_importer.app.localexec import Outcome
from copr_importer.core.admission import choose
from copr_importer.core.jobspec import render_job
from copr_importer.core.task import ImportTask
from copr_importer.settings import Settings, from_mapping
from tests.cluster.conftest import ControlPlane
from tests.support.waiting import wait_until

pytestmark = pytest.mark.cluster


def task(build_id: int) -> ImportTask:
    return ImportTask(
        build_id, "alice", "demo", f"pkg{build_id}", ("f43",), "http://127.0.0.1:9/x.src.rpm", f"alice/demo--{build_id}"
    )


def settings_for(tmp_path: Path, namespace: str) -> Settings:
    return from_mapping(
        {
            "data_dir": str(tmp_path),
            "kubernetes": {"namespace": namespace},
            "executor": {"workers": 1, "per_owner": None, "per_sandbox": None},
        }
    )


def set_parallelism(plane: ControlPlane, namespace: str, value: str) -> None:
    """Create or update the ConfigMap holding N, as an operator would."""
    literal = f"--from-literal=parallelism={value}"
    manifest = plane.kubectl(
        "create", "configmap", "copr-importer-settings", "-n", namespace, literal, "--dry-run=client", "-o", "yaml"
    )
    plane.kubectl("apply", "-f", "-", stdin=manifest)


def collect(executor: KubernetesExecutor, count: int, *, timeout: float = 60) -> list[Outcome]:
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + timeout
    while len(outcomes) < count:
        assert time.monotonic() < deadline, f"only {len(outcomes)} of {count} outcomes"
        executor.wait(0.5)
        outcomes += executor.poll()
    return outcomes


def test_rendered_job_passes_a_server_side_dry_run(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, namespace)
    kube = Kube(namespace=namespace, api_client=control_plane.api())
    body = render_job(task(1), template=default_template(), namespace=namespace, job=settings.job)
    kube.create_job(body, dry_run=True)
    assert client.BatchV1Api(kube.api_client).list_namespaced_job(namespace).items == []


def test_cap_comes_from_the_configmap_live(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> None:
    set_parallelism(control_plane, namespace, "2")
    kube = Kube(namespace=namespace, api_client=control_plane.api())
    executor = KubernetesExecutor(settings=settings_for(tmp_path, namespace), kube=kube, refresh=0.2)
    executor.open()
    try:
        queue = [task(i) for i in range(1, 6)]
        assert executor.limits().total == 2
        for chosen in choose(queue=queue, running=executor.running(), limits=executor.limits()):
            executor.start(chosen)
        assert sorted(t.build_id for t in executor.running()) == [1, 2]
        jobs = client.BatchV1Api(kube.api_client).list_namespaced_job(namespace).items
        assert sorted(j.metadata.name for j in jobs) == ["import-1", "import-2"]
        # kwok runs the pods (the restricted namespace admitted them) and they succeed.
        outcomes = collect(executor, 2)
        assert sorted((o.task.build_id, o.exit_code) for o in outcomes) == [(1, 0), (2, 0)]
        wait_until(
            lambda: not client.BatchV1Api(kube.api_client).list_namespaced_job(namespace).items,
            timeout=30,
            what="finished jobs to be deleted",
        )
        set_parallelism(control_plane, namespace, "3")
        wait_until(lambda: executor.limits().total == 3, timeout=10, what="N=3 to be seen")
        set_parallelism(control_plane, namespace, "lots")
        time.sleep(1)
        assert executor.limits().total == 3  # the last good value stays
        wait_until(
            lambda: (
                "InvalidParallelism"
                in control_plane.kubectl(
                    "get",
                    "events",
                    "-n",
                    namespace,
                    "--field-selector",
                    "type=Warning",
                    "-o",
                    "name,reason",
                    "-o",
                    "jsonpath={.items[*].reason}",
                )
            ),
            timeout=10,
            what="a Warning event",
        )
    finally:
        executor.close()


def test_a_restarted_controller_adopts_and_reports_each_job_once(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    set_parallelism(control_plane, namespace, "5")
    settings = settings_for(tmp_path, namespace)
    first = KubernetesExecutor(settings=settings, kube=Kube(namespace=namespace, api_client=control_plane.api()))
    first.open()
    first.start(task(11))
    first.start(task(12))
    first.close()  # the controller dies before it sees the outcomes
    batch = client.BatchV1Api(control_plane.api())

    def complete() -> bool:
        jobs = batch.list_namespaced_job(namespace).items
        return len(jobs) == 2 and all(j.status.succeeded for j in jobs)

    wait_until(complete, timeout=60, what="both jobs to complete")
    second = KubernetesExecutor(settings=settings, kube=Kube(namespace=namespace, api_client=control_plane.api()))
    second.open()
    try:
        second.start(task(12))  # the new controller tries again: 409, adopted
        outcomes = collect(second, 2)
        assert sorted((o.task.build_id, o.exit_code) for o in outcomes) == [(11, 0), (12, 0)]
        time.sleep(1)
        assert second.poll() == []  # reported once
    finally:
        second.close()


def test_the_job_template_can_be_replaced_from_the_configmap(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    template = default_template().replace("  annotations:\n", '  annotations:\n    example.org/custom: "yes"\n', 1)
    manifest = control_plane.kubectl(
        "create",
        "configmap",
        "copr-importer-settings",
        "-n",
        namespace,
        "--from-literal=parallelism=1",
        f"--from-literal=job-template={template}",
        "--dry-run=client",
        "-o",
        "yaml",
    )
    control_plane.kubectl("apply", "-f", "-", stdin=manifest)
    kube = Kube(namespace=namespace, api_client=control_plane.api())
    executor = KubernetesExecutor(settings=settings_for(tmp_path, namespace), kube=kube)
    executor.open()
    try:
        assert executor.limits().total == 1
        executor.start(task(21))
        job = client.BatchV1Api(kube.api_client).read_namespaced_job("import-21", namespace)
        assert job.metadata.annotations["example.org/custom"] == "yes"
    finally:
        executor.close()


def test_cancel_deletes_the_job(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> None:
    set_parallelism(control_plane, namespace, "5")
    kube = Kube(namespace=namespace, api_client=control_plane.api())
    executor = KubernetesExecutor(settings=settings_for(tmp_path, namespace), kube=kube)
    executor.open()
    try:
        executor.start(task(31))
        executor.cancel(31)
        assert executor.running() == []
        wait_until(
            lambda: not client.BatchV1Api(kube.api_client).list_namespaced_job(namespace).items,
            timeout=30,
            what="the canceled job to be deleted",
        )
    finally:
        executor.close()
