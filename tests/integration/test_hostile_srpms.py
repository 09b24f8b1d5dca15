"""Hostile and broken SRPMs: each is refused with a reason that reaches the result
and the per-task log, and nothing is written outside the package's own places."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from copr_importer.adapters.spool import Spool
from copr_importer.app.importstep import EXIT_BAD_INPUT, run_step
from copr_importer.core.task import ImportTask
from copr_importer.settings import Settings
from tests.support.craft import CraftFile, craft_rpm
from tests.support.srpms import build_srpm

SPEC = CraftFile("evil.spec", b"Name: evil\n", flags=32)


def _task(url: str, pkg: str = "evil") -> ImportTask:
    return ImportTask(41, "mallory", "proj", pkg, ("f43", "master"), url, "mallory/proj--mallory")


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def _run(settings: Settings, srpm: Path, pkg: str = "evil") -> tuple[int, dict[str, object], str]:
    outside = settings.data_dir.parent / "outside"
    before = _tree(settings.data_dir.parent)
    outcome = run_step(_task(str(srpm), pkg), settings=settings, spool=Spool(settings.spool_root))
    after = _tree(settings.data_dir.parent)
    created = {p for p in after - before if not p.startswith("data/spool/") and not p.startswith("data/per-task-logs")}
    assert created <= {"data", "data/spool", "data/per-task-logs"}, f"wrote outside its places: {created}"
    assert not outside.exists()
    spool = Spool(settings.spool_root)
    assert spool.request_ids() == [] and not os.listdir(settings.spool_root / "incoming")
    assert not settings.git_root.exists() and not settings.lookaside_root.exists()
    (result,) = [r for _, r in spool.results()]
    log = (settings.log_root / "41.log").read_text()
    return outcome.exit_code, result, log


CRAFTED = {
    "absolute path": [SPEC, CraftFile("/etc/passwd", b"root")],
    "escapes the directory": [SPEC, CraftFile("../outside/x", b"x")],
    "not at the top level": [SPEC, CraftFile("sub/x", b"x")],
    "symbolic link": [SPEC, CraftFile("link", b"../outside", mode=stat.S_IFLNK | 0o777)],
    "device file": [SPEC, CraftFile("sda", b"", mode=stat.S_IFBLK | 0o600)],
    "not a regular file": [SPEC, CraftFile("fifo", b"", mode=stat.S_IFIFO | 0o600)],
    "hard link": [SPEC, CraftFile("h1", b"data", nlink=2)],
    "not listed in the header": [SPEC, CraftFile("stowaway", b"x", in_header=False)],
    "size disagrees": [SPEC, CraftFile("liar", b"x" * 100, header_size=10)],
    "twice": [SPEC, CraftFile("dup", b"x"), CraftFile("dup", b"x")],
}


@pytest.mark.parametrize("reason", sorted(CRAFTED))
def test_crafted_hostile_members(settings: Settings, tmp_path: Path, reason: str) -> None:
    srpm = tmp_path / "evil-1.0-1.src.rpm"
    srpm.write_bytes(craft_rpm(name="evil", files=CRAFTED[reason]))
    code, result, log = _run(settings, srpm)
    assert code == EXIT_BAD_INPUT
    error = result["error"]
    assert isinstance(error, dict) and error["code"] == "unsafe_srpm" and reason in error["message"]
    assert reason in log


def test_decompression_bomb(make_settings: Callable[..., Settings], srpm_factory: Callable[..., Path]) -> None:
    settings = make_settings(unpack={"max_total_bytes": 5_000_000})
    srpm = srpm_factory(name="evil", sources={"zeros.bin": bytes(20_000_000)})
    assert srpm.stat().st_size < 200_000
    code, result, log = _run(settings, srpm)
    assert code == EXIT_BAD_INPUT and "size limit" in str(result["error"]) and "size limit" in log


def test_oversize_download(make_settings: Callable[..., Settings], srpm_factory: Callable[..., Path]) -> None:
    settings = make_settings(download={"max_bytes": 1000})
    code, result, log = _run(settings, srpm_factory(name="evil"))
    assert code == EXIT_BAD_INPUT and "srpm_too_large" in str(result["error"]) and "larger than the limit" in log


def test_truncated(settings: Settings, srpm_factory: Callable[..., Path], tmp_path: Path) -> None:
    srpm = srpm_factory(name="evil", sources={"a.tar.gz": os.urandom(50_000)})
    cut = tmp_path / "evil-1.0-1.src.rpm"
    cut.write_bytes(srpm.read_bytes()[: srpm.stat().st_size - 20_000])
    code, result, log = _run(settings, cut)
    assert code == EXIT_BAD_INPUT and "truncated" in str(result["error"]) and "truncated" in log


def test_not_an_rpm(settings: Settings, tmp_path: Path) -> None:
    junk = tmp_path / "evil-1.0-1.src.rpm"
    junk.write_bytes(b"<html>404 not found</html>" * 10)
    code, result, log = _run(settings, junk)
    assert code == EXIT_BAD_INPUT and "not an RPM" in str(result["error"]) and "not an RPM" in log


def test_binary_rpm(settings: Settings, tmp_path: Path) -> None:
    top = tmp_path / "bb"
    build_srpm(workdir=top, name="evil")  # leaves a spec under top to build the binary package from
    (spec,) = top.glob("rpmbuild-*/SPECS/evil.spec")
    import subprocess

    subprocess.run(
        ["rpmbuild", "--define", f"_topdir {spec.parent.parent}", "-bb", str(spec)], check=True, capture_output=True
    )
    (rpm,) = spec.parent.parent.glob("RPMS/noarch/*.rpm")
    code, result, log = _run(settings, rpm)
    assert code == EXIT_BAD_INPUT and "binary RPM" in str(result["error"]) and "not a source RPM" in log


def test_name_mismatch(settings: Settings, srpm_factory: Callable[..., Path]) -> None:
    code, result, log = _run(settings, srpm_factory(name="innocent"), pkg="evil")
    assert code == EXIT_BAD_INPUT and "'innocent' but the task is for 'evil'" in str(result["error"])
    assert "'innocent'" in log


def test_missing_download_is_permanent(settings: Settings, tmp_path: Path) -> None:
    code, result, _log = _run(settings, tmp_path / "missing.src.rpm")
    assert code == EXIT_BAD_INPUT and "srpm_download_failed" in str(result["error"])


@pytest.mark.parametrize(
    "member, reason",
    [
        (CraftFile("n" * 250 + ".tar.gz", b"x"), "longer than"),
        (CraftFile(".gitmodules", b"[submodule]\n"), "reserved by git"),
        (CraftFile(".git", b"gitdir: /etc\n"), "reserved by git"),
    ],
)
def test_names_that_fail_later_are_refused_first(
    settings: Settings, tmp_path: Path, member: CraftFile, reason: str
) -> None:
    srpm = tmp_path / "evil-1.0-1.src.rpm"
    srpm.write_bytes(craft_rpm(name="evil", files=[SPEC, member]))
    code, result, log = _run(settings, srpm)
    assert code == EXIT_BAD_INPUT and reason in str(result["error"]) and reason in log


def test_an_uncompressed_payload_imports(settings: Settings, srpm_factory: Callable[..., Path]) -> None:
    srpm = srpm_factory(name="plain", sources={"data.bin": bytes(range(256)) * 8}, payload="w.ufdio")
    outcome = run_step(_task(str(srpm), "plain"), settings=settings, spool=Spool(settings.spool_root))
    assert outcome.exit_code == 0, outcome.message


def test_a_frontend_task_cannot_name_a_local_file(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings()
    frontend_mode = replace(settings, download=replace(settings.download, local_files=False))
    for url in ("/etc/passwd", "file:///dev/zero"):
        code, result, log = _run(frontend_mode, Path(url))
        assert (
            code == EXIT_BAD_INPUT and "only http and https" in str(result["error"]) and "srpm_download_failed" in log
        )
        Spool(settings.spool_root).remove_result(41)
