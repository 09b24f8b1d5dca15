"""``rpmbuild -bs``: a spec and its sources → one source RPM.

The spec's directory is not assumed to hold the sources: ``_sourcedir`` is given,
as ``rpkg srpm`` gives it the repository's directory.  ``--nodeps``, because the
build requirements are the builder's business (they are not installed here, and
need not be); ``SOURCE_DATE_EPOCH`` with ``use_source_date_epoch_as_buildtime``
makes the header's build time that of the source, so building the same source
twice gives the same SRPM header.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import PermanentError
from .runner import Limits, minimal_env, run

__all__ = ["build_srpm", "single_srpm"]


def build_srpm(spec: Path, *, sourcedir: Path, workdir: Path, limits: Limits, epoch: int | None = None) -> Path:
    """Run ``rpmbuild -bs``; return the SRPM it wrote (under ``workdir/SRPMS``)."""
    top = workdir / "rpmbuild"
    outdir = top / "SRPMS"
    outdir.mkdir(parents=True, exist_ok=True)
    command = [
        "rpmbuild",
        "-bs",
        "--nodeps",
        "--define",
        f"_topdir {top}",
        "--define",
        f"_sourcedir {sourcedir}",
        "--define",
        f"_specdir {spec.parent}",
        "--define",
        f"_srcrpmdir {outdir}",
    ]
    extra = {}
    if epoch is not None:
        command += ["--define", "use_source_date_epoch_as_buildtime 1", "--define", "_buildhost copr-importer"]
        extra["SOURCE_DATE_EPOCH"] = str(epoch)
    command.append(str(spec))
    env = minimal_env(home=workdir, extra=extra)
    run(command, cwd=workdir, limits=limits, code="srpm_build_failed", env=env)
    return single_srpm(outdir, what="rpmbuild")


def single_srpm(outdir: Path, *, what: str) -> Path:
    """The one ``*.src.rpm`` a build left in ``outdir``."""
    found = sorted(p for p in outdir.glob("*.src.rpm") if p.is_file() and not p.is_symlink())
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise PermanentError(f"{what} must leave exactly one .src.rpm, found {names}", code="srpm_build_failed")
    return found[0]
