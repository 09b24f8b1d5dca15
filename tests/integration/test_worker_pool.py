"""The local executor's worker pool with real worker processes, real imports and real kills.

A download held by :class:`~tests.support.gate.GatedFiles` keeps a worker busy
for as long as a test needs it to, so kills, timeouts and cancels land in the
middle of an import without guessing how long one takes.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from copr_importer.app.importstep import EXIT_OK, EXIT_TRANSIENT
from copr_importer.app.localexec import ENDED_CRASH, ENDED_STEP, ENDED_TIMEOUT, LocalExecutor, Outcome
from copr_importer.core.task import ImportTask
from copr_importer.settings import Settings
from tests.support.gate import GatedFiles
from tests.support.pipeline import make_task
from tests.support.poison import poison_srpm
from tests.support.processes import alive, title, titled
from tests.support.waiting import wait_until

MiB = 1024**2


class Pool:
    """A :class:`LocalExecutor` driven as the controller drives it, keeping every outcome."""

    def __init__(self, settings: Settings) -> None:
        self.executor = LocalExecutor(settings=settings)
        self.outcomes: dict[int, list[Outcome]] = {}

    def turn(self) -> None:
        for outcome in self.executor.poll():
            self.outcomes.setdefault(outcome.task.build_id, []).append(outcome)
        self.executor.wait(0.05)

    def until(self, predicate: Callable[[], bool], *, what: str, timeout: float = 60) -> None:
        def turned() -> bool:
            self.turn()
            return predicate()

        wait_until(turned, timeout=timeout, what=what, interval=0)

    def outcome(self, build_id: int) -> Outcome:
        self.until(lambda: build_id in self.outcomes, what=f"the outcome of build {build_id}")
        [outcome] = self.outcomes.pop(build_id)
        return outcome

    def workers(self) -> list[int]:
        """Pids of the live workers (children of the zygote titled as workers)."""
        return titled("copr-importer: worker", under=os.getpid())

    def worker_of(self, build_id: int) -> int:
        found: list[int] = []

        def busy() -> bool:
            found[:] = [p for p in self.workers() if title(p).endswith(f" build {build_id}")]
            return bool(found)

        self.until(busy, what=f"a worker busy with build {build_id}")
        return found[0]


@pytest.fixture
def pool_for(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Pool]]:
    pools: list[Pool] = []

    def make(**executor: object) -> Pool:
        pool = Pool(make_settings(executor={"workers": 2, **executor}, download={"backoff": 0.0}))
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.executor.shutdown()


def _task(build_id: int, url: str | Path, *, pkg: str) -> ImportTask:
    return ImportTask(build_id, "alice", "demo", pkg, ("master",), str(url), "alice/demo--alice")


def test_workers_are_started_before_tasks_and_run_many_tasks_each(
    pool_for: Callable[..., Pool], srpm_factory: Callable[..., Path]
) -> None:
    pool = pool_for(workers=1, tasks_per_worker=3)
    pool.until(lambda: len(pool.workers()) == 1, what="the pre-started worker")
    [first] = pool.workers()
    assert title(first) == "copr-importer: worker 1 idle"
    for build_id in (1, 2, 3):
        srpm = srpm_factory(name=f"pkg{build_id}")
        pool.executor.start(make_task(build_id, srpm, pkg=f"pkg{build_id}"))
        outcome = pool.outcome(build_id)
        assert (outcome.exit_code, outcome.ended) == (EXIT_OK, ENDED_STEP), outcome.message
        if build_id < 3:
            assert pool.workers() == [first], "the same worker process serves the next task"
    # After tasks_per_worker tasks the worker leaves and a fresh one takes its place.
    pool.until(lambda: not alive(first) and len(pool.workers()) == 1, what="the worker's replacement")
    assert pool.workers() != [first]


def test_a_worker_that_answers_and_leaves_at_once_gives_its_answer_not_a_crash(
    pool_for: Callable[..., Pool], srpm_factory: Callable[..., Path]
) -> None:
    # With one task per worker, each worker sends its outcome and exits straight away: the
    # pipe may be at its end before the outcome is read, and the death may be known first.
    pool = pool_for(workers=2, tasks_per_worker=1)
    for build_id in range(20, 26):
        srpm = srpm_factory(name=f"quick{build_id}")
        pool.executor.start(make_task(build_id, srpm, pkg=f"quick{build_id}"))
        outcome = pool.outcome(build_id)
        assert (outcome.exit_code, outcome.ended) == (EXIT_OK, ENDED_STEP), outcome.message


def test_a_worker_killed_mid_import_fails_only_its_task_and_is_replaced(
    pool_for: Callable[..., Pool], srpm_factory: Callable[..., Path], gate: GatedFiles, settings: Settings
) -> None:
    pool = pool_for()
    held = gate.add(srpm_factory(name="held"), held=True)
    pool.executor.start(_task(7, held, pkg="held"))
    victim = pool.worker_of(7)
    os.kill(victim, signal.SIGKILL)
    outcome = pool.outcome(7)
    assert (outcome.exit_code, outcome.ended) == (EXIT_TRANSIENT, ENDED_CRASH)
    assert "killed by SIGKILL" in outcome.message
    pool.until(lambda: len(pool.workers()) == 2 and victim not in pool.workers(), what="a replacement worker")
    assert not list((settings.spool_root / "incoming").glob("7.*")), "its unfinished hand-over is swept"
    # The pool goes on: the same build runs again, to the end this time.
    gate.release("held-1.0-1.src.rpm")
    pool.executor.start(_task(7, held, pkg="held"))
    assert pool.outcome(7).exit_code == EXIT_OK


def test_a_worker_past_the_task_timeout_is_killed_and_replaced(
    pool_for: Callable[..., Pool], srpm_factory: Callable[..., Path], gate: GatedFiles
) -> None:
    pool = pool_for(task_timeout=1.0)
    held = gate.add(srpm_factory(name="slow"), held=True)
    pool.executor.start(_task(8, held, pkg="slow"))
    worker = pool.worker_of(8)
    outcome = pool.outcome(8)
    assert (outcome.exit_code, outcome.ended) == (EXIT_TRANSIENT, ENDED_TIMEOUT)
    assert outcome.message.startswith("import_timeout_exceeded: killed after 1 s")
    assert not alive(worker)
    pool.until(lambda: len(pool.workers()) == 2, what="a replacement worker")


def test_a_canceled_import_gives_no_outcome_and_its_worker_is_replaced(
    pool_for: Callable[..., Pool], srpm_factory: Callable[..., Path], gate: GatedFiles, settings: Settings
) -> None:
    pool = pool_for()
    held = gate.add(srpm_factory(name="gone"), held=True)
    pool.executor.start(_task(9, held, pkg="gone"))
    worker = pool.worker_of(9)
    pool.executor.cancel(9)
    assert pool.executor.running() == []
    pool.until(lambda: not alive(worker) and len(pool.workers()) == 2, what="the canceled worker's replacement")
    pool.turn()
    assert pool.outcomes == {}
    assert not list((settings.spool_root / "incoming").glob("9.*"))


def test_a_worker_that_dies_while_idle_is_replaced(pool_for: Callable[..., Pool]) -> None:
    pool = pool_for()
    pool.until(lambda: len(pool.workers()) == 2, what="two workers")
    victim = pool.workers()[0]
    os.kill(victim, signal.SIGKILL)
    pool.until(lambda: victim not in pool.workers() and len(pool.workers()) == 2, what="a replacement worker")
    assert pool.outcomes == {}


def test_when_the_zygote_dies_its_workers_die_and_their_tasks_are_transient_failures(
    pool_for: Callable[..., Pool], srpm_factory: Callable[..., Path], gate: GatedFiles
) -> None:
    pool = pool_for()
    held = gate.add(srpm_factory(name="orphan"), held=True)
    pool.executor.start(_task(10, held, pkg="orphan"))
    worker = pool.worker_of(10)
    [zygote] = titled("copr-importer: zygote", under=os.getpid())
    os.kill(zygote, signal.SIGKILL)
    outcome = pool.outcome(10)
    assert (outcome.exit_code, outcome.ended) == (EXIT_TRANSIENT, ENDED_CRASH)
    assert "zygote" in outcome.message
    wait_until(lambda: not alive(worker), timeout=30, what="the worker to die with its zygote")
    # A new zygote and new workers take over.
    pool.until(lambda: len(pool.workers()) == 2, what="new workers from a new zygote")
    assert titled("copr-importer: zygote", under=os.getpid()) != [zygote]


def test_idle_workers_lost_with_their_zygote_do_not_pause_starting_workers(
    pool_for: Callable[..., Pool], caplog: pytest.LogCaptureFixture
) -> None:
    # Workers that never served are taken for workers that cannot start (a pause that
    # doubles); ones that died only because their zygote did say nothing about that.
    pool = pool_for()
    pool.until(lambda: len(pool.workers()) == 2, what="two workers")
    [zygote] = titled("copr-importer: zygote", under=os.getpid())
    with caplog.at_level(logging.ERROR, logger="copr_importer.app.localexec"):
        os.kill(zygote, signal.SIGKILL)
        pool.until(
            lambda: titled("copr-importer: zygote", under=os.getpid()) not in ([], [zygote]), what="a new zygote"
        )
        pool.until(lambda: len(pool.workers()) == 2, what="new workers from the new zygote")
    assert not [r.getMessage() for r in caplog.records if "starting import workers again" in r.getMessage()]


def test_a_worker_past_its_memory_limit_fails_its_task_transiently_and_is_replaced(
    pool_for: Callable[..., Pool], srpm_factory: Callable[..., Path], tmp_path: Path
) -> None:
    bomb = poison_srpm(tmp_path)
    pool = pool_for(workers=1, worker_memory_limit=80 * MiB)
    pool.until(lambda: len(pool.workers()) == 1, what="the worker")
    [worker] = pool.workers()
    pool.executor.start(_task(11, bomb, pkg="bomb"))
    outcome = pool.outcome(11)
    assert outcome.exit_code == EXIT_TRANSIENT, outcome.message
    assert outcome.message == "the import ran out of memory (executor.worker_memory_limit is 80 MiB)"
    # It leaves (a worker that hit its limit may be in any state); a fresh one serves the next task.
    pool.until(lambda: not alive(worker) and len(pool.workers()) == 1, what="the worker's replacement")
    fine = srpm_factory(name="fine")
    pool.executor.start(make_task(12, fine, pkg="fine"))
    assert pool.outcome(12).exit_code == EXIT_OK
    # The same SRPM without the limit is only a large dictionary: nothing is wrong with it.
    unlimited = pool_for(workers=1, worker_memory_limit=None)
    unlimited.executor.start(_task(13, bomb, pkg="bomb"))
    assert unlimited.outcome(13).exit_code == EXIT_OK
