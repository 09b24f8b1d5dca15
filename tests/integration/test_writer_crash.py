"""kill -9 the git-writer mid-commit, again and again: nothing lost, nothing doubled,
commits in build order, every repository ``git fsck --strict`` clean.

Two ways to pick the moment: a SIGKILL the writer sends itself at its N-th
durable write (``COPR_IMPORTER_KILL_AFTER_WRITES``, every step of a commit
is reachable), and SIGKILL from outside at random times.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from copr_importer.adapters.spool import Spool
from copr_importer.app.importstep import run_step
from copr_importer.settings import Settings
from tests.support.pipeline import cli, git, make_task
from tests.support.srpms import binary_tarball

BRANCHES = ("el9", "epel10", "f42", "f43", "master")
PACKAGES = ("alpha", "beta", "gamma")
BUILDS_PER_PACKAGE = 5


def _start_writer(settings: Settings, *, kill_after: int = 0) -> subprocess.Popen[bytes]:
    env = {**os.environ, "COPR_IMPORTER_KILL_AFTER_WRITES": str(kill_after)}
    return subprocess.Popen(
        cli("git-writer", "--data-dir", str(settings.data_dir)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )


def _applying(spool: Spool, before: bytes) -> bool:
    """The writer has started an apply since ``before`` was read from its journal."""
    journal = spool.root / "writer.journal"
    return journal.exists() and journal.read_bytes() != before


@pytest.fixture
def spooled(settings: Settings, srpm_factory: Callable[..., Path]) -> dict[str, list[int]]:
    """Hand over BUILDS_PER_PACKAGE builds of each package, interleaved, with tickets."""
    spool = Spool(settings.spool_root)
    expected: dict[str, list[int]] = {}
    build_id = 100
    for round_ in range(BUILDS_PER_PACKAGE):
        for pkg in PACKAGES:
            build_id += 1
            srpm = srpm_factory(
                name=pkg,
                version=f"1.{round_}",
                sources={f"{pkg}-{round_}.tar.gz": binary_tarball(name=pkg, version=str(round_))},
                patches={f"p{i}.patch": f"-{i}\n+{round_}\n".encode() for i in range(5)},
            )
            spool.add_ticket(key=f"alice%2Fdemo%2F{pkg}", build_id=build_id)
            task = make_task(build_id, srpm, pkg=pkg, branches=BRANCHES)
            assert run_step(task, settings=settings, spool=spool).exit_code == 0
            expected.setdefault(pkg, []).append(build_id)
    return expected


def _check_invariants(settings: Settings, expected: dict[str, list[int]]) -> None:
    spool = Spool(settings.spool_root)
    assert not spool.request_ids(), "requests left behind"
    results = dict(spool.results())
    assert sorted(results) == sorted(b for builds in expected.values() for b in builds)  # one result each
    for pkg, builds in expected.items():
        repo = settings.git_root / "alice" / "demo" / f"{pkg}.git"
        subprocess.run(["git", "-C", str(repo), "fsck", "--strict", "--no-dangling"], check=True, capture_output=True)
        assert len({git(repo, "rev-parse", b) for b in BRANCHES}) == 1
        # One import commit per build, no duplicates, in build order.
        history = git(repo, "log", "--format=%H", "master").splitlines()
        assert len(history) == 1 + len(builds)
        assert git(repo, "rev-list", "--all", "--count") == str(1 + len(builds))
        for index, (sha, b) in enumerate(zip(reversed(history[:-1]), builds, strict=True)):
            assert results[b]["branch_commits"] == dict.fromkeys(BRANCHES, sha)
            assert f"Version: 1.{index}" in git(repo, "show", f"{sha}:{pkg}.spec")
    leftovers = [p for p in settings.git_root.rglob("*") if p.name.endswith(".lock") or "tmp" in p.name]
    assert leftovers == []


def test_kill_at_every_kind_of_write(settings: Settings, spooled: dict[str, list[int]]) -> None:
    spool = Spool(settings.spool_root)
    rnd = random.Random(42)
    kills = 0
    for _ in range(400):
        if not spool.request_ids():
            break
        writer = _start_writer(settings, kill_after=rnd.randint(1, 40))
        deadline = time.monotonic() + 30
        while writer.poll() is None and spool.request_ids() and time.monotonic() < deadline:
            time.sleep(0.005)
        if writer.poll() is None:
            writer.terminate()
        kills += writer.wait() == -signal.SIGKILL
    assert kills >= 10
    resumed = [b for bs in spooled.values() for b in bs if "resuming" in (settings.log_root / f"{b}.log").read_text()]
    assert resumed, "no kill landed inside an apply"
    _check_invariants(settings, spooled)


def test_kill_from_outside_at_random_times(settings: Settings, spooled: dict[str, list[int]]) -> None:
    spool = Spool(settings.spool_root)
    rnd = random.Random(1234)
    kills = 0
    for _ in range(400):
        if not spool.request_ids():
            break
        journal = spool.root / "writer.journal"
        before = journal.read_bytes() if journal.exists() else b""
        writer = _start_writer(settings)
        while writer.poll() is None and not _applying(spool, before) and spool.request_ids():
            time.sleep(0.0005)
        # A warm apply takes a few ms, the first one in a fresh process tens of ms:
        # kill early most of the time, sometimes late enough for requests to complete.
        roll = rnd.random()
        time.sleep(rnd.uniform(0, 0.01) if roll < 0.5 else rnd.uniform(0.01, 0.1) if roll < 0.8 else 0.4)
        if writer.poll() is None:
            os.kill(writer.pid, signal.SIGKILL)
            kills += 1
        writer.wait()
    assert kills >= 1
    _check_invariants(settings, spooled)
