"""The Job template that ships with the package (a package resource)."""

from __future__ import annotations

from importlib import resources

__all__ = ["default_template"]


def default_template() -> str:
    """The text of ``templates/job.yaml.j2``."""
    return resources.files("copr_importer").joinpath("templates/job.yaml.j2").read_text()
