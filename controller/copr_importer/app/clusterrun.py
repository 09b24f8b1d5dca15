"""The controller in Kubernetes: imports run as Jobs, the git-writer is a sidecar.

This process only decides and reports; it starts no writer of its own.
"""

from __future__ import annotations

import logging

from ..adapters.heartbeat import Heartbeat
from ..adapters.kube import Kube
from ..adapters.outbox import Outbox
from ..adapters.spool import Spool
from ..settings import Settings
from .controller import Controller, TaskSource
from .kubeexec import KubernetesExecutor
from .stopping import stop_on_signals

__all__ = ["run_kubernetes"]

log = logging.getLogger(__name__)


def run_kubernetes(
    settings: Settings, *, source: TaskSource, kubeconfig: str | None, heartbeat: Heartbeat | None
) -> None:
    kube = Kube.connect(namespace=settings.kubernetes.namespace, kubeconfig=kubeconfig)
    executor = KubernetesExecutor(settings=settings, kube=kube)
    executor.open()
    controller = Controller(
        settings=settings,
        source=source,
        executor=executor,
        spool=Spool(settings.spool_root),
        outbox=Outbox(settings.data_dir / "outbox"),
        limits=executor.limits,
    )
    log.info("controller running in namespace %s", settings.kubernetes.namespace)
    try:
        with stop_on_signals() as should_stop:
            controller.run(should_stop=should_stop, heartbeat=heartbeat)
    finally:
        executor.close()
