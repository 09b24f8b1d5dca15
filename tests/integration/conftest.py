"""Fixtures of the integration tests that start services as subprocesses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gate import GatedFiles
from tests.support.service import Services


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    """``services.start("run", ...)``; everything started is killed when the test ends."""
    started = Services(tmp_path)
    try:
        yield started
    finally:
        started.kill_all()


@pytest.fixture
def gate() -> Iterator[GatedFiles]:
    """An HTTP server on 127.0.0.1 whose chosen downloads wait until the test releases them."""
    with GatedFiles() as files:
        yield files
