"""The Kubernetes executor against a real control plane (pods played by kwok)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from copr_importer.adapters.frontend import CoprFrontend
from copr_importer.adapters.jobtemplate import default_template
from copr_importer.adapters.kube import Kube
from copr_importer.adapters.outbox import Outbox
from copr_importer.adapters.spool import Spool
from copr_importer.app.controller import Controller
from copr_importer.app.kubeexec import KubernetesExecutor
from copr_importer.app.localexec import Outcome
from copr_importer.core.admission import choose
from copr_importer.core.jobspec import render_job
from copr_importer.core.task import ImportTask
from copr_importer.settings import Settings, from_mapping
from tests.cluster.conftest import ControlPlane
from tests.support.frontend_stub import FrontendStub
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


def apply_template(plane: ControlPlane, namespace: str, template: str, *, parallelism: int = 5) -> None:
    manifest = plane.kubectl(
        "create",
        "configmap",
        "copr-importer-settings",
        "-n",
        namespace,
        f"--from-literal=parallelism={parallelism}",
        f"--from-literal=job-template={template}",
        "--dry-run=client",
        "-o",
        "yaml",
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
    apply_template(control_plane, namespace, template, parallelism=1)
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


class KeepingKube(Kube):
    """Leaves decided Jobs in place, so that the test can look at them afterwards."""

    def delete_job(self, name: str) -> None:
        pass


def test_a_succeeded_pod_decides_before_its_job_completes(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    # Two completions: after the first pod succeeds the Job is still far from Complete.
    apply_template(control_plane, namespace, default_template().replace("\nspec:\n", "\nspec:\n  completions: 2\n", 1))
    kube = KeepingKube(namespace=namespace, api_client=control_plane.api())
    executor = KubernetesExecutor(settings=settings_for(tmp_path, namespace), kube=kube)
    executor.open()
    try:
        executor.limits()  # reads the template
        executor.start(task(41))
        [outcome] = collect(executor, 1)
        job = client.BatchV1Api(kube.api_client).read_namespaced_job("import-41", namespace)
        assert outcome.exit_code == 0
        assert executor.running() == []
        assert not any(c.type == "Complete" and c.status == "True" for c in job.status.conditions or [])
    finally:
        executor.close()


def test_a_bad_input_pod_fails_the_import_with_its_message(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    # kwok ends pods labelled bad-input with exit code 65 and a termination message.
    template = default_template().replace(
        "    metadata:\n      labels: *labels\n",
        "    metadata:\n      labels:\n        <<: *labels\n        test.local/outcome: bad-input\n",
        1,
    )
    apply_template(control_plane, namespace, template)
    kube = Kube(namespace=namespace, api_client=control_plane.api())
    executor = KubernetesExecutor(settings=settings_for(tmp_path, namespace), kube=kube)
    executor.open()
    try:
        executor.limits()
        executor.start(task(42))
        [outcome] = collect(executor, 1)
        assert (outcome.exit_code, outcome.message) == (65, "bad input: kwok says so")
        events = client.CoreV1Api(kube.api_client).list_namespaced_event(namespace).items
        assert any(e.reason == "ImportFailed" and "kwok says so" in e.message for e in events)
    finally:
        executor.close()


class Counting(KubernetesExecutor):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.starts: Counter[int] = Counter()

    def start(self, task: ImportTask) -> None:
        self.starts[task.build_id] += 1
        super().start(task)


def test_the_controller_starts_each_task_once_while_jobs_end_around_it(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    # Short Jobs ending while the controller dispatches: a Job decided by the watch
    # between the controller's poll and its dispatch must not look free to start again.
    set_parallelism(control_plane, namespace, "20")
    frontend = FrontendStub(password="pw")
    frontend.queue.extend(
        {
            "build_id": i,
            "owner": "alice",
            "project": "demo",
            "branches": ["f43"],
            "pkg_name": f"pkg{i}",
            "srpm_url": "http://127.0.0.1:9/x.src.rpm",
            "sandbox": f"alice/demo--{i}",
            "background": False,
        }
        for i in range(1, 31)
    )
    frontend.start()
    settings = from_mapping(
        {
            "data_dir": str(tmp_path),
            "frontend": {"base_url": frontend.url, "password": "pw", "poll_interval": 0.2},
            "kubernetes": {"namespace": namespace},
            "executor": {"per_owner": None, "per_sandbox": None},
        }
    )
    executor = Counting(settings=settings, kube=Kube(namespace=namespace, api_client=control_plane.api()))
    controller = Controller(
        settings=settings,
        source=CoprFrontend(settings.frontend),
        executor=executor,
        spool=Spool(settings.spool_root),
        outbox=Outbox(settings.data_dir / "outbox"),
        limits=executor.limits,
    )
    executor.open()
    try:
        deadline = time.monotonic() + 120
        while len(controller.awaiting) < 30:  # kwok runs no import step: every success stays awaiting
            assert time.monotonic() < deadline, f"{len(controller.awaiting)} of 30 imports ended"
            controller.tick()
            executor.wait(0.02)
        assert sorted(executor.starts) == list(range(1, 31))
        assert {b: n for b, n in executor.starts.items() if n > 1} == {}
    finally:
        executor.close()
        frontend.stop()
