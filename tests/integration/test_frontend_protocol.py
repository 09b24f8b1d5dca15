"""The Copr protocol against a real HTTP stub: queue parsing, confirm, auth, retries, downloads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from copr_importer.adapters.download import download
from copr_importer.adapters.frontend import CoprFrontend, FrontendRefused, FrontendUnavailable
from copr_importer.adapters.outbox import Outbox
from copr_importer.errors import BadInputError, PermanentError
from copr_importer.settings import DownloadSettings, FrontendSettings
from tests.support.frontend_stub import FrontendStub
from tests.support.waiting import wait_until

NO_WAIT: Callable[[float], None] = lambda seconds: None  # noqa: E731


def client(frontend: FrontendStub, password: str = "s3cret") -> CoprFrontend:
    return CoprFrontend(FrontendSettings(base_url=frontend.url, password=password, max_attempts=3), sleep=NO_WAIT)


def test_malformed_record_does_not_hide_the_others(frontend: FrontendStub, tmp_path: Path) -> None:
    srpm = tmp_path / "a.src.rpm"
    srpm.write_bytes(b"x")
    frontend.task(1, srpm=srpm, pkg="a", branches=["f43"])
    frontend.queue.append({"build_id": 2, "owner": "../../etc", "project": "p"})
    frontend.queue.append("garbage")
    frontend.task(3, srpm=srpm, pkg="b", branches=["f43", "master"])
    tasks, rejected = client(frontend).fetch_queue()
    assert [t.build_id for t in tasks] == [1, 3]
    assert [(r.build_id, r.code) for r in rejected] == [(2, "malformed_task"), (None, "malformed_task")]


def test_confirm_returns_none_for_a_gone_build(frontend: FrontendStub, tmp_path: Path) -> None:
    srpm = tmp_path / "a.src.rpm"
    srpm.write_bytes(b"x")
    frontend.task(5, srpm=srpm, pkg="a", branches=["f43"])
    fe = client(frontend)
    task = fe.confirm(5)
    assert task is not None and task.pkg_name == "a"
    assert fe.confirm(6) is None


def known(frontend: FrontendStub, *build_ids: int) -> None:
    """Make the stub know these builds (copr answers reports for unknown ones with "updated": false)."""
    frontend.queue.extend({"build_id": b} for b in build_ids)


def test_confirmations_retry_5xx_and_connection_errors(frontend: FrontendStub) -> None:
    frontend.fail_next["/backend/get-import-task/"] = [503, 500]
    assert client(frontend).confirm(7) is None
    frontend.fail_next["/backend/get-import-task/"] = [503, 503, 503]
    with pytest.raises(FrontendUnavailable) as failed:
        client(frontend).confirm(7)
    assert failed.value.kind == "http_5xx" and "HTTP 503" in str(failed.value)
    assert frontend.requests.count(("GET", "/backend/get-import-task/7")) == 3 + 3


def test_a_poll_is_tried_once_and_says_why_it_failed(frontend: FrontendStub) -> None:
    # The controller's poll schedule is the poll's retry; one attempt here.
    frontend.fail_next["/backend/importing/"] = [503, 503]
    with pytest.raises(FrontendUnavailable, match="HTTP 503") as failed:
        client(frontend).fetch_queue()
    assert failed.value.kind == "http_5xx" and frontend.requests == [("GET", "/backend/importing/")]
    dead = CoprFrontend(FrontendSettings(base_url="http://127.0.0.1:9", max_attempts=2), sleep=NO_WAIT)
    with pytest.raises(FrontendUnavailable, match="connection refused") as refused:
        dead.fetch_queue()
    assert refused.value.kind == "refused"
    unknown = CoprFrontend(FrontendSettings(base_url="http://no-such-host.invalid"), sleep=NO_WAIT)
    with pytest.raises(FrontendUnavailable, match="cannot resolve the host name") as dns:
        unknown.fetch_queue()
    assert dns.value.kind == "dns"
    frontend.fail_next["/backend/importing/"] = [404]
    with pytest.raises(FrontendRefused, match="HTTP 404") as refused_4xx:
        client(frontend).fetch_queue()
    assert refused_4xx.value.kind == "http_4xx" and not refused_4xx.value.password_rejected


def in_thread(call: Callable[[], object], *, within: float) -> BaseException | None:
    """Run ``call`` in a thread; return what it raised (None: it returned).  Fail if it is still
    running after ``within`` seconds: a liveness bound, generous, not a measurement."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within)
    assert outcome, f"still running after {within} s"
    return outcome[0]


def test_a_dripping_server_does_not_hold_a_request_past_its_deadline(frontend: FrontendStub) -> None:
    # One byte every 0.5 s resets any read timeout; the deadline ends the request anyway.
    frontend.inject("/backend/importing/", drip=0.5)
    dripping = CoprFrontend(FrontendSettings(base_url=frontend.url, total_timeout=2, read_timeout=60))
    error = in_thread(dripping.fetch_queue, within=60)
    assert isinstance(error, FrontendUnavailable) and error.kind == "timeout"
    assert "no complete answer within 2 s" in str(error)
    wait_until(lambda: ("GET", "/backend/importing/") in frontend.abandoned, timeout=30, what="the drip to stop")
    frontend.clear()
    assert client(frontend).fetch_queue() == ([], [])  # the session is still usable


def test_close_interrupts_a_hanging_request_and_retry_sleeps(frontend: FrontendStub) -> None:
    frontend.inject("/backend/get-import-task/", hang=True)
    hanging = CoprFrontend(FrontendSettings(base_url=frontend.url, total_timeout=3600, read_timeout=3600))
    threading.Timer(0.5, hanging.close).start()
    error = in_thread(lambda: hanging.confirm(1), within=60)
    assert isinstance(error, FrontendUnavailable) and "stopping" in str(error)
    frontend.clear()
    frontend.fail_next["/backend/get-import-task/"] = [503] * 10
    sleeping = CoprFrontend(FrontendSettings(base_url=frontend.url, backoff=3600, max_attempts=5))
    threading.Timer(0.5, sleeping.close).start()
    assert isinstance(in_thread(lambda: sleeping.confirm(1), within=60), FrontendUnavailable)


def test_report_uses_basic_auth_and_canonical_json(frontend: FrontendStub) -> None:
    known(frontend, 1, 2)
    report = {"reponame": "o/p/k", "build_id": 1, "branch_commits": {"master": "b" * 40, "f43": "a" * 40}}
    client(frontend).deliver(report)
    client(frontend).deliver(dict(reversed(report.items())))
    assert frontend.reports == [report, report]
    assert frontend.bodies[0] == frontend.bodies[1]  # a repeated report is byte-identical
    assert frontend.bodies[0].startswith(b'{"branch_commits":{"f43":')
    with pytest.raises(FrontendRefused, match="401") as refused:
        client(frontend, password="wrong").deliver({"build_id": 2})
    assert refused.value.password_rejected and refused.value.kind == "http_auth"


def test_the_password_check_has_no_side_effect(frontend: FrontendStub, tmp_path: Path) -> None:
    frontend.task(5, srpm=tmp_path / "a.src.rpm", pkg="a", branches=["f43"])
    queue_before = list(frontend.queue)
    client(frontend).check_credentials()
    assert frontend.unknown_reports == [{"build_id": 0}] and frontend.reports == []
    assert frontend.queue == queue_before
    with pytest.raises(FrontendRefused) as refused:
        client(frontend, password="wrong").check_credentials()
    assert refused.value.password_rejected
    # The password file is read again at each check: a corrected file is taken without a restart.
    secret = tmp_path / "password"
    secret.write_text("wrong\n")
    from_file = CoprFrontend(FrontendSettings(base_url=frontend.url, password_file=secret))
    with pytest.raises(FrontendRefused):
        from_file.check_credentials()
    secret.write_text("s3cret\n")
    from_file.check_credentials()


def test_outbox_keeps_undeliverable_reports(tmp_path: Path) -> None:
    now = [0.0]
    outbox = Outbox(tmp_path / "outbox", clock=lambda: now[0])
    outbox.put({"build_id": 9, "error": "x", "error_message": "y"})
    outbox.put({"build_id": 3, "error": "x", "error_message": "z"})
    assert outbox.unsent() == 2
    assert outbox.take_due(1) == [3] and outbox.take_due(5) == [9]  # new ones by build id; each taken once
    assert outbox.take_due(5) == []  # both in flight
    assert outbox.failed(9) == 2.0  # backing off: 2 s, doubling
    outbox.delivered(3)
    assert outbox.take_due(5) == [] and outbox.pending() == [9] and not (tmp_path / "outbox" / "3.json").exists()
    now[0] += 2
    assert outbox.take_due(5) == [9] and outbox.failed(9) == 4.0
    outbox.hurry()  # e.g. the password works again: no more waiting
    assert outbox.take_due(5) == [9]
    # A restarted controller finds the undelivered report, due at once.
    again = Outbox(tmp_path / "outbox", clock=lambda: now[0])
    assert again.take_due(5) == [9] and again.read(9) == {"build_id": 9, "error": "x", "error_message": "y"}
    age = again.oldest_age()
    assert age is not None and age >= 0


FAST = DownloadSettings(backoff=0.0)


def test_download_retries_5xx_and_408(frontend: FrontendStub, tmp_path: Path) -> None:
    srpm = tmp_path / "a.src.rpm"
    srpm.write_bytes(b"payload" * 1000)
    url = frontend.add_srpm(srpm)
    frontend.fail_next["/srpms/"] = [503, 408, 502, 500]
    assert download(url, dest=tmp_path / "out", settings=FAST, sleep=NO_WAIT).read_bytes() == srpm.read_bytes()
    frontend.fail_next["/srpms/"] = [503] * 5
    with pytest.raises(PermanentError, match="after 5 attempts") as err:
        download(url, dest=tmp_path / "out2", settings=FAST, sleep=NO_WAIT)
    assert err.value.code == "srpm_download_failed"


def test_download_fails_at_once_on_other_4xx(frontend: FrontendStub, tmp_path: Path) -> None:
    before = len(frontend.requests)
    with pytest.raises(PermanentError, match="HTTP 404"):
        download(f"{frontend.url}/srpms/missing.src.rpm", dest=tmp_path / "o", settings=FAST, sleep=NO_WAIT)
    assert len(frontend.requests) == before + 1


def test_download_size_limit(frontend: FrontendStub, tmp_path: Path) -> None:
    srpm = tmp_path / "a.src.rpm"
    srpm.write_bytes(b"x" * 10_000)
    with pytest.raises(BadInputError, match="larger than the limit"):
        download(frontend.add_srpm(srpm), dest=tmp_path / "o", settings=DownloadSettings(max_bytes=1000))


def test_download_refuses_other_schemes(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="scheme"):
        download("ftp://127.0.0.1/x.src.rpm", dest=tmp_path / "o", settings=FAST)
