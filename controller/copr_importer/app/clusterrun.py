"""The controller in Kubernetes: imports run as Jobs, the git-writer is a sidecar.

This process only decides and reports; it starts no writer of its own.  Its
operations server starts first, so the probes get answers while the first list
of Jobs runs; ``/readyz`` turns ready after the first poll of the frontend with
the Job watch synced.
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
        executor.open()
        controller = Controller(
            settings=settings,
            source=source,
            executor=executor,
            spool=spool,
            outbox=Outbox(settings.data_dir / "outbox"),
            limits=executor.limits,
            observer=telemetry,
        )
        log.info("controller running in namespace %s", settings.kubernetes.namespace)
        try:
            with stop_on_signals() as should_stop:
                controller.run(should_stop=should_stop)
        finally:
            executor.close()
    finally:
        telemetry.stopped()
        if server is not None:
            server.close()
