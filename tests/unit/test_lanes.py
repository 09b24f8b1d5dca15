"""Lanes of frontend calls (app/lanes.py): the controller's thread never waits for them."""

from __future__ import annotations

import threading

import pytest

from copr_importer.app.lanes import Done, Lane, Lanes
from tests.support.waiting import wait_until


def collect(lane: Lane, count: int) -> list[Done]:
    done: list[Done] = []

    def enough() -> bool:
        done.extend(lane.finished())
        return len(done) >= count

    wait_until(enough, timeout=30, what=f"{count} calls on lane {lane.name}")
    return done


def test_an_inline_lane_runs_at_once_and_hands_out_values_and_errors() -> None:
    lane = Lanes.inline().confirm
    lane.submit(1, lambda: "one")
    lane.submit(2, lambda: 1 / 0)
    assert lane.busy(1) and lane.inflight() == 2
    done = {d.key: d for d in lane.finished()}
    assert done[1].value == "one" and done[1].error is None
    assert isinstance(done[2].error, ZeroDivisionError)
    assert lane.inflight() == 0 and lane.finished() == []


def test_a_threaded_lane_has_a_fixed_number_of_workers_and_one_call_per_key() -> None:
    release = threading.Event()
    lane = Lane("report", workers=2, clock=lambda: 0.0)
    lane.submit(1, release.wait)
    with pytest.raises(RuntimeError):
        lane.submit(1, release.wait)  # that key is in flight
    lane.submit(2, release.wait)
    assert lane.free() == 0
    with pytest.raises(RuntimeError):
        lane.submit(3, release.wait)  # no free worker: the caller must wait, nothing queues up
    release.set()
    assert sorted(d.key for d in collect(lane, 2)) == [1, 2]  # type: ignore[type-var]
    assert lane.free() == 2
    lane.close()


def test_a_hanging_lane_does_not_hold_up_another() -> None:
    lanes = Lanes(workers=1)
    never = threading.Event()
    lanes.report.submit(1, never.wait)  # a report that hangs
    lanes.poll.submit("poll", lambda: ["queue"])
    assert [d.value for d in collect(lanes.poll, 1)] == [["queue"]]
    assert lanes.busy()  # the report is still in flight
    never.set()
    lanes.close()
