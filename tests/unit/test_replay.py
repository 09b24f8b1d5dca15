"""The git-writer's decision for a build it may have met before (core/replay.py)."""

from __future__ import annotations

from copr_importer.core.replay import Plan, advance, expired, plan, stale_branch_error, stale_failure


def test_a_recorded_build_is_a_repeat_whatever_the_branches_say() -> None:
    assert plan(5, branches=("f43",), recorded=True, newest={"f43": 9}) == Plan(repeat=True)
    assert plan(5, branches=("f43",), recorded=True, newest={}) == Plan(repeat=True)


def test_a_new_build_applies_every_branch_in_the_given_order() -> None:
    got = plan(7, branches=("master", "f43", "epel9"), recorded=False, newest={"master": 6, "f43": 3})
    assert got == Plan(repeat=False, apply=("master", "f43", "epel9"), stale={})


def test_branches_a_newer_build_moved_are_stale_and_the_rest_keep_their_order() -> None:
    got = plan(5, branches=("master", "f43", "f42"), recorded=False, newest={"master": 9, "f42": 4})
    assert got.apply == ("f43", "f42")  # f43 is now the first: it gets the import commit
    assert got.stale == {"master": 9}
    assert plan(5, branches=("f43",), recorded=False, newest={"f43": 6}).apply == ()


def test_the_newest_build_itself_is_applied_again_when_its_result_is_gone() -> None:
    # Applying again makes the same commits (dates come from the request), so a
    # build whose record was pruned but which is still the branch's newest is safe.
    assert plan(9, branches=("f43",), recorded=False, newest={"f43": 9}).apply == ("f43",)


def test_advance_moves_only_committed_branches_and_never_back() -> None:
    result = {"branch_commits": {"f43": "a" * 40, "master": "b" * 40}, "branch_errors": {"f42": "stale"}}
    assert advance({"master": 12, "f41": 3}, build_id=10, result=result) == {"master": 12, "f41": 3, "f43": 10}
    assert advance({}, build_id=4, result={"error": {"code": "x", "message": "y"}}) == {}


def test_stale_messages_name_the_newer_build_and_what_to_do() -> None:
    assert "build 9" in stale_branch_error(9)
    failure = stale_failure({"master": 9, "f43": 12})
    assert failure["code"] == "srpm_import_failed"
    assert "build 12" in failure["message"] and "f43, master" in failure["message"]
    assert "Resubmit" in failure["message"]


def test_expired_drops_old_and_surplus_records_but_never_the_newest() -> None:
    day = 86400.0
    recorded = {1: 0.0, 2: 5 * day, 3: 9 * day, 4: 9.5 * day}
    assert expired(recorded, now=10 * day, max_age=7 * day, max_count=100) == [1]
    assert expired(recorded, now=10 * day, max_age=7 * day, max_count=2) == [1, 2]
    assert expired({8: 0.0}, now=100 * day, max_age=day, max_count=0) == []
    assert expired({}, now=0.0, max_age=day, max_count=1) == []
