"""The git-writer: applies hand-over requests to the bare repositories, in order.

Loop contract:

* exactly one writer runs per spool (an exclusive ``flock`` on
  ``spool/writer.lock``);
* requests of one package are applied in build-id order, and a request waits
  while an earlier build of its package holds a ticket without a result;
* applying a request is idempotent: an import whose tree equals the branch's
  tree makes no commit, a branch already at the target is left alone.  So a
  writer killed at any point simply applies the same request again after a
  restart, and nothing is lost or doubled.  The result is written before the
  request is removed;
* per-branch failures (an invalid or conflicting branch name) are reported per
  branch; the other branches still get their commits (copr's partial success).

Branch semantics follow copr-dist-git: the first branch (sorted order) receives
"automatic import of <pkg>"; each other branch is fast-forwarded to a commit
already made for this import when it can be, else it gets a commit that resets
its tree to the imported one (keeping the import's author date).
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..adapters import atomicfile, failpoint
from ..adapters.cgitlist import CgitList
from ..adapters.gitstore import GitStore, PackageRepo, RepositoryError
from ..adapters.spool import Spool, package_key_for
from ..core import naming, tree
from ..core.observer import Observer
from ..core.task import ImportTask, parse_task
from ..errors import ImporterError
from ..settings import Settings
from .tasklog import task_log

__all__ = ["GitWriter", "WriterBusy"]

log = logging.getLogger(__name__)
_JOURNAL = "writer.journal"


class WriterBusy(ImporterError):
    """Another git-writer holds the spool."""


class GitWriter:
    """Commits spooled requests; see the module docstring for the contract."""

    def __init__(self, *, settings: Settings, spool: Spool | None = None, observer: Observer | None = None) -> None:
        self.settings = settings
        self.observer = observer or Observer()  # telemetry hooks; no-ops by default
        self.spool = spool or Spool(settings.spool_root)
        settings.git_root.mkdir(parents=True, exist_ok=True)
        self.store = GitStore(settings.git_root, settings=settings.git)
        self.cgit_list = CgitList.for_settings(settings)
        self._keys: dict[int, str] = {}
        self._requests: dict[int, dict[str, Any]] = {}
        self._lock_fd: int | None = None
        self._journal_fd: int | None = None
        self._interrupted: int | None = None
        self.commits_applied = 0

    def acquire(self) -> None:
        """Take the single-writer lock or raise :class:`WriterBusy`."""
        fd = os.open(self.spool.root / "writer.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise WriterBusy(f"another git-writer is running on {self.spool.root}") from None
        self._lock_fd = fd
        # The journal names the build being applied; after a crash that build is
        # applied again in recovery mode.  Rewritten in place: no file per request.
        self._journal_fd = os.open(self.spool.root / _JOURNAL, os.O_RDWR | os.O_CREAT, 0o644)
        recorded = os.pread(self._journal_fd, 32, 0).strip()
        self._interrupted = int(recorded) if recorded.isdigit() else None

    def close(self) -> None:
        self.store.close()
        for fd in (self._journal_fd, self._lock_fd):
            if fd is not None:
                os.close(fd)
        self._journal_fd = self._lock_fd = None

    def run(self, *, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Apply requests until ``should_stop()`` says so."""
        if self._lock_fd is None:
            self.acquire()
        while not should_stop():
            self.observer.ticked()
            if not self.step():
                time.sleep(self.settings.git.poll_interval)

    def step(self) -> int:
        """One pass over the spool; returns how many requests were applied.

        A batch holds at most one request per package: re-applying a batch after a
        crash is idempotent only if no package moved twice within it.
        """
        applied = 0
        waiting: set[str] = set()
        batch: list[tuple[int, dict[str, Any]]] = []
        batch_keys: set[str] = set()
        for build_id in self.spool.request_ids():
            key = self._key(build_id)
            if key is None or key in waiting:
                continue
            if key in batch_keys or len(batch) >= self.settings.git.batch_size:
                self._publish(batch)
                batch, batch_keys = [], set()
            if self.spool.is_blocked(key=key, build_id=build_id):
                waiting.add(key)
                continue
            batch.append((build_id, self._apply(build_id)))
            batch_keys.add(key)
            applied += 1
        if batch:
            self._publish(batch)
        return applied

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

    def apply(self, build_id: int) -> dict[str, Any]:
        """Commit one request and publish its result at once."""
        result = self._apply(build_id)
        self._publish([(build_id, result)])
        return result

    def _apply(self, build_id: int) -> dict[str, Any]:
        """Make the commits of one request; the result is published later, in a batch."""
        request = self._requests.pop(build_id, None) or self.spool.load_request(build_id)
        task = parse_task(request["task"])
        recovering = build_id == self._interrupted
        if self._journal_fd is not None:
            os.pwrite(self._journal_fd, f"{build_id:<31}\n".encode(), 0)
        with task_log(log_root=self.settings.log_root, build_id=build_id, phase="git-writer", package=task.reponame):
            if recovering:
                log.info("resuming build %d after an interrupted commit", build_id)
                self.store.sweep_temporaries(owner=task.owner, project=task.project)
            result = self._commit(task, request, recovering=recovering)
        self._keys.pop(build_id, None)
        if recovering:
            self._interrupted = None
        return result

    def _publish(self, batch: list[tuple[int, dict[str, Any]]]) -> None:
        """Results become visible only after the commits are on disk, and requests go
        only after their results are: two filesystem syncs per batch instead of
        several fsyncs per request.  A crash in between re-applies the batch, which
        changes nothing (applying is idempotent)."""
        durable = self.settings.git.durable
        if durable:
            atomicfile.sync_filesystem(self.store.root)
        for build_id, result in batch:
            self.spool.write_result(build_id, result=result, durable=False)
        if durable:
            atomicfile.sync_filesystem(self.spool.root)
        failpoint.reached()
        for build_id, _ in batch:
            self.spool.remove_request(build_id)
        self.observer.requests_applied(len(batch))

    def _commit(self, task: ImportTask, request: dict[str, Any], *, recovering: bool) -> dict[str, Any]:
        repo, created = self.store.open(owner=task.owner, project=task.project, pkg=task.pkg_name)
        if recovering:
            repo.recover()
        if created:
            log.info("created repository %s", task.reponame)
        self.cgit_list.ensure_listed(repo.path)  # every commit: repairs a crash after creation
        files_dir = self.spool.request_dir(task.build_id) / "files"
        entries = {
            f["path"]: (
                "100755" if f.get("executable") else "100644",
                repo.write_blob((files_dir / f["path"]).read_bytes()),
            )
            for f in request["files"]
        }
        lookaside_names = [e["filename"] for e in request.get("lookaside", [])]
        commits, errors = self._commit_branches(
            repo, task=task, entries=entries, sources=request.get("sources", ""), lookaside_names=lookaside_names
        )
        result: dict[str, Any] = {
            "build_id": task.build_id,
            "reponame": task.reponame,
            "branch_commits": commits,
            "branch_errors": errors,
            "new_repo": created,
        }
        if not commits:
            message = "; ".join(f"{b}: {e}" for b, e in sorted(errors.items()))
            result["error"] = {"code": "srpm_import_failed", "message": f"no branch could be committed: {message}"}
        return result

    def _commit_branches(
        self,
        repo: PackageRepo,
        *,
        task: ImportTask,
        entries: dict[str, tuple[str, str]],
        sources: str,
        lookaside_names: list[str],
    ) -> tuple[dict[str, str], dict[str, str]]:
        commits: dict[str, str] = {}
        errors: dict[str, str] = {}
        message = f"automatic import of {task.pkg_name}"
        for branch in task.branches:
            problem = naming.branch_name_problem(branch)
            if problem:
                errors[branch] = f"invalid branch name: {problem}"
                log.error("branch %s skipped: %s", branch, problem)
                continue
            try:
                head = repo.branch(branch)
                if head is None:
                    head = repo.root_commit()
                    repo.set_branch(branch, sha=head)
                if not commits:
                    new = self._import_commit(
                        repo,
                        head=head,
                        entries=entries,
                        sources=sources,
                        lookaside_names=lookaside_names,
                        message=message,
                    )
                else:
                    new = self._sync(repo, head=head, done=commits.values(), message=message)
                if new != head:
                    repo.set_branch(branch, sha=new)
                    self.commits_applied += 1
                    self.observer.commits_applied(1)
                    log.info("branch %s: %s", branch, new)
                else:
                    log.info("branch %s: unchanged at %s", branch, new)
                commits[branch] = new
            except (OSError, ValueError, RepositoryError) as exc:
                errors[branch] = f"{type(exc).__name__}: {exc}"
                log.error("branch %s failed: %s", branch, exc)
        return commits, errors

    @staticmethod
    def _import_commit(
        repo: PackageRepo,
        *,
        head: str,
        entries: dict[str, tuple[str, str]],
        sources: str,
        lookaside_names: list[str],
        message: str,
    ) -> str:
        parent = repo.read_commit(head)
        old = repo.read_tree(parent.tree)
        new = tree.compose_tree(old=old, new=entries)
        if lookaside_names or "sources" in old:
            new["sources"] = ("100644", repo.write_blob(sources.encode()))
        old_ignore = (
            repo.read_blob(old[".gitignore"][1]).decode("utf-8", "surrogateescape") if ".gitignore" in old else ""
        )
        new[".gitignore"] = (
            "100644",
            repo.write_blob(tree.merge_gitignore(old_ignore, filenames=lookaside_names).encode()),
        )
        new_tree = repo.write_tree(new)
        if new_tree == parent.tree:
            return head  # the same SRPM again: no new commit, same hash
        return repo.commit(tree=new_tree, parents=(head,), message=message)

    @staticmethod
    def _sync(repo: PackageRepo, *, head: str, done: Iterable[str], message: str) -> str:
        done = list(done)
        if head in done:
            return head
        for target in done:
            if repo.is_ancestor(head, descendant=target):
                return target  # fast-forward
        source = repo.read_commit(done[0])
        if repo.read_commit(head).tree == source.tree:
            return head
        return repo.commit(tree=source.tree, parents=(head,), message=message, author_date=source.author_date)


def writer_main(
    settings: Settings,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    observer: Observer | None = None,
) -> None:
    """Entry point of the ``git-writer`` subcommand and of the embedded writer process."""
    writer = GitWriter(settings=settings, observer=observer)
    try:
        writer.run(should_stop=should_stop)
    finally:
        writer.close()


__all__ += ["writer_main"]
