"""Results become copr's report bodies and the log lines an operator reads."""

from __future__ import annotations

from copr_importer.app.reports import finished_line, report_for, stopped_line
from copr_importer.app.storagehealth import looks_like_storage_fault

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


def test_one_line_per_finished_build() -> None:
    imported = {"build_id": 7, "reponame": "o/p/k", "branch_commits": {"master": "b" * 40, "f43": SHA}}
    assert finished_line(imported, package=None) == f"build 7 imported o/p/k: f43 {SHA}, master {'b' * 40}"
    partial = imported | {"branch_errors": {"x..y": "invalid branch name"}}
    assert finished_line(partial, package=None).endswith("; failed branches: x..y: invalid branch name")
    failed = {"build_id": 8, "error": "unsafe_srpm", "error_message": "a link"}
    assert finished_line(failed, package="o/p/evil") == "build 8 failed (unsafe_srpm) o/p/evil: a link"
    assert finished_line(failed, package=None) == "build 8 failed (unsafe_srpm): a link"
    line = stopped_line([imported, failed], unsent=1, running=2)
    assert line.startswith("copr-importer stopped: 2 builds reported in this run (1 imported, 1 failed)")
    assert "1 reports unsent, 2 imports interrupted" in line


def test_failures_caused_by_the_disk_are_recognised() -> None:
    for message in (
        "OSError: [Errno 28] No space left on device: '/data/spool/incoming/5.x/files/a'",
        "StorageError: cannot write the request: read-only file system",
        "OSError: [Errno 30] Read-only file system",
        "OSError: [Errno 5] Input/output error",
        "storage refused a write of the import: no space left on device (/data/spool/incoming/5.x)",
    ):
        assert looks_like_storage_fault(message), message
    for message in ("worker died with exit code -9", "TypeError: bad header", "import_timeout_exceeded: killed"):
        assert not looks_like_storage_fault(message), message
