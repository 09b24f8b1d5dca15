"""The Copr frontend, spoken exactly as copr-dist-git speaks it.

* ``GET  /backend/importing/``              the whole importing queue (no auth)
* ``GET  /backend/get-import-task/<id>``    one task, ``null`` when the build is gone
* ``POST /backend/import-completed/``       the result, HTTP Basic auth (user ``user``,
  password = the frontend's BACKEND_PASSWORD)

Unlike copr-dist-git, every request has a timeout, connection errors and 5xx
are retried with exponential backoff, and each queue record is validated on its
own so that one malformed record cannot hide the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import requests

from ..core.task import ImportTask, MalformedTask, parse_task
from ..errors import PermanentError, TransientError
from ..settings import FrontendSettings

__all__ = ["CoprFrontend"]

log = logging.getLogger(__name__)


class CoprFrontend:
    """A task source and report sink backed by a Copr frontend."""

    def __init__(
        self,
        settings: FrontendSettings,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not settings.base_url:
            raise ValueError("frontend.base_url is not set")
        self.base_url = settings.base_url.rstrip("/")
        self.settings = settings
        self.password = settings.resolved_password()
        self.session = session or requests.Session()
        self._sleep = sleep
        self.requests_sent = 0

    def _request(self, method: str, path: str, *, retries: bool = True, **kwargs: Any) -> Any:
        url = f"{self.base_url}{path}"
        attempts = self.settings.max_attempts if retries else 1
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        for attempt in range(1, attempts + 1):
            try:
                self.requests_sent += 1
                response = self.session.request(method, url, timeout=timeout, **kwargs)
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        raise TransientError(f"{method} {url}: response is not JSON") from None
                if response.status_code < 500 and response.status_code not in (408, 429):
                    raise PermanentError(
                        f"{method} {url}: HTTP {response.status_code} {response.text[:200]!r}", code="frontend_refused"
                    )
                problem = f"HTTP {response.status_code}"
            if attempt < attempts:
                delay = min(60.0, self.settings.backoff * 2 ** (attempt - 1))
                log.warning("%s %s failed (%s); retry in %.1f s", method, url, problem, delay)
                self._sleep(delay)
        raise TransientError(f"{method} {url} failed: {problem}")

    def fetch_queue(self) -> tuple[list[ImportTask], list[MalformedTask]]:
        """The importing queue, split into valid tasks and rejected records."""
        records = self._request("GET", "/backend/importing/")
        if not isinstance(records, list):
            raise TransientError("importing queue is not a JSON array")
        tasks: list[ImportTask] = []
        rejected: list[MalformedTask] = []
        for record in records:
            try:
                tasks.append(parse_task(record))
            except MalformedTask as exc:
                log.error("rejected task record (build %s): %s", exc.build_id, exc.message)
                rejected.append(exc)
        return tasks, rejected

    def confirm(self, build_id: int) -> ImportTask | None:
        """The current record of ``build_id``, or None when the build is gone."""
        record = self._request("GET", f"/backend/get-import-task/{build_id}")
        return None if record is None else parse_task(record)

    def deliver(self, report: dict[str, Any]) -> None:
        """POST one completion report; the outbox retries on failure."""
        self._request(
            "POST",
            "/backend/import-completed/",
            retries=False,
            json=report,
            auth=("user", self.password or ""),
        )
