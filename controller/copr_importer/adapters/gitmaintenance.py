"""Git commands run on whole repositories: create one, and keep one packed.

Everything here is git itself (driven through GitPython's command wrapper, with
``LC_ALL=C`` so that its messages can be classified), so it honours the
repository's ``core.sharedRepository``, its own locks and its configuration.

Maintenance is what ``git maintenance``'s ``loose-objects``, ``incremental-repack``
and ``pack-refs`` tasks aim at, in three commands:

1. ``git prune --expire <prune_expire>`` (only when asked; the lifecycle command
   does, the writer's idle moments do not): unreachable loose objects and
   temporary files older than the expiry (git's ``gc.pruneExpire``, two weeks);
2. ``git repack -d --geometric=2``: every loose object goes into a new pack,
   and packs are rolled up so that each is at least twice the size of the
   smaller ones together: a few packs, each object rewritten O(log n) times;
3. ``git pack-refs --all``: loose refs go into ``packed-refs``.

The caller holds the repository's lock (:mod:`.repostate`), so no commit of the
writer is in progress; git's own rules (prune only what is old and unreachable,
never delete a pack before its objects are in another) would keep a concurrent
writer safe anyway.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

# GitPython refuses to import without a git executable.  The import step's image
# has none and never touches a repository, but the CLI imports this module on
# every start; "quiet" defers the failure to the first git command.
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

import git

from .gitfaults import classify

__all__ = ["RepoCounts", "counts", "hash_object", "init_bare", "maintain", "run_git"]

_PACKS_BEFORE_ROLL_UP = 8
_FANOUT = frozenset(f"{i:02x}" for i in range(256))


def run_git(path: Path, *args: str, doing: str) -> str:
    """Run ``git --git-dir <path> <args>``; failures become StorageError, RepositoryBusy or RepositoryError."""
    try:
        out: str = git.Git().execute(["git", "--git-dir", str(path), *args])
        return out
    except git.GitCommandError as exc:
        raise classify(str(exc.stderr or exc), path=path, doing=doing) from exc
    except (OSError, git.GitError) as exc:
        raise classify(exc, path=path, doing=doing) from exc


def init_bare(path: Path, *, default_branch: str) -> None:
    """``git init --bare --shared=group``, as copr-dist-git creates its repositories."""
    try:
        git.Git().execute(["git", "init", "-q", "--bare", "--shared=group", "-b", default_branch, str(path)])
    except git.GitCommandError as exc:
        raise classify(str(exc.stderr or exc), path=path, doing="git init") from exc
    except (OSError, git.GitError) as exc:
        raise classify(exc, path=path, doing="git init") from exc


def hash_object(path: Path, data: bytes) -> str:
    """``git hash-object -w``: the same blob written by git itself, whose message names the
    system error where libgit2 lost it (a full disk shows as "no error" there)."""
    done = subprocess.run(
        ["git", "--git-dir", str(path), "hash-object", "-w", "--stdin"],
        input=data,
        capture_output=True,
        env={**os.environ, "LC_ALL": "C", "LANGUAGE": "C"},
    )
    if done.returncode != 0:
        raise classify(done.stderr.decode("utf-8", "replace"), path=path, doing="git hash-object")
    return done.stdout.decode().strip()


@dataclass(frozen=True, slots=True)
class RepoCounts:
    """What maintenance looks at: loose objects, packs and loose refs."""

    loose_objects: int
    packs: int
    loose_refs: int
    old_root_ref: bool = False
    """``refs/importer/root`` of version 0.1 is still there (opening the repository migrates it)."""

    @property
    def needs_maintenance(self) -> bool:
        # A geometric progression keeps a few packs for good; more come from pushes
        # (receive-pack keeps packs of more than 100 objects) and call for a roll-up.
        return self.loose_objects > 0 or self.loose_refs > 0 or self.packs > _PACKS_BEFORE_ROLL_UP or self.old_root_ref


def counts(path: Path) -> RepoCounts:
    """Count by listing the object and ref directories (no git process, no object read).

    Taken without the repository's lock, so a packing writer may remove a fan-out
    directory between the two listings: a vanished one holds no loose object."""
    objects = path / "objects"
    loose = 0
    with os.scandir(objects) as fanout:
        for entry in fanout:
            if entry.name in _FANOUT and entry.is_dir():
                try:
                    loose += sum(1 for name in os.listdir(entry.path) if len(name) == 38)
                except FileNotFoundError:
                    continue
    try:
        packs = sum(1 for name in os.listdir(objects / "pack") if name.endswith(".pack"))
    except FileNotFoundError:
        packs = 0
    refs = sum(1 for p in (path / "refs").rglob("*") if p.is_file() and not p.name.endswith(".lock"))
    return RepoCounts(loose, packs, refs, _has_old_root_ref(path))


def _has_old_root_ref(path: Path) -> bool:
    """A look for the name only (loose, or a line of ``packed-refs``); the store does the rest."""
    if (path / "refs" / "importer" / "root").is_file():
        return True
    try:
        with open(path / "packed-refs", "rb") as packed:
            return any(line.rstrip(b"\n").endswith(b" refs/importer/root") for line in packed)
    except FileNotFoundError:
        return False


def maintain(path: Path, *, prune_expire: str | None) -> None:
    """Pack ``path`` (see the module docstring); the caller holds its repository lock."""
    if prune_expire is not None:
        run_git(path, "prune", "--expire", prune_expire, doing="git prune")
    run_git(path, "repack", "-d", "-q", "--geometric=2", doing="git repack")
    run_git(path, "pack-refs", "--all", doing="git pack-refs")
