"""A crash-test hook: ``kill -9`` this process at the N-th durable write.

When ``COPR_IMPORTER_KILL_AFTER_WRITES=N`` is set, the N-th call of
:func:`reached` sends SIGKILL to the calling process.  The git store and the
writer call it between the steps of every multi-step change (object write,
ref update, result publication), so the crash tests can stop the git-writer at
each of those points for real.  Unset, it costs one comparison.
"""

from __future__ import annotations

import os
import signal

__all__ = ["reached"]

_ENV = "COPR_IMPORTER_KILL_AFTER_WRITES"
_remaining = int(os.environ.get(_ENV, "0") or "0")


def reached() -> None:
    """Count one write; die here if this is the configured one."""
    global _remaining
    if _remaining <= 0:
        return
    _remaining -= 1
    if _remaining == 0:
        os.kill(os.getpid(), signal.SIGKILL)
