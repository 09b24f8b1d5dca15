"""The git-writer's durable record of what it applied, per package::

    spool/applied/<package-key>/
      branches.json      {branch: the newest build that moved it}
      <build_id>.json    the result published for that build, as published

Only the git-writer writes here (it holds the spool's writer lock), and only in
its publishing step, after the batch's commits and refs are synced and before
the batch's results are written; files are replaced atomically (temporary name,
rename) and reach the disk with the same filesystem sync as the results, before
any request is removed.  So whatever is killed when, a recorded build has its
commits on disk, and a request that is still in the spool is either unrecorded
(it is applied again, which makes the same commits) or recorded (its result is
handed back).  ``branches.json`` is written before the result file: a kill
between the two leaves the build unrecorded, never recorded without its
branches.  See :mod:`copr_importer.core.replay` for how the record is used.

Retention: a build's result is kept ``max_age`` seconds (GitSettings.record_days)
and at most ``max_count`` per package (GitSettings.record_builds), the newest
always; ``branches.json`` is kept for as long as the package is imported.  A
late hand-over of a build whose result is gone is treated as a new build: stale
on the branches newer builds moved, applied (making the same commits) on the
others.  Pruning runs while a package is recorded, at most once an hour each.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..core import replay
from . import atomicfile, failpoint

__all__ = ["AppliedLog"]

BRANCHES = "branches.json"
_PRUNE_EVERY = 3600.0
_CACHED_PACKAGES = 4096


def _load(path: Path) -> Any:
    with open(path, "rb") as f:
        return json.load(f)


class AppliedLog:
    """The record under ``root`` (``spool/applied``)."""

    def __init__(self, root: Path, *, max_age: float, max_count: int) -> None:
        self.root = root
        self.max_age = max_age
        self.max_count = max_count
        self._newest: dict[str, dict[str, int]] = {}
        self._pruned: dict[str, float] = {}

    def result(self, key: str, build_id: int) -> dict[str, Any] | None:
        """The recorded result of ``build_id``, or None."""
        try:
            value: dict[str, Any] = _load(self.root / key / f"{build_id}.json")
        except FileNotFoundError:
            return None
        return value

    def newest(self, key: str) -> dict[str, int]:
        """Per branch, the newest build of this package that moved it."""
        if key not in self._newest:
            try:
                raw = _load(self.root / key / BRANCHES)
                found = {str(b): int(i) for b, i in raw.items()}
            except FileNotFoundError:
                found = {}
            if len(self._newest) >= _CACHED_PACKAGES:
                del self._newest[next(iter(self._newest))]
            self._newest[key] = found
        return self._newest[key]

    def record(self, key: str, build_id: int, *, result: dict[str, Any], now: float) -> None:
        """Remember ``result`` as build ``build_id``'s (not synced: the caller syncs the batch)."""
        folder = self.root / key
        before = self.newest(key)
        after = replay.advance(before, build_id=build_id, result=result)
        if after != before:
            atomicfile.write_json(folder / BRANCHES, value=after, durable=False)
            self._newest[key] = after
            failpoint.reached()
        path = folder / f"{build_id}.json"
        if not path.exists():
            atomicfile.write_json(path, value=result, durable=False)
        if now - self._pruned.get(key, float("-inf")) >= _PRUNE_EVERY:
            self._prune(key, now=now)

    def _prune(self, key: str, *, now: float) -> None:
        folder = self.root / key
        recorded_at: dict[int, float] = {}
        for name in os.listdir(folder):
            stem = name.removesuffix(".json")
            if name.startswith(".") and ".tmp-" in name:
                (folder / name).unlink(missing_ok=True)  # a killed writer's; this one writes no other
            elif stem != name and stem.isdigit():
                try:
                    recorded_at[int(stem)] = os.stat(folder / name).st_mtime
                except FileNotFoundError:
                    continue
        for build_id in replay.expired(recorded_at, now=now, max_age=self.max_age, max_count=self.max_count):
            (folder / f"{build_id}.json").unlink(missing_ok=True)
        if len(self._pruned) >= _CACHED_PACKAGES:
            del self._pruned[next(iter(self._pruned))]
        self._pruned[key] = now
