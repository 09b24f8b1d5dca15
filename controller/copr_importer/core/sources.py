"""The dist-git ``sources`` file: parse and render both formats.

* old format, one ``<hash>  <filename>`` line per file, the hash type implied
  (copr writes MD5);
* BSD format, ``<HASHTYPE> (<filename>) = <hash>`` (Fedora's default since
  fedpkg 1.26).

Mixing hash types in one file is an error, as in pyrpkg.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ..errors import BadInputError

__all__ = ["SourceEntry", "parse_sources", "render_sources"]

Style = Literal["old", "bsd"]

_HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
_BSD = re.compile(r"^(?P<type>[A-Za-z0-9]+) \((?P<name>.+)\) = (?P<hash>[0-9a-fA-F]+)$")
_OLD = re.compile(r"^(?P<hash>[0-9a-fA-F]+)  (?P<name>.+)$")


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """One lookaside file: its name, hash type (lower case) and hex digest."""

    filename: str
    hashtype: str
    digest: str


def _check(entry: SourceEntry, lineno: int) -> SourceEntry:
    expected = _HEX_LENGTHS.get(entry.hashtype)
    if expected is None or len(entry.digest) != expected:
        raise BadInputError(f"sources line {lineno}: bad {entry.hashtype} digest for {entry.filename}")
    return entry


def parse_sources(text: str, *, default_hashtype: str = "md5") -> list[SourceEntry]:
    """Parse either format; old-format lines use ``default_hashtype``."""
    entries: list[SourceEntry] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if match := _BSD.match(line):
            entry = SourceEntry(match["name"], match["type"].lower(), match["hash"].lower())
        elif match := _OLD.match(line):
            entry = SourceEntry(match["name"], default_hashtype, match["hash"].lower())
        else:
            raise BadInputError(f"sources line {lineno} is malformed: {line!r}")
        entries.append(_check(entry, lineno))
    if len({e.hashtype for e in entries}) > 1:
        raise BadInputError("sources mixes hash types")
    return entries


def render_sources(entries: Iterable[SourceEntry], *, style: Style) -> str:
    """Render entries sorted by file name; an empty list renders as ``""``."""
    lines = []
    for entry in sorted(entries, key=lambda e: e.filename):
        if style == "bsd":
            lines.append(f"{entry.hashtype.upper()} ({entry.filename}) = {entry.digest}\n")
        else:
            lines.append(f"{entry.digest}  {entry.filename}\n")
    return "".join(lines)
