"""The storage lifecycle runs: expire per-task logs, collect unreferenced lookaside files,
prune deleted projects.  Each returns a :class:`Report` of what it removed (or, in a
dry run, would remove) and how many bytes that is.

The decisions are the core's (:mod:`..core.retention`, :mod:`..core.lookasidegc`,
:mod:`..core.prune`); this module lists, asks and removes through the adapters.
A dry run lists exactly the set an applied run would remove at the same moment.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..adapters import inventory
from ..adapters.gitstore import RepositoryError, branch_head_sources
from ..adapters.spool import Spool
from ..core import naming
from ..core.lookasidegc import classify, referenced_entries
from ..core.prune import ProjectFacts, ProjectState, decide, within_guard
from ..core.retention import DAY, expired_logs
from ..core.sources import SourceEntry
from ..errors import BadInputError
from ..settings import Settings

__all__ = ["Removal", "Report", "collect_lookaside", "expire_logs", "prune_projects"]

log = logging.getLogger(__name__)

StateOf = Callable[[str, str], ProjectState]


@dataclass(slots=True)
class Removal:
    """One thing a run removes: a file, or a project's directories."""

    what: str
    bytes: int
    age_days: float
    removed: bool = False
    """True once deleted; stays False in a dry run or when it changed at the last moment."""


@dataclass(slots=True)
class Report:
    command: str
    applied: bool
    removals: list[Removal] = field(default_factory=list)
    kept: Counter[str] = field(default_factory=Counter)
    """How many items were kept, by reason."""
    notes: list[str] = field(default_factory=list)
    """Packages or projects skipped and why (warnings an operator should read)."""

    @property
    def candidate_bytes(self) -> int:
        return sum(r.bytes for r in self.removals)

    @property
    def freed_bytes(self) -> int:
        return sum(r.bytes for r in self.removals if r.removed)

    def note(self, message: str) -> None:
        log.warning("%s", message)
        self.notes.append(message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "applied": self.applied,
            "removals": [asdict(r) for r in self.removals],
            "candidates": len(self.removals),
            "candidate_bytes": self.candidate_bytes,
            "removed": sum(r.removed for r in self.removals),
            "freed_bytes": self.freed_bytes,
            "kept": dict(sorted((+self.kept).items())),  # without zero counts
            "notes": self.notes,
        }


def expire_logs(settings: Settings, *, now: float, apply: bool) -> Report:
    """Delete ``<build_id>.log`` files older than ``lifecycle.log_max_age_days``."""
    report = Report("expire-logs", applied=apply)
    root = settings.log_root
    listed = inventory.list_flat(root)
    chosen = expired_logs(listed, now=now, max_age_days=settings.lifecycle.log_max_age_days)
    report.kept["young or not a task log"] = len(listed) - len(chosen)
    for facts in chosen:
        removal = Removal(str(root / facts.path), facts.size, (now - facts.mtime) / DAY)
        if apply:
            removal.removed = inventory.remove_file(root / facts.path, listed_mtime=facts.mtime) is not None
        report.removals.append(removal)
    return report


def _pending_references(settings: Settings) -> dict[tuple[str, str, str], set[SourceEntry]]:
    """Lookaside entries of requests still waiting for the git-writer: referenced too."""
    pending: dict[tuple[str, str, str], set[SourceEntry]] = {}
    spool = Spool(settings.spool_root)
    for build_id in spool.request_ids():
        try:
            request = spool.load_request(build_id)
            task = request["task"]
            key = (task["owner"], task["project"], task["pkg_name"])
            entries = {SourceEntry(e["filename"], e["hashtype"], e["digest"]) for e in request["lookaside"]}
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a request being handed over or removed right now; the safety age covers it
        pending.setdefault(key, set()).update(entries)
    return pending


def _packages(root: Path) -> Iterable[tuple[str, str, str]]:
    for owner in inventory.subdirectories(root):
        for project in inventory.subdirectories(root / owner):
            for pkg in inventory.subdirectories(root / owner / project):
                yield owner, project, pkg


def collect_lookaside(settings: Settings, *, now: float, apply: bool) -> Report:
    """Remove lookaside files that no branch head's ``sources`` names, once older than the safety age."""
    report = Report("gc-lookaside", applied=apply)
    pending = _pending_references(settings)
    for owner, project, pkg in _packages(settings.lookaside_root):
        _collect_package(settings, report, key=(owner, project, pkg), pending=pending, now=now)
    return report


def _collect_package(
    settings: Settings,
    report: Report,
    *,
    key: tuple[str, str, str],
    pending: dict[tuple[str, str, str], set[SourceEntry]],
    now: float,
) -> None:
    owner, project, pkg = key
    pkg_dir = settings.lookaside_root / owner / project / pkg
    repo = settings.git_root / naming.repo_relpath(owner=owner, project=project, pkg=pkg)
    try:
        referenced = referenced_entries(branch_head_sources(repo).values())
    except RepositoryError as exc:
        report.note(f"{owner}/{project}/{pkg}: skipped, its repository cannot be read ({exc})")
        return
    except BadInputError as exc:
        report.note(f"{owner}/{project}/{pkg}: skipped, a branch's sources file is malformed ({exc})")
        return
    referenced |= pending.get(key, set())
    verdict = classify(
        inventory.list_files(pkg_dir),
        referenced=referenced,
        now=now,
        safety_age_days=settings.lifecycle.gc_safety_age_days,
    )
    report.kept["referenced"] += len(verdict.referenced)
    report.kept["younger than the safety age"] += len(verdict.young)
    report.kept["not a lookaside object"] += len(verdict.unrecognised)
    for facts in verdict.garbage:
        path = pkg_dir / facts.path
        removal = Removal(str(path), facts.size, (now - facts.mtime) / DAY)
        if report.applied and inventory.remove_file(path, listed_mtime=facts.mtime) is not None:
            removal.removed = True
            inventory.remove_empty_dirs(path.parent, stop=settings.lookaside_root / owner / project)
        report.removals.append(removal)


def _projects_on_disk(settings: Settings, report: Report) -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for root in (settings.git_root, settings.lookaside_root):
        for owner in inventory.subdirectories(root):
            for project in inventory.subdirectories(root / owner):
                found.add((owner, project))
    valid = []
    for owner, project in sorted(found):
        try:
            naming.check_component(owner, what="owner")
            naming.check_component(project, what="project")
        except BadInputError:
            report.kept["not a project directory"] += 1
            continue
        valid.append((owner, project))
    return valid


def prune_projects(
    settings: Settings,
    *,
    now: float,
    apply: bool,
    state_of: StateOf | None,
    named: list[tuple[str, str]] | None = None,
) -> Report:
    """Remove the repositories and lookaside of deleted projects quiet for longer than the guard.

    ``named``: projects the operator declares deleted (the frontend is not asked);
    otherwise every project on disk is looked up with ``state_of``.
    """
    report = Report("prune-projects", applied=apply)
    guard = settings.lifecycle.prune_guard_days
    projects = named if named is not None else _projects_on_disk(settings, report)
    for owner, project in projects:
        roots = [settings.git_root / owner / project, settings.lookaside_root / owner / project]
        if not any(r.is_dir() for r in roots):
            report.note(f"{owner}/{project}: nothing on disk")
            continue
        try:
            newest, size = inventory.measure(roots)
        except OSError as exc:
            report.note(f"{owner}/{project}: skipped, cannot read it all ({exc})")
            continue
        facts = ProjectFacts(owner, project, newest, size)
        state: ProjectState | None = None  # not asked: within the guard it is kept anyway
        if within_guard(facts, now=now, guard_days=guard):
            pass
        elif named is not None:
            state = "deleted"  # the operator's word
        else:
            state = state_of(owner, project) if state_of else "unknown"
        decision = decide(facts, state=state, now=now, guard_days=guard)
        if not decision.prune:
            _record_kept(report, f"{owner}/{project}", decision.reason, state=state, named=named is not None)
            continue
        removal = Removal(f"{owner}/{project}", size, (now - newest) / DAY)
        if apply:
            removal.removed = _remove_project(report, roots)
        report.removals.append(removal)
    return report


def _remove_project(report: Report, roots: list[Path]) -> bool:
    """Remove the project's git and lookaside trees, then its owner directories if emptied."""
    try:
        for root in roots:
            if root.is_dir():
                inventory.remove_tree(root)
                inventory.remove_empty_dirs(root.parent, stop=root.parent.parent)
    except OSError as exc:
        report.note(f"{roots[0].parent.name}/{roots[0].name}: removal failed ({exc})")
        return False
    return True


def _record_kept(report: Report, what: str, reason: str, *, state: ProjectState | None, named: bool) -> None:
    """Count a kept project; a surprise (no clear answer, or a named project that is active) is also a note."""
    if state is None:
        report.kept["changed within the guard"] += 1
        if named:
            report.note(f"{what}: kept although named, {reason}")
    elif state == "exists":
        report.kept["exists"] += 1
    else:
        report.kept["no clear answer from the frontend"] += 1
        report.note(f"{what}: kept, {reason}")
