"""One RPM header (the signature header or the main header), checked as rpm 4.18 checks it.

Nothing is decoded before the whole index has passed rpm's own structural rules
(``hdrblobInit``/``hdrblobVerifyInfo`` in ``lib/header.c``, and ``regionSwab``'s
size accounting that ``rpm2archive`` and ``rpm -q`` apply when they import a
header):

* the intro's tag count and data size are within limits (ours are lower than
  rpm's 65,535 tags and 256 MiB, so that a header costs little memory);
* an immutable region tag, when there is one, is well formed and, for the main
  header, spans the whole header;
* every other entry has a tag of at least 100, a known type, a count from 1 to
  the data size (at most 1,048,575 elements for arrays), an offset aligned for its
  type, and data that fits: strings are terminated inside the data area;
* entries do not overlap and come in offset order, none reaches into the region
  trailer, and their aligned lengths add up to exactly the data size;
* in the main header, a tag rpm knows has rpm's type for it (strings may be any
  of the three string types, as rpm allows).

Because offsets only grow, checking and decoding cost time linear in the size
of the header, whatever its index says.  Values are decoded only when asked
for, with their type checked again.  Every failure is a
:class:`~copr_importer.errors.BadInputError` naming the header and the tag.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO

from ..errors import BadInputError
from .rpmtagtypes import tag_type_agrees

__all__ = ["HEADER_MAGIC", "REGION_IMMUTABLE", "REGION_SIGNATURES", "Header", "RpmType", "read_header"]

HEADER_MAGIC = b"\x8e\xad\xe8\x01\x00\x00\x00\x00"
REGION_IMAGE = 61
REGION_SIGNATURES = 62
REGION_IMMUTABLE = 63
_REGION_SIZE = 16  # a region trailer is one index entry's worth of bytes
_MIN_TAG = 100  # HEADER_I18NTABLE
_ARRAY_MAX = 0x000FFFFF  # HEADER_ARRAY_MAX
_SCAN = 1 << 16  # bytes counted at a time when looking for the n-th string end


class RpmType:
    """rpm's tag data types."""

    NULL = 0
    CHAR = 1
    INT8 = 2
    INT16 = 3
    INT32 = 4
    INT64 = 5
    STRING = 6
    BIN = 7
    STRING_ARRAY = 8
    I18NSTRING = 9


_SIZES = {RpmType.CHAR: 1, RpmType.INT8: 1, RpmType.INT16: 2, RpmType.INT32: 4, RpmType.INT64: 8, RpmType.BIN: 1}
_ALIGN = {RpmType.INT16: 2, RpmType.INT32: 4, RpmType.INT64: 8}
_STRINGS = frozenset({RpmType.STRING, RpmType.STRING_ARRAY, RpmType.I18NSTRING})
_INT_FORMATS = {RpmType.CHAR: "B", RpmType.INT8: "B", RpmType.INT16: "H", RpmType.INT32: "I", RpmType.INT64: "Q"}


def _bad(what: str, *, detail: str) -> BadInputError:
    return BadInputError(f"corrupt RPM {what}: {detail}", code="srpm_query_failed")


@dataclass(frozen=True, slots=True)
class Entry:
    """One checked index entry; ``offset`` and ``length`` locate its data."""

    tag: int
    type: int
    offset: int
    count: int
    length: int


def _string_end(data: bytes, *, start: int, count: int, limit: int) -> int:
    """The offset just past the ``count``-th NUL from ``start``, or -1 before ``limit``.

    NULs are counted by C code a window at a time, so a million one-byte strings
    cost a few hundred Python steps rather than a million."""
    pos, remaining = start, count
    while pos < limit:
        window = min(pos + _SCAN, limit)
        found = data.count(b"\0", pos, window)
        if found >= remaining:
            for _ in range(remaining):
                pos = data.index(b"\0", pos, window) + 1
            return pos
        remaining -= found
        pos = window
    return -1


def _data_length(kind: int, *, data: bytes, offset: int, count: int) -> int:
    """rpm's ``dataLength`` on disk: the entry's byte length, or -1 when it does not fit."""
    if kind in _STRINGS:
        if kind == RpmType.STRING and count != 1:
            return -1
        end = _string_end(data, start=offset, count=count, limit=len(data))
        return end - offset if end >= 0 else -1
    size = _SIZES.get(kind, 0)
    length = size * count
    return length if 0 < length <= len(data) - offset else -1


def _align_gap(kind: int, *, position: int) -> int:
    align = _ALIGN.get(kind, 1)
    return -position % align


class Header:
    """A header whose structure passed rpm's checks; values are decoded on request."""

    def __init__(self, *, what: str, blob: bytes, data_start: int, entries: dict[int, Entry], region: bool) -> None:
        self.what = what
        self.blob = blob
        self.has_region = region
        self._data = memoryview(blob)[data_start:]
        self._entries = entries

    def __contains__(self, tag: int) -> bool:
        return tag in self._entries

    def entry(self, tag: int) -> Entry | None:
        return self._entries.get(tag)

    def _typed(self, tag: int, *, kinds: frozenset[int], wanted: str) -> Entry | None:
        entry = self._entries.get(tag)
        if entry is not None and entry.type not in kinds:
            raise _bad(self.what, detail=f"tag {tag} has type {entry.type}, expected {wanted}")
        return entry

    def strings(self, tag: int) -> list[str] | None:
        """A string-class tag's values (a single string is a list of one)."""
        entry = self._typed(tag, kinds=_STRINGS, wanted="strings")
        if entry is None:
            return None
        raw = bytes(self._data[entry.offset : entry.offset + entry.length - 1])
        return [s.decode("utf-8", "surrogateescape") for s in raw.split(b"\0")]

    def string(self, tag: int) -> str | None:
        values = self.strings(tag)
        if values is None:
            return None
        if len(values) != 1:
            raise _bad(self.what, detail=f"tag {tag} holds {len(values)} strings, expected one")
        return values[0]

    def ints(self, tag: int, *, kinds: frozenset[int]) -> list[int] | None:
        entry = self._typed(tag, kinds=kinds, wanted="integers of type " + "/".join(map(str, sorted(kinds))))
        if entry is None:
            return None
        fmt = f">{entry.count}{_INT_FORMATS[entry.type]}"
        return list(struct.unpack_from(fmt, self._data, entry.offset))

    def binary(self, tag: int) -> bytes | None:
        entry = self._typed(tag, kinds=frozenset({RpmType.BIN}), wanted="binary")
        return None if entry is None else bytes(self._data[entry.offset : entry.offset + entry.length])


def read_header(stream: IO[bytes], *, what: str, region_tag: int, max_tags: int, max_data: int) -> Header:
    """Read one header at the stream's position (without the signature header's padding)."""
    intro = stream.read(16)
    if len(intro) != 16:
        raise BadInputError(f"truncated RPM: the {what} is cut short", code="srpm_query_failed")
    if intro[:8] != HEADER_MAGIC:
        raise BadInputError(f"not an RPM: bad {what} magic", code="srpm_query_failed")
    il, dl = struct.unpack(">ii", intro[8:])
    if not 1 <= il <= max_tags or not 0 <= dl <= max_data:
        raise _bad(
            what, detail=f"{il} tags and {dl} bytes of data are outside the limits ({max_tags} tags, {max_data} bytes)"
        )
    rest = stream.read(16 * il + dl)
    if len(rest) != 16 * il + dl:
        raise BadInputError(f"truncated RPM: the {what} is cut short", code="srpm_query_failed")
    blob = intro + rest
    index = [struct.unpack_from(">iIiI", blob, 16 + 16 * i) for i in range(il)]
    data = blob[16 + 16 * il :]
    region = _region(what, index=index, data=data, region_tag=region_tag)
    entries = _check_entries(what, index=index[1:] if region else index, data=data, region=region)
    typed = region_tag == REGION_IMMUTABLE and region is not None
    if typed:
        for entry in entries:
            if not tag_type_agrees(entry.tag, entry.type):
                raise _bad(what, detail=f"tag {entry.tag} has type {entry.type}, which rpm does not allow for it")
    by_tag: dict[int, Entry] = {}
    for entry in entries:
        if by_tag.setdefault(entry.tag, entry) is not entry:
            raise _bad(what, detail=f"tag {entry.tag} appears twice")
    return Header(what=what, blob=blob, data_start=16 + 16 * il, entries=by_tag, region=region is not None)


def _region(what: str, *, index: list[tuple[int, int, int, int]], data: bytes, region_tag: int) -> int | None:
    """Check the immutable region (``hdrblobVerifyRegion``); return its data size, None if absent."""
    tag, kind, offset, count = index[0]
    if tag != region_tag:
        if region_tag == REGION_IMMUTABLE:
            raise _bad(what, detail="no immutable region (a pre-4.0 package, which rpm no longer builds)")
        return None
    if kind != RpmType.BIN or count != _REGION_SIZE:
        raise _bad(what, detail=f"region tag {tag} has type {kind} and count {count}")
    if not 0 <= offset <= len(data) - _REGION_SIZE:
        raise _bad(what, detail=f"region trailer offset {offset} is outside the data")
    t_tag, t_kind, t_offset, t_count = struct.unpack_from(">iIiI", data, offset)
    if region_tag == REGION_SIGNATURES and t_tag == REGION_IMAGE:
        t_tag = REGION_SIGNATURES  # old packages wrote this; rpm accepts it
    if (t_tag, t_kind, t_count) != (region_tag, RpmType.BIN, _REGION_SIZE):
        raise _bad(what, detail="bad region trailer")
    size = -t_offset
    rdl = offset + _REGION_SIZE
    if size <= 0 or size % 16 or size // 16 > len(index):
        raise _bad(what, detail=f"region trailer claims {size} bytes of index")
    if region_tag == REGION_IMMUTABLE and (size // 16 != len(index) or rdl != len(data)):
        raise _bad(what, detail="the immutable region does not span the whole header")
    if size // 16 != len(index):
        raise _bad(what, detail="entries outside the signature region")
    return rdl


def _check_entries(
    what: str, *, index: list[tuple[int, int, int, int]], data: bytes, region: int | None
) -> list[Entry]:
    entries: list[Entry] = []
    end = 0
    packed = 0  # regionSwab's running total: aligned lengths, as rpm adds them up
    dl = len(data)
    for tag, kind, offset, count in index:
        problem = _entry_problem(tag=tag, kind=kind, offset=offset, count=count, dl=dl, end=end)
        if problem:
            raise _bad(what, detail=f"tag {tag}: {problem}")
        length = _data_length(kind, data=data, offset=offset, count=count)
        if length <= 0:
            raise _bad(what, detail=f"tag {tag}: its data does not fit in the header")
        end = offset + length
        if region is not None and end > region - _REGION_SIZE and offset < region:
            raise _bad(what, detail=f"tag {tag}: its data overlaps the region trailer")
        packed += _align_gap(kind, position=packed) + length
        entries.append(Entry(tag, kind, offset, count, length))
    if packed + (_REGION_SIZE if region is not None else 0) != dl:
        raise _bad(what, detail=f"its entries account for {packed} of {dl} data bytes")
    return entries


def _entry_problem(*, tag: int, kind: int, offset: int, count: int, dl: int, end: int) -> str | None:
    if offset < end:
        return "its data overlaps the previous entry's or comes before it"
    if tag < _MIN_TAG:
        return "reserved tag number"
    if not RpmType.NULL < kind <= RpmType.I18NSTRING:
        return f"unknown type {kind}"
    if not 1 <= count <= dl:
        return f"count {count} is out of range"
    if kind != RpmType.BIN and count > _ARRAY_MAX:
        return f"{count} elements is more than rpm allows"
    if offset % _ALIGN.get(kind, 1):
        return f"offset {offset} is not aligned for type {kind}"
    if offset > dl:
        return f"offset {offset} is outside the data"
    return None
