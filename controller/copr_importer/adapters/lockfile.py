"""Lock files: the one controller of a data directory, and who holds a lock.

``<data_dir>/.controller.lock`` (a hidden name: never served) is held with an
exclusive ``flock`` for as long as a ``run`` lives; the kernel drops it when the
process dies, however it dies.  The file holds the holder's record: pid, start
time and source (the frontend's URL, or ``local``).  The record stays after the
holder exits, so the next run knows whose directory it is: a run first takes
the lock, reads the previous record (:attr:`DataDirLock.previous`), decides
whether it may work here, and only then writes its own (:meth:`DataDirLock.claim`).

:func:`flock_holder` reads ``/proc/locks`` to name the process holding any
``flock``, for messages such as "the git-writer lock is held by pid 1234".
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ImporterError
from .lifeline import start_ticks

__all__ = ["LOCAL", "DataDirBusy", "DataDirLock", "Holder", "flock_holder", "flock_within"]

LOCK_NAME = ".controller.lock"
LOCAL = "local"


class DataDirBusy(ImporterError):
    """The data directory belongs to another controller, now or by its record."""


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds (or last held) a data directory."""

    pid: int
    started: str
    """UTC, ISO 8601: when the holder took the lock."""
    source: str
    """The frontend's base URL, or ``local`` for a run on local SRPMs."""
    start_ticks: int | None = None
    """The holder's start time in clock ticks since boot: with the pid, one process for good."""

    def describe(self) -> str:
        what = "a local run" if self.source == LOCAL else f"polling {self.source}"
        return f"pid {self.pid}, started {self.started}, {what}"


class DataDirLock:
    """The exclusive lock of one data directory, taken by :meth:`acquire`."""

    def __init__(self, *, path: Path, fd: int, previous: Holder | None) -> None:
        self.path = path
        self.previous = previous
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> DataDirLock:
        """Take the lock or raise :class:`DataDirBusy` naming the holder's pid and start time."""
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            who = holder.describe() if holder else f"pid {flock_holder(path) or 'unknown'}"
            raise DataDirBusy(
                f"another controller is running on {data_dir} ({who}); stop it first, "
                "or give this run a data directory of its own (--data-dir)"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        return cls(path=path, fd=fd, previous=_read(fd))

    def claim(self, *, source: str) -> Holder:
        """Write this process's record; the lock must be held."""
        assert self._fd is not None, "claim() after release()"
        pid = os.getpid()
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        holder = Holder(pid=pid, started=started, source=source, start_ticks=start_ticks(pid))
        data = (json.dumps(asdict(holder)) + "\n").encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
        return holder

    def release(self) -> None:
        """Drop the lock; the record stays for the next run to read."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _read(fd: int) -> Holder | None:
    try:
        value = json.loads(os.pread(fd, 4096, 0) or b"null")
        return Holder(**value) if isinstance(value, dict) else None
    except (ValueError, TypeError):
        return None  # empty (a holder between taking the lock and writing its record) or foreign


def flock_holder(path: Path) -> int | None:
    """The pid holding a ``flock`` on ``path``, from ``/proc/locks``; None if none is held."""
    try:
        st = os.stat(path)
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 1234 00:2d:56789 0 EOF"; waiters have "->" after the number.
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted:
            return int(fields[4])
    return None


def flock_within(fd: int, *, seconds: float, step: float) -> bool:
    """Take an exclusive ``flock`` on ``fd``, trying every ``step`` seconds for up to
    ``seconds``; False if another process still holds it then (never blocks for good)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(step)
