"""kill -9 the git-writer mid-commit, again and again: nothing lost, nothing doubled,
commits in build order, every repository ``git fsck --strict`` clean.

Two ways to pick the moment: a SIGKILL the writer sends itself at its N-th
durable write (``COPR_IMPORTER_KILL_AFTER_WRITES``, every step of a commit, of
the applied record and of the results is reachable), and SIGKILL from outside
at random times.  Between writer runs the test does what the controller does
(takes each published result once and drops its ticket) and hands over again
builds that were already applied and reported, as a retried Job would.  Each
build's results must be byte-identical however often it is published, each
branch must only move forward, and no commit object may exist beyond one per
build: a request applied again after a kill makes the very same commits.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from copr_importer.adapters.spool import Spool
from copr_importer.app.importstep import EXIT_OK, run_step
from copr_importer.core.task import ImportTask
from copr_importer.settings import Settings
from tests.support.pipeline import cli, git, make_task
from tests.support.srpms import binary_tarball
from tests.support.waiting import wait_until

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


@dataclass
class Run:
    """The builds handed over, and what the test saw while the writer was killed."""

    expected: dict[str, list[int]]
    tasks: dict[int, ImportTask]
    seen: dict[int, bytes] = field(default_factory=dict)  # build -> its result file, as first published
    heads: dict[tuple[str, str], str] = field(default_factory=dict)
    repeats: int = 0  # builds handed over again after they were reported


@pytest.fixture
def spooled(settings: Settings, srpm_factory: Callable[..., Path]) -> Run:
    """Hand over BUILDS_PER_PACKAGE builds of each package, interleaved, with tickets."""
    spool = Spool(settings.spool_root)
    run = Run({}, {})
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
            task = run.tasks[build_id] = make_task(build_id, srpm, pkg=pkg, branches=BRANCHES)
            assert run_step(task, settings=settings, spool=spool).exit_code == 0
            run.expected.setdefault(pkg, []).append(build_id)
    return run


def _after_writer(settings: Settings, run: Run, rnd: random.Random) -> None:
    """Between two writer runs: act as the controller, check that branches only moved
    forward, and now and then hand over again a build that was already reported."""
    spool = Spool(settings.spool_root)
    for build_id, _ in list(spool.results()):
        data = spool.result_path(build_id).read_bytes()
        assert run.seen.setdefault(build_id, data) == data, f"build {build_id} published differently"
        spool.remove_result(build_id)
        spool.remove_ticket(key=f"alice%2Fdemo%2F{run.tasks[build_id].pkg_name}", build_id=build_id)
    for pkg in PACKAGES:
        repo = settings.git_root / "alice" / "demo" / f"{pkg}.git"
        for branch in BRANCHES if repo.exists() else ():
            found = subprocess.run(
                ["git", "-C", str(repo), "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
                capture_output=True,
                text=True,
            )
            if found.returncode:
                continue  # not created yet
            head = found.stdout.strip()
            old = run.heads.setdefault((pkg, branch), head)
            ancestry = subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", old, head])
            assert ancestry.returncode == 0, f"{pkg} {branch} moved from {old} to {head}, not forward"
            run.heads[(pkg, branch)] = head
    idle = not spool.request_ids()
    if run.seen and (rnd.random() < 0.3 or (idle and run.repeats < 3)):
        again = rnd.choice(sorted(run.seen))
        assert run_step(run.tasks[again], settings=settings, spool=spool).exit_code == EXIT_OK
        run.repeats += 1


def _check_invariants(settings: Settings, run: Run) -> None:
    spool = Spool(settings.spool_root)
    assert not spool.request_ids(), "requests left behind"
    assert run.repeats >= 3, "too few builds were handed over again"
    results = {b: json.loads(data) for b, data in run.seen.items()}
    assert sorted(results) == sorted(b for builds in run.expected.values() for b in builds)  # each one reported
    for pkg, builds in run.expected.items():
        repo = settings.git_root / "alice" / "demo" / f"{pkg}.git"
        subprocess.run(["git", "-C", str(repo), "fsck", "--strict", "--no-dangling"], check=True, capture_output=True)
        assert len({git(repo, "rev-parse", b) for b in BRANCHES}) == 1
        # One import commit per build, no duplicates, in build order.
        history = git(repo, "log", "--format=%H", "master").splitlines()
        assert len(history) == 1 + len(builds)
        assert git(repo, "rev-list", "--all", "--count") == str(1 + len(builds))
        objects = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objecttype)").split()
        assert objects.count("commit") == 1 + len(builds), "a request applied again made other commits"
        record = settings.spool_root / "applied" / f"alice%2Fdemo%2F{pkg}"
        assert json.loads((record / "branches.json").read_text()) == dict.fromkeys(BRANCHES, builds[-1])
        for b in builds:
            assert json.loads((record / f"{b}.json").read_text()) == results[b]
        for index, (sha, b) in enumerate(zip(reversed(history[:-1]), builds, strict=True)):
            assert results[b]["branch_commits"] == dict.fromkeys(BRANCHES, sha)
            assert f"Version: 1.{index}" in git(repo, "show", f"{sha}:{pkg}.spec")
    leftovers = [p for p in settings.git_root.rglob("*") if p.name.endswith(".lock") or "tmp" in p.name]
    assert leftovers == []


def test_kill_at_every_kind_of_write(settings: Settings, spooled: Run) -> None:
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
        _after_writer(settings, spooled, rnd)
    assert kills >= 10
    resumed = [b for b in spooled.tasks if "resuming" in (settings.log_root / f"{b}.log").read_text()]
    assert resumed, "no kill landed inside an apply"
    repeated = [b for b in spooled.tasks if "applied before" in (settings.log_root / f"{b}.log").read_text()]
    assert repeated, "no build was handed back from the record"
    _check_invariants(settings, spooled)


def test_kill_from_outside_at_random_times(settings: Settings, spooled: Run) -> None:
    spool = Spool(settings.spool_root)
    rnd = random.Random(1234)
    kills = 0
    for _ in range(400):
        if not spool.request_ids():
            break
        journal = spool.root / "writer.journal"
        before = journal.read_bytes() if journal.exists() else b""
        pending = len(spool.request_ids())
        writer = _start_writer(settings)
        while writer.poll() is None and not _applying(spool, before) and spool.request_ids():
            time.sleep(0.0005)
        # A warm apply takes a few ms, the first one in a fresh process tens of ms:
        # kill early most of the time; one time in five only once this writer has
        # finished a request, so the run progresses however loaded the machine is.
        roll = rnd.random()
        if roll < 0.8:
            time.sleep(rnd.uniform(0, 0.01) if roll < 0.5 else rnd.uniform(0.01, 0.1))
        else:
            wait_until(
                lambda pending=pending, writer=writer: len(spool.request_ids()) < pending or writer.poll() is not None,
                timeout=300,
                what="the writer to finish a request",
            )
        if writer.poll() is None:
            os.kill(writer.pid, signal.SIGKILL)
            kills += 1
        writer.wait()
        _after_writer(settings, spooled, rnd)
    assert kills >= 1
    _check_invariants(settings, spooled)
