"""Benchmark: the Kubernetes executor on a real control plane, with synthetic pods.

kwok plays the kubelet: every import pod runs for ``d`` seconds and succeeds, so
the figures measure the controller and the control plane, not the import step.
The controller runs in this process against a Copr frontend stub on 127.0.0.1.

* slot utilization: imports finished per second divided by N/d;
* pickup latency: from a task appearing in the frontend's queue to its Job's create call;
* Kubernetes API requests per import;
* controller RSS with 10 000 pending tasks (a separate ``copr-importer run
  --kubernetes`` process, N = 0 so that nothing starts).

    .venv/bin/python -m bench.cluster --duration 5 --limits 10 50 --rounds 4
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client, watch
from tests.support.controlplane import REPO, ControlPlane, namespace_manifest, start_control_plane, stop_control_plane
from tests.support.frontend_stub import FrontendStub

from copr_importer.adapters.jobtemplate import default_template
from copr_importer.adapters.kube import Kube
from copr_importer.adapters.outbox import Outbox
from copr_importer.adapters.spool import Spool
from copr_importer.app.controller import Controller
from copr_importer.app.kubeexec import KubernetesExecutor
from copr_importer.app.localexec import Outcome
from copr_importer.core.jobspec import BUILD_ID_LABEL, MANAGED_SELECTOR
from copr_importer.settings import Settings, from_mapping


def record(build_id: int) -> dict[str, Any]:
    return {
        "build_id": build_id,
        "owner": f"u{build_id % 97}",
        "project": "mass",
        "branches": ["f43"],
        "pkg_name": f"pkg{build_id}",
        "srpm_url": "http://127.0.0.1:9/x.src.rpm",
        "sandbox": f"u{build_id % 97}/mass--x",
        "background": False,
    }


def setup_namespace(plane: ControlPlane, *, limit: int, duration: float, tmp: Path) -> str:
    name = f"bench-{uuid.uuid4().hex[:6]}"
    plane.kubectl("apply", "-f", "-", stdin=namespace_manifest(name, data=str(tmp / name)))
    # The shipped template, with kwok's run-time annotation on the pods.
    template = default_template().replace(
        "    metadata:\n      labels: *labels\n",
        f'    metadata:\n      labels: *labels\n      annotations:\n        test.local/run-for: "{duration}s"\n',
    )
    manifest = plane.kubectl(
        "create",
        "configmap",
        "copr-importer-settings",
        "-n",
        name,
        f"--from-literal=parallelism={limit}",
        f"--from-literal=job-template={template}",
        "--dry-run=client",
        "-o",
        "yaml",
    )
    plane.kubectl("apply", "-f", "-", stdin=manifest)
    deadline = time.monotonic() + 60
    while plane.kubectl("get", "pvc", "-n", name, "copr-importer-data", "-o", "jsonpath={.status.phase}") != "Bound":
        if time.monotonic() > deadline:
            raise RuntimeError("PVC never bound")
        time.sleep(0.5)
    return name


def settings_for(tmp: Path, namespace: str, frontend: FrontendStub) -> Settings:
    return from_mapping(
        {
            "data_dir": str(tmp / f"{namespace}-ctl"),
            "frontend": {"base_url": frontend.url, "password": frontend.password},  # the default poll
            "kubernetes": {"namespace": namespace},
            "executor": {"per_owner": None, "per_sandbox": None},
        }
    )


class Instrumented(KubernetesExecutor):
    """Records when each Job was created and when its outcome was seen."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dispatched: dict[int, float] = {}
        self.created: dict[int, float] = {}
        self.finished: dict[int, float] = {}

    def start(self, task: Any) -> None:
        self.dispatched[task.build_id] = time.monotonic()
        super().start(task)
        self.created[task.build_id] = time.monotonic()

    def poll(self) -> list[Outcome]:
        outcomes = super().poll()
        for outcome in outcomes:
            self.finished.setdefault(outcome.task.build_id, time.monotonic())
        return outcomes


class PhaseWatch:
    """Watches the namespace's pods and Jobs and records when each import reached each phase.

    Timestamps are this process's monotonic clock at the watch event, so they are
    comparable with :class:`Instrumented`'s (the API's own timestamps have one-second
    resolution, too coarse for a cycle of a few seconds).
    """

    def __init__(self, plane: ControlPlane, namespace: str) -> None:
        self.plane, self.namespace = plane, namespace
        self.seen: dict[str, dict[int, float]] = {"pod_created": {}, "pod_running": {}, "pod_done": {}, "job_done": {}}
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._pods, daemon=True),
            threading.Thread(target=self._jobs, daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _mark(self, phase: str, labels: dict[str, str] | None) -> None:
        build_id = int((labels or {}).get(BUILD_ID_LABEL, "0"))
        self.seen[phase].setdefault(build_id, time.monotonic())

    def _pods(self) -> None:
        api = client.CoreV1Api(self.plane.api())
        for pod in self._stream(api.list_namespaced_pod):
            self._mark("pod_created", pod.metadata.labels)
            if pod.status.phase == "Running":
                self._mark("pod_running", pod.metadata.labels)
            if pod.status.phase in ("Succeeded", "Failed"):
                self._mark("pod_done", pod.metadata.labels)

    def _jobs(self) -> None:
        api = client.BatchV1Api(self.plane.api())
        for job in self._stream(api.list_namespaced_job):
            conditions = job.status.conditions or []
            if any(c.type in ("Complete", "Failed") and c.status == "True" for c in conditions):
                self._mark("job_done", job.metadata.labels)

    def _stream(self, lister: Any) -> Any:
        try:
            for event in watch.Watch().stream(
                lister, self.namespace, label_selector=MANAGED_SELECTOR, timeout_seconds=3600
            ):
                if self._stop.is_set():
                    return
                yield event["object"]
        except Exception:  # the namespace goes away at the end of a run
            return

    def medians(self, executor: Instrumented) -> dict[str, float]:
        """Median time of each step of the cycle, each over the imports seen at both of its ends."""
        seen = self.seen
        steps = [
            ("create_call", executor.created, "pod_created", seen["pod_created"]),
            ("pod_created", seen["pod_created"], "pod_running", seen["pod_running"]),
            ("pod_running", seen["pod_running"], "pod_done", seen["pod_done"]),
            ("pod_done", seen["pod_done"], "outcome", executor.finished),
            # For comparison: when the job controller marks the Job finished (if seen before our delete).
            ("pod_done", seen["pod_done"], "job_done", seen["job_done"]),
        ]
        medians: dict[str, float] = {}
        for before, t0, after, t1 in steps:
            ids = t0.keys() & t1.keys()
            if ids:
                medians[f"{before}->{after}"] = round(statistics.median(t1[i] - t0[i] for i in ids), 3)
        # A slot is idle from an outcome until the next create that refills it.
        creates = sorted(executor.created.values())
        gaps = [min((c for c in creates if c >= t), default=t) - t for t in sorted(executor.finished.values())]
        refills = [g for g in gaps if g > 0]
        if refills:
            medians["outcome->next_create"] = round(statistics.median(refills), 3)
        return medians


def run_controller(settings: Settings, executor: Instrumented, frontend: FrontendStub, *, until: Any) -> None:
    controller = Controller(
        settings=settings,
        source=_source(settings),
        executor=executor,
        spool=Spool(settings.spool_root),
        outbox=Outbox(settings.data_dir / "outbox"),
        limits=executor.limits,
    )
    while not until():
        controller.tick()
        executor.wait(0.02)


def _source(settings: Settings) -> Any:
    from copr_importer.adapters.frontend import CoprFrontend

    return CoprFrontend(settings.frontend)


def utilization(plane: ControlPlane, tmp: Path, *, limit: int, duration: float, rounds: int) -> dict[str, Any]:
    namespace = setup_namespace(plane, limit=limit, duration=duration, tmp=tmp)
    frontend = FrontendStub(password="pw")
    frontend.start()
    try:
        count = limit * rounds
        frontend.queue.extend(record(i) for i in range(1, count + 1))
        settings = settings_for(tmp, namespace, frontend)
        kube = Kube(namespace=namespace, api_client=plane.api())
        executor = Instrumented(settings=settings, kube=kube)
        phases = PhaseWatch(plane, namespace)
        phases.start()
        executor.open()
        run_controller(settings, executor, frontend, until=lambda: len(executor.finished) >= count)
        executor.close()
        phases.stop()
        start, end = min(executor.created.values()), max(executor.finished.values())
        throughput = count / (end - start)
        return {
            "N": limit,
            "d_s": duration,
            "imports": count,
            "wall_s": round(end - start, 1),
            "imports_per_s": round(throughput, 2),
            "slot_utilization": round(throughput / (limit / duration), 3),
            "api_requests_per_import": round(kube.requests / count, 2),
            "phase_medians_s": phases.medians(executor),
        }
    finally:
        frontend.stop()
        plane.kubectl("delete", "namespace", namespace, "--wait=false")


def pickup(plane: ControlPlane, tmp: Path, *, samples: int) -> dict[str, Any]:
    namespace = setup_namespace(plane, limit=samples + 5, duration=1.0, tmp=tmp)
    frontend = FrontendStub(password="pw")
    frontend.start()
    try:
        settings = settings_for(tmp, namespace, frontend)
        executor = Instrumented(settings=settings, kube=Kube(namespace=namespace, api_client=plane.api()))
        executor.open()
        appeared: dict[int, float] = {}
        stop = threading.Event()

        def feed() -> None:
            for build_id in range(1, samples + 1):
                time.sleep(0.37)  # not a multiple of the poll interval
                with frontend.lock:
                    frontend.queue.append(record(build_id))
                appeared[build_id] = time.monotonic()
            stop.set()

        feeder = threading.Thread(target=feed)
        feeder.start()
        run_controller(settings, executor, frontend, until=lambda: stop.is_set() and len(executor.created) >= samples)
        feeder.join()
        executor.close()
        latencies = sorted(executor.created[b] - appeared[b] for b in appeared)
        to_dispatch = sorted(executor.dispatched[b] - appeared[b] for b in appeared)
        create_calls = sorted(executor.created[b] - executor.dispatched[b] for b in appeared)
        return {
            "samples": samples,
            "poll_interval_s": settings.frontend.poll_interval,
            "pickup_p50_s": round(statistics.median(latencies), 3),
            "pickup_p99_s": round(_p99(latencies), 3),
            "pickup_max_s": round(latencies[-1], 3),
            "visible_to_dispatch_p50_s": round(statistics.median(to_dispatch), 3),
            "visible_to_dispatch_p99_s": round(_p99(to_dispatch), 3),
            "create_call_p50_s": round(statistics.median(create_calls), 3),
            "create_call_p99_s": round(_p99(create_calls), 3),
        }
    finally:
        frontend.stop()
        plane.kubectl("delete", "namespace", namespace, "--wait=false")


def _p99(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]


def memory(plane: ControlPlane, tmp: Path, *, pending: int) -> dict[str, Any]:
    namespace = setup_namespace(plane, limit=0, duration=1.0, tmp=tmp)
    frontend = FrontendStub(password="pw")
    frontend.start()
    try:
        frontend.queue.extend(record(i) for i in range(1, pending + 1))
        config = tmp / f"{namespace}.toml"
        config.write_text(
            f'data_dir = "{tmp / namespace}-ctl"\n[frontend]\nbase_url = "{frontend.url}"\n'
            f'password = "pw"\n[kubernetes]\nnamespace = "{namespace}"\n'
        )
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "copr_importer",
                "run",
                "--kubernetes",
                "--kubeconfig",
                plane.kubeconfig,
                "--config",
                str(config),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={"PYTHONPATH": str(REPO / "controller"), "PATH": "/usr/bin:/bin"},
        )
        polls_before = sum(1 for m, p in frontend.requests if p == "/backend/importing/")
        while sum(1 for m, p in frontend.requests if p == "/backend/importing/") < polls_before + 10:
            time.sleep(0.2)
        status = Path(f"/proc/{process.pid}/status").read_text()
        process.terminate()
        process.wait(30)
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        kib = {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}
        return {
            "pending": pending,
            "rss_mb": round(kib["VmRSS"] / 1024, 1),
            "peak_rss_mb": round(kib["VmHWM"] / 1024, 1),
        }
    finally:
        frontend.stop()
        plane.kubectl("delete", "namespace", namespace, "--wait=false")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=5.0, help="d: seconds each synthetic pod runs")
    parser.add_argument("--limits", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--rounds", type=int, default=4, help="imports per run = N * rounds")
    parser.add_argument("--pickup-samples", type=int, default=100)
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--only", choices=["utilization", "pickup", "memory"], action="append", help="run only these")
    parser.add_argument(
        "--kcm-qps",
        type=int,
        help="kube-controller-manager's client QPS (burst twice that); its default of 20 caps the job controller",
    )
    args = parser.parse_args()
    if args.kcm_qps:
        os.environ["KCM_EXTRA_ARGS"] = f"--kube-api-qps={args.kcm_qps} --kube-api-burst={2 * args.kcm_qps}"
    only = set(args.only or ["utilization", "pickup", "memory"])
    logging.basicConfig(level=logging.WARNING)
    plane = start_control_plane()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for limit in args.limits if "utilization" in only else []:
                print(
                    json.dumps(utilization(plane, Path(tmp), limit=limit, duration=args.duration, rounds=args.rounds)),
                    flush=True,
                )
            if "pickup" in only:
                print(json.dumps(pickup(plane, Path(tmp), samples=args.pickup_samples)), flush=True)
            if "memory" in only:
                print(json.dumps(memory(plane, Path(tmp), pending=args.pending)), flush=True)
    finally:
        stop_control_plane(plane)


if __name__ == "__main__":
    main()
