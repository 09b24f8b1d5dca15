"""The disks under the controller: a refused write is a problem to show, never a reason to stop.

An OSError from the controller's own files (ordering tickets, the outbox, spool results,
attempt counts) goes to :meth:`StorageHealth.failed`: the ``storage`` problem opens
(readiness false, with the reason, in /status, ``status`` and a metric), and the work
that hit it stays where it is, to be tried again.  A small canary file is also written
(not synced) and removed in the outbox and in the spool every 5 s, so that a disk that
fills up or turns read-only shows before work fails on it; while the problem is open,
every second, and once the canaries work again, the problem closes.  The git-writer
publishes its own problem in the spool (``writer-health.json``); it is read about once
a second and shown as the ``git-writer`` problem.

:func:`looks_like_storage_fault` recognises an import step that failed because of the
disk (its outcome is a message, also across a Kubernetes termination message): such a
run is retried without spending one of the build's attempts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ..adapters import atomicfile
from ..adapters.spool import Spool
from ..core import storagefault
from ..core.observer import GIT_WRITER, STORAGE, Observer

__all__ = ["StorageHealth", "looks_like_storage_fault"]

log = logging.getLogger(__name__)

CANARY = ".write-check"
_FAULT_MARKERS = (
    "storage refused",  # the import step's StorageError (core/storagefault.py)
    "storageerror",
    "[errno 5]",  # EIO
    "[errno 28]",  # ENOSPC
    "[errno 30]",  # EROFS
    "[errno 122]",  # EDQUOT
    "no space left on device",
    "read-only file system",
    "disk quota exceeded",
    "input/output error",
)


def looks_like_storage_fault(message: str) -> bool:
    """True when a step's failure message says the disk refused (full, read-only, failing)."""
    text = message.lower()
    return any(marker in text for marker in _FAULT_MARKERS)


def describe(exc: OSError, *, doing: str) -> str:
    """``writing the report of build 7: no space left on device (/data/outbox/7.json)``."""
    return f"{doing}: {storagefault.describe(exc)}"


class StorageHealth:
    """The ``storage`` and ``git-writer`` problems (see the module docstring)."""

    def __init__(
        self,
        *,
        observer: Observer,
        folders: list[Path],
        spool: Spool,
        clock: Callable[[], float],
        every: float = 1.0,
        canary_every: float = 5.0,
    ) -> None:
        self.observer, self.spool, self.clock = observer, spool, clock
        self.every, self.canary_every = every, canary_every
        self.canaries = [folder / CANARY for folder in folders]
        self.reason: str | None = None
        self.writer_reason: str | None = None
        self._next_check = self._next_canary = 0.0

    @property
    def troubled(self) -> bool:
        """The controller's disk or the git-writer's has an open problem."""
        return self.reason is not None or self.writer_reason is not None

    def failed(self, exc: OSError, *, doing: str) -> None:
        reason = describe(exc, doing=doing)
        if self.reason is None:
            log.error("storage problem: %s; keeping the work and trying again", reason)
        if reason != self.reason:
            self.observer.problem(STORAGE, reason=reason)
        self.reason = reason
        self._next_check = self.clock() + self.every

    def check(self) -> None:
        """At most once per ``every`` seconds: read the writer's health, and try the canary
        (every ``canary_every`` seconds while all is well)."""
        now = self.clock()
        if now < self._next_check:
            return
        self._next_check = now + self.every
        if self.reason is not None or now >= self._next_canary:
            self._next_canary = now + self.canary_every
            self._try_canary()
        writer, _ = self.spool.read_writer_health()
        if writer != self.writer_reason:
            if writer:
                log.error("the git-writer reports a problem: %s", writer)
            else:
                log.info("the git-writer is well again")
            self.writer_reason = writer
            self.observer.problem(GIT_WRITER, reason=writer)

    def probe(self) -> bool:
        """Try the canary now; True when the disk refuses (the controller's or the writer's).
        Asked before a failed step is counted: its worker may have died of a full disk."""
        self._next_canary = self.clock() + self.canary_every
        self._try_canary()
        return self.troubled

    def _try_canary(self) -> None:
        try:
            for canary in self.canaries:
                atomicfile.write_bytes(canary, data=b"ok\n", durable=False)
                canary.unlink()
        except OSError as exc:
            if self.reason is None:
                self.failed(exc, doing="writing a test file")
            return  # still refused; the first reason stays, it names the real work
        if self.reason is not None:
            log.info("storage accepts writes again (was: %s)", self.reason)
            self.reason = None
            self.observer.problem(STORAGE, reason=None)
