"""The git-writer's semantics, checked with real git on real imports."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from copr_importer.adapters.spool import Spool
from copr_importer.app.gitwriter import GitWriter, WriterBusy
from copr_importer.app.importstep import run_step
from copr_importer.settings import Settings
from tests.support.pipeline import git, import_now, make_task
from tests.support.srpms import binary_tarball
from tests.support.waiting import wait_until

SrpmFactory = Callable[..., Path]


def repo_of(settings: Settings, pkg: str) -> Path:
    return settings.git_root / "alice" / "demo" / f"{pkg}.git"


def test_new_repository_layout_and_commits(settings: Settings, srpm_factory: SrpmFactory) -> None:
    tar = binary_tarball(name="foo", version="1")
    srpm = srpm_factory(
        name="foo", sources={"foo-1.tar.gz": tar, "foo.conf": b"x=1\n"}, patches={"p.patch": b"-a\n+b\n"}
    )
    result = import_now(settings, make_task(1, srpm, pkg="foo", branches=("f43", "master", "epel9")))
    repo = repo_of(settings, "foo")
    commits = result["branch_commits"]
    assert set(commits) == {"epel9", "f43", "master"} and len(set(commits.values())) == 1
    sha = commits["epel9"]
    assert git(repo, "log", "--format=%s|%an|%ae", sha).splitlines() == [
        "automatic import of foo|CoprDistGit|copr-devel@lists.fedorahosted.org",
        "Initial setup of the repo|CoprDistGit|copr-devel@lists.fedorahosted.org",
    ]
    assert git(repo, "ls-tree", "--name-only", sha).split() == [
        ".gitignore",
        "foo.conf",
        "foo.spec",
        "p.patch",
        "sources",
    ]
    md5 = __import__("hashlib").md5(tar).hexdigest()
    assert git(repo, "show", f"{sha}:sources") == f"{md5}  foo-1.tar.gz"
    assert git(repo, "show", f"{sha}:.gitignore") == "/foo-1.tar.gz"
    assert (settings.lookaside_root / "alice/demo/foo/foo-1.tar.gz" / md5 / "foo-1.tar.gz").read_bytes() == tar
    assert git(repo, "symbolic-ref", "HEAD") == "refs/heads/master"
    subprocess.run(["git", "-C", str(repo), "fsck", "--strict"], check=True, capture_output=True)
    assert result["reponame"] == "alice/demo/foo" and result["new_repo"] is True


def test_reimport_of_the_same_srpm_makes_no_commit(settings: Settings, srpm_factory: SrpmFactory) -> None:
    srpm = srpm_factory(name="foo", sources={"a.tar.gz": binary_tarball(name="a", version="1")})
    first = import_now(settings, make_task(1, srpm, pkg="foo", branches=("f42", "f43")))
    count = git(repo_of(settings, "foo"), "rev-list", "--all", "--count")
    second = import_now(settings, make_task(2, srpm, pkg="foo", branches=("f42", "f43")))
    assert second["branch_commits"] == first["branch_commits"]
    assert git(repo_of(settings, "foo"), "rev-list", "--all", "--count") == count


def test_later_version_removes_files_but_keeps_dist_git_files(settings: Settings, srpm_factory: SrpmFactory) -> None:
    v1 = srpm_factory(
        name="foo",
        version="1",
        sources={"foo-1.tar.gz": binary_tarball(name="foo", version="1")},
        patches={"old.patch": b"-x\n+y\n"},
    )
    import_now(settings, make_task(1, v1, pkg="foo"))
    repo = repo_of(settings, "foo")
    # A maintainer adds CI files by hand (as dist-git users do).
    work = settings.data_dir.parent / "work"
    subprocess.run(["git", "clone", "-q", str(repo), str(work)], check=True)
    (work / "tests").mkdir()
    (work / "tests/tests.yml").write_text("- hosts: localhost\n")
    (work / "README.md").write_text("readme\n")
    (work / ".gitignore").write_text((work / ".gitignore").read_text() + "*.swp\n")
    for cmd in (["add", "-A"], ["-c", "user.name=m", "-c", "user.email=m@x", "commit", "-qm", "ci"], ["push", "-q"]):
        subprocess.run(["git", "-C", str(work), *cmd], check=True)
    v2 = srpm_factory(name="foo", version="2", sources={"foo-2.tar.gz": binary_tarball(name="foo", version="2")})
    sha = import_now(settings, make_task(2, v2, pkg="foo"))["branch_commits"]["master"]
    files = git(repo, "ls-tree", "-r", "--name-only", sha).split()
    assert files == [".gitignore", "README.md", "foo.spec", "sources", "tests/tests.yml"]
    assert git(repo, "show", f"{sha}:sources").endswith("  foo-2.tar.gz")
    assert "foo-1.tar.gz" not in git(repo, "show", f"{sha}:sources")
    assert git(repo, "show", f"{sha}:.gitignore").splitlines() == ["/foo-1.tar.gz", "*.swp", "/foo-2.tar.gz"]


def test_new_branch_starts_at_root_and_diverged_branch_gets_a_reset_commit(
    settings: Settings, srpm_factory: SrpmFactory
) -> None:
    v1 = srpm_factory(name="foo", version="1")
    v2 = srpm_factory(name="foo", version="2")
    v3 = srpm_factory(name="foo", version="3")
    a = import_now(settings, make_task(1, v1, pkg="foo", branches=("f42",)))["branch_commits"]["f42"]
    b = import_now(settings, make_task(2, v2, pkg="foo", branches=("f43",)))["branch_commits"]["f43"]
    repo = repo_of(settings, "foo")
    root = git(repo, "rev-list", "--max-parents=0", "master")
    assert git(repo, "rev-parse", f"{b}^") == root  # f43 started at master's root commit
    assert a != b
    result = import_now(settings, make_task(3, v3, pkg="foo", branches=("f42", "f43", "master")))["branch_commits"]
    # f42 (first) gets the import; master (at root) fast-forwards; f43 diverged: reset commit, same tree.
    assert git(repo, "rev-parse", f"{result['f42']}^") == a
    assert result["master"] == result["f42"]
    assert git(repo, "rev-parse", f"{result['f43']}^") == b
    assert git(repo, "rev-parse", f"{result['f43']}^{{tree}}") == git(repo, "rev-parse", f"{result['f42']}^{{tree}}")
    assert git(repo, "log", "-1", "--format=%ad", result["f43"]) == git(
        repo, "log", "-1", "--format=%ad", result["f42"]
    )
    subprocess.run(["git", "-C", str(repo), "fsck", "--strict"], check=True, capture_output=True)


def test_invalid_branch_fails_alone(settings: Settings, srpm_factory: SrpmFactory) -> None:
    srpm = srpm_factory(name="foo")
    result = import_now(settings, make_task(1, srpm, pkg="foo", branches=("bad..name", "f43", "fedora/26")))
    assert set(result["branch_commits"]) == {"f43", "fedora/26"}
    assert "invalid branch name" in result["branch_errors"]["bad..name"]
    assert git(repo_of(settings, "foo"), "rev-parse", "fedora/26") == result["branch_commits"]["f43"]


def test_branch_name_checks_agree_with_git_branch(tmp_path: Path) -> None:
    from copr_importer.core.naming import branch_name_problem

    subprocess.run(["git", "init", "-q", "-b", "zz-initial", str(tmp_path)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(tmp_path),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@x",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ],
        check=True,
    )
    names = [
        "master",
        "f43",
        "fedora/26",
        "epel10.1",
        "a..b",
        "-x",
        "x.lock",
        "a/.b",
        "sp ace",
        "a:b",
        "x/",
        "@",
        "a@{b",
        "a//b",
        "tab\tx",
        "ok-1_2+3",
        ".hidden",
        "end.",
        "q?",
        "st*r",
        "br[",
        "back\\slash",
        "ti~",
    ]
    for name in names:
        ok = subprocess.run(["git", "-C", str(tmp_path), "branch", name], capture_output=True).returncode == 0
        problem = branch_name_problem(name)
        # Beyond git's rules, names git takes but that read as something else are refused.
        assert (problem is None) == ok or (ok and problem.startswith("reads as")), name


def test_commits_follow_build_order_per_package(settings: Settings, srpm_factory: SrpmFactory) -> None:
    spool = Spool(settings.spool_root)
    srpms = {i: srpm_factory(name="foo", version=str(i)) for i in (10, 11, 12)}
    key = "alice%2Fdemo%2Ffoo"
    for build_id in srpms:
        spool.add_ticket(key=key, build_id=build_id)
    # 12 and 11 finish their steps first; 10 is still downloading.
    for build_id in (12, 11):
        assert run_step(make_task(build_id, srpms[build_id], pkg="foo"), settings=settings, spool=spool).exit_code == 0
    writer = GitWriter(settings=settings, spool=spool)
    writer.acquire()
    try:
        assert writer.step() == 0  # blocked behind build 10
        assert run_step(make_task(10, srpms[10], pkg="foo"), settings=settings, spool=spool).exit_code == 0
        assert writer.step() == 3
    finally:
        writer.close()
    log = git(repo_of(settings, "foo"), "log", "--format=%H", "master").splitlines()
    results = dict(spool.results())
    assert log[:3] == [
        results[12]["branch_commits"]["master"],
        results[11]["branch_commits"]["master"],
        results[10]["branch_commits"]["master"],
    ]


def test_only_one_writer_per_spool(settings: Settings) -> None:
    first, second = GitWriter(settings=settings), GitWriter(settings=settings)
    first.acquire()
    try:
        with pytest.raises(WriterBusy):
            second.acquire()
    finally:
        first.close()
        second.close()


def _copr_made_repository(path: Path, *, work: Path) -> str:
    """A repository as copr-dist-git leaves it: ``git init --bare --shared``, the initial
    commit and one import pushed from a clone, then ``git gc`` (packs and packed refs);
    no root hint of ours.  Returns the root commit."""
    ident = ["-c", "user.name=CoprDistGit", "-c", "user.email=copr-devel@lists.fedorahosted.org"]
    subprocess.run(["git", "init", "-q", "--bare", "--shared", "-b", "master", str(path)], check=True)
    subprocess.run(["git", "clone", "-q", str(path), str(work)], check=True, capture_output=True)
    (work / ".gitignore").write_text("")
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(work), *ident, "commit", "-qm", "Initial setup of the repo"], check=True)
    (work / "foo.spec").write_text("Name: foo\n")
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(work), *ident, "commit", "-qm", "automatic import of foo"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "master", "master:f42"], check=True)
    subprocess.run(["git", "-C", str(path), "gc", "-q"], check=True)
    return git(path, "rev-list", "--max-parents=0", "master")


def test_imports_into_a_copr_made_repository_packed_by_git_gc(settings: Settings, srpm_factory: SrpmFactory) -> None:
    repo = repo_of(settings, "foo")
    repo.parent.mkdir(parents=True)
    root = _copr_made_repository(repo, work=settings.data_dir.parent / "copr-work")
    assert not list((repo / "refs" / "heads").iterdir()) and (repo / "packed-refs").exists()
    assert git(repo, "count-objects", "-v").splitlines()[0] == "count: 0"  # everything packed
    old_heads = {b: git(repo, "rev-parse", b) for b in ("f42", "master")}
    srpm = srpm_factory(name="foo", version="2")
    result = import_now(settings, make_task(1, srpm, pkg="foo", branches=("el9", "f42", "master")))
    commits = result["branch_commits"]
    assert result["new_repo"] is False and not result["branch_errors"]
    assert git(repo, "rev-parse", f"{commits['el9']}^") == root  # a new branch starts at the root commit
    assert git(repo, "rev-parse", f"{commits['f42']}^") == old_heads["f42"]  # on top of copr's history
    assert commits["master"] == commits["f42"]  # fast-forward
    assert (repo / ".copr-importer" / "root").read_text().strip() == root
    assert "refs/importer" not in git(repo, "ls-remote", ".")
    subprocess.run(["git", "-C", str(repo), "fsck", "--strict"], check=True, capture_output=True)


def test_an_admins_ref_lock_holds_the_import_until_it_is_gone(settings: Settings, srpm_factory: SrpmFactory) -> None:
    first = import_now(settings, make_task(1, srpm_factory(name="foo", version="1"), pkg="foo", branches=("f43",)))
    repo = repo_of(settings, "foo")
    lock = repo / "refs" / "heads" / "f43.lock"
    lock.write_text("an admin's git command\n")
    spool = Spool(settings.spool_root)
    assert (
        run_step(
            make_task(2, srpm_factory(name="foo", version="2"), pkg="foo", branches=("f43",)),
            settings=settings,
            spool=spool,
        ).exit_code
        == 0
    )
    writer = GitWriter(settings=settings, spool=spool)
    writer.acquire()
    try:
        writer.step()
        assert lock.read_text() == "an admin's git command\n"
        assert git(repo, "rev-parse", "f43") == first["branch_commits"]["f43"]
        assert 2 in spool.request_ids() and 2 not in dict(spool.results())  # transient: kept for a retry
        lock.unlink()
        # The package was deferred with a backoff; it is retried once that has passed.
        wait_until(lambda: bool(writer.step()) and 2 in dict(spool.results()), timeout=60, what="build 2 applied")
    finally:
        writer.close()
    assert git(repo, "rev-parse", "f43^") == first["branch_commits"]["f43"]
    assert dict(spool.results())[2]["branch_commits"]["f43"] == git(repo, "rev-parse", "f43")
