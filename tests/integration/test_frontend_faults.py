"""A real ``copr-importer run`` (embedded) against a Copr frontend stub that misbehaves:
503 for a while, a queue that drips a byte at a time, reports that hang, a frontend that
hangs on everything while SIGTERM arrives, a wrong password, malformed records, and a
poison SRPM across restarts.  The waits are generous liveness bounds, never measurements."""

from __future__ import annotations

import json
import signal
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.support.controllerproc import ENV, get, log_lines, running, scrape, server_of
from tests.support.frontend_stub import FrontendStub
from tests.support.pipeline import cli, frontend_config
from tests.support.waiting import wait_until


def command(config: Path) -> list[str]:
    return cli("run", "--config", str(config), "--listen", "127.0.0.1:0", "--log-format", "json")


def messages(log: Path) -> list[str]:
    return [line["message"] for line in log_lines(log)]


def logged(log: Path, text: str) -> bool:
    return any(text in m for m in messages(log))


def status_of(base: str) -> dict[str, object]:
    code, body = get(base + "/status")
    assert code == 200
    doc: dict[str, object] = json.loads(body)
    return doc


def unsent(base: str) -> object:
    reports = status_of(base)["reports"]
    assert isinstance(reports, dict)
    return reports["unsent"]


def test_polling_resumes_within_the_cap_after_a_503_window(frontend: FrontendStub, tmp_path: Path) -> None:
    config = frontend_config(tmp_path, frontend_url=frontend.url, data=tmp_path / "data", extra="poll_retry_cap = 2\n")
    log = tmp_path / "controller.log"
    with running(command(config), log):
        base = server_of(log)
        wait_until(lambda: frontend.polls() >= 3, timeout=60, what="the first polls")
        fault = frontend.inject("/backend/importing/", status=503, seconds=8)
        wait_until(
            lambda: "cannot fetch the importing queue" in get(base + "/readyz")[1],
            timeout=30,
            what="readiness to say why",
        )
        assert fault.until is not None
        # Polling goes on at its own rate after the window, not ten times the outage later.
        wait_until(lambda: frontend.polls(after=fault.until) >= 3, timeout=60, what="three polls after the window")
        failed = frontend.polls(status=503)
        assert 1 <= failed <= 8 + 2  # backed off (1 s, 2 s, 2 s...): 0.2 s polls would have made 40
        wait_until(lambda: get(base + "/readyz")[0] == 200, timeout=30, what="readiness to come back")
        errors = scrape(base)[("copr_importer_frontend_errors_total", (("call", "poll"), ("kind", "http_5xx")))]
        assert errors == failed


def test_a_dripping_queue_freezes_neither_the_loop_nor_its_reports(
    frontend: FrontendStub, srpm_factory: Callable[..., Path], tmp_path: Path
) -> None:
    extra = "total_timeout = 3\n[telemetry]\nlive_after = 5\n"
    config = frontend_config(tmp_path, frontend_url=frontend.url, data=tmp_path / "data", extra=extra)
    frontend.inject("/srpms/", delay=6, count=1)  # the import is still running when the drip starts
    frontend.task(1, srpm=srpm_factory(name="slow"), pkg="slow", branches=["f43"])
    log = tmp_path / "controller.log"
    with running(command(config), log) as controller:
        base = server_of(log)
        wait_until(lambda: any(p.startswith("/srpms/") for _, p in frontend.requests), timeout=60, what="a download")
        frontend.inject("/backend/importing/", drip=0.5)  # a byte every 0.5 s: no read timeout ever fires
        wait_until(lambda: [r["build_id"] for r in frontend.reports] == [1], timeout=90, what="the report")
        wait_until(
            lambda: frontend.abandoned.count(("GET", "/backend/importing/")) >= 2,
            timeout=60,
            what="two dripping polls given up at their deadline",
        )
        # Each drip outlasted live_after: a loop waiting for it would have gone unhealthy.
        assert get(base + "/livez")[0] == 200 and controller.poll() is None
        code, why = get(base + "/readyz")
        assert code == 503 and "no complete answer within 3 s" in why
        frontend.clear()
        wait_until(lambda: get(base + "/readyz")[0] == 200, timeout=60, what="polls to work again")


def test_hanging_reports_block_neither_polling_nor_dispatching(
    frontend: FrontendStub, srpm_factory: Callable[..., Path], tmp_path: Path
) -> None:
    # A read timeout of 5 minutes: only the 3 s deadline ends a hanging report.
    extra = "total_timeout = 3\nread_timeout = 300\n"
    config = frontend_config(tmp_path, frontend_url=frontend.url, data=tmp_path / "data", extra=extra)
    frontend.inject("/backend/import-completed/", hang=True)
    frontend.task(1, srpm=srpm_factory(name="one"), pkg="one", branches=["f43"])
    log = tmp_path / "controller.log"
    with running(command(config), log):
        base = server_of(log)
        wait_until(lambda: logged(log, "build 1 imported"), timeout=120, what="build 1 imported")
        wait_until(
            lambda: ("POST", "/backend/import-completed/") in frontend.abandoned,
            timeout=60,
            what="a hanging report given up at its deadline",
        )
        frontend.task(2, srpm=srpm_factory(name="two"), pkg="two", branches=["f43"])
        wait_until(lambda: logged(log, "build 2 imported"), timeout=120, what="build 2 confirmed and imported")
        assert ("GET", "/backend/get-import-task/2") in frontend.requests
        wait_until(lambda: unsent(base) == 2, timeout=30, what="both reports waiting")
        assert frontend.reports == []
        frontend.clear()
        wait_until(lambda: unsent(base) == 0, timeout=120, what="the reports to leave")
    assert sorted(r["build_id"] for r in frontend.reports) == [1, 2]  # each exactly once


def test_sigterm_stops_the_service_while_every_request_hangs(
    frontend: FrontendStub, srpm_factory: Callable[..., Path], tmp_path: Path
) -> None:
    config = frontend_config(tmp_path, frontend_url=frontend.url, data=tmp_path / "data", extra="")
    frontend.inject("/srpms/", hang=True)
    frontend.task(1, srpm=srpm_factory(name="stuck"), pkg="stuck", branches=["f43"])
    log = tmp_path / "controller.log"
    with running(command(config), log) as controller:
        server_of(log)
        wait_until(lambda: any(p.startswith("/srpms/") for _, p in frontend.requests), timeout=60, what="an import")
        frontend.inject("/backend/", hang=True)  # polls, confirmations, reports and password checks
        before = len(frontend.requests)
        wait_until(lambda: len(frontend.requests) > before, timeout=60, what="a hanging frontend request")
        controller.send_signal(signal.SIGTERM)
        # Liveness, not a measurement: the default timeouts would hold a blocked loop for minutes.
        assert controller.wait(timeout=30) == 0
    assert logged(log, "copr-importer stopped")


def test_a_wrong_password_is_visible_and_a_corrected_one_is_taken(
    frontend: FrontendStub, srpm_factory: Callable[..., Path], tmp_path: Path
) -> None:
    extra = "credentials_check_interval = 2\n"
    config = frontend_config(tmp_path, frontend_url=frontend.url, data=tmp_path / "data", extra=extra)
    (tmp_path / "password").write_text("not-the-password\n")
    frontend.task(1, srpm=srpm_factory(name="pw"), pkg="pw", branches=["f43"])
    log = tmp_path / "controller.log"
    with running(command(config), log):
        base = server_of(log)
        wait_until(lambda: "frontend rejected the password" in get(base + "/readyz")[1], timeout=60, what="readyz")
        wait_until(lambda: unsent(base) == 1, timeout=120, what="the import's report to wait in the outbox")
        assert get(base + "/readyz")[0] == 503 and frontend.reports == []
        assert scrape(base)[("copr_importer_problem", (("component", "frontend-auth"),))] == 1
        shown = subprocess.run(
            cli("status", "--url", base, "--once"), env=ENV, capture_output=True, text=True, timeout=30, check=True
        ).stdout
        assert "PROBLEM    frontend-auth: frontend rejected the password" in shown
        assert "reports    1 unsent" in shown and "http_auth" in shown
        (tmp_path / "password").write_text("s3cret\n")  # no restart
        wait_until(lambda: [r["build_id"] for r in frontend.reports] == [1], timeout=120, what="the report")
        wait_until(lambda: get(base + "/readyz")[0] == 200, timeout=60, what="readiness")
        assert scrape(base)[("copr_importer_problem", (("component", "frontend-auth"),))] == 0
    assert frontend.unknown_reports and all(r == {"build_id": 0} for r in frontend.unknown_reports)


def test_malformed_records_are_logged_once_and_an_absurd_build_id_is_one_of_them(
    frontend: FrontendStub, tmp_path: Path
) -> None:
    config = frontend_config(tmp_path, frontend_url=frontend.url, data=tmp_path / "data", extra="")
    record = {"owner": "alice", "project": "demo", "branches": ["f43"], "pkg_name": "x", "background": False}
    record |= {"srpm_url": "http://127.0.0.1:9/x.src.rpm", "sandbox": "alice/demo--alice"}
    frontend.queue.append({**record, "build_id": 10**300})  # once a file name too long in the spool
    frontend.queue.append("garbage")
    frontend.queue.append({**record, "build_id": 7, "owner": "../etc"})
    log = tmp_path / "controller.log"
    with running(command(config), log) as controller:
        server_of(log)
        wait_until(lambda: frontend.polls() >= 15, timeout=120, what="fifteen polls")
        assert controller.poll() is None
    rejected = Counter(m for m in messages(log) if m.startswith("rejected task record"))
    assert len(rejected) == 3 and set(rejected.values()) == {1}, rejected
    assert any("build_id is not an integer from 1 to 2147483647" in m for m in rejected)
    assert [(r["build_id"], r["error"]) for r in frontend.reports] == [(7, "malformed_task")]


def test_a_poison_task_fails_after_max_attempts_even_across_restarts(
    frontend: FrontendStub, srpm_factory: Callable[..., Path], tmp_path: Path
) -> None:
    # Its download hangs until the worker is killed at task_timeout: a transient failure.
    extra = "[executor]\ntask_timeout = 2\nmax_attempts = 2\nretry_delay = 600\n"
    data = tmp_path / "data"
    config = frontend_config(tmp_path, frontend_url=frontend.url, data=data, extra=extra)
    frontend.inject("/srpms/", hang=True)
    frontend.task(1, srpm=srpm_factory(name="poison"), pkg="poison", branches=["f43"])
    log = tmp_path / "controller.log"
    with running(command(config), log):
        server_of(log)
        wait_until(lambda: logged(log, "build 1 failed transiently"), timeout=120, what="the first attempt to fail")
    assert (data / "attempts" / "1").read_text() == "1\n"
    with running(command(config), log):  # the retry delay is forgotten, the count is not
        wait_until(lambda: frontend.reports != [], timeout=120, what="the report")
    (report,) = frontend.reports
    assert report["build_id"] == 1 and report["error"] == "import_timeout_exceeded"
    assert report["error_message"].startswith("gave up after 2 attempts")
    downloads = [p for _, p in frontend.requests if p.startswith("/srpms/")]
    assert len(downloads) == 2  # one per attempt: the restart did not start counting again
    assert not (data / "attempts" / "1").exists()
