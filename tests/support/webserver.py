"""The dist-git web side for tests: Debian's apache2 running web/httpd.conf on 127.0.0.1.

:func:`serving` starts the very configuration file the container runs, over a
data directory, in the foreground, and stops it afterwards.  httpd never runs
as root here, as in the pod: when the tests run as root it is started as the
image's user, 10001 (setpriv), so the data directory and its parents must be
world-readable (see :func:`public_dir`), and the repositories belong to another
user than httpd's, as when the git-writer's user differs from the web pod's.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.waiting import wait_until

__all__ = ["WEB_CONF", "WebServer", "public_dir", "serving"]

WEB_CONF = Path(__file__).resolve().parents[2] / "web"
APACHE = Path("/usr/sbin/apache2")
WEB_UID = 10001  # the image's USER


@dataclass(frozen=True)
class WebServer:
    url: str
    process: subprocess.Popen[bytes]
    run_dir: Path

    def log(self) -> str:
        """What httpd wrote: the access log, then errors."""
        return "".join((self.run_dir / name).read_text(errors="replace") for name in ("stdout", "stderr"))


@contextmanager
def public_dir() -> Iterator[Path]:
    """A fresh directory that a non-root httpd can read (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="copr-web-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@contextmanager
def serving(data_dir: Path, *, run_dir: Path, config: Path = WEB_CONF / "httpd.conf") -> Iterator[WebServer]:
    """Run apache2 with web/httpd.conf (or another main ``config``, which gets the same
    COPR_WEB_* variables) over ``data_dir`` until the block ends."""
    if not APACHE.exists() or not Path("/usr/lib/cgit/cgit.cgi").exists():
        pytest.fail("apache2 or cgit is missing: install Debian's 'apache2' and 'cgit' (scripts/install --test does)")
    run_dir.mkdir(parents=True, exist_ok=True)
    outputs = {name: open(run_dir / name, "ab") for name in ("stdout", "stderr")}
    command = [str(APACHE), "-f", str(config), "-DFOREGROUND"]
    if os.geteuid() == 0:
        # /dev/stdout is reopened by httpd, so its files must belong to httpd's user.
        for path in [run_dir, *(run_dir / name for name in outputs)]:
            os.chown(path, WEB_UID, WEB_UID)
        command = ["setpriv", f"--reuid={WEB_UID}", f"--regid={WEB_UID}", "--clear-groups", *command]
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "COPR_WEB_LISTEN": f"127.0.0.1:{port}",
        "COPR_WEB_DATA": str(data_dir),
        "COPR_WEB_RUN": str(run_dir),
        "COPR_WEB_CONF": str(WEB_CONF),
    }
    process = subprocess.Popen(command, env=env, stdout=outputs["stdout"], stderr=outputs["stderr"])
    server = WebServer(url=f"http://127.0.0.1:{port}", process=process, run_dir=run_dir)
    try:
        wait_until(
            lambda: process.poll() is not None or _answers(server.url + "/robots.txt"),
            timeout=30,
            what="apache2 to answer",
            diagnostics=server.log,
        )
        assert process.poll() is None, f"apache2 exited with {process.returncode}: {server.log()}"
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for out in outputs.values():
            out.close()
