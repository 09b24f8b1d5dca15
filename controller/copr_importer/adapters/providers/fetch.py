"""Fetching index pages, sdists and gems: :func:`~..download.download`'s limits and
retries, with the failure named for a source.

A 404 or 410 means the index does not have it (``source_not_found``); every other
permanent failure, and a file whose digest differs from the published one, is
``source_download_failed``.  Transient failures stay transient.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from ...errors import PermanentError
from ...settings import DownloadSettings
from .. import download as download_mod

__all__ = ["check_digest", "fetch"]

log = logging.getLogger(__name__)


class _Recording(requests.Session):
    """A session that remembers the status of the last response it got."""

    def __init__(self, accept: str | None) -> None:
        super().__init__()
        self.last_status: int | None = None
        if accept:
            self.headers["Accept"] = accept

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        response = super().request(method, url, *args, **kwargs)
        self.last_status = response.status_code
        return response


def fetch(url: str, *, dest: Path, settings: DownloadSettings, what: str, accept: str | None = None) -> Path:
    """Download ``url`` (http or https only) to ``dest``."""
    if urlsplit(url).scheme not in ("http", "https"):
        message = f"{what}: only http and https URLs are fetched, not {url!r}"
        raise PermanentError(message, code="source_download_failed")
    session = _Recording(accept)
    log.info("fetching %s", url)
    try:
        return download_mod.download(url, dest=dest, settings=settings, session=session)
    except PermanentError as exc:
        if session.last_status in (404, 410):
            message = f"{what} not found: {url} (HTTP {session.last_status})"
            raise PermanentError(message, code="source_not_found") from None
        raise PermanentError(f"{what}: {exc.message}", code="source_download_failed") from None
    finally:
        session.close()


def check_digest(path: Path, *, algorithm: str, expected: str, what: str) -> None:
    """Compare ``path``'s digest with the one the index published."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != expected.lower():
        raise PermanentError(
            f"{what}: {algorithm} mismatch: the index publishes {expected}, the file has {digest.hexdigest()}",
            code="source_download_failed",
        )
    log.info("%s: %s matches the index", what, algorithm)
