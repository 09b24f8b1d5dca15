"""Chaos in the embedded shape: ``copr-importer run --frontend ...`` under a supervisor
that restarts it, while a seeded killer SIGKILLs the main process, import workers and
the git-writer at random moments.

Assertions (see ``tests/support/chaos.py``): every build reported, each exactly once or
byte-identical repeats; every branch's history only moves forward in build order;
``git fsck --strict`` clean; no leftovers after a clean stop; no orphan processes.
The figures (kills per kind, restarts, imports, duplicates) are printed, and
docs/exactly-once.md records a run's.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.chaos import (
    Feeder,
    Killer,
    Supervisor,
    build_plan,
    check_histories,
    check_reports,
    cmdline,
    descendants,
    leftovers,
)
from tests.support.frontend_stub import Fault, FrontendStub
from tests.support.pipeline import cli
from tests.support.waiting import wait_until

pytestmark = pytest.mark.chaos

SEED = int(os.environ.get("CHAOS_SEED", "20261130"))
PACKAGES = 8
BUILDS_PER_PACKAGE = 25  # 200 imports
MIN_KILLS = 30
MIN_PER_KIND = 5
DOWNLOAD_DELAY = 0.4  # seconds before the stub serves an SRPM
RELEASE, RELEASE_EVERY = 8, 1.0  # builds added to the frontend's queue per second


@pytest.fixture
def stub() -> Iterator[FrontendStub]:
    frontend = FrontendStub(password="s3cret")
    frontend.start()
    try:
        yield frontend
    finally:
        frontend.stop()


def _config(tmp_path: Path, *, url: str, data: Path) -> Path:
    (tmp_path / "password").write_text("s3cret\n")
    config = tmp_path / "importer.toml"
    config.write_text(
        f'data_dir = "{data}"\n'
        f'[frontend]\nbase_url = "{url}"\npassword_file = "{tmp_path / "password"}"\npoll_interval = 0.2\n'
        # A kill is a transient failure of its task; enough attempts that a task hit
        # repeatedly by the killer still ends imported, and short retry delays.
        "[executor]\nworkers = 4\nmax_attempts = 50\nretry_delay = 0.2\n"
        '[telemetry]\nlisten = ""\n'
    )
    return config


def _kind_finders(supervisor: Supervisor) -> dict[str, Callable[[], list[int]]]:
    """The processes of each kind, told apart by their titles (what ``ps`` shows)."""

    def main() -> list[int]:
        process = supervisor.process
        return [process.pid] if process is not None and process.poll() is None else []

    def titled(prefix: str) -> Callable[[], list[int]]:
        def find() -> list[int]:
            process = supervisor.process
            if process is None or process.poll() is not None:
                return []
            return [pid for pid in descendants(process.pid) if cmdline(pid).startswith(prefix)]

        return find

    return {
        "controller": main,
        "zygote": titled("copr-importer: zygote"),
        "busy worker": _busy(titled("copr-importer: worker")),
        "git-writer": titled("copr-importer: git-writer"),
    }


def _busy(find: Callable[[], list[int]]) -> Callable[[], list[int]]:
    """Workers in the middle of an import (an idle one's title ends in "idle")."""
    return lambda: [pid for pid in find() if not cmdline(pid).rstrip().endswith("idle")]


def test_kill_everything_at_random_loses_and_doubles_nothing(tmp_path: Path, stub: FrontendStub) -> None:
    plan = build_plan(workdir=tmp_path / "srpms", seed=SEED, packages=PACKAGES, builds_per_package=BUILDS_PER_PACKAGE)
    # Builds arrive in waves while the killer works, as a mass rebuild's do; each
    # download takes a while (a frontend across a network), so workers are caught busy.
    stub.faults["/srpms/"] = Fault(delay=DOWNLOAD_DELAY)
    feeder = Feeder(stub=stub, plan=plan, per_wave=RELEASE, every=RELEASE_EVERY)
    data = tmp_path / "data"
    marker = uuid.uuid4().hex
    supervisor = Supervisor(
        command=cli("run", "--config", str(_config(tmp_path, url=stub.url, data=data)), "--log-format", "text"),
        marker=marker,
        log=tmp_path / "importer.log",
    )
    killer = Killer(seed=SEED, find=_kind_finders(supervisor), quota=MIN_PER_KIND, min_gap=0.2, max_gap=1.2)

    def enough_kills() -> bool:
        return killer.quotas_met and sum(killer.kills.values()) >= MIN_KILLS

    def reported_all() -> bool:
        feeder.feed()
        supervisor.ensure()
        if not enough_kills():
            killer.maybe_kill()
        with stub.lock:
            done = {int(r["build_id"]) for r in stub.reports}
        return done >= {b.build_id for b in plan}

    try:
        wait_until(
            reported_all,
            timeout=900,
            interval=0.05,
            what="every build reported after the kills",
            diagnostics=lambda: (
                f"kills {dict(killer.kills)}, restarts {supervisor.restarts}, "
                f"{len(stub.reports)} reports; log tail: {(tmp_path / 'importer.log').read_text()[-3000:]}"
            ),
        )
        # Let the last results and reports settle, then stop as an operator would.
        wait_until(lambda: not leftovers(data, lookaside=data / "lookaside"), timeout=60, what="a drained spool")
    finally:
        code = supervisor.stop()
    assert code == 0, f"clean stop exited {code}"
    wait_until(
        lambda: not supervisor.survivors(),
        timeout=15,
        what="no process of the run left",
        diagnostics=lambda: "; ".join(f"{pid} {cmdline(pid)}" for pid in supervisor.survivors()),
    )

    reports = check_reports(plan, stub.reports)
    commits = check_histories(plan, reports=reports, git_root=data / "git")
    assert leftovers(data, lookaside=data / "lookaside") == []
    assert enough_kills(), dict(killer.kills)
    duplicates = len(stub.reports) - len(plan)
    # Only a report in flight when the controller died may arrive twice (the frontend took
    # it, the answer was lost): at most one per report lane worker (4) per controller kill.
    assert duplicates <= 4 * killer.kills["controller"], duplicates
    print(
        f"\nchaos seed {SEED}: {len(plan)} builds, {dict(killer.kills)} kills, {supervisor.restarts} restarts, "
        f"{len(stub.reports)} reports ({duplicates} byte-identical repeats), {commits} commits checked, 0 lost"
    )
