"""An SRPM for the workers' memory limit: a few hundred bytes that make a worker allocate 64 MiB.

Its xz payload declares a 64 MiB LZMA2 dictionary (xz -9's, the most the reader
accepts); an xz decoder allocates the dictionary size the stream declares,
however little data follows.  Without a memory limit, or under the default one,
the allocation is only address space and the import succeeds; under a limit
below a worker's own size plus 64 MiB, the decoder's allocation fails.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from tests.support.craft import CraftFile, craft_rpm, reseal

__all__ = ["poison_srpm"]

DICT_64_MIB = 28  # LZMA2's dictionary-size byte: (2 | (28 & 1)) << (28 // 2 + 11) = 64 MiB


def poison_srpm(directory: Path, *, name: str = "bomb") -> Path:
    """``directory/<name>-1.0-1.src.rpm``: a valid spec and patch in an xz payload with a 64 MiB dictionary."""
    rpm = craft_rpm(
        name=name,
        files=[CraftFile(f"{name}.spec", f"Name: {name}\n".encode(), flags=32), CraftFile("fix.patch", b"-a\n+b\n")],
        compressor="xz",
    )
    path = directory / f"{name}-1.0-1.src.rpm"
    path.write_bytes(reseal(_declaring_dictionary(rpm, dict_byte=DICT_64_MIB)))  # digests match again
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
