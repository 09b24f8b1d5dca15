"""A poison SRPM for the workers' memory limit: a few hundred bytes that make a worker allocate 1.5 GiB.

Its xz payload declares a 1.5 GiB LZMA2 dictionary; an xz decoder allocates the
dictionary size the stream declares (up to 4 GiB) however little data follows.
Without a memory limit the allocation is only address space and the import
succeeds; under a limit below it, the decoder's allocation fails.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from tests.support.craft import CraftFile, craft_rpm

__all__ = ["poison_srpm"]

DICT_1536_MIB = 36  # LZMA2's dictionary-size byte: (2 | (36 & 1)) << (36 // 2 + 11) = 1.5 GiB


def poison_srpm(directory: Path, *, name: str = "bomb") -> Path:
    """``directory/<name>-1.0-1.src.rpm``: a valid spec and patch in an xz payload with a 1.5 GiB dictionary."""
    rpm = craft_rpm(
        name=name,
        files=[CraftFile(f"{name}.spec", f"Name: {name}\n".encode(), flags=32), CraftFile("fix.patch", b"-a\n+b\n")],
        compressor="xz",
    )
    path = directory / f"{name}-1.0-1.src.rpm"
    path.write_bytes(_declaring_dictionary(rpm, dict_byte=DICT_1536_MIB))
    return path


def _declaring_dictionary(rpm: bytes, *, dict_byte: int) -> bytes:
    """``rpm`` with the dictionary size in its xz payload's first block header replaced (and its CRC32)."""
    start = rpm.index(b"\xfd7zXZ\x00")
    xz = bytearray(rpm[start:])
    size = (xz[12] + 1) * 4  # the block header follows the 12-byte stream header
    header = xz[12 : 12 + size]
    at = header.index(b"\x21\x01") + 2  # filter LZMA2, one byte of properties: the dictionary size
    header[at] = dict_byte
    header[-4:] = struct.pack("<I", zlib.crc32(bytes(header[:-4])))
    xz[12 : 12 + size] = header
    return rpm[:start] + bytes(xz)
