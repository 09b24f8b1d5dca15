"""A wall-clock profile of the controller's main thread, sampled from outside with py-spy.

py-spy (``pip install py-spy``; not a dependency of the project) samples the
process without changing it (``--nonblocking``), idle moments included
(``--idle``), so the shares say where the controller's thread spends its wall
time: waiting for something to happen, or in which part of a tick.
:meth:`Profile.summary` groups the main thread's samples by the function called
from the embedded loop (``run_embedded``) and from a tick's phases
(``Controller._phase``), and names the most frequent innermost functions.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["Profile"]


def _py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _name(frame: str) -> str:
    return frame.split(" (", 1)[0]


def _shares(counter: Counter[str], total: int, top: int = 8) -> dict[str, float]:
    return {name: round(count / total, 3) for name, count in counter.most_common(top)}


class Profile:
    """``with Profile(pid, enabled=True) as p:`` samples ``pid`` meanwhile; then :meth:`summary`."""

    def __init__(self, pid: int, *, enabled: bool, rate: int = 200) -> None:
        self.pid, self.rate = pid, rate
        self.binary = _py_spy() if enabled else None
        if enabled and self.binary is None:
            print("py-spy not found (pip install py-spy): no profile", file=sys.stderr)
        self._out = Path()
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Profile:
        if self.binary is not None:
            self._out = Path(tempfile.mkstemp(prefix="throughput-pyspy-", suffix=".txt")[1])
            command = [self.binary, "record", "--pid", str(self.pid), "--idle", "--threads", "--nonblocking"]
            command += ["--format", "raw", "--rate", str(self.rate), "--output", str(self._out)]
            self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
            self._process.wait(timeout=60)

    def summary(self) -> dict[str, Any]:
        if self._process is None:
            return {}
        loop: Counter[str] = Counter()
        phases: Counter[str] = Counter()
        leaves: Counter[str] = Counter()
        total = 0
        for line in self._out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            if not frames[0].endswith("MainThread") or len(frames) < 2:
                continue
            names, samples = [_name(f) for f in frames[1:]], int(count)
            total += samples
            leaves[names[-1]] += samples
            for outer, counter in (("run_embedded", loop), ("Controller._phase", phases)):
                if outer in names and names.index(outer) + 1 < len(names):
                    counter[names[names.index(outer) + 1]] += samples
        self._out.unlink(missing_ok=True)
        if not total:
            return {}
        return {
            "main_thread_samples": total,
            "loop": _shares(loop, total),
            "tick_phases": _shares(phases, total),
            "innermost": _shares(leaves, total),
        }
