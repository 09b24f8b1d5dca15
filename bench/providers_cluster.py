"""Benchmark: PyPI source builds as Kubernetes Jobs on the test control plane.

``manifests/`` deployed into a fresh namespace of the real control plane, pods
run by the test node runtime (tests/support/noderuntime.py: each pod's
containers are local processes, so no image pull and no container isolation);
the Copr frontend stub queues ``count`` pypi tasks for the sdists of
bench/providers.py, served by a simple index in a separate process.  Each
import Job resolves, downloads, checks, renders, runs ``rpmbuild -bs`` and
imports; the controller pod reports to the stub.

Prints builds per second from the deployment to the last report, and CPU
seconds per build: the node runtime's pods (controller, git-writer, import
steps and their commands; ``getrusage`` of reaped children) and, separately,
the control plane's processes (``/proc/<pid>/stat``).  Figures, not assertions.

    .venv/bin/python -m bench.providers_cluster --count 1000 --limits 4 8
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.cluster.test_end_to_end_cluster import importer, running_node
from tests.support.controlplane import ControlPlane, start_control_plane, stop_control_plane
from tests.support.frontend_stub import FrontendStub

from bench.providers import generate, index_server, records

TICKS = os.sysconf("SC_CLK_TCK")


def plane_cpu(plane: ControlPlane) -> float:
    """CPU seconds used so far by the control plane's processes."""
    total = 0.0
    for pidfile in (plane.state / "pids").glob("*.pid"):
        try:
            fields = Path(f"/proc/{pidfile.read_text().strip()}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime + own.ru_utime + own.ru_stime


def run_once(plane: ControlPlane, sdists: list[Path], *, index: str, limit: int, work: Path) -> dict[str, Any]:
    frontend = FrontendStub(password="s3cret")
    frontend.start()
    base = {"owner": "bench", "project": "pypi", "branches": ["f43"], "background": False}
    for build_id, record in enumerate(records(sdists), start=1):
        frontend.queue.append({**base, **record, "build_id": build_id, "sandbox": f"bench/pypi--{build_id % 50}"})
    extra = f'[sources]\npypi_index_url = "{index}"\n[executor]\nper_owner = 10000\nper_sandbox = 10000\n'
    try:
        with running_node(plane, work / "node") as runtime:
            cpu0, plane0, wall0 = children_cpu(), plane_cpu(plane), time.perf_counter()
            with importer(plane, frontend, work / "data", parallelism=limit, extra=extra):
                deadline = time.monotonic() + 4 * 3600
                while len(frontend.reports) < len(sdists) and time.monotonic() < deadline:
                    time.sleep(1)
                wall = time.perf_counter() - wall0
                plane_used = plane_cpu(plane) - plane0
            errors = runtime.errors[:3]
        pods_used = children_cpu() - cpu0
    finally:
        frontend.stop()
    ok = sum(1 for r in frontend.reports if "branch_commits" in r)
    failures = sorted({r.get("error_message", "")[:200] for r in frontend.reports if "error" in r})[:3]
    return {
        "limit": limit,
        "builds": len(sdists),
        "succeeded": ok,
        "wall_s": round(wall, 1),
        "builds_per_s": round(len(sdists) / wall, 2),
        "pods_cpu_s_per_build": round(pods_used / len(sdists), 3),
        "control_plane_cpu_s_per_build": round(plane_used / len(sdists), 3),
        "failures": failures,
        "runtime_errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--limits", type=int, nargs="+", default=[4, 8])
    args = parser.parse_args()
    sdists = generate(args.count)
    with index_server(sdists) as index:
        plane = start_control_plane()
        try:
            for limit in args.limits:
                with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
                    result = run_once(plane, sdists, index=index, limit=limit, work=Path(tmp))
                print(json.dumps(result), flush=True)
        finally:
            stop_control_plane(plane)


if __name__ == "__main__":
    main()
