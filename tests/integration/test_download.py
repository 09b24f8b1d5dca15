"""Hostile SRPM URLs against a real HTTP server on 127.0.0.1: schemes, redirects, drips, local files."""

from __future__ import annotations

import http.server
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from copr_importer.adapters.download import download
from copr_importer.errors import BadInputError
from copr_importer.settings import DownloadSettings
from tests.support.httpserver import serving_http

FAST = DownloadSettings(backoff=0.0, max_attempts=3, request_timeout=5.0)
LOCAL = DownloadSettings(local_files=True)
BODY = b"an srpm, or so it says" * 100


class Handler(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []
    redirects: ClassVar[dict[str, str]] = {}

    def do_GET(self) -> None:
        self.hits.append(self.path)
        if self.path in self.redirects:
            self.send_response(302)
            self.send_header("Location", self.redirects[self.path])
            self.end_headers()
        elif self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.5)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Handler.hits, Handler.redirects = [], {}
    with serving_http(Handler) as url:
        yield url


@pytest.mark.parametrize("url", ["file:///etc/passwd", "/etc/passwd", "file:///dev/zero", "/nonexistent.src.rpm"])
def test_a_frontend_url_is_never_a_local_file(tmp_path: Path, url: str) -> None:
    with pytest.raises(BadInputError) as caught:
        download(url, dest=tmp_path / "out", settings=FAST)
    assert caught.value.code == "srpm_download_failed"
    # The same answer whether the file exists or not: nothing to learn about the host.
    assert "only http and https URLs are fetched" in caught.value.message
    assert not (tmp_path / "out").exists()


def test_a_local_run_reads_regular_files_only(tmp_path: Path) -> None:
    srpm = tmp_path / "real.src.rpm"
    srpm.write_bytes(BODY)
    assert download(str(srpm), dest=tmp_path / "a", settings=LOCAL).read_bytes() == BODY
    assert download(srpm.as_uri(), dest=tmp_path / "b", settings=LOCAL).read_bytes() == BODY
    fifo = tmp_path / "fifo.src.rpm"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo), str(tmp_path)):
        with pytest.raises(BadInputError, match="not a regular file"):
            download(path, dest=tmp_path / "c", settings=LOCAL)
    with pytest.raises(BadInputError, match="not found"):
        download(str(tmp_path / "missing.src.rpm"), dest=tmp_path / "d", settings=LOCAL)


def test_a_local_file_is_measured_by_what_is_read(tmp_path: Path) -> None:
    srpm = tmp_path / "big.src.rpm"
    srpm.write_bytes(BODY)
    with pytest.raises(BadInputError) as caught:
        download(str(srpm), dest=tmp_path / "o", settings=DownloadSettings(local_files=True, max_bytes=100))
    assert caught.value.code == "srpm_too_large"


def test_redirects_are_followed_to_http_only(server: str, tmp_path: Path) -> None:
    Handler.redirects = {"/a": "/b", "/b": f"{server}/real.src.rpm"}
    assert download(f"{server}/a", dest=tmp_path / "ok", settings=FAST).read_bytes() == BODY
    Handler.redirects = {"/evil": "file:///etc/passwd"}
    with pytest.raises(BadInputError, match="only http and https are followed"):
        download(f"{server}/evil", dest=tmp_path / "evil", settings=FAST)
    assert Handler.hits.count("/evil") == 1  # permanent: not retried


def test_a_redirect_to_another_port_is_not_followed(server: str, tmp_path: Path) -> None:
    Handler.redirects = {"/hop": "http://127.0.0.1:9420/metrics"}
    with pytest.raises(BadInputError, match="another port is not followed"):
        download(f"{server}/hop", dest=tmp_path / "o", settings=FAST)


def test_a_redirect_loop_ends(server: str, tmp_path: Path) -> None:
    Handler.redirects = {"/loop": "/loop"}
    with pytest.raises(BadInputError, match="redirects more than"):
        download(f"{server}/loop", dest=tmp_path / "o", settings=FAST)


def test_a_dripping_server_meets_the_total_deadline(server: str, tmp_path: Path) -> None:
    settings = DownloadSettings(total_timeout=2.0, request_timeout=60.0, backoff=0.0)
    with pytest.raises(BadInputError) as caught:
        download(f"{server}/drip", dest=tmp_path / "o", settings=settings)
    assert "exceeded the time limit of 2 s" in caught.value.message
    assert Handler.hits.count("/drip") == 1  # the deadline is not retried
