"""``copr-importer set-limit`` before it reaches a cluster (the patch itself: tests/cluster/test_operator_cli.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.pipeline import cli


def set_limit(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # No credentials anywhere: no kubeconfig, an empty HOME, not in a pod.
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    env["HOME"] = str(tmp_path)
    return subprocess.run(cli("set-limit", *args), capture_output=True, text=True, env=env, timeout=60)


def test_an_invalid_n_is_refused_before_any_cluster_is_asked(tmp_path: Path) -> None:
    for bad, reason in [("lots", "not a non-negative integer"), ("10001", "above the maximum of 10000")]:
        done = set_limit(tmp_path, "--", bad)
        assert done.returncode == 2
        assert reason in done.stderr and "nothing changed" in done.stderr
        assert "credentials" not in done.stderr  # refused before connecting


def test_missing_credentials_are_a_clear_error(tmp_path: Path) -> None:
    done = set_limit(tmp_path, "3")
    assert done.returncode == 2
    assert "no usable Kubernetes credentials" in done.stderr and "Traceback" not in done.stderr
    done = set_limit(tmp_path, "3", "--kubeconfig", str(tmp_path / "absent"))
    assert done.returncode == 2 and str(tmp_path / "absent") in done.stderr
