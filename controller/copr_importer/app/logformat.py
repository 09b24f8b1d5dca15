"""Process logs on stderr: one JSON object per line for collectors, or plain text for people.

Every line has ``time`` (UTC, RFC 3339 with milliseconds), ``level``, ``logger`` and
``message``; ``task_id``, ``package`` (owner/project/pkg) and ``phase`` are added when
known, other ``extra=`` fields as given, and ``exception`` holds a traceback.  The
task fields come from, in order:

* ``extra=`` on the call (:func:`task_fields` builds it), as the controller does
  for the builds it dispatches, retries, cancels and fails;
* the task span in force (:func:`task_span`), which :func:`~copr_importer.app.tasklog.task_log`
  opens around an import step and a git-writer commit, so their existing log
  calls carry the fields without naming them.

``auto`` picks text on a terminal and JSON otherwise (a container's stderr, a
systemd journal, a pipe), so nobody has to remember the flag in either place.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from ..core.task import ImportTask

__all__ = ["FORMATS", "JsonFormatter", "TextFormatter", "configure_logging", "task_fields", "task_span"]

FORMATS = ("auto", "json", "text")
TASK_KEYS = ("task_id", "package", "phase")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_span: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("copr_importer_task", default=None)


def task_fields(task: ImportTask, *, phase: str) -> dict[str, Any]:
    """``extra=`` for a log call about ``task``."""
    return {"task_id": task.build_id, "package": task.reponame, "phase": phase}


@contextmanager
def task_span(*, task_id: int, phase: str, package: str | None = None) -> Iterator[None]:
    """Log records emitted inside carry these task fields (unless the call gives its own)."""
    token = _span.set({"task_id": task_id, "package": package, "phase": phase})
    try:
        yield
    finally:
        _span.reset(token)


def _task_of(record: logging.LogRecord) -> dict[str, Any]:
    span = _span.get() or {}
    found = {}
    for key in TASK_KEYS:
        value = getattr(record, key, None)
        if value is None:
            value = span.get(key)
        if value is not None:
            found[key] = value
    return found


def _utc(record: logging.LogRecord) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{stamp}.{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line (newlines in messages are escaped by JSON)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_task_of(record),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The previous human format, with ``[task=… package=… phase=…]`` when known."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        task = _task_of(record)
        if not task:
            return text
        head, sep, tail = text.partition("\n")  # keep tracebacks below the tagged line
        tag = " ".join(f"{k}={v}" for k, v in task.items())
        return f"{head} [{tag}]{sep}{tail}"


def configure_logging(*, fmt: str, verbose: bool, stream: TextIO | None = None) -> None:
    """Set up the root logger for a command (replacing any earlier setup)."""
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "text" if stream.isatty() else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
