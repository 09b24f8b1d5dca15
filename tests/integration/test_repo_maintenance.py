"""Repositories stay packed: by the writer between requests and at its idle moments, and by
``maintain-repos`` next to a running writer, with ``git fsck --strict`` clean throughout.

Requests are written straight into the spool, as ``bench/gitwriter.py`` does, so that
thousands of builds cost seconds, not an rpmbuild each.  The 2,000-build test takes
about 30 s on a quiet 2-core machine (most of it in the writer's 2,000 applies).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.gitwriter import spool_request

from copr_importer.adapters.gitmaintenance import counts
from copr_importer.adapters.spool import Spool
from copr_importer.app.gitwriter import GitWriter
from copr_importer.settings import Settings
from tests.support.pipeline import cli, git

# One request adds at most 6 objects: spec, changed patch, sources, .gitignore, tree, commit.
OBJECTS_PER_REQUEST = 6


def _repo(settings: Settings, pkg: str) -> Path:
    return settings.git_root / "bench" / "mass" / f"{pkg}.git"


def _fsck(repo: Path) -> None:
    done = subprocess.run(["git", "-C", str(repo), "fsck", "--strict", "--no-dangling"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def _spool(settings: Settings, *, pkgs: list[str], builds: range, first_id: int) -> list[int]:
    spool = Spool(settings.spool_root)
    ids = []
    for version in builds:
        for index, pkg in enumerate(pkgs):
            build_id = first_id + version * len(pkgs) + index
            spool_request(spool, build_id=build_id, pkg=pkg, version=version, branches=["master"])
            ids.append(build_id)
    return ids


def _maintain(settings: Settings, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        cli("maintain-repos", "--data-dir", str(settings.data_dir), "--json", *args),
        capture_output=True,
        text=True,
        check=True,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_two_thousand_builds_of_one_package_keep_loose_objects_bounded(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(git={"durable": False})  # durability is the crash tests' subject
    bound = settings.git.pack_busy_loose_objects + OBJECTS_PER_REQUEST + 16  # + the repository's first objects
    spool = Spool(settings.spool_root)
    writer = GitWriter(settings=settings, spool=spool)
    writer.acquire()
    highest = 0
    try:
        for chunk in range(8):  # 8 x 250 builds, each chunk applied without an idle moment
            _spool(settings, pkgs=["big"], builds=range(chunk * 250, (chunk + 1) * 250), first_id=1)
            while spool.request_ids():
                writer.step()
                highest = max(highest, counts(_repo(settings, "big")).loose_objects)
        assert writer.store.maintained >= 8  # packed between requests, not only at the end
        writer.store.idle()  # the idle moment: what is left gets packed too
    finally:
        writer.close()
    repo = _repo(settings, "big")
    final = counts(repo)
    assert highest <= bound, f"{highest} loose objects at some point (bound {bound})"
    assert final.loose_objects < settings.git.pack_idle_loose_objects
    assert final.packs <= 12, final  # geometric: a handful of packs, not one per packing
    assert git(repo, "rev-list", "--count", "master") == "2001"
    results = dict(spool.results())
    assert len(results) == 2000 and not [r for r in results.values() if "error" in r]
    _fsck(repo)


def test_the_writer_packs_at_its_idle_moments(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(git={"durable": False})
    spool = Spool(settings.spool_root)
    _spool(settings, pkgs=["one", "two"], builds=range(30), first_id=1)
    writer = GitWriter(settings=settings, spool=spool)
    deadline = time.monotonic() + 300
    try:
        writer.run(
            should_stop=lambda: (
                (writer.store.maintained >= 2 and not writer.store._cache) or time.monotonic() > deadline
            )
        )
    finally:
        writer.close()
    for pkg in ("one", "two"):
        assert counts(_repo(settings, pkg)).loose_objects == 0
        _fsck(_repo(settings, pkg))


def test_maintain_repos_packs_what_the_writer_left_and_skips_what_it_holds(settings: Settings) -> None:
    spool = Spool(settings.spool_root)
    _spool(settings, pkgs=["alpha", "beta"], builds=range(3), first_id=1)
    writer = GitWriter(settings=settings, spool=spool)
    writer.acquire()
    try:
        while spool.request_ids():
            writer.step()
        dry = _maintain(settings, "--dry-run")
        assert {p["repo"] for p in dry["packed"]} == {"bench/mass/alpha.git", "bench/mass/beta.git"}
        assert counts(_repo(settings, "alpha")).loose_objects > 0  # a dry run changes nothing
        # The writer still has both open (no idle moment yet): both are skipped, untouched.
        held = _maintain(settings)
        assert held["packed"] == [] and held["kept"] == {"in use by the git-writer (next run)": 2}
        writer.store.close()  # what the writer does at an idle moment when nothing is due
        done = _maintain(settings)
    finally:
        writer.close()
    assert {p["repo"] for p in done["packed"]} == {"bench/mass/alpha.git", "bench/mass/beta.git"}
    assert done["loose_objects_after"] == 0 and done["failures"] == []
    assert _maintain(settings)["kept"] == {"packed already": 2}
    for pkg in ("alpha", "beta"):
        _fsck(_repo(settings, pkg))


def test_maintain_repos_next_to_a_running_writer_loses_nothing(settings: Settings) -> None:
    pkgs = ["one", "two", "three"]
    ids = _spool(settings, pkgs=pkgs, builds=range(60), first_id=1)
    writer = subprocess.Popen(
        cli("git-writer", "--data-dir", str(settings.data_dir)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    spool = Spool(settings.spool_root)
    runs: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 600
        while spool.request_ids() and time.monotonic() < deadline:
            runs.append(_maintain(settings))
        assert not spool.request_ids(), "the writer did not finish"
        runs.append(_maintain(settings))
    finally:
        writer.terminate()
        writer.wait(timeout=60)
    # Whether a run found a repository held, packed one, or found it packed by the writer's idle
    # moment depends on timing; none may fail, and nothing may be lost either way.
    assert len(runs) >= 2 and all(run["failures"] == [] for run in runs)
    results = dict(spool.results())
    assert sorted(results) == ids and not [r for r in results.values() if "error" in r]
    for pkg in pkgs:
        repo = _repo(settings, pkg)
        assert git(repo, "rev-list", "--count", "master") == "61"
        _fsck(repo)


def test_maintain_repos_migrates_an_old_root_ref_in_a_packed_repository(settings: Settings) -> None:
    spool = Spool(settings.spool_root)
    _spool(settings, pkgs=["old"], builds=range(2), first_id=1)
    writer = GitWriter(settings=settings, spool=spool)
    writer.acquire()
    try:
        while spool.request_ids():
            writer.step()
    finally:
        writer.close()
    repo = _repo(settings, "old")
    root = git(repo, "rev-list", "--max-parents=0", "master")
    # As version 0.1 left it, then packed by copr's git gc: nothing loose for maintain-repos to see.
    git(repo, "update-ref", "refs/importer/root", root)
    (repo / ".copr-importer" / "root").unlink()
    git(repo, "gc", "-q")
    assert counts(repo).loose_objects == 0 and counts(repo).loose_refs == 0
    report = _maintain(settings)
    assert [p["repo"] for p in report["packed"]] == ["bench/mass/old.git"]
    assert "refs/importer" not in git(repo, "ls-remote", ".")
    assert (repo / ".copr-importer" / "root").read_text().strip() == root
    assert _maintain(settings)["kept"] == {"packed already": 1}
    _fsck(repo)
