"""Names checked against real git: tree entry names ``git fsck --strict`` refuses, and branch names."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from copr_importer.core import naming

# Names git's fsck takes for .git or .gitmodules (NTFS and HFS+ spellings), and near misses.
TREE_NAMES = [
    ".git", ".GIT", ".Git ", ".git.", ".git. .", "git~1", "GIT~1", "git~1.", "git~2", ".git:x",
    ".gitmodules", ".GITMODULES", ".gitmodules .", ".gitmodules:$DATA", "gitmod~1", "GITMOD~4", "gitmod~5",
    "gi7eba~1", "gi7eb~12", "g~123456", "gi7eba~0", "gi7ebb~1", ".g\u200cit", ".git\u200c", ".gitmodules\ufeff",
    ".gitmodule", ".gitignore", "git", ".gits", "x.git", "git~10", ".g\u00efit", "gitmodules", "GITMOD~1.txt",
]  # fmt: skip


def _git(repo: Path, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(repo), *args], input=data, capture_output=True)


def _fsck_refuses(repo: Path, name: str) -> bool:
    # A .gitmodules blob whose URL git refuses, so that fsck says so whenever it takes
    # the entry for .gitmodules; for .git names the entry alone is enough.
    blob = _git(repo, "hash-object", "-w", "--stdin", data=b'[submodule "x"]\n\tpath = x\n\turl = -u./payload\n')
    sha = bytes.fromhex(blob.stdout.decode().strip())
    tree = b"100644 " + name.encode() + b"\0" + sha
    made = _git(repo, "hash-object", "-w", "-t", "tree", "--literally", "--stdin", data=tree)
    tree_id = made.stdout.decode().strip()
    commit = _git(repo, "-c", "user.name=t", "-c", "user.email=t@x", "commit-tree", tree_id, "-m", "x")
    _git(repo, "update-ref", "refs/heads/t", commit.stdout.decode().strip())
    return _git(repo, "fsck", "--strict", "--no-dangling").returncode != 0


def test_reserved_names_are_the_ones_git_fsck_refuses(tmp_path: Path) -> None:
    for name in TREE_NAMES:
        repo = tmp_path / hashlib.md5(name.encode()).hexdigest()  # fsck sees every object: one repository each
        subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
        assert naming.is_git_special(name) == _fsck_refuses(repo, name), name


BRANCHES = [
    "master", "f43", "fedora/26", "epel10.1", "a..b", "-x", "x.lock", "a/.b", "sp ace", "a:b", "x/", "/x", "@",
    "a@{b", "a//b", "tab\tx", "ok-1_2+3", ".hidden", "end.", "q?", "st*r", "br[", "back\\slash", "ti~", "HEAD",
    "FETCH_HEAD", "refs/heads/x", "a" * 40, "café", "x@y", "a/b.lock/c", "new\nline", "\u00e9/\u00e8",
]  # fmt: skip


@pytest.mark.parametrize("name", BRANCHES)
def test_branch_names_follow_git(name: str) -> None:
    """git's ref-format rules decide; on top, names that read as something else are refused."""
    git_ok = subprocess.run(["git", "check-ref-format", f"refs/heads/{name}"], capture_output=True).returncode == 0
    git_ok = git_ok and not name.startswith("-") and name != "HEAD"  # what git branch adds
    problem = naming.branch_name_problem(name)
    if problem is None:
        assert git_ok, name
    else:
        assert not git_ok or problem.startswith("reads as"), (name, problem)
