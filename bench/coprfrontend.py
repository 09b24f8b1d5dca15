"""Benchmark: the embedded importer as a Copr operator runs it, through a Copr frontend.

``copr-importer run --frontend URL --password-file F --workers N`` (the real
command, default settings otherwise) against the Copr frontend stub of
``tests/support/frontend_stub.py`` on 127.0.0.1, which answers copr's protocol
(queue, ``get-import-task``, ``import-completed``) after a per-request latency of
0, 20 or 50 ms.  The tasks: small distinct SRPMs (a tarball that goes to the
lookaside, one patch, a spec; ``bench/pipeline.py`` makes and caches them),
branches master and f43, 20 owners with 2 projects each, all queued at once on an
importer that is up and idle.  The SRPMs are downloaded from a plain file server
without the latency (copr's builders' results are not served by the frontend).

Per run it prints imports/s (queued -> last report answered), CPU seconds per
import of the importer's whole process tree (controller, zygote, workers,
git-writer: ``bench/proctree.py``) over the same span, the peak PSS of that
tree, the machine's load average, and where an import's time went (the
importer's phase trace, ``adapters/phasetrace.py``: medians of each hop).  After
the first N = 4 run of each latency, idle pickup latency: one task queued on the
idle importer at a random moment, 8 times; from queued to its import step's
start, p50 and p99.  Figures, not assertions; the stub runs in this process, and
its CPU is not counted.

    .venv/bin/python -m bench.coprfrontend            # everything, twice (20-30 minutes)
    .venv/bin/python -m bench.coprfrontend --quick    # 200 tasks, N = 4, 0 and 50 ms, once
    .venv/bin/python -m bench.coprfrontend --cases 200x4 --latency 50 --profile   # + py-spy of the controller
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.support.frontend_stub import FrontendStub
from tests.support.httpserver import serving_http

from bench.phases import breakdown, read_trace, slot_gaps
from bench.pipeline import generate
from bench.proctree import PeakPss, tree, tree_cpu
from bench.pyspy import Profile

REPORT = "/backend/import-completed/"
DEFAULT_CASES = ["200x1", "200x2", "200x4", "200x10", "1000x2", "1000x4"]
RESULTS = Path(__file__).resolve().parent / "results"
WORK_DIR = os.environ.get("BENCH_DIR", tempfile.gettempdir())


class _Files(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def records(srpms: list[Path], *, url: str, first: int, branches: list[str]) -> list[dict[str, Any]]:
    """Task records for ``srpms``: 20 owners with 2 projects each, in turn."""
    out = []
    for n, srpm in enumerate(srpms):
        build_id = first + n
        owner, project = f"owner{build_id % 20:02d}", f"project{build_id // 20 % 2}"
        out.append(
            {
                "build_id": build_id,
                "owner": owner,
                "project": project,
                "branches": branches,
                "pkg_name": srpm.name.rsplit("-", 2)[0],
                "srpm_url": f"{url}/{srpm.name}",
                "sandbox": f"{owner}/{project}--{owner}",
                "background": False,
            }
        )
    return out


@contextmanager
def importer(stub: FrontendStub, *, workers: int, work: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``copr-importer run --frontend`` up and idle: polled once, its zygote, workers and writer started."""
    (work / "password").write_text(stub.password)
    (work / "importer.toml").write_text("")  # the defaults, not whatever /etc holds
    command = [
        str(Path(sys.executable).with_name("copr-importer")),
        "run",
        "--config",
        str(work / "importer.toml"),
        "--frontend",
        stub.url,
        "--password-file",
        str(work / "password"),
        "--data-dir",
        str(work / "data"),
        "--workers",
        str(workers),
        "--listen",
        "",
        "--log-format",
        "json",
    ]
    env = {**os.environ, "COPR_IMPORTER_TRACE": str(work / "trace")}
    with (work / "importer.log").open("ab") as log:
        process = subprocess.Popen(command, env=env, stderr=log, stdout=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(tree(process.pid)) < workers + 3 or not stub.polls():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the importer did not come up; see {work / 'importer.log'}")
            time.sleep(0.1)
        time.sleep(1.0)  # let the start-up settle: the figures are of the work, not of the start
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_reports(stub: FrontendStub, *, count: int, timeout: float) -> float:
    """Wait until ``count`` reports arrived; return when the last was answered (monotonic)."""
    deadline = time.monotonic() + timeout
    while len(stub.reports) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(stub.reports)} of {count} reports within {timeout:.0f} s")
        time.sleep(0.02)
    with stub.lock:
        return max(t for t, method, path, status in stub.answered if method == "POST" and path == REPORT)


def queue(stub: FrontendStub, tasks: list[dict[str, Any]]) -> dict[int, float]:
    with stub.lock:
        stub.queue.extend(tasks)
        now = time.monotonic()
    return {t["build_id"]: now for t in tasks}


def pickup(stub: FrontendStub, srpms: list[Path], *, url: str, probes: int, trace: Path) -> dict[str, Any]:
    """Idle pickup: one task at a time on the idle importer, queued at a random moment."""
    rnd = random.Random(12)
    queued: dict[int, float] = {}
    for n in range(probes):
        time.sleep(rnd.uniform(0.5, 1.5))
        (task,) = records([srpms[n % len(srpms)]], url=url, first=900_000 + n, branches=["master", "f43"])
        task["owner"], task["sandbox"] = "probe", f"probe/{task['project']}--probe"
        before = len(stub.reports)
        queued.update(queue(stub, [task]))
        wait_reports(stub, count=before + 1, timeout=60)
    phases = read_trace(trace, queued=queued)
    started = sorted(phases[b]["step_started"] - t for b, t in queued.items() if "step_started" in phases[b])
    reported = sorted(phases[b]["reported"] - t for b, t in queued.items() if "reported" in phases[b])
    return {
        "probes": probes,
        "pickup_p50_s": round(statistics.median(started), 3),
        "pickup_p99_s": round(started[min(len(started) - 1, int(0.99 * len(started)))], 3),
        "pickup_max_s": round(started[-1], 3),
        "queued_to_reported_p50_s": round(statistics.median(reported), 3),
    }


def run_once(
    srpms: list[Path], *, workers: int, latency_ms: float, probes: int, profile: bool, files_url: str
) -> dict[str, Any]:
    stub = FrontendStub(password="bench-secret")
    stub.latency = latency_ms / 1000
    stub.start()
    work = Path(tempfile.mkdtemp(prefix="throughput-bench-", dir=WORK_DIR))
    try:
        with importer(stub, workers=workers, work=work) as process:
            tasks = records(srpms, url=files_url, first=1, branches=["master", "f43"])
            load0 = os.getloadavg()[0]
            with PeakPss(process.pid, every=0.2, rescan=5) as pss, Profile(process.pid, enabled=profile) as spy:
                cpu0 = tree_cpu(process.pid)
                queued = queue(stub, tasks)
                start = next(iter(queued.values()))
                end = wait_reports(stub, count=len(tasks), timeout=120 + 2 * len(tasks))
                cpu = tree_cpu(process.pid) - cpu0
            wall = end - start
            row: dict[str, Any] = {
                "imports": len(tasks),
                "workers": workers,
                "latency_ms": latency_ms,
                "succeeded": sum(1 for r in stub.reports if r.get("branch_commits")),
                "imports_per_s": round(len(tasks) / wall, 2),
                "cpu_s_per_import": round(cpu / len(tasks), 4),
                "peak_pss_mib": round(pss.peak_mib, 1),
                "load_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],
                "wall_s": round(wall, 2),
            }
            trace = read_trace(work / "trace", queued=queued)
            row["slots"] = slot_gaps(trace, workers=workers, wall=wall)
            row["phases"] = breakdown(trace)
            row["profile"] = spy.summary()
            if probes:
                row["idle"] = pickup(stub, srpms, url=files_url, probes=probes, trace=work / "trace")
        return row
    finally:
        stub.stop()
        shutil.rmtree(work, ignore_errors=True)


def _case(text: str) -> tuple[int, int]:
    count, _, workers = text.partition("x")
    return int(count), int(workers)


def _summary(rows: list[dict[str, Any]]) -> None:
    print("\nlatency  N  imports  imports/s  CPU s/import  peak PSS MiB  load 1m      idle pickup p50/p99 s")
    for r in rows:
        idle = r.get("idle")
        pick = f"{idle['pickup_p50_s']:.3f}/{idle['pickup_p99_s']:.3f}" if idle else ""
        load = "-".join(f"{x:.1f}" for x in r["load_1m"])
        print(
            f"{r['latency_ms']:>5.0f} ms {r['workers']:>2} {r['imports']:>7} {r['imports_per_s']:>10.2f}"
            f" {r['cpu_s_per_import']:>13.4f} {r['peak_pss_mib']:>13.1f}  {load:<12} {pick}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES, help="COUNTxN, e.g. 200x4 1000x2")
    parser.add_argument("--latency", type=float, nargs="+", default=[0, 20, 50], help="stub latency, ms")
    parser.add_argument("--runs", type=int, default=2, help="runs of each figure (the machine may be shared)")
    parser.add_argument("--probes", type=int, default=8, help="idle pickup probes after the first N = 4 run")
    parser.add_argument("--profile", action="store_true", help="sample the controller's threads with py-spy")
    parser.add_argument("--quick", action="store_true", help="200 tasks, N = 4, latency 0 and 50 ms, once")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.latency, args.runs = ["200x4"], [0, 50], 1
    cases = [_case(c) for c in args.cases]
    srpms = generate(max(count for count, _ in cases))
    rows: list[dict[str, Any]] = []
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"coprfrontend-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    probed: set[float] = set()
    handler = functools.partial(_Files, directory=str(srpms[0].parent))
    with serving_http(handler) as files_url:
        for latency in args.latency:
            for count, workers in cases:
                for _ in range(args.runs):
                    probes = args.probes if workers == 4 and latency not in probed else 0
                    probed |= {latency} if probes else set()
                    row = run_once(
                        srpms[:count],
                        workers=workers,
                        latency_ms=latency,
                        probes=probes,
                        profile=args.profile,
                        files_url=files_url,
                    )
                    print(json.dumps(row), flush=True)
                    with out.open("a") as f:
                        f.write(json.dumps(row) + "\n")
                    rows.append(row)
    _summary(rows)
    print(f"\nraw rows: {out}")


if __name__ == "__main__":
    main()
