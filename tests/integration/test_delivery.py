"""Report delivery (app/delivery.py) with a real outbox on disk and a threaded report lane."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from copr_importer.adapters.attempts import Attempts
from copr_importer.adapters.outbox import Outbox
from copr_importer.adapters.spool import Spool
from copr_importer.app.delivery import Delivery
from copr_importer.app.lanes import Lane
from copr_importer.app.storagehealth import StorageHealth
from copr_importer.core.observer import Observer
from copr_importer.settings import FrontendSettings
from tests.support.waiting import wait_until


class Sink:
    def __init__(self) -> None:
        self.delivered: list[dict[str, Any]] = []
        self.answered = threading.Event()

    def deliver(self, report: dict[str, Any]) -> None:
        self.delivered.append(report)
        self.answered.set()


def test_a_report_file_goes_as_soon_as_the_frontend_took_it_before_the_controller_notes_it(tmp_path: Path) -> None:
    # A controller killed between the frontend's answer and its next tick must not find
    # the report again at its next start (Copr puts a build back to pending on a repeat).
    outbox, sink, observer = Outbox(tmp_path / "outbox"), Sink(), Observer()
    delivery = Delivery(
        sink=sink,
        outbox=outbox,
        lane=Lane("report", workers=1, clock=time.monotonic),
        observer=observer,
        storage=StorageHealth(
            observer=observer, folders=[outbox.folder], spool=Spool(tmp_path / "spool"), clock=time.monotonic
        ),
        settings=FrontendSettings(),
        clock=time.monotonic,
    )
    report = {"build_id": 7, "branch_commits": {"master": "0" * 40}, "reponame": "alice/demo/pkg"}
    delivery.put(report)
    delivery.pump()  # hands the report to the lane; the controller's thread does not come back
    wait_until(sink.answered.is_set, timeout=30, what="the frontend's answer")
    wait_until(lambda: not (tmp_path / "outbox" / "7.json").exists(), timeout=30, what="the report's file to go")
    assert sink.delivered == [report]
    # A restart finds nothing to send; the running controller then notes the delivery.
    assert Outbox(tmp_path / "outbox").pending() == []
    wait_until(lambda: (delivery.pump(), delivery.unsent() == 0)[1], timeout=30, what="the delivery noted")
    assert sink.delivered == [report]


def test_a_killed_controllers_temporaries_go_when_the_next_one_starts(tmp_path: Path) -> None:
    # A controller killed inside an atomic write leaves ``.<name>.tmp-<pid>``; the next one
    # (one per data directory) removes it and keeps the reports and counts themselves.
    outbox, attempts = tmp_path / "outbox", tmp_path / "attempts"
    Outbox(outbox).put({"build_id": 7, "error": "x", "error_message": "y"})
    Attempts(attempts).add(7)
    (outbox / ".8.json.tmp-4242").write_text("{")
    (attempts / ".9.tmp-4242").write_text("1")
    assert Outbox(outbox).pending() == [7]
    assert Attempts(attempts).builds() == [7]
    assert sorted(p.name for p in outbox.iterdir()) == ["7.json"]
    assert sorted(p.name for p in attempts.iterdir()) == ["7"]
