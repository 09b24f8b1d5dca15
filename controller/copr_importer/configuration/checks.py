"""Checking settings values against the settings dataclasses' own type hints.

A :class:`Schema` is made from the root settings dataclass.  Its sections are the
fields whose type is itself a dataclass; every other field is a value whose check
is derived from its type hint, so a field added to any section is checked without
touching this module.  Contract:

* a key that is no field is refused, named, with the closest known name
  (``frontend_base_ur1`` -> "did you mean frontend.base_url?");
* a value must match its hint: ``bool``, ``int`` (never a bool), ``float`` (an int
  too; finite), ``str``, ``Path`` (a non-empty string), ``Literal[...]``, ``X | None``,
  ``list[X]``, ``tuple[X, ...]``, ``dict[str, X]``; ``Annotated`` metadata is ignored;
* numbers are >= 0 unless the schema's ``bounds`` say otherwise for that dotted name;
* an ``int`` field whose name ends in ``_bytes`` also takes a size with a unit, as
  operators write them: ``"8GiB"``, ``"512 MiB"``, ``"10MB"`` (binary KiB..TiB,
  decimal kB..TB; a bare ``"8G"`` is refused as ambiguous);
* values are converted for the dataclass (a string to a ``Path``, an int to a
  float, a size to bytes);
* a failure is one :class:`ConfigError` line: where, the key as the operator wrote
  it, the value, and what was expected.

A hint this module does not know raises ``TypeError`` when the schema is made, that
is when the settings module is imported: a programming error that no command and no
test gets past, rather than a value let through unchecked.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields, is_dataclass
from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import Any, Literal

from ..errors import ConfigError

__all__ = ["Bound", "Origin", "Schema", "describe", "parse_size", "put_dotted"]


@dataclass(frozen=True, slots=True)
class Bound:
    """The range of a numeric setting: ``low`` (excluded when ``low_open``) up to ``high``."""

    low: float = 0
    low_open: bool = False
    high: float | None = None

    def admits(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        return above and (self.high is None or value <= self.high)

    def describe(self) -> str:
        low = f"{self.low:g}"
        if self.high is not None:
            return f"from {low} to {self.high:g}"
        return f"> {low}" if self.low_open else f">= {low}"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a value came from, to name it as the operator wrote it."""

    where: str
    """A file, or "command line"."""
    key: str
    """The key in that file's terms, e.g. ``executor.workers`` or ``[dist-git] max_workers``."""


def put_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``section.name`` (or a top-level ``name``) in a mapping shaped like the TOML file."""
    section, _, name = dotted.rpartition(".")
    (data.setdefault(section, {}) if section else data)[name] = value


class _Mismatch(Exception):
    """A value does not fit; the argument says what was expected."""


_UNITS = {
    "b": 1,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")
_SIZE_HELP = "a byte count or a size such as 8GiB (B, KiB, MiB, GiB, TiB; kB, MB, GB, TB)"


def parse_size(text: str) -> int:
    """Bytes in ``text``: ``"8GiB"``, ``"1.5 GiB"``, ``"10MB"``, ``"4096"``; ValueError otherwise."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a size: {text!r}")
    number, unit = match.groups()
    factor = _UNITS.get(unit.lower() or "b")
    if factor is None:
        raise ValueError(f"unknown size unit {unit!r}")
    try:
        count = Decimal(number) * factor
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
        raise ValueError(f"not a size: {text!r}") from exc
    if count != count.to_integral_value():
        raise ValueError(f"not a whole number of bytes: {text!r}")
    return int(count)


def _shown(value: Any) -> str:
    """A value as TOML would write it, cut to one short line."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str | PurePath):
        text = json.dumps(str(value), ensure_ascii=False)
    elif isinstance(value, Mapping):
        text = "a table"
    else:
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _normalized(name: str) -> str:
    return name.lower().replace(".", "_").replace("-", "_")


class Schema:
    """The checks for one root settings dataclass and its section dataclasses."""

    def __init__(
        self,
        root: type,
        *,
        bounds: Mapping[str, Bound],
        aliases: Mapping[str, str],
        directives: Iterable[str] = (),
    ) -> None:
        """``bounds``: stricter ranges by dotted name; ``aliases``: foreign names (copr's
        keys) of settings, by the dotted name they mean, for suggestions; ``directives``:
        top-level keys the loader handles itself, suggested like settings."""
        self.root = root
        self.bounds = dict(bounds)
        self.aliases = dict(aliases)
        self.directives = set(directives)
        self._hints: dict[type, dict[str, Any]] = {}
        for name, hint in self.values():  # a field these checks cannot handle fails at import
            try:
                _supported(hint)
            except TypeError as exc:
                raise TypeError(f"{name}: {exc}") from None

    # --- what the schema knows ----------------------------------------------

    def hints(self, cls: type) -> dict[str, Any]:
        if cls not in self._hints:
            resolved = typing.get_type_hints(cls, include_extras=True)
            self._hints[cls] = {f.name: resolved[f.name] for f in fields(cls)}
        return self._hints[cls]

    def values(self, cls: type | None = None, prefix: str = "") -> Iterator[tuple[str, Any]]:
        """Every value field as (dotted name, type hint), sections expanded."""
        for name, hint in self.hints(cls or self.root).items():
            if is_dataclass(hint):
                yield from self.values(typing.cast(type, hint), f"{prefix}{name}.")
            else:
                yield f"{prefix}{name}", hint

    def names(self) -> set[str]:
        sections = {name for name, hint in self.hints(self.root).items() if is_dataclass(hint)}
        return {name for name, _ in self.values()} | sections | self.directives

    def suggest(self, dotted: str) -> str | None:
        """The known name closest to an unknown ``dotted`` name, if one is close."""
        wanted = _normalized(dotted)
        for alias, meant in self.aliases.items():
            if _normalized(alias) == wanted:
                return meant
        known = {_normalized(name): name for name in self.names()}
        close = difflib.get_close_matches(wanted, list(known), n=1, cutoff=0.75)
        return known[close[0]] if close else None

    # --- building and checking -----------------------------------------------

    def build(self, data: Mapping[str, Any], *, where: str, origins: Mapping[str, Origin] | None = None) -> Any:
        """The root dataclass from ``data`` (shaped like the TOML file), every value checked."""
        return self._build(self.root, data, prefix="", origin=self._origin_of(where, origins or {}))

    def check(self, instance: Any, *, where: str) -> None:
        """Check every value of a built root dataclass (after programmatic changes)."""
        origin = self._origin_of(where, {})
        for dotted, value, hint in self._walk(instance, prefix=""):
            self.value(dotted, hint, value, origin=origin(dotted))

    def value(self, dotted: str, hint: Any, value: Any, *, origin: Origin) -> Any:
        """``value`` converted for the field ``dotted`` of type ``hint``, or a ConfigError."""
        bound = self.bounds.get(dotted, Bound())
        sized = dotted.endswith("_bytes")
        try:
            return _convert(hint, value, bound=bound, sized=sized)
        except _Mismatch as exc:
            raise ConfigError(f"{origin.where}: {origin.key} = {_shown(value)}: expected {exc}") from None

    def _origin_of(self, where: str, origins: Mapping[str, Origin]) -> Callable[[str], Origin]:
        return lambda dotted: origins.get(dotted) or Origin(where, dotted)

    def _build(self, cls: type, data: Mapping[str, Any], *, prefix: str, origin: Callable[[str], Origin]) -> Any:
        hints = self.hints(cls)
        built: dict[str, Any] = {}
        for key, value in data.items():
            dotted = prefix + key
            if key not in hints:
                raise ConfigError(self._unknown(dotted, origin(dotted)))
            hint = hints[key]
            if is_dataclass(hint):
                if not isinstance(value, Mapping):
                    place = origin(dotted)
                    raise ConfigError(f"{place.where}: {place.key} = {_shown(value)}: expected a table ([{dotted}])")
                built[key] = self._build(typing.cast(type, hint), value, prefix=dotted + ".", origin=origin)
            else:
                built[key] = self.value(dotted, hint, value, origin=origin(dotted))
        return cls(**built)

    def _walk(self, instance: Any, *, prefix: str) -> Iterator[tuple[str, Any, Any]]:
        for name, hint in self.hints(type(instance)).items():
            value = getattr(instance, name)
            if is_dataclass(hint):
                yield from self._walk(value, prefix=f"{prefix}{name}.")
            else:
                yield f"{prefix}{name}", value, hint

    def _unknown(self, dotted: str, origin: Origin) -> str:
        hint = self.suggest(dotted)
        advice = f" (did you mean {hint}?)" if hint else ""
        return f"{origin.where}: unknown setting {origin.key}{advice}"


# --- one value against one hint --------------------------------------------------


def _supported(hint: Any) -> None:
    """Raise TypeError unless :func:`_convert` knows every part of ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        _supported(args[0])
    elif origin in (typing.Union, types.UnionType, list, dict):
        for part in args:
            if part is not type(None):
                _supported(part)
    elif origin is tuple:
        if not (len(args) == 2 and args[1] is Ellipsis):
            raise TypeError(f"settings type {hint!r} is not supported by {__name__}: use tuple[X, ...]")
        _supported(args[0])
    elif origin is not Literal and hint is not Any and hint not in (bool, int, float, str):
        if not (isinstance(hint, type) and issubclass(hint, PurePath)):
            raise TypeError(f"settings type {hint!r} is not supported by {__name__}")


def _convert(hint: Any, value: Any, *, bound: Bound, sized: bool) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _convert(typing.get_args(hint)[0], value, bound=bound, sized=sized)
    if origin in (typing.Union, types.UnionType):
        return _union(typing.get_args(hint), value, bound=bound, sized=sized)
    if origin is Literal:
        choices = typing.get_args(hint)
        if any(value == c and type(value) is type(c) for c in choices):
            return value
        raise _Mismatch("one of " + ", ".join(_shown(c) for c in choices))
    if origin in (list, tuple, dict):
        return _container(origin, typing.get_args(hint), value, bound=bound, sized=sized)
    if hint is Any:
        return value
    if isinstance(hint, type):
        return _scalar(hint, value, bound=bound, sized=sized)
    raise TypeError(f"settings type {hint!r} is not supported by {__name__}")


def _union(options: tuple[Any, ...], value: Any, *, bound: Bound, sized: bool) -> Any:
    if value is None and type(None) in options:
        return None
    wanted = [o for o in options if o is not type(None)]
    for option in wanted:
        try:
            return _convert(option, value, bound=bound, sized=sized)
        except _Mismatch:
            continue
    raise _Mismatch(" or ".join(describe(o, bound=bound, sized=sized) for o in wanted))


def _container(origin: Any, args: tuple[Any, ...], value: Any, *, bound: Bound, sized: bool) -> Any:
    if origin is dict:
        key_hint, item_hint = args
        if not isinstance(value, Mapping):
            raise _Mismatch(f"a table of {describe(item_hint, bound=bound, sized=sized)}")
        return {
            _convert(key_hint, k, bound=bound, sized=False): _convert(item_hint, v, bound=bound, sized=sized)
            for k, v in value.items()
        }
    item_hint = args[0]  # tuple[X, ...] (the schema refuses other tuples when it is made)
    if not isinstance(value, list | tuple):
        raise _Mismatch(f"a list of {describe(item_hint, bound=bound, sized=sized)}")
    items = [_convert(item_hint, item, bound=bound, sized=sized) for item in value]
    return items if origin is list else tuple(items)


def _scalar(hint: type, value: Any, *, bound: Bound, sized: bool) -> Any:
    expected = describe(hint, bound=bound, sized=sized)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        number = _integer(value, sized=sized)
        if number is not None and bound.admits(number):
            return number
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            if bound.admits(value):
                return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif issubclass(hint, PurePath):
        if isinstance(value, str | PurePath) and str(value):
            return hint(value)
    else:
        raise TypeError(f"settings type {hint.__name__} is not supported by {__name__}")
    raise _Mismatch(expected)


def _integer(value: Any, *, sized: bool) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if sized and isinstance(value, str):
        try:
            return parse_size(value)
        except ValueError:
            return None
    return None


def describe(hint: Any, *, bound: Bound, sized: bool = False) -> str:
    """What a value of type ``hint`` must look like, for error messages."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return describe(typing.get_args(hint)[0], bound=bound, sized=sized)
    if origin in (typing.Union, types.UnionType):
        options = [o for o in typing.get_args(hint) if o is not type(None)]
        return " or ".join(describe(o, bound=bound, sized=sized) for o in options)
    if origin is Literal:
        return "one of " + ", ".join(_shown(c) for c in typing.get_args(hint))
    if origin in (list, tuple):
        return f"a list of {describe(typing.get_args(hint)[0], bound=bound, sized=sized)}"
    if origin is dict:
        return f"a table of {describe(typing.get_args(hint)[1], bound=bound, sized=sized)}"
    if hint is int:
        return f"{_SIZE_HELP}, {bound.describe()}" if sized else f"an integer {bound.describe()}"
    if hint is float:
        return f"a number {bound.describe()}"
    names = {bool: "true or false", str: "a string"}
    if hint in names:
        return names[hint]
    if isinstance(hint, type) and issubclass(hint, PurePath):
        return "a path (a non-empty string)"
    return "a value of the right type" if hint is Any else repr(hint)
