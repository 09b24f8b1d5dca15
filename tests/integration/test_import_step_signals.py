"""The import step as a container's PID 1: SIGTERM stops it at once, mid-download,
with nothing left in the spool; and it loads no module it does not need."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from copr_importer.cli.units import EXIT_TERMINATED
from tests.support.pipeline import cli
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def endless_download() -> Iterator[str]:
    """A URL whose body stalls: 64 KiB of its 8 MiB, then nothing until the test is over."""
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(8 << 20))
            self.end_headers()
            self.wfile.write(b"\0" * 65536)
            self.wfile.flush()
            done.wait(120)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/slow.src.rpm"
    done.set()
    server.shutdown()
    server.server_close()


def test_sigterm_stops_a_download_at_once_and_leaves_no_staging(tmp_path: Path, endless_download: str) -> None:
    data = tmp_path / "data"
    task = {
        "build_id": 7,
        "owner": "alice",
        "project": "demo",
        "pkg_name": "slow",
        "branches": ["f43"],
        "srpm_url": endless_download,
        "sandbox": "alice/demo--alice",
        "background": False,
    }
    step = subprocess.Popen(
        cli("import-step", "--data-dir", str(data), "--task-json", json.dumps(task)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    incoming = data / "spool/incoming"
    try:
        wait_until(
            lambda: any(incoming.glob("7.*/download.src.rpm")),
            timeout=60,
            what="the download to start",
            diagnostics=lambda: f"exit code {step.poll()}",
        )
        step.send_signal(signal.SIGTERM)
        _, stderr = step.communicate(timeout=60)  # the endless download would hold it for ever
    finally:
        step.kill()
    assert step.returncode == EXIT_TERMINATED, stderr.decode()
    assert list(incoming.iterdir()) == []
    assert not list((data / "spool/requests").iterdir())
    assert "downloading" in (data / "per-task-logs/7.log").read_text()


@pytest.mark.parametrize("command", ["import-step", "run"])
def test_the_step_and_a_local_run_load_no_kubernetes_client(command: str) -> None:
    """The job image has no Kubernetes client, and a pip install without the "kube" extra neither."""
    probe = (
        "import sys, runpy\n"
        f"sys.argv = ['copr-importer', '{command}', '--help']\n"
        "try:\n"
        "    runpy.run_module('copr_importer', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'git'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.splitlines()[-1].split())
    assert not any(m.startswith("kubernetes") for m in loaded)
    if command == "import-step":
        assert not any(m.split(".")[0] == "git" for m in loaded)  # nor GitPython
