"""Streaming an SRPM to disk, with copr's retry rules and our limits.

Up to ``max_attempts`` attempts on network errors, HTTP 5xx and 408, sleeping
``k * backoff`` seconds before attempt ``k+1`` (copr: 5, 10, 15, 20 s); any
other 4xx fails at once.  The body goes to disk in chunks, never to memory.
``max_bytes`` and ``total_timeout`` bound what a hostile or stalled server can
cost.  ``file://`` URLs and plain paths are copied (the local source uses them).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests

from ..errors import BadInputError, PermanentError, TransientError
from ..settings import DownloadSettings

__all__ = ["download"]

_CHUNK = 256 * 1024
log = logging.getLogger(__name__)


class _Retry(Exception):
    """One attempt failed in a way copr retries."""


def _failed(message: str) -> PermanentError:
    return PermanentError(message, code="srpm_download_failed")


def download(
    url: str,
    *,
    dest: Path,
    settings: DownloadSettings,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Fetch ``url`` into ``dest`` (a file path); return ``dest``."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return _copy_local(Path(unquote(parsed.path)), dest=dest, settings=settings)
    if parsed.scheme not in ("http", "https"):
        raise BadInputError(f"unsupported SRPM URL scheme: {url!r}", code="srpm_download_failed")
    http = session or requests.Session()
    deadline = time.monotonic() + settings.total_timeout
    for attempt in range(1, settings.max_attempts + 1):
        try:
            _attempt(http, url, dest=dest, settings=settings, deadline=deadline)
            return dest
        except _Retry as exc:
            if attempt == settings.max_attempts:
                raise _failed(f"download of {url} failed after {attempt} attempts: {exc}") from None
            delay = attempt * settings.backoff
            log.warning("download attempt %d of %s failed (%s); retrying in %.0f s", attempt, url, exc, delay)
            sleep(delay)
    raise AssertionError("unreachable")


def _attempt(http: requests.Session, url: str, *, dest: Path, settings: DownloadSettings, deadline: float) -> None:
    try:
        with http.get(url, stream=True, timeout=settings.request_timeout) as response:
            status = response.status_code
            if status >= 500 or status == 408:
                raise _Retry(f"HTTP {status}")
            if status >= 400:
                raise _failed(f"download of {url} failed: HTTP {status} {response.reason}")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > settings.max_bytes:
                raise _too_large(settings)
            _stream(response, dest=dest, settings=settings, deadline=deadline)
    except requests.RequestException as exc:
        raise _Retry(f"{type(exc).__name__}: {exc}") from None


def _too_large(settings: DownloadSettings) -> BadInputError:
    return BadInputError(f"SRPM is larger than the limit of {settings.max_bytes} bytes", code="srpm_too_large")


def _stream(response: requests.Response, *, dest: Path, settings: DownloadSettings, deadline: float) -> None:
    size = 0
    with open(dest, "wb") as out:
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > settings.max_bytes:
                raise _too_large(settings)
            if time.monotonic() > deadline:
                raise _failed(f"download exceeded the time limit of {settings.total_timeout:.0f} s")
            out.write(chunk)


def _copy_local(source: Path, *, dest: Path, settings: DownloadSettings) -> Path:
    try:
        if source.stat().st_size > settings.max_bytes:
            raise _too_large(settings)
        shutil.copyfile(source, dest)
    except FileNotFoundError:
        raise _failed(f"SRPM not found: {source}") from None
    except OSError as exc:
        raise TransientError(f"cannot read {source}: {exc}") from exc
    return dest
