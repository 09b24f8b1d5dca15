"""Rendering a generated spec from a template shipped in ``copr_importer/templates``."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from ...errors import PermanentError

__all__ = ["render_spec"]


@functools.lru_cache(maxsize=4)
def _compiled(template: str) -> jinja2.Template:
    # Compiling costs milliseconds, a tenth of a small build; the templates never change.
    text = resources.files("copr_importer").joinpath(f"templates/{template}").read_text()
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return environment.from_string(text)


def render_spec(template: str, *, context: dict[str, Any], dest: Path) -> Path:
    """Render ``templates/<template>`` (StrictUndefined: a missing value is an error) to ``dest``."""
    try:
        dest.write_text(_compiled(template).render(context))
    except jinja2.TemplateError as exc:
        raise PermanentError(f"cannot render the spec: {exc}", code="spec_generation_failed") from exc
    return dest
