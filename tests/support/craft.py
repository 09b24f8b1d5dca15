"""Hand-made RPM files, for inputs rpmbuild refuses to produce, and surgery on real ones.

:func:`craft_rpm` writes a complete package the way rpmbuild lays it out (lead,
signature header with SHA-1, SHA-256 and MD5 digests, a main header with an
immutable region, a cpio payload in the ``newc`` or the stripped ``07070X``
format, compressed with any of rpm's compressors), so that ``rpm -K`` and
``rpm2archive`` accept it unless a test asks for a lie.  :func:`split_rpm`,
:func:`header_entries`, :func:`header_blob` and :func:`reseal` take real
packages apart and put them back with digests that match again, which is how
the parity corpus builds mutants that reach past rpm's digest checks.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import stat
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

import zstandard

__all__ = [
    "CraftFile",
    "Entry",
    "RpmParts",
    "compress",
    "craft_rpm",
    "decompress",
    "evil_srpm",
    "header_blob",
    "header_entries",
    "reseal",
    "split_rpm",
    "strings",
]

MAGIC = b"\x8e\xad\xe8\x01\0\0\0\0"
_ALIGN = {3: 2, 4: 4, 5: 8}
_INT = {3: ">H", 4: ">I", 5: ">Q"}
SIG_SIZE, SIG_MD5, SIG_SHA1, SIG_SHA256, SIG_PAYLOADSIZE, SIG_RESERVED = 1000, 1004, 269, 273, 1007, 1008
PAYLOADDIGEST, PAYLOADDIGESTALGO, PAYLOADDIGESTALT = 5092, 5093, 5097


@dataclass
class CraftFile:
    name: str
    data: bytes = b""
    mode: int = stat.S_IFREG | 0o644
    nlink: int = 1
    flags: int = 0
    in_header: bool = True
    in_payload: bool = True
    header_size: int | None = None
    digest: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Entry:
    """One header entry: tag, type, count and its raw (big-endian) data."""

    tag: int
    type: int
    count: int
    data: bytes


def strings(tag: int, values: list[str], *, kind: int = 8) -> Entry:
    return Entry(tag, kind, len(values), b"".join(v.encode("utf-8", "surrogateescape") + b"\0" for v in values))


def ints(tag: int, kind: int, values: list[int]) -> Entry:
    return Entry(tag, kind, len(values), b"".join(struct.pack(_INT[kind], v) for v in values))


def header_blob(entries: list[Entry], *, region: int | None) -> bytes:
    """A header as rpm writes it: entries sorted by tag, data aligned, the region trailer last."""
    ordered = sorted(entries, key=lambda e: e.tag)
    il = len(ordered) + (1 if region else 0)
    index, store = b"", b""
    for e in ordered:
        store += b"\0" * (-len(store) % _ALIGN.get(e.type, 1))
        index += struct.pack(">iIiI", e.tag, e.type, len(store), e.count)
        store += e.data
    if region:
        index = struct.pack(">iIiI", region, 7, len(store), 16) + index
        store += struct.pack(">iIiI", region, 7, -16 * il, 16)
    return MAGIC + struct.pack(">ii", il, len(store)) + index + store


def header_entries(blob: bytes) -> list[Entry]:
    """The entries of a well-formed header (its region entry left out)."""
    il = struct.unpack(">i", blob[8:12])[0]
    data = blob[16 + 16 * il :]
    entries = []
    for i in range(il):
        tag, kind, offset, count = struct.unpack_from(">iIiI", blob, 16 + 16 * i)
        if tag < 100:
            continue
        if kind in (6, 8, 9):
            end = offset
            for _ in range(count):
                end = data.index(b"\0", end) + 1
            raw = data[offset:end]
        else:
            raw = data[offset : offset + {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1}[kind] * count]
        entries.append(Entry(tag, kind, count, raw))
    return entries


@dataclass(frozen=True)
class RpmParts:
    lead: bytes
    sig: bytes
    main: bytes
    payload: bytes


def split_rpm(data: bytes) -> RpmParts:
    sig_len = 16 + 16 * struct.unpack(">i", data[104:108])[0] + struct.unpack(">i", data[108:112])[0]
    main_at = 96 + sig_len + (-sig_len % 8)
    il, dl = struct.unpack(">ii", data[main_at + 8 : main_at + 16])
    main_end = main_at + 16 + 16 * il + dl
    return RpmParts(data[:96], data[96 : 96 + sig_len], data[main_at:main_end], data[main_end:])


def _signature(main: bytes, payload: bytes, *, reserved: int = 0) -> bytes:
    entries = [
        Entry(SIG_SIZE, 4, 1, struct.pack(">I", (len(main) + len(payload)) & 0xFFFFFFFF)),
        Entry(SIG_MD5, 7, 16, hashlib.md5(main + payload).digest()),
        strings(SIG_SHA1, [hashlib.sha1(main).hexdigest()], kind=6),
        strings(SIG_SHA256, [hashlib.sha256(main).hexdigest()], kind=6),
    ]
    if reserved:
        entries.append(Entry(SIG_RESERVED, 7, reserved, b"\0" * reserved))
    return header_blob(entries, region=62)


def reseal(data: bytes, *, archive: bytes | None = None) -> bytes:
    """Make the signature digests (and the payload digests in the main header) match again.

    Digest values are rewritten where they are, so whatever else was changed in the
    headers stays as it is; ``archive`` is the uncompressed payload, for
    ``PAYLOADDIGESTALT``.  Data too broken to take apart is returned as it is."""
    try:
        return _reseal(data, archive)
    except (struct.error, ValueError, IndexError):
        return data


def _reseal(data: bytes, archive: bytes | None) -> bytes:
    parts = split_rpm(data)
    main = _with_payload_digest(parts.main, {PAYLOADDIGEST: parts.payload, PAYLOADDIGESTALT: archive})
    sig = bytearray(parts.sig)
    values = {
        SIG_SHA1: hashlib.sha1(main).hexdigest().encode() + b"\0",
        SIG_SHA256: hashlib.sha256(main).hexdigest().encode() + b"\0",
        SIG_MD5: hashlib.md5(main + parts.payload).digest(),
        SIG_SIZE: struct.pack(">I", (len(main) + len(parts.payload)) & 0xFFFFFFFF),
    }
    il = struct.unpack(">i", sig[8:12])[0]
    start = 16 + 16 * il
    for i in range(il):
        tag, _kind, offset, _count = struct.unpack_from(">iIiI", sig, 16 + 16 * i)
        value = values.get(tag)
        if value is not None and 0 <= offset and start + offset + len(value) <= len(sig):
            sig[start + offset : start + offset + len(value)] = value
    return parts.lead + bytes(sig) + b"\0" * (-len(sig) % 8) + main + parts.payload


def _with_payload_digest(main: bytes, covered: dict[int, bytes | None]) -> bytes:
    """Rewrite the payload digests' hex in place (same length), where the index says they are."""
    il = struct.unpack(">i", main[8:12])[0]
    start = 16 + 16 * il
    out = bytearray(main)
    for i in range(max(0, min(il, (len(main) - 16) // 16))):
        tag, kind, offset, _count = struct.unpack_from(">iIiI", main, 16 + 16 * i)
        value = covered.get(tag)
        if value is not None and kind == 8 and 0 <= offset and start + offset + 64 <= len(out):
            out[start + offset : start + offset + 64] = hashlib.sha256(value).hexdigest().encode()
    return bytes(out)


def compress(data: bytes, compressor: str) -> bytes:
    if compressor == "gzip":
        return gzip.compress(data, mtime=0)
    if compressor == "bzip2":
        return bz2.compress(data)
    if compressor == "xz":
        return lzma.compress(data)
    if compressor == "lzma":
        return lzma.compress(data, format=lzma.FORMAT_ALONE)
    if compressor == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(data)
    return data


def decompress(data: bytes, compressor: str | None) -> bytes:
    if compressor == "gzip" and data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if compressor == "bzip2":
        return bz2.decompress(data)
    if compressor in ("xz", "lzma"):
        return lzma.decompress(data)
    if compressor == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def newc(name: str, *, mode: int, nlink: int, data: bytes, size: int | None = None) -> bytes:
    encoded = name.encode("utf-8", "surrogateescape") + b"\0"
    fields = [0, mode, 0, 0, nlink, 0, len(data) if size is None else size, 0, 0, 0, 0, len(encoded), 0]
    head = b"070701" + b"".join(b"%08x" % v for v in fields) + encoded
    head += b"\0" * (-len(head) % 4)
    return head + data + b"\0" * (-len(data) % 4)


def _archive(files: list[CraftFile], listed: list[CraftFile], *, stripped: bool) -> bytes:
    archive = b""
    for f in files:
        if not f.in_payload:
            continue
        if stripped:
            head = b"07070X" + b"%08x" % (listed.index(f) if f in listed else 0xFFFE)
            archive += head + b"\0" * (-len(head) % 4) + f.data + b"\0" * (-len(f.data) % 4)
        else:
            archive += newc(f.name, mode=f.mode, nlink=f.nlink, data=f.data)
    return archive + newc("TRAILER!!!", mode=0, nlink=1, data=b"")


def _file_entries(listed: list[CraftFile], *, stripped: bool) -> list[Entry]:
    n = len(listed)
    sizes = [f.header_size if f.header_size is not None else len(f.data) for f in listed]
    return [
        strings(1117, [f.name for f in listed]),
        strings(1118, [""]),
        ints(1116, 4, [0] * n),
        ints(5008, 5, sizes) if stripped else ints(1028, 4, sizes),
        ints(1030, 3, [f.mode & 0xFFFF for f in listed]),
        ints(1037, 4, [f.flags for f in listed]),
        ints(1096, 4, list(range(1, n + 1))),
        ints(1095, 4, [1] * n),
        strings(1039, ["root"] * n),
        strings(1040, ["root"] * n),
        ints(5011, 4, [8]),
        strings(1035, [f.digest if f.digest is not None else hashlib.sha256(f.data).hexdigest() for f in listed]),
    ]


def craft_rpm(
    *,
    name: str,
    files: list[CraftFile],
    source: bool = True,
    compressor: str = "gzip",
    stripped: bool = False,
    version: str = "1.0",
    extra: list[Entry] | None = None,
) -> bytes:
    """A complete RPM file as bytes."""
    listed = [f for f in files if f.in_header]
    archive = _archive(files, listed, stripped=stripped)
    payload = compress(archive, compressor)
    entries = [strings(1000, [name], kind=6), strings(1001, [version], kind=6), strings(1002, ["1"], kind=6)]
    entries += [strings(1124, ["cpio"], kind=6), *(_file_entries(listed, stripped=stripped) if listed else [])]
    if compressor != "none":
        entries.append(strings(1125, [compressor], kind=6))
    if not source:
        entries.append(strings(1044, [f"{name}-{version}-1.src.rpm"], kind=6))
    entries += [
        strings(PAYLOADDIGEST, [hashlib.sha256(payload).hexdigest()]),
        ints(PAYLOADDIGESTALGO, 4, [8]),
        strings(PAYLOADDIGESTALT, [hashlib.sha256(archive).hexdigest()]),
    ]
    replaced = {e.tag for e in extra or []}
    main = header_blob([e for e in entries if e.tag not in replaced] + list(extra or []), region=63)
    lead = b"\xed\xab\xee\xdb\x03\x00" + struct.pack(">HH", 1 if source else 0, 0)
    lead += name.encode()[:65].ljust(66, b"\0") + struct.pack(">HH", 1, 5) + b"\0" * 16
    sig = _signature(main, payload)
    return lead + sig + b"\0" * (-len(sig) % 8) + main + payload


def evil_srpm(directory: Path, *, member: CraftFile) -> Path:
    """``directory/evil-1-1.src.rpm``: a valid spec beside one hostile ``member``."""
    path = directory / "evil-1-1.src.rpm"
    spec = CraftFile("evil.spec", b"Name: evil\n", flags=32)
    path.write_bytes(craft_rpm(name="evil", files=[spec, member]))
    return path


__all__ += ["ints", "newc", "replace"]
