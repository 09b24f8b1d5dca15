"""``copr-importer run`` as a real subprocess: its stderr in a file, its process tree from ``/proc``.

Every service started through :func:`services` is killed, with everything it
started, when the test ends, whatever the test did to it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from tests.support.pipeline import cli
from tests.support.processes import alive, descendants, title
from tests.support.waiting import wait_until

__all__ = ["Service", "Services", "free_port"]

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "controller")}


class Service:
    """One ``copr-importer`` command running in the background."""

    def __init__(self, args: list[str], *, log: Path) -> None:
        self.log = log
        with log.open("ab") as stderr:
            self.process = subprocess.Popen(cli(*args), env=ENV, stdout=subprocess.PIPE, stderr=stderr)
        self.pid = self.process.pid
        self.seen: set[int] = set()  # every descendant ever listed, for the orphan checks

    def tree(self) -> dict[int, str]:
        """The live descendants and their titles."""
        found = {pid: title(pid) for pid in descendants(self.pid)}
        self.seen |= found.keys()
        return found

    def titled(self, prefix: str) -> list[int]:
        return sorted(pid for pid, text in self.tree().items() if text.startswith(prefix))

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, *, timeout: float = 15) -> int:
        """SIGTERM, then the exit status; fails the test if it is still running after ``timeout`` s."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"pid {self.pid} still runs {timeout:.0f} s after SIGTERM:\n{self.text()}") from None

    def assert_no_orphans(self, *, timeout: float = 30) -> None:
        """Every process this service ever started is gone (zombies count as gone: they hold nothing)."""
        wait_until(
            lambda: not [p for p in self.seen if alive(p)],
            timeout=timeout,
            what="the service's children to die",
            diagnostics=lambda: str({p: title(p) for p in self.seen if alive(p)}),
        )

    def kill_all(self) -> None:
        for pid in [self.pid, *descendants(self.pid), *self.seen]:
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.process.wait(30)
        if self.process.stdout is not None:
            self.process.stdout.close()


class Services:
    """Starts services with their logs in ``log_dir``; :meth:`kill_all` ends every one of them."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Service] = []

    def start(self, *args: str, name: str = "run") -> Service:
        service = Service(list(args), log=self.log_dir / f"{name}-{len(self.started)}.log")
        self.started.append(service)
        return service

    def kill_all(self) -> None:
        for service in self.started:
            service.kill_all()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
