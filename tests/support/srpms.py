"""Real source RPMs made with ``rpmbuild -bs`` for tests, samples and benchmarks.

:func:`build_srpm` writes a spec and its sources into a private top dir and
runs rpmbuild; the sources are given as ``{name: bytes}`` so a test decides
which are text (go to git) and which are binary (go to the lookaside).
"""

from __future__ import annotations

import gzip
import io
import os
import random
import subprocess
import tarfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["binary_tarball", "build_srpm", "spec_text"]


def binary_tarball(*, name: str, version: str, seed: int = 0, size: int = 4096) -> bytes:
    """A small gzipped tarball with pseudo-random (incompressible) content."""
    rnd = random.Random(f"{name}-{version}-{seed}")
    payload = rnd.randbytes(size)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(f"{name}-{version}/data.bin")
        info.size = len(payload)
        info.mtime = 1_700_000_000
        tar.addfile(info, io.BytesIO(payload))
    return gzip.compress(buffer.getvalue(), mtime=0)


def spec_text(*, name: str, version: str, release: str = "1", sources: list[str], patches: list[str]) -> str:
    lines = [
        f"Name: {name}",
        f"Version: {version}",
        f"Release: {release}",
        "Summary: test package for the importer",
        "License: MIT",
        "BuildArch: noarch",
    ]
    lines += [f"Source{i}: {s}" for i, s in enumerate(sources)]
    lines += [f"Patch{i}: {p}" for i, p in enumerate(patches)]
    lines += ["", "%description", f"{name} exists to be imported.", "", "%prep", "", "%files", ""]
    return "\n".join(lines)


def build_srpm(
    *,
    workdir: Path,
    name: str,
    version: str = "1.0",
    release: str = "1",
    sources: Mapping[str, bytes] | None = None,
    patches: Mapping[str, bytes] | None = None,
    payload: str | None = None,
    spec: str | None = None,
) -> Path:
    """Build ``<name>-<version>-<release>.src.rpm`` under ``workdir``; return its path."""
    sources = dict(sources or {})
    patches = dict(patches or {})
    top = workdir / f"rpmbuild-{name}-{version}-{release}"
    for sub in ("SOURCES", "SPECS", "SRPMS"):
        (top / sub).mkdir(parents=True, exist_ok=True)
    for filename, data in {**sources, **patches}.items():
        (top / "SOURCES" / filename).write_bytes(data)
    spec_path = top / "SPECS" / f"{name}.spec"
    spec_path.write_text(
        spec or spec_text(name=name, version=version, release=release, sources=list(sources), patches=list(patches))
    )
    command = ["rpmbuild", "--define", f"_topdir {top}", "--define", "_source_filedigest_algorithm 8"]
    if payload:
        command += ["--define", f"_source_payload {payload}"]
    env = {**os.environ, "LC_ALL": "C"}
    subprocess.run([*command, "-bs", str(spec_path)], check=True, capture_output=True, env=env)
    (srpm,) = (top / "SRPMS").glob("*.src.rpm")
    return srpm
