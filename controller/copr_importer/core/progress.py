"""Progress arithmetic for the status view: throughput over a window, ETA, and its text.

Pure: callers pass times (a monotonic clock) and the status document; nothing
here reads a clock or does I/O.  The status document is what the controller's
``/status`` endpoint serves (see ``app/telemetry.py``); :func:`render_status`
turns it into the lines ``copr-importer status`` prints.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

__all__ = ["Throughput", "eta_seconds", "format_duration", "render_status"]


class Throughput:
    """Completions in the last ``window`` seconds (a sliding window of timestamps)."""

    def __init__(self, *, window: float, keep: int = 100_000) -> None:
        if window <= 0:
            raise ValueError("the throughput window must be positive")
        self.window = window
        self._times: deque[float] = deque(maxlen=keep)  # bounded even at absurd rates

    def add(self, now: float) -> None:
        self._times.append(now)

    def count(self, now: float) -> int:
        """Completions in ``(now - window, now]``; older ones are dropped."""
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        return len(self._times)

    def per_minute(self, *, now: float, running_for: float) -> float:
        """Completions per minute, over the window or over the uptime when shorter."""
        span = min(self.window, running_for)
        if span <= 0:
            return 0.0
        return self.count(now) * 60.0 / span


def eta_seconds(*, backlog: int, per_minute: float) -> float | None:
    """Seconds to drain ``backlog`` at ``per_minute``; 0 when empty, None when nothing moves."""
    if backlog <= 0:
        return 0.0
    if per_minute <= 0:
        return None
    return backlog * 60.0 / per_minute


def format_duration(seconds: float | None) -> str:
    """``"-"`` for unknown, else the two largest units: 45s, 3m05s, 2h07m, 3d04h."""
    if seconds is None:
        return "-"
    whole = max(0, round(seconds))
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _bar(active: int, limit: int, width: int = 20) -> str:
    if limit <= 0:
        return "[" + " " * width + "]"
    filled = min(width, round(width * active / limit))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def render_status(status: Mapping[str, Any], *, failures: int = 10) -> list[str]:
    """The status document as lines of text (no colours, no cursor control)."""
    queue, rate = status["queue"], status["throughput"]
    lines = [
        f"copr-importer {status['version']} ({status['mode']}), up {format_duration(status['uptime_seconds'])}"
        + ("" if status["ready"] else "  NOT READY"),
        f"queue      {queue['pending']} pending",
        f"running    {queue['active']}/{queue['limit']} {_bar(queue['active'], queue['limit'])}",
        f"writer     {status['writer_backlog']} waiting to be committed",
        f"throughput {rate['per_minute']:.1f} imports/min (last {format_duration(rate['span_seconds'])})",
        f"eta        {format_duration(status['eta_seconds'])}",
        f"done       {status['totals']['succeeded']} imported, {status['totals']['failed']} failed",
    ]
    reports = status.get("reports") or {}
    if reports.get("unsent"):
        lines.append(f"reports    {reports['unsent']} unsent, oldest {format_duration(reports.get('oldest_seconds'))}")
    errors = status.get("frontend_errors") or {}
    if errors:
        lines.append("frontend   errors: " + ", ".join(f"{kind} {count}" for kind, count in sorted(errors.items())))
    for problem in status.get("problems") or []:
        lines.append(
            f"PROBLEM    {problem['component']}: {problem['reason']}"
            + f"  (for {format_duration(problem['since_seconds'])})"
        )
    recent = list(status["recent_failures"])[:failures]
    if recent:
        lines.append("recent failures:")
        for failure in recent:
            lines.append(
                f"  {failure['build_id']:>8}  {failure['package']:<40}  {failure['error']}: {failure['message']}"
                + f"  ({format_duration(failure['age_seconds'])} ago)"
            )
    return lines
