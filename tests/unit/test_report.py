"""Results become copr's report bodies."""

from __future__ import annotations

from copr_importer.app.reports import report_for

SHA = "a" * 40


def test_success() -> None:
    result = {"build_id": 1, "reponame": "o/p/k", "branch_commits": {"f43": SHA}, "branch_errors": {}}
    assert report_for(result) == {"build_id": 1, "branch_commits": {"f43": SHA}, "reponame": "o/p/k"}


def test_partial_success_names_the_failed_branch() -> None:
    result = {"build_id": 1, "reponame": "o/p/k", "branch_commits": {"f43": SHA}, "branch_errors": {"x..y": "bad"}}
    assert report_for(result)["branch_errors"] == {"x..y": "bad"}


def test_failure_carries_code_and_message() -> None:
    result = {"build_id": 2, "error": {"code": "unsafe_srpm", "message": "symlink"}}
    assert report_for(result) == {"build_id": 2, "error": "unsafe_srpm", "error_message": "symlink"}
