"""Round trip: every branch, checked out and completed from the lookaside through
its ``sources`` file, rebuilds into an SRPM with the original's files and digests."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

from copr_importer.core.sources import parse_sources
from copr_importer.settings import Settings
from tests.support.pipeline import import_now, make_task
from tests.support.srpms import binary_tarball


def rpm_files(srpm: Path) -> dict[str, str]:
    out = subprocess.run(
        ["rpm", "-qp", "--qf", "[%{FILENAMES} %{FILEDIGESTS}\n]", str(srpm)], capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split(" ", 1) for line in out.splitlines())


def rpm_nevr(srpm: Path) -> str:
    return subprocess.run(
        ["rpm", "-qp", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}", str(srpm)], capture_output=True, text=True, check=True
    ).stdout


def rebuild_branch(settings: Settings, *, branch: str, work: Path, pkg: str) -> Path:
    repo = settings.git_root / "alice" / "demo" / f"{pkg}.git"
    checkout = work / branch.replace("/", "_")
    subprocess.run(["git", "clone", "-q", "-b", branch, str(repo), str(checkout)], check=True)
    for entry in parse_sources((checkout / "sources").read_text()):
        # What dist-git-client does: fetch by the layout, then check the md5.
        blob = settings.lookaside_root / "alice/demo" / pkg / entry.filename / entry.digest / entry.filename
        data = blob.read_bytes()
        assert hashlib.md5(data).hexdigest() == entry.digest
        (checkout / entry.filename).write_bytes(data)
    top = work / f"top-{branch.replace('/', '_')}"
    subprocess.run(
        [
            "rpmbuild",
            "--define",
            f"_topdir {top}",
            "--define",
            f"_sourcedir {checkout}",
            "--define",
            "_source_filedigest_algorithm 8",
            "-bs",
            str(checkout / f"{pkg}.spec"),
        ],
        check=True,
        capture_output=True,
    )
    (srpm,) = (top / "SRPMS").glob("*.src.rpm")
    return srpm


def test_every_branch_rebuilds_the_original(
    settings: Settings, srpm_factory: Callable[..., Path], tmp_path: Path
) -> None:
    sources = {
        "proj-2.0.tar.gz": binary_tarball(name="proj", version="2.0", size=50_000),
        "logo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        "proj.desktop": b"[Desktop Entry]\nName=proj\n",
    }
    patches = {"0001-fix.patch": b"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n", "0002-more.patch": b"-c\n+d\n"}
    old = srpm_factory(
        name="proj", version="1.0", sources={"proj-1.0.tar.gz": binary_tarball(name="proj", version="1")}
    )
    new = srpm_factory(name="proj", version="2.0", sources=sources, patches=patches)
    import_now(settings, make_task(1, old, pkg="proj", branches=("f42",)))
    result = import_now(settings, make_task(2, new, pkg="proj", branches=("f42", "f43", "master", "epel9")))
    assert set(result["branch_commits"]) == {"f42", "f43", "master", "epel9"}
    original = rpm_files(new)
    for branch in result["branch_commits"]:
        rebuilt = rebuild_branch(settings, branch=branch, work=tmp_path / "rt", pkg="proj")
        assert rpm_nevr(rebuilt) == rpm_nevr(new) == "proj-2.0-1"
        assert rpm_files(rebuilt) == original, branch
