"""The executor's Job watch meets 410 Gone on a real control plane, and recovers by listing again.

A watch from a resourceVersion that etcd has compacted away is answered with 410
("too old resource version"); the executor must then list again and carry on
from the list, losing no Job state and reporting no Job twice.

The apiserver's watch cache normally hides compaction: it keeps recent events
itself and serves an old resourceVersion from memory.  This module therefore
runs its own control plane with the Job watch cache turned off
(``--watch-cache-sizes=jobs.batch#0``), so Job watches go straight to etcd, as they
do on any apiserver once the version is older than its cache's window.  The
other cluster tests keep the session plane, which has the cache (and bookmarks)
as a production apiserver does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from copr_importer.adapters.jobtemplate import default_template
from copr_importer.adapters.kube import Expired, JobState, Kube, PodState, WatchEvent
from copr_importer.app.kubeexec import KubernetesExecutor
from copr_importer.core.jobspec import render_job
from copr_importer.settings import from_mapping
from tests.cluster.test_kubernetes_executor import collect, set_parallelism, task
from tests.support.controlplane import ControlPlane, running_control_plane
from tests.support.waiting import wait_until

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def control_plane() -> Iterator[ControlPlane]:
    """This module's plane (it overrides the session's, so the ``namespace`` fixture uses it)."""
    yield from running_control_plane(apiserver_args=("--watch-cache-sizes=jobs.batch#0",))


class GatedKube(Kube):
    """The real adapter, with a gate in front of each new watch (of Jobs and of pods) so
    the test can hold the executor between two watches, and a record of what the Job
    watches and lists did."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = threading.Event()
        self.gate.set()
        self.held = threading.Event()  # a Job watch is waiting at the closed gate
        self.pods_held = threading.Event()  # and a pod watch
        self.watched_from: list[str] = []
        self.expired: list[str] = []  # the resourceVersions the server answered 410 for
        self.lists = 0

    def list_jobs(self) -> tuple[list[JobState], str]:
        self.lists += 1
        return super().list_jobs()

    def watch_pods(self, *, resource_version: str, timeout: int) -> Iterator[WatchEvent[PodState]]:
        if not self.gate.is_set():
            self.pods_held.set()
            self.gate.wait()
        yield from super().watch_pods(resource_version=resource_version, timeout=timeout)

    def watch_jobs(self, *, resource_version: str, timeout: int) -> Iterator[WatchEvent[JobState]]:
        if not self.gate.is_set():
            self.held.set()
            self.gate.wait()
        self.watched_from.append(resource_version)
        try:
            yield from super().watch_jobs(resource_version=resource_version, timeout=timeout)
        except Expired:
            self.expired.append(resource_version)
            raise


def complete(batch: client.BatchV1Api, namespace: str, names: set[str]) -> bool:
    jobs = {j.metadata.name: j for j in batch.list_namespaced_job(namespace).items}
    return names <= jobs.keys() and all(jobs[n].status.succeeded for n in names)


def test_a_watch_from_a_compacted_version_lists_again_and_loses_nothing(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    set_parallelism(control_plane, namespace, "5")
    settings = from_mapping(
        {
            "data_dir": str(tmp_path),
            # Short server-side watches: the executor starts a new watch every second.
            "kubernetes": {"namespace": namespace, "watch_timeout": 1},
            "executor": {"workers": 1, "per_owner": None, "per_sandbox": None},
        }
    )
    kube = GatedKube(namespace=namespace, api_client=control_plane.api())
    executor = KubernetesExecutor(settings=settings, kube=kube, refresh=0.2)
    batch = client.BatchV1Api(control_plane.api())
    # An adopted Job that runs for long: it is deleted behind the executor's back below.
    body = render_job(task(44), template=default_template(), namespace=namespace, job=settings.job)
    body["spec"]["template"]["metadata"]["annotations"] = {"test.local/run-for": "600s"}
    kube.create_job(body)
    executor.open()
    try:
        assert [t.build_id for t in executor.running()] == [44]
        # Hold the executor between two watches while the cluster moves on without it.
        kube.gate.clear()
        assert kube.held.wait(timeout=30), "the executor never started a new Job watch"
        assert kube.pods_held.wait(timeout=30), "the executor never started a new pod watch"
        for build_id in (41, 42, 43):
            executor.start(task(build_id))
        batch.delete_namespaced_job("import-44", namespace, propagation_policy="Background")
        wait_until(
            lambda: complete(batch, namespace, {"import-41", "import-42", "import-43"}),
            timeout=60,
            what="the jobs to complete while the executor is not watching",
        )
        assert executor.poll() == []  # the executor has seen none of it
        assert sorted(t.build_id for t in executor.running()) == [41, 42, 43, 44]
        lists_before = kube.lists

        compacted = control_plane.compact_etcd()
        kube.gate.set()
        wait_until(lambda: bool(kube.expired), timeout=30, what="the server to answer 410 to the stale watch")
        stale = kube.expired[0]
        assert int(stale) + 1 < compacted  # the watch asked for history etcd no longer has
        wait_until(lambda: kube.lists > lists_before, timeout=30, what="the executor to list again")

        outcomes = collect(executor, 3)
        assert sorted((o.task.build_id, o.exit_code) for o in outcomes) == [(41, 0), (42, 0), (43, 0)]
        assert 44 not in {t.build_id for t in executor.running()}  # the relist dropped the deleted Job
        wait_until(
            lambda: not batch.list_namespaced_job(namespace).items, timeout=30, what="reported jobs to be deleted"
        )
        assert executor.poll() == []  # each Job reported once
        assert len(kube.expired) == 1  # and the watch carries on from the fresh list
        assert kube.watched_from[-1] != stale
    finally:
        executor.close()
        kube.gate.set()
