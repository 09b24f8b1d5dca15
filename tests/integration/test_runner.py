"""The providers' command runner: real processes under its time, output, file-size and memory limits."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from copr_importer.adapters.providers.runner import Limits, run
from copr_importer.errors import PermanentError

GENEROUS = Limits(timeout=120.0, output_bytes=64 * 1024, file_bytes=1 << 30, memory_bytes=2 << 30)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def assert_dies(pid: int) -> None:
    deadline = time.monotonic() + 30
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid)


def test_a_command_past_its_time_dies_with_its_background_children(tmp_path: Path) -> None:
    script = f"sleep 600 & echo $! > {tmp_path}/child; echo started; sleep 600"
    with pytest.raises(PermanentError, match="ran longer than 1 s and was killed:\nstarted") as err:
        run(["sh", "-c", script], cwd=tmp_path, limits=Limits(1.0, 4096, 1 << 30, 2 << 30), code="srpm_build_failed")
    assert err.value.code == "srpm_build_failed"
    assert_dies(int((tmp_path / "child").read_text()))


def test_a_stray_background_job_does_not_outlive_a_finished_command(tmp_path: Path) -> None:
    run(["sh", "-c", f"(sleep 600; echo late) & echo $! > {tmp_path}/child"], cwd=tmp_path, limits=GENEROUS, code="x")
    assert_dies(int((tmp_path / "child").read_text()))


def test_long_output_keeps_its_start_and_its_end(tmp_path: Path) -> None:
    limits = Limits(120.0, 1000, 1 << 30, 2 << 30)
    with pytest.raises(PermanentError) as err:
        run(["sh", "-c", "echo FIRST; seq 1 100000; echo LAST; exit 4"], cwd=tmp_path, limits=limits, code="x")
    assert "failed (exit status 4)" in err.value.message and err.value.message.endswith("100000\nLAST")
    output = run(["sh", "-c", "echo FIRST; seq 1 100000; echo LAST"], cwd=tmp_path, limits=limits, code="x")
    assert output.startswith("FIRST\n") and output.endswith("LAST") and "bytes left out" in output
    assert len(output) < 1100


def test_file_size_and_memory_limits_hold(tmp_path: Path) -> None:
    small = Limits(120.0, 4096, 1 << 20, 2 << 30)
    with pytest.raises(PermanentError, match="File size limit exceeded"):
        run(["sh", "-c", "head -c 5000000 /dev/zero > big"], cwd=tmp_path, limits=small, code="x")
    assert (tmp_path / "big").stat().st_size == 1 << 20
    tight = Limits(120.0, 4096, 1 << 30, 256 << 20)
    with pytest.raises(PermanentError, match="failed"):
        run(["python3", "-c", "b = bytearray(512 << 20)"], cwd=tmp_path, limits=tight, code="x")


def test_a_missing_tool_is_named(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="no-such-tool-x is not installed here"):
        run(["no-such-tool-x", "build"], cwd=tmp_path, limits=GENEROUS, code="srpm_build_failed")
