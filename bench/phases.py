"""Reading a phase trace (``COPR_IMPORTER_TRACE``, ``adapters/phasetrace.py``): where each import's time went.

:func:`read_trace` gives, per build, the first time it reached each phase;
:func:`breakdown` the median and 90th percentile of each hop between two phases, in
milliseconds, and :func:`slot_gaps` how long a worker slot stood empty between two
steps (the serial waits that cost throughput: a step's end seen, the next task
confirmed and started).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from copr_importer.adapters.phasetrace import PHASES

__all__ = ["HOPS", "breakdown", "read_trace", "slot_gaps"]

Trace = dict[int, dict[str, float]]

HOPS = (
    ("queued", "polled", "queued -> seen in a poll"),
    ("polled", "confirming", "seen -> picked (waits for a free slot)"),
    ("confirming", "confirmed", "confirmation round trip (get-import-task)"),
    ("confirmed", "dispatched", "confirmed -> handed to the executor"),
    ("dispatched", "step_started", "executor -> worker begins"),
    ("step_started", "handed_over", "import step: download, unpack, lookaside, hand-over"),
    ("handed_over", "step_done", "hand-over -> step's end"),
    ("step_done", "step_seen", "step's end -> controller sees it"),
    ("handed_over", "committed", "hand-over -> git-writer's result durable"),
    ("committed", "collected", "result -> report in the outbox"),
    ("collected", "reported", "outbox -> frontend answered the report"),
    ("queued", "reported", "whole: queued -> reported"),
    ("step_started", "reported", "step begins -> reported"),
)


def read_trace(path: Path, *, queued: dict[int, float] | None = None) -> Trace:
    """``build -> phase -> first time`` from a trace file; ``queued`` adds when each was queued."""
    seen: Trace = defaultdict(dict)
    for build_id, at in (queued or {}).items():
        seen[build_id]["queued"] = at
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) != 3 or parts[2] not in PHASES:
                continue
            phases = seen[int(parts[1])]
            phases.setdefault(parts[2], float(parts[0]))
    return dict(seen)


def _quantiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
    return {"median_ms": round(1000 * statistics.median(values), 1), "p90_ms": round(1000 * p90, 1)}


def breakdown(trace: Trace) -> list[dict[str, Any]]:
    """Each hop of :data:`HOPS` that the trace has: its median and p90 over the builds."""
    rows = []
    for start, end, what in HOPS:
        spans = [p[end] - p[start] for p in trace.values() if start in p and end in p]
        if spans:
            rows.append({"hop": what, "from": start, "to": end, "imports": len(spans), **_quantiles(spans)})
    return rows


def slot_gaps(trace: Trace, *, workers: int, wall: float) -> dict[str, float]:
    """Slot time (``workers`` times ``wall``) per import, split into the steps' own time and the rest."""
    steps = [p["step_done"] - p["step_started"] for p in trace.values() if "step_started" in p and "step_done" in p]
    if not steps:
        return {}
    slot_ms = 1000 * workers * wall / len(steps)
    step_ms = 1000 * sum(steps) / len(steps)
    idle_ms = slot_ms - step_ms
    return {"slot_ms_per_import": round(slot_ms, 1), "step_ms": round(step_ms, 1), "idle_ms": round(idle_ms, 1)}
