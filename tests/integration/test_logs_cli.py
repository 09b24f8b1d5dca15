"""``copr-importer logs``: a build's per-task log from the data directory, or from a URL as the web server serves it."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.httpserver import serving_http
from tests.support.pipeline import cli
from tests.support.waiting import wait_until

# Not UTF-8 on purpose: a log carries whatever a package's tools printed.
LOG = b"2026-11-28 08:00:00 [INFO] import: downloading\n\xff\xfe latin-1 \xe9\n2026-11-28 08:00:01 [INFO] done\n"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    logs = tmp_path / "data" / "per-task-logs"
    logs.mkdir(parents=True)
    (logs / "31.log").write_bytes(LOG)
    return logs


@pytest.fixture
def served(log_dir: Path) -> Iterator[str]:
    """The log directory served by a real HTTP server on 127.0.0.1, as ``/per-task-logs/``."""
    handler = functools.partial(_Quiet, directory=str(log_dir.parent))
    with serving_http(handler) as url:
        yield f"{url}/per-task-logs/"


def logs(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cli("logs", *args), capture_output=True, timeout=60)


def test_a_log_in_the_data_directory_is_printed_byte_for_byte(log_dir: Path) -> None:
    done = logs("31", "--data-dir", str(log_dir.parent))
    assert done.returncode == 0, done.stderr
    assert done.stdout == LOG


def test_a_missing_log_names_the_path_tried(log_dir: Path) -> None:
    done = logs("32", "--data-dir", str(log_dir.parent))
    assert done.returncode == 1
    assert str(log_dir / "32.log").encode() in done.stderr
    assert done.stdout == b""


def test_a_log_served_over_http_is_printed(served: str) -> None:
    done = logs("31", "--url", served)
    assert done.returncode == 0, done.stderr
    assert done.stdout == LOG


def test_a_log_missing_on_the_server_names_the_url(served: str) -> None:
    done = logs("32", "--url", served)
    assert done.returncode == 1
    assert f"{served}32.log".encode() in done.stderr and b"404" in done.stderr


def test_an_unreachable_server_means_try_again_later(served: str) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), _Quiet) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens there
    done = logs("31", "--url", f"http://127.0.0.1:{port}/per-task-logs/")
    assert done.returncode == 75 and b"ConnectionError" in done.stderr


@pytest.mark.parametrize("bad", ["0", "-3", "abc", "1.5", "../31", "\u0663"])
def test_build_ids_must_be_positive_integers(bad: str, log_dir: Path) -> None:
    done = logs("--data-dir", str(log_dir.parent), "--", bad)
    assert done.returncode == 2
    assert b"not a build id" in done.stderr


@pytest.mark.parametrize("source", ["dir", "url"])
def test_follow_prints_what_is_appended(source: str, log_dir: Path, served: str, tmp_path: Path) -> None:
    where = ["--data-dir", str(log_dir.parent)] if source == "dir" else ["--url", served]
    out = tmp_path / "out"
    with out.open("wb") as sink:
        follower = subprocess.Popen(cli("logs", "31", "--follow", "--interval", "0.1", *where), stdout=sink)
    try:
        wait_until(lambda: out.read_bytes() == LOG, timeout=30, what="the log so far")
        with (log_dir / "31.log").open("ab") as log:
            log.write(b"2026-11-28 08:00:02 [INFO] git-writer: committed\n")
        wait_until(
            lambda: out.read_bytes() == LOG + b"2026-11-28 08:00:02 [INFO] git-writer: committed\n",
            timeout=30,
            what="the appended line, once",
            diagnostics=lambda: repr(out.read_bytes()[-200:]),
        )
    finally:
        follower.terminate()
        follower.wait(timeout=30)
