"""Per-task logs: ``<per-task-logs>/<build_id>.log``, what users read in Copr.

Each import step and the git-writer append to the task's log while they work on
it, through a handler attached to the package's logger for that span only.
Lines carry a UTC timestamp and the phase, so the log reads as one story even
though two processes wrote it.  The span also tags the process's own log lines
(stderr) with the task id, package and phase (see ``app/logformat.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .logformat import task_span

__all__ = ["task_log"]

_FORMAT = "%(asctime)s [%(levelname)s] %(phase)s: %(message)s"


class _PhaseFilter(logging.Filter):
    def __init__(self, phase: str) -> None:
        super().__init__()
        self.phase = phase

    def filter(self, record: logging.LogRecord) -> bool:
        record.phase = self.phase
        return True


@contextmanager
def task_log(*, log_root: Path, build_id: int, phase: str, package: str | None = None) -> Iterator[logging.Logger]:
    """Route this package's log records to the task's log file while inside."""
    try:
        handler = logging.FileHandler(log_root / f"{build_id}.log", mode="a", encoding="utf-8")
    except FileNotFoundError:
        log_root.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_root / f"{build_id}.log", mode="a", encoding="utf-8")
    formatter = logging.Formatter(_FORMAT, datefmt="%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_PhaseFilter(phase))
    handler.setLevel(logging.DEBUG)
    package_logger = logging.getLogger("copr_importer")
    previous_level = package_logger.level
    package_logger.addHandler(handler)
    if package_logger.getEffectiveLevel() > logging.INFO:
        package_logger.setLevel(logging.INFO)
    try:
        with task_span(task_id=build_id, phase=phase, package=package):
            yield logging.getLogger(f"copr_importer.task.{phase}")
    finally:
        package_logger.removeHandler(handler)
        package_logger.setLevel(previous_level)
        handler.close()
