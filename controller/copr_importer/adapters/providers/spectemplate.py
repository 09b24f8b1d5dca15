"""Rendering a generated spec from a template shipped in ``copr_importer/templates``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from ...errors import PermanentError

__all__ = ["render_spec"]


def render_spec(template: str, *, context: dict[str, Any], dest: Path) -> Path:
    """Render ``templates/<template>`` (StrictUndefined: a missing value is an error) to ``dest``."""
    text = resources.files("copr_importer").joinpath(f"templates/{template}").read_text()
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    try:
        dest.write_text(environment.from_string(text).render(context))
    except jinja2.TemplateError as exc:
        raise PermanentError(f"cannot render the spec: {exc}", code="spec_generation_failed") from exc
    return dest
