"""Reading an RPM: lead, signature and main headers, and a streamed cpio payload.

A pure-Python reader instead of ``rpm2cpio | cpio``: it has no 4 GiB limit (it
reads rpm's "stripped" ``07070X`` archives, whose sizes live in the header as
``LONGFILESIZES``), it never follows or creates anything on disk, and every
length it reads is bounded before it is trusted.  Callers get metadata and
file contents; deciding what is safe to write is the unpacker's job.

Every malformed structure raises :class:`~copr_importer.errors.BadInputError`
with code ``srpm_query_failed``.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from ..errors import BadInputError

__all__ = ["PayloadEntry", "RpmPackage", "Tag", "iter_payload", "read_package"]

LEAD_SIZE = 96
_LEAD_MAGIC = b"\xed\xab\xee\xdb"
_HEADER_MAGIC = b"\x8e\xad\xe8\x01"
_MAX_INDEX = 0xFFFF
_MAX_DATA = 0x0FFFFFFF  # rpm's HEADER_DATA_MAX
_CHUNK = 1 << 20


class Tag:
    """The header tags this importer reads."""

    NAME = 1000
    VERSION = 1001
    RELEASE = 1002
    EPOCH = 1003
    SOURCERPM = 1044
    FILESIZES = 1028
    FILEMODES = 1030
    FILEDIGESTS = 1035
    FILEFLAGS = 1037
    SOURCEPACKAGE = 1106
    DIRINDEXES = 1116
    BASENAMES = 1117
    DIRNAMES = 1118
    PAYLOADFORMAT = 1124
    PAYLOADCOMPRESSOR = 1125
    LONGFILESIZES = 5008
    FILEDIGESTALGO = 5011


RPMFILE_SPECFILE = 1 << 5
_DIGEST_ALGOS = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224"}


def _bad(message: str) -> BadInputError:
    return BadInputError(message, code="srpm_query_failed")


def _read_exact(stream: IO[bytes], size: int, what: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise _bad(f"truncated RPM: {what} is cut short")
    return data


def _decode_value(kind: int, count: int, data: bytes, offset: int) -> Any:
    fixed = {2: ("B", 1), 3: (">H", 2), 4: (">I", 4), 5: (">Q", 8), 1: ("B", 1)}
    if kind in fixed:
        fmt, size = fixed[kind]
        end = offset + size * count
        if end > len(data):
            raise _bad("RPM header value out of bounds")
        return [struct.unpack_from(fmt, data, offset + i * size)[0] for i in range(count)]
    if kind == 7:
        if offset + count > len(data):
            raise _bad("RPM header value out of bounds")
        return data[offset : offset + count]
    if kind in (6, 8, 9):
        strings = []
        for _ in range(1 if kind == 6 else count):
            end = data.find(b"\0", offset)
            if end < 0:
                raise _bad("RPM header string is not terminated")
            strings.append(data[offset:end].decode("utf-8", "surrogateescape"))
            offset = end + 1
        return strings[0] if kind == 6 else strings
    return None  # NULL and unknown types carry nothing we read


def _read_header(stream: IO[bytes], *, what: str, pad: bool) -> dict[int, Any]:
    intro = _read_exact(stream, 16, what)
    if intro[:4] != _HEADER_MAGIC:
        raise _bad(f"not an RPM: bad {what} magic")
    nindex, hsize = struct.unpack(">II", intro[8:16])
    if nindex > _MAX_INDEX or hsize > _MAX_DATA:
        raise _bad(f"RPM {what} is too large ({nindex} tags, {hsize} bytes)")
    index = _read_exact(stream, 16 * nindex, what)
    data = _read_exact(stream, hsize, what)
    if pad and hsize % 8:
        _read_exact(stream, 8 - hsize % 8, what)
    tags: dict[int, Any] = {}
    for i in range(nindex):
        tag, kind, offset, count = struct.unpack_from(">IIII", index, 16 * i)
        if offset > hsize or count > hsize + 1:
            raise _bad(f"RPM {what} entry {tag} points outside the header")
        tags[tag] = _decode_value(kind, count, data, offset)
    return tags


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A file as the main header describes it."""

    name: str
    mode: int
    size: int
    digest: str
    flags: int

    @property
    def is_spec(self) -> bool:
        return bool(self.flags & RPMFILE_SPECFILE)


@dataclass(frozen=True, slots=True)
class RpmPackage:
    """Parsed headers of one package file; the stream is left at the payload."""

    is_source: bool
    tags: dict[int, Any]

    @property
    def name(self) -> str:
        return str(self.tags.get(Tag.NAME, ""))

    @property
    def nevr(self) -> str:
        epoch = self.tags.get(Tag.EPOCH)
        prefix = f"{epoch[0]}:" if epoch else ""
        return f"{self.name}-{prefix}{self.tags.get(Tag.VERSION)}-{self.tags.get(Tag.RELEASE)}"

    @property
    def compressor(self) -> str:
        return str(self.tags.get(Tag.PAYLOADCOMPRESSOR, "gzip"))

    @property
    def digest_algo(self) -> str:
        algo = self.tags.get(Tag.FILEDIGESTALGO, [1])[0]
        if algo not in _DIGEST_ALGOS:
            raise _bad(f"unknown file digest algorithm {algo}")
        return _DIGEST_ALGOS[algo]

    def files(self) -> list[FileInfo]:
        """The file list in header order (the order of a stripped archive's indexes)."""
        names = self.tags.get(Tag.BASENAMES) or []
        count = len(names)
        dirnames = self.tags.get(Tag.DIRNAMES) or [""]
        dirindexes = self.tags.get(Tag.DIRINDEXES) or [0] * count
        sizes = self.tags.get(Tag.LONGFILESIZES) or self.tags.get(Tag.FILESIZES) or []
        modes = self.tags.get(Tag.FILEMODES) or []
        digests = self.tags.get(Tag.FILEDIGESTS) or [""] * count
        flags = self.tags.get(Tag.FILEFLAGS) or [0] * count
        if not all(len(x) == count for x in (dirindexes, sizes, modes, digests, flags)):
            raise _bad("RPM header file lists disagree in length")
        infos = []
        for i, base in enumerate(names):
            if dirindexes[i] >= len(dirnames):
                raise _bad("RPM header directory index out of range")
            infos.append(FileInfo(dirnames[dirindexes[i]] + base, modes[i], sizes[i], digests[i], flags[i]))
        return infos


def read_package(stream: IO[bytes]) -> RpmPackage:
    """Read the lead and both headers; raise if this is not an RPM at all."""
    lead = stream.read(LEAD_SIZE)
    if len(lead) < LEAD_SIZE or lead[:4] != _LEAD_MAGIC:
        raise _bad("not an RPM file (no RPM lead magic)")
    lead_type = struct.unpack(">H", lead[6:8])[0]
    _read_header(stream, what="signature header", pad=True)
    tags = _read_header(stream, what="main header", pad=False)
    # Source packages have no SOURCERPM tag; rpm itself uses that test.
    is_source = lead_type == 1 and Tag.SOURCERPM not in tags
    fmt = tags.get(Tag.PAYLOADFORMAT, "cpio")
    if fmt != "cpio":
        raise _bad(f"unsupported payload format {fmt!r}")
    return RpmPackage(is_source=is_source, tags=tags)


class _DecompressingReader:
    """A ``read(n)`` view of a compressed stream; raises on truncation."""

    def __init__(self, raw: IO[bytes], decompress: Callable[[bytes], bytes], eof: Callable[[], bool]) -> None:
        self._raw, self._decompress, self._eof = raw, decompress, eof
        self._buffer = bytearray()

    def read(self, size: int) -> bytes:
        while len(self._buffer) < size and not self._eof():
            chunk = self._raw.read(_CHUNK)
            if not chunk:
                raise _bad("truncated RPM: the payload ends early")
            try:
                self._buffer += self._decompress(chunk)
            except (zlib.error, lzma.LZMAError, OSError, ValueError) as exc:
                raise _bad(f"corrupt RPM payload: {exc}") from exc
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


def _payload_reader(raw: IO[bytes], compressor: str) -> _DecompressingReader:
    if compressor == "gzip":
        z = zlib.decompressobj(47)
        return _DecompressingReader(raw, z.decompress, lambda: z.eof)
    if compressor in ("xz", "lzma"):
        x = lzma.LZMADecompressor()
        return _DecompressingReader(raw, x.decompress, lambda: x.eof)
    if compressor == "bzip2":
        b = bz2.BZ2Decompressor()
        return _DecompressingReader(raw, b.decompress, lambda: b.eof)
    if compressor == "zstd":
        import zstandard

        zd = zstandard.ZstdDecompressor().decompressobj()
        return _DecompressingReader(raw, zd.decompress, lambda: zd.eof)
    raise _bad(f"unsupported payload compressor {compressor!r}")


@dataclass(slots=True)
class PayloadEntry:
    """One archive member; read its data with :meth:`chunks` before the next entry."""

    name: str
    mode: int
    nlink: int
    size: int
    info: FileInfo | None
    _reader: _DecompressingReader
    _consumed: bool = False

    def chunks(self) -> Iterator[bytes]:
        remaining = self.size
        while remaining:
            data = self._reader.read(min(remaining, _CHUNK))
            if not data:
                raise _bad(f"truncated RPM: {self.name} is cut short")
            remaining -= len(data)
            yield data
        self._consumed = True
        _skip_padding(self._reader, self.size)

    def skip(self) -> None:
        if not self._consumed:
            for _ in self.chunks():
                pass


def _skip_padding(reader: _DecompressingReader, length: int) -> None:
    if length % 4:
        reader.read(4 - length % 4)


def _hex(field: bytes) -> int:
    try:
        return int(field, 16)
    except ValueError:
        raise _bad("corrupt cpio header in RPM payload") from None


def iter_payload(raw: IO[bytes], *, package: RpmPackage) -> Iterator[PayloadEntry]:
    """Yield the archive's members until its trailer."""
    reader = _payload_reader(raw, package.compressor)
    files = package.files()
    by_name = {f.name: f for f in files}
    while True:
        magic = reader.read(6)
        if magic == b"07070X":  # stripped archive: metadata lives in the header
            index = _hex(reader.read(8))
            if index >= len(files):
                raise _bad("stripped cpio index out of range")
            info = files[index]
            _skip_padding(reader, 14)
            entry = PayloadEntry(info.name, info.mode, 1, info.size, info, reader)
        elif magic in (b"070701", b"070702"):
            fields = reader.read(104)
            if len(fields) != 104:
                raise _bad("truncated RPM: cpio header is cut short")
            values = [_hex(fields[i * 8 : i * 8 + 8]) for i in range(13)]
            mode, nlink, size, namesize = values[1], values[4], values[6], values[11]
            if namesize > 4096 or namesize == 0:
                raise _bad("cpio member name is too long")
            name = reader.read(namesize)[:-1].decode("utf-8", "surrogateescape")
            _skip_padding(reader, 110 + namesize)
            if name == "TRAILER!!!":
                return
            bare = name[2:] if name.startswith("./") else name
            entry = PayloadEntry(name, mode, nlink, size, by_name.get(bare), reader)
        else:
            raise _bad("corrupt or truncated RPM payload (no cpio magic)")
        yield entry
        entry.skip()
