"""Benchmark: the git-writer alone, on requests already in the spool.

Each request carries a spec and two patches (one changes per build) plus one
lookaside entry, for packages whose repositories already exist (the mass
rebuild case); a cold pass that creates the repositories is reported too.

    .venv/bin/python -m bench.gitwriter --packages 50 --builds 10 --branches 1 5
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from typing import Any

from copr_importer.adapters.spool import Spool
from copr_importer.app.gitwriter import GitWriter
from copr_importer.core.sources import SourceEntry, render_sources
from copr_importer.settings import Settings, from_mapping

BRANCH_SETS = {1: ["master"], 5: ["el9", "epel10", "f42", "f43", "master"]}


# Where the data directory lives (the disk under it dominates the figures).
WORK_DIR = os.environ.get("BENCH_DIR", tempfile.gettempdir())


def spool_request(spool: Spool, *, build_id: int, pkg: str, version: int, branches: list[str]) -> None:
    staging = spool.stage(build_id)
    files = {
        f"{pkg}.spec": f"Name: {pkg}\nVersion: {version}\nRelease: 1\nSummary: s\nLicense: MIT\n\n%description\nd\n",
        "fix.patch": f"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-{version}\n+{version + 1}\n",
        "static.patch": "--- a/y\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n",
    }
    for name, text in files.items():
        (staging / "files" / name).write_text(text)
    entry = SourceEntry(f"{pkg}-{version}.tar.gz", "md5", f"{version:032x}")
    task = {
        "build_id": build_id,
        "owner": "bench",
        "project": "mass",
        "branches": branches,
        "pkg_name": pkg,
        "srpm_url": "file:///dev/null",
        "sandbox": "s",
        "background": False,
    }
    request = {
        "version": 1,
        "task": task,
        "files": [{"path": n, "executable": False} for n in files],
        "lookaside": [{"filename": entry.filename, "hashtype": "md5", "digest": entry.digest}],
        "sources": render_sources([entry], style="old"),
        "commit_date": f"{1_700_000_000 + build_id} +0000",  # as the import step writes it
    }
    spool.hand_over(staging, build_id=build_id, request=request)


def timed_pass(settings: Settings, *, packages: int, first_build: int, version: int, branches: list[str]) -> float:
    spool = Spool(settings.spool_root)
    for p in range(packages):
        spool_request(spool, build_id=first_build + p, pkg=f"pkg{p:04d}", version=version, branches=branches)
    writer = GitWriter(settings=settings, spool=spool)
    writer.acquire()
    try:
        start = time.perf_counter()
        while spool.request_ids():
            writer.step()
        return time.perf_counter() - start
    finally:
        writer.close()


def probe_fs(folder: str, *, files: int = 300) -> float:
    """Milliseconds to create, write and close one small file there: the figures follow it."""
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        start = time.perf_counter()
        for i in range(files):
            fd = os.open(f"{tmp}/f{i}", os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, b"x" * 100)
            os.close(fd)
        return 1000 * (time.perf_counter() - start) / files


def run(*, packages: int, builds: int, branch_count: int) -> dict[str, Any]:
    branches = BRANCH_SETS[branch_count]
    with tempfile.TemporaryDirectory(dir=WORK_DIR) as tmp:
        settings = from_mapping({"data_dir": tmp})
        cold = timed_pass(settings, packages=packages, first_build=1, version=0, branches=branches)
        warm = 0.0
        for b in range(1, builds + 1):
            warm += timed_pass(settings, packages=packages, first_build=1 + b * packages, version=b, branches=branches)
    requests = packages * builds
    return {
        "dir": WORK_DIR,
        "fs_create_ms": round(probe_fs(WORK_DIR), 3),
        "branches": branch_count,
        "cold_new_repos_per_s": round(packages / cold, 1),
        "requests": requests,
        "requests_per_s": round(requests / warm, 1),
        "commits_per_s": round(requests * branch_count / warm, 1),
        "ms_per_request": round(1000 * warm / requests, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", type=int, default=50)
    parser.add_argument("--builds", type=int, default=10)
    parser.add_argument("--branches", type=int, nargs="+", default=[1, 5], choices=sorted(BRANCH_SETS))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().handlers[0].setLevel(logging.WARNING)  # per-task logs still get INFO
    for count in args.branches:
        print(json.dumps(run(packages=args.packages, builds=args.builds, branch_count=count)), flush=True)


if __name__ == "__main__":
    main()
