"""Hand-made RPM files for inputs rpmbuild refuses to produce (hostile SRPMs).

Only the structures the importer reads are written: a lead, an empty signature
header, a main header with the file tags, and a compressed cpio payload in the
``newc`` or the stripped ``07070X`` format.
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CraftFile", "craft_rpm", "evil_srpm"]

_TYPES = {"int16": (3, ">H", 2), "int32": (4, ">I", 4), "int64": (5, ">Q", 8)}


@dataclass
class CraftFile:
    name: str
    data: bytes = b""
    mode: int = stat.S_IFREG | 0o644
    nlink: int = 1
    flags: int = 0
    in_header: bool = True
    header_size: int | None = None
    linkto: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def _header(entries: list[tuple[int, int, int, bytes]]) -> bytes:
    index, store = b"", b""
    for tag, kind, count, data in entries:
        index += struct.pack(">IIII", tag, kind, len(store), count)
        store += data
    return b"\x8e\xad\xe8\x01\0\0\0\0" + struct.pack(">II", len(entries), len(store)) + index + store


def _strings(values: list[str]) -> bytes:
    return b"".join(v.encode() + b"\0" for v in values)


def _ints(kind: str, values: list[int]) -> tuple[int, bytes]:
    code, fmt, _ = _TYPES[kind]
    return code, b"".join(struct.pack(fmt, v) for v in values)


def _newc(name: str, *, mode: int, nlink: int, data: bytes) -> bytes:
    encoded = name.encode() + b"\0"
    fields = [0, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(encoded), 0]
    head = b"070701" + b"".join(b"%08x" % v for v in fields) + encoded
    head += b"\0" * (-len(head) % 4)
    return head + data + b"\0" * (-len(data) % 4)


def craft_rpm(
    *,
    name: str,
    files: list[CraftFile],
    source: bool = True,
    compressor: str = "gzip",
    stripped: bool = False,
    version: str = "1.0",
) -> bytes:
    """A complete RPM file as bytes."""
    listed = [f for f in files if f.in_header]
    entries: list[tuple[int, int, int, bytes]] = [
        (1000, 6, 1, _strings([name])),
        (1001, 6, 1, _strings([version])),
        (1002, 6, 1, _strings(["1"])),
        (1124, 6, 1, _strings(["cpio"])),
        (1125, 6, 1, _strings([compressor])),
    ]
    if not source:
        entries.append((1044, 6, 1, _strings([f"{name}-{version}-1.src.rpm"])))
    if listed:
        entries += [
            (1117, 8, len(listed), _strings([f.name for f in listed])),
            (1118, 8, 1, _strings([""])),
        ]
        code, data = _ints("int32", [0] * len(listed))
        entries.append((1116, code, len(listed), data))
        sizes = [f.header_size if f.header_size is not None else len(f.data) for f in listed]
        for tag, kind, values in (
            (5008 if stripped else 1028, "int64" if stripped else "int32", sizes),
            (1030, "int16", [f.mode for f in listed]),
            (1037, "int32", [f.flags for f in listed]),
            (5011, "int32", [8]),
        ):
            code, data = _ints(kind, values)
            entries.append((tag, code, len(values), data))
        digests = [hashlib.sha256(f.data).hexdigest() for f in listed]
        entries.append((1035, 8, len(listed), _strings(digests)))
    archive = b""
    for f in files:
        if stripped:
            index = listed.index(f) if f in listed else 0xFFFF
            head = b"07070X" + b"%08x" % index
            archive += head + b"\0" * (-len(head) % 4) + f.data + b"\0" * (-len(f.data) % 4)
        else:
            archive += _newc(f.name, mode=f.mode, nlink=f.nlink, data=f.data)
    archive += _newc("TRAILER!!!", mode=0, nlink=1, data=b"")
    payload = lzma.compress(archive) if compressor == "xz" else gzip.compress(archive)
    lead = b"\xed\xab\xee\xdb\x03\x00" + struct.pack(">H", 1 if source else 0) + b"\0" * 88
    signature = _header([])
    signature += b"\0" * (-len(signature) % 8)
    return lead + signature + _header(entries) + payload


def evil_srpm(directory: Path, *, member: CraftFile) -> Path:
    """``directory/evil-1-1.src.rpm``: a valid spec beside one hostile ``member``."""
    path = directory / "evil-1-1.src.rpm"
    path.write_bytes(craft_rpm(name="evil", files=[CraftFile("evil.spec", b"Name: evil\n", flags=32), member]))
    return path
