"""The bare repositories: the only module that reads or writes git data.

Loose objects are written here (content-addressed, each via a temporary file
and a rename, skipped when the object exists) and read through gitdb, with
GitPython's ``git cat-file`` as the fallback for packed objects; trees and
commits are serialized here, and branch refs are replaced the way git itself does it: write
``<ref>.lock``, rename over ``<ref>``.  A ``kill -9`` at any point therefore
leaves at worst an unreferenced object, a stale ``*.lock`` or a temporary
object file; :meth:`PackageRepo.recover` removes those, and the writer is the
only process that calls it (it holds the spool's writer lock).

A new repository is built in a temporary directory next to its final place
(``git init --bare --shared``, copr's "Initial setup of the repo" commit with an
empty ``.gitignore`` on the default branch) and renamed into place, so a
repository either exists complete or not at all.  Its root commit is also kept
in ``refs/importer/root`` so that new branches can start there without walking
a long history.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

# GitPython refuses to import without a git executable.  The import step's image
# has none and never touches a repository, but the CLI imports this module on
# every start; "quiet" defers the failure to the first git command, where the
# writer reports it as a RepositoryError.
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

import git
from gitdb.db.loose import LooseObjectDB
from gitdb.exc import BadObject

from ..core import naming
from ..errors import ImporterError
from ..settings import GitSettings
from . import failpoint

__all__ = ["Commit", "GitStore", "PackageRepo", "RepositoryError", "branch_head_sources"]

Flat = dict[str, tuple[str, str]]  # path -> (mode, hex sha)


class RepositoryError(ImporterError):
    """A git command failed on a repository (so callers never see GitPython's errors)."""


_ROOT_REF = "refs/importer/root"
_TREE_MODE = "40000"


@dataclass(frozen=True, slots=True)
class Commit:
    """The parts of a commit object the writer needs."""

    sha: str
    tree: str
    parents: tuple[str, ...]
    author_date: str  # "<epoch> <tz>", reused for tree-reset commits


def _signature(name: str, email: str, date: str) -> str:
    return f"{name} <{email}> {date}"


def _now() -> str:
    offset = -time.timezone if not time.localtime().tm_isdst else -time.altzone
    sign = "+" if offset >= 0 else "-"
    return f"{int(time.time())} {sign}{abs(offset) // 3600:02d}{abs(offset) % 3600 // 60:02d}"


class PackageRepo:
    """One package's bare repository."""

    def __init__(self, path: Path, *, settings: GitSettings) -> None:
        self.path = path
        self.settings = settings
        # Loose objects are read and written in-process (no subprocess per object,
        # which kept a busy writer below 50 commits/s); GitPython's Repo, with its
        # ``git cat-file`` helpers, is opened only for packed objects and ancestry.
        self._loose = LooseObjectDB(str(path / "objects"))
        self._git_repo: git.Repo | None = None

    @property
    def _repo(self) -> git.Repo:
        if self._git_repo is None:
            self._git_repo = git.Repo(self.path)
        return self._git_repo

    def close(self) -> None:
        if self._git_repo is not None:
            self._git_repo.close()
            self._git_repo = None

    # --- objects ------------------------------------------------------------

    def _store(self, kind: bytes, data: bytes) -> str:
        """Write a loose object unless it exists: hash first, then temporary file and rename."""
        header = b"%s %d\0" % (kind, len(data))
        sha = hashlib.sha1(header + data).hexdigest()
        folder = self.path / "objects" / sha[:2]
        target = folder / sha[2:]
        if target.exists():
            return sha  # content-addressed: an existing object is this object
        compressed = zlib.compress(header + data, 1)
        tmp = folder / f"tmp_obj_{os.getpid()}_{sha[2:8]}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o444)
        except FileNotFoundError:
            folder.mkdir(mode=0o2775, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o444)
        with os.fdopen(fd, "wb") as out:
            out.write(compressed)
        failpoint.reached()
        os.replace(tmp, target)
        return sha

    def _read(self, sha: str) -> bytes:
        binsha = bytes.fromhex(sha)
        try:
            data: bytes = self._loose.stream(binsha).read()
        except BadObject:  # packed by ``git gc``
            data = self._repo.odb.stream(binsha).read()
        return data

    def write_blob(self, data: bytes) -> str:
        return self._store(b"blob", data)

    def read_blob(self, sha: str) -> bytes:
        return self._read(sha)

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
        return self._write_nested(nested)

    def _write_nested(self, node: dict[str, object]) -> str:
        rows: list[tuple[bytes, bytes]] = []
        for name, value in node.items():
            if isinstance(value, dict):
                mode, sha, key = _TREE_MODE, self._write_nested(value), name + "/"
            else:
                assert isinstance(value, tuple)
                (mode, sha), key = value, name
            rows.append((key.encode(), f"{mode} {name}".encode() + b"\0" + bytes.fromhex(sha)))
        rows.sort()  # git orders trees by name, with "/" appended to subtree names
        return self._store(b"tree", b"".join(row for _, row in rows))

    def _tree_entries(self, tree: str) -> Iterator[tuple[str, str, str]]:
        """One tree object's ``(mode, name, sha)`` entries, not descending."""
        data, pos = self._read(tree), 0
        while pos < len(data):
            space = data.index(b" ", pos)
            nul = data.index(b"\0", space)
            mode, name = data[pos:space].decode(), data[space + 1 : nul].decode("utf-8", "surrogateescape")
            yield mode, name, data[nul + 1 : nul + 21].hex()
            pos = nul + 21

    def read_tree(self, tree: str, *, prefix: str = "") -> Flat:
        """The tree as a flat ``path -> (mode, sha)`` mapping."""
        flat: Flat = {}
        for mode, name, sha in self._tree_entries(tree):
            if mode == _TREE_MODE:
                flat.update(self.read_tree(sha, prefix=f"{prefix}{name}/"))
            else:
                flat[prefix + name] = (mode, sha)
        return flat

    def top_level_blob(self, commit: str, *, name: str) -> bytes | None:
        """The content of file ``name`` at the root of ``commit``'s tree, or None."""
        for mode, entry, sha in self._tree_entries(self.read_commit(commit).tree):
            if entry == name and mode != _TREE_MODE:
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
        """Store a commit; dates are ``"<epoch> <tz>"``, the clock when not given."""
        now = _now()
        who = (self.settings.user_name, self.settings.user_email)
        lines = [f"tree {tree}", *(f"parent {p}" for p in parents)]
        lines.append("author " + _signature(*who, author_date or now))
        lines.append("committer " + _signature(*who, committer_date or now))
        return self._store(b"commit", ("\n".join(lines) + "\n\n" + message.rstrip("\n") + "\n").encode())

    def read_commit(self, sha: str) -> Commit:
        header = self._read(sha).split(b"\n\n", 1)[0].decode("utf-8", "surrogateescape")
        tree, parents, author_date = "", [], ""
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            if key == "tree":
                tree = value
            elif key == "parent":
                parents.append(value)
            elif key == "author":
                author_date = " ".join(value.rsplit(" ", 2)[-2:])
        return Commit(sha, tree, tuple(parents), author_date)

    def is_ancestor(self, ancestor: str, *, descendant: str, walk_limit: int = 256) -> bool:
        """True when ``ancestor`` is reachable from ``descendant``.

        Walks recent history in-process (the usual case is a direct parent);
        beyond ``walk_limit`` commits ``git merge-base --is-ancestor`` decides.
        """
        frontier, seen = [descendant], set[str]()
        while frontier and len(seen) < walk_limit:
            sha = frontier.pop()
            if sha == ancestor:
                return True
            if sha not in seen:
                seen.add(sha)
                frontier.extend(self.read_commit(sha).parents)
        if not frontier:
            return False
        try:
            # GitPython passes revisions to ``git merge-base`` as text; shas are fine.
            return bool(self._repo.is_ancestor(ancestor, descendant))  # type: ignore[arg-type]
        except git.GitError as exc:
            raise RepositoryError(f"git merge-base failed in {self.path}: {exc}") from exc

    # --- refs ---------------------------------------------------------------

    def _ref_path(self, ref: str) -> Path:
        return self.path / ref

    def ref(self, ref: str) -> str | None:
        """The sha a ref points at (loose first, then packed-refs)."""
        try:
            return self._ref_path(ref).read_text().strip() or None
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            pass
        try:
            for line in (self.path / "packed-refs").read_text().splitlines():
                sha, _, name = line.partition(" ")
                if name == ref:
                    return sha
        except FileNotFoundError:
            pass
        return None

    def branch(self, name: str) -> str | None:
        return self.ref(f"refs/heads/{name}")

    def branches(self) -> dict[str, str]:
        """Every branch and its head: loose refs, then packed-refs for the rest."""
        heads: dict[str, str] = {}
        try:
            for line in (self.path / "packed-refs").read_text().splitlines():
                sha, _, name = line.partition(" ")
                if name.startswith("refs/heads/"):
                    heads[name.removeprefix("refs/heads/")] = sha
        except FileNotFoundError:
            pass
        loose = self.path / "refs" / "heads"
        for ref in loose.rglob("*"):
            if ref.is_file() and not ref.name.endswith(".lock"):
                heads[ref.relative_to(loose).as_posix()] = ref.read_text().strip()
        return heads

    def set_ref(self, ref: str, *, sha: str) -> None:
        """Point ``ref`` at ``sha`` atomically (lock file, then rename)."""
        target = self._ref_path(ref)
        lock = target.with_name(target.name + ".lock")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            fd = os.open(lock, flags, 0o644)
        except FileNotFoundError:  # first ref under a new directory, e.g. fedora/26
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, flags, 0o644)
        except FileExistsError:
            # Only the writer updates refs, so a lock it meets is a crash's leftover.
            lock.unlink()
            fd = os.open(lock, flags, 0o644)
        with os.fdopen(fd, "w") as out:
            out.write(sha + "\n")
        failpoint.reached()
        os.replace(lock, target)

    def set_branch(self, name: str, *, sha: str) -> None:
        problem = naming.branch_name_problem(name)
        if problem:
            raise ValueError(f"invalid branch name {name!r}: {problem}")
        self.set_ref(f"refs/heads/{name}", sha=sha)

    def root_commit(self) -> str:
        """The default branch's root commit, where new branches start (as ``mkbranch``)."""
        root = self.ref(_ROOT_REF)
        if root is None:  # a repository created by copr-dist-git: walk once, remember
            head = self.branch(self.settings.default_branch)
            if head is None:
                raise ValueError(f"{self.path} has no {self.settings.default_branch} branch")
            root = head
            while parents := self.read_commit(root).parents:
                root = parents[0]
            self.set_ref(_ROOT_REF, sha=root)
        return root

    def recover(self) -> None:
        """Remove what an interrupted writer may have left: lock and temporary files."""
        for lock in (self.path / "refs").rglob("*.lock"):
            lock.unlink(missing_ok=True)
        for tmp in (self.path / "objects").glob("*/tmp_obj_*"):
            tmp.unlink(missing_ok=True)


class GitStore:
    """All repositories under ``root`` at ``<owner>/<project>/<pkg>.git``."""

    def __init__(self, root: Path, *, settings: GitSettings, cache_size: int = 8) -> None:
        self.root = root
        self.settings = settings
        self._cache: dict[Path, PackageRepo] = {}
        self._cache_size = cache_size

    def path_of(self, *, owner: str, project: str, pkg: str) -> Path:
        return self.root / naming.repo_relpath(owner=owner, project=project, pkg=pkg)

    def open(self, *, owner: str, project: str, pkg: str) -> tuple[PackageRepo, bool]:
        """The package's repository, created if missing; also says whether it is new."""
        path = self.path_of(owner=owner, project=project, pkg=pkg)
        if path in self._cache:
            return self._cache[path], False
        created = False
        if not path.is_dir():
            self._create(path)
            created = True
        if len(self._cache) >= self._cache_size:
            self._cache.pop(next(iter(self._cache))).close()
        repo = self._cache[path] = PackageRepo(path, settings=self.settings)
        return repo, created

    def _create(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            git.Repo.init(tmp, bare=True, shared="group", initial_branch=self.settings.default_branch).close()
        except git.GitError as exc:
            raise RepositoryError(f"git init failed for {path}: {exc}") from exc
        repo = PackageRepo(tmp, settings=self.settings)
        try:
            tree = repo.write_tree({".gitignore": ("100644", repo.write_blob(b""))})
            root = repo.commit(tree=tree, parents=(), message="Initial setup of the repo")
            repo.set_ref(f"refs/heads/{self.settings.default_branch}", sha=root)
            repo.set_ref(_ROOT_REF, sha=root)
        finally:
            repo.close()
        failpoint.reached()
        try:
            os.rename(tmp, path)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not path.is_dir():
                raise

    def sweep_temporaries(self, *, owner: str, project: str) -> None:
        """Remove half-created repositories of a project (left by a crash)."""
        for tmp in (self.root / owner / project).glob(".*.git.tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)

    def close(self) -> None:
        for repo in self._cache.values():
            repo.close()
        self._cache.clear()


def branch_head_sources(path: Path) -> dict[str, str | None]:
    """The ``sources`` file of every branch head of the repository at ``path``
    (None for a head without one).  Read-only; safe while the writer works.

    Raises :class:`RepositoryError` when ``path`` is not a readable repository or
    has no branch at all: a caller deciding what is unreferenced must then skip
    the package rather than read the failure as "nothing is referenced".
    """
    if not (path / "HEAD").is_file() or not (path / "objects").is_dir():
        raise RepositoryError(f"{path} is not a git repository")
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
    except (OSError, ValueError, IndexError, BadObject, zlib.error, git.GitError) as exc:
        raise RepositoryError(f"cannot read the branch heads of {path}: {exc}") from exc
    finally:
        repo.close()
