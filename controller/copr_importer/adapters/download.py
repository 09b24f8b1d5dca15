"""Streaming an SRPM to disk, with copr's retry rules and our limits.

Up to ``max_attempts`` attempts on network errors, HTTP 5xx and 408, sleeping
``k * backoff`` seconds before attempt ``k+1`` (copr: 5, 10, 15, 20 s); any
other 4xx fails at once.  The body goes to disk in chunks, never to memory.

What a frontend's URL may do is bounded:

* only ``http`` and ``https``, and redirects only to those (at most 10; copr's
  SafeRequest follows redirects too).  A redirect may go to another host (mirrors
  and CDNs) but only to the original URL's port or the scheme's default one, so a
  URL cannot be bounced onto a local service's port;
* ``max_bytes`` counts the bytes received, whatever Content-Length says;
* ``total_timeout`` is wall-clock time for the whole download: every socket read
  waits at most until the deadline, so a server that drips a byte every half
  second fails on time instead of holding a worker for hours.

Local files (a path or ``file://``) are read only in a local run: SRPM paths
given on the command line or in a local task file.  The CLI marks such a run
with :func:`allow_local_files`, a setting no settings file can turn on, so a
task record from a frontend can never make the importer read ``/etc/passwd``
or ``/dev/zero``.  Even then only regular files are read, and the size limit
counts the bytes read, not ``st_size``.

Every failure the URL or the server causes is a
:class:`~copr_importer.errors.BadInputError` with code ``srpm_download_failed``
(or ``srpm_too_large``).
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urljoin, urlsplit

import requests
import urllib3

from ..errors import BadInputError
from ..settings import DownloadSettings, Settings

__all__ = ["allow_local_files", "download"]

_CHUNK = 256 * 1024
_MAX_REDIRECTS = 10
_DEFAULT_PORTS = {"http": 80, "https": 443}
log = logging.getLogger(__name__)


class _Retry(Exception):
    """One attempt failed in a way copr retries."""


def _failed(message: str) -> BadInputError:
    return BadInputError(message, code="srpm_download_failed")


def allow_local_files(settings: Settings) -> Settings:
    """``settings`` for a local run, whose SRPM paths the person running it gave."""
    return replace(settings, download=replace(settings.download, local_files=True))


def download(
    url: str,
    *,
    dest: Path,
    settings: DownloadSettings,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Fetch ``url`` into ``dest`` (a file path); return ``dest``."""
    scheme = urlsplit(url).scheme.lower()
    deadline = time.monotonic() + settings.total_timeout
    if scheme in ("", "file") and settings.local_files:
        return _copy_local(Path(unquote(urlsplit(url).path)), dest=dest, settings=settings, deadline=deadline)
    if scheme not in _DEFAULT_PORTS:
        raise _failed(f"unsupported SRPM URL scheme in {url!r:.300}: only http and https URLs are fetched")
    http = session or requests.Session()
    for attempt in range(1, settings.max_attempts + 1):
        try:
            _attempt(http, url=url, dest=dest, settings=settings, deadline=deadline)
            return dest
        except _Retry as exc:
            if attempt == settings.max_attempts or time.monotonic() >= deadline:
                raise _failed(f"download of {url} failed after {attempt} attempts: {exc}") from None
            delay = min(attempt * settings.backoff, max(0.0, deadline - time.monotonic()))
            log.warning("download attempt %d of %s failed (%s); retrying in %.0f s", attempt, url, exc, delay)
            sleep(delay)
    raise AssertionError("unreachable")


def _remaining(deadline: float, *, settings: DownloadSettings) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _failed(f"download exceeded the time limit of {settings.total_timeout:.0f} s")
    return left


def _redirect_target(url: str, *, location: str, origin_port: int) -> str:
    target = urljoin(url, location)
    parts = urlsplit(target)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise _failed(f"download of {url} redirects to {target!r:.300}: only http and https are followed")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        raise _failed(f"download of {url} redirects to a bad URL {target!r:.300}") from None
    if port not in (origin_port, _DEFAULT_PORTS[scheme]):
        raise _failed(f"download of {url} redirects to {target!r:.300}: another port is not followed")
    return target


def _attempt(http: requests.Session, *, url: str, dest: Path, settings: DownloadSettings, deadline: float) -> None:
    origin = urlsplit(url)
    origin_port = origin.port or _DEFAULT_PORTS[origin.scheme.lower()]
    current = url
    for _ in range(_MAX_REDIRECTS + 1):
        timeout = min(settings.request_timeout, _remaining(deadline, settings=settings))
        try:
            response = http.get(
                current, stream=True, allow_redirects=False, timeout=timeout, headers={"Accept-Encoding": "identity"}
            )
        except requests.RequestException as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from None
        with response:
            if response.is_redirect and "location" in response.headers:
                current = _redirect_target(current, location=response.headers["location"], origin_port=origin_port)
                continue
            _check_status(response, url=url, settings=settings)
            try:
                _stream(response, dest=dest, settings=settings, deadline=deadline)
            except (requests.RequestException, urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
                _remaining(deadline, settings=settings)  # past the deadline: that is the failure
                raise _Retry(f"{type(exc).__name__}: {exc}") from None
            return
    raise _failed(f"download of {url} redirects more than {_MAX_REDIRECTS} times")


def _check_status(response: requests.Response, *, url: str, settings: DownloadSettings) -> None:
    status = response.status_code
    if status >= 500 or status == 408:
        raise _Retry(f"HTTP {status}")
    if status >= 400 or status in (204, 304) or 300 <= status < 400:
        raise _failed(f"download of {url} failed: HTTP {status} {response.reason}")
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > settings.max_bytes:
        raise _too_large(settings)


def _too_large(settings: DownloadSettings) -> BadInputError:
    return BadInputError(f"SRPM is larger than the limit of {settings.max_bytes} bytes", code="srpm_too_large")


def _stream(response: requests.Response, *, dest: Path, settings: DownloadSettings, deadline: float) -> None:
    """Copy the body with every socket read bounded by the deadline."""
    raw = response.raw
    connection = getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    size = 0
    with open(dest, "wb") as out:
        while True:
            if sock is not None:
                sock.settimeout(min(settings.request_timeout, _remaining(deadline, settings=settings)))
            chunk = raw.read1(_CHUNK, decode_content=False)
            if not chunk:
                break
            size += len(chunk)
            if size > settings.max_bytes:
                raise _too_large(settings)
            _remaining(deadline, settings=settings)
            out.write(chunk)
    expected = response.headers.get("Content-Length")
    if expected and expected.isdigit() and int(expected) != size:
        raise _Retry(f"the connection closed after {size} of {expected} bytes")


def _copy_local(source: Path, *, dest: Path, settings: DownloadSettings, deadline: float) -> Path:
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
    except FileNotFoundError:
        raise _failed(f"SRPM not found: {source}") from None
    except OSError as exc:
        raise _failed(f"cannot read {source}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _failed(f"SRPM path is not a regular file: {source}")
    os.set_blocking(fd, True)
    with open(fd, "rb") as stream:
        _copy_bounded(stream, dest=dest, settings=settings, deadline=deadline)
    return dest


def _copy_bounded(stream: IO[bytes], *, dest: Path, settings: DownloadSettings, deadline: float) -> None:
    size = 0
    with open(dest, "wb") as out:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > settings.max_bytes:
                raise _too_large(settings)
            _remaining(deadline, settings=settings)
            out.write(chunk)
