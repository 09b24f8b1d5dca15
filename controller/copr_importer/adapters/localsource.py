"""A task source without Copr: SRPM paths or URLs from the command line or a file.

A task file is a JSON array of copr task records, or of shorter records that
give ``srpm_url`` (or ``source_type`` and ``source_json``) and let the rest
default (owner, project, package from the SRPM's file name or the source,
branches, sandbox).  Build ids that are not given are taken
from a counter under the data directory, so every local run looks like new
builds.  Reports are written to ``<data>/reports/<build_id>.json``.
"""

from __future__ import annotations

import fcntl
import json
import re
from pathlib import Path
from typing import Any

from ..core.sourcespec import default_package_name, parse_source
from ..core.task import ImportTask, MalformedTask, parse_task
from ..errors import BadInputError
from . import atomicfile

__all__ = ["LocalSource", "guess_package_name"]

_NVR = re.compile(r"^(?P<name>.+)-[^-]+-[^-]+\.src\.rpm$")


def guess_package_name(srpm: str) -> str:
    """``foo-bar-1.0-1.fc40.src.rpm`` → ``foo-bar``."""
    base = srpm.rstrip("/").rsplit("/", 1)[-1]
    match = _NVR.match(base)
    return match["name"] if match else base.removesuffix(".src.rpm")


def _package_name(record: dict[str, Any]) -> str:
    """From the SRPM's file name, or from the source a record names (left to
    :func:`parse_task` to reject when the source is invalid)."""
    if "source_type" in record:
        try:
            return default_package_name(parse_source(record["source_type"], record.get("source_json")))
        except BadInputError:
            return "unknown"
    return guess_package_name(str(record.get("srpm_url", "")))


class LocalSource:
    """An in-memory queue fed at start-up; reports land in files."""

    def __init__(self, *, data_dir: Path, records: list[dict[str, Any]], defaults: dict[str, Any]) -> None:
        self.data_dir = data_dir
        self.reports_dir = data_dir / "reports"
        self.queue: dict[int, ImportTask] = {}
        self.rejected: list[MalformedTask] = []
        self.rejected_at_start: list[MalformedTask] = []
        self.reports: dict[int, dict[str, Any]] = {}
        for record in records:
            full = {**defaults, **record}
            full.setdefault("pkg_name", _package_name(full))
            full.setdefault("sandbox", f"{full.get('owner')}/{full.get('project')}--local")
            if "build_id" not in full:
                full["build_id"] = self._next_build_id()
            try:
                task = parse_task(full)
            except MalformedTask as exc:
                self.rejected.append(exc)
                continue
            self.queue[task.build_id] = task

    @classmethod
    def from_file(cls, path: Path, *, data_dir: Path, defaults: dict[str, Any]) -> LocalSource:
        records = json.loads(path.read_text())
        if not isinstance(records, list):
            raise ValueError(f"{path}: expected a JSON array of task records")
        return cls(data_dir=data_dir, records=records, defaults=defaults)

    def _next_build_id(self) -> int:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / "local-build-id", "a+") as counter:
            fcntl.flock(counter, fcntl.LOCK_EX)
            counter.seek(0)
            value = int(counter.read().strip() or "0") + 1
            counter.seek(0)
            counter.truncate()
            counter.write(str(value))
        return value

    def fetch_queue(self) -> tuple[list[ImportTask], list[MalformedTask]]:
        rejected, self.rejected = self.rejected, []
        return list(self.queue.values()), rejected

    def confirm(self, build_id: int) -> ImportTask | None:
        return self.queue.get(build_id)

    def deliver(self, report: dict[str, Any]) -> None:
        build_id = int(report["build_id"])
        # A local report is a convenience copy; the result is already in git.
        atomicfile.write_json(self.reports_dir / f"{build_id}.json", value=report, durable=False)
        self.reports[build_id] = report
        self.queue.pop(build_id, None)
