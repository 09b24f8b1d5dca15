"""Whether a project's repositories and lookaside may be pruned: the pure half of ``prune-projects``.

A project is pruned only when both hold:

* it is known to be deleted: the Copr frontend answered that it does not exist,
  or the operator named it on the command line.  A frontend that failed, timed
  out or answered something unexpected leaves the state *unknown*, and unknown
  is never read as deleted;
* nothing under it changed within the guard (90 days by default, as copr's
  ``prune-dist-git.py``): the newest modification time of its files and
  directories, in the git root and in the lookaside, is older than that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .retention import DAY, is_older

__all__ = ["ProjectDecision", "ProjectFacts", "ProjectState", "decide", "within_guard"]

ProjectState = Literal["exists", "deleted", "unknown"]


@dataclass(frozen=True, slots=True)
class ProjectFacts:
    """What the data volume holds of one ``<owner>/<project>``."""

    owner: str
    project: str
    newest_mtime: float
    """The newest mtime of anything under the project, in git and in the lookaside."""
    bytes: int
    """Bytes its files occupy (hard links counted once)."""


@dataclass(frozen=True, slots=True)
class ProjectDecision:
    owner: str
    project: str
    state: ProjectState
    prune: bool
    reason: str
    bytes: int


def decide(facts: ProjectFacts, *, state: ProjectState | None, now: float, guard_days: float) -> ProjectDecision:
    """Prune only a deleted project that has been quiet for longer than the guard.

    ``state`` may be None (not asked) for a project within the guard: it is kept
    whatever the frontend would say, so asking would only load the frontend.
    """

    def verdict(prune: bool, *, reason: str) -> ProjectDecision:
        return ProjectDecision(facts.owner, facts.project, state or "unknown", prune, reason, facts.bytes)

    if not is_older(facts.newest_mtime, now=now, days=guard_days):
        age = max(0.0, now - facts.newest_mtime) / DAY
        return verdict(False, reason=f"changed {age:.1f} days ago (guard {guard_days:g} days)")
    if state == "exists":
        return verdict(False, reason="the project exists")
    if state != "deleted":
        return verdict(False, reason="the frontend gave no clear answer")
    return verdict(True, reason="deleted")


def within_guard(facts: ProjectFacts, *, now: float, guard_days: float) -> bool:
    """True when the project changed recently enough that its state need not be asked."""
    return not is_older(facts.newest_mtime, now=now, days=guard_days)
