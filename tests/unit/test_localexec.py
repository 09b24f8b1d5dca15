"""The local executor's reading of a worker's end, with the worker's timing scripted."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

from copr_importer.app.localexec import LocalExecutor, _Run
from copr_importer.core.task import ImportTask
from copr_importer.settings import from_mapping


class ExitsWhenAsked:
    """A worker that sends its outcome and exits just as the executor checks whether it lives."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.exitcode = 0

    def is_alive(self) -> bool:
        self.pipe.send((0, "handed over"))
        return False

    def join(self, timeout: float | None = None) -> None:
        pass


def test_a_worker_that_sends_and_exits_between_two_looks_is_not_taken_for_dead(tmp_path: Path) -> None:
    executor = LocalExecutor(settings=from_mapping({"data_dir": str(tmp_path)}))
    parent_end, child_end = multiprocessing.Pipe(duplex=False)
    task = ImportTask(1, "o", "p", "foo", ("f43",), "http://127.0.0.1:9/x.src.rpm", "o/p--1")
    executor._runs[1] = _Run(task, ExitsWhenAsked(child_end), parent_end, 0.0)  # type: ignore[arg-type]
    [outcome] = executor.poll()
    assert (outcome.exit_code, outcome.message) == (0, "handed over")
