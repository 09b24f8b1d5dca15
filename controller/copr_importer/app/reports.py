"""A result as the frontend's report, and as the log lines an operator reads: one per
finished build, and one when the controller stops."""

from __future__ import annotations

from typing import Any

__all__ = ["finished_line", "report_for", "stopped_line"]


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


def stopped_line(reports: list[dict[str, Any]], *, unsent: int, running: int) -> str:
    """``copr-importer stopped: 12 builds reported in this run (11 imported, 1 failed), ...``."""
    imported = sum(1 for r in reports if r.get("branch_commits"))
    return (
        f"copr-importer stopped: {len(reports)} builds reported in this run ({imported} imported, "
        f"{len(reports) - imported} failed), {unsent} reports unsent, {running} imports interrupted "
        "(they run again next time)"
    )
