"""Parsing copr's task records."""

from __future__ import annotations

from typing import Any

import pytest

from copr_importer.core.task import MAX_BUILD_ID, MalformedTask, parse_task

GOOD: dict[str, Any] = {
    "build_id": 7,
    "owner": "@copr",
    "project": "demo:pr:12",
    "branches": ["master", "f43", "f43"],
    "pkg_name": "python-foo",
    "srpm_url": "https://example.invalid/foo-1-1.src.rpm",
    "sandbox": "@copr/demo--bob",
    "background": True,
}


def test_valid_record_round_trips_and_keeps_the_branch_order() -> None:
    task = parse_task({**GOOD, "unknown_key": 1})
    assert task.branches == ("master", "f43")  # as sent, the repeated f43 dropped
    assert task.reponame == "@copr/demo:pr:12/python-foo"
    assert parse_task(task.to_record()) == task


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"owner": "../etc"}, "invalid owner"),
        ({"owner": "a/b"}, "invalid owner"),
        ({"project": ".."}, "invalid project"),
        ({"pkg_name": ""}, "invalid pkg_name"),
        ({"pkg_name": ".hidden"}, "leading dot"),
        ({"branches": []}, "branches"),
        ({"branches": "master"}, "branches"),
        ({"background": "yes"}, "background"),
        ({"srpm_url": None}, "srpm_url"),
    ],
)
def test_bad_fields_keep_the_build_id_for_the_report(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(MalformedTask) as err:
        parse_task({**GOOD, **change})
    assert err.value.build_id == 7
    assert reason in err.value.message
    assert err.value.code == "malformed_task"


def test_missing_keys_are_named() -> None:
    record = dict(GOOD)
    del record["sandbox"], record["srpm_url"]
    with pytest.raises(MalformedTask, match="lacks srpm_url, sandbox"):
        parse_task(record)


@pytest.mark.parametrize("raw", [None, [], "x", {"build_id": True}, {"build_id": -1}, {"build_id": 0}])
def test_unidentifiable_records(raw: Any) -> None:
    with pytest.raises(MalformedTask) as err:
        parse_task(raw)
    assert err.value.build_id is None


def test_build_ids_are_copr_database_integers() -> None:
    # Copr's Build.id is a PostgreSQL integer; 10**300 once became a file name too long for the spool.
    good = {"build_id": MAX_BUILD_ID, "owner": "o", "project": "p", "branches": ["f43"], "pkg_name": "k"}
    good |= {"srpm_url": "http://x/k.src.rpm", "sandbox": "o/p--o", "background": False}
    assert MAX_BUILD_ID == 2**31 - 1 and parse_task(good).build_id == MAX_BUILD_ID
    for absurd in (MAX_BUILD_ID + 1, 10**300):
        with pytest.raises(MalformedTask, match="not an integer from 1 to 2147483647") as err:
            parse_task({**good, "build_id": absurd})
        assert err.value.build_id is None and len(err.value.message) < 200
