"""A real node for the session: the images built from the Dockerfiles, a control plane
without kwok, and the kubelet with Debian's containerd, runc and CNI plugins
(tests/support/realnode.py, scripts/real-node). Pods really run in containers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.realnode import RealNode, running_real_node


@pytest.fixture(scope="session")
def real_node() -> Iterator[RealNode]:
    yield from running_real_node()
