"""The controller loop with a scripted executor and source (real spool and outbox on disk)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from copr_importer.adapters.outbox import Outbox
from copr_importer.adapters.spool import Spool
from copr_importer.app.controller import Controller
from copr_importer.app.lanes import Lanes
from copr_importer.app.localexec import Outcome
from copr_importer.core.admission import Limits
from copr_importer.core.observer import Observer
from copr_importer.core.task import ImportTask, MalformedTask
from copr_importer.errors import TransientError
from copr_importer.settings import Settings, from_mapping
from tests.support.waiting import wait_until


def task(build_id: int, pkg: str = "foo") -> ImportTask:
    return ImportTask(build_id, "o", "p", pkg, ("f43",), "http://127.0.0.1:9/x.src.rpm", f"o/p--{build_id}")


class Source:
    def __init__(self, tasks: list[ImportTask]) -> None:
        self.tasks = {t.build_id: t for t in tasks}
        self.reports: list[dict[str, Any]] = []
        self.gone: set[int] = set()

    def fetch_queue(self) -> tuple[list[ImportTask], list[MalformedTask]]:
        return list(self.tasks.values()), []

    def confirm(self, build_id: int) -> ImportTask | None:
        return None if build_id in self.gone else self.tasks.get(build_id)

    refuse_reports = False

    def deliver(self, report: dict[str, Any]) -> None:
        if self.refuse_reports:
            raise TransientError("the frontend is down")
        self.reports.append(report)
        self.tasks.pop(report["build_id"], None)


class Executor:
    def __init__(self) -> None:
        self.started: list[int] = []
        self.canceled: list[int] = []
        self.runs: dict[int, ImportTask] = {}
        self.pending: list[Outcome] = []

    def start(self, task: ImportTask) -> None:
        self.started.append(task.build_id)
        self.runs[task.build_id] = task

    def running(self) -> list[ImportTask]:
        return list(self.runs.values())

    def finish(self, build_id: int, code: int, message: str = "") -> None:
        self.pending.append(Outcome(self.runs.pop(build_id), code, message, 0.1))

    def poll(self) -> list[Outcome]:
        done, self.pending = self.pending, []
        return done

    def cancel(self, build_id: int) -> None:
        self.canceled.append(build_id)
        self.runs.pop(build_id, None)

    def wait(self, timeout: float) -> None:
        pass


def make(
    tmp_path: Path, tasks: list[ImportTask], *, limit: list[int], observer: Observer | None = None
) -> tuple[Controller, Source, Executor, Spool]:
    settings: Settings = from_mapping(
        {
            "data_dir": str(tmp_path),
            "frontend": {"poll_interval": 0.0, "confirm_before_start": True},
            "executor": {"max_attempts": 2, "retry_delay": 0.0},
        }
    )
    source, executor, spool = Source(tasks), Executor(), Spool(settings.spool_root)
    controller = Controller(
        settings=settings,
        source=source,
        executor=executor,
        spool=spool,
        outbox=Outbox(tmp_path / "outbox"),
        limits=lambda: Limits(total=limit[0]),
        observer=observer,
        lanes=Lanes.inline(),
    )
    return controller, source, executor, spool


def gave_up(build_id: int, message: str) -> dict[str, object]:
    """The report of a build whose two attempts failed transiently."""
    return {
        "build_id": build_id,
        "error": "srpm_import_failed",
        "error_message": f"gave up after 2 attempts: {message}",
    }


def test_limit_zero_holds_work_and_raising_it_starts_more(tmp_path: Path) -> None:
    limit = [0]
    controller, _, executor, _ = make(tmp_path, [task(1), task(2, "bar"), task(3, "baz")], limit=limit)
    controller.tick()
    assert executor.started == []
    limit[0] = 2
    controller.tick()
    assert executor.started == [1, 2]
    limit[0] = 1  # lowering lets running work finish
    controller.tick()
    assert executor.canceled == [] and len(executor.running()) == 2


def test_canceled_build_is_stopped_and_its_ticket_dropped(tmp_path: Path) -> None:
    controller, source, executor, spool = make(tmp_path, [task(1), task(2)], limit=[5])
    controller.tick()
    assert spool.tickets("o%2Fp%2Ffoo") == [1, 2]
    del source.tasks[2]
    controller.tick()
    assert executor.canceled == [2] and spool.tickets("o%2Fp%2Ffoo") == [1]


def test_transient_failures_are_retried_then_reported(tmp_path: Path) -> None:
    controller, source, executor, spool = make(tmp_path, [task(1)], limit=[5])
    controller.tick()
    executor.finish(1, 75, "OSError: disk on fire")
    controller.tick()
    assert executor.started == [1, 1]
    executor.finish(1, 75, "OSError: disk on fire")
    controller.tick()
    controller.tick()
    assert source.reports == [gave_up(1, "OSError: disk on fire")]
    assert spool.tickets("o%2Fp%2Ffoo") == [] and controller.idle()


def test_success_waits_for_the_writer_result(tmp_path: Path) -> None:
    controller, source, executor, spool = make(tmp_path, [task(1)], limit=[5])
    controller.tick()
    executor.finish(1, 0, "handed over")
    controller.tick()
    assert source.reports == [] and not controller.idle() and executor.started == [1]  # not restarted
    spool.write_result(1, result={"build_id": 1, "reponame": "o/p/foo", "branch_commits": {"f43": "a" * 40}})
    controller.tick()
    assert source.reports == [{"build_id": 1, "branch_commits": {"f43": "a" * 40}, "reponame": "o/p/foo"}]
    assert controller.idle()


def test_restart_drops_stale_tickets_and_keeps_live_ones(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.add_ticket(key="o%2Fp%2Ffoo", build_id=1)  # build 1 was canceled while we were down
    spool.add_ticket(key="o%2Fp%2Ffoo", build_id=2)  # build 2 is still queued
    controller, _, executor, spool = make(tmp_path, [task(2)], limit=[5])
    controller.tick()
    assert spool.tickets("o%2Fp%2Ffoo") == [2] and executor.started == [2]


def test_build_gone_at_confirmation_is_skipped(tmp_path: Path) -> None:
    controller, source, executor, spool = make(tmp_path, [task(1), task(2, "bar")], limit=[5])
    source.gone.add(1)
    controller.tick()
    assert executor.started == [2] and spool.tickets("o%2Fp%2Ffoo") == []


def test_a_result_reported_before_its_step_ends_is_not_a_cancel(tmp_path: Path) -> None:
    # In Kubernetes the writer's result can arrive before the Job is seen complete.
    controller, source, executor, spool = make(tmp_path, [task(1)], limit=[5])
    controller.tick()
    spool.write_result(1, result={"build_id": 1, "reponame": "o/p/foo", "branch_commits": {"f43": "a" * 40}})
    controller.tick()  # reported; the frontend drops build 1 from its queue
    controller.tick()  # a poll without build 1 while its step still runs
    assert executor.canceled == []
    executor.finish(1, 0, "handed over")
    controller.tick()
    assert controller.idle() and len(source.reports) == 1


class SlowSource(Source):
    """A queue that takes ``cost`` seconds of the controller's clock to list."""

    def __init__(self, tasks: list[ImportTask], clock: list[float], cost: float) -> None:
        super().__init__(tasks)
        self.clock, self.cost, self.polls = clock, cost, 0

    def fetch_queue(self) -> tuple[list[ImportTask], list[MalformedTask]]:
        self.polls += 1
        self.clock[0] += self.cost
        return super().fetch_queue()


def clocked(
    tmp_path: Path, settings: Settings, *, source: Source, executor: Executor, total: int, now: list[float]
) -> Controller:
    """A controller whose clock is ``now[0]``, with frontend calls made inline."""
    return Controller(
        settings=settings,
        source=source,
        executor=executor,
        spool=Spool(settings.spool_root),
        outbox=Outbox(tmp_path / "outbox"),
        limits=lambda: Limits(total=total),
        clock=lambda: now[0],
        lanes=Lanes.inline(clock=lambda: now[0]),
    )


def polls_in(tmp_path: Path, *, cost: float, seconds: float) -> int:
    """How often the controller polls a queue that costs ``cost`` s to list, over ``seconds``."""
    now = [0.0]
    settings = from_mapping({"data_dir": str(tmp_path), "frontend": {"poll_interval": 0.75, "poll_backoff": 10.0}})
    source = SlowSource([task(1)], now, cost)
    controller = clocked(tmp_path, settings, source=source, executor=Executor(), total=0, now=now)
    while now[0] < seconds:
        controller.tick()
        now[0] += 0.02
    return source.polls


def test_a_queue_that_is_slow_to_list_is_polled_less_often(tmp_path: Path) -> None:
    # A cheap queue is polled every poll_interval; one that takes 3 s to list, every 30 s.
    assert 79 <= polls_in(tmp_path / "cheap", cost=0.001, seconds=60) <= 81
    assert polls_in(tmp_path / "slow", cost=3.0, seconds=60) == 2


class RefusingExecutor(Executor):
    """An executor whose cluster refuses the first ``refusals`` starts."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals
        self.attempts = 0

    def start(self, task: ImportTask) -> None:
        self.attempts += 1
        if self.attempts <= self.refusals:
            raise TransientError("Kubernetes API: 429 Too Many Requests")
        super().start(task)


def test_a_refused_start_pauses_dispatching_and_spends_no_attempt(tmp_path: Path) -> None:
    now = [0.0]
    settings = from_mapping({"data_dir": str(tmp_path), "frontend": {"poll_interval": 0.0}})
    executor = RefusingExecutor(refusals=2)
    source = Source([task(1), task(2, "bar")])
    controller = clocked(tmp_path, settings, source=source, executor=executor, total=5, now=now)
    controller.tick()  # refused: pause 1 s
    controller.tick()
    assert (executor.attempts, executor.started) == (1, [])
    now[0] = 1.0
    controller.tick()  # refused again: pause 2 s
    now[0] = 2.5
    controller.tick()
    assert (executor.attempts, executor.started) == (2, [])
    now[0] = 3.0
    controller.tick()
    assert executor.started == [1, 2]
    assert controller.attempts.builds() == []  # a refusal is not a failed import


def test_a_report_waiting_in_the_outbox_is_not_imported_again_after_a_restart(tmp_path: Path) -> None:
    # The frontend took no report before the restart and still lists the build as importing.
    Outbox(tmp_path / "outbox").put({"build_id": 1, "error": "x", "error_message": "y"})
    controller, source, executor, _ = make(tmp_path, [task(1)], limit=[5])
    source.refuse_reports = True
    controller.tick()
    controller.tick()
    assert executor.started == []


def test_transient_failures_are_counted_on_disk_across_controllers(tmp_path: Path) -> None:
    first, _, executor, _ = make(tmp_path, [task(1)], limit=[5])
    first.tick()
    executor.finish(1, 75, "worker died with exit code -9")  # e.g. OOM-killed by its SRPM
    first.tick()
    assert (tmp_path / "attempts" / "1").read_text() == "1\n"
    second, source, executor, _ = make(tmp_path, [task(1)], limit=[5])  # a restart: counts survive
    second.tick()
    executor.finish(1, 75, "worker died with exit code -9")
    second.tick()
    second.tick()
    assert source.reports == [gave_up(1, "worker died with exit code -9")]
    assert not (tmp_path / "attempts" / "1").exists()  # the count goes with the report


def test_a_run_that_failed_because_of_the_disk_spends_no_attempt(tmp_path: Path) -> None:
    controller, source, executor, _ = make(tmp_path, [task(1)], limit=[5])
    for _ in range(3):
        controller.tick()
        executor.finish(1, 75, "OSError: [Errno 28] No space left on device: '/data/spool/incoming/1.x'")
        controller.tick()
    assert executor.started == [1, 1, 1, 1] and source.reports == []
    assert controller.attempts.builds() == []


class SlowConfirm(Source):
    """A frontend that answers get-import-task only when told to."""

    def __init__(self, tasks: list[ImportTask]) -> None:
        super().__init__(tasks)
        self.answer = threading.Event()
        self.asked: list[int] = []

    def confirm(self, build_id: int) -> ImportTask | None:
        self.asked.append(build_id)
        self.answer.wait(60)
        return super().confirm(build_id)


def test_a_confirmation_in_flight_holds_its_slot_and_blocks_nothing(tmp_path: Path) -> None:
    settings = from_mapping({"data_dir": str(tmp_path), "frontend": {"poll_interval": 0.0}})
    source, executor = SlowConfirm([task(1), task(2, "bar")]), Executor()
    controller = Controller(
        settings=settings,
        source=source,
        executor=executor,
        spool=Spool(settings.spool_root),
        outbox=Outbox(tmp_path / "outbox"),
        limits=lambda: Limits(total=1),
        lanes=Lanes(workers=4),
    )

    def ticked_until(done: Callable[[], bool]) -> Callable[[], bool]:
        def check() -> bool:
            controller.tick()  # it returns though the frontend has not answered
            return done()

        return check

    wait_until(ticked_until(lambda: source.asked == [1]), timeout=30, what="build 1 to be confirmed")
    for _ in range(20):
        controller.tick()
    assert source.asked == [1] and executor.started == []  # 1 holds the only slot; 2 waits
    source.answer.set()
    started = ticked_until(lambda: executor.started == [1])

    wait_until(started, timeout=30, what="build 1 to start once confirmed")
    controller.close()


class WaitingExecutor(Executor):
    """An executor that notes how long the controller asks it to wait."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float) -> None:
        self.waits.append(timeout)


def test_between_ticks_the_controller_waits_for_news_or_its_next_poll(tmp_path: Path) -> None:
    now = [0.0]
    settings = from_mapping({"data_dir": str(tmp_path), "frontend": {"poll_interval": 0.75}})
    executor = WaitingExecutor()
    controller = clocked(tmp_path, settings, source=Source([task(1)]), executor=executor, total=0, now=now)
    controller.tick()  # polls at 0: the next poll is due at 0.75
    controller.wait()
    assert executor.waits[-1] == 0.02  # an executor that says nothing is looked at every 20 ms
    executor.max_wait = 0.25  # type: ignore[attr-defined]  # one woken by its news (LocalExecutor)
    controller.wait()
    assert executor.waits[-1] == 0.25
    now[0] = 0.6
    controller.wait()
    assert executor.waits[-1] == pytest.approx(0.15)  # not past the next poll
    now[0] = 0.8
    controller.wait()
    assert executor.waits[-1] == 0.0
