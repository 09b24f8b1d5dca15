"""Rendering one task into a Kubernetes Job body (a plain dict), from a Jinja2 template.

The template ships with the package (``templates/job.yaml.j2``, read by
:mod:`copr_importer.adapters.jobtemplate`) and may be replaced by the operator
(a ConfigMap key); it is rendered with
``StrictUndefined`` so a missing variable is an error, never an empty string.
Rendering is pure: the caller supplies the template text.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

import jinja2
import yaml

from ..errors import ConfigError
from ..settings import JobSettings
from . import naming
from .task import ImportTask

__all__ = ["BUILD_ID_LABEL", "MANAGED_SELECTOR", "live_job_settings", "render_job"]

BUILD_ID_LABEL = "copr-importer.fedorainfracloud.org/build-id"
MANAGED_SELECTOR = "app.kubernetes.io/managed-by=copr-importer-controller"

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


def _json_default(value: object) -> object:
    # ``tojson`` hands an undefined value to json.dumps, which would raise a bare TypeError;
    # str() of a StrictUndefined raises the UndefinedError naming the missing variable.
    if isinstance(value, jinja2.Undefined):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_ENV.policies["json.dumps_function"] = functools.partial(json.dumps, default=_json_default)


@functools.lru_cache(maxsize=8)
def _compiled(template: str) -> jinja2.Template:
    # Compiling costs milliseconds; the text changes only when the operator edits it.
    return _ENV.from_string(template)


def live_job_settings(job: JobSettings, *, config: Mapping[str, str], image_key: str) -> JobSettings:
    """``job`` with what the settings ConfigMap overrides live: the image, under ``image_key``."""
    image = config.get(image_key, "").strip()
    return replace(job, image=image) if image else job


def render_job(
    task: ImportTask, *, template: str, namespace: str, job: JobSettings, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The Job for ``task``; raise :class:`ConfigError` if the template is broken."""
    context = {
        "task": task.to_record(),
        "job_name": naming.job_name(task.build_id),
        "namespace": namespace,
        "job": asdict(job),
        **(extra or {}),
    }
    try:
        text = _compiled(template).render(context)
        body = yaml.safe_load(text)
    except (jinja2.TemplateError, yaml.YAMLError, TypeError) as exc:  # TypeError: e.g. {{ 1 + "a" }}
        raise ConfigError(f"Job template cannot be rendered: {exc}") from exc
    if not isinstance(body, dict) or body.get("kind") != "Job":
        raise ConfigError("Job template does not render a Job")
    return body
