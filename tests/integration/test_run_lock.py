"""One controller per data directory, and one-off local runs that never touch a production importer.

Real ``copr-importer run`` processes against the Copr frontend stub; the data
directory's lock is the kernel's ``flock``, its record the file beside it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.support.frontend_stub import FrontendStub
from tests.support.gate import GatedFiles
from tests.support.pipeline import cli, frontend_config
from tests.support.service import ENV, Services
from tests.support.waiting import wait_until


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli(*args), env=ENV, capture_output=True, text=True, timeout=120)


def _holding(data: Path, pid: int) -> Callable[[], bool]:
    """The run ``pid`` holds ``data`` (its record is written)."""

    def written() -> bool:
        try:
            return bool(json.loads((data / ".controller.lock").read_text())["pid"] == pid)
        except (OSError, ValueError, KeyError):
            return False

    return written


def test_a_second_run_on_one_data_directory_is_refused_naming_the_first(
    frontend: FrontendStub, srpm_factory: Callable[..., Path], services: Services, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    config = frontend_config(tmp_path, frontend_url=frontend.url, data=data, extra="")
    first = services.start("run", "--config", str(config), "--listen", "")
    wait_until(_holding(data, first.pid), timeout=60, what="the first run's lock", diagnostics=first.text)
    started = json.loads((data / ".controller.lock").read_text())["started"]

    second = _run("run", "--config", str(config), "--listen", "")
    assert second.returncode == 2, second.stderr
    assert f"another controller is running on {data} (pid {first.pid}, started {started}" in second.stderr
    assert "Traceback" not in second.stderr
    # A one-off local run on that directory is refused the same way, before importing anything.
    srpm = srpm_factory(name="oneoff")
    local = _run("run", "--data-dir", str(data), str(srpm))
    assert local.returncode == 2 and f"pid {first.pid}" in local.stderr
    assert not (data / "git" / "local").exists()
    assert first.process.poll() is None, "the first run is untouched"
    assert first.stop() == 0


def test_a_one_off_local_run_beside_production_touches_nothing_of_it(
    frontend: FrontendStub, srpm_factory: Callable[..., Path], services: Services, tmp_path: Path
) -> None:
    production = tmp_path / "production"
    config = frontend_config(tmp_path, frontend_url=frontend.url, data=production, extra="")
    frontend.task(500, srpm=srpm_factory(name="prod"), pkg="prod", branches=["f43"])
    frontend.fail_next["/backend/import-completed/"] = [500] * 100_000  # its report stays in its outbox
    service = services.start("run", "--config", str(config), "--listen", "")
    outbox = production / "outbox"
    wait_until(lambda: (outbox / "500.json").exists(), timeout=90, what="production's unsent report")

    # With its own --data-dir, a one-off local run works beside production with production's config.
    oneoff = tmp_path / "oneoff"
    srpm = srpm_factory(name="mine")
    done = _run("run", "--config", str(config), "--data-dir", str(oneoff), "--log-format", "text", str(srpm))
    assert done.returncode == 0, done.stderr
    assert "imported local/samples/mine" in done.stdout
    assert f"one-off local run: {frontend.url} is neither polled nor reported to" in done.stderr
    assert (oneoff / "git/local/samples/mine.git").is_dir() and not (production / "git/local").exists()
    assert not (production / "reports").exists() and (outbox / "500.json").exists()
    asked = [path for _, path in frontend.requests if path.startswith("/backend/get-import-task/")]
    assert asked and all(path.rstrip("/").endswith("/500") for path in asked), asked

    # On production's own directory it is refused: while production runs (the lock)...
    refused = _run("run", "--config", str(config), str(srpm))
    assert refused.returncode == 2 and f"pid {service.pid}" in refused.stderr
    assert service.stop() == 0
    # ...and after it stopped (the directory's record): its unsent report is not taken.
    refused = _run("run", "--config", str(config), str(srpm))
    assert refused.returncode == 2, refused.stderr
    assert f"is the data directory of the importer for {frontend.url}" in refused.stderr
    assert (outbox / "500.json").exists() and not (production / "git/local").exists()


def test_a_frontend_run_refuses_unfinished_work_of_a_local_run_until_a_local_run_finishes_it(
    frontend: FrontendStub, srpm_factory: Callable[..., Path], gate: GatedFiles, services: Services, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    held = srpm_factory(name="cut")
    local = services.start("run", "--data-dir", str(data), gate.add(held, held=True))
    wait_until(lambda: any((data / "spool/tickets").rglob("1")), timeout=60, what="the local run's ticket")
    os.kill(local.pid, signal.SIGKILL)
    local.process.wait(30)

    config = frontend_config(tmp_path, frontend_url=frontend.url, data=data, extra="")
    refused = _run("run", "--config", str(config), "--listen", "")
    assert refused.returncode == 2, refused.stderr
    assert "holds 1 unfinished hand-overs, results, tickets or reports of a local run" in refused.stderr

    gate.release(held.name)
    finished = _run("run", "--data-dir", str(data), str(srpm_factory(name="next")))
    assert finished.returncode == 0, finished.stderr
    accepted = services.start("run", "--config", str(config), "--listen", "")
    wait_until(_holding(data, accepted.pid), timeout=60, what="the frontend run to take the directory")
    wait_until(lambda: bool(accepted.titled("copr-importer: git-writer")), timeout=60, what="the run to be up")
    assert accepted.stop() == 0
