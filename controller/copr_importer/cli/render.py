"""``copr-importer render``: the Job a task would become, as YAML, and optionally the server's verdict on it.

The Job is rendered exactly as the Kubernetes executor renders it
(:func:`~copr_importer.core.jobspec.render_job` with the settings' ``job`` and the
namespace), so the YAML printed is what ``run --kubernetes`` would create. The
template is, first that applies: ``--template FILE``; with ``--server-dry-run``, the
settings ConfigMap's template key (what the running controller uses); the shipped one.

stdout carries the YAML only (it can be piped to ``kubectl``); the verdict, the server's
warnings and notes go to stderr.  Mind the warnings: PodSecurity admits a Job whatever
its pod template says and only warns that its pods would be refused.

Exit codes: 0 rendered (and accepted), 1 refused by the server's dry run, 2 a template
or settings error, 65 no valid task.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from ..adapters.frontend import CoprFrontend
from ..adapters.jobtemplate import default_template
from ..adapters.kube import Kube
from ..app.importstep import EXIT_BAD_INPUT
from ..core.jobspec import live_job_settings, render_job
from ..core.task import ImportTask, MalformedTask
from ..errors import ConfigError, PermanentError
from ..settings import Settings
from .common import add_common, add_task_options, settings_from, task_from

__all__ = ["register"]

EXIT_REFUSED = 1


class _PlainDumper(yaml.SafeDumper):
    """Writes shared values out in full: the template's ``&labels`` alias would print as ``&id001``."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    render = sub.add_parser("render", help="print the Job a task would become (YAML), optionally dry-run it")
    add_common(render)
    add_task_options(render, required=False)
    render.add_argument("--build-id", type=int, help="fetch the task of this build from the frontend")
    render.add_argument("--frontend", help="Copr frontend base URL, for --build-id (frontend.base_url)")
    render.add_argument("--template", type=Path, help="a Jinja2 Job template to try instead of the configured one")
    render.add_argument("--namespace", help="namespace of the Job (default: kubernetes.namespace)")
    render.add_argument(
        "--server-dry-run", action="store_true", help="also have the cluster validate and admit it (dryRun=All)"
    )
    render.add_argument("--kubeconfig", help="kubeconfig file for --server-dry-run (default: in-cluster, ~/.kube)")
    render.set_defaults(func=_cmd_render)


def _cmd_render(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        task = _task(args, settings)
    except MalformedTask as exc:
        print(f"copr-importer: invalid task: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    namespace = args.namespace or settings.kubernetes.namespace
    kube = Kube.connect(namespace=namespace, kubeconfig=args.kubeconfig) if args.server_dry_run else None
    config = {} if kube is None else kube.config_map(settings.kubernetes.limit_config_map) or {}
    template, origin = _template(args, settings, config, namespace=namespace)
    job = live_job_settings(settings.job, config=config, image_key=settings.kubernetes.image_key)
    body = render_job(task, template=template, namespace=namespace, job=job)
    sys.stdout.write(yaml.dump(body, Dumper=_PlainDumper, sort_keys=False))
    print(f"rendered build {task.build_id} with {origin}", file=sys.stderr)
    if kube is None:
        return 0
    try:
        warnings = kube.dry_run_job(body)
    except PermanentError as exc:
        print(f"server dry run: refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    for warning in warnings:
        print(f"server dry run: warning: {warning}", file=sys.stderr)
    with_warnings = f" with {len(warnings)} warning(s)" if warnings else ""
    print(f"server dry run: accepted{with_warnings} (namespace {namespace})", file=sys.stderr)
    return 0


def _task(args: argparse.Namespace, settings: Settings) -> ImportTask:
    given = [args.task_json is not None, args.task_file is not None, args.build_id is not None]
    if sum(given) != 1:
        raise ConfigError("give exactly one of --task-json, --task-file, --build-id")
    if args.build_id is None:
        return task_from(args)
    if not settings.frontend.base_url:
        raise ConfigError("--build-id needs a frontend (--frontend URL or frontend.base_url)")
    frontend = CoprFrontend(settings.frontend)
    task = frontend.confirm(args.build_id)
    if task is None:
        raise MalformedTask(
            f"the frontend has no import task for build {args.build_id} "
            f"(GET {frontend.base_url}/backend/get-import-task/{args.build_id} answered null)",
            build_id=args.build_id,
        )
    return task


def _template(
    args: argparse.Namespace, settings: Settings, config: dict[str, str], *, namespace: str
) -> tuple[str, str]:
    """The template text and where it came from."""
    if args.template is not None:
        try:
            return args.template.read_text(), f"template {args.template}"
        except OSError as exc:
            raise ConfigError(f"cannot read the template: {exc}") from exc
    name, key = settings.kubernetes.limit_config_map, settings.kubernetes.template_key
    override = config.get(key)
    if override:
        return override, f"the template in ConfigMap {namespace}/{name} key {key}"
    return default_template(), "the shipped template"
