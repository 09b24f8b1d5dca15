"""Source builds as Kubernetes Jobs: the import Job resolves an sdist on a local index, or
clones a repository and runs its ``.copr/Makefile`` (repository code, allowed in Jobs), and
the result is imported and reported like any SRPM.  Real control plane, pods run by the
test node runtime (see tests/README.md for what it does not enforce)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cluster.conftest import ControlPlane
from tests.cluster.test_end_to_end_cluster import importer, local_node, until
from tests.integration.test_providers import make_repos
from tests.support.frontend_stub import FrontendStub
from tests.support.noderuntime import NodeRuntime
from tests.support.sourceservers import GitHttpServer, RouteServer, pypi_routes, real_sdists

pytestmark = pytest.mark.cluster
__all__ = ["local_node"]  # the fixture, used by name


def test_pypi_and_make_srpm_builds_run_inside_import_jobs(
    control_plane: ControlPlane, local_node: NodeRuntime, frontend: FrontendStub, tmp_path: Path
) -> None:
    index = RouteServer(pypi_routes(real_sdists()))
    make_repos(tmp_path / "git")
    repos = GitHttpServer(tmp_path / "git")
    base = {"owner": "alice", "project": "demo", "branches": ["f43"], "sandbox": "alice/demo--a", "background": False}
    pypi = {"pypi_package_name": "iniconfig", "pypi_package_version": "2.0.0", "python_versions": ["3"]}
    made = {"type": "git", "clone_url": f"{repos.url}/made.git", "srpm_build_method": "make_srpm"}
    frontend.queue.append({**base, "build_id": 1, "pkg_name": "python-iniconfig", "source_type": 5,
                           "source_json": json.dumps(pypi)})  # fmt: skip
    frontend.queue.append({**base, "build_id": 2, "pkg_name": "made", "source_type": 8, "source_json": made})
    extra = f'[sources]\npypi_index_url = "{index.url}/simple/"\nrun_repository_code = true\n'
    try:
        with importer(control_plane, frontend, tmp_path / "data", parallelism=2, extra=extra):
            until(lambda: len(frontend.reports) >= 2, timeout=240, what="two reports", runtime=local_node)
    finally:
        index.close()
        repos.close()
    reports = {r["build_id"]: r for r in frontend.reports}
    assert set(reports[1].get("branch_commits", {})) == {"f43"}, reports[1]
    assert set(reports[2].get("branch_commits", {})) == {"f43"}, reports[2]
    log = (tmp_path / "data/per-task-logs/2.log").read_text()
    assert "$ make -f " in log and "handed over to the git-writer" in log
