"""The controller's own disk refusing writes, on a small tmpfs mounted (as root) for the data
directory, filled up or remounted read-only: the service stays up, says why (readiness,
/status, ``status``, a metric), loses nothing and reports nothing failed because of it."""

from __future__ import annotations

import errno
import os
import subprocess
import time
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
from tests.support.waiting import wait_until


@dataclass(frozen=True)
class Disks:
    data: Path  # the data directory: a 16 MiB tmpfs
    outbox: Path  # data/outbox: a 1 MiB tmpfs of its own (the git-writer keeps files open under data/,
    # so only a mount nobody holds open for writing can be remounted read-only while it runs)


def mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)


def unmount(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,rw", str(path)], capture_output=True)
    if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], check=True)


@pytest.fixture
def disks(tmp_path: Path) -> Iterator[Disks]:
    if os.geteuid() != 0:
        pytest.fail("these tests mount tmpfs file systems: run them as root (CI does)")
    mounted = Disks(tmp_path / "data", tmp_path / "data" / "outbox")
    mount_tmpfs(mounted.data, "16m")
    try:
        mount_tmpfs(mounted.outbox, "1m")
        try:
            yield mounted
        finally:
            unmount(mounted.outbox)
    finally:
        unmount(mounted.data)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; return it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def remount(disk: Path, mode: str) -> None:
    """Remount ``ro`` or ``rw``; a file open for writing at that instant (the controller's test
    file) makes the kernel refuse a read-only remount, so try again a few times."""
    for _ in range(50):
        if subprocess.run(["mount", "-o", f"remount,{mode}", str(disk)], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    pytest.fail(f"cannot remount {disk} {mode}")


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
    controller, source, _, spool = make(disks.data, [task(1)], limit=[5], observer=problems)
    controller.tick()  # polled, ticket filed, started
    spool.write_result(1, result={"build_id": 1, "reponame": "o/p/foo", "branch_commits": {"f43": "a" * 40}})
    filler = fill(disks.outbox)
    controller.tick()
    assert "No space left on device" in problems.open["storage"]
    assert source.reports == [] and spool.has_result(1)  # kept: not lost, not failed
    controller.tick()
    assert source.reports == [] and spool.has_result(1)
    filler.unlink()
    wait_until(recovered(controller, problems), timeout=30, what="the storage problem to close")
    controller.tick()
    assert source.reports == [{"build_id": 1, "branch_commits": {"f43": "a" * 40}, "reponame": "o/p/foo"}]
    assert not spool.has_result(1) and spool.tickets("o%2Fp%2Ffoo") == []


def test_a_read_only_spool_holds_new_tasks_back_until_their_tickets_can_be_filed(disks: Disks) -> None:
    problems = Problems()
    controller, source, executor, spool = make(disks.data, [], limit=[5], observer=problems)
    controller.tick()
    remount(disks.data, "ro")
    source.tasks[1] = task(1)
    controller.tick()
    assert "filing the ordering ticket of build 1: Read-only file system" in problems.open["storage"]
    controller.tick()
    assert executor.started == []  # not without its ticket
    remount(disks.data, "rw")
    wait_until(recovered(controller, problems), timeout=30, what="the storage problem to close")
    controller.tick()
    assert executor.started == [1] and spool.tickets("o%2Fp%2Ffoo") == [1]


def test_the_service_stays_up_through_a_full_disk_and_a_read_only_outbox(
    disks: Disks, frontend: FrontendStub, srpm_factory: Callable[..., Path], tmp_path: Path
) -> None:
    extra = "[executor]\nretry_delay = 1\nmax_attempts = 2\n"
    config = frontend_config(tmp_path, frontend_url=frontend.url, data=disks.data, extra=extra)
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

        filler = fill(disks.data)
        wait_until(readiness_mentions("No space left on device"), timeout=60, what="readiness to say the disk is full")
        add(2)
        add(3)
        polls_go_on()
        assert scrape(base)[("copr_importer_problem", (("component", "storage"),))] == 1
        shown = subprocess.run(
            cli("status", "--url", base, "--once"), env=ENV, capture_output=True, text=True, timeout=30, check=True
        ).stdout
        assert "PROBLEM    storage:" in shown and "No space left on device" in shown
        filler.unlink()
        wait_until(lambda: reported() == [1, 2, 3], timeout=180, what="builds 2 and 3 after space returned")
        wait_until(lambda: get(base + "/readyz")[0] == 200, timeout=60, what="readiness")

        # Build 4's import is under way when the outbox turns read-only: its result must wait.
        frontend.inject("/srpms/", delay=5, count=1)
        add(4)
        wait_until(lambda: any(p.endswith("pkg4-1.0-1.src.rpm") for _, p in frontend.requests), timeout=60, what="4")
        remount(disks.outbox, "ro")
        wait_until(readiness_mentions("Read-only file system"), timeout=60, what="readiness to say read-only")
        wait_until(lambda: (disks.data / "spool" / "results" / "4.json").exists(), timeout=120, what="4's result")
        polls_go_on()
        assert reported() == [1, 2, 3] and (disks.data / "spool" / "results" / "4.json").exists()
        remount(disks.outbox, "rw")
        wait_until(lambda: reported() == [1, 2, 3, 4], timeout=180, what="build 4 once the outbox is writable")
        wait_until(lambda: get(base + "/readyz")[0] == 200, timeout=60, what="readiness")

    assert Counter(r["build_id"] for r in frontend.reports) == {1: 1, 2: 1, 3: 1, 4: 1}  # nothing twice
    assert all(set(r["branch_commits"]) == {"f43", "master"} for r in frontend.reports)  # nothing failed
