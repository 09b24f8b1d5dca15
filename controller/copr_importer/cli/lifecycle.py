"""The storage lifecycle subcommands: ``expire-logs``, ``gc-lookaside``, ``prune-projects``.

All three are dry runs unless given ``--apply`` (``--dry-run`` says the default
explicitly): a command that deletes data says so on its command line, in a
CronJob, a timer or a shell history alike.  Each prints what it removed or would
remove and the bytes, or a JSON object with ``--json``; warnings (packages or
projects skipped) go to stderr too.  Exit code 0, also when something was
skipped: skipping is the safe outcome.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ..adapters.projects import CoprProjects
from ..app.lifecycle import Report, collect_lookaside, expire_logs, prune_projects
from ..core import naming
from ..errors import BadInputError, ConfigError
from ..settings import Settings, replace, validate
from .common import add_common, settings_from

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = sub.add_parser("expire-logs", help="delete per-task logs older than lifecycle.log_max_age_days (dry run)")
    _common(logs)
    logs.add_argument("--max-age-days", type=float, help="override lifecycle.log_max_age_days")
    logs.set_defaults(func=_cmd_expire_logs)
    gc = sub.add_parser("gc-lookaside", help="remove lookaside files no branch head references (dry run)")
    _common(gc)
    gc.add_argument("--safety-age-days", type=float, help="override lifecycle.gc_safety_age_days")
    gc.set_defaults(func=_cmd_gc_lookaside)
    prune = sub.add_parser("prune-projects", help="remove repositories and lookaside of deleted projects (dry run)")
    _common(prune)
    prune.add_argument("--frontend", help="Copr frontend base URL asked whether each project exists")
    prune.add_argument(
        "--project",
        action="append",
        dest="projects",
        metavar="OWNER/PROJECT",
        help="a project known to be deleted (repeatable); the frontend is then not asked",
    )
    prune.add_argument("--guard-days", type=float, help="override lifecycle.prune_guard_days")
    prune.set_defaults(func=_cmd_prune_projects)


def _common(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--apply", action="store_true", help="really delete (default: a dry run that only lists)")
    mode.add_argument("--dry-run", action="store_false", dest="apply", help="only list what would be deleted (default)")
    parser.set_defaults(apply=False)


def _cmd_expire_logs(args: argparse.Namespace) -> int:
    settings = _settings(args, log_max_age_days=args.max_age_days)
    return _print(expire_logs(settings, now=time.time(), apply=args.apply), as_json=args.json)


def _cmd_gc_lookaside(args: argparse.Namespace) -> int:
    settings = _settings(args, gc_safety_age_days=args.safety_age_days)
    return _print(collect_lookaside(settings, now=time.time(), apply=args.apply), as_json=args.json)


def _cmd_prune_projects(args: argparse.Namespace) -> int:
    settings = _settings(args, prune_guard_days=args.guard_days)
    now = time.time()
    if args.projects:
        named = [_owner_project(p) for p in args.projects]
        report = prune_projects(settings, now=now, apply=args.apply, state_of=None, named=named)
        return _print(report, as_json=args.json)
    if not settings.frontend.base_url:
        raise ConfigError("prune-projects needs a frontend (--frontend URL or frontend.base_url) or --project names")
    oracle = CoprProjects(settings.frontend, give_up_after=settings.lifecycle.frontend_failures_before_giving_up)
    return _print(prune_projects(settings, now=now, apply=args.apply, state_of=oracle.state), as_json=args.json)


def _settings(args: argparse.Namespace, **ages: float | None) -> Settings:
    """Settings with the command line's lifecycle overrides (None: keep the configured value)."""
    settings = settings_from(args)
    given: dict[str, Any] = {name: value for name, value in ages.items() if value is not None}
    return validate(replace(settings, lifecycle=replace(settings.lifecycle, **given)), where="command line")


def _owner_project(text: str) -> tuple[str, str]:
    owner, sep, project = text.partition("/")
    try:
        if not sep:
            raise BadInputError("expected OWNER/PROJECT")
        return naming.check_component(owner, what="owner"), naming.check_component(project, what="project")
    except BadInputError as exc:
        raise ConfigError(f"--project {text!r}: {exc.message}") from exc


def _print(report: Report, *, as_json: bool) -> int:
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
        return 0
    verb = "removed" if report.applied else "would remove"
    for removal in report.removals:
        mark = "" if removal.removed or not report.applied else "  (kept: changed meanwhile)"
        print(f"{verb:<12} {_size(removal.bytes):>10}  {removal.age_days:7.1f} d  {removal.what}{mark}")
    for reason, count in sorted((+report.kept).items()):
        print(f"kept         {count} ({reason})")
    for note in report.notes:
        print(f"note         {note}")
    total = report.freed_bytes if report.applied else report.candidate_bytes
    done = sum(r.removed for r in report.removals) if report.applied else len(report.removals)
    freed = "freed" if report.applied else "would free"
    print(f"{report.command}: {verb} {done} item(s), {freed} {_size(total)} ({total} bytes)")
    if not report.applied:
        print("dry run: nothing was deleted; add --apply to delete")
    return 0


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
