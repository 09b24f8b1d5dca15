"""The storage lifecycle's pure decisions: log names and ages, lookaside garbage, project pruning."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from copr_importer.core.lookasidegc import classify, entry_of, referenced_entries
from copr_importer.core.prune import ProjectFacts, decide, within_guard
from copr_importer.core.retention import DAY, FileFacts, expired_logs, is_older, is_task_log
from copr_importer.core.sources import SourceEntry
from copr_importer.errors import BadInputError, ConfigError
from copr_importer.settings import load_settings

NOW = 1_800_000_000.0
MD5 = hashlib.md5(b"a").hexdigest()
SHA512 = hashlib.sha512(b"a").hexdigest()


def days_ago(days: float) -> float:
    return NOW - days * DAY


def test_age_limit_keeps_the_boundary_and_removes_just_past_it() -> None:
    assert not is_older(days_ago(30), now=NOW, days=30)
    assert is_older(days_ago(30) - 1, now=NOW, days=30)
    assert not is_older(NOW + 3600, now=NOW, days=0)  # a clock skewed into the future is young


@pytest.mark.parametrize("name", ["1.log", "123456789.log"])
def test_task_log_names(name: str) -> None:
    assert is_task_log(name)


@pytest.mark.parametrize("name", ["x.log", "12.log.1", ".12.log", "12.txt", "12", "-1.log", "1 .log", "a/1.log"])
def test_other_names_are_not_task_logs(name: str) -> None:
    assert not is_task_log(name)


def test_expired_logs_are_old_task_logs_only() -> None:
    files = [
        FileFacts("1.log", 10, days_ago(40)),
        FileFacts("2.log", 10, days_ago(5)),
        FileFacts("notes.log", 10, days_ago(400)),
        FileFacts("3.log", 10, days_ago(31)),
    ]
    assert [f.path for f in expired_logs(files, now=NOW, max_age_days=30)] == ["1.log", "3.log"]
    assert expired_logs(files, now=NOW, max_age_days=1000) == []


@pytest.mark.parametrize(
    ("relpath", "expected"),
    [
        (f"foo.tar.gz/{MD5}/foo.tar.gz", SourceEntry("foo.tar.gz", "md5", MD5)),
        (f"foo.tar.gz/md5/{MD5}/foo.tar.gz", SourceEntry("foo.tar.gz", "md5", MD5)),
        (f"foo.tar.gz/{SHA512}/foo.tar.gz", SourceEntry("foo.tar.gz", "sha512", SHA512)),
        (f"foo.tar.gz/sha512/{SHA512}/foo.tar.gz", SourceEntry("foo.tar.gz", "sha512", SHA512)),
        (f"foo.tar.gz/{MD5}/.foo.tar.gz.tmp-12", None),  # a crashed store's temporary file
        (f"foo.tar.gz/{MD5}/bar.tar.gz", None),  # name mismatch
        (f"foo.tar.gz/sha512/{MD5}/foo.tar.gz", None),  # digest length contradicts the type
        (f"foo.tar.gz/{MD5.upper()}/foo.tar.gz", None),
        ("foo.tar.gz/nothex/foo.tar.gz", None),
        ("foo.tar.gz", None),
        (f"x/foo.tar.gz/{MD5}/foo.tar.gz", None),
    ],
)
def test_entry_of_understands_both_layouts(relpath: str, expected: SourceEntry | None) -> None:
    assert entry_of(relpath) == expected


def test_referenced_entries_read_both_formats_and_skip_branches_without_sources() -> None:
    refs = referenced_entries([f"{MD5}  a.tar.gz\n", None, "", f"SHA512 (b.zip) = {SHA512}\n"])
    assert refs == {SourceEntry("a.tar.gz", "md5", MD5), SourceEntry("b.zip", "sha512", SHA512)}


def test_a_malformed_sources_file_is_an_error_not_an_empty_set() -> None:
    with pytest.raises(BadInputError):
        referenced_entries([f"{MD5}  a.tar.gz\n", "garbage\n"])


def test_classify_sorts_every_file_into_one_bucket() -> None:
    old, young = days_ago(30), days_ago(1)
    other = hashlib.md5(b"b").hexdigest()
    files = [
        FileFacts(f"a.tar.gz/{MD5}/a.tar.gz", 1, old),  # referenced, old
        FileFacts(f"a.tar.gz/{other}/a.tar.gz", 2, old),  # unreferenced, old: garbage
        FileFacts(f"b.tar.gz/{other}/b.tar.gz", 3, young),  # unreferenced, young
        FileFacts(f"a.tar.gz/{other}/.a.tar.gz.tmp-1", 4, old),  # unrecognised
        FileFacts(f"c.tar.gz/md5/{MD5}/c.tar.gz", 5, old),  # same digest, other name: garbage
    ]
    verdict = classify(files, referenced={SourceEntry("a.tar.gz", "md5", MD5)}, now=NOW, safety_age_days=7)
    assert [f.size for f in verdict.garbage] == [2, 5]
    assert [f.size for f in verdict.referenced] == [1]
    assert [f.size for f in verdict.young] == [3]
    assert [f.size for f in verdict.unrecognised] == [4]


def test_a_referenced_file_is_kept_at_any_age() -> None:
    files = [FileFacts(f"a/{MD5}/a", 1, 0.0)]
    verdict = classify(files, referenced={SourceEntry("a", "md5", MD5)}, now=NOW, safety_age_days=0)
    assert verdict.garbage == [] and len(verdict.referenced) == 1


def facts(changed_days_ago: float) -> ProjectFacts:
    return ProjectFacts("alice", "gone", days_ago(changed_days_ago), 1234)


def test_only_a_deleted_and_quiet_project_is_pruned() -> None:
    assert decide(facts(100), state="deleted", now=NOW, guard_days=90).prune
    assert not decide(facts(100), state="exists", now=NOW, guard_days=90).prune
    assert not decide(facts(100), state="unknown", now=NOW, guard_days=90).prune
    assert not decide(facts(100), state=None, now=NOW, guard_days=90).prune
    recent = decide(facts(10), state="deleted", now=NOW, guard_days=90)
    assert not recent.prune and "10.0 days ago" in recent.reason
    assert decide(facts(100), state="deleted", now=NOW, guard_days=90).bytes == 1234


def test_a_recent_project_need_not_be_asked_about() -> None:
    assert within_guard(facts(10), now=NOW, guard_days=90)
    assert not within_guard(facts(100), now=NOW, guard_days=90)


def test_lifecycle_settings_load_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("[lifecycle]\nlog_max_age_days = 14\ngc_safety_age_days = 2.5\nprune_guard_days = 60\n")
    life = load_settings(path).lifecycle
    assert (life.log_max_age_days, life.gc_safety_age_days, life.prune_guard_days) == (14, 2.5, 60)
    assert load_settings(None).lifecycle.log_max_age_days == 30  # copr's cron.monthly
    with pytest.raises(ConfigError):
        load_settings(None, **{"lifecycle.prune_guard_days": -1})
    with pytest.raises(ConfigError):
        load_settings(None, **{"lifecycle.no_such_key": 1})
