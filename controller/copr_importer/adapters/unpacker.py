"""Safe extraction of a source RPM into one flat directory.

Source RPMs are flat: every member is a regular file at the top level.  Anything
else is refused with a reason naming the member, from the header's file list
before anything is written and again from the archive: absolute paths, ``..``,
any subdirectory, symbolic and hard links, device and special files, members the
header does not list, sizes or digests that disagree with the header, names too
long for the filesystem and the lookaside's temporary names, and payloads whose
unpacked size or file count exceeds the limits (decompression bombs; the size
is counted on the decompressed bytes as they come out, not trusted from the
header).  %ghost files carry no data and are left out, as rpm leaves them out.

Files are created with ``O_EXCL | O_NOFOLLOW`` inside ``dest`` only; on any
refusal ``dest`` is removed, so nothing half-written stays behind.  While
writing, each file is hashed (md5 and sha512 for the lookaside, the header's
algorithm for verification) and its first 64 KiB are kept for the text/binary
decision, so no file is read twice.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..core import encoding, naming
from ..errors import BadInputError
from ..settings import UnpackSettings
from .rpmfile import FileInfo, PayloadEntry, RpmPackage, iter_payload
from .rpmpayload import MAX_NAME

__all__ = ["UnpackedFile", "unpack"]


@dataclass(frozen=True, slots=True)
class UnpackedFile:
    """One extracted file and what the importer needs to know about it."""

    name: str
    path: Path
    size: int
    executable: bool
    is_spec: bool
    is_binary: bool
    md5: str
    sha512: str


def _unsafe(message: str) -> BadInputError:
    return BadInputError(message, code="unsafe_srpm")


def _check_file(info: FileInfo) -> str:
    """The flat name ``info`` may be written under, or a refusal."""
    name = info.name
    if name.startswith("/"):
        raise _unsafe(f"SRPM member has an absolute path: {name!r}")
    if ".." in name.split("/"):
        raise _unsafe(f"SRPM member escapes the directory with '..': {name!r}")
    if "/" in name:
        raise _unsafe(f"SRPM member is not at the top level: {name!r}")
    kind = stat.S_IFMT(info.mode)
    if kind == stat.S_IFLNK:
        raise _unsafe(f"SRPM member is a symbolic link: {name!r}")
    if kind in (stat.S_IFCHR, stat.S_IFBLK):
        raise _unsafe(f"SRPM member is a device file: {name!r}")
    if kind != stat.S_IFREG:
        raise _unsafe(f"SRPM member is not a regular file (mode {info.mode:o}): {name!r}")
    return naming.check_filename(name)


def _check_listing(files: list[FileInfo], *, limits: UnpackSettings) -> list[FileInfo]:
    """Refuse from the header alone what would be refused while writing; return the files with data."""
    real = [f for f in files if not f.is_ghost]
    if sum(f.size for f in real) > limits.max_total_bytes:
        raise _unsafe(f"SRPM declares more unpacked bytes than the size limit of {limits.max_total_bytes}")
    inodes: dict[tuple[int, int], str] = {}
    for info in real:
        _check_file(info)
        if info.inode > 0 and inodes.setdefault((info.device, info.inode), info.name) != info.name:
            raise _unsafe(f"SRPM member is a hard link: {info.name!r} and {inodes[(info.device, info.inode)]!r}")
    return real


def _extract(entry: PayloadEntry, *, target: Path, algo: str) -> UnpackedFile:
    info = entry.info
    if entry.member.nlink > 1:
        raise _unsafe(f"SRPM member is a hard link: {info.name!r}")
    md5, sha512, check = hashlib.md5(), hashlib.sha512(), hashlib.new(algo)
    head = bytearray()
    written = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        for chunk in entry.chunks():
            written += len(chunk)
            if len(head) < encoding.SNIFF_BYTES:
                head += chunk[: encoding.SNIFF_BYTES - len(head)]
            md5.update(chunk)
            sha512.update(chunk)
            check.update(chunk)
            out.write(chunk)
    if check.hexdigest() != info.digest.lower():
        raise _unsafe(f"SRPM member digest does not match the header: {info.name!r}")
    return UnpackedFile(
        name=target.name,
        path=target,
        size=written,
        executable=bool(info.mode & 0o111),
        is_spec=info.is_spec or target.name.endswith(".spec"),
        is_binary=encoding.is_binary(bytes(head)),
        md5=md5.hexdigest(),
        sha512=sha512.hexdigest(),
    )


def unpack(stream: IO[bytes], *, package: RpmPackage, dest: Path, limits: UnpackSettings) -> list[UnpackedFile]:
    """Extract the payload that follows the headers in ``stream`` into ``dest``."""
    if package.file_count > limits.max_files:
        raise _unsafe(f"SRPM lists {package.file_count} files, more than the limit of {limits.max_files}")
    real = _check_listing(package.files(), limits=limits)
    if not any(f.is_spec or f.name.endswith(".spec") for f in real):
        raise BadInputError("SRPM contains no spec file", code="srpm_query_failed")
    dest.mkdir(parents=True)
    try:
        return _unpack_into(stream, package=package, dest=dest, limits=limits, count=len(real))
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _unpack_into(
    stream: IO[bytes], *, package: RpmPackage, dest: Path, limits: UnpackSettings, count: int
) -> list[UnpackedFile]:
    # Archive headers and padding count too: at most 110 bytes, the name and 6 of padding each.
    limit = limits.max_total_bytes + (count + 1) * (120 + MAX_NAME)
    algo = package.digest_algo
    return [
        _extract(entry, target=dest / _check_file(entry.info), algo=algo)
        for entry in iter_payload(stream, package=package, limit=limit)
    ]
