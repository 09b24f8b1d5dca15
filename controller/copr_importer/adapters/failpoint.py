"""Crash-test hooks: ``kill -9`` this process at the N-th durable write, or hold it
at a named point.

When ``COPR_IMPORTER_KILL_AFTER_WRITES=N`` is set, the N-th call of
:func:`reached` sends SIGKILL to the calling process.  The git store and the
writer call it between the steps of every multi-step change (object write,
ref update, record and result publication), so the crash tests can stop the
git-writer at each of those points for real.

When ``COPR_IMPORTER_HOLD_AT=<point>=<path>`` is set, :func:`hold` at ``<point>``
waits while the file ``<path>`` exists, so a test can act on a process that
stands at that point (delete the Kubernetes pod of an import step that has just
handed its work over) and then let it go by removing the file.

Unset, each costs one comparison.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

__all__ = ["hold", "reached"]

_ENV = "COPR_IMPORTER_KILL_AFTER_WRITES"
_HOLD_ENV = "COPR_IMPORTER_HOLD_AT"
_remaining = int(os.environ.get(_ENV, "0") or "0")
_hold_point, _, _hold_path = os.environ.get(_HOLD_ENV, "").partition("=")


def reached() -> None:
    """Count one write; die here if this is the configured one."""
    global _remaining
    if _remaining <= 0:
        return
    _remaining -= 1
    if _remaining == 0:
        os.kill(os.getpid(), signal.SIGKILL)


def hold(point: str) -> None:
    """Wait here while the configured file exists, if ``point`` is the configured one."""
    if not _hold_point or point != _hold_point:
        return
    while Path(_hold_path).exists():
        time.sleep(0.1)
