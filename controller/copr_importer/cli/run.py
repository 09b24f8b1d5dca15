"""``copr-importer run``: the controller, embedded by default, or with ``--kubernetes`` against a cluster.

SRPM arguments or ``--tasks`` always mean a one-off local run, even when the
settings name a frontend: that frontend is then neither polled nor reported to,
and every path (repositories, lookaside, logs, cgit list) is taken under the data
directory, so a one-off run given its own ``--data-dir`` cannot touch a
production importer's repositories, spool, outbox or logs.

An embedded or local run holds its data directory's lock (``adapters/lockfile.py``)
for its whole life: a second run on the same directory exits 2, naming the
holder's pid and start time.  The lock's record also says whose directory it is:
a one-off local run refuses a directory a frontend's importer used (its build ids
would collide with that importer's), and a frontend run refuses one that holds
unfinished work of a local run (it would report those builds to the frontend).
In Kubernetes the Deployment (one replica, Recreate) keeps the controller single,
and a pod must not exit because its predecessor is slow to go, so no lock is taken.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..adapters import lifeline
from ..adapters.download import allow_local_files
from ..adapters.frontend import CoprFrontend
from ..adapters.localsource import LocalSource
from ..adapters.lockfile import LOCAL, DataDirBusy, DataDirLock, Holder
from ..adapters.spool import Spool
from ..app.controller import Controller
from ..app.embedded import run_embedded
from ..core import naming
from ..errors import ConfigError
from ..settings import FrontendSettings, Settings
from .common import add_common, settings_from
from .sourceflags import add_source_options, source_records

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="import tasks from a Copr frontend or from local SRPMs")
    add_common(run)
    run.add_argument("srpms", nargs="*", help="local SRPM paths or URLs to import")
    run.add_argument("--frontend", help="Copr frontend base URL (frontend_base_url)")
    run.add_argument("--password-file", type=Path, help="file holding the frontend's backend password")
    run.add_argument("--tasks", type=Path, help="JSON file with an array of task records")
    run.add_argument("--owner", default="local", help="owner for local tasks (default: local)")
    run.add_argument("--project", default="samples", help="project for local tasks (default: samples)")
    run.add_argument("--branch", action="append", dest="branches", help="branch for local tasks (repeatable)")
    run.add_argument("--package", help="package name for local tasks (default: from the SRPM name)")
    run.add_argument("--workers", type=int, help="N, the number of concurrent imports")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument("--kubernetes", action="store_true", help="run imports as Kubernetes Jobs (needs --frontend)")
    run.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster credentials)")
    run.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="serve /metrics, /livez, /readyz and /status here (default: telemetry.listen when polling a "
        "frontend, none for local SRPMs; empty: none)",
    )
    add_source_options(run)
    run.set_defaults(func=_cmd_run)


def _local_source(args: argparse.Namespace, settings: Settings) -> LocalSource:
    defaults: dict[str, Any] = {
        "owner": args.owner,
        "project": args.project,
        "branches": args.branches or [settings.git.default_branch],
        "background": False,
    }
    if args.package:
        defaults["pkg_name"] = args.package
    if args.tasks:
        return LocalSource.from_file(args.tasks, data_dir=settings.data_dir, defaults=defaults)
    records = [{"srpm_url": str(Path(s).resolve()) if "://" not in s else s} for s in args.srpms]
    records += source_records(args)
    return LocalSource(data_dir=settings.data_dir, records=records, defaults=defaults)


def _summary(controller: Controller, settings: Settings, source: LocalSource) -> list[dict[str, Any]]:
    rows = []
    for build_id, report in sorted(source.reports.items()):
        row: dict[str, Any] = {"build_id": build_id, **report, "log": str(settings.log_root / f"{build_id}.log")}
        if "reponame" in report:
            owner, project, pkg = report["reponame"].split("/")
            row["repository"] = str(settings.git_root / naming.repo_relpath(owner=owner, project=project, pkg=pkg))
            row["lookaside"] = str(settings.lookaside_root / owner / project / pkg)
        rows.append(row)
    for exc in source.rejected_at_start:
        rows.append({"build_id": exc.build_id, "error": exc.code, "error_message": exc.message})
    return rows


def _print_summary(rows: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        if "branch_commits" in row:
            print(f"build {row['build_id']}: imported {row['reponame']}")
            for branch, sha in sorted(row["branch_commits"].items()):
                print(f"    {branch:<12} {sha}")
            for branch, error in sorted(row.get("branch_errors", {}).items()):
                print(f"    {branch:<12} FAILED: {error}")
            print(f"    repository  {row['repository']}")
            print(f"    lookaside   {row['lookaside']}")
        else:
            print(f"build {row['build_id']}: FAILED ({row.get('error')}): {row.get('error_message')}")
        if "log" in row:
            print(f"    log         {row['log']}")


def _cmd_run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    lifeline.set_title("copr-importer: controller")
    if args.srpms or args.tasks or source_records(args):
        if args.kubernetes:
            raise ConfigError(
                "--kubernetes imports from a frontend; SRPMs, --pypi/--rubygem/--scm and --tasks are for a one-off "
                "local run"
            )
        return _local_run(args, _one_off(settings))
    if not settings.frontend.base_url:
        raise ConfigError("nothing to import: give SRPMs, --pypi/--rubygem/--scm, --tasks FILE or --frontend URL")
    if args.kubernetes:
        _frontend_run(args, settings)
        return 0
    lock = _claim(settings, source=settings.frontend.base_url)
    try:
        _frontend_run(args, settings)
    finally:
        lock.release()
    return 0


def _frontend_run(args: argparse.Namespace, settings: Settings) -> None:
    source = CoprFrontend(settings.frontend)
    # An explicit --listen must work; the settings' address only warns when taken.
    listen = settings.telemetry.listen if args.listen is None else args.listen
    required = args.listen is not None
    if args.kubernetes:
        # Here only: the Kubernetes client is the optional "kube" extra.
        from ..app.clusterrun import run_kubernetes

        run_kubernetes(settings, source=source, kubeconfig=args.kubeconfig, listen=listen, listen_required=required)
    else:
        run_embedded(settings, source=source, until_idle=False, listen=listen, listen_required=required)


def _one_off(settings: Settings) -> Settings:
    """A local run's settings: no frontend, and every path under the data directory."""
    if settings.frontend.base_url:
        log.info(
            "one-off local run: %s is neither polled nor reported to; everything goes under %s",
            settings.frontend.base_url,
            settings.data_dir,
        )
    return replace(
        settings, frontend=FrontendSettings(), git_dir=None, lookaside_dir=None, per_task_log_dir=None, cgit_list=None
    )


def _local_run(args: argparse.Namespace, settings: Settings) -> int:
    settings = allow_local_files(settings)  # SRPM paths given by the person running this
    lock = _claim(settings, source=LOCAL)
    try:
        local = _local_source(args, settings)
        local.rejected_at_start = list(local.rejected)
        controller = run_embedded(settings, source=local, until_idle=True, listen=args.listen)
    finally:
        lock.release()
    rows = _summary(controller, settings, local)
    _print_summary(rows, as_json=args.json)
    return 0 if all("branch_commits" in r and not r.get("branch_errors") for r in rows) else 1


def _claim(settings: Settings, *, source: str) -> DataDirLock:
    """Take the data directory for this run, or raise :class:`DataDirBusy` saying why not."""
    lock = DataDirLock.acquire(settings.data_dir)
    try:
        _check_owner(lock.previous, settings=settings, source=source)
        lock.claim(source=source)
    except BaseException:
        lock.release()
        raise
    return lock


def _check_owner(previous: Holder | None, *, settings: Settings, source: str) -> None:
    """A local run never works in a frontend's directory; nobody takes over another kind's unfinished work."""
    last = None if previous is None else previous.source
    if source == LOCAL and previous is not None and last != LOCAL:
        raise DataDirBusy(
            f"{settings.data_dir} is the data directory of the importer for {last} "
            f"(last run: {previous.describe()}); a one-off local run there would mix its build ids, results "
            "and reports with that importer's: give it a data directory of its own (--data-dir)"
        )
    # A frontend run after a local one would report the local builds' leftovers to the frontend; a local
    # run in a directory of unknown use (from before the lock's record) could take over a frontend's.
    strangers = last == LOCAL if source != LOCAL else last is None
    unfinished = _unfinished(settings) if strangers else 0
    if unfinished:
        whose = "a local run" if last == LOCAL else "an earlier run of unknown kind"
        raise DataDirBusy(
            f"{settings.data_dir} holds {unfinished} unfinished hand-overs, results, tickets or reports of {whose}, "
            "which this run would take over: finish them with the run that made them, "
            "or give this run a data directory of its own (--data-dir)"
        )


def _unfinished(settings: Settings) -> int:
    spool = Spool(settings.spool_root)
    outbox = settings.data_dir / "outbox"
    reports = sum(1 for p in outbox.glob("*.json")) if outbox.is_dir() else 0
    return len(spool.request_ids()) + sum(1 for _ in spool.results()) + sum(1 for _ in spool.all_tickets()) + reports
