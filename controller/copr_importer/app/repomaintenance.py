"""``maintain-repos``: pack and prune every repository under the git root.

For each ``<owner>/<project>/<pkg>.git`` that has loose objects, loose refs or
many packs: ``git prune`` (unreachable loose objects older than
``git.prune_expire``), a geometric ``git repack -d`` and ``git pack-refs --all``
(:mod:`..adapters.gitmaintenance`), under the repository's lock.  A repository
the git-writer has open is skipped and counted, never waited for: the writer
packs what it writes at its own idle moments, and the next run comes back.

Safe to run next to a running writer, in another process or another pod on the
same volume: they take turns through the repository lock, and git's own rules
(prune only what is old and unreachable, drop a pack only once its objects are
in another) would hold even without it.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..adapters import inventory
from ..adapters.gitmaintenance import RepoCounts, counts
from ..adapters.gitstore import RepositoryBusy, maintain_repository
from ..errors import ImporterError
from ..settings import Settings

__all__ = ["MaintenanceReport", "Packed", "maintain_repositories"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Packed:
    """One repository packed (or, in a dry run, that would be)."""

    repo: str
    before: RepoCounts
    after: RepoCounts | None


@dataclass(slots=True)
class MaintenanceReport:
    applied: bool
    packed: list[Packed] = field(default_factory=list)
    kept: Counter[str] = field(default_factory=Counter)
    """Repositories left as they were, by reason."""
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": "maintain-repos",
            "applied": self.applied,
            "packed": [asdict(p) for p in self.packed],
            "loose_objects_before": sum(p.before.loose_objects for p in self.packed),
            "loose_objects_after": sum(p.after.loose_objects for p in self.packed if p.after),
            "kept": dict(sorted((+self.kept).items())),
            "failures": self.failures,
        }


def repositories(git_root: Path) -> list[Path]:
    """Every ``<owner>/<project>/<pkg>.git`` (hidden names, such as half-created ones, excluded)."""
    found = []
    for owner in inventory.subdirectories(git_root):
        for project in inventory.subdirectories(git_root / owner):
            for name in inventory.subdirectories(git_root / owner / project):
                if name.endswith(".git") and not name.startswith(".") and not owner.startswith("."):
                    found.append(git_root / owner / project / name)
    return found


def maintain_repositories(settings: Settings, *, apply: bool, prune: bool = True) -> MaintenanceReport:
    """Pack every repository that needs it; see the module docstring."""
    report = MaintenanceReport(applied=apply)
    root = settings.git_root
    for path in repositories(root):
        name = str(path.relative_to(root))
        try:
            before = counts(path)
        except OSError as exc:
            report.failures.append(f"{name}: cannot be read ({exc})")
            continue
        if not before.needs_maintenance:
            report.kept["packed already"] += 1
            continue
        if not apply:
            report.packed.append(Packed(name, before, None))
            continue
        try:
            maintain_repository(path, settings=settings.git, prune=prune)
        except RepositoryBusy:
            report.kept["in use by the git-writer (next run)"] += 1
            continue
        except ImporterError as exc:
            log.warning("%s: %s", name, exc)
            report.failures.append(f"{name}: {exc}")
            continue
        report.packed.append(Packed(name, before, counts(path)))
    return report
