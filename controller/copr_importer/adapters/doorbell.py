"""Doorbells: a process that waits for work is woken the moment work arrives, not at its next poll.

A doorbell is a named pipe (FIFO) in a directory that the producer and the
consumer share (the spool).  The consumer :meth:`Doorbell.listen` s: it makes the
FIFO if it is missing and opens it for reading *and* writing, without blocking,
so that it never reads end-of-file when producers come and go, and adds
:meth:`Doorbell.fileno` to what it waits on, with its usual poll interval as the
timeout.  A producer calls :func:`ring` after it published its work (a rename in
the spool): it opens the FIFO for writing without blocking, writes one byte and
closes it.  No consumer listening (ENXIO), no FIFO yet (ENOENT), a full pipe
(EAGAIN: the consumer will wake anyway) or anything else: the ring is dropped, and
the consumer's poll finds the work, as it would without doorbells.  So a doorbell
only makes a consumer faster, never needed for correctness: work is always found by
scanning the spool, and a lost ring costs one poll interval.

Where it works: between processes of one kernel sharing the directory, which is
the embedded importer, and in Kubernetes the controller and its git-writer sidecar
(one pod) and import pods on the same node (a hostPath or local volume).  A FIFO on
a network filesystem connects only the processes of one node, so import pods on
other nodes ring nobody: the git-writer finds their requests at its next poll.
A filesystem that cannot hold a FIFO leaves :meth:`Doorbell.listen` returning
False and the consumer polling.

A ring opens the path with ``O_NOFOLLOW`` and writes only to a FIFO: whatever
else is found at the path (a file, a link) is left alone.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import stat
from pathlib import Path

__all__ = ["Doorbell", "ring"]

log = logging.getLogger(__name__)

_RING = b"\0"


def ring(path: Path) -> None:
    """Wake whoever listens at ``path``; never blocks, never raises."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return  # nobody listens (ENXIO), no doorbell (ENOENT), or not a FIFO we may use
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, _RING)
    except OSError:
        pass  # full (EAGAIN): the listener has rings to read already
    finally:
        os.close(fd)


class Doorbell:
    """The listening side of the FIFO at ``path`` (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def listen(self) -> bool:
        """Make and open the FIFO; False (and a debug line) if this filesystem cannot have one."""
        if self._fd is not None:
            return True
        try:
            os.mkfifo(self.path)
            os.chmod(self.path, 0o620)  # the group may ring: import steps run as another user in some setups
        except FileExistsError:
            pass
        except OSError as exc:
            log.debug("no doorbell at %s (%s): polling only", self.path, exc)
            return False
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            log.debug("cannot open the doorbell %s (%s): polling only", self.path, exc)
            return False
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.close(fd)
            log.warning("%s is not a FIFO: polling only", self.path)
            return False
        self._fd = fd
        return True

    def fileno(self) -> int | None:
        """What to wait on (readable: it rang), or None when not listening."""
        return self._fd

    def ring(self) -> None:
        """Ring it from the listening process itself (another thread's news); never blocks."""
        if self._fd is not None:
            try:
                os.write(self._fd, _RING)
            except OSError:
                pass  # full: it has rung already

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a ring; True if it rang (the rings are consumed)."""
        if self._fd is None:
            if timeout > 0:
                select.select([], [], [], timeout)
            return False
        readable, _, _ = select.select([self._fd], [], [], max(timeout, 0.0))
        return bool(readable) and self.drain()

    def drain(self) -> bool:
        """Consume the rings so far; True if there were any."""
        rang = False
        while self._fd is not None:
            try:
                chunk = os.read(self._fd, 4096)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                    log.debug("doorbell %s: %s", self.path, exc)
                break
            if not chunk:
                break
            rang = True
        return rang

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
