"""Retry and deadline arithmetic (core/backoff.py) on a fake clock."""

from __future__ import annotations

import pytest

from copr_importer.core.backoff import PollSchedule, exponential, request_timeouts


def test_exponential_doubles_up_to_its_cap() -> None:
    assert [exponential(n, first=1.0, cap=30.0) for n in range(8)] == [0.0, 1, 2, 4, 8, 16, 30, 30]
    assert exponential(10_000, first=2.0, cap=300.0) == 300.0  # no overflow after days of failures


def schedule() -> PollSchedule:
    return PollSchedule(interval=0.75, slowdown=10.0, retry_cap=30.0)


def test_an_answered_poll_waits_the_interval_or_ten_times_a_slow_poll() -> None:
    polls = schedule()
    assert polls.after_success(started=100.0, ended=100.01) == pytest.approx(100.75)
    assert polls.after_success(started=200.0, ended=203.0) == pytest.approx(230.0)  # a 3 s list: every 30 s


def test_failed_polls_back_off_from_their_end_without_counting_their_duration() -> None:
    polls = schedule()
    # Failures that each took 10 s (a deadline): waits of 1, 2, 4... s after each, never 10x 10 s.
    waits = []
    now = 0.0
    for _ in range(7):
        now += 10.0
        waits.append(polls.after_failure(ended=now) - now)
    assert waits == [1, 2, 4, 8, 16, 30, 30]
    assert polls.after_success(started=500.0, ended=500.01) == pytest.approx(500.75)  # and back to normal
    assert polls.after_failure(ended=600.0) == pytest.approx(601.0)


def test_a_503_window_delays_polling_by_at_most_the_cap() -> None:
    # The frontend answers 503 at once for 15 s, then works; polls take 10 ms.  (The old rule,
    # ten times the failed poll's duration with its retry sleeps, waited 135 s.)
    polls, now, answered = schedule(), 0.0, []
    while len(answered) < 3:
        started, ended = now, now + 0.01
        if started < 15.0:
            now = polls.after_failure(ended=ended)
        else:
            answered.append(started)
            now = polls.after_success(started=started, ended=ended)
    assert answered[0] - 15.0 <= 30.0
    assert answered[1] - answered[0] == pytest.approx(0.75)


def test_a_long_interval_is_also_the_shortest_wait_after_a_failure() -> None:
    polls = PollSchedule(interval=60.0, slowdown=10.0, retry_cap=30.0)
    assert polls.after_failure(ended=0.0) == 60.0


def test_request_timeouts_never_outlast_the_deadline() -> None:
    assert request_timeouts(now=0.0, deadline=120.0, connect=10.0, read=60.0) == (10.0, 60.0)
    assert request_timeouts(now=100.0, deadline=120.0, connect=10.0, read=60.0) == (10.0, 20.0)
    assert request_timeouts(now=115.0, deadline=120.0, connect=10.0, read=60.0) == (5.0, 5.0)
    assert request_timeouts(now=120.0, deadline=120.0, connect=10.0, read=60.0) is None
