"""The controller in Kubernetes: imports run as Jobs, the git-writer is a sidecar.

This process only decides and reports; it starts no writer of its own.  Its
operations server starts first, so the probes get answers while the first list
of Jobs runs; ``/readyz`` turns ready after the first poll of the frontend with
the Job watch synced.

It fails safe: an apiserver that cannot be reached, or a ConfigMap it may not read,
at start-up or later, leaves the controller running and not ready, with the reason,
and starting no Job until the Jobs are listed and N is read (``app/kubeexec.py``).
Only missing credentials (no kubeconfig, not in a pod) end it, with exit status 2.
"""

from __future__ import annotations

import logging

from ..adapters.kube import Kube
from ..adapters.opsserver import serve
from ..adapters.outbox import Outbox
from ..adapters.spool import Spool
from ..settings import Settings
from .controller import Controller, TaskSource
from .kubeexec import KubernetesExecutor
from .stopping import stop_on_signals
from .telemetry import ControllerTelemetry

__all__ = ["run_kubernetes"]

log = logging.getLogger(__name__)


def run_kubernetes(
    settings: Settings,
    *,
    source: TaskSource,
    kubeconfig: str | None,
    listen: str | None = None,
    listen_required: bool = True,
) -> None:
    spool = Spool(settings.spool_root)
    telemetry = ControllerTelemetry(settings=settings.telemetry, mode="kubernetes", spool=spool, forwards_writer=False)
    server = serve(listen, endpoints=telemetry, required=listen_required)
    try:
        kube = Kube.connect(namespace=settings.kubernetes.namespace, kubeconfig=kubeconfig)
        executor = KubernetesExecutor(settings=settings, kube=kube, observer=telemetry)
        controller = Controller(
            settings=settings,
            source=source,
            executor=executor,
            spool=spool,
            outbox=Outbox(settings.data_dir / "outbox"),
            limits=executor.limits,
            observer=telemetry,
            mode="kubernetes",
        )
        log.info("controller running in namespace %s", settings.kubernetes.namespace)
        with stop_on_signals() as should_stop:
            executor.open(block=False)
            try:
                controller.run(should_stop=should_stop)
            finally:
                controller.close()
                executor.close()
    finally:
        telemetry.stopped()
        if server is not None:
            server.close()
