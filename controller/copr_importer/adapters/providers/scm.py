"""The scm provider: a git repository → an SRPM, by copr's three methods.

The clone is copr's (``git clone --depth 500 --no-single-branch``, a full clone
when that fails, then ``git checkout <committish> --``, fetching ``refs/…``
first), restricted to http, https and git:// for the repository and its
submodules (``GIT_ALLOW_PROTOCOL``), with no prompts and no system or user
git configuration.  Then, in ``<clone>/<subdirectory>``:

* ``rpkg``: what ``rpkg srpm`` does for a spec whose sources are in the
  repository: ``rpmbuild -bs`` with the spec's directory as ``_sourcedir``.
  rpkg's ``.spec.rpkg`` templates and lookaside ``sources`` files are not supported.
* ``make_srpm``: ``make -f <clone>/.copr/Makefile srpm outdir=… spec=…``.
* ``tito`` / ``tito_test``: ``tito build [--test] --srpm --output …``.

``make_srpm`` and ``tito`` run the repository's code, so they run only when
``sources.run_repository_code`` allows it (import Jobs; see the README).  Note
that rpm evaluates ``%(…)`` in any spec it parses, so ``rpkg`` too executes what
the spec says: every command runs under the runner's limits.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from ...core.sourcespec import ScmSource
from ...errors import BadInputError, PermanentError
from ...settings import Settings
from .rpmbuild import build_srpm, single_srpm
from .runner import Limits, minimal_env, run

__all__ = ["build_from_scm"]

log = logging.getLogger(__name__)
_CLONE_DEPTH = "500"
_GIT_ENV = {"GIT_ALLOW_PROTOCOL": "http:https:git", "GIT_PROTOCOL_FROM_USER": "0"}


def build_from_scm(source: ScmSource, *, settings: Settings, workdir: Path) -> Path:
    """Build the SRPM of ``source`` in ``workdir``; return its path."""
    limits = Limits.from_settings(settings.sources)
    workdir = workdir.resolve()
    method = source.srpm_build_method
    if method in ("make_srpm", "tito", "tito_test") and not settings.sources.run_repository_code:
        raise BadInputError(
            f"srpm_build_method {method} runs the repository's code, which this importer does not allow "
            "(sources.run_repository_code is off; Kubernetes import Jobs allow it)",
            code="srpm_build_failed",
        )
    clone = _clone(source, workdir=workdir, limits=limits)
    cwd = _inside(clone, source.subdirectory, what="subdirectory")
    if not cwd.is_dir():
        raise BadInputError(
            f"the subdirectory {source.subdirectory!r} does not exist in the repository", code="srpm_build_failed"
        )
    outdir = workdir / "result"
    outdir.mkdir()
    env = minimal_env(home=workdir / "home", extra=_GIT_ENV)
    (workdir / "home").mkdir()
    if method == "rpkg":
        spec = _spec(cwd, source.spec, clone=clone)
        return build_srpm(spec, sourcedir=spec.parent, workdir=workdir, limits=limits)
    if method == "make_srpm":
        makefile = clone / ".copr" / "Makefile"
        if not makefile.is_file():
            raise BadInputError("make_srpm needs .copr/Makefile in the repository", code="srpm_build_failed")
        # As copr: the spec's path, or the directory's when no spec is named.
        spec_path = _inside(cwd, source.spec, what="spec")
        command = ["make", "-f", str(makefile), "srpm", f"outdir={outdir}", f"spec={spec_path}"]
        run(command, cwd=cwd, limits=limits, code="srpm_build_failed", env=env, what="make srpm")
        return single_srpm(outdir, what="make srpm")
    command = [settings.sources.tito_command, "build", "--srpm", "--output", str(outdir)]
    if method == "tito_test":
        command.insert(2, "--test")
    run(command, cwd=cwd, limits=limits, code="srpm_build_failed", env=env, what="tito")
    return single_srpm(outdir, what="tito")


def _git(args: list[str], *, cwd: Path, limits: Limits, home: Path) -> None:
    env = minimal_env(home=home, extra=_GIT_ENV)
    run(["git", "-c", "protocol.file.allow=never", *args], cwd=cwd, limits=limits, code="scm_clone_failed", env=env)


def _clone(source: ScmSource, *, workdir: Path, limits: Limits) -> Path:
    clone = workdir / "checkout"
    home = workdir
    shallow = ["clone", "--depth", _CLONE_DEPTH, "--no-single-branch", "--recurse-submodules", "--"]
    try:
        _git([*shallow, source.clone_url, str(clone)], cwd=workdir, limits=limits, home=home)
    except PermanentError as exc:
        log.warning("shallow clone failed (%s); trying a full clone", exc.message.splitlines()[0])
        shutil.rmtree(clone, ignore_errors=True)
        full = ["clone", "--recurse-submodules", "--", source.clone_url, str(clone)]
        _git(full, cwd=workdir, limits=limits, home=home)
    if source.committish:
        if source.committish.startswith("refs/"):
            _git(["fetch", "origin", f"{source.committish}:{source.committish}"], cwd=clone, limits=limits, home=home)
        _git(["checkout", "--quiet", source.committish, "--"], cwd=clone, limits=limits, home=home)
        _git(["submodule", "update", "--init", "--recursive"], cwd=clone, limits=limits, home=home)
    _git(["log", "-1", "--format=checked out %H %s"], cwd=clone, limits=limits, home=home)
    return clone


def _inside(root: Path, relative: str, *, what: str) -> Path:
    """``root/relative``, refusing a path that symlinks out of ``root``."""
    path = (root / relative).resolve() if relative else root.resolve()
    if not path.is_relative_to(root.resolve()):
        raise BadInputError(f"the {what} {relative!r} leads out of the repository", code="srpm_build_failed")
    return path


def _spec(cwd: Path, spec: str, *, clone: Path) -> Path:
    """The given spec, or the only ``*.spec`` in the directory (as rpkg looks for it)."""
    if spec:
        path = _inside(clone, str((cwd / spec).relative_to(clone)), what="spec")
        if not path.is_file():
            raise BadInputError(f"the spec {spec!r} does not exist in the repository", code="srpm_build_failed")
        return path
    found = sorted(cwd.glob("*.spec"))
    if len(found) == 1:
        return _inside(clone, str(found[0].relative_to(clone)), what="spec")
    if not found and list(cwd.glob("*.spec.rpkg")):
        raise BadInputError(
            "rpkg spec templates (.spec.rpkg) are not supported; commit a .spec", code="srpm_build_failed"
        )
    names = ", ".join(p.name for p in found) or "none"
    raise BadInputError(
        f"rpkg needs exactly one .spec in the directory (found {names}); name it with spec", code="srpm_build_failed"
    )
