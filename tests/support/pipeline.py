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
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


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
