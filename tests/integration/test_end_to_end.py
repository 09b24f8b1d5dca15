"""The whole pipeline as users run it: ``copr-importer run`` against a Copr frontend
stub, and on local SRPMs (the README's quick start)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.support.craft import CraftFile, evil_srpm
from tests.support.frontend_stub import FrontendStub
from tests.support.pipeline import cli, frontend_config, git
from tests.support.srpms import binary_tarball
from tests.support.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
SHA40 = 40


def test_copr_frontend_end_to_end(frontend: FrontendStub, srpm_factory: Callable[..., Path], tmp_path: Path) -> None:
    data = tmp_path / "data"
    extra = "backoff = 0.05\n[download]\nbackoff = 0.0\n[executor]\nworkers = 2\nmax_attempts = 2\nretry_delay = 0.1\n"
    config = frontend_config(tmp_path, frontend_url=frontend.url, data=data, extra=extra)
    foo1 = srpm_factory(name="foo", version="1", sources={"foo-1.tar.gz": binary_tarball(name="foo", version="1")})
    foo2 = srpm_factory(name="foo", version="2", sources={"foo-2.tar.gz": binary_tarball(name="foo", version="2")})
    bar = srpm_factory(name="bar", patches={"bar.patch": b"-a\n+b\n"})
    evil = evil_srpm(tmp_path, member=CraftFile("link", b"/etc/shadow", mode=0o120777))
    frontend.task(1, srpm=foo1, pkg="foo", branches=["master", "f43"])
    frontend.task(2, srpm=bar, pkg="bar", branches=["f42", "bad..branch"])
    frontend.task(3, srpm=foo2, pkg="foo", branches=["f43", "master"])
    frontend.task(4, srpm=evil, pkg="evil", branches=["f43"])
    frontend.queue.append(
        {
            "build_id": 5,
            "owner": "../x",
            "project": "p",
            "branches": ["f43"],
            "pkg_name": "x",
            "srpm_url": "http://127.0.0.1:9/x",
            "sandbox": "s",
            "background": False,
        }
    )
    gone = frontend.task(6, srpm=bar, pkg="bar", branches=["f43"])
    gone["srpm_url"] = f"{frontend.url}/srpms/vanished.src.rpm"
    flaky = frontend.task(7, srpm=bar, pkg="bar", branches=["f43"])
    flaky["srpm_url"] = f"{frontend.url}/srpms/always-503/bar-1.0-1.src.rpm"
    frontend.fail_next["/srpms/always-503/"] = [503] * 100
    # A storage fault (the package's lookaside path is a file) is transient: retried, then given up.
    blocked = srpm_factory(name="blocked", sources={"b.tar.gz": binary_tarball(name="b", version="1")})
    frontend.task(8, srpm=blocked, pkg="blocked", branches=["f43"])
    (data / "lookaside/pkgs/alice/demo").mkdir(parents=True)
    (data / "lookaside/pkgs/alice/demo/blocked").write_text("not a directory")
    frontend.fail_next["/backend/import-completed/"] = [500, 502]

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "controller")}
    controller = subprocess.Popen(
        cli("run", "--config", str(config)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: len(frontend.reports) >= 8, timeout=90, what="eight reports", interval=0.1)
    finally:
        controller.send_signal(signal.SIGTERM)
        output = controller.communicate(timeout=30)[0].decode()
    assert controller.returncode == 0, output

    reports = {r["build_id"]: r for r in frontend.reports}
    assert sorted(reports) == [1, 2, 3, 4, 5, 6, 7, 8]
    foo_repo = data / "git/alice/demo/foo.git"
    assert set(reports[1]["branch_commits"]) == {"f43", "master"} and reports[1]["reponame"] == "alice/demo/foo"
    v2 = reports[3]["branch_commits"]["f43"]
    assert len(v2) == SHA40 and git(foo_repo, "rev-parse", f"{v2}^") == reports[1]["branch_commits"]["f43"]
    assert git(foo_repo, "rev-parse", "master") == v2
    assert set(reports[2]["branch_commits"]) == {"f42"} and "bad..branch" in reports[2]["branch_errors"]
    assert reports[4]["error"] == "unsafe_srpm" and "symbolic link" in reports[4]["error_message"]
    assert reports[5]["error"] == "malformed_task" and "owner" in reports[5]["error_message"]
    assert reports[6]["error"] == "srpm_download_failed" and "404" in reports[6]["error_message"]
    assert reports[7]["error"] == "srpm_download_failed" and "after 5 attempts" in reports[7]["error_message"]
    assert "gave up after 2 attempts" in reports[8]["error_message"]
    for build_id in (1, 2, 3, 4, 6, 7, 8):
        assert (data / "per-task-logs" / f"{build_id}.log").stat().st_size > 0
    assert "symbolic link" in (data / "per-task-logs/4.log").read_text()
    spool = data / "spool"
    assert not os.listdir(spool / "requests") and not os.listdir(spool / "results")
    assert not [p for p in (spool / "tickets").rglob("*") if p.is_file()]
    assert not os.listdir(data / "outbox")


def test_quick_start_on_the_shipped_samples(tmp_path: Path) -> None:
    samples = sorted(str(p) for p in (REPO_ROOT / "samples").glob("*.src.rpm"))
    assert len(samples) >= 3
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "controller")}
    command = cli(
        "run",
        "--data-dir",
        str(tmp_path / "d"),
        "--branch",
        "f43",
        "--branch",
        "master",
        "--json",
        *samples,
    )
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == len(samples)
    for row in rows:
        assert set(row["branch_commits"]) == {"f43", "master"}
        assert Path(row["repository"]).is_dir() and Path(row["log"]).is_file()
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    rows_again = json.loads(again.stdout)
    assert [r["branch_commits"] for r in rows_again] == [r["branch_commits"] for r in rows]  # idempotent
    assert {r["build_id"] for r in rows_again}.isdisjoint({r["build_id"] for r in rows})  # new builds


def test_local_run_reports_a_bad_srpm_and_fails(tmp_path: Path) -> None:
    junk = tmp_path / "junk-1-1.src.rpm"
    junk.write_bytes(b"not an rpm at all")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "controller")}
    done = subprocess.run(
        cli("run", "--data-dir", str(tmp_path / "d"), str(junk)),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "FAILED (srpm_query_failed): not an RPM file" in done.stdout


def test_the_import_step_runs_where_there_is_no_git(
    srpm_factory: Callable[..., Path], tmp_path: Path, frontend: FrontendStub
) -> None:
    # The job image has no git executable; GitPython must not stop the CLI from starting.
    srpm = srpm_factory(name="nogit", sources={"nogit.tar.gz": binary_tarball(name="nogit", version="1.0")})
    task = {
        "build_id": 7,
        "owner": "alice",
        "project": "demo",
        "branches": ["f43"],
        "pkg_name": "nogit",
        "srpm_url": frontend.add_srpm(srpm),  # a Job reads no local files
        "sandbox": "alice/demo--alice",
        "background": False,
    }
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT / "controller"),
        "GIT_PYTHON_GIT_EXECUTABLE": str(tmp_path / "no-such-git"),
    }
    env.pop("GIT_PYTHON_REFRESH", None)
    done = subprocess.run(
        cli("import-step", "--data-dir", str(tmp_path / "d"), "--task-json", json.dumps(task)),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "d/spool/requests/7").is_dir()  # handed over to the git-writer
