"""One package's bare repository: its objects and refs, through libgit2 (pygit2), in-process.

Blobs, trees and commits are written by libgit2 (loose objects, each a temporary
file renamed into place; an existing object is not rewritten but freshened, as
git does, so that a concurrent ``git prune`` keeps it) and read from loose
objects and packs alike.  Refs change only under git's own lock protocol, and
only as a compare-and-swap: :meth:`PackageRepo.set_ref` moves a ref from the
value this object last read to the new one; a foreign ``<ref>.lock``, or a ref
that moved meanwhile, raises :class:`RepositoryBusy` (transient) and is left
alone.  Why libgit2 rather than a git process per commit: ``docs/gitstore.md``.

Files libgit2 creates follow ``core.sharedRepository`` (group-writable in
shared repositories, as git makes them).  The importer's own state (the
repository lock, the root-commit hint, the ref-update record) lives in
``.copr-importer/`` (:mod:`.repostate`), never in ``refs/``; a repository that
still carries ``refs/importer/root`` from an earlier version is migrated when
it is opened for writing.  Disk errors surface as
:class:`~copr_importer.errors.StorageError`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pygit2

from ..core import naming
from ..errors import StorageError
from ..settings import GitSettings
from . import failpoint, gitmaintenance
from .gitfaults import RepositoryBusy, RepositoryError, classify
from .repostate import RepoLocked, RepoState

__all__ = ["Commit", "Flat", "PackageRepo"]

log = logging.getLogger(__name__)

Flat = dict[str, tuple[str, str]]  # path -> (mode, hex sha)

_OLD_ROOT_REF = "refs/importer/root"  # where versions before 0.2 kept the root hint
_TREE = pygit2.enums.FileMode.TREE
_READ_ERRORS = (pygit2.GitError, KeyError, ValueError, OSError)
_O = TypeVar("_O", pygit2.Blob, pygit2.Tree, pygit2.Commit)


@dataclass(frozen=True, slots=True)
class Commit:
    """The parts of a commit object the writer needs."""

    sha: str
    tree: str
    parents: tuple[str, ...]
    author_date: str  # "<epoch> <tz>", reused for tree-reset commits


def _now() -> str:
    offset = -time.timezone if not time.localtime().tm_isdst else -time.altzone
    return f"{int(time.time())} {_tz(offset // 60)}"


def _tz(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _signature(settings: GitSettings, date: str) -> pygit2.Signature:
    """A signature from git's raw date, ``"<epoch> <+hhmm>"``."""
    epoch, _, tz = date.partition(" ")
    minutes = int(tz[1:3]) * 60 + int(tz[3:5]) if len(tz) == 5 else 0
    return pygit2.Signature(settings.user_name, settings.user_email, int(epoch), -minutes if tz[:1] == "-" else minutes)


def _shared_umask(value: str | None, *, current: int) -> int | None:
    """The umask that gives libgit2's new files git's permissions for ``core.sharedRepository``
    (git chmods after creating; a umask does the same for files libgit2 creates)."""
    if value is None:
        return None
    value = value.strip().lower()
    if value in ("group", "true", "1"):
        return current & ~0o070
    if value in ("all", "world", "everybody", "2"):
        return current & ~0o075
    if len(value) > 1 and value.startswith("0") and all(c in "01234567" for c in value):
        mode = int(value, 8) & 0o666
        return ~(mode | (mode & 0o444) >> 2) & 0o777  # directories get x where they get r
    return None


_PROCESS_STARTED = time.time()
_PROCESS_UMASK = os.umask(0o022)
os.umask(_PROCESS_UMASK)


class PackageRepo:
    """One package's bare repository.

    Opened by :class:`GitStore` with the repository lock held; :func:`branch_head_sources`
    opens one read-only without it.
    """

    def __init__(self, path: Path, *, settings: GitSettings) -> None:
        self.path = path
        self.settings = settings
        self.state = RepoState(path)
        self.objects_written = 0
        """Objects handed to libgit2 since opened: an upper bound on new loose objects."""
        self._git: pygit2.Repository | None = None
        self._umask: int | None = None
        self._seen: dict[str, str | None] = {}  # ref -> value last read: the expected old value

    @property
    def _repo(self) -> pygit2.Repository:
        if self._git is None:
            try:
                self._git = pygit2.Repository(str(self.path), pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
                config = self._git.config
                shared = config["core.sharedRepository"] if "core.sharedRepository" in config else None
            except _READ_ERRORS as exc:
                raise classify(exc, path=self.path, doing="opening the repository") from exc
            self._umask = _shared_umask(shared, current=_PROCESS_UMASK)
        return self._git

    def acquire(self, *, wait: float) -> None:
        """Take the repository lock (:class:`RepositoryBusy` after ``wait`` seconds), then
        remove the writer's own crash leftovers and migrate the old root ref."""
        try:
            with self._writing("locking the repository"):
                self.state.lock(wait=wait)
        except RepoLocked as exc:
            raise RepositoryBusy(str(exc)) from None
        self._clear_own_lock()
        self._migrate_root_ref()

    def close_objects(self) -> None:
        """Forget libgit2's view of the object store (after a repack changed the packs)."""
        if self._git is not None:
            self._git.free()
            self._git = None

    def close(self) -> None:
        self.close_objects()
        self.state.unlock()

    @contextmanager
    def _writing(self, doing: str) -> Iterator[None]:
        """Create files with the repository's shared permissions; classify failures."""
        repo = self._repo  # reads core.sharedRepository
        del repo
        old = os.umask(self._umask) if self._umask is not None else None
        try:
            yield
        except (RepositoryError, StorageError, RepoLocked):
            raise
        except (pygit2.GitError, OSError) as exc:
            raise classify(exc, path=self.path, doing=doing) from exc
        finally:
            if old is not None:
                os.umask(old)

    # --- objects ------------------------------------------------------------

    def _object(self, sha: str, kind: type[_O]) -> _O:
        try:
            obj = self._repo.get(sha)
        except _READ_ERRORS as exc:
            raise classify(exc, path=self.path, doing=f"reading object {sha}") from exc
        if obj is None:
            raise RepositoryError(f"object {sha} is missing in {self.path}")
        if not isinstance(obj, kind):
            raise RepositoryError(f"{sha} is not a {kind.__name__.lower()} in {self.path}")
        return obj

    def write_blob(self, data: bytes) -> str:
        try:
            with self._writing("writing a blob"):
                sha = str(self._repo.create_blob(data))
        except RepositoryBusy:
            raise
        except RepositoryError:
            with self._writing("writing a blob"):
                sha = gitmaintenance.hash_object(self.path, data)  # raises what git says went wrong
        self.objects_written += 1
        failpoint.reached()
        return sha

    def read_blob(self, sha: str) -> bytes:
        return self._object(sha, pygit2.Blob).data

    def write_tree(self, flat: Mapping[str, tuple[str, str]]) -> str:
        """Store nested tree objects for a flat ``path -> (mode, sha)`` mapping."""
        nested: dict[str, object] = {}
        for path, entry in flat.items():
            node = nested
            *dirs, name = path.split("/")
            for d in dirs:
                child = node.setdefault(d, {})
                assert isinstance(child, dict)
                node = child
            node[name] = entry
        with self._writing("writing a tree"):
            sha = self._write_nested(nested)
        failpoint.reached()
        return sha

    def _write_nested(self, node: dict[str, object]) -> str:
        builder = self._repo.TreeBuilder()
        for name, value in node.items():
            if isinstance(value, dict):
                builder.insert(name, self._write_nested(value), _TREE)
            else:
                assert isinstance(value, tuple)
                mode, sha = value
                builder.insert(name, sha, int(mode, 8))
        self.objects_written += 1
        return str(builder.write())  # libgit2 sorts the entries as git does

    def _tree_entries(self, tree: str) -> Iterator[tuple[str, str, str]]:
        """One tree object's ``(mode, name, sha)`` entries, not descending."""
        for entry in self._object(tree, pygit2.Tree):
            yield f"{entry.filemode:o}", (entry.raw_name or b"").decode("utf-8", "surrogateescape"), str(entry.id)

    def read_tree(self, tree: str, *, prefix: str = "") -> Flat:
        """The tree as a flat ``path -> (mode, sha)`` mapping."""
        flat: Flat = {}
        for mode, name, sha in self._tree_entries(tree):
            if int(mode, 8) == _TREE:
                flat.update(self.read_tree(sha, prefix=f"{prefix}{name}/"))
            else:
                flat[prefix + name] = (mode, sha)
        return flat

    def top_level_blob(self, commit: str, *, name: str) -> bytes | None:
        """The content of file ``name`` at the root of ``commit``'s tree, or None."""
        for mode, entry, sha in self._tree_entries(self.read_commit(commit).tree):
            if entry == name and int(mode, 8) != _TREE:
                return self.read_blob(sha)
        return None

    def commit(
        self,
        *,
        tree: str,
        parents: tuple[str, ...],
        message: str,
        author_date: str | None = None,
        committer_date: str | None = None,
    ) -> str:
        """Write a commit object (no ref moves); dates are git's raw ``"<epoch> <tz>"``, now by default."""
        now = _now()
        author = _signature(self.settings, author_date or now)
        committer = _signature(self.settings, committer_date or now)
        text = message.rstrip("\n") + "\n"
        with self._writing("writing a commit"):
            sha = str(self._repo.create_commit(None, author, committer, text, tree, list(parents)))
        self.objects_written += 1
        failpoint.reached()
        return sha

    def read_commit(self, sha: str) -> Commit:
        obj = self._object(sha, pygit2.Commit)
        author = obj.author
        parents = tuple(str(p) for p in obj.parent_ids)
        return Commit(str(obj.id), str(obj.tree_id), parents, f"{author.time} {_tz(author.offset)}")

    def is_ancestor(self, ancestor: str, *, descendant: str) -> bool:
        """True when ``ancestor`` is reachable from ``descendant`` (or is it), as ``git merge-base --is-ancestor``."""
        if ancestor == descendant:
            return True
        try:
            return bool(self._repo.descendant_of(descendant, ancestor))
        except _READ_ERRORS as exc:
            raise classify(exc, path=self.path, doing="checking ancestry") from exc

    # --- refs ---------------------------------------------------------------

    def ref(self, ref: str) -> str | None:
        """The sha ``ref`` points at (loose or packed); remembered as the value to swap from."""
        try:
            found = self._repo.references.get(ref)
        except _READ_ERRORS as exc:
            raise classify(exc, path=self.path, doing=f"reading {ref}") from exc
        value = None if found is None else str(found.target)
        self._seen[ref] = value
        return value

    def branch(self, name: str) -> str | None:
        return self.ref(f"refs/heads/{name}")

    def branches(self) -> dict[str, str]:
        """Every branch and its head."""
        heads: dict[str, str] = {}
        try:
            for name in self._repo.references:
                if name.startswith("refs/heads/"):
                    target = self._repo.references[name].target
                    heads[name.removeprefix("refs/heads/")] = str(target)
        except _READ_ERRORS as exc:
            raise classify(exc, path=self.path, doing="listing branches") from exc
        return heads

    def set_ref(self, ref: str, *, sha: str) -> None:
        """Move ``ref`` to ``sha`` if it still has the value last read here (or is still absent).

        libgit2 takes git's ``<ref>.lock``, checks the old value under it and
        renames the lock over the ref.  A lock held by someone else, or a ref
        that moved meanwhile, raises :class:`RepositoryBusy`; nothing is deleted.
        """
        expected = self._seen[ref] if ref in self._seen else self.ref(ref)
        with self._writing(f"updating {ref}"):
            self.state.begin_ref_update(ref, new=sha)
            try:
                failpoint.reached()
                if expected is None:
                    self._repo.references.create(ref, sha, force=False)
                else:
                    current = self._repo.references.get(ref)
                    if current is None or str(current.target) != expected:
                        raise RepositoryBusy(f"{ref} in {self.path} moved from {expected} meanwhile")
                    current.set_target(sha)
            except pygit2.AlreadyExistsError as exc:
                raise RepositoryBusy(f"{ref} in {self.path} was created meanwhile") from exc
            finally:
                self.state.end_ref_update()
        self._seen[ref] = sha
        failpoint.reached()

    def set_branch(self, name: str, *, sha: str) -> None:
        problem = naming.branch_name_problem(name)
        if problem:
            raise ValueError(f"invalid branch name {name!r}: {problem}")
        self.set_ref(f"refs/heads/{name}", sha=sha)

    def root_commit(self) -> str:
        """The default branch's root commit, where new branches start (as ``mkbranch``)."""
        hint = self.state.read_root()
        if hint is not None:
            try:
                if not self.read_commit(hint).parents:
                    return hint
            except RepositoryError:
                pass  # a torn or foreign hint: walk again
        head = self.branch(self.settings.default_branch)
        if head is None:
            raise ValueError(f"{self.path} has no {self.settings.default_branch} branch")
        root = head
        while parents := self.read_commit(root).parents:
            root = parents[0]
        with self._writing("writing the root hint"):
            self.state.write_root(root)
        return root

    def _migrate_root_ref(self) -> None:
        """Move an earlier version's ``refs/importer/root`` (visible to clones) into the hint file.
        A repository with a hint file was created or migrated by this version: no lookup."""
        if self.state.read_root() is not None:
            return
        old = self.ref(_OLD_ROOT_REF)
        if old is None:
            return
        with self._writing(f"removing {_OLD_ROOT_REF}"):
            self.state.write_root(old)
            self._repo.references.delete(_OLD_ROOT_REF)
        self._seen[_OLD_ROOT_REF] = None
        log.info("%s: moved %s out of refs/", self.path, _OLD_ROOT_REF)

    def _clear_own_lock(self) -> None:
        with self._writing("recovering"):
            lock = self.state.clear_own_leftover()
        if lock is not None:
            log.info("removed %s, left by an interrupted ref update of the git-writer", lock)

    def recover(self) -> None:
        """After the writer was killed applying a request to this repository: remove what it
        left, and only that.  Its ref lock, when provably its own (see
        :meth:`.repostate.RepoState.own_leftover_lock`; also done on every open), and
        libgit2's temporary object files (``objects/tmp_object_git2_*``) older than this
        process: on a dist-git host only the writer writes through libgit2, under this
        repository's lock, which we hold, and such a file lives for microseconds while
        its writer is alive.  Git's own temporary files (``tmp_obj_*``) are not touched;
        ``git prune`` removes those once older than ``gc.pruneExpire``."""
        self._clear_own_lock()
        for tmp in (self.path / "objects").glob("tmp_object_git2_*"):
            try:
                if tmp.stat().st_mtime < _PROCESS_STARTED:
                    tmp.unlink()
                    log.info("removed %s, left by an interrupted object write of the git-writer", tmp)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise classify(exc, path=self.path, doing="recovering") from exc
