"""Safe extraction of a source RPM into one flat directory.

Source RPMs are flat: every member is a regular file at the top level.  Anything
else is refused with a reason naming the member: absolute paths, ``..``, any
subdirectory, symbolic and hard links, device and special files, members the
header does not list, sizes or digests that disagree with the header, and
payloads whose unpacked size or file count exceeds the limits (decompression
bombs).  Files are created with ``O_EXCL | O_NOFOLLOW`` inside ``dest`` only;
on any refusal ``dest`` is removed, so nothing half-written stays behind.

While writing, each file is hashed (md5 and sha512 for the lookaside, the
header's algorithm for verification) and its first 64 KiB are kept for the
text/binary decision, so no file is read twice.
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
from .rpmfile import PayloadEntry, RpmPackage, iter_payload

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


def _check_member(entry: PayloadEntry) -> str:
    name = entry.name[2:] if entry.name.startswith("./") else entry.name
    if name.startswith("/"):
        raise _unsafe(f"SRPM member has an absolute path: {entry.name!r}")
    if ".." in name.split("/"):
        raise _unsafe(f"SRPM member escapes the directory with '..': {entry.name!r}")
    if "/" in name:
        raise _unsafe(f"SRPM member is not at the top level: {entry.name!r}")
    kind = stat.S_IFMT(entry.mode)
    if kind == stat.S_IFLNK:
        raise _unsafe(f"SRPM member is a symbolic link: {entry.name!r}")
    if kind in (stat.S_IFCHR, stat.S_IFBLK):
        raise _unsafe(f"SRPM member is a device file: {entry.name!r}")
    if kind != stat.S_IFREG:
        raise _unsafe(f"SRPM member is not a regular file (mode {entry.mode:o}): {entry.name!r}")
    if entry.nlink > 1:
        raise _unsafe(f"SRPM member is a hard link: {entry.name!r}")
    if entry.info is None:
        raise _unsafe(f"SRPM member is not listed in the header: {entry.name!r}")
    if entry.info.size != entry.size:
        raise _unsafe(f"SRPM member size disagrees with the header: {entry.name!r}")
    return naming.check_filename(name)


def _extract(entry: PayloadEntry, *, target: Path, algo: str, budget: int) -> UnpackedFile:
    md5, sha512, check = hashlib.md5(), hashlib.sha512(), hashlib.new(algo)
    head = bytearray()
    written = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        for chunk in entry.chunks():
            written += len(chunk)
            if written > budget:
                raise _unsafe("SRPM unpacks to more than the size limit (decompression bomb?)")
            if len(head) < encoding.SNIFF_BYTES:
                head += chunk[: encoding.SNIFF_BYTES - len(head)]
            md5.update(chunk)
            sha512.update(chunk)
            check.update(chunk)
            out.write(chunk)
    info = entry.info
    assert info is not None
    if info.digest and check.hexdigest() != info.digest.lower():
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
    declared = package.files()
    if len(declared) > limits.max_files:
        raise _unsafe(f"SRPM lists {len(declared)} files, more than the limit of {limits.max_files}")
    if sum(f.size for f in declared) > limits.max_total_bytes:
        raise _unsafe("SRPM declares more unpacked bytes than the size limit")
    dest.mkdir(parents=True)
    try:
        return _unpack_into(stream, package, dest=dest, limits=limits, expected=len(declared))
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _unpack_into(
    stream: IO[bytes], package: RpmPackage, *, dest: Path, limits: UnpackSettings, expected: int
) -> list[UnpackedFile]:
    files: list[UnpackedFile] = []
    seen: set[str] = set()
    budget = limits.max_total_bytes
    for entry in iter_payload(stream, package=package):
        name = _check_member(entry)
        if name in seen:
            raise _unsafe(f"SRPM lists {name!r} twice")
        seen.add(name)
        extracted = _extract(entry, target=dest / name, algo=package.digest_algo, budget=budget)
        budget -= extracted.size
        files.append(extracted)
    if len(files) != expected:
        raise BadInputError(
            f"truncated RPM: the payload holds {len(files)} of {expected} files", code="srpm_query_failed"
        )
    if not any(f.is_spec for f in files):
        raise BadInputError("SRPM contains no spec file", code="srpm_query_failed")
    return files
