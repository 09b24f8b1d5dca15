"""The Copr protocol against a real HTTP stub: queue parsing, confirm, auth, retries, downloads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from copr_importer.adapters.download import download
from copr_importer.adapters.frontend import CoprFrontend
from copr_importer.adapters.outbox import Outbox
from copr_importer.errors import BadInputError, PermanentError, TransientError
from copr_importer.settings import DownloadSettings, FrontendSettings
from tests.support.frontend_stub import FrontendStub

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


def test_5xx_and_connection_errors_are_retried(frontend: FrontendStub) -> None:
    frontend.fail_next["/backend/importing/"] = [503, 500]
    assert client(frontend).fetch_queue() == ([], [])
    frontend.fail_next["/backend/importing/"] = [503, 503, 503]
    with pytest.raises(TransientError):
        client(frontend).fetch_queue()
    dead = CoprFrontend(FrontendSettings(base_url="http://127.0.0.1:9", max_attempts=2), sleep=NO_WAIT)
    with pytest.raises(TransientError):
        dead.fetch_queue()


def test_report_uses_basic_auth(frontend: FrontendStub) -> None:
    client(frontend).deliver({"build_id": 1, "branch_commits": {"f43": "a" * 40}, "reponame": "o/p/k"})
    assert frontend.reports == [{"build_id": 1, "branch_commits": {"f43": "a" * 40}, "reponame": "o/p/k"}]
    with pytest.raises(PermanentError, match="401"):
        client(frontend, password="wrong").deliver({"build_id": 2})


def test_outbox_keeps_undeliverable_reports(frontend: FrontendStub, tmp_path: Path) -> None:
    now = [0.0]
    outbox = Outbox(tmp_path / "outbox", clock=lambda: now[0])
    outbox.put({"build_id": 9, "error": "x", "error_message": "y"})
    frontend.fail_next["/backend/import-completed/"] = [500]
    assert outbox.flush(client(frontend).deliver) == 0
    assert outbox.pending() == [9]
    assert outbox.flush(client(frontend).deliver) == 0  # backing off: not tried again yet
    now[0] += 10
    assert outbox.flush(client(frontend, password="wrong").deliver) == 0  # 401: kept, not dropped
    now[0] += 100
    assert outbox.flush(client(frontend).deliver) == 1
    assert outbox.pending() == [] and frontend.reports == [{"build_id": 9, "error": "x", "error_message": "y"}]


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
