"""N from a ConfigMap: applied when valid, last good value kept otherwise."""

from __future__ import annotations

from copr_importer.core.livelimit import LiveLimit, limit_problem


def test_valid_values_apply_and_report_changes() -> None:
    limit = LiveLimit(10)
    assert limit.update("10").changed is False
    update = limit.update(" 25\n")
    assert (update.value, update.changed, update.problem) == (25, True, None)
    assert limit.update("0").value == 0  # zero holds new work


def test_invalid_values_keep_the_last_good_one_and_say_why_once() -> None:
    limit = LiveLimit(4)
    for raw, reason in [
        ("-1", "not a non-negative integer"),
        ("ten", "not a non-negative integer"),
        ("99999", "above the maximum"),
        (None, "missing"),
    ]:
        update = limit.update(raw)
        assert update.value == 4 and not update.changed
        assert update.problem is not None and reason in update.problem and "keeping 4" in update.problem
        assert limit.update(raw).problem is None  # the same bad value is reported once
    assert limit.update("6").value == 6


def test_the_shared_validation_accepts_plain_ascii_digits_only() -> None:
    assert limit_problem("12") is None and limit_problem(" 0\n") is None
    for raw in ("²", "١٢", "1.5", "", "+3"):
        problem = limit_problem(raw)
        assert problem is not None and "not a non-negative integer" in problem, raw
    assert LiveLimit(3).update("²").value == 3  # used to raise ValueError in int()


def test_a_limit_is_known_only_once_a_valid_value_was_read() -> None:
    limit = LiveLimit(0)  # the executor starts no Job on a guess
    assert not limit.known
    limit.update("lots")
    limit.update(None)
    assert not limit.known and limit.value == 0
    limit.update("0")
    assert limit.known and limit.value == 0
