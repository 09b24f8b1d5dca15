"""``copr-importer maintain-repos``: pack and prune the bare repositories.

Packs by default (nothing a user can see is removed: only unreachable objects
older than ``git.prune_expire``, as ``git gc`` does); ``--dry-run`` only lists
the repositories that need it.  Prints one line per repository packed, the
loose objects before and after, and the repositories kept and why; ``--json``
prints the same as one JSON object.  Exit code 0, also when a repository was
skipped because the git-writer had it open (the next run packs it); 1 when a
repository could not be packed (the reasons are printed).

Stable for timers and CronJobs::

    copr-importer maintain-repos --config /etc/copr-importer/importer.toml
"""

from __future__ import annotations

import argparse
import json

from ..app.repomaintenance import MaintenanceReport, maintain_repositories
from .common import add_common, settings_from

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    maintain = sub.add_parser("maintain-repos", help="pack and prune the git repositories (safe to run live)")
    add_common(maintain)
    maintain.add_argument("--dry-run", action="store_true", help="only list the repositories that need packing")
    maintain.add_argument("--no-prune", action="store_true", help="pack only; do not run git prune")
    maintain.add_argument("--json", action="store_true", help="print the report as JSON")
    maintain.set_defaults(func=_cmd_maintain)


def _cmd_maintain(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    report = maintain_repositories(settings, apply=not args.dry_run, prune=not args.no_prune)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print(report)
    return 1 if report.failures else 0


def _print(report: MaintenanceReport) -> None:
    verb = "packed" if report.applied else "would pack"
    for item in report.packed:
        after = f" -> {item.after.loose_objects} loose, {item.after.packs} packs" if item.after else ""
        print(f"{verb:<10} {item.repo}: {item.before.loose_objects} loose, {item.before.packs} packs{after}")
    for reason, count in sorted((+report.kept).items()):
        print(f"kept       {count} ({reason})")
    for failure in report.failures:
        print(f"failed     {failure}")
    print(f"maintain-repos: {verb} {len(report.packed)} repositories, {len(report.failures)} failed")
    if not report.applied:
        print("dry run: nothing was changed; drop --dry-run to pack")
