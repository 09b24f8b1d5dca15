"""``copr-importer run``: the controller, embedded by default, or with ``--kubernetes`` against a cluster."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..adapters.download import allow_local_files
from ..adapters.frontend import CoprFrontend
from ..adapters.localsource import LocalSource
from ..app.controller import Controller, TaskSource
from ..app.embedded import run_embedded
from ..core import naming
from ..errors import ConfigError
from ..settings import Settings
from .common import add_common, settings_from
from .sourceflags import add_source_options, source_records

__all__ = ["register"]


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
    source: TaskSource
    if args.kubernetes and not settings.frontend.base_url:
        raise ConfigError("--kubernetes needs a frontend (--frontend URL or frontend.base_url)")
    if settings.frontend.base_url:
        source = CoprFrontend(settings.frontend)
        # An explicit --listen must work; the settings' address only warns when taken.
        listen = settings.telemetry.listen if args.listen is None else args.listen
        required = args.listen is not None
        if args.kubernetes:
            # Here only: the Kubernetes client is the optional "kube" extra.
            from ..app.clusterrun import run_kubernetes

            run_kubernetes(
                settings,
                source=source,
                kubeconfig=args.kubeconfig,
                listen=listen,
                listen_required=required,
            )
        else:
            run_embedded(settings, source=source, until_idle=False, listen=listen, listen_required=required)
        return 0
    if not (args.srpms or args.tasks or source_records(args)):
        raise ConfigError("nothing to import: give SRPMs, --pypi/--rubygem/--scm, --tasks FILE or --frontend URL")
    settings = allow_local_files(settings)  # SRPM paths given by the person running this
    local = _local_source(args, settings)
    local.rejected_at_start = list(local.rejected)
    controller = run_embedded(settings, source=local, until_idle=True, listen=args.listen)
    rows = _summary(controller, settings, local)
    _print_summary(rows, as_json=args.json)
    return 0 if all("branch_commits" in r and not r.get("branch_errors") for r in rows) else 1
