"""The pypi provider: an sdist from a PyPI-compatible index → a spec → ``rpmbuild -bs``.

1. The project page ``<index>/<normalised name>/`` (PEP 691 JSON preferred,
   PEP 503 HTML accepted), fetched with the SRPM download's limits and retries.
2. The sdist chosen as ``pip download --no-binary :all:`` would (core/pyrelease.py),
   downloaded the same way and checked against the hash the index publishes.
3. The spec rendered from ``templates/python.spec.j2`` with the sdist's own
   metadata (core/pyspec.py).  pyp2spec and pyp2rpm are not used: both ask a
   hard-coded index host's JSON API, not the configured simple index.
4. ``rpmbuild -bs`` with the sdist as the only source.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ...core.pyrelease import choose_sdist, normalize, parse_project_page, rpm_version
from ...core.pyspec import spec_context
from ...core.sourcespec import PypiSource
from ...errors import BadInputError, ConfigError
from ...settings import Settings
from .fetch import check_digest, fetch
from .pipconfig import configured_index_url
from .rpmbuild import build_srpm
from .runner import Limits
from .sdist import read_sdist
from .spectemplate import render_spec

__all__ = ["build_from_pypi", "index_url"]

log = logging.getLogger(__name__)
_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
_SAFE_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def index_url(settings: Settings) -> str:
    """The simple index to use: the setting, else pip's."""
    url = settings.sources.pypi_index_url or configured_index_url()
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"the package index must be an http(s) URL, not {url!r}")
    return url.rstrip("/") + "/"


def build_from_pypi(source: PypiSource, *, pkg_name: str, settings: Settings, workdir: Path) -> Path:
    """Build the SRPM of ``source`` in ``workdir``; return its path."""
    project = source.pypi_package_name
    page_url = index_url(settings) + normalize(project) + "/"
    what = f"{project} on the index"
    page = fetch(page_url, dest=workdir / "project-page", settings=settings.download, what=what, accept=_ACCEPT)
    files = parse_project_page(page.read_bytes(), page_url=page_url)
    chosen, version = choose_sdist(files, project=project, version=source.pypi_package_version)
    log.info("%s %s: %s", project, version, chosen.filename)
    if not _SAFE_FILENAME.match(chosen.filename):
        raise BadInputError(f"the index names the sdist {chosen.filename!r}", code="source_download_failed")
    sources = workdir / "sources"
    sources.mkdir()
    sdist = fetch(chosen.url, dest=sources / chosen.filename, settings=settings.download, what=chosen.filename)
    published = chosen.best_hash()
    if published is None:
        log.warning("%s: the index publishes no sha256/384/512 hash; nothing to check it against", chosen.filename)
    else:
        check_digest(sdist, algorithm=published[0], expected=published[1], what=chosen.filename)
    facts = read_sdist(sdist, filename=chosen.filename, url=chosen.url)
    context = spec_context(
        facts,
        project=project,
        version=str(version),
        rpm_version=rpm_version(version),
        pkg_name=pkg_name,
        packager=f"{settings.git.user_name} <{settings.git.user_email}>",
    )
    spec = render_spec("python.spec.j2", context=context, dest=workdir / f"{pkg_name}.spec")
    log.info("generated %s (%s %s, License: %s)", spec.name, context["srcname"], context["version"], context["license"])
    limits = Limits.from_settings(settings.sources)
    return build_srpm(spec, sourcedir=sources, workdir=workdir, limits=limits, epoch=facts.mtime or None)
