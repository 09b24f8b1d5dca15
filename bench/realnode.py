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

    .venv/bin/python -m bench.realnode --imports 40 --limit 10
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.frontend_stub import FrontendStub
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


def run(node: RealNode, tmp: Path, *, imports: int, limit: int) -> dict[str, Any]:
    srpms = [
        build_srpm(
            workdir=tmp / "rpmbuild",
            name=f"pkg{i}",
            sources={f"pkg{i}.tar.gz": binary_tarball(name="p", version=str(i))},
        )
        for i in range(1, imports + 1)
    ]
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
            for i, srpm in enumerate(srpms, start=1):
                owner = f"u{i % 20}"  # copr's per-owner and per-sandbox caps stay above N
                frontend.task(i, srpm=srpm, pkg=f"pkg{i}", branches=["f43"], owner=owner, sandbox=f"{owner}/demo--x")
            wait_until(lambda: len(frontend.reports) >= imports, timeout=1800, what="every report", interval=0.5)
            elapsed = time.monotonic() - started
            after = burstable_cpu()
            other = sum(after[uid] - before[uid] for uid in before if uid and uid in after)
            import_pods = [p for p, seen in pods.specs.items() if seen["component"] == "import"]
            cpu = (after[""] - before[""] - other) / len(import_pods)
            running = [
                pods.seen[p]["Running"] - pods.seen[p]["Pending"] for p in import_pods if "Running" in pods.seen[p]
            ]
            done = [
                pods.seen[p]["Succeeded"] - pods.seen[p]["Pending"] for p in import_pods if "Succeeded" in pods.seen[p]
            ]
            samples = list(pods.live_at)
    finally:
        frontend.stop()
    failed = [r for r in frontend.reports if "error" in r]
    return {
        "node": "real (kubelet, containerd 1.6, runc)",
        "imports": imports,
        "limit": limit,
        "failed": len(failed),
        "import_pods": len(import_pods),
        "node_start_s": round(node.start_seconds, 2),
        "create_to_running_s": {"median": round(statistics.median(running), 2), "max": round(max(running), 2)},
        "create_to_succeeded_s": {"median": round(statistics.median(done), 2), "max": round(max(done), 2)},
        "slot_utilization": round(utilization(samples, limit=limit), 3),
        "imports_per_minute": round(60 * imports / elapsed, 1),
        "cpu_s_per_import_pod": round(cpu, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--imports", type=int, default=40)
    parser.add_argument("--limit", type=int, default=10, help="N")
    args = parser.parse_args()
    nodes = running_real_node()
    node = next(nodes)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-realnode-") as tmp:
            print(json.dumps(run(node, Path(tmp), imports=args.imports, limit=args.limit)), flush=True)
    finally:
        nodes.close()


if __name__ == "__main__":
    main()
