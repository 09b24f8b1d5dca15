"""The bare repositories under the git root: open, create, keep packed.

``<root>/<owner>/<project>/<pkg>.git``, one per package (:mod:`.packagerepo`
reads and writes one).  A new repository is built the way copr-dist-git builds
it (``git init --bare --shared=group``, then "Initial setup of the repo" with an
empty ``.gitignore`` on the default branch) in a temporary directory next to
its final place and renamed there, so it exists complete or not at all.

The store holds the lock of every repository it has open (:mod:`.repostate`):
a writer and ``maintain-repos`` (another process, perhaps another pod) never
work on one repository at the same time.  The writer lets go of them all at
its idle moments (:meth:`GitStore.idle`), after packing the repositories it
wrote many objects into; a repository that takes
``git.pack_busy_loose_objects`` objects without an idle moment is packed when
the writer next opens it, between two requests.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path

from ..core import naming
from ..errors import ImporterError
from ..settings import GitSettings
from . import failpoint, gitmaintenance
from .gitfaults import RepositoryBusy, RepositoryError
from .packagerepo import Commit, PackageRepo

__all__ = [
    "Commit",
    "GitStore",
    "PackageRepo",
    "RepositoryBusy",
    "RepositoryError",
    "branch_head_sources",
    "maintain_repository",
]

log = logging.getLogger(__name__)


class GitStore:
    """All repositories under ``root`` at ``<owner>/<project>/<pkg>.git``."""

    def __init__(self, root: Path, *, settings: GitSettings, cache_size: int = 8) -> None:
        self.root = root
        self.settings = settings
        self._cache: dict[Path, PackageRepo] = {}
        self._cache_size = cache_size
        # Objects written since the last packing, of repositories no longer open.  Kept while
        # the writer is busy, forgotten at an idle moment once nothing is due (what is left
        # is a few objects per repository: maintain-repos' work), so it never grows for years.
        self._written: dict[Path, int] = {}
        self.maintained = 0
        """Repositories packed by this store (for tests and telemetry)."""

    def path_of(self, *, owner: str, project: str, pkg: str) -> Path:
        return self.root / naming.repo_relpath(owner=owner, project=project, pkg=pkg)

    def open(self, *, owner: str, project: str, pkg: str) -> tuple[PackageRepo, bool]:
        """The package's repository, created if missing and locked; also says whether it is new.

        Raises :class:`RepositoryBusy` when another process (``maintain-repos``)
        holds it for longer than ``git.busy_wait``.
        """
        path = self.path_of(owner=owner, project=project, pkg=pkg)
        created = False
        if path not in self._cache and not path.is_dir():
            self._create(path)
            created = True
        repo = self._open_path(path)
        if self._objects_written(path) >= self.settings.pack_busy_loose_objects:
            self._maintain(path)
        return repo, created

    def _open_path(self, path: Path) -> PackageRepo:
        if path in self._cache:
            return self._cache[path]
        if len(self._cache) >= self._cache_size:
            self._close_one(next(iter(self._cache)))
        repo = PackageRepo(path, settings=self.settings)
        try:
            repo.acquire(wait=self.settings.busy_wait)
        except BaseException:
            repo.close()
            raise
        self._cache[path] = repo
        return repo

    def _close_one(self, path: Path) -> None:
        repo = self._cache.pop(path)
        written = self._written.get(path, 0) + repo.objects_written
        repo.close()
        if written:
            self._written[path] = written

    def _objects_written(self, path: Path) -> int:
        repo = self._cache.get(path)
        return self._written.get(path, 0) + (repo.objects_written if repo else 0)

    def _create(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
        gitmaintenance.init_bare(tmp, default_branch=self.settings.default_branch)
        repo = PackageRepo(tmp, settings=self.settings)
        try:
            tree = repo.write_tree({".gitignore": ("100644", repo.write_blob(b""))})
            root = repo.commit(tree=tree, parents=(), message="Initial setup of the repo")
            repo.set_ref(f"refs/heads/{self.settings.default_branch}", sha=root)
            repo.root_commit()  # writes the hint
        finally:
            repo.close()
        failpoint.reached()
        try:
            tmp.rename(path)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not path.is_dir():
                raise

    def sweep_temporaries(self, *, owner: str, project: str) -> None:
        """Remove half-created repositories of a project (left by a crash)."""
        for tmp in (self.root / owner / project).glob(".*.git.tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)

    # --- maintenance --------------------------------------------------------

    def idle(self) -> None:
        """The writer has nothing to do: pack one repository that took
        ``git.pack_idle_loose_objects`` objects or more, or else let go of every
        repository (their locks, so that ``maintain-repos`` may work on them)."""
        for path in [*self._cache, *self._written]:
            if self._objects_written(path) >= self.settings.pack_idle_loose_objects:
                self._maintain(path)
                return
        self.close()
        self._written.clear()  # nothing due: what is left is maintain-repos' work

    def _maintain(self, path: Path) -> None:
        """Pack one repository now, holding its lock; a failure is logged, not raised
        (the commits are safe; packing is tried again after more writes)."""
        try:
            repo = self._open_path(path)
            repo.close_objects()  # libgit2 looks at the packs again afterwards
            gitmaintenance.maintain(path, prune_expire=None)
            self.maintained += 1
            repo.objects_written = 0
        except RepositoryBusy:
            log.info("%s: not packed now, another process holds it", path)
        except ImporterError as exc:
            log.warning("%s: packing failed: %s", path, exc)
        self._written.pop(path, None)
        if path in self._cache:
            self._cache[path].objects_written = 0

    def close(self) -> None:
        for path in list(self._cache):
            self._close_one(path)


def maintain_repository(path: Path, *, settings: GitSettings, prune: bool) -> None:
    """Pack one repository now (prune first when asked), under its lock: for
    ``maintain-repos``.  Raises :class:`RepositoryBusy` at once when the writer
    (or another maintainer) has it, so the caller can move on and come back."""
    repo = PackageRepo(path, settings=settings)
    try:
        repo.acquire(wait=0)
        repo.close_objects()
        gitmaintenance.maintain(path, prune_expire=settings.prune_expire if prune else None)
    finally:
        repo.close()


def branch_head_sources(path: Path) -> dict[str, str | None]:
    """The ``sources`` file of every branch head of the repository at ``path``
    (None for a head without one).  Read-only, without the repository lock; safe
    while the writer works.

    Raises :class:`RepositoryError` when ``path`` is not a readable repository or
    has no branch at all: a caller deciding what is unreferenced must then skip
    the package rather than read the failure as "nothing is referenced".
    """
    if not (path / "HEAD").is_file() or not (path / "objects").is_dir():
        raise RepositoryError(f"{path} is not a git repository")
    try:
        return _read_heads(path)
    except RepositoryError:
        return _read_heads(path)  # once more: a repack may have replaced a pack under us


def _read_heads(path: Path) -> dict[str, str | None]:
    repo = PackageRepo(path, settings=GitSettings())
    try:
        heads = repo.branches()
        if not heads:
            raise RepositoryError(f"{path} has no branches")
        found: dict[str, str | None] = {}
        for name, sha in sorted(heads.items()):
            blob = repo.top_level_blob(sha, name="sources")
            found[name] = None if blob is None else blob.decode("utf-8", "surrogateescape")
        return found
    except (OSError, ValueError) as exc:
        raise RepositoryError(f"cannot read the branch heads of {path}: {exc}") from exc
    finally:
        repo.close()
