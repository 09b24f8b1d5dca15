"""At most once: the git-writer's record of applied builds, with real imports and real git.

A build handed over again (a retried Job, a worker of a killed controller) gets
its recorded result back byte for byte and touches nothing; a build older than
what a branch already holds leaves that branch alone; a request applied again
after a crash makes the same commits; branches follow the task's order.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from copr_importer.adapters.gitstore import GitStore
from copr_importer.adapters.spool import Spool
from copr_importer.app.branchcommits import NotForward, _move
from copr_importer.app.gitwriter import GitWriter
from copr_importer.app.importstep import EXIT_OK, run_step
from copr_importer.core.task import ImportTask
from copr_importer.settings import Settings
from tests.support.pipeline import git, make_task, writer_pass
from tests.support.waiting import wait_until

SrpmFactory = Callable[..., Path]
KEY = "alice%2Fdemo%2Ffoo"


def repo_of(settings: Settings, pkg: str = "foo") -> Path:
    return settings.git_root / "alice" / "demo" / f"{pkg}.git"


def hand_over(settings: Settings, task: ImportTask) -> None:
    outcome = run_step(task, settings=settings, spool=Spool(settings.spool_root))
    assert outcome.exit_code == EXIT_OK, outcome.message


def apply(settings: Settings) -> dict[int, bytes]:
    """One writer pass; then take every result file as the controller would."""
    spool = Spool(settings.spool_root)
    writer_pass(settings, spool=spool)
    taken = {b: spool.result_path(b).read_bytes() for b, _ in spool.results()}
    for build_id in taken:
        spool.remove_result(build_id)
    assert not spool.request_ids()
    return taken


def refs(settings: Settings, pkg: str = "foo") -> str:
    return git(repo_of(settings, pkg), "for-each-ref", "--format=%(refname) %(objectname)")


def commit_objects(repo: Path) -> int:
    return git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objecttype)").split().count("commit")


def test_a_late_hand_over_of_a_reported_build_gets_its_result_byte_for_byte(
    settings: Settings, srpm_factory: SrpmFactory
) -> None:
    v1, v2 = srpm_factory(name="foo", version="1"), srpm_factory(name="foo", version="2")
    hand_over(settings, make_task(1, v1, pkg="foo", branches=("f43", "master")))
    first = apply(settings)[1]
    hand_over(settings, make_task(2, v2, pkg="foo", branches=("f43", "master")))
    apply(settings)
    before, objects = refs(settings), commit_objects(repo_of(settings))
    # Build 1's Job is retried after its pod died past the hand-over: its request
    # is long gone and a newer build was applied since.
    hand_over(settings, make_task(1, v1, pkg="foo", branches=("f43", "master")))
    assert apply(settings) == {1: first}
    assert refs(settings) == before and commit_objects(repo_of(settings)) == objects
    assert "applied before; handing back its recorded result" in (settings.log_root / "1.log").read_text()
    # And while its first request still waits, a second hand-over is discarded.
    hand_over(settings, make_task(3, v1, pkg="foo", branches=("f43",)))
    hand_over(settings, make_task(3, v1, pkg="foo", branches=("f43",)))
    assert "keeping the earlier request" in (settings.log_root / "3.log").read_text()
    assert list(apply(settings)) == [3]


def test_an_older_build_arriving_late_leaves_the_newer_branches_alone(
    settings: Settings, srpm_factory: SrpmFactory
) -> None:
    srpms = {v: srpm_factory(name="foo", version=str(v)) for v in (10, 11, 12)}
    hand_over(settings, make_task(12, srpms[12], pkg="foo", branches=("master", "f43")))
    new = json.loads(apply(settings)[12])["branch_commits"]
    # Build 11's SRPM build finished later: it reaches the importer after 12.
    hand_over(settings, make_task(11, srpms[11], pkg="foo", branches=("f43", "f42")))
    late = json.loads(apply(settings)[11])
    assert set(late["branch_commits"]) == {"f42"}  # the first branch left gets the import commit
    assert "build 12" in late["branch_errors"]["f43"]
    repo = repo_of(settings)
    assert git(repo, "rev-parse", "f43") == new["f43"] and git(repo, "rev-parse", "master") == new["master"]
    assert "Version: 11" in git(repo, "show", f"{late['branch_commits']['f42']}:foo.spec")
    # Build 10 is older than everything on its only branch: it fails, and says what to do.
    before = refs(settings)
    hand_over(settings, make_task(10, srpms[10], pkg="foo", branches=("master",)))
    failed = apply(settings)[10]
    error = json.loads(failed)["error"]
    assert error["code"] == "srpm_import_failed"
    assert "build 12" in error["message"] and "Resubmit the build" in error["message"]
    assert refs(settings) == before
    hand_over(settings, make_task(10, srpms[10], pkg="foo", branches=("master",)))
    assert apply(settings) == {10: failed}  # its repeat is byte-identical too
    record = settings.spool_root / "applied" / KEY
    assert json.loads((record / "branches.json").read_text()) == {"master": 12, "f43": 12, "f42": 11}


def test_the_first_branch_as_sent_gets_the_import_commit(settings: Settings, srpm_factory: SrpmFactory) -> None:
    v1, v2, v3 = (srpm_factory(name="foo", version=str(v)) for v in (1, 2, 3))
    hand_over(settings, make_task(1, v1, pkg="foo", branches=("f42",)))
    hand_over(settings, make_task(2, v2, pkg="foo", branches=("f43",)))
    apply(settings)
    a, b = git(repo_of(settings), "rev-parse", "f42"), git(repo_of(settings), "rev-parse", "f43")
    # The frontend sends f43 first (not sorted order): f43 gets the import on top
    # of its own history, and f42 a commit that resets its tree to the same one.
    hand_over(settings, make_task(3, v3, pkg="foo", branches=("f43", "f42")))
    commits = json.loads(apply(settings)[3])["branch_commits"]
    repo = repo_of(settings)
    assert git(repo, "rev-parse", f"{commits['f43']}^") == b
    assert git(repo, "rev-parse", f"{commits['f42']}^") == a
    assert git(repo, "rev-parse", f"{commits['f42']}^{{tree}}") == git(repo, "rev-parse", f"{commits['f43']}^{{tree}}")


def test_a_request_applied_again_after_a_crash_makes_the_same_commits(
    settings: Settings, srpm_factory: SrpmFactory, tmp_path: Path
) -> None:
    hand_over(settings, make_task(1, srpm_factory(name="foo", version="1"), pkg="foo", branches=("f43", "master")))
    apply(settings)
    spool = Spool(settings.spool_root)
    hand_over(settings, make_task(2, srpm_factory(name="foo", version="2"), pkg="foo", branches=("f42", "master")))
    saved = tmp_path / "request-2"
    shutil.copytree(spool.request_dir(2), saved)
    heads = {b: git(repo_of(settings), "rev-parse", b) for b in ("f43", "master")}
    first = json.loads(apply(settings)[2])["branch_commits"]
    objects = commit_objects(repo_of(settings))  # setup, build 1, build 2 on f42, its reset commit on master
    # As if killed after the commits but before the refs and the record: the same
    # request is there again, in a later second.
    for branch, sha in heads.items():
        git(repo_of(settings), "update-ref", f"refs/heads/{branch}", sha)
    git(repo_of(settings), "update-ref", "-d", "refs/heads/f42")
    (settings.spool_root / "applied" / KEY / "2.json").unlink()
    (settings.spool_root / "applied" / KEY / "branches.json").write_text(json.dumps({"f43": 1, "master": 1}))
    shutil.copytree(saved, spool.request_dir(2))
    time.sleep(1.1)  # the clock has moved on; the commits must not
    assert json.loads(apply(settings)[2])["branch_commits"] == first
    assert commit_objects(repo_of(settings)) == objects == 4


def test_a_branch_never_moves_to_a_commit_that_does_not_descend_from_its_head(settings: Settings) -> None:
    repo, _ = GitStore(settings.git_root, settings=settings.git).open(owner="alice", project="demo", pkg="foo")
    root = repo.root_commit()
    empty = repo.write_tree({})
    ours = repo.commit(tree=empty, parents=(root,), message="ours")
    theirs = repo.commit(tree=empty, parents=(root,), message="theirs")
    repo.set_branch("f43", sha=ours)
    with pytest.raises(NotForward):
        _move(repo, "f43", head=ours, new=theirs, made={})
    with pytest.raises(NotForward):
        _move(repo, "f43", head=ours, new=root, made={})  # backwards
    assert repo.branch("f43") == ours
    child = repo.commit(tree=empty, parents=(ours,), message="child")
    _move(repo, "f43", head=ours, new=child, made={})
    assert repo.branch("f43") == child
    with pytest.raises(NotForward):  # what a commit was made with is what counts
        _move(repo, "f43", head=child, new=theirs, made={theirs: (root,)})
    assert repo.branch("f43") == child
    repo.close()


def test_clashing_branch_names_fail_alone(settings: Settings, srpm_factory: SrpmFactory) -> None:
    hand_over(settings, make_task(1, srpm_factory(name="foo"), pkg="foo", branches=("fedora", "fedora/26", "f43")))
    result = json.loads(apply(settings)[1])
    assert set(result["branch_commits"]) == {"fedora", "f43"}
    assert "cannot have both" in result["branch_errors"]["fedora/26"]


def test_an_incomplete_request_fails_its_build_and_a_broken_repository_waits(
    settings: Settings, srpm_factory: SrpmFactory
) -> None:
    spool = Spool(settings.spool_root)
    hand_over(settings, make_task(1, srpm_factory(name="foo"), pkg="foo"))
    (spool.request_dir(1) / "files" / "foo.spec").unlink()
    # bar's repository path is taken by a stray file: not the build's fault.
    bar = repo_of(settings, "bar")
    bar.parent.mkdir(parents=True)
    bar.write_text("not a repository")
    hand_over(settings, make_task(2, srpm_factory(name="bar"), pkg="bar"))
    hand_over(settings, make_task(3, srpm_factory(name="baz"), pkg="baz"))
    writer = GitWriter(settings=settings, spool=spool)
    writer.acquire()
    try:
        assert writer.step() == 2  # foo (failed) and baz; bar waits
        results = dict(spool.results())
        assert "incomplete hand-over request" in results[1]["error"]["message"]
        assert results[3]["branch_commits"]
        assert 2 not in results and spool.request_ids() == [2]
        problem, _since = spool.read_writer_health()
        assert problem is not None and "build 2" in problem
        bar.unlink()  # the operator removes it; the writer tries again after its backoff
        wait_until(lambda: writer.step() == 1, timeout=60, what="bar to be applied")
        assert dict(spool.results())[2]["branch_commits"]
        assert spool.read_writer_health()[0] is None
    finally:
        writer.close()
    subprocess.run(["git", "-C", str(bar), "fsck", "--strict"], check=True, capture_output=True)


def test_a_new_writer_clears_the_problem_a_killed_one_left(settings: Settings) -> None:
    spool = Spool(settings.spool_root)
    spool.write_writer_health("storage refused a write: no space left on device", since=1.0)
    writer_pass(settings, spool=spool)  # nothing to do, and nothing fails
    assert spool.read_writer_health() == (None, 0.0)
