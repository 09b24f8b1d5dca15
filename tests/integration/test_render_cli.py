"""``copr-importer render``: the Job the Kubernetes executor would create, printed as YAML, run as operators run it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from copr_importer.adapters.jobtemplate import default_template
from copr_importer.core.jobspec import render_job
from copr_importer.core.task import parse_task
from copr_importer.settings import load_settings
from tests.support.frontend_stub import FrontendStub
from tests.support.pipeline import cli

RECORD: dict[str, Any] = {
    "build_id": 4242,
    "owner": "alice",
    "project": "demo",
    "branches": ["f43", "epel9"],
    "pkg_name": "hello",
    "srpm_url": "http://127.0.0.1:9/hello-1-1.src.rpm",
    "sandbox": "alice/demo--alice",
    "background": False,
}


def render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli("render", *args), capture_output=True, text=True, timeout=60)


def config(tmp_path: Path) -> Path:
    """Settings an operator would have changed: the Job image, its limits, the namespace."""
    path = tmp_path / "importer.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        '[kubernetes]\nnamespace = "imports"\n'
        '[job]\nimage = "registry.example/importer:1.2"\nmemory_limit = "1Gi"\nactive_deadline_seconds = 600\n'
    )
    return path


def test_render_prints_what_the_executor_would_create(tmp_path: Path) -> None:
    settings_file = config(tmp_path)
    done = render("--config", str(settings_file), "--task-json", json.dumps(RECORD))
    assert done.returncode == 0, done.stderr
    printed = yaml.safe_load(done.stdout)
    settings = load_settings(settings_file)
    # The executor's call, with the executor's arguments (KubernetesExecutor.start).
    expected = render_job(parse_task(RECORD), template=default_template(), namespace="imports", job=settings.job)
    assert printed == expected
    container = printed["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/importer:1.2"
    task_arg = json.loads(container["args"][container["args"].index("--task-json") + 1])
    assert task_arg == RECORD  # the parsed task, branches in the order the frontend sent
    assert "&id" not in done.stdout and "*id" not in done.stdout  # no YAML aliases for humans to decode
    assert "shipped template" in done.stderr


def test_render_reads_a_task_file_and_honours_the_namespace_option(tmp_path: Path) -> None:
    task_file = tmp_path / "task.json"
    task_file.write_text(json.dumps(RECORD))
    done = render("--config", str(config(tmp_path)), "--task-file", str(task_file), "--namespace", "other")
    assert done.returncode == 0, done.stderr
    metadata = yaml.safe_load(done.stdout)["metadata"]
    assert (metadata["name"], metadata["namespace"]) == ("import-4242", "other")


def test_render_tries_an_override_template(tmp_path: Path) -> None:
    template = tmp_path / "job.yaml.j2"
    template.write_text(default_template().replace("  annotations:\n", '  annotations:\n    example.org/try: "1"\n', 1))
    done = render("--task-json", json.dumps(RECORD), "--template", str(template))
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["metadata"]["annotations"]["example.org/try"] == "1"
    assert str(template) in done.stderr


def test_render_fetches_the_task_of_a_build_from_the_frontend(frontend: FrontendStub) -> None:
    frontend.queue.append(dict(RECORD))
    done = render("--build-id", "4242", "--frontend", frontend.url)
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["metadata"]["name"] == "import-4242"
    assert ("GET", "/backend/get-import-task/4242") in frontend.requests


def test_a_build_the_frontend_does_not_know_is_a_clear_error(frontend: FrontendStub) -> None:
    done = render("--build-id", "77", "--frontend", frontend.url)
    assert done.returncode == 65
    assert "no import task for build 77" in done.stderr and "answered null" in done.stderr
    assert done.stdout == ""


def test_bad_task_input_exits_65_with_the_reason(tmp_path: Path, frontend: FrontendStub) -> None:
    for args, reason in [
        (("--task-json", '{"build_id": 5}'), "lacks owner"),
        (("--task-json", "{not json"), "not JSON"),
        (("--task-file", str(tmp_path / "missing.json")), "cannot read the task file"),
    ]:
        done = render(*args)
        assert done.returncode == 65, args
        assert "invalid task" in done.stderr and reason in done.stderr, done.stderr
        assert done.stdout == ""
    frontend.queue.append({**RECORD, "build_id": 9, "pkg_name": "../etc"})
    done = render("--build-id", "9", "--frontend", frontend.url)
    assert done.returncode == 65 and "invalid task" in done.stderr


def test_template_errors_exit_2_with_the_reason(tmp_path: Path) -> None:
    undefined = tmp_path / "undefined.j2"
    undefined.write_text(default_template().replace("{{ job.image | tojson }}", "{{ job.imag | tojson }}"))
    not_a_job = tmp_path / "notajob.j2"
    not_a_job.write_text("kind: Pod\nmetadata: {name: {{ job_name }}}\n")
    broken = tmp_path / "broken.j2"
    broken.write_text("kind: Job\n{% if %}\n")
    for template, reason in [
        (undefined, "has no attribute 'imag'"),  # StrictUndefined: never an empty string
        (not_a_job, "does not render a Job"),
        (broken, "cannot be rendered"),
        (tmp_path / "absent.j2", "cannot read the template"),
    ]:
        done = render("--task-json", json.dumps(RECORD), "--template", str(template))
        assert done.returncode == 2, (template, done.stderr)
        assert reason in done.stderr, done.stderr
        assert done.stdout == ""


def test_exactly_one_task_source_is_required() -> None:
    for args in [(), ("--task-json", json.dumps(RECORD), "--build-id", "1")]:
        done = render(*args)
        assert done.returncode == 2 and "exactly one of" in done.stderr


def test_import_step_reads_the_task_options_as_render_does(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.json")
    for command in ("render", "import-step"):
        done = subprocess.run(
            cli(command, "--data-dir", str(tmp_path / "data"), "--task-file", missing),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 65, (command, done.stderr)
        assert "invalid task: cannot read the task file" in done.stderr  # not a traceback
