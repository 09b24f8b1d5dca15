"""Throughput window, ETA and the status text (core/progress.py)."""

from __future__ import annotations

from typing import Any

import pytest

from copr_importer.core.progress import Throughput, eta_seconds, format_duration, render_status


def test_throughput_counts_only_the_window() -> None:
    rate = Throughput(window=60)
    for t in (0.0, 10.0, 30.0, 59.0):
        rate.add(t)
    assert rate.count(59.0) == 4
    assert rate.count(70.0) == 2  # 0 and 10 fell out of (10, 70]
    assert rate.per_minute(now=70.0, running_for=1000.0) == pytest.approx(2.0)


def test_throughput_over_a_short_uptime_is_not_diluted() -> None:
    rate = Throughput(window=300)
    rate.add(5.0)
    rate.add(9.0)
    # Two imports in the first 30 s is 4/min, not 2 per 5 minutes.
    assert rate.per_minute(now=30.0, running_for=30.0) == pytest.approx(4.0)
    assert rate.per_minute(now=0.0, running_for=0.0) == 0.0


def test_a_window_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Throughput(window=0)


def test_eta() -> None:
    assert eta_seconds(backlog=0, per_minute=0.0) == 0.0
    assert eta_seconds(backlog=10, per_minute=0.0) is None
    assert eta_seconds(backlog=30, per_minute=10.0) == pytest.approx(180.0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0, "0s"), (44.6, "45s"), (185, "3m05s"), (7620, "2h07m"), (273_600, "3d04h"), (-3, "0s")],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def status(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": "9.9",
        "mode": "embedded",
        "ready": True,
        "uptime_seconds": 125.0,
        "queue": {"pending": 7, "active": 2, "limit": 4},
        "writer_backlog": 1,
        "throughput": {"window_seconds": 300.0, "span_seconds": 300.0, "imports": 6, "per_minute": 3.0},
        "eta_seconds": 180.0,
        "totals": {"succeeded": 5, "failed": 1},
        "recent_failures": [
            {"build_id": 12, "package": "a/b/evil", "error": "unsafe_srpm", "message": "a link", "age_seconds": 61}
        ],
    }
    doc.update(changes)
    return doc


def test_render_status() -> None:
    text = "\n".join(render_status(status()))
    assert "copr-importer 9.9 (embedded), up 2m05s" in text
    assert "7 pending" in text
    assert "2/4 [##########..........]" in text
    assert "3.0 imports/min (last 5m00s)" in text
    assert "eta        3m00s" in text
    assert "5 imported, 1 failed" in text
    assert "12  a/b/evil" in text and "unsafe_srpm: a link  (1m01s ago)" in text
    assert "NOT READY" not in text


def test_render_status_when_not_ready_and_nothing_moves() -> None:
    lines = render_status(status(ready=False, eta_seconds=None, recent_failures=[]))
    assert lines[0].endswith("NOT READY")
    assert "eta        -" in lines
    assert not any("recent failures" in line for line in lines)


def test_render_status_with_n_zero() -> None:
    lines = render_status(status(queue={"pending": 3, "active": 0, "limit": 0}))
    assert any(line.startswith("running    0/0 [") for line in lines)


def test_render_status_names_problems_unsent_reports_and_frontend_errors() -> None:
    problem = {"component": "frontend-auth", "reason": "frontend rejected the password: HTTP 401", "since_seconds": 75}
    lines = render_status(
        status(
            ready=False,
            problems=[problem],
            reports={"unsent": 4, "oldest_seconds": 130.0},
            frontend_errors={"refused": 3, "http_auth": 2},
        )
    )
    assert "reports    4 unsent, oldest 2m10s" in lines
    assert "frontend   errors: http_auth 2, refused 3" in lines
    assert "PROBLEM    frontend-auth: frontend rejected the password: HTTP 401  (for 1m15s)" in lines
    quiet = render_status(status(problems=[], reports={"unsent": 0, "oldest_seconds": None}, frontend_errors={}))
    assert not any(line.startswith(("reports", "frontend", "PROBLEM")) for line in quiet)
