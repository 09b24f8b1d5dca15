"""The Job a task becomes: restricted Pod Security, failure policy, names and labels."""

from __future__ import annotations

import json

import pytest

from copr_importer.adapters.jobtemplate import default_template
from copr_importer.core.jobspec import BUILD_ID_LABEL, render_job
from copr_importer.core.task import ImportTask
from copr_importer.errors import ConfigError
from copr_importer.settings import JobSettings

TASK = ImportTask(
    123456,
    "@group",
    "proj:pr:7",
    "python-foo",
    ("f43", "master"),
    "https://example.invalid/x.src.rpm",
    "@group/proj--bob'\"<&>",
    True,
)


def render(template: str | None = None) -> dict:  # type: ignore[type-arg]
    return render_job(TASK, template=template or default_template(), namespace="imports", job=JobSettings())


def test_identity_names_labels_annotations() -> None:
    job = render()
    meta = job["metadata"]
    assert meta["name"] == "import-123456" and len(meta["name"]) <= 63
    assert meta["namespace"] == "imports"
    assert meta["labels"][BUILD_ID_LABEL] == "123456"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "copr-importer-controller"
    assert meta["annotations"]["copr-importer.fedorainfracloud.org/owner"] == "@group"
    assert meta["annotations"]["copr-importer.fedorainfracloud.org/sandbox"] == "@group/proj--bob'\"<&>"
    assert job["spec"]["template"]["metadata"]["labels"] == meta["labels"]


def test_the_task_reaches_the_container_intact() -> None:
    args = render()["spec"]["template"]["spec"]["containers"][0]["args"]
    assert json.loads(args[args.index("--task-json") + 1]) == TASK.to_record()
    assert args[args.index("--termination-log") + 1] == "/dev/termination-log"


def test_failure_policy_and_lifetimes() -> None:
    spec = render()["spec"]
    settings = JobSettings()
    assert spec["backoffLimit"] == settings.backoff_limit
    assert spec["activeDeadlineSeconds"] == settings.active_deadline_seconds
    assert spec["ttlSecondsAfterFinished"] >= 3600
    fail, ignore = spec["podFailurePolicy"]["rules"]
    assert fail == {"action": "FailJob", "onExitCodes": {"containerName": "import", "operator": "In", "values": [65]}}
    assert ignore == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_restricted_pod_security() -> None:
    pod = render()["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    assert set(container["resources"]) == {"requests", "limits"}
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert claims == ["copr-importer-data"]


def test_missing_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(ConfigError, match="undefined"):
        render(default_template().replace("{{ namespace }}", "{{ nmespace }}"))


def test_a_template_that_is_not_a_job_is_refused() -> None:
    with pytest.raises(ConfigError, match="does not render a Job"):
        render("kind: Pod\n")


def test_a_missing_variable_under_tojson_is_a_config_error_naming_it() -> None:
    # The shipped template pipes most values through tojson, where jinja hands the
    # undefined value to json.dumps instead of raising UndefinedError itself.
    template = default_template().replace("{{ job.image | tojson }}", "{{ job.imag | tojson }}")
    with pytest.raises(ConfigError, match="has no attribute 'imag'"):
        render(template)
    with pytest.raises(ConfigError, match="cannot be rendered"):
        render('kind: Job\nx: {{ 1 + "a" }}\n')
