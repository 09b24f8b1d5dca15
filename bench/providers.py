"""Benchmark: PyPI source builds through the embedded pipeline at several N.

Each build resolves its project on a PyPI-compatible simple index served on
127.0.0.1 (in a separate process, so its CPU is not counted), downloads the
sdist, checks its sha256, reads its metadata, renders the spec, runs
``rpmbuild -bs`` and imports the SRPM (lookaside, hand-over, git-writer commit).

The sdists are the real ``six-1.16.0`` sdist (``pip download``-ed, see
tests/support/sourceservers.py) under ``count`` distinct names and versions:
its top directory and ``PKG-INFO`` rewritten, everything else byte-identical,
cached under ``/var/cache/copr-importer/bench/``.

Prints builds per second and CPU seconds per build (controller, workers,
writer and their commands, from getrusage), then where the time of one build
goes (a sequential sample, timed from the per-task log's records).  Figures,
not assertions.

    .venv/bin/python -m bench.providers --count 1000 --workers 1 2 4
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import logging
import multiprocessing
import os
import resource
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.sourceservers import RouteServer, pypi_routes, real_sdists

from copr_importer.adapters.localsource import LocalSource
from copr_importer.adapters.spool import Spool
from copr_importer.app.embedded import run_embedded
from copr_importer.app.gitwriter import GitWriter
from copr_importer.app.importstep import run_step
from copr_importer.core.task import parse_task
from copr_importer.settings import Settings, from_mapping

CACHE = Path(os.environ.get("BENCH_CACHE", "/var/cache/copr-importer/bench"))
WORK_DIR = os.environ.get("BENCH_DIR", tempfile.gettempdir())
BASE = "six-1.16.0.tar.gz"


def renamed_sdist(base: Path, *, name: str, version: str, dest: Path) -> Path:
    """``base`` with its top directory and PKG-INFO's Name/Version changed."""
    old_top = base.name.removesuffix(".tar.gz")
    new_top = f"{name}-{version}"
    out = io.BytesIO()
    with tarfile.open(base, "r:gz") as src, tarfile.open(fileobj=out, mode="w") as dst:
        for info in src:
            data = src.extractfile(info).read() if info.isfile() else None  # type: ignore[union-attr]
            info.name = new_top + info.name.removeprefix(old_top)
            if data is not None and info.name == f"{new_top}/PKG-INFO":
                data = data.replace(b"Name: six\n", f"Name: {name}\n".encode())
                data = data.replace(b"Version: 1.16.0\n", f"Version: {version}\n".encode())
                info.size = len(data)
            dst.addfile(info, io.BytesIO(data) if data is not None else None)
    path = dest / f"{new_top}.tar.gz"
    path.write_bytes(gzip.compress(out.getvalue(), mtime=0))
    return path


def generate(count: int) -> list[Path]:
    folder = CACHE / f"sdists-v1-{count}"
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (base,) = [p for p in real_sdists() if p.name == BASE]
        for i in range(count):
            renamed_sdist(base, name=f"bench-pkg{i:05d}", version=f"1.{i % 7}.{i}", dest=folder)
        (folder / ".complete").touch()
    return sorted(folder.glob("*.tar.gz"))


def _serve(sdists: list[Path], conn: Any) -> None:
    server = RouteServer(pypi_routes(sdists))
    conn.send(server.url)
    conn.recv()  # until told to stop
    usage = resource.getrusage(resource.RUSAGE_SELF)
    conn.send(usage.ru_utime + usage.ru_stime)
    server.close()


@contextmanager
def index_server(sdists: list[Path]) -> Iterator[str]:
    """A simple index over ``sdists`` in its own process (its CPU is not the importer's);
    yields its URL and prints the CPU it used when it stops."""
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(sdists, child), daemon=True)
    server.start()
    try:
        yield parent.recv() + "/simple/"
    finally:
        parent.send("stop")
        print(json.dumps({"index_server_cpu_s": round(parent.recv(), 1)}), flush=True)
        server.join(10)


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def records(sdists: list[Path]) -> list[dict[str, Any]]:
    out = []
    for i, path in enumerate(sdists):
        name, version = path.name.removesuffix(".tar.gz").rsplit("-", 1)
        params = {"pypi_package_name": name, "pypi_package_version": version if i % 2 else None}
        out.append({"source_type": 5, "source_json": params, "pkg_name": f"python-{name}", "sandbox": f"s{i}"})
    return out


def settings_for(tmp: str, *, index: str, workers: int) -> Settings:
    return from_mapping(
        {
            "data_dir": tmp,
            "executor": {"workers": workers, "per_owner": None, "per_sandbox": None},
            "sources": {"pypi_index_url": index},
        }
    )


def run_once(sdists: list[Path], *, index: str, workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=WORK_DIR) as tmp:
        settings = settings_for(tmp, index=index, workers=workers)
        defaults = {"owner": "bench", "project": "pypi", "branches": ["master"], "background": False}
        source = LocalSource(data_dir=settings.data_dir, records=records(sdists), defaults=defaults)
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        run_embedded(settings, source=source, until_idle=True)
        wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
        ok = sum(1 for r in source.reports.values() if "branch_commits" in r)
        errors = sorted({r.get("error_message", "") for r in source.reports.values() if "error" in r})[:3]
    return {
        "workers": workers,
        "builds": len(sdists),
        "succeeded": ok,
        "wall_s": round(wall, 1),
        "builds_per_s": round(len(sdists) / wall, 2),
        "cpu_s_per_build": round(cpu / len(sdists), 4),
        "errors": errors,
    }


class _Stamps(logging.Handler):
    """The times of the step's milestones, from its log records."""

    MARKS = (
        ("index page (fetch, parse, choose)", ".tar.gz", ""),
        ("sdist download + sha256", "matches the index", ""),
        ("metadata + spec", "generated ", ""),
        ("rpmbuild -bs", "rpmbuild finished", ""),
        ("import (read, unpack, lookaside, hand-over)", "handed over", ""),
    )

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.times: list[tuple[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.times.append((record.getMessage(), record.created))


def profile(sdists: list[Path], *, index: str, sample: int) -> dict[str, float]:
    """Milliseconds per phase, averaged over ``sample`` sequential builds, and the writer's."""
    phases: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=WORK_DIR) as tmp:
        settings = settings_for(tmp, index=index, workers=1)
        spool = Spool(settings.spool_root)
        stamps = _Stamps()
        logging.getLogger("copr_importer").addHandler(stamps)
        base = {"owner": "bench", "project": "pypi", "branches": ["master"], "background": False}
        for i, record in enumerate(records(sdists[:sample])):
            stamps.times.clear()
            started = time.time()
            run_step(parse_task({**base, **record, "build_id": i + 1}), settings=settings, spool=spool)
            previous = started
            for label, needle, also in _Stamps.MARKS:
                at = next(t for message, t in stamps.times if needle in message and also in message)
                phases[label] = phases.get(label, 0.0) + (at - previous) * 1000 / sample
                previous = at
        logging.getLogger("copr_importer").removeHandler(stamps)
        writer = GitWriter(settings=settings, spool=spool)
        writer.acquire()
        began = time.perf_counter()
        while writer.step():
            pass
        phases["git-writer commit"] = (time.perf_counter() - began) * 1000 / sample
        writer.close()
    return {k: round(v, 1) for k, v in phases.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--sample", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().handlers[0].setLevel(logging.WARNING)
    sdists = generate(args.count)
    with index_server(sdists) as index:
        for workers in args.workers:
            print(json.dumps(run_once(sdists, index=index, workers=workers)), flush=True)
        print(json.dumps({"ms_per_build": profile(sdists, index=index, sample=args.sample)}), flush=True)


if __name__ == "__main__":
    main()
