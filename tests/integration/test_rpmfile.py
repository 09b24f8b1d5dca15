"""Reading real SRPMs (every payload rpmbuild writes), rpm's stripped archives, and headers built to hurt."""

from __future__ import annotations

import ctypes
import gzip
import hashlib
import io
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from copr_importer.adapters.rpmfile import iter_payload, read_package
from copr_importer.adapters.rpmpayload import PayloadStream
from copr_importer.adapters.rpmtagtypes import expected_type
from copr_importer.adapters.unpacker import unpack
from copr_importer.errors import BadInputError
from copr_importer.settings import UnpackSettings
from tests.support.craft import CraftFile, Entry, craft_rpm, header_blob, header_entries, reseal, split_rpm, strings
from tests.support.srpms import binary_tarball

SPEC = CraftFile("s.spec", b"Name: s\n", flags=32)


def _read(path: Path, dest: Path, limits: UnpackSettings | None = None) -> dict[str, bytes]:
    with open(path, "rb") as stream:
        package = read_package(stream)
        files = unpack(stream, package=package, dest=dest, limits=limits or UnpackSettings())
    return {f.name: f.path.read_bytes() for f in files}


def _refusal(data: bytes, tmp_path: Path) -> BadInputError:
    path = tmp_path / "x.src.rpm"
    path.write_bytes(data)
    with pytest.raises(BadInputError) as caught:
        _read(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    return caught.value


@pytest.mark.parametrize("payload", ["w.ufdio", "w9.gzdio", "w6.xzdio", "w2.lzdio", "w9.bzdio", "w3.zstdio"])
def test_real_srpm_with_each_payload(srpm_factory: Callable[..., Path], tmp_path: Path, payload: str) -> None:
    tarball = binary_tarball(name="pkg", version="1")
    srpm = srpm_factory(name="pkg", sources={"pkg-1.tar.gz": tarball}, patches={"a.patch": b"patch\n"}, payload=payload)
    with open(srpm, "rb") as stream:
        package = read_package(stream)
        assert package.is_source and package.name == "pkg" and package.nevr == "pkg-1.0-1"
        files = {f.name: f for f in unpack(stream, package=package, dest=tmp_path / "out", limits=UnpackSettings())}
    assert set(files) == {"pkg.spec", "pkg-1.tar.gz", "a.patch"}
    assert files["pkg.spec"].is_spec and not files["pkg.spec"].is_binary
    assert files["pkg-1.tar.gz"].is_binary and (tmp_path / "out" / "pkg-1.tar.gz").read_bytes() == tarball
    listed = subprocess.run(["rpm", "-qpl", str(srpm)], capture_output=True, text=True, check=True).stdout.split()
    assert sorted(listed) == sorted(files)


def test_stripped_archive_takes_sizes_from_the_header(tmp_path: Path) -> None:
    blob = CraftFile("big.bin", bytes(range(256)) * 40)
    path = tmp_path / "s.src.rpm"
    path.write_bytes(craft_rpm(name="s", files=[SPEC, blob], stripped=True))
    with open(path, "rb") as stream:
        package = read_package(stream)
        names = [(e.info.name, len(b"".join(e.chunks()))) for e in iter_payload(stream, package=package, limit=10**6)]
    assert names == [("s.spec", 8), ("big.bin", 10240)]
    assert subprocess.run(["rpm", "-K", "--nosignature", str(path)], capture_output=True).returncode == 0


def test_ghost_files_are_listed_but_not_unpacked(tmp_path: Path) -> None:
    ghost = CraftFile("ghost.log", flags=1 << 6, in_payload=False)
    path = tmp_path / "g.src.rpm"
    path.write_bytes(craft_rpm(name="g", files=[SPEC, ghost, CraftFile("a.txt", b"a\n")]))
    assert set(_read(path, tmp_path / "out")) == {"s.spec", "a.txt"}


def test_the_tag_type_table_is_rpms(tmp_path: Path) -> None:
    librpm = ctypes.CDLL("librpm.so.9")
    librpm.rpmTagGetTagType.restype = ctypes.c_int
    librpm.rpmReadConfigFiles(None, None)
    for tag in range(70000):
        assert (expected_type(tag) or 0) == librpm.rpmTagGetTagType(tag), tag


def test_overlapping_entries_are_refused_before_decoding(tmp_path: Path) -> None:
    """1,500 entries over one 1 MiB string: rpm refuses it, and so do we, without decoding any."""
    good = craft_rpm(name="s", files=[SPEC])
    parts = split_rpm(good)
    big = b"a" * (1 << 20) + b"\0"
    entries = [*header_entries(parts.main), Entry(2000, 6, 1, big)]
    main = bytearray(header_blob(entries, region=63))
    il = int.from_bytes(main[8:12], "big")
    index = [main[16 + 16 * i : 32 + 16 * i] for i in range(il)]
    target = next(e for e in index if int.from_bytes(e[:4], "big") == 2000)
    copies = [(3000 + i).to_bytes(4, "big") + target[4:] for i in range(1500)]
    data = main[16 + 16 * il : -16] + struct.pack(">iIiI", 63, 7, -16 * (il + 1500), 16)
    rebuilt = bytes(main[:8]) + (il + 1500).to_bytes(4, "big") + main[12:16] + b"".join(index + copies) + data
    error = _refusal(reseal(parts.lead + parts.sig + b"\0" * (-len(parts.sig) % 8) + rebuilt + parts.payload), tmp_path)
    assert "overlaps" in error.message


def test_many_long_strings_cost_one_pass(tmp_path: Path) -> None:
    """Sixty 256 KiB strings without a terminator: each is bounded by the next entry's offset."""
    extra = [Entry(2000 + i, 6, 1, b"x" * (1 << 18) + (b"\0" if i == 59 else b"")) for i in range(60)]
    error = _refusal(craft_rpm(name="s", files=[SPEC], extra=extra), tmp_path)
    assert "corrupt RPM header" in error.message


def test_a_known_tag_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    extra = [Entry(1030, 4, 1, b"\0\0\x81\xa4"), Entry(5011, 6, 1, b"8\0")]  # FILEMODES int32, algo a string
    error = _refusal(craft_rpm(name="s", files=[SPEC], extra=extra), tmp_path)
    assert "which rpm does not allow" in error.message


@pytest.mark.parametrize(
    "drop, reason",
    [
        (1035, "lacks the file tags"),
        (5092, "no digest"),
        (273, "no digest"),
        (1039, "lacks the file tags"),
    ],
)
def test_a_missing_digest_or_file_tag_is_refused_not_trusted(tmp_path: Path, drop: int, reason: str) -> None:
    parts = split_rpm(craft_rpm(name="s", files=[SPEC]))
    main, sig = parts.main, parts.sig
    if drop == 273:
        sig = header_blob([e for e in header_entries(sig) if e.tag not in (269, 273)], region=62)
    else:
        kept = [e for e in header_entries(main) if e.tag not in (drop, 5097 if drop == 5092 else -1)]
        main = header_blob(kept, region=63)
        sig = header_blob([e for e in header_entries(sig) if e.tag != 1004], region=62) if drop == 5092 else sig
    error = _refusal(reseal(parts.lead + sig + b"\0" * (-len(sig) % 8) + main + parts.payload), tmp_path)
    assert reason in error.message


def test_corrupt_zstd_and_xz_payloads(tmp_path: Path) -> None:
    for compressor in ("zstd", "xz", "bzip2", "gzip"):
        parts = split_rpm(craft_rpm(name="s", files=[SPEC, CraftFile("a.bin", bytes(5000))], compressor=compressor))
        payload = parts.payload[:20] + bytes(64) + parts.payload[84:]
        data = reseal(parts.lead + parts.sig + b"\0" * (-len(parts.sig) % 8) + parts.main + payload)
        error = _refusal(data, tmp_path)
        assert "corrupt" in error.message or "truncated" in error.message, (compressor, error.message)


def test_the_size_limit_counts_bytes_as_they_come_out() -> None:
    """Whatever the header says, the stream stops at the limit: 64 MiB of zeros in 64 KiB."""
    raw = io.BytesIO(gzip.compress(bytes(64 << 20), mtime=0))
    assert len(raw.getvalue()) < 200_000
    stream = PayloadStream(raw, compressor="gzip", limit=4 << 20)
    with pytest.raises(BadInputError, match="size limit") as caught:
        for _ in stream.chunks(64 << 20, what="zeros"):
            pass
    assert caught.value.code == "unsafe_srpm" and stream.total <= (4 << 20) + (1 << 20)


def test_nothing_but_padding_after_the_trailer(tmp_path: Path) -> None:
    """An honest small package, then 64 MiB of zeros after the archive's trailer."""
    parts = split_rpm(craft_rpm(name="s", files=[SPEC]))
    archive = gzip.decompress(parts.payload) + bytes(64 << 20)
    data = reseal(
        parts.lead + parts.sig + b"\0" * (-len(parts.sig) % 8) + parts.main + gzip.compress(archive), archive=archive
    )
    assert "data after the archive's trailer" in _refusal(data, tmp_path).message


def test_a_zstd_window_beyond_the_cap_is_refused(tmp_path: Path) -> None:
    import zstandard

    archive_parts = split_rpm(craft_rpm(name="s", files=[SPEC], compressor="zstd"))
    archive = zstandard.ZstdDecompressor().decompressobj().decompress(archive_parts.payload)
    params = zstandard.ZstdCompressionParameters(window_log=27, compression_level=3)
    streaming = zstandard.ZstdCompressor(compression_params=params).compressobj()
    payload = streaming.compress(archive) + streaming.flush()
    parts = archive_parts
    data = reseal(parts.lead + parts.sig + b"\0" * (-len(parts.sig) % 8) + parts.main + payload, archive=archive)
    (tmp_path / "w.src.rpm").write_bytes(data)
    assert subprocess.run(["rpm", "-K", "--nosignature", str(tmp_path / "w.src.rpm")]).returncode == 0
    error = _refusal(data, tmp_path)
    assert "zstd window is larger than 64 MiB" in error.message


@pytest.mark.parametrize(
    "name, reason",
    [
        (".git", "reserved by git"),
        (".GitModules", "reserved by git"),
        ("GIT~1", "reserved by git"),
        ("x" * 250, "longer than"),
        ("\u00e9" * 125, "longer than"),
    ],
)
def test_names_git_or_the_filesystem_would_refuse(tmp_path: Path, name: str, reason: str) -> None:
    error = _refusal(craft_rpm(name="s", files=[SPEC, CraftFile(name, b"x")]), tmp_path)
    assert reason in error.message and error.code == "unsafe_srpm"


def test_payload_digest_mismatch_is_refused_before_unpacking(tmp_path: Path) -> None:
    data = bytearray(craft_rpm(name="s", files=[SPEC, CraftFile("a.bin", bytes(1000))]))
    data[-30] ^= 1
    error = _refusal(bytes(data), tmp_path)
    assert "digest does not match" in error.message
    assert hashlib.md5(bytes(data)).hexdigest()  # the file itself is readable
    assert subprocess.run(["rpm", "-K", "--nosignature", str(tmp_path / "x.src.rpm")]).returncode != 0


def test_strings_helper_round_trips() -> None:
    assert strings(1000, ["a", "b"]).data == b"a\0b\0"
