"""The hand-over area on the shared volume: requests, results and ordering tickets.

Import steps (local workers or Kubernetes Jobs), the git-writer and the
controller share one directory and communicate only through renames in it::

    spool/
      incoming/<id>.<nonce>/      a request being written by an import step
      requests/<id>/              a complete request: request.json + files/
      results/<id>.json           the outcome, written by the writer or the step
      tickets/<package-key>/<id>  "build <id> of this package is on its way"
      applied/<package-key>/      the git-writer's record of what it applied (appliedlog.py)
      writer-health.json          the git-writer's open problem (disk full...), or none
      writer.bell, results.bell   doorbells (FIFOs, ``adapters/doorbell.py``): rung after a
                                  hand-over (the writer listens) and after results are
                                  published (the embedded controller listens)

* A request becomes visible by one ``rename(2)`` of a complete directory, so the
  writer never sees half a request.  A second hand-over of the same build id
  finds the first in place and is discarded (at most one request per build).
* The controller files a ticket before it starts a task and removes it after
  reporting the result.  The writer commits build ``b`` of a package only when
  no lower ticket of that package lacks a result, so commits follow build-id
  order while waiting costs no worker slot.
* Results are written atomically and removed only after they are reported.
* A request is removed by renaming it to a hidden name first, so it is either
  complete or gone; a ticket directory goes with its last ticket, and
  :meth:`Spool.add_ticket` makes it again if it went between its two steps.
* Leftovers of killed processes (staging directories, temporaries, removed
  requests) are swept by the git-writer, which holds the spool's lock: only
  those last changed before a given time, because in Kubernetes an import pod
  may still be writing its staging directory (see ``app/leftovers.py``).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core import naming
from . import atomicfile, doorbell, failpoint, phasetrace

__all__ = ["RESULTS_BELL", "WRITER_BELL", "Spool", "package_key_for"]

REQUEST_FILE = "request.json"
FILES_DIR = "files"
WRITER_HEALTH = "writer-health.json"
WRITER_BELL = "writer.bell"  # a request was handed over
RESULTS_BELL = "results.bell"  # the writer published results


def package_key_for(record: dict[str, Any]) -> str:
    """The ticket key for a task record."""
    return naming.package_key(owner=record["owner"], project=record["project"], pkg=record["pkg_name"])


@dataclass(frozen=True, slots=True)
class Spool:
    """Paths and atomic operations of the hand-over area under ``root``."""

    root: Path
    durable: bool = True

    def __post_init__(self) -> None:
        for sub in ("incoming", "requests", "results", "tickets", "applied"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # --- import step side ---------------------------------------------------

    def stage(self, build_id: int) -> Path:
        """A fresh private directory to build a request in."""
        path = self.root / "incoming" / f"{build_id}.{uuid.uuid4().hex}"
        (path / FILES_DIR).mkdir(parents=True)
        return path

    def hand_over(self, staging: Path, *, build_id: int, request: dict[str, Any]) -> bool:
        """Publish ``staging`` as the request of ``build_id``; False if one exists already."""
        atomicfile.write_json(staging / REQUEST_FILE, value=request, durable=self.durable)
        target = self.request_dir(build_id)
        try:
            os.rename(staging, target)
        except OSError:
            if target.exists():
                shutil.rmtree(staging, ignore_errors=True)
                return False
            raise
        if self.durable:
            atomicfile.fsync_dir(target.parent)
        phasetrace.mark(build_id, "handed_over")
        doorbell.ring(self.root / WRITER_BELL)  # published: the writer need not wait for its next scan
        return True

    def discard(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)

    # --- writer side --------------------------------------------------------

    def request_dir(self, build_id: int) -> Path:
        return self.root / "requests" / str(build_id)

    def request_ids(self) -> list[int]:
        return sorted(int(p) for p in os.listdir(self.root / "requests") if p.isdigit())

    def load_request(self, build_id: int) -> dict[str, Any]:
        with open(self.request_dir(build_id) / REQUEST_FILE, "rb") as f:
            value: dict[str, Any] = json.load(f)
        return value

    def complete(self, build_id: int, *, result: dict[str, Any]) -> None:
        """Record the outcome, then drop the request (in this order, for crash safety)."""
        self.write_result(build_id, result=result)
        failpoint.reached()
        self.remove_request(build_id)

    def remove_request(self, build_id: int) -> None:
        """Drop a request in one rename (a crash leaves it whole or gone), then delete it."""
        gone = self.root / "requests" / f".{build_id}.gone-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(self.request_dir(build_id), gone)
        except FileNotFoundError:
            return
        shutil.rmtree(gone)

    def handed_over_at(self, build_id: int) -> float:
        """When the request was published (its request.json was written)."""
        return os.stat(self.request_dir(build_id) / REQUEST_FILE).st_mtime

    def is_blocked(self, *, key: str, build_id: int) -> bool:
        """True while an earlier build of the same package has no result yet."""
        return any(t < build_id and not self.has_result(t) for t in self.tickets(key))

    # --- results ------------------------------------------------------------

    def result_path(self, build_id: int) -> Path:
        return self.root / "results" / f"{build_id}.json"

    def write_result(self, build_id: int, *, result: dict[str, Any], durable: bool | None = None) -> None:
        """Publish an outcome atomically (``durable=False``: the caller syncs later)."""
        atomicfile.write_json(
            self.result_path(build_id), value=result, durable=self.durable if durable is None else durable
        )

    def has_result(self, build_id: int) -> bool:
        return self.result_path(build_id).exists()

    def results(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for name in sorted(os.listdir(self.root / "results")):
            if name.endswith(".json") and name[:-5].isdigit():
                try:
                    with open(self.root / "results" / name, "rb") as f:
                        yield int(name[:-5]), json.load(f)
                except FileNotFoundError:
                    continue

    def remove_result(self, build_id: int) -> None:
        self.result_path(build_id).unlink(missing_ok=True)

    # --- the writer's health ------------------------------------------------

    def write_writer_health(self, problem: str | None, *, since: float) -> None:
        """The git-writer's current problem (None: healthy), for the controller's readiness:
        in both shapes the writer and the controller share only this directory."""
        atomicfile.write_json(self.root / WRITER_HEALTH, value={"problem": problem, "since": since}, durable=False)

    def read_writer_health(self) -> tuple[str | None, float]:
        """``(problem, since)`` as the writer last wrote it; no file or an unreadable one: healthy."""
        try:
            with open(self.root / WRITER_HEALTH, "rb") as f:
                value = json.load(f)
            problem = value.get("problem")
            return (problem if isinstance(problem, str) else None), float(value.get("since") or 0.0)
        except (OSError, ValueError, AttributeError, TypeError):
            return None, 0.0

    # --- tickets ------------------------------------------------------------

    def add_ticket(self, *, key: str, build_id: int) -> None:
        folder = self.root / "tickets" / key
        while True:
            folder.mkdir(parents=True, exist_ok=True)
            try:
                os.close(os.open(folder / str(build_id), os.O_WRONLY | os.O_CREAT, 0o644))
                return
            except FileNotFoundError:
                continue  # its last ticket went meanwhile, and the directory with it

    def remove_ticket(self, *, key: str, build_id: int) -> None:
        """Remove a ticket, and the package's directory if that was its last one."""
        folder = self.root / "tickets" / key
        (folder / str(build_id)).unlink(missing_ok=True)
        _remove_if_empty(folder)

    def tickets(self, key: str) -> list[int]:
        try:
            return sorted(int(n) for n in os.listdir(self.root / "tickets" / key) if n.isdigit())
        except FileNotFoundError:
            return []

    def all_tickets(self) -> Iterator[tuple[str, int]]:
        for key in os.listdir(self.root / "tickets"):
            for build_id in self.tickets(key):
                yield key, build_id

    def sweep_ticket_dirs(self) -> int:
        """Remove empty ticket directories (left by versions that kept them)."""
        return sum(_remove_if_empty(self.root / "tickets" / key) for key in os.listdir(self.root / "tickets"))

    # --- leftovers ----------------------------------------------------------

    def sweep_incoming(self, *, before: float) -> int:
        """Remove staging directories last changed before ``before`` (epoch seconds):
        their import steps were killed or stopped.  Returns how many went."""
        return _remove_older(self.root / "incoming", before=before, match=lambda _name: True)

    def sweep_temporaries(self, *, before: float) -> int:
        """Remove half-written files (atomic writes of killed processes) older than
        ``before``, and requests a killed writer was removing (any age: only the
        writer removes requests, and it is the caller)."""
        count = _remove_older(self.root / "requests", before=float("inf"), match=lambda n: ".gone-" in n)
        for folder in (self.root, self.root / "results"):
            count += _remove_older(folder, before=before, match=lambda n: n.startswith(".") and ".tmp-" in n)
        return count


def _remove_if_empty(folder: Path) -> bool:
    try:
        os.rmdir(folder)
        return True
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
            return False
        raise


def _remove_older(folder: Path, *, before: float, match: Callable[[str], bool]) -> int:
    """Remove the entries of ``folder`` named so that ``match`` accepts them, last
    changed before ``before``; directories with their contents."""
    removed = 0
    for entry in os.scandir(folder):
        if not match(entry.name):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime >= before:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except FileNotFoundError:
            continue
        removed += 1
    return removed
