"""Reading an RPM file with rpm's verdicts: ``rpm -K --nosignature``, then the payload.

A pure-Python reader instead of ``rpm2cpio | cpio``: the job image carries no
rpm, the reader has no 4 GiB limit (it reads rpm's stripped ``07070X`` archives),
it never creates anything on disk, and its memory and time are bounded by the
file's size, whatever the file says.  It agrees with rpm: the parity corpus in
``tests/integration/test_rpm_parity.py`` checks that every file it accepts is
accepted by ``rpm -K --nosignature`` and unpacks to the same files under
``rpm2archive`` (``docs/hostile-input.md`` has the figures).  What it checks:

* the lead (magic, format 3 or 4, header-style signature) and both headers'
  structure (:mod:`.rpmheader`);
* the digests ``rpm -K --nosignature`` verifies: SHA-1 and SHA-256 of the main
  header, MD5 of header and payload, SHA-256 of the compressed payload.  A file
  must carry at least one header digest and one payload digest, and each one
  it carries must match; the payload is hashed to its end before anything is
  decompressed, and ``PAYLOADDIGESTALT`` is checked against the decompressed
  stream when it is read;
* the signature tags that rpm copies into the main header have the types and
  counts rpm requires (``headerMergeLegacySigs``);
* the file list is consistent the way rpm's ``rpmfilesNew`` needs it (every
  per-file tag has one value per file, directory indexes in range, owner and
  group names present), every file has a digest in a known algorithm, no path
  is listed twice, and %ghost files (listed, never in the payload) are marked.

Every malformed structure raises :class:`~copr_importer.errors.BadInputError`
with code ``srpm_query_failed``; members that are unsafe to unpack are the
unpacker's to refuse.
"""

from __future__ import annotations

import hashlib
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from ..errors import BadInputError
from .rpmheader import REGION_IMMUTABLE, REGION_SIGNATURES, Header, RpmType, read_header
from .rpmpayload import CpioMember, PayloadStream, iter_archive
from .rpmtagtypes import expected_type

__all__ = ["FileInfo", "PayloadEntry", "RpmPackage", "Tag", "iter_payload", "read_package"]

LEAD_SIZE = 96
_LEAD_MAGIC = b"\xed\xab\xee\xdb"
_HEADER_SIGNATURE_TYPE = 5  # RPMSIGTYPE_HEADERSIG
_MAX_SIG_TAGS = 32  # rpm's own limit
_MAX_SIG_DATA = 4 * 1024 * 1024  # rpm: 64 MiB; real ones hold a few KiB of digests and signatures
_MAX_DATA = 16 * 1024 * 1024  # rpm: 256 MiB; the largest real SRPM headers are a few MiB
_MAX_FILES = 100_000  # bounds the memory of decoding a file list before any limit applies
_HASH_CHUNK = 1 << 20


class Tag:
    """The header tags this importer reads or checks."""

    NAME = 1000
    VERSION = 1001
    RELEASE = 1002
    EPOCH = 1003
    FILESIZES = 1028
    OLDFILENAMES = 1027
    FILEMODES = 1030
    FILEDIGESTS = 1035
    FILEFLAGS = 1037
    FILEUSERNAME = 1039
    FILEGROUPNAME = 1040
    SOURCERPM = 1044
    FILEDEVICES = 1095
    FILEINODES = 1096
    DIRINDEXES = 1116
    BASENAMES = 1117
    DIRNAMES = 1118
    ORIGBASENAMES = 1120
    PAYLOADFORMAT = 1124
    PAYLOADCOMPRESSOR = 1125
    LONGFILESIZES = 5008
    FILEDIGESTALGO = 5011
    PAYLOADDIGEST = 5092
    PAYLOADDIGESTALGO = 5093
    PAYLOADDIGESTALT = 5097


class SigTag:
    """Signature header tags that carry digests."""

    SHA1 = 269
    SHA256 = 273
    MD5 = 1004


# Tags that must have one value per file when present (rpmfilesPopulate, tag2pool).
_PER_FILE = (
    1029, 1030, 1033, 1034, 1035, 1036, 1037, 1039, 1040, 1045, 1028, 1095, 1096, 1097, 1140, 1141, 5008, 5010,
)  # fmt: skip
# Signature tags rpm copies into the main header: (signature tag, main tag, required count, quirk).
_LEGACY_SIGNATURES = (
    (1000, 257, 1, False), (1002, 259, 0, False), (1004, 261, 16, False), (1005, 262, 0, False),
    (1007, 1046, 1, True), (274, 5090, 0, True), (275, 5091, 1, True), (276, 276, 0, False),
    (277, 277, 1, False), (269, 269, 1, False), (273, 273, 1, False), (267, 267, 0, False),
    (268, 268, 0, False), (270, 270, 1, False), (271, 271, 1, False),
)  # fmt: skip
# Tags read here (or by rpm2archive's file list) whose exact type rpm relies on: rpm's
# header check lets the string types stand in for one another, but rpm2archive then
# crashes on, e.g., DIRNAMES typed as an i18n string.
_EXACT_TYPES = (1000, 1001, 1002, 1035, 1036, 1039, 1040, 1097, 1117, 1118, 1124, 1125, 5010, 5092, 5097)
_DIGEST_ALGOS = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224"}
_INT16 = frozenset({RpmType.INT16})
_INT32 = frozenset({RpmType.INT32})
_INT64 = frozenset({RpmType.INT64})
_HEXDIGITS = frozenset("0123456789abcdefABCDEF")
RPMFILE_SPECFILE = 1 << 5
RPMFILE_GHOST = 1 << 6


def _bad(message: str) -> BadInputError:
    return BadInputError(message, code="srpm_query_failed")


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A file as the main header describes it."""

    name: str
    mode: int
    size: int
    digest: str
    flags: int
    inode: int
    device: int

    @property
    def is_spec(self) -> bool:
        return bool(self.flags & RPMFILE_SPECFILE)

    @property
    def is_ghost(self) -> bool:
        return bool(self.flags & RPMFILE_GHOST)

    @property
    def archive_path(self) -> str:
        """The path as rpm matches payload names to it: without a leading ``/``."""
        return self.name[1:] if self.name.startswith("/") else self.name


@dataclass(frozen=True, slots=True)
class RpmPackage:
    """A package whose headers and digests passed; its stream is left at the payload."""

    is_source: bool
    header: Header

    @property
    def name(self) -> str:
        return self.header.string(Tag.NAME) or ""

    @property
    def nevr(self) -> str:
        epoch = self.header.ints(Tag.EPOCH, kinds=_INT32)
        prefix = f"{epoch[0]}:" if epoch else ""
        return f"{self.name}-{prefix}{self.header.string(Tag.VERSION)}-{self.header.string(Tag.RELEASE)}"

    @property
    def compressor(self) -> str:
        # rpm reads a payload without this tag as gzip, and its gzip reader passes
        # data without the gzip magic through: that is how w.ufdio payloads are read.
        return self.header.string(Tag.PAYLOADCOMPRESSOR) or "gzip"

    @property
    def digest_algo(self) -> str:
        algo = self.header.ints(Tag.FILEDIGESTALGO, kinds=_INT32) or [1]
        if len(algo) != 1 or algo[0] not in _DIGEST_ALGOS:
            raise _bad(f"unknown file digest algorithm {algo[0]}")
        return _DIGEST_ALGOS[algo[0]]

    @property
    def file_count(self) -> int:
        entry = self.header.entry(Tag.BASENAMES)
        return entry.count if entry else 0

    def files(self) -> list[FileInfo]:
        """The file list in header order (the order of a stripped archive's indexes)."""
        return _file_list(self.header, algo=self.digest_algo)


def _file_list(header: Header, *, algo: str) -> list[FileInfo]:
    for tag in (Tag.ORIGBASENAMES, Tag.OLDFILENAMES):
        if tag in header:
            raise _bad(f"relocated or pre-4.0 file lists (tag {tag}) are not supported")
    count = header.entry(Tag.BASENAMES).count if Tag.BASENAMES in header else 0  # type: ignore[union-attr]
    if count == 0:
        return []
    if count > _MAX_FILES:
        raise BadInputError(f"SRPM lists {count} files, more than this reader accepts", code="unsafe_srpm")
    for tag in (*_PER_FILE, Tag.DIRINDEXES):
        entry = header.entry(tag)
        if entry is not None and entry.count != count:
            raise _bad(f"RPM header tag {tag} has {entry.count} values for {count} files")
    missing = [t for t in (Tag.DIRNAMES, Tag.DIRINDEXES, Tag.FILEMODES, Tag.FILEDIGESTS) if t not in header]
    missing += [t for t in (Tag.FILEUSERNAME, Tag.FILEGROUPNAME) if t not in header]
    if Tag.FILESIZES not in header and Tag.LONGFILESIZES not in header:
        missing.append(Tag.FILESIZES)
    if missing:
        raise _bad(f"RPM header lacks the file tags {missing}")
    return _decode_files(header, count=count, algo=algo)


def _decode_files(header: Header, *, count: int, algo: str) -> list[FileInfo]:
    names = header.strings(Tag.BASENAMES) or []
    dirnames = header.strings(Tag.DIRNAMES) or []
    dirindexes = header.ints(Tag.DIRINDEXES, kinds=_INT32) or []
    sizes = header.ints(Tag.LONGFILESIZES, kinds=_INT64) or header.ints(Tag.FILESIZES, kinds=_INT32) or []
    modes = header.ints(Tag.FILEMODES, kinds=_INT16) or []
    digests = header.strings(Tag.FILEDIGESTS) or []
    flags = header.ints(Tag.FILEFLAGS, kinds=_INT32) or [0] * count
    inodes = header.ints(Tag.FILEINODES, kinds=_INT32) or [0] * count
    devices = header.ints(Tag.FILEDEVICES, kinds=_INT32) or [0] * count
    if len(names) != count or len(digests) != count:
        raise _bad("RPM header file lists disagree in length")
    length = hashlib.new(algo).digest_size * 2
    infos, seen = [], set()
    for i, base in enumerate(names):
        if dirindexes[i] >= len(dirnames):
            raise _bad("RPM header directory index out of range")
        info = FileInfo(dirnames[dirindexes[i]] + base, modes[i], sizes[i], digests[i], flags[i], inodes[i], devices[i])
        if info.archive_path in seen:
            raise BadInputError(f"SRPM lists {info.name!r} twice", code="unsafe_srpm")
        seen.add(info.archive_path)
        bad_digest = len(info.digest) != length or not _HEXDIGITS.issuperset(info.digest)
        if bad_digest and stat.S_ISREG(info.mode) and not info.is_ghost:
            raise _bad(f"RPM header has no valid {algo} digest for {info.name!r}")
        infos.append(info)
    return infos


def _read_lead(stream: IO[bytes]) -> int:
    lead = stream.read(LEAD_SIZE)
    if len(lead) < LEAD_SIZE or lead[:4] != _LEAD_MAGIC:
        raise _bad("not an RPM file (no RPM lead magic)")
    major, _minor, kind = struct.unpack(">BBH", lead[4:8])
    (signature_type,) = struct.unpack(">H", lead[78:80])
    if major not in (3, 4):
        raise _bad(f"unsupported RPM format version {major}")
    if signature_type != _HEADER_SIGNATURE_TYPE:
        raise _bad(f"unsupported RPM signature type {signature_type}")
    return int(kind)


def read_package(stream: IO[bytes]) -> RpmPackage:
    """Read the lead and both headers and verify the digests; leave ``stream`` at the payload.

    ``stream`` must be a seekable file: the payload is hashed to its end first."""
    kind = _read_lead(stream)
    sig = read_header(
        stream, what="signature header", region_tag=REGION_SIGNATURES, max_tags=_MAX_SIG_TAGS, max_data=_MAX_SIG_DATA
    )
    padding = -len(sig.blob) % 8
    if len(stream.read(padding)) != padding:
        raise _bad("truncated RPM: the signature header is cut short")
    main = read_header(stream, what="header", region_tag=REGION_IMMUTABLE, max_tags=0xFFFF, max_data=_MAX_DATA)
    _check_header_digests(sig=sig, main=main)
    for tag in _EXACT_TYPES:
        entry = main.entry(tag)
        if entry is not None and entry.type != expected_type(tag):
            raise _bad(f"RPM header tag {tag} has type {entry.type}, expected {expected_type(tag)}")
    _check_legacy_signatures(sig=sig, main=main)
    _check_payload_digests(stream, sig=sig, main=main)
    fmt = main.string(Tag.PAYLOADFORMAT) or "cpio"
    if fmt != "cpio":
        raise _bad(f"unsupported payload format {fmt!r}")
    # Source packages have no SOURCERPM tag; rpm itself uses that test.
    return RpmPackage(is_source=kind == 1 and Tag.SOURCERPM not in main, header=main)


def _hex_digest(sig: Header, *, tag: int, length: int) -> str | None:
    value = sig.string(tag)
    if value is not None and (len(value) != length or not _HEXDIGITS.issuperset(value)):
        raise _bad(f"RPM signature tag {tag} is not a digest")
    return value.lower() if value is not None else None


def _check_header_digests(*, sig: Header, main: Header) -> None:
    expected = {
        "sha1": _hex_digest(sig, tag=SigTag.SHA1, length=40),
        "sha256": _hex_digest(sig, tag=SigTag.SHA256, length=64),
    }
    present = {algo: value for algo, value in expected.items() if value is not None}
    if not present:
        raise _bad("RPM header has no digest (neither SHA-1 nor SHA-256): refusing to trust it")
    for algo, value in present.items():
        if hashlib.new(algo, main.blob).hexdigest() != value:
            raise _bad(f"RPM header {algo.upper()} digest does not match: the file is corrupt")


def _check_legacy_signatures(*, sig: Header, main: Header) -> None:
    for sig_tag, main_tag, count, quirk in _LEGACY_SIGNATURES:
        if main_tag in main and not (quirk and sig_tag not in sig):
            raise _bad(f"RPM header carries signature tag {main_tag}")
        entry = sig.entry(sig_tag)
        if entry is None:
            continue
        if entry.type != expected_type(main_tag) or not 1 <= entry.count <= 16 * 1024 * 1024:
            raise _bad(f"RPM signature tag {sig_tag} has type {entry.type} and {entry.count} values")
        if count and entry.count != count:
            raise _bad(f"RPM signature tag {sig_tag} has {entry.count} values, expected {count}")


def _check_payload_digests(stream: IO[bytes], *, sig: Header, main: Header) -> None:
    md5 = sig.binary(SigTag.MD5)
    digests = main.strings(Tag.PAYLOADDIGEST)
    if md5 is None and digests is None:
        raise _bad("RPM payload has no digest (neither MD5 nor SHA-256): refusing to trust it")
    if digests is None and Tag.PAYLOADDIGESTALT in main:
        # rpm -K would check this one against the compressed payload, and fail.
        raise _bad("RPM header has a digest of the decompressed payload but none of the payload")
    algo = main.ints(Tag.PAYLOADDIGESTALGO, kinds=_INT32)
    if algo is not None and algo != [8]:
        raise _bad(f"unsupported RPM payload digest algorithm {algo}")
    if digests is not None and (len(digests) != 1 or len(digests[0]) != 64 or not _HEXDIGITS.issuperset(digests[0])):
        raise _bad("RPM payload digest is not one SHA-256 digest")
    start = stream.tell()
    whole, payload = hashlib.md5(main.blob), hashlib.sha256()
    while chunk := stream.read(_HASH_CHUNK):
        whole.update(chunk)
        payload.update(chunk)
    stream.seek(start)
    if md5 is not None and whole.digest() != md5:
        raise _bad("RPM MD5 digest does not match: the file is corrupt or truncated")
    if digests is not None and payload.hexdigest() != digests[0].lower():
        raise _bad("RPM payload SHA-256 digest does not match: the file is corrupt or truncated")


@dataclass(slots=True)
class PayloadEntry:
    """One archive member and the header's file it stands for; read its data before the next."""

    info: FileInfo
    member: CpioMember
    _stream: PayloadStream
    _consumed: bool = False

    def chunks(self) -> Iterator[bytes]:
        self._consumed = True
        yield from self._stream.chunks(self.info.size, what=self.info.name)
        self._stream.skip_padding(self.info.size)

    def skip(self) -> None:
        if not self._consumed:
            for _ in self.chunks():
                pass


def _match(member: CpioMember, *, files: list[FileInfo], by_path: dict[str, FileInfo]) -> FileInfo:
    if member.index is not None:
        if member.index >= len(files):
            raise _bad("stripped cpio index out of range")
        return files[member.index]
    path = member.path or ""
    path = path[2:] if path.startswith("./") else path
    path = path[1:] if path.startswith("/") else path
    info = by_path.get(path)
    if info is None:
        raise BadInputError(f"SRPM member is not listed in the header: {member.path!r}", code="unsafe_srpm")
    if member.size != info.size:
        raise BadInputError(f"SRPM member size disagrees with the header: {member.path!r}", code="unsafe_srpm")
    if stat.S_IFMT(member.mode) != stat.S_IFMT(info.mode):
        raise BadInputError(f"SRPM member's file type disagrees with the header: {member.path!r}", code="unsafe_srpm")
    return info


def iter_payload(raw: IO[bytes], *, package: RpmPackage, limit: int) -> Iterator[PayloadEntry]:
    """Yield the archive's members until its trailer, then check that nothing is missing.

    ``limit`` caps the decompressed bytes, archive headers included."""
    files = package.files()
    by_path = {f.archive_path: f for f in files}
    stream = PayloadStream(raw, compressor=package.compressor, limit=limit)
    seen: set[str] = set()
    for member in iter_archive(stream):
        info = _match(member, files=files, by_path=by_path)
        if info.is_ghost:
            raise BadInputError(f"%ghost file {info.name!r} has data in the payload", code="unsafe_srpm")
        if info.archive_path in seen:
            raise BadInputError(f"SRPM lists {info.name!r} twice", code="unsafe_srpm")
        seen.add(info.archive_path)
        entry = PayloadEntry(info, member, stream)
        yield entry
        entry.skip()
    expected = sum(1 for f in files if not f.is_ghost)
    if len(seen) != expected:
        raise _bad(f"truncated RPM: the payload holds {len(seen)} of {expected} files")
    stream.finish()
    alt = package.header.strings(Tag.PAYLOADDIGESTALT)
    if alt is not None and [d.lower() for d in alt] != [stream.sha256.hexdigest()]:
        raise _bad("RPM payload digest of the decompressed payload does not match: the file is corrupt")
