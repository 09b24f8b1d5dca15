"""The cgit list next to copr-dist-git's cgit script: the git-writer's appends take copr's
lock (``cgit_cache_lock_file``, flock) and record each repository where copr's full
refresh looks, so that refresh and writer can run at the same time and lose nothing."""

from __future__ import annotations

import fcntl
import logging
import subprocess
from pathlib import Path

import pytest

from copr_importer.adapters.cgitlist import CgitList, read_listed
from tests.support.coprhost import REPO_ROOT, RPKG_PYTHON
from tests.support.waiting import wait_until


def refresh(git_root: Path, cgit: Path, *extra: str) -> None:
    """copr-dist-git-refresh-cgit's full run (tests/support/coprimport.py)."""
    command = [str(RPKG_PYTHON), str(REPO_ROOT / "tests/support/coprimport.py"), "refresh", f"--gitroot={git_root}"]
    command += [f"--cgit-cache={cgit}/repos.rc", f"--cgit-list={cgit}/subdirs.list", f"--cgit-lock={cgit}/lock", *extra]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def held(lock: Path) -> bool:
    with open(lock) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def test_appends_wait_for_coprs_lock_and_give_up_after_the_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    git_root, lock = tmp_path / "git", tmp_path / "copr-repo.lock"
    listing = tmp_path / "repos.rc"
    lock.touch()
    cgit = CgitList(listing, git_root=git_root, lock=lock, lock_timeout=0.5)
    holder = subprocess.Popen(["flock", str(lock), "cat"], stdin=subprocess.PIPE)  # as the script's flock 9
    try:
        wait_until(lambda: held(lock), timeout=30, what="flock(1) to hold the lock")
        with caplog.at_level(logging.WARNING):
            assert not cgit.ensure_listed(git_root / "alice/demo/foo.git")
        assert f"{lock} stayed locked" in caplog.text and not listing.exists()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert cgit.ensure_listed(git_root / "alice/demo/foo.git")  # the next commit lists it
    assert read_listed(listing) == {"alice/demo/foo.git"}


@pytest.mark.parametrize("recorded", [True, False])
def test_a_repository_listed_while_coprs_full_refresh_runs_is_kept(tmp_path: Path, recorded: bool) -> None:
    """copr's refresh scans the git root before it takes the lock.  A repository created and
    listed between its scan and its rewrite survives only because the writer also records
    it in copr's list of repositories (``cgit_subdirs``), which the refresh merges in."""
    git_root, cgit_dir = tmp_path / "git", tmp_path / "cgit"
    cgit_dir.mkdir()
    (git_root / "alice/demo/old.git").mkdir(parents=True)  # copr-dist-git made it
    refresh(git_root, cgit_dir)
    subdirs = cgit_dir / "subdirs.list" if recorded else None
    cgit = CgitList(cgit_dir / "repos.rc", git_root=git_root, lock=cgit_dir / "lock", subdirs=subdirs)
    scan = tmp_path / "scan"
    refresh(git_root, cgit_dir, f"--scan-to={scan}")  # the refresh has scanned, then ...
    new = git_root / "bob/p/new.git"
    new.mkdir(parents=True)
    assert cgit.ensure_listed(new)  # ... the writer creates and lists a repository ...
    refresh(git_root, cgit_dir, f"--scan-from={scan}")  # ... and the refresh rewrites the list
    listed = read_listed(cgit_dir / "repos.rc")
    assert listed == ({"alice/demo/old.git", "bob/p/new.git"} if recorded else {"alice/demo/old.git"})
    assert cgit.ensure_listed(new) is not recorded  # unrecorded, it is listed again on its next commit
