"""Process log lines: JSON objects with task fields, or tagged text (app/logformat.py)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from copr_importer.app.logformat import configure_logging, task_fields, task_span
from copr_importer.core.task import ImportTask

TASK = ImportTask(7, "alice", "demo", "foo", ("master",), "http://x/foo.src.rpm", "alice/demo--alice")


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(fmt: str, emit: object) -> list[str]:
    buffer = io.StringIO()
    configure_logging(fmt=fmt, verbose=False, stream=buffer)
    assert callable(emit)
    emit()
    return buffer.getvalue().splitlines()


@pytest.mark.usefixtures("restore_root")
def test_json_lines_carry_the_task_fields() -> None:
    log = logging.getLogger("copr_importer.test")

    def emit() -> None:
        log.info("plain")
        log.info("starting build %d", 7, extra=task_fields(TASK, phase="dispatch"))
        with task_span(task_id=8, phase="import", package="bob/p/bar"):
            log.warning("inside\nspan")
            log.info("override", extra={"phase": "git-writer"})
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("failed")

    plain, extra, inside, override, failed = (json.loads(line) for line in lines("json", emit))
    assert set(plain) == {"time", "level", "logger", "message"}
    assert plain["logger"] == "copr_importer.test" and plain["level"] == "info"
    assert plain["time"].endswith("Z") and "T" in plain["time"]
    assert extra == extra | {
        "message": "starting build 7",
        "task_id": 7,
        "package": "alice/demo/foo",
        "phase": "dispatch",
    }
    assert inside["message"] == "inside\nspan" and inside["level"] == "warning"
    assert (inside["task_id"], inside["package"], inside["phase"]) == (8, "bob/p/bar", "import")
    assert override["phase"] == "git-writer" and override["task_id"] == 8
    assert "RuntimeError: boom" in failed["exception"] and "task_id" not in failed


@pytest.mark.usefixtures("restore_root")
def test_text_lines_are_tagged_when_a_task_is_known() -> None:
    log = logging.getLogger("copr_importer.test")

    def emit() -> None:
        log.info("plain")
        log.info("starting", extra=task_fields(TASK, phase="dispatch"))

    plain, tagged = lines("text", emit)
    assert plain.endswith("INFO copr_importer.test: plain")
    assert tagged.endswith("starting [task_id=7 package=alice/demo/foo phase=dispatch]")


@pytest.mark.usefixtures("restore_root")
def test_auto_is_json_when_not_a_terminal() -> None:
    (line,) = lines("auto", lambda: logging.getLogger("x").info("hi"))
    assert json.loads(line)["message"] == "hi"
