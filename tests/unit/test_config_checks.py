"""Settings values checked from the dataclasses' type hints: every field, any new field, sizes,
bounds, and an unknown key named with the closest known one."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pytest

from copr_importer.configuration.checks import Bound, Schema, describe, parse_size
from copr_importer.errors import ConfigError
from copr_importer.settings import BOUNDS, SCHEMA, Settings, from_mapping, validate

GiB = 1024**3


def test_every_settings_field_has_a_checkable_type_and_a_default_that_passes() -> None:
    """A field whose hint the checks cannot handle fails here, not in production."""
    names = [name for name, _ in SCHEMA.values()]
    assert len(names) > 60 and "executor.workers" in names and "download.max_bytes" in names
    for name, hint in SCHEMA.values():
        assert describe(hint, bound=BOUNDS.get(name, Bound()))
    SCHEMA.check(Settings(), where="defaults")


def test_every_bound_names_a_numeric_setting() -> None:
    hints = dict(SCHEMA.values())
    for name in BOUNDS:
        assert hints[name] in (int, float), name


@dataclass(frozen=True, slots=True)
class _Extra:
    """A section another change might add: its fields are checked with no code of their own."""

    hosts: list[str] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    ports: tuple[int, ...] = ()
    mode: Literal["a", "b"] = "a"
    cache_bytes: int = 0
    limit: int | None = None
    where: Path | None = None
    anything: Any = None


@dataclass(frozen=True, slots=True)
class _Root:
    name: str = "x"
    extra: _Extra = field(default_factory=_Extra)


TOY = Schema(_Root, bounds={"extra.ports": Bound(1, high=65535)}, aliases={})


def test_fields_of_a_new_section_are_checked_and_converted() -> None:
    built = TOY.build(
        {
            "extra": {
                "hosts": ["a", "b"],
                "weights": {"a": 1, "b": 0.5},
                "ports": [80, 443],
                "mode": "b",
                "cache_bytes": "1.5 GiB",
                "limit": 3,
                "where": "/srv",
                "anything": [1, "x"],
            }
        },
        where="t.toml",
    )
    extra = built.extra
    assert extra.hosts == ["a", "b"] and extra.weights == {"a": 1.0, "b": 0.5} and extra.ports == (80, 443)
    assert extra.cache_bytes == 3 * GiB // 2 and extra.where == Path("/srv") and extra.limit == 3


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"hosts": "a"}, 'extra.hosts = "a": expected a list of a string'),
        ({"hosts": ["a", 1]}, "extra.hosts = ['a', 1]: expected a string"),
        ({"weights": {"a": "x"}}, "expected a number >= 0"),
        ({"ports": [0]}, "extra.ports = [0]: expected an integer from 1 to 65535"),
        ({"mode": "c"}, 'extra.mode = "c": expected one of "a", "b"'),
        ({"limit": "3"}, 'extra.limit = "3": expected an integer >= 0'),
        ({"where": ""}, 'extra.where = "": expected a path (a non-empty string)'),
        ({"mode": True}, 'expected one of "a", "b"'),
    ],
)
def test_a_bad_value_in_a_new_section_is_one_line_naming_key_and_type(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TOY.build({"extra": section}, where="t.toml")
    assert str(caught.value).startswith("t.toml: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("hint", [set[str], frozenset[str] | None, tuple[int, str], list[bytes] | None])
def test_a_hint_the_checks_do_not_know_fails_when_the_schema_is_made(hint: Any) -> None:
    """At import of the settings, so a field another change adds cannot go unchecked."""
    odd = dataclass(frozen=True)(type("Odd", (), {"__annotations__": {"tags": hint}, "tags": None}))
    with pytest.raises(TypeError, match=r"^tags: settings type .* is not supported"):
        Schema(odd, bounds={}, aliases={})


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("8GiB", 8 * GiB),
        ("8 GiB", 8 * GiB),
        ("1.5GiB", 3 * GiB // 2),
        ("10MB", 10_000_000),
        ("512mib", 512 << 20),
        ("4096", 4096),
        ("7 B", 7),
        ("2TiB", 2 << 40),
        ("3kB", 3000),
        ("1KiB", 1024),
    ],
)
def test_sizes_as_operators_write_them(text: str, count: int) -> None:
    assert parse_size(text) == count


@pytest.mark.parametrize("text", ["8G", "8 gigs", "GiB", "-1GiB", "0.1B", "1e3", ""])
def test_ambiguous_or_broken_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"executor": {"workers": "ten"}}, 'executor.workers = "ten": expected an integer >= 0'),
        ({"executor": {"workers": True}}, "executor.workers = true: expected an integer >= 0"),
        ({"executor": {"workers": -1}}, "executor.workers = -1: expected an integer >= 0"),
        ({"frontend": {"poll_interval": "fast"}}, 'frontend.poll_interval = "fast": expected a number >= 0'),
        ({"frontend": {"read_timeout": 0}}, "frontend.read_timeout = 0: expected a number > 0"),
        ({"telemetry": {"live_after": float("nan")}}, "telemetry.live_after = nan: expected a number > 0"),
        ({"download": {"max_bytes": "8G"}}, 'download.max_bytes = "8G": expected a byte count or a size such as 8GiB'),
        ({"git": {"batch_size": 0}}, "git.batch_size = 0: expected an integer >= 1"),
        ({"job": {"bad_input_exit_code": 0}}, "job.bad_input_exit_code = 0: expected an integer from 1 to 255"),
        ({"lookaside": {"hashtype": "sha1"}}, 'lookaside.hashtype = "sha1": expected one of "md5", "sha512"'),
        ({"data_dir": 3}, "data_dir = 3: expected a path"),
        ({"frontend": "https://x"}, 'frontend = "https://x": expected a table ([frontend])'),
        ({"frontend_base_ur1": "https://x"}, "unknown setting frontend_base_ur1 (did you mean frontend.base_url?)"),
        (
            {"frontend": {"base_ur1": "https://x"}},
            "unknown setting frontend.base_ur1 (did you mean frontend.base_url?)",
        ),
        ({"max_workers": 10}, "unknown setting max_workers (did you mean executor.workers?)"),
        ({"frontnd": {}}, "unknown setting frontnd (did you mean frontend?)"),
        ({"copr_dist_git_cnf": "x"}, "unknown setting copr_dist_git_cnf (did you mean copr_dist_git_conf?)"),
        ({"zzz": 1}, "unknown setting zzz"),
    ],
)
def test_bad_settings_are_one_line_naming_the_key_and_what_was_expected(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_mapping(data, where="importer.toml")
    assert str(caught.value).startswith(f"importer.toml: {message}") and "\n" not in str(caught.value)


def test_sizes_in_settings_and_programmatic_changes_are_checked_too() -> None:
    settings = from_mapping({"download": {"max_bytes": "12GiB"}, "unpack": {"max_total_bytes": "20 GiB"}})
    assert settings.download.max_bytes == 12 * GiB and settings.unpack.max_total_bytes == 20 * GiB
    broken = replace(settings, lifecycle=replace(settings.lifecycle, prune_guard_days=-1.0))
    with pytest.raises(ConfigError, match=r"^command line: lifecycle.prune_guard_days = -1.0: expected a number >= 0$"):
        validate(broken, where="command line")
