"""Benchmark: generated small SRPMs through the embedded pipeline at several N.

Prints imports per second, CPU seconds per import (controller, zygote, workers
and git-writer together, from getrusage) and the peak PSS of the whole process
tree (the sum of ``/proc/<pid>/smaps_rollup`` over the benchmark process and
its descendants, sampled every 50 ms).  Figures, not assertions.

    .venv/bin/python -m bench.pipeline --count 1000 --workers 1 2 4
    .venv/bin/python -m bench.pipeline --count 1000 --workers 1 2 4 --tasks-per-worker 1 1000

``--tasks-per-worker 1`` forks a fresh worker from the zygote for every task,
which shows what the pool saves; without the option the settings' default is used
(and the option is not needed to run this file against older code).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.srpms import binary_tarball, build_srpm

from bench.proctree import PeakPss
from copr_importer.adapters.download import allow_local_files
from copr_importer.adapters.localsource import LocalSource
from copr_importer.app.embedded import run_embedded
from copr_importer.settings import from_mapping

CACHE = Path(os.environ.get("BENCH_CACHE", "/var/cache/copr-importer/bench"))


# Where the data directory lives (the disk under it dominates the figures).
WORK_DIR = os.environ.get("BENCH_DIR", tempfile.gettempdir())


def generate(count: int) -> list[Path]:
    """``count`` distinct small SRPMs (a tarball, a patch, a spec), cached across runs
    (the first ``count`` of a larger set made before, if there is one)."""
    for made in sorted(CACHE.glob("srpms-v1-*"), key=lambda f: int(f.name.rsplit("-", 1)[1])):
        if int(made.name.rsplit("-", 1)[1]) >= count and (made / ".complete").exists():
            return sorted(made.glob("*.src.rpm"))[:count]
    folder = CACHE / f"srpms-v1-{count}"
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(count):
                name = f"bench-pkg{i:05d}"
                srpm = build_srpm(
                    workdir=Path(tmp),
                    name=name,
                    sources={f"{name}-1.0.tar.gz": binary_tarball(name=name, version="1.0", size=2048)},
                    patches={"fix.patch": f"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-{i}\n+{i + 1}\n".encode()},
                )
                shutil.move(srpm, folder / srpm.name)
                shutil.rmtree(srpm.parent.parent)
        done.touch()
    return sorted(folder.glob("*.src.rpm"))


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_once(
    srpms: list[Path], *, workers: int, branches: list[str], tasks_per_worker: int | None = None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=WORK_DIR) as tmp:
        executor: dict[str, Any] = {"workers": workers, "per_owner": None, "per_sandbox": None}
        if tasks_per_worker is not None:
            executor["tasks_per_worker"] = tasks_per_worker
        settings = allow_local_files(from_mapping({"data_dir": tmp, "executor": executor}))
        records = [{"srpm_url": str(p), "sandbox": f"s{i}"} for i, p in enumerate(srpms)]
        defaults = {"owner": "bench", "project": "mass", "branches": branches, "background": False}
        source = LocalSource(data_dir=settings.data_dir, records=records, defaults=defaults)
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        with PeakPss() as pss:
            run_embedded(settings, source=source, until_idle=True)
        wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
        ok = sum(1 for r in source.reports.values() if "branch_commits" in r)
    return {
        "workers": workers,
        "tasks_per_worker": tasks_per_worker,
        "imports": len(srpms),
        "succeeded": ok,
        "wall_s": round(wall, 2),
        "imports_per_s": round(len(srpms) / wall, 1),
        "cpu_s_per_import": round(cpu / len(srpms), 4),
        "peak_pss_mib": round(pss.peak_mib, 1),
        "load_avg_1m": round(os.getloadavg()[0], 1),  # of the whole machine, at the end: is it shared?
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--branches", nargs="+", default=["master"])
    parser.add_argument("--tasks-per-worker", type=int, nargs="+", default=[None], help="K (default: the setting's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().handlers[0].setLevel(logging.WARNING)  # per-task logs still get INFO
    srpms = generate(args.count)
    for tasks_per_worker in args.tasks_per_worker:
        for workers in args.workers:
            row = run_once(srpms, workers=workers, branches=args.branches, tasks_per_worker=tasks_per_worker)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
