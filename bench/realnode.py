"""Benchmark: real import pods on a real node (tests/support/realnode.py).

overlays/single-node runs on the kubelet with containerd and runc; the frontend stub
queues ``--imports`` small SRPMs (one binary source each, owners spread so that
only N limits), and the controller imports them at N = ``--limit``.  Measured:

* node start without pulls: scripts/real-node start (network, containerd, importing
  the image archives, kubelet until the node is Ready);
* per import pod: created -> Running and created -> Succeeded, as a watch sees them;
* slot utilization: the time-average of live import pods over N, from the first
  import pod to the last one's end;
* CPU seconds per import pod: the growth of the Burstable pods' cgroup (cpuacct)
  minus the controller's and the web pods', divided by the import pods; it
  includes each pod's sandbox (pause) and what runc spends in the pod's cgroup.

With ``--node process`` the same workload runs on the test node runtime of the
cluster tests (tests/support/noderuntime.py: pods as host processes on kwok's plane,
the web side left out as in those tests), for comparison; there the CPU per import
pod is the import processes' own (getrusage of reaped children), and "node start"
is the runtime registering its node.

    .venv/bin/python -m bench.realnode --imports 40 --limit 10
    .venv/bin/python -m bench.realnode --imports 40 --limit 10 --node process
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml
from tests.support.controlplane import start_control_plane, stop_control_plane
from tests.support.frontend_stub import FrontendStub
from tests.support.podwatch import PodWatch
from tests.support.realnode import RealNode, deployed, running_real_node
from tests.support.srpms import binary_tarball, build_srpm
from tests.support.waiting import wait_until


def burstable_cpu() -> dict[str, float]:
    """CPU seconds of the Burstable QoS cgroup and of each of its pods, by pod uid ("" is the total)."""
    (qos,) = Path("/sys/fs/cgroup/cpuacct").glob("copr-importer-node-*/kubepods/burstable")
    usage = {"": int((qos / "cpuacct.usage").read_text()) / 1e9}
    for pod in qos.glob("pod*"):
        usage[pod.name.removeprefix("pod")] = int((pod / "cpuacct.usage").read_text()) / 1e9
    return usage


def utilization(samples: list[tuple[float, int]], *, limit: int) -> float:
    """Time-average of live import pods over N, between the first and the last sample."""
    area = sum(live * (t2 - t1) for (t1, live), (t2, _) in itertools.pairwise(samples))
    return area / (limit * (samples[-1][0] - samples[0][0]))


def _srpms(tmp: Path, count: int) -> list[Path]:
    sources = {i: {f"pkg{i}.tar.gz": binary_tarball(name="p", version=str(i))} for i in range(1, count + 1)}
    return [build_srpm(workdir=tmp / "rpmbuild", name=f"pkg{i}", sources=sources[i]) for i in sources]


def _enqueue(frontend: FrontendStub, srpms: list[Path]) -> None:
    for i, srpm in enumerate(srpms, start=1):
        owner = f"u{i % 20}"  # copr's per-owner and per-sandbox caps stay above N
        frontend.task(i, srpm=srpm, pkg=f"pkg{i}", branches=["f43"], owner=owner, sandbox=f"{owner}/demo--x")


def _figures(pods: PodWatch, frontend: FrontendStub, *, cpu: float, elapsed: float, limit: int) -> dict[str, Any]:
    imports = [p for p, seen in pods.specs.items() if seen["component"] == "import"]
    running = [pods.seen[p]["Running"] - pods.seen[p]["Pending"] for p in imports if "Running" in pods.seen[p]]
    done = [pods.seen[p]["Succeeded"] - pods.seen[p]["Pending"] for p in imports if "Succeeded" in pods.seen[p]]
    return {
        "imports": len(frontend.reports),
        "limit": limit,
        "failed": sum(1 for r in frontend.reports if "error" in r),
        "import_pods": len(imports),
        "create_to_running_s": {"median": round(statistics.median(running), 2), "max": round(max(running), 2)},
        "create_to_succeeded_s": {"median": round(statistics.median(done), 2), "max": round(max(done), 2)},
        "slot_utilization": round(utilization(list(pods.live_at), limit=limit), 3),
        "imports_per_minute": round(60 * len(frontend.reports) / elapsed, 1),
        "cpu_s_per_import_pod": round(cpu / len(imports), 3),
    }


def run(node: RealNode, tmp: Path, *, imports: int, limit: int) -> dict[str, Any]:
    srpms = _srpms(tmp, imports)
    frontend = FrontendStub(password="bench", host=node.gateway)
    frontend.start()
    try:
        with deployed(node, frontend, tmp / "data", parallelism=limit) as (namespace, pods):
            ready = 'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}'
            wait_until(
                lambda: node.kubectl("get", "pods", "-n", namespace, "-o", ready).split() == ["True"] * 3,
                timeout=300,
                what="the controller and web pods to be ready",
                interval=0.5,
            )
            before = burstable_cpu()  # the controller's and the web pods' cgroups only
            started = time.monotonic()
            _enqueue(frontend, srpms)
            wait_until(lambda: len(frontend.reports) >= imports, timeout=1800, what="every report", interval=0.5)
            elapsed = time.monotonic() - started
            after = burstable_cpu()
            steady = sum(after[uid] - before[uid] for uid in before if uid and uid in after)
            cpu = after[""] - before[""] - steady
            figures = _figures(pods, frontend, cpu=cpu, elapsed=elapsed, limit=limit)
    finally:
        frontend.stop()
    return {"node": "real (kubelet, containerd 1.6, runc)", "node_start_s": round(node.start_seconds, 2), **figures}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_process_node(tmp: Path, *, imports: int, limit: int) -> dict[str, Any]:
    """The same workload on the cluster tests' node runtime (pods as host processes)."""
    from tests.cluster.test_end_to_end_cluster import deployment_for, running_node

    srpms = _srpms(tmp, imports)
    plane = start_control_plane()
    frontend = FrontendStub(password="bench")
    frontend.start()
    try:
        started = time.monotonic()
        with running_node(plane, tmp / "node"):
            node_start = time.monotonic() - started
            namespace = f"bench-{uuid.uuid4().hex[:6]}"
            (tmp / "data").mkdir()
            docs = deployment_for(plane, namespace, data=tmp / "data", frontend=frontend, parallelism=limit)
            plane.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
            pods = PodWatch(plane.api(), namespace).start()
            phases = "jsonpath={.items[*].status.phase}"
            wait_until(
                lambda: plane.kubectl("get", "pods", "-n", namespace, "-o", phases) == "Running",
                timeout=300,
                what="the controller pod",
            )
            before = _children_cpu()  # reaped children: the import processes, not the controller's
            started = time.monotonic()
            _enqueue(frontend, srpms)
            wait_until(lambda: len(frontend.reports) >= imports, timeout=1800, what="every report", interval=0.5)
            elapsed = time.monotonic() - started
            figures = _figures(pods, frontend, cpu=_children_cpu() - before, elapsed=elapsed, limit=limit)
            pods.stop()
    finally:
        frontend.stop()
        stop_control_plane(plane)
    return {"node": "process (tests/support/noderuntime.py)", "node_start_s": round(node_start, 2), **figures}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--imports", type=int, default=40)
    parser.add_argument("--limit", type=int, default=10, help="N")
    parser.add_argument("--node", choices=["real", "process"], default="real")
    args = parser.parse_args()
    if args.node == "process":
        with tempfile.TemporaryDirectory(prefix="bench-processnode-") as tmp:
            print(json.dumps(run_process_node(Path(tmp), imports=args.imports, limit=args.limit)), flush=True)
        return
    nodes = running_real_node()
    node = next(nodes)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-realnode-") as tmp:
            print(json.dumps(run(node, Path(tmp), imports=args.imports, limit=args.limit)), flush=True)
    finally:
        nodes.close()


if __name__ == "__main__":
    main()
