"""What a process tree costs: its live pids, its CPU time and the peak of its PSS.

The importer's tree is the controller, the zygote, the workers and the git-writer.
CPU is read from ``/proc/<pid>/stat`` (utime + stime + cutime + cstime, so the CPU of
children that were already reaped inside the tree, like retired workers, is counted
by their parent); PSS is the sum of ``Pss`` in ``/proc/<pid>/smaps_rollup``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["PeakPss", "pss_kib", "tree", "tree_cpu"]

TICKS = os.sysconf("SC_CLK_TCK")


def tree(root: int) -> list[int]:
    """``root`` and its live descendants."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            parents.setdefault(int(stat[stat.rindex(b")") + 2 :].split()[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += parents.get(pid, [])
    return found


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_cpu(root: int) -> float:
    """CPU seconds used so far by ``root``'s tree (its reaped children included)."""
    total = 0
    for pid in tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])
    return total / TICKS


class PeakPss:
    """Samples the PSS of ``root``'s tree (default: this process's) every ``every`` seconds
    while inside; ``peak_mib`` afterwards.  The tree's pids are looked up again every
    ``rescan`` samples only: walking /proc costs more than reading a few rollups."""

    def __init__(self, root: int | None = None, *, every: float = 0.05, rescan: int = 1) -> None:
        self.root = os.getpid() if root is None else root
        self.every, self.rescan = every, rescan
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakPss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        pids: list[int] = []
        count = 0
        while not self._stop.wait(self.every):
            if count % self.rescan == 0:
                pids = tree(self.root)
            count += 1
            self.peak_mib = max(self.peak_mib, sum(pss_kib(pid) for pid in pids) / 1024)
