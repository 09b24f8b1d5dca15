"""SRPM providers: build the source RPM of a task that names a source instead of an SRPM.

:func:`build_task_srpm` works in a private directory (``sources.work_dir`` or the
system's temporary directory), runs the task's provider (pypi, rubygems, scm) and
moves the SRPM it made to ``dest``, where the import takes it as if it had been
downloaded.  The directory is removed whatever happens.  Failures are
:class:`~copr_importer.errors.PermanentError` with one of the codes
``source_not_found``, ``source_download_failed``, ``spec_generation_failed``,
``srpm_build_failed`` and ``scm_clone_failed``.

Each provider's module is imported when a task needs it: an import Job runs one
task, and most tasks name an SRPM, which needs none of them (the PyPI and RubyGems
providers bring Jinja2 and PyYAML: about 0.05 of the 0.27 CPU seconds an SRPM
task's step took when they were imported up front).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from ...core.sourcespec import PypiSource, RubygemSource, ScmSource
from ...core.task import ImportTask
from ...settings import Settings

__all__ = ["build_task_srpm"]

log = logging.getLogger(__name__)


def build_task_srpm(task: ImportTask, *, settings: Settings, dest: Path) -> Path:
    """Build the SRPM ``task.source`` describes; return ``dest``."""
    source = task.source
    assert source is not None, "an SRPM task has nothing to build"
    work_root = settings.sources.work_dir or Path(tempfile.gettempdir())
    work_root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f".copr-importer-{task.build_id}-", dir=work_root))
    try:
        if isinstance(source, PypiSource):
            from .pypi import build_from_pypi

            log.info("building the SRPM of %s from the Python package index", source.pypi_package_name)
            srpm = build_from_pypi(source, pkg_name=task.pkg_name, settings=settings, workdir=workdir)
        elif isinstance(source, RubygemSource):
            from .rubygems import build_from_rubygems

            log.info("building the SRPM of gem %s", source.gem_name)
            srpm = build_from_rubygems(source, pkg_name=task.pkg_name, settings=settings, workdir=workdir)
        else:
            assert isinstance(source, ScmSource)
            from .scm import build_from_scm

            log.info("building the SRPM from %s by %s", source.clone_url, source.srpm_build_method)
            srpm = build_from_scm(source, settings=settings, workdir=workdir)
        log.info("built %s (%d bytes)", srpm.name, srpm.stat().st_size)
        shutil.move(srpm, dest)
        return dest
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
