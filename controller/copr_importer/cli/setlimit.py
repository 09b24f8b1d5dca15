"""``copr-importer set-limit N``: change N, the live cap on running imports, in the controller's ConfigMap.

N is checked with the controller's own validation
(:func:`~copr_importer.core.livelimit.limit_problem`) before anything is sent, so a
value the controller would ignore is refused here instead. Only the parallelism key
is patched (the ConfigMap's other keys are left alone); the running controller
applies it at its next refresh. Exit codes: 0 patched, 2 an invalid N, a missing
ConfigMap or an API error.
"""

from __future__ import annotations

import argparse
import sys

from ..adapters.kube import Kube
from ..core.livelimit import limit_problem
from ..errors import ConfigError
from .common import add_common, settings_from

__all__ = ["register"]

EXIT_INVALID = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    limit = sub.add_parser("set-limit", help="set N (the cap on running import Jobs) in the controller's ConfigMap")
    add_common(limit)
    limit.add_argument("value", metavar="N", help="the new cap; 0 holds new work")
    limit.add_argument("--namespace", help="the controller's namespace (default: kubernetes.namespace)")
    limit.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster credentials, then ~/.kube/config)")
    limit.set_defaults(func=_cmd_set_limit)


def _cmd_set_limit(args: argparse.Namespace) -> int:
    problem = limit_problem(args.value)
    if problem:
        print(f"copr-importer: {problem}; nothing changed", file=sys.stderr)
        return EXIT_INVALID
    new = args.value.strip()
    settings = settings_from(args)
    name, key = settings.kubernetes.limit_config_map, settings.kubernetes.limit_key
    kube = Kube.connect(namespace=args.namespace or settings.kubernetes.namespace, kubeconfig=args.kubeconfig)
    data = kube.config_map(name)
    if data is None:
        raise ConfigError(f"no ConfigMap {kube.namespace}/{name}: is the controller deployed in this namespace?")
    old = data.get(key)
    stored = kube.patch_config_map(name, data={key: new})[key]
    print(f"{kube.namespace}/{name} {key}: {old if old is not None else '(unset)'} -> {stored}")
    return 0
