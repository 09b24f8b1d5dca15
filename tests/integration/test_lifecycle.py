"""The storage lifecycle on data made by real imports: ``gc-lookaside``, ``expire-logs``
and ``prune-projects``, through the command line where an operator would use it.

Files are aged with ``os.utime``; nothing sleeps.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from copr_importer.adapters import inventory
from copr_importer.adapters.spool import Spool
from copr_importer.app.importstep import EXIT_OK, run_step
from copr_importer.app.lifecycle import collect_lookaside
from copr_importer.settings import Settings
from tests.support.frontend_stub import FrontendStub
from tests.support.pipeline import cli, git, import_now, make_task
from tests.support.srpms import binary_tarball

DAY = 86400.0
Srpms = Callable[..., Path]


def tarball(name: str, version: str) -> bytes:
    return binary_tarball(name=name, version=version, size=20_000)


def age(path: Path, days: float) -> None:
    """Set the mtime of ``path`` (and everything under it) to ``days`` ago."""
    when = time.time() - days * DAY
    targets = [path] if path.is_file() else [*path.rglob("*"), path]
    for target in targets:
        os.utime(target, (when, when), follow_symlinks=False)


def lookaside_file(settings: Settings, owner: str, project: str, pkg: str, name: str, data: bytes) -> Path:
    md5 = hashlib.md5(data).hexdigest()
    return settings.lookaside_root / owner / project / pkg / name / md5 / name


def run_cli(*args: str) -> dict[str, Any]:
    done = subprocess.run(cli(*args, "--json"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def removed_paths(report: dict[str, Any]) -> set[str]:
    return {r["what"] for r in report["removals"]}


# --- gc-lookaside -----------------------------------------------------------


@pytest.fixture
def gc_data(settings: Settings, srpm_factory: Srpms) -> dict[str, Path]:
    """foo: v1 on f43 and master, then v2 on master only (f43's head still names v1's tarball).
    bar: v1 then v2 on master (v1's tarball is named by no head).  Everything is a month old,
    except a hand-placed unreferenced file that is an hour old."""
    foo1, foo2, bar1, bar2 = (tarball(*nv) for nv in [("foo", "1"), ("foo", "2"), ("bar", "1"), ("bar", "2")])
    steps = [
        (1, "foo", "1", {"foo-1.tar.gz": foo1}, ("f43", "master")),
        (2, "foo", "2", {"foo-2.tar.gz": foo2}, ("master",)),
        (3, "bar", "1", {"bar-1.tar.gz": bar1}, ("master",)),
        (4, "bar", "2", {"bar-2.tar.gz": bar2}, ("master",)),
    ]
    for build_id, pkg, version, sources, branches in steps:
        srpm = srpm_factory(name=pkg, version=version, sources=sources)
        import_now(settings, make_task(build_id, srpm, pkg=pkg, branches=branches))
    files = {
        "foo-1 (f43 head only)": lookaside_file(settings, "alice", "demo", "foo", "foo-1.tar.gz", foo1),
        "foo-2 (master head)": lookaside_file(settings, "alice", "demo", "foo", "foo-2.tar.gz", foo2),
        "bar-1 (no head)": lookaside_file(settings, "alice", "demo", "bar", "bar-1.tar.gz", bar1),
        "bar-2 (master head)": lookaside_file(settings, "alice", "demo", "bar", "bar-2.tar.gz", bar2),
    }
    stray = b"left behind by a deleted branch" * 100
    files["stray (old, no head)"] = lookaside_file(settings, "alice", "demo", "foo", "stray.tar.gz", stray)
    files["stray (old, no head)"].parent.mkdir(parents=True)
    files["stray (old, no head)"].write_bytes(stray)
    age(settings.lookaside_root, 30)
    young = lookaside_file(settings, "alice", "demo", "foo", "young.tar.gz", b"in flight")
    young.parent.mkdir(parents=True)
    young.write_bytes(b"in flight")
    files["young (no head)"] = young
    assert all(p.is_file() for p in files.values())
    return files


def test_gc_dry_run_reports_what_apply_then_removes(settings: Settings, gc_data: dict[str, Path]) -> None:
    garbage = {str(gc_data["bar-1 (no head)"]), str(gc_data["stray (old, no head)"])}
    expected_bytes = sum(os.stat(p).st_size for p in garbage)
    everything = {name: path.read_bytes() for name, path in gc_data.items()}

    dry = run_cli("gc-lookaside", "--data-dir", str(settings.data_dir))
    assert removed_paths(dry) == garbage
    assert dry["applied"] is False and dry["candidate_bytes"] == expected_bytes and dry["freed_bytes"] == 0
    assert {name: path.read_bytes() for name, path in gc_data.items()} == everything  # nothing removed

    done = run_cli("gc-lookaside", "--data-dir", str(settings.data_dir), "--apply")
    assert removed_paths(done) == garbage
    assert done["freed_bytes"] == expected_bytes and done["removed"] == 2
    for name, path in gc_data.items():
        assert path.is_file() == (str(path) not in garbage), name
    assert done["kept"]["referenced"] == 3 and done["kept"]["younger than the safety age"] == 1
    # The emptied <file>/<md5>/ and <file>/ directories went too; the package directory stays.
    assert not gc_data["bar-1 (no head)"].parent.parent.exists()
    assert gc_data["bar-2 (master head)"].is_file()

    again = run_cli("gc-lookaside", "--data-dir", str(settings.data_dir), "--apply")
    assert again["removals"] == [] and again["freed_bytes"] == 0


def test_gc_keeps_every_head_reference_even_with_a_zero_safety_age(
    settings: Settings, gc_data: dict[str, Path]
) -> None:
    done = run_cli("gc-lookaside", "--data-dir", str(settings.data_dir), "--apply", "--safety-age-days", "0")
    assert str(gc_data["young (no head)"]) in removed_paths(done)
    for name in ("foo-1 (f43 head only)", "foo-2 (master head)", "bar-2 (master head)"):
        assert gc_data[name].is_file(), name
    repo = settings.git_root / "alice/demo/foo.git"
    assert "foo-1.tar.gz" in git(repo, "show", "f43:sources")  # the reason foo-1 is kept


def test_gc_skips_packages_whose_repository_is_missing_or_broken(settings: Settings, gc_data: dict[str, Path]) -> None:
    ghost = settings.lookaside_root / "alice/demo/ghost/g.tar.gz" / ("0" * 32) / "g.tar.gz"
    ghost.parent.mkdir(parents=True)
    ghost.write_bytes(b"no repository")
    age(ghost, 30)
    (settings.git_root / "alice/demo/bar.git/refs/heads/master").write_text("1" * 40 + "\n")  # a lost object
    report = collect_lookaside(settings, now=time.time(), apply=True)
    assert ghost.is_file() and gc_data["bar-1 (no head)"].is_file()  # never "nothing referenced"
    assert removed_paths(report.as_dict()) == {str(gc_data["stray (old, no head)"])}
    skipped = " ".join(report.notes)
    assert "alice/demo/ghost: skipped" in skipped and "alice/demo/bar: skipped" in skipped


def test_gc_keeps_files_of_requests_still_waiting_for_the_writer(settings: Settings, srpm_factory: Srpms) -> None:
    data = tarball("baz", "1")
    srpm = srpm_factory(name="baz", sources={"baz-1.tar.gz": data})
    import_now(settings, make_task(1, srpm, pkg="baz"))
    newer = tarball("baz", "2")
    pending = make_task(2, srpm_factory(name="baz", version="2", sources={"baz-2.tar.gz": newer}), pkg="baz")
    assert run_step(pending, settings=settings, spool=Spool(settings.spool_root)).exit_code == EXIT_OK
    path = lookaside_file(settings, "alice", "demo", "baz", "baz-2.tar.gz", newer)
    age(path, 30)  # the writer has been down for longer than the safety age
    report = collect_lookaside(settings, now=time.time(), apply=True)
    assert path.is_file() and report.removals == []


def test_reimporting_a_file_makes_it_young_again(settings: Settings, srpm_factory: Srpms) -> None:
    data = tarball("qux", "1")
    srpm = srpm_factory(name="qux", sources={"qux-1.tar.gz": data})
    import_now(settings, make_task(1, srpm, pkg="qux"))
    path = lookaside_file(settings, "alice", "demo", "qux", "qux-1.tar.gz", data)
    age(path, 30)
    import_now(settings, make_task(2, srpm, pkg="qux"))
    assert time.time() - path.stat().st_mtime < DAY


# --- expire-logs --------------------------------------------------------------


def test_expire_logs_removes_old_task_logs_only(settings: Settings, srpm_factory: Srpms) -> None:
    for build_id in (1, 2):
        srpm = srpm_factory(name="foo", version=str(build_id), sources={f"foo-{build_id}.tar.gz": b"\0" * 10})
        import_now(settings, make_task(build_id, srpm, pkg="foo"))
    logs = settings.log_root
    old, young = logs / "1.log", logs / "2.log"
    assert old.stat().st_size > 0 and young.stat().st_size > 0
    notes = logs / "operator-notes.log"
    notes.write_text("not a task log\n")
    age(old, 31)
    age(notes, 400)
    size = old.stat().st_size

    for dry_run in ((), ("--dry-run",)):  # the default, as for the other two commands
        dry = run_cli("expire-logs", "--data-dir", str(settings.data_dir), *dry_run)
        assert removed_paths(dry) == {str(old)} and old.is_file()

    done = run_cli("expire-logs", "--data-dir", str(settings.data_dir), "--apply")
    assert removed_paths(done) == {str(old)} and done["freed_bytes"] == size
    assert not old.exists() and young.is_file() and notes.is_file()

    shorter = run_cli("expire-logs", "--data-dir", str(settings.data_dir), "--max-age-days", "0", "--apply")
    assert removed_paths(shorter) == {str(young)} and notes.is_file()


# --- prune-projects -----------------------------------------------------------

PROJECTS = {"alice/demo": 200, "alice/gone": 200, "bob/recent": 10, "carol/old": 200}


@pytest.fixture
def projects(settings: Settings, srpm_factory: Srpms) -> dict[str, tuple[Path, Path, int]]:
    """One imported package per project, aged as in PROJECTS (days); the git and lookaside
    directories of each and its size in bytes."""
    found = {}
    for build_id, (name, days) in enumerate(PROJECTS.items(), start=1):
        owner, project = name.split("/")
        srpm = srpm_factory(name="foo", version=str(build_id), sources={f"foo-{build_id}.tar.gz": tarball(name, "1")})
        task = make_task(build_id, srpm, pkg="foo", owner=owner, project=project, sandbox=f"{name}--{owner}")
        import_now(settings, task)
        dirs = (settings.git_root / owner / project, settings.lookaside_root / owner / project)
        for d in dirs:
            age(d, days)
        size = sum(p.stat().st_size for d in dirs for p in d.rglob("*") if p.is_file())
        found[name] = (*dirs, size)
    return found


def prune(settings: Settings, frontend: FrontendStub, *extra: str) -> dict[str, Any]:
    return run_cli("prune-projects", "--data-dir", str(settings.data_dir), "--frontend", frontend.url, *extra)


def present(found: dict[str, tuple[Path, Path, int]]) -> set[str]:
    return {name for name, (git_dir, lookaside_dir, _) in found.items() if git_dir.is_dir() and lookaside_dir.is_dir()}


def test_prune_removes_only_deleted_projects_older_than_the_guard(
    settings: Settings, frontend: FrontendStub, projects: dict[str, tuple[Path, Path, int]]
) -> None:
    frontend.projects = {("alice", "demo")}  # gone, recent and old are deleted in the frontend
    frontend.html_404_projects = {("carol", "old")}  # a proxy's 404 page is not copr's answer
    dry = prune(settings, frontend)
    assert removed_paths(dry) == {"alice/gone"} and dry["candidate_bytes"] == projects["alice/gone"][2]
    assert present(projects) == set(PROJECTS)
    asked = {path for method, path in frontend.requests if path.startswith("/api_3/project")}
    assert not any("recent" in path for path in asked)  # within the guard: not even asked

    done = prune(settings, frontend, "--apply")
    assert removed_paths(done) == {"alice/gone"} and done["freed_bytes"] == projects["alice/gone"][2]
    assert present(projects) == {"alice/demo", "bob/recent", "carol/old"}
    assert not (settings.git_root / "alice/gone").exists() and not (settings.lookaside_root / "alice/gone").exists()
    assert done["kept"] == {"changed within the guard": 1, "exists": 1, "no clear answer from the frontend": 1}
    assert any("carol/old" in note for note in done["notes"])
    git(settings.git_root / "alice/demo/foo.git", "fsck")  # the neighbour is intact

    shorter = prune(settings, frontend, "--apply", "--guard-days", "5")
    assert removed_paths(shorter) == {"bob/recent"}
    assert not (settings.git_root / "bob").exists()  # the emptied owner directory went too


def test_a_failing_frontend_keeps_everything(
    settings: Settings, frontend: FrontendStub, projects: dict[str, tuple[Path, Path, int]]
) -> None:
    frontend.fail_next = {"/api_3/project": [500] * 10}
    done = prune(settings, frontend, "--apply", "--guard-days", "0")
    assert done["removals"] == [] and present(projects) == set(PROJECTS)
    assert done["kept"] == {"no clear answer from the frontend": len(PROJECTS)}
    # After three failures in a row it stops asking instead of timing out once per project.
    assert len([p for _, p in frontend.requests if p.startswith("/api_3/project")]) == 3


def test_an_unreachable_frontend_keeps_everything(
    settings: Settings, projects: dict[str, tuple[Path, Path, int]]
) -> None:
    closed = "http://127.0.0.1:9"  # discard port: nothing listens, the connection is refused
    done = run_cli("prune-projects", "--data-dir", str(settings.data_dir), "--frontend", closed, "--apply")
    assert done["removals"] == [] and present(projects) == set(PROJECTS)


def test_named_projects_are_pruned_without_a_frontend(
    settings: Settings, projects: dict[str, tuple[Path, Path, int]]
) -> None:
    base = ("prune-projects", "--data-dir", str(settings.data_dir))
    done = run_cli(*base, "--project", "alice/gone", "--project", "bob/recent", "--apply")
    assert removed_paths(done) == {"alice/gone"}  # bob/recent changed within the guard
    assert present(projects) == {"alice/demo", "bob/recent", "carol/old"}
    refused = subprocess.run(cli(*base, "--project", "../etc"), capture_output=True, text=True)
    assert refused.returncode == 2 and "--project" in refused.stderr
    nothing = subprocess.run(cli(*base), capture_output=True, text=True)
    assert nothing.returncode == 2 and "needs a frontend" in nothing.stderr


def test_a_file_touched_after_it_was_listed_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "1.log"
    path.write_bytes(b"x" * 7)
    age(path, 30)
    (listed,) = inventory.list_flat(tmp_path)
    os.utime(path)  # an import reused it between the listing and the removal
    assert inventory.remove_file(path, listed_mtime=listed.mtime) is None and path.is_file()
    (listed,) = inventory.list_flat(tmp_path)
    assert inventory.remove_file(path, listed_mtime=listed.mtime) == 7 and not path.exists()
