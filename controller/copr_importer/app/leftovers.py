"""Leftovers of killed processes, swept by the git-writer (it holds the spool's lock).

What goes: staging directories of import steps (``spool/incoming/``), the
temporaries of atomic writes in the spool and of the lookaside
(``<lookaside>/.incoming/``), requests a killed writer was removing, and empty
ticket directories.  A staging directory or a temporary goes only once it was
last changed before the cut-off: in Kubernetes an import pod may still be
writing while the writer sweeps, so the cut-off is the longest an import step
may live (``executor.task_timeout``, ``job.active_deadline_seconds``) plus an
hour ago; the embedded controller, whose workers die with it, can pass its own
start time, so that a restart sweeps at once what the previous run left.
"""

from __future__ import annotations

import logging

from ..adapters.lookaside import Lookaside
from ..adapters.spool import Spool
from ..settings import Settings

__all__ = ["cutoff", "sweep"]

log = logging.getLogger(__name__)

MARGIN = 3600.0
"""Seconds added to the longest life of an import step: a pod's clock may be late."""


def cutoff(settings: Settings, *, now: float, leftovers_before: float | None) -> float:
    """Entries last changed before this epoch time belong to no running process."""
    longest = max(settings.executor.task_timeout, float(settings.job.active_deadline_seconds))
    before = now - longest - MARGIN
    return before if leftovers_before is None else max(before, leftovers_before)


def sweep(settings: Settings, *, spool: Spool, before: float) -> int:
    """Remove the leftovers (see the module docstring); returns how many went.
    A storage error is logged, not raised: leftovers only cost space."""
    lookaside = Lookaside(settings.lookaside_root, settings=settings.lookaside)
    try:
        removed = (
            spool.sweep_incoming(before=before)
            + spool.sweep_temporaries(before=before)
            + lookaside.sweep_temporaries(before=before)
            + spool.sweep_ticket_dirs()
        )
    except OSError as exc:
        log.warning("cannot sweep leftovers: %s", exc)
        return 0
    if removed:
        log.info("swept %d leftovers of killed or stopped processes", removed)
    return removed
