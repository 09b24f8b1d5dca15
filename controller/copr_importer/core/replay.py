"""What the git-writer does with a request for a build it may have met before.

A request can reach the writer more than once, or late: a Kubernetes Job retried
after its pod died past the hand-over, a worker of a killed controller handing
over after its build was applied, a writer killed after it committed but before
it removed the request.  And a build can reach the importer after a newer build
of the same package (its SRPM build finished later).  The writer keeps, per
package, a record of the builds it applied (each one's published result) and,
per branch, the newest build that moved it.  From that record alone:

* a build in the record is a **repeat**: the repository is not touched and the
  recorded result is handed back unchanged, so a second report is byte-identical
  to the first;
* a branch that a newer build already moved is **stale** for this build: it is
  not touched (a branch's history follows build order), and the branch is
  reported failed with the newer build's id, as copr reports a branch that could
  not be committed;
* the other branches are applied, in the task's order: the first of them gets
  the import commit.  When every branch is stale, the build fails as a whole
  with a message that tells the user to resubmit it.

Per branch rather than per package, because copr users build one package for
different chroots in separate builds: an older build for ``f42`` that arrives
after a newer one for ``f43`` moves nothing backwards and is imported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Plan", "advance", "expired", "plan", "stale_branch_error", "stale_failure"]


@dataclass(frozen=True, slots=True)
class Plan:
    """The writer's decision for one request."""

    repeat: bool
    """The build was applied before: hand back its recorded result, touch nothing."""
    apply: tuple[str, ...] = ()
    """Branches to commit, in the task's order (the first gets the import commit)."""
    stale: dict[str, int] = field(default_factory=dict)
    """Branches a newer build already moved: branch -> that build's id."""


def plan(build_id: int, *, branches: Sequence[str], recorded: bool, newest: Mapping[str, int]) -> Plan:
    """Decide what to do with ``build_id``, given whether its result is recorded and,
    per branch, the newest build that moved the branch."""
    if recorded:
        return Plan(repeat=True)
    stale = {b: newest[b] for b in branches if newest.get(b, 0) > build_id}
    return Plan(repeat=False, apply=tuple(b for b in branches if b not in stale), stale=stale)


def advance(newest: Mapping[str, int], *, build_id: int, result: Mapping[str, Any]) -> dict[str, int]:
    """``newest`` after publishing ``result``: each branch the build committed now
    names it, unless a newer build already does (a repeat of an old build)."""
    moved = result.get("branch_commits") or {}
    updated = dict(newest)
    for branch in moved:
        if updated.get(branch, 0) < build_id:
            updated[branch] = build_id
    return updated


def stale_branch_error(newer: int) -> str:
    """The ``branch_errors`` text of a stale branch."""
    return (
        f"not imported: build {newer}, a newer build of this package, was imported into this branch first; "
        "importing this one now would put older sources on top of newer ones"
    )


def stale_failure(stale: Mapping[str, int]) -> dict[str, str]:
    """The ``error`` object of a build whose every branch is stale."""
    newest = max(stale.values())
    branches = ", ".join(sorted(stale))
    return {
        "code": "srpm_import_failed",
        "message": (
            f"not imported: newer builds of this package (up to build {newest}) were imported first "
            f"into every branch of this build ({branches}); this build reached the importer later, "
            "and importing it now would put older sources on top of newer ones. "
            "Resubmit the build to have its sources imported and built."
        ),
    }


def expired(recorded_at: Mapping[int, float], *, now: float, max_age: float, max_count: int) -> list[int]:
    """Build ids whose record may go: older than ``max_age`` seconds, or beyond the
    newest ``max_count`` builds.  The newest build is always kept."""
    ordered = sorted(recorded_at, reverse=True)
    keep = set(ordered[: max(max_count, 1)])
    drop = [b for b in ordered if b not in keep or now - recorded_at[b] > max_age]
    return sorted(b for b in drop if b != ordered[0])
