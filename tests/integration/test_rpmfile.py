"""Reading real SRPMs (every payload compressor rpmbuild offers) and rpm's stripped archives."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from copr_importer.adapters.rpmfile import iter_payload, read_package
from copr_importer.adapters.unpacker import unpack
from copr_importer.settings import UnpackSettings
from tests.support.craft import CraftFile, craft_rpm
from tests.support.srpms import binary_tarball


@pytest.mark.parametrize("payload", ["w9.gzdio", "w6.xzdio", "w9.bzdio", "w3.zstdio"])
def test_real_srpm_with_each_compressor(srpm_factory: Callable[..., Path], tmp_path: Path, payload: str) -> None:
    tarball = binary_tarball(name="pkg", version="1")
    srpm = srpm_factory(name="pkg", sources={"pkg-1.tar.gz": tarball}, patches={"a.patch": b"patch\n"}, payload=payload)
    with open(srpm, "rb") as stream:
        package = read_package(stream)
        assert package.is_source and package.name == "pkg" and package.nevr == "pkg-1.0-1"
        files = {f.name: f for f in unpack(stream, package=package, dest=tmp_path / "out", limits=UnpackSettings())}
    assert set(files) == {"pkg.spec", "pkg-1.tar.gz", "a.patch"}
    assert files["pkg.spec"].is_spec and not files["pkg.spec"].is_binary
    assert files["pkg-1.tar.gz"].is_binary and (tmp_path / "out" / "pkg-1.tar.gz").read_bytes() == tarball
    assert not files["a.patch"].is_binary
    # The same file list as rpm itself reports.
    listed = subprocess.run(["rpm", "-qpl", str(srpm)], capture_output=True, text=True, check=True).stdout.split()
    assert sorted(listed) == sorted(files)


def test_stripped_archive_takes_sizes_from_the_header(tmp_path: Path) -> None:
    spec = CraftFile("s.spec", b"Name: s\n", flags=32)
    blob = CraftFile("big.bin", bytes(range(256)) * 40)
    data = craft_rpm(name="s", files=[spec, blob], stripped=True)
    path = tmp_path / "s.src.rpm"
    path.write_bytes(data)
    with open(path, "rb") as stream:
        package = read_package(stream)
        names = [(e.name, e.size) for e in iter_payload(stream, package=package)]
    assert names == [("s.spec", 8), ("big.bin", 10240)]
