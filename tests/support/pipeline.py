"""Driving the import step and the git-writer directly, without the controller."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from copr_importer.adapters.spool import Spool
from copr_importer.app.gitwriter import GitWriter
from copr_importer.app.importstep import EXIT_OK, run_step
from copr_importer.core.task import ImportTask
from copr_importer.settings import Settings

__all__ = ["cli", "frontend_config", "git", "import_now", "make_task", "writer_pass"]


def make_task(build_id: int, srpm: Path, *, pkg: str, branches: tuple[str, ...] = ("master",), **kw: Any) -> ImportTask:
    fields: dict[str, Any] = {"owner": "alice", "project": "demo", "sandbox": "alice/demo--alice", **kw}
    return ImportTask(
        build_id, fields["owner"], fields["project"], pkg, tuple(dict.fromkeys(branches)), str(srpm), fields["sandbox"]
    )


def import_now(settings: Settings, task: ImportTask) -> dict[str, Any]:
    """Run the step and let a writer apply it; return the writer's result."""
    spool = Spool(settings.spool_root)
    outcome = run_step(task, settings=settings, spool=spool)
    assert outcome.exit_code == EXIT_OK, outcome.message
    writer_pass(settings, spool=spool)
    result = dict(spool.results())[task.build_id]
    spool.remove_result(task.build_id)
    return result


def writer_pass(settings: Settings, *, spool: Spool) -> None:
    """Let a git-writer make one pass over the spool."""
    writer = GitWriter(settings=settings, spool=spool)
    writer.acquire()
    try:
        writer.step()
    finally:
        writer.close()


def git(repo: Path, *args: str) -> str:
    # safe.directory: in the cluster and node tests the repositories belong to the pods' uid.
    command = ["git", "-c", "safe.directory=*", "-C", str(repo), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def assert_reported_and_committed_once(
    reports: list[dict[str, Any]], *, builds: dict[int, str], git_root: Path
) -> None:
    """Every build reported a success, the same report if more than once, and each
    package's f43 has exactly one commit per build (plus the initial one)."""
    by_build: dict[int, list[dict[str, Any]]] = {}
    for report in reports:
        by_build.setdefault(report["build_id"], []).append(report)
    assert set(by_build) == set(builds)
    for build_id, same in by_build.items():
        assert all(r == same[0] for r in same), f"build {build_id} reported differently: {same}"
        assert "branch_commits" in same[0], same[0]
    for pkg in set(builds.values()):
        count = sum(1 for p in builds.values() if p == pkg)
        repo = git_root / f"alice/demo/{pkg}.git"
        assert git(repo, "rev-list", "--count", "f43") == str(1 + count)  # no import committed twice
        assert git(repo, "rev-list", "--all", "--count") == str(1 + count)


def cli(*args: str) -> list[str]:
    """The command line that runs ``copr-importer`` from this checkout."""
    return [sys.executable, "-m", "copr_importer", *args]


def frontend_config(tmp_path: Path, *, frontend_url: str, data: Path, extra: str) -> Path:
    """``tmp_path/importer.toml`` for a run against a frontend (password in a file, 0.2 s polls),
    with ``extra`` TOML lines appended to the ``[frontend]`` table."""
    (tmp_path / "password").write_text("s3cret\n")
    config = tmp_path / "importer.toml"
    config.write_text(
        f'data_dir = "{data}"\n'
        f'[frontend]\nbase_url = "{frontend_url}"\npassword_file = "{tmp_path / "password"}"\npoll_interval = 0.2\n'
        + extra
    )
    return config
