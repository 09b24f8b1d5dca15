"""The lookaside: copr's layout, the modern sha512 layout, and distrust of existing files."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from copr_importer.core.sources import parse_sources
from copr_importer.settings import Settings
from tests.support.frontend_stub import FrontendStub
from tests.support.pipeline import cli, git, import_now, make_task
from tests.support.srpms import binary_tarball

TAR = binary_tarball(name="foo", version="1")


def test_modern_layout_with_sha512_and_bsd_sources(
    make_settings: Callable[..., Settings], srpm_factory: Callable[..., Path]
) -> None:
    settings = make_settings(lookaside={"hashtype": "sha512", "with_hashtype_dir": True, "sources_style": "bsd"})
    srpm = srpm_factory(name="foo", sources={"foo-1.tar.gz": TAR})
    sha = import_now(settings, make_task(1, srpm, pkg="foo"))["branch_commits"]["master"]
    repo = settings.git_root / "alice/demo/foo.git"
    digest = hashlib.sha512(TAR).hexdigest()
    assert git(repo, "show", f"{sha}:sources") == f"SHA512 (foo-1.tar.gz) = {digest}"
    assert parse_sources(git(repo, "show", f"{sha}:sources"))[0].hashtype == "sha512"
    path = settings.lookaside_root / "alice/demo/foo/foo-1.tar.gz/sha512" / digest / "foo-1.tar.gz"
    assert path.read_bytes() == TAR


def test_corrupt_existing_file_is_replaced(settings: Settings, srpm_factory: Callable[..., Path]) -> None:
    md5 = hashlib.md5(TAR).hexdigest()
    path = settings.lookaside_root / "alice/demo/foo/foo-1.tar.gz" / md5 / "foo-1.tar.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(TAR[:100])  # what a crash during copr's non-atomic copy leaves
    srpm = srpm_factory(name="foo", sources={"foo-1.tar.gz": TAR})
    import_now(settings, make_task(1, srpm, pkg="foo"))
    assert path.read_bytes() == TAR
    assert [p.name for p in path.parent.iterdir()] == ["foo-1.tar.gz"]  # no temporary files left


def test_import_step_command_is_what_a_job_runs(
    settings: Settings, srpm_factory: Callable[..., Path], frontend: FrontendStub
) -> None:
    # A Job reads no local files: the SRPMs come over HTTP, as from a frontend.
    good = make_task(7, srpm_factory(name="foo", sources={"foo-1.tar.gz": TAR}), pkg="foo")
    good = replace(good, srpm_url=frontend.add_srpm(Path(good.srpm_url)))
    bad = make_task(8, srpm_factory(name="bar"), pkg="foo")
    bad = replace(bad, srpm_url=frontend.add_srpm(Path(bad.srpm_url)))
    command = cli("import-step", "--data-dir", str(settings.data_dir))
    ok = subprocess.run([*command, "--task-json", json.dumps(good.to_record())], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert (settings.spool_root / "requests/7/request.json").is_file()
    message = settings.data_dir.parent / "termination-log"
    refused = subprocess.run(
        [*command, "--termination-log", str(message), "--task-json", json.dumps(bad.to_record())],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 65 and "'bar' but the task is for 'foo'" in refused.stderr
    assert message.read_text().startswith("srpm_query_failed: SRPM is package 'bar'")
    garbage = subprocess.run([*command, "--task-json", '{"build_id": 9}'], capture_output=True, text=True)
    assert garbage.returncode == 65 and "invalid task" in garbage.stderr


def test_local_task_file(tmp_path: Path, srpm_factory: Callable[..., Path]) -> None:
    srpm = srpm_factory(name="foo", sources={"foo-1.tar.gz": TAR})
    tasks = tmp_path / "tasks.json"
    tasks.write_text(
        json.dumps(
            [
                {"srpm_url": str(srpm), "owner": "@grp", "project": "proj:pr:3", "branches": ["epel9", "f43"]},
                {"srpm_url": str(srpm), "owner": "bad/owner"},
            ]
        )
    )
    command = cli(
        "run",
        "--data-dir",
        str(tmp_path / "d"),
        "--tasks",
        str(tasks),
        "--json",
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    rows = json.loads(done.stdout)
    assert done.returncode == 1
    assert rows[0]["reponame"] == "@grp/proj:pr:3/foo" and set(rows[0]["branch_commits"]) == {"epel9", "f43"}
    assert rows[1]["error"] == "malformed_task" and "owner" in rows[1]["error_message"]
    assert (tmp_path / "d/git/@grp/proj:pr:3/foo.git").is_dir()
