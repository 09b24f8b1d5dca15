"""The import step's errors by cause: a bug of the importer on one SRPM becomes a permanent
failure that a user can read (the traceback goes to the per-task log); a full or
read-only disk is transient (tests/integration/test_writer_disk_faults.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

from copr_importer.adapters.spool import Spool
from copr_importer.app import importstep
from copr_importer.app.importstep import EXIT_BAD_INPUT, run_step
from copr_importer.settings import Settings
from tests.support.pipeline import make_task


def test_a_bug_met_on_an_srpm_fails_it_readably_with_the_traceback_in_the_log(
    settings: Settings, srpm_factory: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_reader(stream: Any) -> NoReturn:  # stands for a bug no test has found yet
        raise TypeError("unsupported operand type(s) for +: 'int' and 'NoneType'")

    monkeypatch.setattr(importstep, "read_package", broken_reader)
    spool = Spool(settings.spool_root)
    outcome = run_step(make_task(1, srpm_factory(name="foo"), pkg="foo"), settings=settings, spool=spool)
    assert outcome.exit_code == EXIT_BAD_INPUT  # permanent: running it again meets the same bug
    error = dict(spool.results())[1]["error"]
    assert error["code"] == "srpm_import_failed"
    assert error["message"] == importstep.INTERNAL_ERROR
    assert "TypeError" not in outcome.message and "TypeError" not in error["message"]
    log = (settings.log_root / "1.log").read_text()
    assert "Traceback" in log and "TypeError: unsupported operand" in log
    assert not spool.request_ids() and not list((spool.root / "incoming").iterdir())
