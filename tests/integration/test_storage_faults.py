"""The controller's own disk refusing writes, on a small tmpfs mounted (as root) for the data
directory, filled up or remounted read-only: the service stays up, says why (readiness,
/status, ``status``, a metric), loses nothing and reports nothing failed because of it."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from copr_importer.app.controller import Controller
from copr_importer.core.observer import Observer
from tests.integration.test_controller_loop import make, task
from tests.support.controllerproc import ENV, get, running, scrape, server_of
from tests.support.frontend_stub import FrontendStub
from tests.support.pipeline import cli, frontend_config
from tests.support.smalldisk import SmallDisk
from tests.support.waiting import wait_until


@dataclass(frozen=True)
class Disks:
    data: SmallDisk  # the data directory: 16 MiB
    outbox: SmallDisk  # data/outbox, 1 MiB of its own: the git-writer keeps files open for writing
    # under data/, and only a mount without such files can be remounted read-only while it runs


@pytest.fixture
def disks(tmp_path: Path) -> Iterator[Disks]:
    mounted = Disks(SmallDisk(tmp_path / "data", size="16m"), SmallDisk(tmp_path / "data" / "outbox", size="1m"))
    mounted.data.mount()
    try:
        mounted.outbox.mount()
        try:
            yield mounted
        finally:
            mounted.outbox.read_only(False)
            mounted.outbox.unmount()
    finally:
        mounted.data.read_only(False)
        mounted.data.unmount()


class Problems(Observer):
    def __init__(self) -> None:
        self.open: dict[str, str] = {}

    def problem(self, component: str, *, reason: str | None) -> None:
        if reason is None:
            self.open.pop(component, None)
        else:
            self.open[component] = reason


def recovered(controller: Controller, problems: Problems) -> Callable[[], bool]:
    def check() -> bool:
        controller.tick()
        return "storage" not in problems.open

    return check


def test_a_full_outbox_keeps_the_result_until_its_report_can_be_written(disks: Disks) -> None:
    problems = Problems()
    controller, source, _, spool = make(disks.data.mountpoint, [task(1)], limit=[5], observer=problems)
    controller.tick()  # polled, ticket filed, started
    spool.write_result(1, result={"build_id": 1, "reponame": "o/p/foo", "branch_commits": {"f43": "a" * 40}})
    disks.outbox.leave_free(0)
    controller.tick()
    assert "no space left on device" in problems.open["storage"]
    assert source.reports == [] and spool.has_result(1)  # kept: not lost, not failed
    controller.tick()
    assert source.reports == [] and spool.has_result(1)
    disks.outbox.release()
    wait_until(recovered(controller, problems), timeout=30, what="the storage problem to close")
    controller.tick()
    assert source.reports == [{"build_id": 1, "branch_commits": {"f43": "a" * 40}, "reponame": "o/p/foo"}]
    assert not spool.has_result(1) and spool.tickets("o%2Fp%2Ffoo") == []


def test_a_read_only_spool_holds_new_tasks_back_until_their_tickets_can_be_filed(disks: Disks) -> None:
    problems = Problems()
    controller, source, executor, spool = make(disks.data.mountpoint, [], limit=[5], observer=problems)
    controller.tick()
    disks.data.read_only(True)
    source.tasks[1] = task(1)
    controller.tick()
    assert "filing the ordering ticket of build 1: read-only file system" in problems.open["storage"]
    controller.tick()
    assert executor.started == []  # not without its ticket
    disks.data.read_only(False)
    wait_until(recovered(controller, problems), timeout=30, what="the storage problem to close")
    controller.tick()
    assert executor.started == [1] and spool.tickets("o%2Fp%2Ffoo") == [1]


def test_the_service_stays_up_through_a_full_disk_and_a_read_only_outbox(
    disks: Disks, frontend: FrontendStub, srpm_factory: Callable[..., Path], tmp_path: Path
) -> None:
    extra = "[executor]\nretry_delay = 1\nmax_attempts = 2\n"
    config = frontend_config(tmp_path, frontend_url=frontend.url, data=disks.data.mountpoint, extra=extra)
    srpms = {n: srpm_factory(name=f"pkg{n}") for n in (1, 2, 3, 4)}

    def add(build_id: int) -> None:
        frontend.task(build_id, srpm=srpms[build_id], pkg=f"pkg{build_id}", branches=["f43", "master"])

    def reported() -> list[Any]:
        return sorted(r["build_id"] for r in frontend.reports)

    def readiness_mentions(text: str) -> Callable[[], bool]:
        return lambda: text in get(base + "/readyz")[1]

    def polls_go_on() -> None:
        since = frontend.answered[-1][0]
        wait_until(lambda: frontend.polls(after=since) >= 3, timeout=60, what="polls during the fault")
        assert get(base + "/livez")[0] == 200 and controller.poll() is None

    log = tmp_path / "controller.log"
    add(1)
    with running(cli("run", "--config", str(config), "--listen", "127.0.0.1:0"), log) as controller:
        base = server_of(log)
        wait_until(lambda: reported() == [1], timeout=120, what="build 1")

        disks.data.leave_free(0)
        wait_until(readiness_mentions("no space left on device"), timeout=60, what="readiness to say the disk is full")
        add(2)
        add(3)
        polls_go_on()
        assert scrape(base)[("copr_importer_problem", (("component", "storage"),))] == 1
        shown = subprocess.run(
            cli("status", "--url", base, "--once"), env=ENV, capture_output=True, text=True, timeout=30, check=True
        ).stdout
        assert "PROBLEM    storage:" in shown and "no space left on device" in shown
        disks.data.release()
        wait_until(lambda: reported() == [1, 2, 3], timeout=180, what="builds 2 and 3 after space returned")
        wait_until(lambda: get(base + "/readyz")[0] == 200, timeout=60, what="readiness")

        # Build 4's import is under way when the outbox turns read-only: its result must wait.
        frontend.inject("/srpms/", delay=5, count=1)
        add(4)
        wait_until(lambda: any(p.endswith("pkg4-1.0-1.src.rpm") for _, p in frontend.requests), timeout=60, what="4")
        disks.outbox.read_only(True)
        wait_until(readiness_mentions("read-only file system"), timeout=60, what="readiness to say read-only")
        wait_until(
            lambda: (disks.data.mountpoint / "spool" / "results" / "4.json").exists(), timeout=120, what="4's result"
        )
        polls_go_on()
        assert reported() == [1, 2, 3] and (disks.data.mountpoint / "spool" / "results" / "4.json").exists()
        disks.outbox.read_only(False)
        wait_until(lambda: reported() == [1, 2, 3, 4], timeout=180, what="build 4 once the outbox is writable")
        wait_until(lambda: get(base + "/readyz")[0] == 200, timeout=60, what="readiness")

    assert Counter(r["build_id"] for r in frontend.reports) == {1: 1, 2: 1, 3: 1, 4: 1}  # nothing twice
    assert all(set(r["branch_commits"]) == {"f43", "master"} for r in frontend.reports)  # nothing failed
