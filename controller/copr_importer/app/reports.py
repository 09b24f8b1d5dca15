"""A result as the frontend's report, and as the one log line an operator reads per build."""

from __future__ import annotations

from typing import Any

__all__ = ["finished_line", "report_for"]


def report_for(result: dict[str, Any]) -> dict[str, Any]:
    """The frontend's body for a result: copr's keys plus our extras (copr ignores extras)."""
    report: dict[str, Any] = {"build_id": result["build_id"]}
    commits = result.get("branch_commits") or {}
    if commits:
        report["branch_commits"] = commits
        report["reponame"] = result["reponame"]
        if result.get("branch_errors"):
            report["branch_errors"] = result["branch_errors"]
    else:
        error = result.get("error") or {"code": "srpm_import_failed", "message": "unknown failure"}
        report["error"] = error["code"]
        report["error_message"] = error["message"]
    return report


def finished_line(report: dict[str, Any], *, package: str | None) -> str:
    """``build 7 imported alice/demo/foo: f43 1a2b..., master 1a2b...`` or ``build 7 failed (code): why``."""
    build_id, name = report["build_id"], package or report.get("reponame")
    commits = report.get("branch_commits")
    if not commits:
        what = f" {name}" if name else ""
        return f"build {build_id} failed ({report.get('error')}){what}: {report.get('error_message')}"
    branches = ", ".join(f"{branch} {sha}" for branch, sha in sorted(commits.items()))
    line = f"build {build_id} imported {name}: {branches}"
    errors = report.get("branch_errors") or {}
    if errors:
        line += "; failed branches: " + "; ".join(f"{b}: {e}" for b, e in sorted(errors.items()))
    return line
