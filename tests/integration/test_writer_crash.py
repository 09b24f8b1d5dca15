"""kill -9 the git-writer mid-commit, again and again: nothing lost, nothing doubled,
commits in build order, every repository ``git fsck --strict`` clean."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from copr_importer.adapters.spool import Spool
from copr_importer.app.importstep import run_step
from copr_importer.settings import Settings
from tests.support.pipeline import git, make_task
from tests.support.srpms import binary_tarball

BRANCHES = ("el9", "epel10", "f42", "f43", "master")
PACKAGES = ("alpha", "beta", "gamma")
BUILDS_PER_PACKAGE = 6


def _start_writer(settings: Settings) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "copr_importer", "git-writer", "--data-dir", str(settings.data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _applying(spool: Spool) -> bool:
    return any((spool.request_dir(b) / "applying").exists() for b in spool.request_ids())


def test_kill_9_at_random_points(settings: Settings, srpm_factory: Callable[..., Path]) -> None:
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
            task = make_task(build_id, srpm, pkg=pkg, branches=BRANCHES)
            spool.add_ticket(key=f"alice%2Fdemo%2F{pkg}", build_id=build_id)
            assert run_step(task, settings=settings, spool=spool).exit_code == 0
            expected.setdefault(pkg, []).append(build_id)
    total = build_id - 100
    rnd = random.Random(1234)
    kills = 0
    deadline = time.monotonic() + 240
    while spool.request_ids() and time.monotonic() < deadline:
        writer = _start_writer(settings)
        while writer.poll() is None and not _applying(spool) and spool.request_ids():
            time.sleep(0.0005)
        # Half the kills land inside the first apply (tens of ms); the others let a few
        # requests finish first, so the run makes progress on a loaded machine too.
        time.sleep(rnd.uniform(0, 0.08) if rnd.random() < 0.5 else rnd.uniform(0.08, 0.6))
        if writer.poll() is None:
            os.kill(writer.pid, signal.SIGKILL)
            kills += 1
        writer.wait()
    assert not spool.request_ids(), "requests left after the deadline"
    assert kills >= 10
    resumed = [b for b in range(101, 101 + total) if "resuming build" in (settings.log_root / f"{b}.log").read_text()]
    assert len(resumed) >= 3, "too few kills landed inside an apply to prove anything"

    results = dict(spool.results())
    assert sorted(results) == list(range(101, 101 + total))  # every request has exactly one result
    for pkg, builds in expected.items():
        repo = settings.git_root / "alice" / "demo" / f"{pkg}.git"
        subprocess.run(["git", "-C", str(repo), "fsck", "--strict", "--no-dangling"], check=True, capture_output=True)
        heads = {git(repo, "rev-parse", b) for b in BRANCHES}
        assert len(heads) == 1
        # One import commit per build, no duplicates, in build order.
        history = git(repo, "log", "--format=%H %s", "master").splitlines()
        assert len(history) == 1 + len(builds)
        assert git(repo, "rev-list", "--all", "--count") == str(1 + len(builds))
        shas = [line.split()[0] for line in reversed(history[:-1])]
        for index, (sha, b) in enumerate(zip(shas, builds, strict=True)):
            assert results[b]["branch_commits"] == dict.fromkeys(BRANCHES, sha)
            assert f"Version: 1.{index}" in git(repo, "show", f"{sha}:{pkg}.spec")
