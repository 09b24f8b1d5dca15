"""The import step: what one worker process or one Kubernetes Job does for a task.

download → check the header → unpack safely → binary files into the lookaside,
text files and the spec into a hand-over request for the git-writer.  The step
never touches a git repository.  Its outcome is an exit code:

* ``0``  the request was handed over (the git-writer publishes the result);
* ``65`` a permanent failure: a failure result with a reason was written to the
  spool; retrying cannot help (Kubernetes' podFailurePolicy maps it to FailJob);
* ``75`` a transient failure: the controller may run the task again.

Errors by cause:

* the input's (a bad task, a bad or hostile SRPM, a download refused for
  good): :class:`~copr_importer.errors.PermanentError`, reported with its code
  and message;
* our own storage's (disk full, over quota, read-only, I/O error, permissions),
  and any other :class:`OSError` or :class:`MemoryError`: transient, the task
  runs again later; nothing is reported failed because of it;
* the network's: transient (the download raises
  :class:`~copr_importer.errors.TransientError` after its own retries);
* anything else is a bug of the importer, met on this SRPM.  Running it again
  would meet it again, so it is permanent (``srpm_import_failed``): the user
  reads that the importer failed on the SRPM and that the import log has the
  details; the traceback goes to that log, never a Python name to the user.

The same message goes to the per-task log and, in Kubernetes, to the
container's termination message.  The request carries ``commit_date``, the
hand-over time, which the git-writer gives its commits.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..adapters import download as download_mod
from ..adapters import failpoint
from ..adapters.lookaside import Lookaside
from ..adapters.providers import build_task_srpm
from ..adapters.rpmfile import read_package
from ..adapters.spool import Spool
from ..adapters.unpacker import UnpackedFile, unpack
from ..core import storagefault
from ..core.sources import SourceEntry, render_sources
from ..core.task import ImportTask
from ..errors import BadInputError, PermanentError, TransientError
from ..settings import Settings
from .tasklog import task_log

__all__ = ["EXIT_BAD_INPUT", "EXIT_OK", "EXIT_TRANSIENT", "StepOutcome", "import_srpm", "run_step"]

EXIT_OK = 0
EXIT_BAD_INPUT = 65  # EX_DATAERR
EXIT_TRANSIENT = 75  # EX_TEMPFAIL

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """How a step ended: an exit code and a one-line message for the controller."""

    exit_code: int
    message: str


def import_srpm(task: ImportTask, *, settings: Settings, spool: Spool) -> dict[str, Any]:
    """Do the import up to the hand-over; return the request that was handed over."""
    staging = spool.stage(task.build_id)
    try:
        request = _prepare(task, settings=settings, staging=staging)
        if not spool.hand_over(staging, build_id=task.build_id, request=request):
            log.info("build %d was already handed over; keeping the earlier request", task.build_id)
        failpoint.hold("handed-over")
        return request
    except BaseException:
        spool.discard(staging)
        raise


def _prepare(task: ImportTask, *, settings: Settings, staging: Path) -> dict[str, Any]:
    if task.source is not None:
        srpm = build_task_srpm(task, settings=settings, dest=staging / "download.src.rpm")
    else:
        log.info("downloading %s", task.srpm_url)
        srpm = download_mod.download(task.srpm_url, dest=staging / "download.src.rpm", settings=settings.download)
    log.info("downloaded %d bytes", srpm.stat().st_size)
    with open(srpm, "rb") as stream:
        package = read_package(stream)
        if not package.is_source:
            raise BadInputError(f"{package.nevr} is a binary RPM, not a source RPM", code="srpm_query_failed")
        if package.name != task.pkg_name:
            raise BadInputError(
                f"SRPM is package {package.name!r} but the task is for {task.pkg_name!r}", code="srpm_query_failed"
            )
        log.info("unpacking %s", package.nevr)
        files = unpack(stream, package=package, dest=staging / "unpacked", limits=settings.unpack)
    srpm.unlink()
    lookaside = Lookaside(settings.lookaside_root, settings=settings.lookaside)
    entries: list[SourceEntry] = []
    git_files: list[dict[str, Any]] = []
    for file in sorted(files, key=lambda f: f.name):
        if file.is_binary and not file.is_spec:
            entries.append(lookaside.store(file, owner=task.owner, project=task.project, pkg=task.pkg_name))
        else:
            _move_to_request(file, staging=staging)
            git_files.append({"path": file.name, "executable": file.executable})
    shutil.rmtree(staging / "unpacked", ignore_errors=True)
    log.info("%d files for git, %d for the lookaside", len(git_files), len(entries))
    return {
        "version": 1,
        "task": task.to_record(),
        "nevr": package.nevr,
        "files": git_files,
        "lookaside": [{"filename": e.filename, "hashtype": e.hashtype, "digest": e.digest} for e in entries],
        "sources": render_sources(entries, style=settings.lookaside.sources_style),
        "commit_date": f"{int(time.time())} +0000",
    }


def _move_to_request(file: UnpackedFile, *, staging: Path) -> None:
    os.rename(file.path, staging / "files" / file.name)


INTERNAL_ERROR = (
    "the importer failed on this SRPM because of an internal error (a bug in copr-importer, "
    "not necessarily a problem of the SRPM); the import log has the details for its operators"
)


def run_step(task: ImportTask, *, settings: Settings, spool: Spool | None = None) -> StepOutcome:
    """Run :func:`import_srpm` with its per-task log and turn errors into an outcome."""
    try:
        spool = spool or Spool(settings.spool_root)
        with task_log(log_root=settings.log_root, build_id=task.build_id, phase="import", package=task.reponame):
            log.info("importing build %d of %s into %s", task.build_id, task.pkg_name, ", ".join(task.branches))
            return _run_logged(task, settings=settings, spool=spool)
    except OSError as exc:  # the spool or the per-task log itself
        return StepOutcome(EXIT_TRANSIENT, _transient_message(exc))


def _run_logged(task: ImportTask, *, settings: Settings, spool: Spool) -> StepOutcome:
    try:
        import_srpm(task, settings=settings, spool=spool)
    except PermanentError as exc:
        return _fail(task, spool=spool, error=exc)
    except TransientError as exc:
        log.error("import failed, will be retried: %s", exc)
        return StepOutcome(EXIT_TRANSIENT, str(exc))
    except (OSError, MemoryError) as exc:
        message = _transient_message(exc)
        log.error("import failed, will be retried: %s", message)
        return StepOutcome(EXIT_TRANSIENT, message)
    except Exception:
        log.exception("internal error")  # the traceback, for the operators, in the per-task log
        return _fail(task, spool=spool, error=PermanentError(INTERNAL_ERROR, code="srpm_import_failed"))
    log.info("handed over to the git-writer")
    return StepOutcome(EXIT_OK, "handed over")


def _fail(task: ImportTask, *, spool: Spool, error: PermanentError) -> StepOutcome:
    """Publish a failure result; if even that cannot be written, the task is retried."""
    log.error("import failed (%s): %s", error.code, error.message)
    result = {"build_id": task.build_id, "reponame": task.reponame, "error": error.as_report()}
    try:
        spool.write_result(task.build_id, result=result)
    except OSError as exc:
        message = _transient_message(exc)
        log.error("cannot publish the failure, will be retried: %s", message)
        return StepOutcome(EXIT_TRANSIENT, message)
    return StepOutcome(EXIT_BAD_INPUT, f"{error.code}: {error.message}")


def _transient_message(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "the import ran out of memory"
    assert isinstance(exc, OSError)
    if storagefault.is_storage_fault(exc):
        return str(storagefault.storage_error(exc, doing="a write of the import"))
    return f"the import met an I/O error: {storagefault.describe(exc)}"
