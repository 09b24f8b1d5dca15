"""Chaos in the Kubernetes shape, on the test control plane: ``manifests/`` deployed, the
controller and its git-writer sidecar running under the test node runtime (which restarts
a killed container as a kubelet does), imports as Jobs whose pods run the real import step,
while a seeded killer strikes at random moments, each kind at least ``MIN_PER_KIND`` times:

* ``controller``: SIGKILL of the controller container's process;
* ``git-writer``: SIGKILL of the git-writer sidecar's process;
* ``import process``: SIGKILL of an import step's process (its pod fails with 137, the
  Job's own retry imports the build again, also after its hand-over);
* ``import pod``: deletion of a running import pod, forced (as for a lost node) or not;
* ``node restart``: every process of the node killed at once, as a reboot or a crash of
  the container runtime does; the runtime brings back what a kubelet would.

Assertions (see ``tests/support/chaos.py``): every build reported, each exactly once or
byte-identical repeats; every branch's history only moves forward in build order;
``git fsck --strict`` clean; after a clean stop (the Deployment scaled to 0): no Job
left, the spool drained, the outbox empty, no temporaries, and no process of any pod
left.  The figures are printed, and docs/exactly-once.md records a run's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from copr_importer.adapters.spool import Spool
from copr_importer.app.leftovers import sweep
from copr_importer.settings import Settings
from tests.cluster.test_end_to_end_cluster import importer, running_node
from tests.support.chaos import Feeder, Killer, build_plan, check_histories, check_reports, leftovers
from tests.support.controlplane import ControlPlane
from tests.support.frontend_stub import FrontendStub
from tests.support.noderuntime import NodeRuntime
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.cluster]

SEED = int(os.environ.get("CHAOS_SEED", "20261130"))
# 100 imports, half the embedded test's 200: each import here is a pod whose import
# step starts a Python interpreter, and the run's cost is mostly those starts (see
# docs/exactly-once.md for the time it takes).
PACKAGES = 5
BUILDS_PER_PACKAGE = 20
MIN_KILLS, MIN_PER_KIND = 30, 6
# Builds arrive at about the pace the node imports them (2 every 4 s), so that imports run
# all through the release, and the strikes (only while imports run) land in it.
RELEASE, RELEASE_EVERY = 2, 4.0
PARALLELISM = 4
# A kill is a transient failure of its import: enough attempts that a build hit again and
# again still ends imported, short retry delays.  A failed or deleted pod counts against
# the Job's backoffLimit: once it is used up the Job fails, and the controller starts
# another one (a new attempt).
SETTINGS = "[executor]\nmax_attempts = 50\nretry_delay = 0.5\n"


def _pod_deleter(plane: ControlPlane, runtime: NodeRuntime, *, seed: int) -> Callable[[int], None]:
    """Deletes the pod whose import container's process is ``pid``: forced (grace period 0,
    as for a lost node) or not, alternately from ``seed``; either way the node runtime
    gives the step SIGTERM first, as a kubelet does."""
    forced = seed % 2 == 0

    def delete(pid: int) -> None:
        nonlocal forced
        where = runtime.pod_of(pid)
        if where is None:
            raise ProcessLookupError(pid)
        namespace, name = where
        force = ["--grace-period=0", "--force"] if forced else []
        forced = not forced
        plane.kubectl("delete", "pod", "-n", namespace, name, "--wait=false", "--ignore-not-found", *force)

    return delete


def _until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    runtime: NodeRuntime,
    killer: Killer,
    state: Callable[[], str] = lambda: "",
) -> None:
    """:func:`wait_until`, explaining a timeout with ``state()``, the kills, the runtime's
    errors and the controller's and the writer's logs (all their runs: the runtime appends)."""

    def diagnostics() -> str:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-4000:]}"
            for name in ("controller.log", "git-writer.log")
            for p in sorted(runtime.work.rglob(name))
        )
        last = "; ".join(killer.log[-10:])
        return (
            f"{state()}; kills {dict(killer.kills)} ({last}), restarts {dict(runtime.restarts)}, "
            f"errors {runtime.errors}\n{logs}"
        )

    wait_until(predicate, timeout=timeout, what=what, interval=0.5, diagnostics=diagnostics)


def _unswept(data: Path) -> list[str]:
    """The leftovers (see :func:`leftovers`) but the staging directories of import steps:
    in Kubernetes the writer sweeps those only after the longest life of an import step
    plus an hour (a live pod may still be writing one, see ``app/leftovers.py``)."""
    return [p for p in leftovers(data, lookaside=data / "lookaside") if not p.startswith("spool/incoming/")]


def _finders(runtime: NodeRuntime) -> dict[str, Callable[[], list[int]]]:
    def imports() -> list[int]:
        return runtime.container_pids("import")

    def node() -> list[int]:
        # Any of the node's processes stands for the node: the strike kills them all.
        return runtime.container_pids("controller") + imports()

    return {
        "controller": lambda: runtime.container_pids("controller"),
        "git-writer": lambda: runtime.container_pids("git-writer"),
        "import process": imports,
        "import pod": imports,
        "node restart": node,
    }


def _crash_node(runtime: NodeRuntime) -> Callable[[int], None]:
    def crash(_: int) -> None:
        if not runtime.crash():
            raise ProcessLookupError("no process on the node")

    return crash


def test_kill_the_controller_the_writer_import_pods_and_the_node_loses_and_doubles_nothing(
    control_plane: ControlPlane, frontend: FrontendStub, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    plan = build_plan(workdir=tmp_path / "srpms", seed=SEED, packages=PACKAGES, builds_per_package=BUILDS_PER_PACKAGE)
    feeder = Feeder(stub=frontend, plan=plan, per_wave=RELEASE, every=RELEASE_EVERY)
    data = tmp_path / "data"
    with running_node(control_plane, tmp_path / "node") as runtime:
        killer = Killer(
            seed=SEED,
            find=_finders(runtime),
            strike={
                "import pod": _pod_deleter(control_plane, runtime, seed=SEED),
                "node restart": _crash_node(runtime),
            },
            quota=MIN_PER_KIND,
            min_gap=1.5,
            max_gap=6.0,
        )

        def enough_kills() -> bool:
            return killer.quotas_met and sum(killer.kills.values()) >= MIN_KILLS

        def reported_all() -> bool:
            with frontend.lock:
                reported = {int(r["build_id"]) for r in frontend.reports}
            # The last wave waits for the kills, so that every kind is struck while imports
            # run; when everything released is reported no strike could come: it goes, and
            # the final assertion tells if the kills fell short.
            idle = reported >= {b.build_id for b in feeder.released}
            feeder.feed(last_wave=enough_kills() or idle)
            # Strikes only while imports run: a controller struck again and again before it
            # has started a Job would make no progress for the kills to land in.
            if not enough_kills() and runtime.container_pids("import"):
                killer.maybe_kill()
            return reported >= {b.build_id for b in plan}

        with importer(control_plane, frontend, data, parallelism=PARALLELISM, extra=SETTINGS) as namespace:

            def jobs() -> list[str]:
                return control_plane.kubectl("get", "jobs", "-n", namespace, "-o", "name").split()

            _until(
                reported_all, timeout=1200, what="every build reported, with the kills", runtime=runtime, killer=killer
            )
            # Retried Jobs of builds already reported hand over again and are answered from
            # the writer's record; let them end, then stop as an operator would.
            _until(
                lambda: not jobs() and not _unswept(data),
                timeout=300,
                what="no Job left and a drained spool",
                runtime=runtime,
                killer=killer,
                state=lambda: f"Jobs {jobs()}, left in the data directory {_unswept(data)}",
            )
            stopping = len(runtime.ended)
            control_plane.kubectl("scale", "deployment", "copr-importer-controller", "-n", namespace, "--replicas=0")

            def stops() -> dict[str, int]:
                return {container: code for _, container, code in runtime.ended[stopping:]}

            _until(
                lambda: {"controller", "git-writer"} <= set(stops()),
                timeout=120,
                what="the controller's pod to stop",
                runtime=runtime,
                killer=killer,
            )
            assert stops() == {"controller": 0, "git-writer": 0}, f"a clean stop ended with {stops()}"
            assert _unswept(data) == []
            assert jobs() == []
            # What the writer's sweep leaves until the cut-off: staging directories of import
            # steps struck while they wrote their hand-over.  Nothing runs now: the sweep with
            # the cut-off at this moment must take every one of them, and nothing else is left.
            staged = leftovers(data, lookaside=data / "lookaside")
            settings = make_settings()  # data_dir: tmp_path / "data", the volume's directory
            assert settings.data_dir == data
            sweep(settings, spool=Spool(data / "spool"), before=time.time())
            assert leftovers(data, lookaside=data / "lookaside") == []
            _until(
                lambda: not runtime.processes(),
                timeout=60,
                what="no process of any pod left",
                runtime=runtime,
                killer=killer,
            )
            pods_started = len({pod for pod, container, _ in runtime.ended if container == "import"})
            restarts = dict(runtime.restarts)
    # Nothing the runtime ever started (what carries the test's mark, also children that left
    # their container's process group) outlives it.
    assert runtime.processes() == []

    reports = check_reports(plan, frontend.reports)
    commits = check_histories(plan, reports=reports, git_root=data / "git")
    assert enough_kills(), dict(killer.kills)
    repeats = len(frontend.reports) - len(plan)
    print(
        f"\nkubernetes chaos seed {SEED}: {len(plan)} builds, kills {dict(sorted(killer.kills.items()))}, "
        f"restarts {dict(sorted(restarts.items()))}, {pods_started} import pods, "
        f"{len(frontend.reports)} reports ({repeats} byte-identical repeats), duplicates=0, "
        f"{commits} commits checked, {len(staged)} staging directories left for the timed sweep, lost=0"
    )
