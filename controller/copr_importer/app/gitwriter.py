"""The git-writer: applies hand-over requests to the bare repositories, in order,
each build at most once, whatever dies when.

Loop contract:

* exactly one writer runs per spool (an exclusive ``flock`` on
  ``spool/writer.lock``); it keeps no file open for writing between passes;
* requests of one package are applied in build-id order, and a request waits
  while an earlier build of its package holds a ticket without a result;
* a build is applied at most once: the writer records each build's published
  result per package (``adapters/appliedlog.py``).  A request for a recorded
  build touches no repository and hands the recorded result back, so a second
  report is byte-identical to the first; a branch that a newer build already
  moved is not touched for an older one (``core/replay.py``: the frontend learns
  it per branch, or as a failure that says to resubmit when no branch is left);
* applying a request is idempotent: commit dates come from the request, an
  import whose tree equals the branch's makes no commit, a branch already at
  its target is left alone.  A writer killed at any point applies the same
  request again after a restart and makes the same commits;
* per batch: commits and refs are synced, then the records and the results
  are written and synced, then the requests are removed.  So a recorded build
  has its commits on disk, and a request is gone only once its result is;
* branches move only forward (``app/branchcommits.py`` checks it before each
  ref update); a branch failure the input caused is reported per branch and
  the other branches still get their commits (copr's partial success);
* a request the writer cannot read (written by a different version, or
  damaged) fails its build; an error of the storage (disk full, read-only,
  I/O) or of a repository is never the build's: the request stays, the writer
  backs off and says what is wrong (``app/writerhealth.py``) until it works.

Leftovers of killed processes (staging directories, temporaries) are swept at
start-up and every ``git.sweep_interval`` seconds (:meth:`GitWriter.sweep`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..adapters import atomicfile, doorbell, failpoint, phasetrace
from ..adapters.appliedlog import AppliedLog
from ..adapters.cgitlist import CgitList
from ..adapters.doorbell import Doorbell
from ..adapters.gitstore import GitStore, RepositoryError
from ..adapters.spool import RESULTS_BELL, WRITER_BELL, Spool, package_key_for
from ..core import replay, storagefault
from ..core.observer import Observer
from ..core.task import ImportTask, parse_task
from ..errors import BadInputError, ImporterError, StorageError, TransientError
from ..settings import Settings
from . import leftovers
from .branchcommits import Content, commit_branches
from .tasklog import task_log
from .writerhealth import STORAGE, WriterHealth

__all__ = ["GitWriter", "WriterBusy", "writer_main"]

log = logging.getLogger(__name__)
_JOURNAL = "writer.journal"
_DATE = re.compile(r"[0-9]{1,12} [+-][0-9]{4}")


class WriterBusy(ImporterError):
    """Another git-writer holds the spool."""


class _BadRequest(BadInputError):
    """The hand-over request itself cannot be applied (unreadable, incomplete)."""

    default_code = "srpm_import_failed"


@dataclass(frozen=True, slots=True)
class _Done:
    """A handled request, waiting in the batch for its result to be published."""

    build_id: int
    key: str
    result: dict[str, Any]


class GitWriter:
    """Commits spooled requests; see the module docstring for the contract.

    ``leftovers_before`` (epoch seconds): staging directories and temporaries last
    changed before it belong to processes that no longer run, whatever their age
    (the embedded controller passes its own start time; see ``app/leftovers.py``).
    """

    def __init__(
        self,
        *,
        settings: Settings,
        spool: Spool | None = None,
        observer: Observer | None = None,
        leftovers_before: float | None = None,
    ) -> None:
        self.settings = settings
        self.observer = observer or Observer()  # telemetry hooks; no-ops by default
        self.spool = spool or Spool(settings.spool_root)
        settings.git_root.mkdir(parents=True, exist_ok=True)
        self.store = GitStore(settings.git_root, settings=settings.git)
        self.cgit_list = CgitList.for_settings(settings)
        git = settings.git
        self.applied = AppliedLog(
            self.spool.root / "applied", max_age=git.record_days * 86400, max_count=git.record_builds
        )
        self.health = WriterHealth(spool=self.spool, observer=self.observer, cap=git.backoff_cap)
        self.leftovers_before = leftovers_before
        self._keys: dict[int, str] = {}
        self._requests: dict[int, dict[str, Any]] = {}
        self._lock_fd: int | None = None
        self._next_sweep = 0.0
        self.commits_applied = 0

    def acquire(self) -> None:
        """Take the single-writer lock or raise :class:`WriterBusy`.  Read-only
        descriptors, so that an operator can remount the volume read-only."""
        fd = os.open(self.spool.root / "writer.lock", os.O_RDONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise WriterBusy(f"another git-writer is running on {self.spool.root}") from None
        self._lock_fd = fd
        self._recover()

    def _recover(self) -> None:
        """The journal names the build being applied; a killed writer may have left
        temporaries and lock files in its repository: remove them before anything else
        (later applies rewrite the journal, so this cannot wait for that build's turn)."""
        try:
            with open(self.spool.root / _JOURNAL, "rb") as f:
                recorded = f.read(32).strip()
            task = parse_task(self.spool.load_request(int(recorded))["task"])
        except (FileNotFoundError, ValueError, KeyError, TypeError, BadInputError):
            return  # no journal, or its build was completed
        with task_log(log_root=self.settings.log_root, build_id=task.build_id, phase="git-writer"):
            log.info("resuming build %d after an interrupted commit", task.build_id)
        try:
            self.store.sweep_temporaries(owner=task.owner, project=task.project)
            if self.store.path_of(owner=task.owner, project=task.project, pkg=task.pkg_name).is_dir():
                self.store.open(owner=task.owner, project=task.project, pkg=task.pkg_name)[0].recover()
        except OSError as exc:
            log.warning("cannot clean up after the interrupted build %d: %s", task.build_id, exc)

    def close(self) -> None:
        self.store.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
        self._lock_fd = None

    def run(self, *, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Apply requests until ``should_stop()`` says so.

        An idle writer waits for the doorbell that a hand-over rings, or
        ``git.poll_interval`` at most (an import pod on another node cannot ring);
        a writer backing off from a storage problem waits its pause out."""
        if self._lock_fd is None:
            self.acquire()
        bell = Doorbell(self.spool.root / WRITER_BELL)
        bell.listen()
        try:
            while not should_stop():
                self.observer.ticked()
                applied = self.step()
                if not applied:
                    self.store.idle()  # pack what took many objects, let go of the repositories' locks
                    self._sweep_if_due()
                backoff = self.health.paused()
                if backoff > 0:
                    _sleep(backoff, should_stop=should_stop)
                elif not applied:
                    _sleep(self.settings.git.poll_interval, should_stop=should_stop, bell=bell)
        finally:
            bell.close()

    # --- one pass -----------------------------------------------------------

    def step(self) -> int:
        """One pass over the spool; returns how many requests were handled.

        A batch holds at most one request per package: re-applying a batch after a
        crash is idempotent only if no package moved twice within it.
        """
        if self.health.paused():
            return 0
        handled = 0
        try:
            ids = self.spool.request_ids()
            batch: list[_Done] = []
            waiting: set[str] = set()
            for build_id in ids:
                key = self._key(build_id)
                if key is None or key in waiting or self.health.deferred(key):
                    continue
                if any(d.key == key for d in batch) or len(batch) >= self.settings.git.batch_size:
                    self._publish(batch)
                    batch = []
                if self.spool.is_blocked(key=key, build_id=build_id):
                    waiting.add(key)
                    continue
                done = self._attempt(build_id, key)
                if done is not None:
                    batch.append(done)
                    handled += 1
            self._publish(batch)
            self._forget_except(set(ids))
        except StorageError as exc:
            self.health.failed(STORAGE, reason=str(exc))
            return handled
        except OSError as exc:
            self.health.failed(STORAGE, reason=_storage_reason(exc, doing="a spool write"))
            return handled
        self.health.succeeded([STORAGE])
        self.health.forget_except(set(self._keys.values()))
        return handled

    def _forget_except(self, ids: set[int]) -> None:
        """Drop what is cached of requests that are gone (removed by someone else)."""
        for build_id in [b for b in self._keys if b not in ids]:
            self._keys.pop(build_id)
            self._requests.pop(build_id, None)

    def _key(self, build_id: int) -> str | None:
        if build_id not in self._keys:
            try:
                self._requests[build_id] = self.spool.load_request(build_id)
                self._keys[build_id] = package_key_for(self._requests[build_id]["task"])
            except FileNotFoundError:
                return None  # removed meanwhile
            except (ValueError, KeyError, TypeError) as exc:
                self._reject(build_id, f"unreadable hand-over request: {exc}")
                return None
        return self._keys[build_id]

    def _reject(self, build_id: int, message: str) -> None:
        log.error("build %d: %s", build_id, message)
        self.spool.complete(
            build_id, result={"build_id": build_id, "error": {"code": "srpm_import_failed", "message": message}}
        )

    def _attempt(self, build_id: int, key: str) -> _Done | None:
        """Handle one request; a transient failure defers its package (storage faults
        end the pass, in :meth:`step`)."""
        try:
            return _Done(build_id, key, self._handle(build_id, key))
        except StorageError:
            raise
        except OSError as exc:
            if storagefault.is_storage_fault(exc):
                raise storagefault.storage_error(exc, doing=f"a write for build {build_id}") from exc
            reason = f"build {build_id}: {storagefault.describe(exc)}"
        except (TransientError, RepositoryError) as exc:
            reason = f"build {build_id}: {exc}"
        except Exception as exc:  # a bug: keep the request, say so, let the others go on
            log.exception("build %d: internal error", build_id)
            reason = f"build {build_id}: internal error ({type(exc).__name__}: {exc})"
        self.health.failed(key, reason=reason)
        return None

    def _handle(self, build_id: int, key: str) -> dict[str, Any]:
        request = self._requests.pop(build_id, None) or self.spool.load_request(build_id)
        try:
            task = parse_task(request["task"])
        except BadInputError as exc:
            return {"build_id": build_id, "error": _BadRequest(f"unreadable hand-over request: {exc}").as_report()}
        with task_log(log_root=self.settings.log_root, build_id=build_id, phase="git-writer", package=task.reponame):
            recorded = self.applied.result(key, build_id)
            newest = self.applied.newest(key)
            plan = replay.plan(build_id, branches=task.branches, recorded=recorded is not None, newest=newest)
            if recorded is not None:
                log.info("build %d was applied before; handing back its recorded result", build_id)
                return recorded
            for branch, newer in plan.stale.items():
                log.warning("branch %s not touched: build %d, newer, was imported into it first", branch, newer)
            if not plan.apply:
                return {"build_id": build_id, "reponame": task.reponame, "error": replay.stale_failure(plan.stale)}
            try:
                result = self._apply(build_id, task, request, branches=plan.apply)
            except _BadRequest as exc:
                log.error("%s", exc.message)
                return {"build_id": build_id, "reponame": task.reponame, "error": exc.as_report()}
        result["branch_errors"].update({b: replay.stale_branch_error(n) for b, n in plan.stale.items()})
        return result

    def _apply(
        self, build_id: int, task: ImportTask, request: dict[str, Any], *, branches: tuple[str, ...]
    ) -> dict[str, Any]:
        """Make the commits of one request; the result is published later, in a batch."""
        files = self._read_files(build_id, request)
        _write_journal(self.spool, build_id)
        repo, created = self.store.open(owner=task.owner, project=task.project, pkg=task.pkg_name)
        if created:
            log.info("created repository %s", task.reponame)
        self.cgit_list.ensure_listed(repo.path)  # every commit: repairs a crash after creation
        content = Content(
            entries={path: (mode, repo.write_blob(data)) for path, (mode, data) in files.items()},
            sources=str(request.get("sources", "")),
            lookaside_names=[str(e["filename"]) for e in request.get("lookaside", [])],
            message=f"automatic import of {task.pkg_name}",
            date=self._date(build_id, request),
        )
        outcome = commit_branches(repo, branches=branches, content=content)
        self.commits_applied += outcome.moved
        self.observer.commits_applied(outcome.moved)
        result: dict[str, Any] = {
            "build_id": task.build_id,
            "reponame": task.reponame,
            "branch_commits": outcome.commits,
            "branch_errors": outcome.errors,
            "new_repo": created,
        }
        if not outcome.commits:
            message = "; ".join(f"{b}: {e}" for b, e in sorted(outcome.errors.items()))
            result["error"] = {"code": "srpm_import_failed", "message": f"no branch could be committed: {message}"}
        return result

    def _read_files(self, build_id: int, request: dict[str, Any]) -> dict[str, tuple[str, bytes]]:
        """The request's git files as ``path -> (mode, content)``; a missing one is a bad request."""
        folder = self.spool.request_dir(build_id) / "files"
        files = {}
        try:
            for f in request["files"]:
                files[f["path"]] = ("100755" if f.get("executable") else "100644", (folder / f["path"]).read_bytes())
        except (KeyError, TypeError, FileNotFoundError, IsADirectoryError) as exc:
            raise _BadRequest(f"incomplete hand-over request: {exc}") from exc
        return files

    def _date(self, build_id: int, request: dict[str, Any]) -> str:
        """The commits' date: the hand-over time the import step wrote, else the request file's."""
        value = request.get("commit_date")
        if isinstance(value, str) and _DATE.fullmatch(value):
            return value
        return f"{int(self.spool.handed_over_at(build_id))} +0000"

    def _publish(self, batch: list[_Done]) -> None:
        """Commits and refs reach the disk first, then the records and results, and
        the requests go only after those: two filesystem syncs per batch instead of
        several fsyncs per request.  A crash in between handles the batch again,
        which changes nothing (a recorded build is handed back, others re-applied)."""
        if not batch:
            return
        durable = self.settings.git.durable
        if durable:
            atomicfile.sync_filesystem(self.store.root)
        now = time.time()
        for done in batch:
            self.applied.record(done.key, done.build_id, result=done.result, now=now)
        failpoint.reached()
        for done in batch:
            self.spool.write_result(done.build_id, result=done.result, durable=False)
        if durable:
            atomicfile.sync_filesystem(self.spool.root)
        for done in batch:
            phasetrace.mark(done.build_id, "committed")
        failpoint.reached()
        for done in batch:
            self.spool.remove_request(done.build_id)
            self._keys.pop(done.build_id, None)
        self.observer.requests_applied(len(batch))
        self.health.succeeded([d.key for d in batch])
        doorbell.ring(self.spool.root / RESULTS_BELL)  # the controller collects them now, not at its next tick

    # --- leftovers ----------------------------------------------------------

    def _sweep_if_due(self) -> None:
        if time.monotonic() >= self._next_sweep:
            self.sweep()

    def sweep(self) -> int:
        """Remove what killed processes left (``app/leftovers.py``); returns how many went."""
        self._next_sweep = time.monotonic() + self.settings.git.sweep_interval
        before = leftovers.cutoff(self.settings, now=time.time(), leftovers_before=self.leftovers_before)
        return leftovers.sweep(self.settings, spool=self.spool, before=before)


def _write_journal(spool: Spool, build_id: int) -> None:
    """Name the build being applied, in place (32 bytes: never needs a new block)."""
    fd = os.open(spool.root / _JOURNAL, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, f"{build_id:<31}\n".encode(), 0)
    finally:
        os.close(fd)


def _storage_reason(exc: OSError, *, doing: str) -> str:
    if storagefault.is_storage_fault(exc):
        return str(storagefault.storage_error(exc, doing=doing))
    return f"{doing} failed: {storagefault.describe(exc)}"


def _sleep(seconds: float, *, should_stop: Callable[[], bool], bell: Doorbell | None = None) -> None:
    """Sleep in short slices, so that a stop request is honoured within 0.1 s; a ring
    of ``bell`` (if given) ends the sleep at once."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0 and not should_stop():
        if bell is None:
            time.sleep(min(left, 0.1))
        elif bell.wait(min(left, 0.1)):
            return


def writer_main(
    settings: Settings,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    observer: Observer | None = None,
    leftovers_before: float | None = None,
) -> None:
    """Entry point of the ``git-writer`` subcommand and of the embedded writer process.

    ``leftovers_before``: see :class:`GitWriter` (the embedded controller's start time)."""
    writer = GitWriter(settings=settings, observer=observer, leftovers_before=leftovers_before)
    try:
        writer.acquire()
        writer.sweep()
        writer.run(should_stop=should_stop)
    finally:
        writer.close()
