"""Doorbells: the git-writer wakes on a hand-over and the embedded controller on published
results, instead of waiting out a timer.

Each test sets the timer it replaces to an hour, so only a ring can make the
condition come true within the test's (generous) deadline; nothing is timed.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from copr_importer.adapters.doorbell import Doorbell, ring
from copr_importer.adapters.spool import RESULTS_BELL, WRITER_BELL, Spool
from copr_importer.app.gitwriter import GitWriter
from copr_importer.app.importstep import EXIT_OK, run_step
from copr_importer.app.localexec import LocalExecutor
from copr_importer.settings import Settings
from tests.support.pipeline import make_task
from tests.support.srpms import binary_tarball
from tests.support.waiting import wait_until

HOUR = 3600.0  # the timer a ring replaces
DEADLINE = 120.0  # generous: a ring ends a wait at once, a missing one fails the test after this


def in_thread(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_a_ring_wakes_the_listener_once_and_a_ring_nobody_hears_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bell"
    ring(path)  # no doorbell yet: nothing happens, nothing raises
    assert not path.exists()
    os.mkfifo(path)
    ring(path)  # a FIFO nobody listens at: dropped (a blocking open would hang here)
    bell = Doorbell(path)
    assert bell.listen()
    assert not bell.wait(0)  # the unheard ring is not kept
    ring(path)
    ring(path)
    assert bell.wait(DEADLINE)  # rang: returns at once
    assert not bell.wait(0)  # both rings consumed
    bell.ring()  # from the listener's own process (a thread's news)
    assert bell.wait(DEADLINE)
    bell.close()


def test_a_ring_never_writes_into_something_that_is_not_a_fifo(tmp_path: Path) -> None:
    path = tmp_path / "bell"
    path.write_bytes(b"keep")
    ring(path)
    assert path.read_bytes() == b"keep"
    bell = Doorbell(path)
    assert not bell.listen()  # polling only
    assert bell.fileno() is None and not bell.wait(0)
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    link = tmp_path / "link"
    link.symlink_to(target)
    ring(link)
    assert target.read_bytes() == b"keep"


@pytest.fixture
def slow_timers(make_settings: Callable[..., Settings]) -> Settings:
    """Settings whose writer would sleep an hour between scans of an empty spool."""
    return make_settings(git={"poll_interval": HOUR})


@pytest.fixture
def writer(slow_timers: Settings) -> Iterator[GitWriter]:
    writer = GitWriter(settings=slow_timers)
    stop = threading.Event()
    thread = in_thread(lambda: writer.run(should_stop=stop.is_set))
    bell = slow_timers.spool_root / WRITER_BELL
    wait_until(lambda: bell.exists(), timeout=60, what="the writer listening at its doorbell")
    yield writer
    stop.set()
    thread.join(timeout=60)
    assert not thread.is_alive()
    writer.close()


def test_a_hand_over_wakes_the_idle_writer_and_its_results_wake_the_controller(
    slow_timers: Settings, writer: GitWriter, srpm_factory: Callable[..., Path]
) -> None:
    spool = Spool(slow_timers.spool_root)
    results = Doorbell(spool.root / RESULTS_BELL)
    assert results.listen()
    srpm = srpm_factory(name="foo", sources={"foo-1.tar.gz": binary_tarball(name="foo", version="1")})
    outcome = run_step(make_task(7, srpm, pkg="foo"), settings=slow_timers, spool=spool)
    assert outcome.exit_code == EXIT_OK, outcome.message
    # Without the hand-over's ring the writer would scan again in an hour.
    wait_until(lambda: 7 in dict(spool.results()), timeout=DEADLINE, what="the writer applying the request")
    assert results.wait(DEADLINE)  # the writer rang the controller's doorbell after publishing
    assert dict(spool.results())[7]["branch_commits"]
    assert stat.S_ISFIFO(os.stat(spool.root / WRITER_BELL).st_mode)
    results.close()


def test_the_executor_wait_ends_on_published_results_and_on_wake(settings: Settings) -> None:
    executor = LocalExecutor(settings=settings)
    try:
        assert executor.max_wait > 0.02  # it listens: the controller may wait for news
        for news in (lambda: ring(settings.spool_root / RESULTS_BELL), executor.wake):
            waiting = in_thread(lambda: executor.wait(HOUR))
            news()
            waiting.join(timeout=DEADLINE)
            assert not waiting.is_alive(), "the executor's wait did not end on the ring"
    finally:
        executor.shutdown()
