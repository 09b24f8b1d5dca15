"""``copr-importer cgit-list`` lists repositories that predate the cgit list, and never
writes the list while a git-writer holds the spool."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from copr_importer.adapters.cgitlist import read_listed
from copr_importer.app.gitwriter import GitWriter
from copr_importer.settings import Settings
from tests.support.pipeline import cli, import_now, make_task

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_cli(settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "controller")}
    command = cli("cgit-list", "--data-dir", str(settings.data_dir))
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_repositories_from_before_the_list_are_listed_once(
    settings: Settings, srpm_factory: Callable[..., Path]
) -> None:
    for build_id, name in enumerate(("foo", "bar"), start=1):
        import_now(settings, make_task(build_id, srpm_factory(name=name), pkg=name))
    settings.cgit_list_path.unlink()  # as if copr-dist-git had made them
    done = run_cli(settings)
    assert done.returncode == 0, done.stderr
    assert "2 repositories added" in done.stdout
    assert read_listed(settings.cgit_list_path) == {"alice/demo/foo.git", "alice/demo/bar.git"}
    before = settings.cgit_list_path.read_text()
    again = run_cli(settings)
    assert "0 repositories added" in again.stdout
    assert settings.cgit_list_path.read_text() == before


def test_it_refuses_while_a_git_writer_runs(settings: Settings, srpm_factory: Callable[..., Path]) -> None:
    import_now(settings, make_task(1, srpm_factory(name="foo"), pkg="foo"))
    settings.cgit_list_path.unlink()
    writer = GitWriter(settings=settings)
    writer.acquire()
    try:
        done = run_cli(settings)
    finally:
        writer.close()
    assert done.returncode == 75
    assert "another git-writer is running" in done.stderr
    assert not settings.cgit_list_path.exists()
