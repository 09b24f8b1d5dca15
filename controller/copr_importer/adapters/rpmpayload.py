"""An RPM payload: decompressed as a stream with bounded memory, and read as a cpio archive.

Every compressor rpm writes is read: none (rpm's ``w.ufdio``, which leaves the
compressor tag out; like rpm's gzip reader, data that does not start with the
gzip magic is then taken as it is), gzip, bzip2, xz, lzma and zstd.  Each read
asks the decompressor for at most the bytes it needs, so a small file that
expands to gigabytes never holds more than one chunk in memory, and the bytes
that come out are counted against ``limit`` as they flow.  The decoders'
own memory is capped too: a zstd window or an xz dictionary larger than 64 MiB is
refused (rpm allows 128 MiB and 100 MiB; no compression level rpmbuild offers
needs more than 64 MiB except zstd's 22 and its long mode).

The archive is rpm's cpio: ``newc``/``crc`` members named by path, or the
"stripped" ``07070X`` members that name a header index (rpm writes those when a
file is 4 GiB or larger; their sizes come from the header).  Data after the
archive's trailer other than padding, and data after the end of the compressed
stream, is refused.  The SHA-256 of everything decompressed is kept for
``PAYLOADDIGESTALT``.
"""

from __future__ import annotations

import bz2
import hashlib
import lzma
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Protocol

import zstandard

from ..errors import BadInputError

__all__ = ["CpioMember", "PayloadStream", "iter_archive"]

_RAW_CHUNK = 64 * 1024
_MAX_WINDOW = 64 * 1024 * 1024
_LZMA_MEMLIMIT = _MAX_WINDOW + 8 * 1024 * 1024
_TRAILER = "TRAILER!!!"
_HEX = frozenset(b"0123456789abcdefABCDEF")
_MAX_PADDING = 512
MAX_NAME = 4096  # rpm's limit on a cpio member's name size


def _bad(message: str) -> BadInputError:
    return BadInputError(message, code="srpm_query_failed")


class _Source(Protocol):
    def read_some(self, size: int) -> bytes: ...


class _Plain:
    """An uncompressed payload."""

    def __init__(self, raw: IO[bytes], *, head: bytes) -> None:
        self._raw, self._head = raw, head

    def read_some(self, size: int) -> bytes:
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._raw.read(size)


class _Zlib:
    """gzip through zlib, at most ``size`` bytes out per call."""

    def __init__(self, raw: IO[bytes], *, head: bytes) -> None:
        self._raw, self._tail = raw, head
        self._z = zlib.decompressobj(31)

    def read_some(self, size: int) -> bytes:
        while not self._z.eof:
            out = self._z.decompress(self._tail, size)
            self._tail = self._z.unconsumed_tail
            if out:
                return out
            if not self._tail:
                self._tail = _more(self._raw)
        _expect_end(self._raw, leftover=self._z.unused_data + self._tail)
        return b""


class _Buffered:
    """bzip2, xz and lzma: their decompressors keep the input they could not use yet."""

    def __init__(self, raw: IO[bytes], *, decompressor: bz2.BZ2Decompressor | lzma.LZMADecompressor) -> None:
        self._raw, self._d = raw, decompressor

    def read_some(self, size: int) -> bytes:
        while not self._d.eof:
            data = b"" if not self._d.needs_input else _more(self._raw)
            out = self._d.decompress(data, size)
            if out:
                return out
        _expect_end(self._raw, leftover=self._d.unused_data)
        return b""


class _Zstd:
    def __init__(self, raw: IO[bytes]) -> None:
        decompressor = zstandard.ZstdDecompressor(max_window_size=_MAX_WINDOW)
        self._reader = decompressor.stream_reader(raw, read_size=_RAW_CHUNK, read_across_frames=True)

    def read_some(self, size: int) -> bytes:
        return self._reader.read(size)


def _more(raw: IO[bytes]) -> bytes:
    chunk = raw.read(_RAW_CHUNK)
    if not chunk:
        raise _bad("truncated RPM: the compressed payload ends early")
    return chunk


def _expect_end(raw: IO[bytes], *, leftover: bytes) -> None:
    if leftover or raw.read(1):
        raise _bad("corrupt RPM payload: data after the end of the compressed stream")


def _open(raw: IO[bytes], *, compressor: str) -> _Source:
    if compressor == "gzip":
        head = raw.read(2)
        return _Zlib(raw, head=head) if head == b"\x1f\x8b" else _Plain(raw, head=head)
    if compressor == "bzip2":
        return _Buffered(raw, decompressor=bz2.BZ2Decompressor())
    if compressor in ("xz", "lzma"):
        return _Buffered(raw, decompressor=lzma.LZMADecompressor(lzma.FORMAT_AUTO, memlimit=_LZMA_MEMLIMIT))
    if compressor == "zstd":
        return _Zstd(raw)
    raise _bad(f"unsupported RPM payload compressor {compressor!r}")


class PayloadStream:
    """The decompressed payload; :meth:`read` returns exactly the bytes asked for or raises."""

    def __init__(self, raw: IO[bytes], *, compressor: str, limit: int) -> None:
        self._source = _open(raw, compressor=compressor)
        self._limit = limit
        self.total = 0
        self.sha256 = hashlib.sha256()

    def _read_some(self, size: int) -> bytes:
        try:
            data = self._source.read_some(size)
        except (zlib.error, lzma.LZMAError, OSError, EOFError, zstandard.ZstdError) as exc:
            raise _bad(f"corrupt RPM payload ({_reason(exc)})") from None
        self.total += len(data)
        if self.total > self._limit:
            raise BadInputError(
                f"SRPM unpacks to more than the size limit of {self._limit} bytes (decompression bomb?)",
                code="unsafe_srpm",
            )
        self.sha256.update(data)
        return data

    def read(self, size: int, *, what: str = "the archive") -> bytes:
        parts, wanted = [], size
        while wanted:
            data = self._read_some(wanted)
            if not data:
                raise _bad(f"truncated RPM payload: {what} is cut short")
            parts.append(data)
            wanted -= len(data)
        return b"".join(parts)

    def chunks(self, size: int, *, what: str) -> Iterator[bytes]:
        """``size`` bytes, a bounded chunk at a time."""
        while size:
            data = self._read_some(min(size, _RAW_CHUNK * 16))
            if not data:
                raise _bad(f"truncated RPM payload: {what} is cut short")
            size -= len(data)
            yield data

    def skip_padding(self, length: int) -> None:
        """Members and their data start on 4-byte boundaries."""
        if length % 4:
            self.read(4 - length % 4, what="cpio padding")

    def finish(self) -> None:
        """Read to the end: only padding may follow the trailer (rpm pads to 4 bytes,
        GNU cpio to 512; more is data that no file holds)."""
        padding = 0
        while data := self._read_some(_MAX_PADDING + 1 - padding):
            padding += len(data)
            if padding > _MAX_PADDING or data.count(0) != len(data):
                raise _bad("corrupt RPM payload: data after the archive's trailer")


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, lzma.LZMAError) and "Memory usage limit" in text:
        return f"it needs more than {_LZMA_MEMLIMIT >> 20} MiB to decompress"
    if "window" in text.lower() or "frame requires too much memory" in text.lower():
        return f"its zstd window is larger than {_MAX_WINDOW >> 20} MiB"
    return text


@dataclass(frozen=True, slots=True)
class CpioMember:
    """One archive member's header: a path (newc) or a header index (stripped)."""

    path: str | None
    index: int | None
    mode: int
    nlink: int
    size: int | None


def _hex(field: bytes) -> int:
    # Exactly eight hex digits: Python's int() would also take spaces, signs and "_".
    if len(field) != 8 or not _HEX.issuperset(field):
        raise _bad("corrupt cpio header in the RPM payload")
    return int(field, 16)


def iter_archive(stream: PayloadStream) -> Iterator[CpioMember]:
    """Yield each member's header; the caller reads its data and padding before the next."""
    while True:
        magic = stream.read(6, what="a cpio header")
        if magic == b"07070X":
            index = _hex(stream.read(8, what="a cpio header"))
            stream.skip_padding(14)
            if index == 0xFFFFFFFF:
                return
            yield CpioMember(path=None, index=index, mode=0, nlink=1, size=None)
        elif magic in (b"070701", b"070702"):
            fields = stream.read(104, what="a cpio header")
            values = [_hex(fields[i : i + 8]) for i in range(0, 104, 8)]
            mode, nlink, size, namesize = values[1], values[4], values[6], values[11]
            if not 0 < namesize <= MAX_NAME:
                raise _bad(f"cpio member name of {namesize} bytes in the RPM payload")
            raw_name = stream.read(namesize, what="a cpio member name")
            if raw_name[-1:] != b"\0" or b"\0" in raw_name[:-1]:
                raise _bad("cpio member name is not terminated")
            stream.skip_padding(110 + namesize)
            name = raw_name[:-1].decode("utf-8", "surrogateescape")
            if name == _TRAILER:
                return
            yield CpioMember(path=name, index=None, mode=mode, nlink=nlink, size=size)
        else:
            raise _bad("corrupt RPM payload: no cpio header where one should be")
