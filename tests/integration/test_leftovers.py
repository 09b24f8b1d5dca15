"""Leftovers of killed processes, swept by the git-writer: an import step killed for real
leaves its staging directory and a lookaside temporary; the writer removes them once
they are older than an import step may live, or at once when told that every step of
an earlier run is dead (the embedded controller's start).  Ticket directories go with
their last ticket, without racing a new ticket.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from copr_importer.adapters.lookaside import TEMPORARIES
from copr_importer.adapters.spool import Spool
from copr_importer.app.gitwriter import GitWriter, writer_main
from copr_importer.settings import Settings
from tests.support.frontend_stub import FrontendStub
from tests.support.pipeline import cli, make_task
from tests.support.srpms import binary_tarball
from tests.support.waiting import wait_until


def killed_step(settings: Settings, srpm_url: str, build_id: int) -> None:
    """Run ``import-step`` and have it SIGKILLed at its first durable write: the lookaside
    temporary is placed and fsynced, not yet renamed into place."""
    task = {**make_task(build_id, Path("unused"), pkg="foo").to_record(), "srpm_url": srpm_url}
    done = subprocess.run(
        cli("import-step", "--data-dir", str(settings.data_dir), "--task-json", json.dumps(task)),
        env={**os.environ, "COPR_IMPORTER_KILL_AFTER_WRITES": "1"},
        capture_output=True,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr


def leftovers(settings: Settings) -> list[str]:
    incoming = sorted(os.listdir(settings.spool_root / "incoming"))
    temporaries = sorted(os.listdir(settings.lookaside_root / TEMPORARIES))
    return incoming + temporaries


def sweep(settings: Settings, *, leftovers_before: float | None = None) -> int:
    writer = GitWriter(settings=settings, leftovers_before=leftovers_before)
    writer.acquire()
    try:
        return writer.sweep()
    finally:
        writer.close()


def test_killed_steps_leave_what_the_writer_sweeps(
    settings: Settings, srpm_factory: Callable[..., Path], frontend: FrontendStub
) -> None:
    srpm = frontend.add_srpm(srpm_factory(name="foo", sources={"foo.tar.gz": binary_tarball(name="foo", version="1")}))
    killed_step(settings, srpm, 1)
    left = leftovers(settings)
    assert len(left) == 2 and left[0].startswith("1.")
    assert sweep(settings) == 0  # young: in Kubernetes a pod may still be writing them
    assert leftovers(settings) == left
    # A restarted embedded controller knows its earlier workers are dead.
    assert sweep(settings, leftovers_before=time.time()) == 2
    assert leftovers(settings) == []
    # Otherwise they go once older than an import step may live (task timeout, an hour more).
    killed_step(settings, srpm, 2)
    old = time.time() - settings.executor.task_timeout - 2 * 3600
    for name in os.listdir(settings.spool_root / "incoming"):
        os.utime(settings.spool_root / "incoming" / name, (old, old))
    for name in os.listdir(settings.lookaside_root / TEMPORARIES):
        os.utime(settings.lookaside_root / TEMPORARIES / name, (old, old))
    assert sweep(settings) == 2 and leftovers(settings) == []


def test_the_writer_sweeps_at_start_up(
    settings: Settings, srpm_factory: Callable[..., Path], frontend: FrontendStub
) -> None:
    srpm = srpm_factory(name="foo", sources={"f.tar.gz": binary_tarball(name="f", version="1")})
    killed_step(settings, frontend.add_srpm(srpm), 1)
    spool = Spool(settings.spool_root)
    (spool.root / "tickets" / "alice%2Fdemo%2Fgone").mkdir()  # left by an older version
    stop = threading.Event()
    started = time.time()
    writer = threading.Thread(
        target=writer_main, args=(settings,), kwargs={"should_stop": stop.is_set, "leftovers_before": started}
    )
    writer.start()
    try:
        wait_until(lambda: not os.listdir(spool.root / "incoming"), timeout=30, what="the start-up sweep")
    finally:
        stop.set()
        writer.join(30)
    assert os.listdir(spool.root / "incoming") == []
    assert os.listdir(spool.root / "tickets") == []


def test_ticket_directories_go_with_their_last_ticket_without_racing_new_ones(settings: Settings) -> None:
    spool = Spool(settings.spool_root)
    spool.add_ticket(key="k", build_id=1)
    spool.add_ticket(key="k", build_id=2)
    spool.remove_ticket(key="k", build_id=1)
    assert spool.tickets("k") == [2]
    spool.remove_ticket(key="k", build_id=2)
    assert not (spool.root / "tickets" / "k").exists()
    # One thread files and drops tickets, another sweeps empty directories meanwhile:
    # a filed ticket is always there, whatever the sweep removed in between.
    errors: list[BaseException] = []
    done = threading.Event()

    def sweeper() -> None:
        while not done.is_set():
            try:
                spool.sweep_ticket_dirs()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

    thread = threading.Thread(target=sweeper)
    thread.start()
    try:
        for build_id in range(3000):
            spool.add_ticket(key="k", build_id=build_id)
            assert spool.tickets("k") == [build_id]
            spool.remove_ticket(key="k", build_id=build_id)
    finally:
        done.set()
        thread.join()
    assert errors == []
