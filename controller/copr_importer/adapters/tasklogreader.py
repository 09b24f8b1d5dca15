"""Reading a per-task log (``<build_id>.log``) where it is published: the data directory, or a URL.

In Kubernetes the logs live on the shared volume and the web server serves them at
``/per-task-logs/``; outside, the data directory holds them.  Both readers answer
``read(build_id, offset=...)`` with the bytes from ``offset`` on, so a follower can
ask for what was appended since its last read.  A log that does not exist is
:class:`LogNotFound`, naming the path or URL tried.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import requests

from ..errors import ImporterError, PermanentError, TransientError

__all__ = ["DirectoryLogs", "HttpLogs", "LogNotFound", "TaskLogReader"]


class LogNotFound(ImporterError):
    """There is no log for the build where it was looked for."""


class TaskLogReader(Protocol):
    def where(self, build_id: int) -> str: ...

    def read(self, build_id: int, *, offset: int = 0) -> bytes: ...


class DirectoryLogs:
    """Logs in a directory (``settings.log_root``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def where(self, build_id: int) -> str:
        return str(self.root / f"{build_id}.log")

    def read(self, build_id: int, *, offset: int = 0) -> bytes:
        try:
            with open(self.where(build_id), "rb") as log:
                log.seek(offset)
                return log.read()
        except FileNotFoundError:
            raise LogNotFound(f"no log for build {build_id} at {self.where(build_id)}") from None
        except OSError as exc:
            raise PermanentError(f"cannot read {self.where(build_id)}: {exc}") from exc


class HttpLogs:
    """Logs served under a URL base (``http://host/per-task-logs/``)."""

    def __init__(self, base_url: str, *, session: requests.Session | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout

    def where(self, build_id: int) -> str:
        return f"{self.base_url}/{build_id}.log"

    def read(self, build_id: int, *, offset: int = 0) -> bytes:
        url = self.where(build_id)
        # A range request fetches only the new bytes; identity, so offsets count the file's bytes.
        headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={offset}-"} if offset else {})}
        try:
            response = self.session.get(url, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"GET {url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 404:
            raise LogNotFound(f"no log for build {build_id} at {url} (HTTP 404)")
        if response.status_code == 416:
            return b""  # nothing beyond offset yet
        if response.status_code >= 500:
            raise TransientError(f"GET {url}: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise PermanentError(f"GET {url}: HTTP {response.status_code} {response.text[:200]!r}")
        # A server that ignores Range answers 200 with the whole file.
        return response.content if response.status_code == 206 else response.content[offset:]
