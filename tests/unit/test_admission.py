"""The decision function: copr's priority order under global and per-key caps."""

from __future__ import annotations

from copr_importer.core.admission import Limits, choose, prioritize
from copr_importer.core.task import ImportTask


def task(build_id: int, *, sandbox: str = "a", owner: str = "o", background: bool = False) -> ImportTask:
    return ImportTask(build_id, owner, "p", f"pkg{build_id}", ("master",), "http://x/y.src.rpm", sandbox, background)


UNLIMITED = {"per_owner": None, "per_sandbox": None}


def ids(tasks: list[ImportTask]) -> list[int]:
    return [t.build_id for t in tasks]


def test_copr_priority_example() -> None:
    # copr's own test: sandboxes a, a, b, c and a background a -> priorities 1, 2, 1, 1, 103
    queue = [
        task(1, sandbox="a"),
        task(2, sandbox="a"),
        task(3, sandbox="b"),
        task(4, sandbox="c"),
        task(5, sandbox="a", background=True),
    ]
    assert ids(prioritize(queue)) == [1, 3, 4, 2, 5]


def test_first_import_of_a_user_overtakes_a_mass_rebuild() -> None:
    queue = [task(i, sandbox="bulk") for i in range(1, 50)] + [task(100, sandbox="me")]
    assert ids(choose(queue=queue, running=[], limits=Limits(total=2, **UNLIMITED))) == [1, 100]


def test_ties_are_fifo_by_build_id_regardless_of_input_order() -> None:
    queue = [task(9, sandbox="x"), task(3, sandbox="y"), task(5, sandbox="z")]
    assert ids(prioritize(queue)) == [3, 5, 9]


def test_global_cap_counts_running_tasks() -> None:
    queue = [task(i, sandbox=str(i)) for i in range(1, 10)]
    running = [queue[0], queue[1]]
    chosen = choose(queue=queue, running=running, limits=Limits(total=4, **UNLIMITED))
    assert ids(chosen) == [3, 4]


def test_zero_holds_all_new_work() -> None:
    queue = [task(1)]
    assert choose(queue=queue, running=[], limits=Limits(total=0)) == []


def test_lowering_the_cap_below_running_starts_nothing() -> None:
    queue = [task(i, sandbox=str(i)) for i in range(1, 10)]
    assert choose(queue=queue, running=queue[:5], limits=Limits(total=2, **UNLIMITED)) == []


def test_per_sandbox_cap() -> None:
    queue = [task(i, sandbox="s", owner=f"o{i}") for i in range(1, 6)] + [task(9, sandbox="t")]
    chosen = choose(queue=queue, running=[], limits=Limits(total=10, per_owner=None, per_sandbox=3))
    assert ids(chosen) == [1, 9, 2, 3]


def test_per_owner_cap_includes_running_tasks_that_left_the_queue() -> None:
    gone = task(50, owner="bob", sandbox="z1")
    queue = [task(i, owner="bob", sandbox=f"s{i}") for i in range(1, 4)]
    chosen = choose(queue=queue, running=[gone], limits=Limits(total=10, per_owner=2, per_sandbox=None))
    assert ids(chosen) == [1]


def test_held_and_running_tasks_are_not_started_again() -> None:
    queue = [task(i, sandbox=str(i)) for i in range(1, 5)]
    chosen = choose(queue=queue, running=[queue[0]], limits=Limits(total=10, **UNLIMITED), held={2})
    assert ids(chosen) == [3, 4]


def test_background_tasks_go_last_but_still_run() -> None:
    queue = [task(1, sandbox="a", background=True), task(2, sandbox="b"), task(3, sandbox="c")]
    assert ids(choose(queue=queue, running=[], limits=Limits(total=3, **UNLIMITED))) == [2, 3, 1]


def test_running_task_counts_for_position_in_its_sandbox() -> None:
    # build 1 runs; build 2 is the sandbox's second task (priority 2), build 3 another's first (1)
    queue = [task(1, sandbox="a"), task(2, sandbox="a"), task(3, sandbox="b")]
    chosen = choose(queue=queue, running=[queue[0]], limits=Limits(total=2, **UNLIMITED))
    assert ids(chosen) == [3]


def test_duplicates_in_queue_start_once() -> None:
    queue = [task(1), task(1)]
    assert ids(choose(queue=queue, running=[], limits=Limits(total=5, **UNLIMITED))) == [1]
