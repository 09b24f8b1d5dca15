"""The ``copr-importer`` command line.

Subcommands mirror the deployment units:

* ``run``          the controller; embedded by default (local workers + git-writer);
* ``import-step``  one import, as a Kubernetes Job runs it;
* ``git-writer``   the writer loop, as the sidecar runs it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .adapters.frontend import CoprFrontend
from .adapters.heartbeat import Heartbeat
from .adapters.heartbeat import age as heartbeat_age
from .adapters.localsource import LocalSource
from .adapters.spool import Spool
from .app.clusterrun import run_kubernetes
from .app.controller import Controller, TaskSource
from .app.embedded import run_embedded
from .app.gitwriter import WriterBusy, writer_main
from .app.importstep import run_step
from .app.stopping import stop_on_signals
from .core import naming
from .core.task import MalformedTask, parse_task
from .errors import ConfigError, ImporterError
from .settings import Settings, load_settings

__all__ = ["main"]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="settings file: .toml, or copr-dist-git's .conf")
    parser.add_argument("--data-dir", type=Path, help="root of git/, lookaside/, per-task-logs/, spool/")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="copr-importer", description="Copr-compatible dist-git importer")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="import tasks from a Copr frontend or from local SRPMs")
    _common(run)
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
    run.add_argument("--heartbeat", type=Path, help="touch this file while the loop runs (liveness probe)")
    step = sub.add_parser("import-step", help="run one import step (what a Job runs)")
    _common(step)
    group = step.add_mutually_exclusive_group(required=True)
    group.add_argument("--task-json", help="the task record as JSON")
    group.add_argument("--task-file", type=Path, help="a file holding the task record")
    step.add_argument(
        "--termination-log", type=Path, help="write the outcome here too (Kubernetes: /dev/termination-log)"
    )
    writer = sub.add_parser("git-writer", help="run the git-writer loop (the sidecar)")
    _common(writer)
    writer.add_argument("--heartbeat", type=Path, help="touch this file while the loop runs (liveness probe)")
    beat = sub.add_parser("heartbeat", help="exit 0 if FILE was touched within --max-age seconds (a probe)")
    beat.add_argument("--max-age", type=float, required=True)
    beat.add_argument("file", type=Path)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {"data_dir": args.data_dir}
    if getattr(args, "frontend", None):
        overrides["frontend.base_url"] = args.frontend
    if getattr(args, "password_file", None):
        overrides["frontend.password_file"] = args.password_file
    if getattr(args, "workers", None) is not None:
        overrides["executor.workers"] = args.workers
    return load_settings(args.config, **overrides)


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
    settings = _settings(args)
    source: TaskSource
    if args.kubernetes and not settings.frontend.base_url:
        raise ConfigError("--kubernetes needs a frontend (--frontend URL or frontend.base_url)")
    if settings.frontend.base_url:
        source = CoprFrontend(settings.frontend)
        if args.kubernetes:
            run_kubernetes(settings, source=source, kubeconfig=args.kubeconfig, heartbeat=Heartbeat(args.heartbeat))
        else:
            run_embedded(settings, source=source, until_idle=False)
        return 0
    if not (args.srpms or args.tasks):
        raise ConfigError("nothing to import: give SRPMs, --tasks FILE or --frontend URL")
    local = _local_source(args, settings)
    local.rejected_at_start = list(local.rejected)
    controller = run_embedded(settings, source=local, until_idle=True)
    rows = _summary(controller, settings, local)
    _print_summary(rows, as_json=args.json)
    return 0 if all("branch_commits" in r and not r.get("branch_errors") for r in rows) else 1


def _cmd_import_step(args: argparse.Namespace) -> int:
    settings = _settings(args)
    raw = args.task_json if args.task_json is not None else args.task_file.read_text()
    try:
        task = parse_task(json.loads(raw))
    except (ValueError, MalformedTask) as exc:
        print(f"copr-importer: invalid task: {exc}", file=sys.stderr)
        return 65
    outcome = run_step(task, settings=settings, spool=Spool(settings.spool_root))
    print(outcome.message, file=sys.stderr)
    if args.termination_log is not None:
        # The kubelet keeps at most 4096 bytes; the controller reads it from the pod.
        args.termination_log.write_text(outcome.message[:4000])
    return outcome.exit_code


def _cmd_git_writer(args: argparse.Namespace) -> int:
    with stop_on_signals() as should_stop:
        writer_main(_settings(args), should_stop=should_stop, heartbeat=Heartbeat(args.heartbeat))
    return 0


def _cmd_heartbeat(args: argparse.Namespace) -> int:
    seconds = heartbeat_age(args.file)
    if seconds > args.max_age:
        print(f"{args.file}: last beat {seconds:.0f} s ago (limit {args.max_age:.0f} s)", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    commands = {
        "run": _cmd_run,
        "import-step": _cmd_import_step,
        "git-writer": _cmd_git_writer,
        "heartbeat": _cmd_heartbeat,
    }
    try:
        return commands[args.command](args)
    except WriterBusy as exc:
        print(f"copr-importer: {exc}", file=sys.stderr)
        return 75
    except ImporterError as exc:
        print(f"copr-importer: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
