"""Running the external commands of an SRPM build: git, make, tito, rpmbuild.

Every command runs in its own process group with a clean environment, under a
wall-clock limit (the whole group is killed when it passes, and after the
command exits, so a Makefile's stray background job dies too), an output limit
(the start and the end are kept), a file-size limit (RLIMIT_FSIZE) and an
address-space limit (RLIMIT_AS).  The command line and its output go to the
per-task log; a failure raises :class:`~copr_importer.errors.PermanentError`
with the caller's code and the command's last lines, which is what a user needs.
"""

from __future__ import annotations

import logging
import os
import resource
import select
import shlex
import signal
import subprocess
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...errors import PermanentError
from ...settings import SourceSettings

__all__ = ["Limits", "run"]

log = logging.getLogger(__name__)
_TAIL_LINES = 15


@dataclass(frozen=True, slots=True)
class Limits:
    """What one command may use."""

    timeout: float
    output_bytes: int
    file_bytes: int
    memory_bytes: int

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> Limits:
        return cls(settings.command_timeout, settings.output_limit, settings.max_file_bytes, settings.memory_limit)


class _Output:
    """The start and the end of a stream, within ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.head = bytearray()
        self.tail: deque[bytes] = deque()
        self.tail_size = 0
        self.dropped = 0
        self.half = max(limit // 2, 1)

    def add(self, chunk: bytes) -> None:
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail.append(chunk)
            self.tail_size += len(chunk)
        while self.tail_size > self.half:
            excess = self.tail_size - self.half
            first = self.tail.popleft()
            if len(first) > excess:
                self.tail.appendleft(first[excess:])
            cut = min(len(first), excess)
            self.dropped += cut
            self.tail_size -= cut

    def text(self) -> str:
        gap = f"\n[... {self.dropped} bytes left out ...]\n" if self.dropped else ""
        return (bytes(self.head).decode(errors="replace") + gap + b"".join(self.tail).decode(errors="replace")).rstrip()


def run(
    command: Sequence[str],
    *,
    cwd: Path,
    limits: Limits,
    code: str,
    env: Mapping[str, str] | None = None,
    what: str | None = None,
) -> str:
    """Run ``command``; return its output (bounded).  Exit status other than 0, a
    timeout or a missing executable raise :class:`PermanentError` with ``code``."""
    what = what or Path(command[0]).name
    log.info("$ %s", shlex.join(command))
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env or minimal_env(home=cwd)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: _limit(limits),
        )
    except FileNotFoundError:
        raise PermanentError(f"{what} is not installed here ({command[0]} not found)", code=code) from None
    output, timed_out = _collect(process, limits=limits)
    text = output.text()
    if text:
        log.info("%s", "\n".join("  | " + line for line in text.splitlines()))
    seconds = time.monotonic() - started
    if timed_out:
        raise PermanentError(f"{what} ran longer than {limits.timeout:.0f} s and was killed{_last(text)}", code=code)
    if process.returncode != 0:
        status = _status(process.returncode)
        raise PermanentError(f"{what} failed ({status}){_last(text)}", code=code)
    log.info("%s finished in %.1f s", what, seconds)
    return text


def minimal_env(*, home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a command: no secret or setting of ours leaks into it."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": str(home),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return {**env, **(extra or {})}


def _limit(limits: Limits) -> None:  # in the child, before exec
    for kind, wanted in ((resource.RLIMIT_FSIZE, limits.file_bytes), (resource.RLIMIT_AS, limits.memory_bytes)):
        # Never above a hard limit set from outside (a container, systemd): raising it
        # needs CAP_SYS_RESOURCE, and failing here would fail the build for nothing.
        _, hard = resource.getrlimit(kind)
        value = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(kind, (value, value))
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def _collect(process: subprocess.Popen[bytes], *, limits: Limits) -> tuple[_Output, bool]:
    assert process.stdout is not None
    output = _Output(limits.output_bytes)
    deadline = time.monotonic() + limits.timeout
    fd = process.stdout.fileno()
    timed_out = False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            output.add(chunk)
        elif process.poll() is not None:
            break  # exited, but a straggler of its group still holds the pipe
    _kill_group(process)
    process.wait()
    _drain(fd, output)
    process.stdout.close()
    return output, timed_out


def _drain(fd: int, output: _Output) -> None:
    os.set_blocking(fd, False)
    try:
        while chunk := os.read(fd, 65536):
            output.add(chunk)
    except BlockingIOError:
        pass


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _status(returncode: int) -> str:
    if returncode < 0:
        return f"killed by signal {signal.Signals(-returncode).name}"
    return f"exit status {returncode}"


def _last(text: str) -> str:
    lines = text.splitlines()[-_TAIL_LINES:]
    return (":\n" + "\n".join(lines)) if lines else ""
