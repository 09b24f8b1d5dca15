"""How one import becomes commits on its branches, as copr-dist-git makes them.

* A missing branch starts at the default branch's root commit (``mkbranch``).
* The first branch, in the task's order, gets "automatic import of <pkg>" on top
  of its head; importing what the branch already holds makes no commit.
* Every other branch is fast-forwarded to a commit already made for this import
  when it can be, else it gets a commit on top of its head that resets its tree
  to the imported one, with the import's author date (copr: ``git read-tree``
  and a commit with ``--date``); a branch already holding that tree is left alone.
* Dates come from the request (the time the import step handed it over), never
  from the clock at commit time: applying a request again after a crash makes
  the very same commits, so the hashes reported cannot depend on when a kill hit.
* A branch only moves forward: before each ref update the new commit must
  descend from the branch's head (reset commits do: the head is their parent).
  Anything else raises :class:`NotForward` and that branch fails, untouched.
  The parents of the commits made for this import are known from making them,
  so the check reads the repository only for a fast-forward past them.
* A failure the input caused (an invalid branch name, one that clashes with an
  existing branch) fails that branch alone, as copr does; any other error
  propagates, so that the request stays and is applied again later.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..adapters.gitstore import PackageRepo
from ..core import naming, tree
from ..core.refconflict import ref_conflict
from ..errors import ImporterError

__all__ = ["BranchCommits", "NotForward", "commit_branches"]

log = logging.getLogger(__name__)

Entries = dict[str, tuple[str, str]]  # path -> (mode, blob sha)

# Ref files that cannot be made because of the branch's name (a file where a
# directory must be, or the reverse; a name too long): the input's fault.
_NAME_ERRNOS = frozenset({errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG})


class NotForward(ImporterError):
    """A branch would move to a commit that does not descend from its head."""


@dataclass(frozen=True, slots=True)
class Content:
    """What the import puts on its first branch."""

    entries: Entries
    sources: str
    lookaside_names: list[str]
    message: str
    date: str  # "<epoch> <tz>": author and committer date of the import's commits


@dataclass(slots=True)
class BranchCommits:
    """Per branch, the commit it now points at or why it failed; ``moved``: branches that moved."""

    commits: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    moved: int = 0
    made: dict[str, tuple[str, ...]] = field(default_factory=dict)  # commits made here -> their parents


def commit_branches(repo: PackageRepo, *, branches: Sequence[str], content: Content) -> BranchCommits:
    """Commit ``content`` to ``branches`` (first one first); see the module docstring."""
    outcome = BranchCommits()
    for branch in branches:
        try:
            head = _head(repo, branch)
            if not outcome.commits:
                new = _import_commit(repo, head=head, content=content, made=outcome.made)
            else:
                new = _sync(repo, head=head, done=list(outcome.commits.values()), content=content, made=outcome.made)
            if new != head:
                _move(repo, branch, head=head, new=new, made=outcome.made)
                outcome.moved += 1
                log.info("branch %s: %s", branch, new)
            else:
                log.info("branch %s: unchanged at %s", branch, new)
            outcome.commits[branch] = new
        except (ValueError, NotForward) as exc:
            outcome.errors[branch] = str(exc)
            log.error("branch %s failed: %s", branch, exc)
        except OSError as exc:
            if exc.errno not in _NAME_ERRNOS:
                raise
            outcome.errors[branch] = f"cannot create the branch: {exc.strerror}"
            log.error("branch %s failed: %s", branch, exc)
    return outcome


def _head(repo: PackageRepo, branch: str) -> str:
    """The branch's head; a missing branch is created at the root commit first."""
    problem = naming.branch_name_problem(branch)
    if problem:
        raise ValueError(f"invalid branch name: {problem}")
    head = repo.branch(branch)
    if head is None:
        conflict = ref_conflict(branch, existing=repo.branches())
        if conflict:
            raise ValueError(f"invalid branch name: {conflict}")
        head = repo.root_commit()
        repo.set_branch(branch, sha=head)
    return head


def _move(repo: PackageRepo, branch: str, *, head: str, new: str, made: dict[str, tuple[str, ...]]) -> None:
    """Point ``branch`` at ``new``, which must descend from ``head``."""
    if head not in made.get(new, ()) and not repo.is_ancestor(head, descendant=new):
        raise NotForward(f"refusing to move the branch from {head} to {new}, which does not descend from it")
    repo.set_branch(branch, sha=new)


def _import_commit(repo: PackageRepo, *, head: str, content: Content, made: dict[str, tuple[str, ...]]) -> str:
    parent = repo.read_commit(head)
    old = repo.read_tree(parent.tree)
    new = tree.compose_tree(old=old, new=content.entries)
    if content.lookaside_names or "sources" in old:
        new["sources"] = ("100644", repo.write_blob(content.sources.encode()))
    old_ignore = repo.read_blob(old[".gitignore"][1]).decode("utf-8", "surrogateescape") if ".gitignore" in old else ""
    ignore = tree.merge_gitignore(old_ignore, filenames=content.lookaside_names)
    new[".gitignore"] = ("100644", repo.write_blob(ignore.encode()))
    new_tree = repo.write_tree(new)
    if new_tree == parent.tree:
        return head  # the same SRPM again: no new commit, same hash
    return _commit_on(repo, head, tree=new_tree, author_date=content.date, content=content, made=made)


def _sync(repo: PackageRepo, *, head: str, done: list[str], content: Content, made: dict[str, tuple[str, ...]]) -> str:
    if head in done:
        return head
    for target in done:
        if head in made.get(target, ()) or repo.is_ancestor(head, descendant=target):
            return target  # fast-forward
    source = repo.read_commit(done[0])
    if repo.read_commit(head).tree == source.tree:
        return head
    return _commit_on(repo, head, tree=source.tree, author_date=source.author_date, content=content, made=made)


def _commit_on(
    repo: PackageRepo, head: str, *, tree: str, author_date: str, content: Content, made: dict[str, tuple[str, ...]]
) -> str:
    """A commit of ``tree`` on top of ``head``, committed at the import's date; noted in ``made``."""
    sha = repo.commit(
        tree=tree, parents=(head,), message=content.message, author_date=author_date, committer_date=content.date
    )
    made[sha] = (head,)
    return sha
