"""The embedded service's processes under real kills: ``copr-importer run --config`` against the
Copr frontend stub, its worker, zygote and git-writer children found by their titles in ``/proc``.

A download held by the gate keeps a worker busy in an import for as long as a
test needs, so every kill lands in the middle of one.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from copr_importer.adapters.download import allow_local_files
from copr_importer.adapters.lockfile import flock_holder
from copr_importer.app.importstep import run_step
from copr_importer.settings import from_mapping
from tests.support.frontend_stub import FrontendStub
from tests.support.gate import GatedFiles
from tests.support.pipeline import frontend_config, make_task
from tests.support.poison import poison_srpm
from tests.support.processes import alive, title
from tests.support.service import Service, Services, free_port
from tests.support.waiting import wait_until

FAST_RETRIES = "backoff = 0.05\n[download]\nbackoff = 0.0\n[executor]\nworkers = 2\nretry_delay = 0.1\n"


@pytest.fixture
def config(frontend: FrontendStub, tmp_path: Path) -> Path:
    """The service's settings: the stub as frontend, ``tmp_path/data`` as data directory, fast retries."""
    return frontend_config(tmp_path, frontend_url=frontend.url, data=tmp_path / "data", extra=FAST_RETRIES)


def _reported(frontend: FrontendStub, *build_ids: int) -> Callable[[], bool]:
    return lambda: {r["build_id"] for r in frontend.reports} >= set(build_ids)


def _held_task(frontend: FrontendStub, gate: GatedFiles, srpm: Path, *, build_id: int, pkg: str) -> str:
    """A frontend task whose SRPM download waits at the gate; returns the gate's name for it."""
    record = frontend.task(build_id, srpm=srpm, pkg=pkg, branches=["f43"])
    record["srpm_url"] = gate.add(srpm, held=True)
    return srpm.name


def _busy_worker(service: Service, build_id: int) -> int:
    found: list[int] = []

    def busy() -> bool:
        found[:] = service.titled("copr-importer: worker")
        found[:] = [p for p in found if title(p).endswith(f" build {build_id}")]
        return bool(found)

    wait_until(busy, timeout=60, what=f"a worker busy with build {build_id}", diagnostics=service.text)
    return found[0]


def test_a_worker_killed_mid_import_fails_its_attempt_only_and_the_build_is_imported_on_retry(
    frontend: FrontendStub,
    srpm_factory: Callable[..., Path],
    gate: GatedFiles,
    services: Services,
    config: Path,
) -> None:
    held = _held_task(frontend, gate, srpm_factory(name="victim"), build_id=1, pkg="victim")
    frontend.task(2, srpm=srpm_factory(name="bystander"), pkg="bystander", branches=["f43"])
    service = services.start("run", "--config", str(config), "--listen", "")
    victim = _busy_worker(service, 1)
    # Its title changes before its download starts: kill it only once it waits at the gate.
    wait_until(lambda: gate.hits[held] >= 1, timeout=60, what="the download at the gate", diagnostics=service.text)
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: "killed by SIGKILL" in service.text(), timeout=60, what="the kill to be noticed")
    gate.release(held)
    wait_until(_reported(frontend, 1, 2), timeout=90, what="both reports", diagnostics=service.text)
    assert service.process.poll() is None, "the service stays up"
    reports = {r["build_id"]: r for r in frontend.reports}
    assert len(frontend.reports) == 2 and "branch_commits" in reports[1] and "branch_commits" in reports[2]
    assert gate.hits[held] == 2, "the killed attempt and the retry"
    assert service.stop() == 0


def test_a_killed_controller_takes_its_children_with_it_and_the_same_command_starts_again(
    frontend: FrontendStub,
    srpm_factory: Callable[..., Path],
    gate: GatedFiles,
    services: Services,
    tmp_path: Path,
    config: Path,
) -> None:
    data = tmp_path / "data"
    held = _held_task(frontend, gate, srpm_factory(name="inflight"), build_id=1, pkg="inflight")
    frontend.task(2, srpm=srpm_factory(name="early"), pkg="early", branches=["f43"])
    port = free_port()
    command = ("run", "--config", str(config), "--listen", f"127.0.0.1:{port}")
    first = services.start(*command)
    wait_until(_reported(frontend, 2), timeout=90, what="the first report", diagnostics=first.text)
    busy = _busy_worker(first, 1)
    titles = sorted(first.tree().values())
    assert title(first.pid) == "copr-importer: controller"
    assert titles.count("copr-importer: zygote") == 1 and titles.count("copr-importer: git-writer") == 1
    assert title(busy) == "copr-importer: worker 1 build 1" or title(busy) == "copr-importer: worker 2 build 1"
    assert any(t.startswith("copr-importer: worker ") and t.endswith(" idle") for t in titles), titles

    os.kill(first.pid, signal.SIGKILL)
    first.process.wait(30)
    first.assert_no_orphans()
    assert flock_holder(data / "spool" / "writer.lock") is None
    assert flock_holder(data / ".controller.lock") is None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # nothing of the dead controller holds its port

    gate.release(held)
    second = services.start(*command)
    wait_until(_reported(frontend, 1), timeout=90, what="the interrupted build's report", diagnostics=second.text)
    assert sorted(r["build_id"] for r in frontend.reports) == [1, 2]
    assert "WriterBusy" not in second.text() and "another git-writer" not in second.text()
    assert second.stop() == 0
    second.assert_no_orphans()


def test_a_killed_git_writer_is_started_again_and_the_imports_go_on(
    frontend: FrontendStub, srpm_factory: Callable[..., Path], services: Services, config: Path
) -> None:
    frontend.task(1, srpm=srpm_factory(name="before"), pkg="before", branches=["f43"])
    service = services.start("run", "--config", str(config), "--listen", "")
    wait_until(_reported(frontend, 1), timeout=90, what="the first report", diagnostics=service.text)
    [writer] = service.titled("copr-importer: git-writer")
    os.kill(writer, signal.SIGKILL)
    wait_until(
        lambda: service.titled("copr-importer: git-writer") not in ([], [writer]),
        timeout=60,
        what="a new git-writer",
        diagnostics=service.text,
    )
    assert f"the git-writer (pid {writer}) ended" in service.text() and "killed by SIGKILL" in service.text()
    frontend.task(2, srpm=srpm_factory(name="after"), pkg="after", branches=["f43"])
    wait_until(_reported(frontend, 2), timeout=90, what="a report through the new writer", diagnostics=service.text)
    assert service.stop() == 0


def _hold_lock(path: Path) -> subprocess.Popen[bytes]:
    """Another process that holds ``path``'s flock until killed, as a foreign git-writer would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    code = (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
        "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(3600)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
    return holder


def test_a_writer_lock_held_by_another_process_is_waited_for_and_said_once(
    frontend: FrontendStub, srpm_factory: Callable[..., Path], services: Services, tmp_path: Path, config: Path
) -> None:
    data = tmp_path / "data"
    frontend.task(1, srpm=srpm_factory(name="patient"), pkg="patient", branches=["f43"])
    holder = _hold_lock(data / "spool" / "writer.lock")
    try:
        service = services.start("run", "--config", str(config), "--listen", "")
        wait_until(lambda: "another git-writer holds" in service.text(), timeout=60, what="the waiting message")
        assert f"(pid {holder.pid})" in service.text()
        [writer] = service.titled("copr-importer: git-writer")
        assert title(writer) == f"copr-importer: git-writer (waiting for the lock held by pid {holder.pid})"
        time.sleep(8)  # a window for retries (after 0.5, 1, 2 and 4 s) that must stay quiet; not a measurement
        assert not frontend.reports and service.process.poll() is None and alive(writer)
    finally:
        holder.kill()
        holder.wait()
    wait_until(_reported(frontend, 1), timeout=90, what="the report once the lock is free", diagnostics=service.text)
    text = service.text()
    assert text.count("another git-writer holds") == 1, text
    assert "took the git-writer lock after waiting" in text
    assert service.stop() == 0


def test_sigterm_stops_the_service_with_a_worker_busy_and_the_writer_waiting(
    frontend: FrontendStub,
    srpm_factory: Callable[..., Path],
    gate: GatedFiles,
    services: Services,
    tmp_path: Path,
    config: Path,
) -> None:
    data = tmp_path / "data"
    held = _held_task(frontend, gate, srpm_factory(name="midway"), build_id=1, pkg="midway")
    holder = _hold_lock(data / "spool" / "writer.lock")
    try:
        service = services.start("run", "--config", str(config), "--listen", "")
        _busy_worker(service, 1)
        wait_until(lambda: "another git-writer holds" in service.text(), timeout=60, what="the writer to wait")
        assert service.stop(timeout=15) == 0  # a liveness deadline, not a benchmark
        service.assert_no_orphans()
    finally:
        holder.kill()
        holder.wait()
    assert frontend.reports == [], "an interrupted import is not reported: it stays importing"
    leftovers = list((data / "spool" / "incoming").iterdir())
    # The next start sweeps the interrupted hand-over and imports the build.
    gate.release(held)
    again = services.start("run", "--config", str(config), "--listen", "")
    wait_until(_reported(frontend, 1), timeout=90, what="the build's report after a restart", diagnostics=again.text)
    assert "branch_commits" in frontend.reports[0]
    assert not [p for p in leftovers if p.exists()]
    assert again.stop() == 0


def _waits_on_a_pipe(pid: int) -> bool:
    """The kernel has ``pid`` asleep in a FIFO's open or read (the function's name varies by kernel)."""
    wchan = Path(f"/proc/{pid}/wchan").read_text()
    return any(word in wchan for word in ("pipe", "fifo", "partner"))


def test_sigterm_stops_the_service_while_the_writer_is_stuck_in_a_commit(
    frontend: FrontendStub, srpm_factory: Callable[..., Path], services: Services, tmp_path: Path, config: Path
) -> None:
    data = tmp_path / "data"
    # A handed-over request whose spec is a FIFO: the writer blocks reading it, as on a hung disk.
    settings = allow_local_files(from_mapping({"data_dir": str(data)}))
    task = make_task(1, srpm_factory(name="stuck"), pkg="stuck", branches=("f43",))
    assert run_step(task, settings=settings).exit_code == 0
    spec = settings.spool_root / "requests/1/files/stuck.spec"
    spec.unlink()
    os.mkfifo(spec)
    service = services.start("run", "--config", str(config), "--listen", "")
    wait_until(lambda: bool(service.titled("copr-importer: git-writer")), timeout=60, what="the writer")
    [writer] = service.titled("copr-importer: git-writer")
    wait_until(lambda: _waits_on_a_pipe(writer), timeout=60, what="the writer to block on the FIFO")
    assert service.stop(timeout=15) == 0  # SIGTERM, then SIGKILL for the writer after stop_grace (5 s)
    service.assert_no_orphans()
    assert frontend.reports == []


def test_a_poison_srpm_over_the_worker_memory_limit_is_retried_then_reported_and_the_service_stays_up(
    frontend: FrontendStub, srpm_factory: Callable[..., Path], services: Services, tmp_path: Path
) -> None:
    extra = FAST_RETRIES + f"max_attempts = 2\nworker_memory_limit = {80 * 1024**2}\n"
    config = frontend_config(tmp_path, frontend_url=frontend.url, data=tmp_path / "data", extra=extra)
    frontend.task(1, srpm=poison_srpm(tmp_path), pkg="bomb", branches=["f43"])
    frontend.task(2, srpm=srpm_factory(name="healthy"), pkg="healthy", branches=["f43"])
    service = services.start("run", "--config", str(config), "--listen", "")
    wait_until(_reported(frontend, 1, 2), timeout=90, what="both reports", diagnostics=service.text)
    reports = {r["build_id"]: r for r in frontend.reports}
    assert reports[1]["error"] == "srpm_import_failed"
    assert "gave up after 2 attempts" in reports[1]["error_message"]
    assert "ran out of memory (executor.worker_memory_limit is 80 MiB)" in reports[1]["error_message"]
    assert "branch_commits" in reports[2]
    assert service.process.poll() is None
    assert service.stop() == 0


def test_every_process_shows_what_it_is_in_its_command_line(
    frontend: FrontendStub,
    srpm_factory: Callable[..., Path],
    gate: GatedFiles,
    services: Services,
    config: Path,
) -> None:
    held = _held_task(frontend, gate, srpm_factory(name="shown"), build_id=4321, pkg="shown")
    service = services.start("run", "--config", str(config), "--listen", "")
    busy = _busy_worker(service, 4321)
    other_slot = 2 if title(busy).startswith("copr-importer: worker 1 ") else 1
    expected = {"copr-importer: zygote", "copr-importer: git-writer", f"copr-importer: worker {other_slot} idle"}
    wait_until(
        lambda: expected <= set(service.tree().values()),
        timeout=60,
        what="the zygote, the idle worker and the writer under their titles",
        diagnostics=lambda: str(service.tree()),
    )
    cmdlines = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in [service.pid, *service.tree()]}
    shown = {pid: raw.rstrip(b"\0").decode() for pid, raw in cmdlines.items()}
    assert shown.pop(service.pid) == "copr-importer: controller"
    assert shown.pop(busy) in ("copr-importer: worker 1 build 4321", "copr-importer: worker 2 build 4321")
    assert sorted(shown.values()) == sorted(expected)
    gate.release(held)
    assert service.stop() == 0
