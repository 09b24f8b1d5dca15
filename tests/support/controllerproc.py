"""Running ``copr-importer`` as a real process in a test: start it, find its operations
server in its JSON log, read its health, metrics and log lines, stop it with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.support.waiting import wait_until

__all__ = ["ENV", "Samples", "get", "log_lines", "running", "scrape", "served_url", "server_of"]

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "controller")}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(base: str) -> Samples:
    status, body = get(base + "/metrics")
    assert status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def log_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def served_url(log: Path) -> str | None:
    for line in log_lines(log) if log.exists() else []:
        if "url" in line:
            return str(line["url"])
    return None


@contextmanager
def running(command: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` with stderr into ``log`` (appended); SIGTERM and wait at the end."""
    with log.open("ab") as stderr:
        process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def server_of(log: Path, *, timeout: float = 60) -> str:
    """The operations server's URL, once the process has logged it."""
    wait_until(lambda: served_url(log) is not None, timeout=timeout, what=f"a server address in {log}")
    url = served_url(log)
    assert url is not None
    return url
