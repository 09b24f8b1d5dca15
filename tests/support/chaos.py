"""What the chaos tests share: a build plan, a supervisor, a killer and the checks.

A *plan* is a set of builds of a few packages, each build with its own content
(a text file ``build-id`` naming the build, so that any commit's tree tells which
build it holds) and its own list of branches in the order the frontend sends
them.  The *checks* read the frontend stub's reports and the repositories and
assert what exactly-once means here:

* every build is reported; a build reported more than once got byte-identical
  reports;
* each branch's first-parent history holds builds in strictly increasing build
  order (no build applied twice, none applied after a newer one), and its head
  holds the newest build that listed the branch;
* every reported commit is on its branch and holds the reported build;
* ``git fsck --strict`` is clean.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.frontend_stub import FrontendStub
from tests.support.processes import in_sessions, with_environment
from tests.support.srpms import binary_tarball, build_srpm

__all__ = [
    "Build",
    "Feeder",
    "Killer",
    "Supervisor",
    "build_plan",
    "check_histories",
    "check_reports",
    "descendants",
    "leftovers",
    "processes_with_marker",
]

BRANCHES = ("master", "f43", "f42", "epel9")


@dataclass(frozen=True, slots=True)
class Build:
    build_id: int
    pkg: str
    branches: tuple[str, ...]
    srpm: Path


def build_plan(
    *, workdir: Path, seed: int, packages: int, builds_per_package: int, first_id: int = 1000
) -> list[Build]:
    """Builds interleaved across packages, in build-id order, each with a random non-empty
    branch list in a random order (copr sends a set: its order means nothing to copr, but
    the first branch gets the import commit, so the order must be honoured)."""
    rnd = random.Random(seed)
    plan: list[Build] = []
    build_id = first_id
    for round_ in range(builds_per_package):
        for p in range(packages):
            build_id += 1
            pkg = f"chaos{p}"
            branches = rnd.sample(BRANCHES, k=rnd.randint(1, len(BRANCHES)))
            srpm = build_srpm(
                workdir=workdir,
                name=pkg,
                version=f"{round_ + 1}",
                sources={f"{pkg}-{round_}.tar.gz": binary_tarball(name=pkg, version=str(round_), size=2048)},
                patches={"build-id": f"{build_id}\n".encode()},
            )
            plan.append(Build(build_id, pkg, tuple(branches), srpm))
    return plan


@dataclass
class Feeder:
    """Puts the plan's builds into the frontend stub's queue a wave at a time."""

    stub: FrontendStub
    plan: list[Build]
    per_wave: int
    every: float
    project: str = "chaos"
    _next: float = 0.0
    _released: int = 0

    @property
    def released(self) -> list[Build]:
        """The builds put into the queue so far."""
        return self.plan[: self._released]

    def feed(self, *, last_wave: bool = True) -> None:
        """Release the next wave if its time has come; the last one only when ``last_wave``."""
        if self._released >= len(self.plan) or time.monotonic() < self._next:
            return
        if not last_wave and self._released + self.per_wave >= len(self.plan):
            return
        for build in self.plan[self._released : self._released + self.per_wave]:
            self.stub.task(
                build.build_id,
                srpm=build.srpm,
                pkg=build.pkg,
                branches=list(build.branches),
                project=self.project,
                sandbox=f"alice/{self.project}--{build.pkg}",
            )
        self._released += self.per_wave
        self._next = time.monotonic() + self.every


# --- processes -----------------------------------------------------------------


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> list[int]:
    """Every live descendant of ``root`` (children, grandchildren...)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _ppid(int(entry))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    found: list[int] = []
    frontier = [root]
    while frontier:
        for child in children.get(frontier.pop(), []):
            found.append(child)
            frontier.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def processes_with_marker(marker: str) -> list[int]:
    """Live processes whose environment holds ``CHAOS_MARK=<marker>`` (the supervisor sets it,
    children inherit it): after a clean stop there must be none."""
    return with_environment("CHAOS_MARK", marker)


@dataclass
class Supervisor:
    """Keeps one command running, restarting it when it dies, as systemd's Restart=always."""

    command: list[str]
    marker: str
    log: Path
    restart_delay: float = 0.5
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    # Each start leads a session of its own: a retitled process (setproctitle clears
    # /proc/<pid>/environ, and with it the marker) is still found by its session.
    sessions: set[int] = field(default_factory=set)

    def ensure(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        if self.process is not None:
            self.restarts += 1
            time.sleep(self.restart_delay)
        # A session's number may be reused once nobody is in it.
        self.sessions = set(in_sessions(self.sessions, zombies=True).values())
        env = {**os.environ, "CHAOS_MARK": self.marker}
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.command, stdout=out, stderr=out, env=env, start_new_session=True)
        self.sessions.add(self.process.pid)

    def survivors(self) -> list[int]:
        """Live processes of any start (by session or by marker), the current main process excepted."""
        main = {self.process.pid} if self.process is not None and self.process.poll() is None else set()
        found = set(in_sessions(self.sessions)) | set(processes_with_marker(self.marker))
        return sorted(found - main)

    def stop(self, *, timeout: float = 30.0) -> int | None:
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


@dataclass
class Killer:
    """SIGKILLs processes of a kind chosen from a seeded sequence, at seeded random moments."""

    seed: int
    find: dict[str, Callable[[], list[int]]]  # kind -> its live pids now
    quota: int = 5  # kills of each kind before any kind gets more
    min_gap: float = 0.3
    max_gap: float = 2.0
    kills: Counter[str] = field(default_factory=Counter)
    log: list[str] = field(default_factory=list)
    # kind -> what strikes one of its victims instead of SIGKILL (deleting its pod, say);
    # it raises ProcessLookupError when the victim is gone already
    strike: dict[str, Callable[[int], None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rnd = random.Random(self.seed)
        self._next = time.monotonic() + self._gap()

    def _gap(self) -> float:
        return self._rnd.uniform(self.min_gap, self.max_gap)

    @property
    def quotas_met(self) -> bool:
        return all(self.kills[kind] >= self.quota for kind in self.find)

    def maybe_kill(self) -> None:
        """Call often; kills one process when its moment has come and a victim exists.

        Until every kind has had its quota, only kinds below it are chosen, and a moment
        without a victim of those kinds waits for one (a busy worker exists only while an
        import runs) rather than falling back to a kind that is always there.
        """
        if time.monotonic() < self._next:
            return
        kinds = [kind for kind in self.find if self.quotas_met or self.kills[kind] < self.quota]
        self._rnd.shuffle(kinds)
        kinds.sort(key=lambda k: self.kills[k])
        for kind in kinds:
            pids = self.find[kind]()
            if not pids:
                continue
            victim = self._rnd.choice(sorted(pids))
            try:
                self.strike.get(kind, _sigkill)(victim)
            except ProcessLookupError:
                continue
            self.kills[kind] += 1
            how = "strike" if kind in self.strike else "SIGKILL"
            self.log.append(f"{time.monotonic():.2f} {how} {kind} {victim}")
            self._next = time.monotonic() + self._gap()
            return


def _sigkill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


# --- checks --------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def check_reports(plan: list[Build], reports: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Every build reported, repeats byte-identical; returns the report per build."""
    by_build: dict[int, list[str]] = {}
    for report in reports:
        by_build.setdefault(int(report["build_id"]), []).append(json.dumps(report, sort_keys=True))
    missing = sorted({b.build_id for b in plan} - set(by_build))
    assert not missing, f"builds never reported: {missing}"
    differing = {b: bodies for b, bodies in by_build.items() if len(set(bodies)) > 1}
    assert not differing, f"builds reported twice with different bodies: {differing}"
    return {b: json.loads(bodies[0]) for b, bodies in by_build.items()}


def _build_of(repo: Path, commit: str) -> int | None:
    try:
        return int(git(repo, "show", f"{commit}:build-id"))
    except subprocess.CalledProcessError:
        return None  # the initial commit holds no build


def _first_parent_history(repo: Path, branch: str) -> Iterator[str]:
    yield from reversed(git(repo, "rev-list", "--first-parent", branch).splitlines())


def check_histories(plan: list[Build], *, reports: dict[int, dict[str, Any]], git_root: Path) -> int:
    """Branch histories only move forward in build order and end at the newest build that
    listed the branch; reported commits hold their build.  Returns the commits checked."""
    checked = 0
    newest: dict[tuple[str, str], int] = {}
    for build in plan:
        report = reports[build.build_id]
        assert "branch_commits" in report, f"build {build.build_id} failed: {report}"
        assert sorted(report["branch_commits"]) == sorted(build.branches), report
        for branch in build.branches:
            newest[(build.pkg, branch)] = build.build_id
    for pkg in sorted({b.pkg for b in plan}):
        repo = git_root / "alice" / "chaos" / f"{pkg}.git"
        subprocess.run(["git", "-C", str(repo), "fsck", "--strict"], check=True, capture_output=True)
        builds_on: dict[str, set[str]] = {}
        for (p, branch), last in newest.items():
            if p != pkg:
                continue
            order = [b for b in (_build_of(repo, c) for c in _first_parent_history(repo, branch)) if b is not None]
            assert order == sorted(set(order)), f"{pkg} {branch}: builds out of order or repeated: {order}"
            assert order[-1] == last, f"{pkg} {branch}: head holds build {order[-1]}, newest is {last}"
            builds_on[branch] = set(git(repo, "rev-list", branch).splitlines())
            checked += len(order)
        for build in (b for b in plan if b.pkg == pkg):
            for branch, sha in reports[build.build_id]["branch_commits"].items():
                assert sha in builds_on[branch], f"build {build.build_id}: {sha} is not on {branch}"
                assert _build_of(repo, sha) == build.build_id, f"build {build.build_id}: {sha} holds another build"
    return checked


def leftovers(data_dir: Path, *, lookaside: Path) -> list[str]:
    """What a clean stop must not leave behind in the spool, the outbox and the lookaside."""
    found: list[str] = []
    spool = data_dir / "spool"
    for sub in ("incoming", "requests", "results"):
        found += [f"spool/{sub}/{n}" for n in os.listdir(spool / sub)]
    for dirpath, dirnames, filenames in os.walk(spool / "tickets"):
        rel = os.path.relpath(dirpath, spool)
        found += [f"{rel}/{n}" for n in filenames]
        if dirpath != str(spool / "tickets") and not dirnames and not filenames:
            found.append(f"{rel}/ (empty ticket directory)")
    outbox = data_dir / "outbox"
    if outbox.is_dir():
        found += [f"outbox/{n}" for n in os.listdir(outbox)]
    for dirpath, _, filenames in os.walk(lookaside):
        found += [os.path.join(dirpath, n) for n in filenames if n.startswith(".")]
    return found
