"""Shared fixtures: settings rooted in a temporary directory, real SRPMs, a Copr frontend stub.

Tests are grouped by cost: ``tests/unit`` is pure and fast; everything under
``tests/integration`` uses real git, rpmbuild and HTTP servers on 127.0.0.1
and is marked ``integration``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from copr_importer.adapters.download import allow_local_files
from copr_importer.settings import Settings, from_mapping
from tests.support.controlplane import ControlPlane, running_control_plane
from tests.support.frontend_stub import FrontendStub
from tests.support.srpms import build_srpm

# Commands started without --config read $COPR_IMPORTER_CONFIG, else the machine's
# /etc/copr-importer/importer.toml: empty means "no file", so that no test (nor the
# CLI it starts) reads a configuration this machine happens to have.
os.environ["COPR_IMPORTER_CONFIG"] = ""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**sections: Any) -> Settings:
        data: dict[str, Any] = {"data_dir": str(tmp_path / "data")}
        data.update(sections)
        # Tests hand SRPM paths to the import step, as a local run does.
        return allow_local_files(from_mapping(data))

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def srpm_factory(tmp_path: Path) -> Callable[..., Path]:
    if shutil.which("rpmbuild") is None:
        pytest.fail("rpmbuild is missing: install Debian's 'rpm' package (scripts/test does)")
    work = tmp_path / "rpmbuild"

    def make(**kwargs: Any) -> Path:
        return build_srpm(workdir=work, **kwargs)

    return make


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """A real control plane for the session (tests/cluster, tests/chaos), started when first asked for."""
    yield from running_control_plane()


@pytest.fixture
def frontend() -> Iterator[FrontendStub]:
    stub = FrontendStub(password="s3cret")
    stub.start()
    try:
        yield stub
    finally:
        stub.stop()
