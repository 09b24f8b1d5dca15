"""Observability end to end: ``copr-importer run`` (embedded) against the frontend stub with
its operations server on 127.0.0.1, scraped over HTTP and parsed with prometheus_client's
own parser; ``copr-importer status`` run against it (plain, JSON, and live on a
pseudo-terminal); its JSON log lines; and the git-writer's own endpoint."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from copr_importer import __version__
from copr_importer.adapters.download import allow_local_files
from copr_importer.adapters.opsserver import OpsServer
from copr_importer.adapters.spool import Spool
from copr_importer.app.importstep import EXIT_OK, run_step
from copr_importer.app.telemetry import ControllerTelemetry
from copr_importer.settings import TelemetrySettings, from_mapping
from tests.support.controllerproc import ENV, get, log_lines, running, scrape, served_url
from tests.support.craft import CraftFile, evil_srpm
from tests.support.frontend_stub import FrontendStub
from tests.support.pipeline import cli, frontend_config, make_task
from tests.support.srpms import binary_tarball
from tests.support.waiting import wait_until


def test_metrics_health_status_and_logs_of_an_embedded_run(
    frontend: FrontendStub, srpm_factory: Callable[..., Path], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    extra = "backoff = 0.01\nmax_attempts = 1\n[executor]\nworkers = 2\n"
    config = frontend_config(tmp_path, frontend_url=frontend.url, data=data, extra=extra)
    foo = srpm_factory(name="foo", sources={"foo-1.tar.gz": binary_tarball(name="foo", version="1")})
    bar = srpm_factory(name="bar", patches={"bar.patch": b"-a\n+b\n"})
    evil = evil_srpm(tmp_path, member=CraftFile("link", b"/etc/shadow", mode=0o120777))
    # The frontend is down at first: alive, but not ready.
    frontend.fail_next["/backend/importing/"] = [503] * 10_000
    log = tmp_path / "controller.log"
    command = cli("run", "--config", str(config), "--listen", "127.0.0.1:0", "--log-format", "json")
    with running(command, log) as controller:
        wait_until(lambda: served_url(log) is not None, timeout=30, what="the server's address in the log")
        base = served_url(log)
        assert base is not None and base.startswith("http://127.0.0.1:")
        wait_until(lambda: any("cannot fetch" in x["message"] for x in log_lines(log)), timeout=30, what="a poll")
        assert get(base + "/livez")[0] == 200
        status, why = get(base + "/readyz")
        assert status == 503 and "has not answered a poll" in why
        assert get(base + "/nope")[0] == 404

        frontend.task(1, srpm=foo, pkg="foo", branches=["master", "f43"])
        frontend.task(2, srpm=bar, pkg="bar", branches=["f43"])
        frontend.task(3, srpm=evil, pkg="evil", branches=["f43"])
        frontend.fail_next.clear()
        wait_until(lambda: len(frontend.reports) == 3, timeout=90, what="three reports", interval=0.1)
        assert get(base + "/readyz") == (200, "ok: polled the source\n")
        # The writer child's counters are folded in by the controller's next ticks.
        wait_until(
            lambda: scrape(base)[("copr_importer_writer_requests_applied_total", ())] == 2,
            timeout=30,
            what="the writer's counters",
        )
        metrics = scrape(base)
        status_text = subprocess.run(
            cli("status", "--url", base), env=ENV, capture_output=True, text=True, timeout=30, check=True
        ).stdout
        status_json = json.loads(
            subprocess.run(
                cli("status", "--url", base, "--json"), env=ENV, capture_output=True, text=True, timeout=30, check=True
            ).stdout
        )
        assert controller.poll() is None

    reports = {r["build_id"]: r for r in frontend.reports}
    assert "branch_commits" in reports[1] and "branch_commits" in reports[2]
    assert reports[3]["error"] == "unsafe_srpm"

    def value(name: str, **labels: str) -> float:
        return metrics[(name, tuple(sorted(labels.items())))]

    assert value("copr_importer_build_info", version=__version__) == 1
    assert value("copr_importer_leader") == 1
    assert value("copr_importer_jobs_created_total") == 3
    assert value("copr_importer_jobs_finished_total", result="succeeded") == 2
    assert value("copr_importer_jobs_finished_total", result="failed_bad_input") == 1
    assert value("copr_importer_jobs_finished_total", result="failed_transient") == 0
    assert value("copr_importer_jobs_finished_total", result="canceled") == 0
    assert value("copr_importer_queue_wait_seconds_count") == 3
    assert value("copr_importer_job_duration_seconds_count") == 3
    assert value("copr_importer_job_duration_seconds_bucket", le="+Inf") == 3
    assert value("copr_importer_job_duration_seconds_sum") > 0
    assert value("copr_importer_imports_reported_total", outcome="imported") == 2
    assert value("copr_importer_imports_reported_total", outcome="failed") == 1
    # foo: f43 gets the import commit and master (the new repo's first branch) moves to it; bar: f43.
    assert value("copr_importer_writer_commits_total") == 3
    assert value("copr_importer_writer_requests_applied_total") == 2  # evil never reached the writer
    assert value("copr_importer_writer_backlog_requests") == 0
    assert value("copr_importer_tasks_pending") == 0
    assert value("copr_importer_jobs_active") == 0
    assert value("copr_importer_jobs_limit") == 2
    assert value("copr_importer_config_reloads_total", result="ok") == 0  # embedded: N is static

    assert "0 pending" in status_text and "running    0/2" in status_text
    assert "2 imported, 1 failed" in status_text
    (evil_line,) = [line for line in status_text.splitlines() if "alice/demo/evil" in line]
    assert evil_line.split()[0] == "3" and "unsafe_srpm" in evil_line
    assert status_json["queue"] == {"pending": 0, "active": 0, "limit": 2}
    assert status_json["totals"] == {"succeeded": 2, "failed": 1}
    assert status_json["throughput"]["imports"] == 3 and status_json["throughput"]["per_minute"] > 0
    assert status_json["eta_seconds"] == 0.0 and status_json["mode"] == "embedded"
    (failure,) = status_json["recent_failures"]
    assert (failure["build_id"], failure["package"], failure["error"]) == (3, "alice/demo/evil", "unsafe_srpm")
    assert "symbolic link" in failure["message"]

    lines = log_lines(log)  # every line parsed as JSON
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)

    def tagged(task_id: int, phase: str) -> list[dict[str, Any]]:
        return [x for x in lines if x.get("task_id") == task_id and x.get("phase") == phase]

    assert tagged(1, "dispatch")[0]["package"] == "alice/demo/foo"
    assert any("downloading" in x["message"] for x in tagged(1, "import"))
    assert any(x["message"].startswith("branch f43:") for x in tagged(1, "git-writer"))
    assert any(x["level"] == "error" and "unsafe" in x["message"] for x in tagged(3, "import"))
    assert all(x["package"] == "alice/demo/evil" for x in lines if x.get("task_id") == 3)


def test_status_without_a_controller_fails_clearly(tmp_path: Path) -> None:
    done = subprocess.run(
        cli("status", "--url", "http://127.0.0.1:9", "--once"), env=ENV, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert "cannot reach http://127.0.0.1:9/status" in done.stderr


def test_the_git_writer_serves_its_own_metrics(srpm_factory: Callable[..., Path], tmp_path: Path) -> None:
    settings = allow_local_files(from_mapping({"data_dir": str(tmp_path / "data")}))
    spool = Spool(settings.spool_root)
    srpm = srpm_factory(name="baz")
    outcome = run_step(make_task(11, srpm, pkg="baz", branches=("f43",)), settings=settings, spool=spool)
    assert outcome.exit_code == EXIT_OK, outcome.message
    log = tmp_path / "writer.log"
    command = cli("git-writer", "--data-dir", str(settings.data_dir), "--listen", "127.0.0.1:0", "--log-format", "json")
    with running(command, log):
        wait_until(lambda: served_url(log) is not None, timeout=30, what="the writer's address in the log")
        base = served_url(log)
        assert base is not None
        wait_until(lambda: spool.has_result(11), timeout=30, what="the writer's result")
        wait_until(
            lambda: scrape(base)[("copr_importer_writer_requests_applied_total", ())] == 1,
            timeout=10,
            what="the applied request to be counted",
        )
        metrics = scrape(base)
        assert get(base + "/livez")[0] == 200 and get(base + "/readyz")[0] == 200
        assert get(base + "/status")[0] == 404
    assert metrics[("copr_importer_writer_commits_total", ())] == 1
    assert not any(name.startswith("copr_importer_jobs") for name, _ in metrics)
    assert any(x.get("task_id") == 11 and x.get("phase") == "git-writer" for x in log_lines(log))


def test_status_redraws_in_place_on_a_terminal(tmp_path: Path) -> None:
    telemetry = ControllerTelemetry(
        settings=TelemetrySettings(), mode="embedded", spool=Spool(tmp_path / "spool"), forwards_writer=True
    )
    telemetry.polled(queued=[1, 2, 3])
    telemetry.capacity(running=[], limit=4)
    server = OpsServer("127.0.0.1:0", telemetry).start()
    main, child = pty.openpty()
    try:
        process = subprocess.Popen(
            cli("status", "--url", server.url, "--interval", "0.1"), env=ENV, stdin=child, stdout=child, stderr=child
        )
        os.close(child)
        screen = b""

        def frames() -> int:
            nonlocal screen
            while select.select([main], [], [], 0)[0]:
                screen += os.read(main, 65536)
            return screen.count(b"3 pending")

        wait_until(lambda: frames() >= 3, timeout=30, what="three frames")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        os.close(main)
        server.close()
    assert b"\x1b[" in screen and b"F\x1b[J" in screen  # cursor up + clear, not a scrolling log
    assert b"running    0/4" in screen


def test_an_explicit_listen_address_that_is_taken_is_an_error(frontend: FrontendStub, tmp_path: Path) -> None:
    (tmp_path / "password").write_text("s3cret\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        done = subprocess.run(
            cli(
                "run",
                "--data-dir",
                str(tmp_path / "data"),
                "--frontend",
                frontend.url,
                "--password-file",
                str(tmp_path / "password"),
                "--listen",
                address,
            ),
            env=ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert f"cannot listen on {address}" in done.stderr
