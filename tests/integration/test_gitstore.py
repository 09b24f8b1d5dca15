"""The git store against git itself: permissions of shared repositories, what clones see,
the old root ref's migration, git's ref locks, commit identity, and disk errors."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from copr_importer.adapters.gitstore import GitStore, PackageRepo, RepositoryBusy, maintain_repository
from copr_importer.errors import StorageError, TransientError
from copr_importer.settings import GitSettings
from tests.support.pipeline import git

SETTINGS = GitSettings()


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual service umask: group write must come from core.sharedRepository, not from it."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def store(tmp_path: Path, umask_022: None) -> Iterator[GitStore]:
    store = GitStore(tmp_path / "git", settings=SETTINGS)
    yield store
    store.close()


def _open(store: GitStore, pkg: str = "foo") -> PackageRepo:
    return store.open(owner="alice", project="demo", pkg=pkg)[0]


def _commit_file(repo: PackageRepo, *, branch: str, name: str, data: bytes) -> str:
    head = repo.branch(branch) or repo.root_commit()
    tree = repo.write_tree({**repo.read_tree(repo.read_commit(head).tree), name: ("100644", repo.write_blob(data))})
    sha = repo.commit(tree=tree, parents=(head,), message=f"add {name}")
    repo.set_branch(branch, sha=sha)
    return sha


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_shared_repository_files_are_group_writable_as_git_makes_them(store: GitStore, tmp_path: Path) -> None:
    repo = _open(store)
    sha = _commit_file(repo, branch="fedora/26", name="a.txt", data=b"shared\n")
    path = repo.path
    assert git(path, "config", "core.sharedRepository") == "1"
    fanouts = [d for d in (path / "objects").iterdir() if len(d.name) == 2]
    assert fanouts
    for directory in [*fanouts, path / "refs" / "heads" / "fedora", path / ".copr-importer"]:
        assert _mode(directory) & 0o2070 == 0o2070, f"{directory}: {oct(_mode(directory))}"
    for ref in (path / "refs/heads/fedora/26", path / "refs/heads/master"):
        assert _mode(ref) & 0o060 == 0o060, f"{ref}: {oct(_mode(ref))}"
    for obj in (d / f for d in fanouts for f in os.listdir(d)):
        assert _mode(obj) == 0o444  # loose objects are read-only, as git writes them
    # git itself, in a repository initialised the same way, under the same umask: the same bits.
    reference = tmp_path / "reference.git"
    subprocess.run(["git", "init", "-q", "--bare", "--shared=group", str(reference)], check=True)
    blob = (
        subprocess.run(
            ["git", "-C", str(reference), "hash-object", "-w", "--stdin"],
            input=b"shared\n",
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    assert _mode(reference / "objects" / blob[:2]) == _mode(path / "objects" / blob[:2])
    assert git(path, "rev-parse", "fedora/26") == sha


def test_a_commit_is_the_one_git_commit_tree_makes(store: GitStore) -> None:
    repo = _open(store)
    tree = repo.read_commit(repo.root_commit()).tree
    parent = repo.root_commit()
    sha = repo.commit(
        tree=tree,
        parents=(parent,),
        message="automatic import of foo\n\n",
        author_date="1700000000 +0130",
        committer_date="1700000100 -0500",
    )
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": SETTINGS.user_name,
        "GIT_AUTHOR_EMAIL": SETTINGS.user_email,
        "GIT_AUTHOR_DATE": "1700000000 +0130",
        "GIT_COMMITTER_NAME": SETTINGS.user_name,
        "GIT_COMMITTER_EMAIL": SETTINGS.user_email,
        "GIT_COMMITTER_DATE": "1700000100 -0500",
    }
    expected = subprocess.run(
        ["git", "-C", str(repo.path), "commit-tree", tree, "-p", parent, "-m", "automatic import of foo"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert sha == expected
    assert repo.read_commit(sha).author_date == "1700000000 +0130"


def test_clones_see_branches_only(store: GitStore, tmp_path: Path) -> None:
    repo = _open(store)
    _commit_file(repo, branch="f43", name="x", data=b"x\n")
    store.close()
    remote = subprocess.run(["git", "ls-remote", str(repo.path)], capture_output=True, text=True, check=True).stdout
    assert sorted(line.split("\t")[1] for line in remote.splitlines()) == [
        "HEAD",
        "refs/heads/f43",
        "refs/heads/master",
    ]
    mirror = tmp_path / "mirror.git"
    subprocess.run(["git", "clone", "-q", "--mirror", f"file://{repo.path}", str(mirror)], check=True)
    assert git(mirror, "for-each-ref", "--format=%(refname)").split() == ["refs/heads/f43", "refs/heads/master"]
    assert not (mirror / ".copr-importer").exists()


@pytest.mark.parametrize("packed", [False, True], ids=["loose-ref", "packed-ref"])
def test_the_old_root_ref_moves_out_of_refs(store: GitStore, packed: bool) -> None:
    repo = _open(store)
    root = repo.root_commit()
    store.close()
    # As versions before 0.2 left it: the hint in refs/importer/root, no hint file.
    git(repo.path, "update-ref", "refs/importer/root", root)
    (repo.path / ".copr-importer" / "root").unlink()
    if packed:
        git(repo.path, "pack-refs", "--all")
    assert "refs/importer/root" in git(repo.path, "ls-remote", ".")
    reopened = _open(store)
    assert "refs/importer" not in git(repo.path, "ls-remote", ".")
    assert (repo.path / ".copr-importer" / "root").read_text().strip() == root
    assert reopened.root_commit() == root
    subprocess.run(["git", "-C", str(repo.path), "fsck", "--strict"], check=True, capture_output=True)


def test_a_foreign_ref_lock_makes_the_repository_busy_and_stays(store: GitStore) -> None:
    repo = _open(store)
    before = _commit_file(repo, branch="f43", name="a", data=b"1\n")
    lock = repo.path / "refs" / "heads" / "f43.lock"
    lock.write_text("an admin's git command\n")
    with pytest.raises(RepositoryBusy) as caught:
        _commit_file(repo, branch="f43", name="b", data=b"2\n")
    assert isinstance(caught.value, TransientError)
    assert lock.read_text() == "an admin's git command\n"
    assert git(repo.path, "rev-parse", "f43") == before
    # A writer restarted meanwhile (recovery) does not take it for its own.
    store.close()
    repo = _open(store)
    assert lock.exists()
    with pytest.raises(RepositoryBusy):
        _commit_file(repo, branch="f43", name="b", data=b"2\n")
    lock.unlink()  # the admin's command finished
    after = _commit_file(repo, branch="f43", name="b", data=b"2\n")
    assert git(repo.path, "rev-parse", "f43^") == before and git(repo.path, "rev-parse", "f43") == after


def test_a_lock_on_a_branch_still_to_be_created_is_respected(store: GitStore) -> None:
    repo = _open(store)
    lock = repo.path / "refs" / "heads" / "f44.lock"
    lock.write_text("")
    with pytest.raises(RepositoryBusy):
        repo.set_branch("f44", sha=repo.root_commit())
    assert lock.exists() and repo.branch("f44") is None


def test_a_ref_moved_by_someone_else_is_not_overwritten(store: GitStore) -> None:
    repo = _open(store)
    ours = _commit_file(repo, branch="f43", name="a", data=b"1\n")
    head = repo.branch("f43")
    pushed = git(repo.path, "commit-tree", f"{ours}^{{tree}}", "-p", ours, "-m", "a maintainer's push")
    git(repo.path, "update-ref", "refs/heads/f43", pushed)
    tree = repo.read_commit(ours).tree
    with pytest.raises(RepositoryBusy, match="moved"):
        repo.set_branch("f43", sha=repo.commit(tree=tree, parents=(ours,), message="stale"))
    assert git(repo.path, "rev-parse", "f43") == pushed and head == ours
    # Read again, build on what is there: accepted.
    retried = repo.commit(tree=tree, parents=(repo.branch("f43") or "",), message="on top")
    repo.set_branch("f43", sha=retried)
    assert git(repo.path, "rev-parse", "f43^") == pushed


@pytest.mark.parametrize("content", ["", "new"], ids=["empty-lock", "written-lock"])
def test_the_writers_own_leftover_lock_is_removed_on_reopen(store: GitStore, content: str) -> None:
    repo = _open(store)
    head = _commit_file(repo, branch="f43", name="a", data=b"1\n")
    new = repo.commit(tree=repo.read_commit(head).tree, parents=(head,), message="interrupted")
    # kill -9 inside libgit2's ref update: the record written, the lock created, no rename.
    repo.state.begin_ref_update("refs/heads/f43", new=new)
    lock = repo.path / "refs" / "heads" / "f43.lock"
    lock.write_text(new + "\n" if content else "")
    store._cache.clear()  # the process is gone: nothing is closed or cleared
    repo.state.unlock()
    repo = GitStore(store.root, settings=SETTINGS).open(owner="alice", project="demo", pkg="foo")[0]
    assert not lock.exists()
    assert git(repo.path, "rev-parse", "f43") == head
    repo.branch("f43")
    repo.set_branch("f43", sha=new)
    assert git(repo.path, "rev-parse", "f43") == new
    repo.close()


def test_a_lock_older_than_the_record_is_not_taken_for_the_writers(store: GitStore) -> None:
    repo = _open(store)
    head = _commit_file(repo, branch="f43", name="a", data=b"1\n")
    lock = repo.path / "refs" / "heads" / "f43.lock"
    lock.write_text(head + "\n")
    os.utime(lock, (1_000_000_000, 1_000_000_000))  # there before the writer began its update
    repo.state.begin_ref_update("refs/heads/f43", new=head)
    store._cache.clear()
    repo.state.unlock()
    GitStore(store.root, settings=SETTINGS).open(owner="alice", project="demo", pkg="foo")[0].close()
    assert lock.exists()


def test_maintenance_waits_for_the_writer_and_the_writer_for_maintenance(store: GitStore) -> None:
    repo = _open(store)
    _commit_file(repo, branch="f43", name="a", data=b"1\n")
    with pytest.raises(RepositoryBusy):  # the writer has it open
        maintain_repository(repo.path, settings=SETTINGS, prune=True)
    store.close()
    maintain_repository(repo.path, settings=SETTINGS, prune=True)
    assert git(repo.path, "count-objects", "-v").splitlines()[0] == "count: 0"
    holder = PackageRepo(repo.path, settings=SETTINGS)
    holder.acquire(wait=0)  # as maintain-repos holds it while packing
    impatient = GitStore(store.root, settings=GitSettings(busy_wait=0.2))
    with pytest.raises(RepositoryBusy, match="locked by another process"):
        impatient.open(owner="alice", project="demo", pkg="foo")
    holder.close()
    assert impatient.open(owner="alice", project="demo", pkg="foo")[0].branch("f43")
    impatient.close()


# --- the disk refuses ------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (root only: skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_or_read_only_disk_is_a_storage_error(small_disk: Path, umask_022: None) -> None:
    store = GitStore(small_disk / "git", settings=SETTINGS)
    repo = store.open(owner="alice", project="demo", pkg="foo")[0]
    with pytest.raises(StorageError, match="No space left on device"):
        repo.write_blob(os.urandom(3 * 1024 * 1024))  # libgit2's error
    store.close()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(StorageError, match="Read-only file system"):
        maintain_repository(repo.path, settings=SETTINGS, prune=False)  # git's stderr, or our own lock file
    reader = PackageRepo(repo.path, settings=SETTINGS)
    with pytest.raises(StorageError, match="Read-only file system"):
        reader.write_blob(b"x")
    reader.close()


def test_recovery_removes_libgit2_temporaries_of_a_dead_writer_only(store: GitStore) -> None:
    repo = _open(store)
    objects = repo.path / "objects"
    dead = objects / "tmp_object_git2_aB3dE6"  # a writer killed inside an object write
    live = objects / "tmp_object_git2_Zz9Yy8"  # being written right now (newer than this process)
    gits = objects / "tmp_obj_Qw12Er"  # git's own: git prune's business
    for tmp in (dead, live, gits):
        tmp.write_bytes(b"x\x9c")
    os.utime(dead, (1_000_000_000, 1_000_000_000))
    os.utime(gits, (1_000_000_000, 1_000_000_000))
    repo.recover()
    assert not dead.exists() and live.exists() and gits.exists()
