"""The cgit include file: one stanza per repository in copr's form, appended once, repaired
after a crash, read again when someone else (copr's cgit refresh) changed it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from copr_importer.adapters.cgitlist import CgitList, read_listed


def stanza(git_root: Path, url: str) -> str:
    """What copr-dist-git-refresh-cgit's single_repo writes for a repository."""
    return f"\nrepo.url={url}\nrepo.path={git_root / url}/\n"


def test_each_repository_is_appended_once(tmp_path: Path) -> None:
    git_root = tmp_path / "git"
    listing = tmp_path / "cgit" / "repos.rc"
    cgit = CgitList(listing, git_root=git_root)
    for _ in range(3):
        cgit.ensure_listed(git_root / "alice/demo/foo.git")
        cgit.ensure_listed(git_root / "@group/proj:pr:12/bar.git")
    expected = stanza(git_root, "alice/demo/foo.git") + stanza(git_root, "@group/proj:pr:12/bar.git")
    assert listing.read_text() == expected
    # A restarted writer loads the file and appends nothing it already lists.
    CgitList(listing, git_root=git_root).ensure_listed(git_root / "alice/demo/foo.git")
    assert listing.read_text() == expected
    assert read_listed(listing) == {"alice/demo/foo.git", "@group/proj:pr:12/bar.git"}


def test_paths_are_absolute_for_cgit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cgit = CgitList(Path("repos.rc"), git_root=Path("data/git"))
    cgit.ensure_listed(Path("data/git/alice/demo/foo.git"))
    assert (tmp_path / "repos.rc").read_text() == stanza(tmp_path / "data/git", "alice/demo/foo.git")


@pytest.mark.parametrize(
    "torn",
    ["repo.url=alice/demo/bar.git\nrepo.pa", "repo.url=alice/demo/bar.git\n", "repo.url=alice/dem"],
)
def test_a_torn_stanza_is_cut_and_written_again(tmp_path: Path, torn: str, caplog: pytest.LogCaptureFixture) -> None:
    """What a crash in the middle of an append leaves: the complete stanzas stay,
    the torn one is cut off and appended whole on the next commit to its repository."""
    git_root = tmp_path / "git"
    listing = tmp_path / "repos.rc"
    intact = "# operator's comment\n" + stanza(git_root, "alice/demo/foo.git")
    listing.write_text(intact + torn)
    assert read_listed(listing) == {"alice/demo/foo.git"}
    cgit = CgitList(listing, git_root=git_root)
    with caplog.at_level(logging.WARNING):
        cgit.ensure_listed(git_root / "alice/demo/foo.git")
    assert listing.read_text() == intact and "torn stanza" in caplog.text
    cgit.ensure_listed(git_root / "alice/demo/bar.git")
    assert listing.read_text() == intact + stanza(git_root, "alice/demo/bar.git")


def test_a_repository_created_but_never_listed_is_listed_by_the_next_writer(tmp_path: Path) -> None:
    """A crash after the repository was created and before its stanza was appended
    leaves no trace in the file; the writer lists it on its next commit there."""
    git_root = tmp_path / "git"
    listing = tmp_path / "repos.rc"
    CgitList(listing, git_root=git_root).ensure_listed(git_root / "alice/demo/foo.git")
    after_restart = CgitList(listing, git_root=git_root)
    after_restart.ensure_listed(git_root / "alice/demo/never-listed.git")
    assert read_listed(listing) == {"alice/demo/foo.git", "alice/demo/never-listed.git"}


def test_a_failed_append_is_logged_and_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    git_root = tmp_path / "git"
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    cgit = CgitList(blocker / "repos.rc", git_root=git_root)
    with caplog.at_level(logging.WARNING):
        cgit.ensure_listed(git_root / "alice/demo/foo.git")  # must not raise: listing never fails an import
    assert "cannot list alice/demo/foo.git" in caplog.text
    blocker.unlink()
    blocker.mkdir()
    cgit.ensure_listed(git_root / "alice/demo/foo.git")
    assert read_listed(blocker / "repos.rc") == {"alice/demo/foo.git"}


def test_urls_are_recorded_in_coprs_repository_list(tmp_path: Path) -> None:
    """copr's full refresh rebuilds the include file from this list and a scan."""
    git_root = tmp_path / "git"
    subdirs = tmp_path / "repo-subdirs.list"
    subdirs.write_text("alice/demo/old\n")  # what copr's own single-repository refresh writes
    cgit = CgitList(tmp_path / "repos.rc", git_root=git_root, subdirs=subdirs)
    cgit.ensure_listed(git_root / "alice/demo/foo.git")
    cgit.ensure_listed(git_root / "alice/demo/foo.git")
    assert subdirs.read_text() == "alice/demo/old\nalice/demo/foo.git\n"


def test_a_list_rewritten_by_someone_else_is_read_again(tmp_path: Path) -> None:
    git_root = tmp_path / "git"
    listing = tmp_path / "repos.rc"
    cgit = CgitList(listing, git_root=git_root)
    cgit.ensure_listed(git_root / "alice/demo/foo.git")
    # copr's full refresh writes every repository it found, ours included, in another order.
    listing.write_text(stanza(git_root, "bob/x/bar.git") + stanza(git_root, "alice/demo/foo.git"))
    assert not cgit.ensure_listed(git_root / "bob/x/bar.git")  # listed by the refresh: not appended again
    assert cgit.ensure_listed(git_root / "carol/y/baz.git")
    assert read_listed(listing) == {"alice/demo/foo.git", "bob/x/bar.git", "carol/y/baz.git"}
    assert listing.read_text().count("repo.url=") == 3
