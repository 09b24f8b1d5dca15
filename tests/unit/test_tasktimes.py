"""Queue wait and step duration bookkeeping (core/tasktimes.py)."""

from __future__ import annotations

from copr_importer.core.tasktimes import TaskTimes


def test_queue_wait_is_first_seen_to_first_start() -> None:
    times = TaskTimes()
    times.listed([1, 2], now=10.0)
    times.listed([1, 2, 3], now=15.0)
    assert times.pending == 3
    assert times.dispatched(1, now=40.0) == 30.0
    assert times.dispatched(3, now=40.0) == 25.0
    assert times.pending == 1
    assert times.ended(1, now=100.0) == 60.0
    assert times.ended(1, now=101.0) is None  # only once


def test_a_retry_has_no_second_queue_wait() -> None:
    times = TaskTimes()
    times.listed([1], now=0.0)
    assert times.dispatched(1, now=5.0) == 5.0
    assert times.ended(1, now=6.0) == 1.0
    times.listed([1], now=7.0)  # still queued while it waits for its retry
    assert times.pending == 0
    assert times.dispatched(1, now=9.0) is None
    assert times.ended(1, now=12.0) == 3.0


def test_adopted_jobs_are_not_pending_and_have_no_times() -> None:
    times = TaskTimes()
    times.listed([5, 6], now=0.0)
    times.running([5])  # a Job found running after a restart
    assert times.pending == 1
    assert times.ended(5, now=3.0) is None


def test_builds_that_leave_the_queue_are_forgotten() -> None:
    times = TaskTimes()
    times.listed([1, 2], now=0.0)
    times.dispatched(1, now=1.0)
    times.listed([], now=2.0)
    assert times.pending == 0
    times.listed([2], now=3.0)  # listed again: first seen anew
    assert times.dispatched(2, now=4.0) == 1.0
    assert times.ended(1, now=5.0) == 4.0  # a step that was running still ends


def test_a_build_dispatched_without_being_listed_has_no_wait() -> None:
    times = TaskTimes()
    assert times.dispatched(9, now=1.0) is None
    assert times.ended(9, now=2.0) == 1.0
