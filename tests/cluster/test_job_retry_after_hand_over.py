"""A Job whose pod dies after it handed its import over is retried by Kubernetes and
imports again: the git-writer must neither apply the build again nor report it with
other hashes, even when a newer build of the package was applied in between.

The import pods run with ``COPR_IMPORTER_HOLD_AT=handed-over=<file>``: each one
stops right after its hand-over while the file exists, so the test can delete a
pod that has handed over for real (the node runtime kills its processes), then
let the Job's retry pod run through.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cluster.conftest import ControlPlane
from tests.cluster.test_end_to_end_cluster import importer, running_node, until
from tests.support.frontend_stub import FrontendStub
from tests.support.noderuntime import NodeRuntime
from tests.support.pipeline import git
from tests.support.srpms import binary_tarball

pytestmark = pytest.mark.cluster

# In a directory import pods mount (they see spool/, lookaside/ and per-task-logs/ of the
# data volume, not its root).
HOLD = "per-task-logs/hold-after-hand-over"
BUILD_LABEL = "copr-importer.fedorainfracloud.org/build-id"


@pytest.fixture
def holding_node(control_plane: ControlPlane, tmp_path: Path) -> Iterator[NodeRuntime]:
    env = {"COPR_IMPORTER_HOLD_AT": f"handed-over=/var/lib/copr-importer/{HOLD}"}
    with running_node(control_plane, tmp_path / "node", env=env) as runtime:
        yield runtime


def test_a_retried_job_neither_reapplies_nor_reports_other_hashes(
    control_plane: ControlPlane,
    holding_node: NodeRuntime,
    frontend: FrontendStub,
    srpm_factory: Callable[..., Path],
    tmp_path: Path,
) -> None:
    srpms = {
        v: srpm_factory(
            name="foo", version=str(v), sources={f"foo-{v}.tar.gz": binary_tarball(name="foo", version=str(v))}
        )
        for v in (1, 2)
    }
    data = tmp_path / "data"

    def reports(build_id: int) -> list[dict[str, object]]:
        return [r for r in frontend.reports if r["build_id"] == build_id]

    def log_of(build_id: int) -> str:
        path = data / f"per-task-logs/{build_id}.log"
        return path.read_text() if path.exists() else ""

    with importer(control_plane, frontend, data, parallelism=2) as namespace:
        (data / HOLD).parent.mkdir(parents=True, exist_ok=True)
        (data / HOLD).touch()  # before the frontend lists the build: every import pod holds
        frontend.task(1, srpm=srpms[1], pkg="foo", branches=["f43", "master"])
        # Build 1's pod has handed over and stands still; the writer applied the
        # build and the controller reported it.
        until(lambda: bool(reports(1)), timeout=180, what="build 1's report", runtime=holding_node)
        first = reports(1)[0]
        # A newer build of the package is applied meanwhile.
        frontend.task(2, srpm=srpms[2], pkg="foo", branches=["f43", "master"])
        until(lambda: bool(reports(2)), timeout=180, what="build 2's report", runtime=holding_node)
        repo = data / "git/alice/demo/foo.git"
        heads = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads")

        # Build 1's pod dies after its hand-over; the Job starts another, which imports again.
        def pods() -> list[str]:
            names = control_plane.kubectl(
                "get", "pods", "-n", namespace, "-l", f"{BUILD_LABEL}=1", "-o", "jsonpath={.items[*].metadata.name}"
            )
            return names.split()

        (held,) = pods()
        control_plane.kubectl("delete", "pod", "-n", namespace, held, "--wait=false")
        until(lambda: held not in pods(), timeout=120, what="the held pod to be gone", runtime=holding_node)
        (data / HOLD).unlink()  # the retry pod, and build 2's, may go on
        until(
            lambda: log_of(1).count("importing build 1") >= 2 and "applied before" in log_of(1),
            timeout=240,
            what="the retried pod's hand-over to reach the writer",
            runtime=holding_node,
        )

        def settled() -> bool:
            spool_empty = not [*(data / "spool/requests").iterdir(), *(data / "spool/results").iterdir()]
            return spool_empty and not control_plane.kubectl("get", "jobs", "-n", namespace, "-o", "name")

        until(settled, timeout=120, what="both Jobs decided and deleted, the spool empty", runtime=holding_node)
    assert all(r == first for r in reports(1)), reports(1)  # once, or byte-identical repeats
    assert set(first["branch_commits"]) == {"f43", "master"}  # type: ignore[arg-type]
    assert git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads") == heads
    for branch in ("f43", "master"):
        history = git(repo, "log", "--format=%H", branch).splitlines()
        assert history[1] == first["branch_commits"][branch]  # type: ignore[index]
        assert len(history) == 3  # setup, build 1, build 2: build 1 not applied again on top
    objects = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objecttype)").split()
    assert objects.count("commit") == 3
    record = json.loads((data / "spool/applied/alice%2Fdemo%2Ffoo/branches.json").read_text())
    assert record == {"f43": 2, "master": 2}
