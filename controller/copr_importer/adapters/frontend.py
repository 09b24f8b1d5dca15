"""The Copr frontend, spoken exactly as copr-dist-git speaks it.

* ``GET  /backend/importing/``              the whole importing queue (no auth)
* ``GET  /backend/get-import-task/<id>``    one task, ``null`` when the build is gone
* ``POST /backend/import-completed/``       the result, HTTP Basic auth (user ``user``,
  password = the frontend's BACKEND_PASSWORD)

Unlike copr-dist-git:

* every request ends within ``frontend.total_timeout`` besides its connect and read
  timeouts (``adapters/deadlinehttp.py``), and :meth:`CoprFrontend.close` interrupts
  requests in flight and retry sleeps at once;
* a failure says why: its exception carries one of :data:`ERROR_KINDS` (for metrics)
  and a reason for people (name resolution, connection refused, timeout, HTTP status);
* confirmations retry connection errors and 5xx with exponential backoff; a poll and
  a report are tried once, because their callers' schedules are their retries;
* each queue record is validated on its own, so one malformed record cannot hide the others;
* a report is sent as canonical JSON (sorted keys, no spaces): sent twice, it is
  byte-identical;
* :meth:`CoprFrontend.check_credentials` asks the frontend whether it takes the password,
  with no side effect: a report for build 0.  Copr's ``dist_git_upload_completed`` checks
  the password first (``backend_authenticated``: 401 otherwise), then looks the build up
  and answers ``{"updated": false}`` for one that does not exist, before it touches
  anything; build ids are database serials starting at 1, so build 0 never exists.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import requests
from urllib3.exceptions import NameResolutionError

from ..core.task import ImportTask, MalformedTask, parse_task
from ..errors import ConfigError, PermanentError, TransientError
from ..settings import FrontendSettings
from .deadlinehttp import DeadlineSession, RequestAborted, RequestDeadline

__all__ = ["ERROR_KINDS", "CoprFrontend", "FrontendRefused", "FrontendUnavailable", "error_kind"]

log = logging.getLogger(__name__)

# Why a request failed, as a metric label: a small fixed set.
ERROR_KINDS = ("dns", "refused", "timeout", "tls", "connection", "http_5xx", "http_auth", "http_4xx", "bad_answer")
_REPORT_PATH = "/backend/import-completed/"


class FrontendUnavailable(TransientError):
    """The frontend could not be reached or did not answer usefully; try again later."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class FrontendRefused(PermanentError):
    """The frontend answered with a 4xx: repeating the same request cannot help."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message, code="frontend_refused")
        self.status = status
        self.kind = "http_auth" if status in (401, 403) else "http_4xx"

    @property
    def password_rejected(self) -> bool:
        return self.kind == "http_auth"


def error_kind(exc: BaseException) -> str:
    """The :data:`ERROR_KINDS` label of a failed call (``connection`` when unknown)."""
    kind = getattr(exc, "kind", None)
    return kind if isinstance(kind, str) and kind in ERROR_KINDS else "connection"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: causes, contexts, and urllib3's ``reason``/args."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        todo.extend(w for w in wrapped if isinstance(w, BaseException))


def _why(exc: requests.RequestException) -> tuple[str, str]:
    """(kind, reason) for a request that got no HTTP answer."""
    if isinstance(exc, requests.exceptions.SSLError):
        return "tls", f"TLS handshake failed: {exc}"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout", "timed out"
    for inner in _causes(exc):
        if isinstance(inner, NameResolutionError | socket.gaierror):
            return "dns", f"cannot resolve the host name: {inner}"
        if isinstance(inner, ConnectionRefusedError):
            return "refused", "connection refused"
        if isinstance(inner, TimeoutError):
            return "timeout", "timed out"
    return "connection", f"{type(exc).__name__}: {exc}"


class CoprFrontend:
    """A task source and report sink backed by a Copr frontend; safe to call from several threads."""

    def __init__(
        self,
        settings: FrontendSettings,
        *,
        session: DeadlineSession | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not settings.base_url:
            raise ValueError("frontend.base_url is not set")
        self.base_url = settings.base_url.rstrip("/")
        self.settings = settings
        self.password = settings.resolved_password()
        self.session = session or DeadlineSession(pool_size=2 * settings.concurrency + 2)
        self._stopping = threading.Event()
        self._sleep = sleep or self._stopping.wait

    # --- the protocol -------------------------------------------------------

    def fetch_queue(self) -> tuple[list[ImportTask], list[MalformedTask]]:
        """The importing queue, split into valid tasks and rejected records (one attempt)."""
        records = self._request("GET", "/backend/importing/")
        if not isinstance(records, list):
            raise FrontendUnavailable("the importing queue is not a JSON array", kind="bad_answer")
        tasks: list[ImportTask] = []
        rejected: list[MalformedTask] = []
        for record in records:
            try:
                tasks.append(parse_task(record))
            except MalformedTask as exc:
                rejected.append(exc)
        return tasks, rejected

    def confirm(self, build_id: int) -> ImportTask | None:
        """The current record of ``build_id``, or None when the build is gone."""
        record = self._request("GET", f"/backend/get-import-task/{build_id}", attempts=self.settings.max_attempts)
        return None if record is None else parse_task(record)

    def deliver(self, report: dict[str, Any]) -> None:
        """POST one completion report (one attempt; the outbox retries)."""
        answer = self._post_report(json.dumps(report, sort_keys=True, separators=(",", ":")).encode())
        if isinstance(answer, dict) and answer.get("updated") is False:
            log.info("the frontend does not know build %s (deleted?); its report is done", report.get("build_id"))

    def check_credentials(self) -> None:
        """Return when the frontend takes the password; :class:`FrontendRefused` with
        ``password_rejected`` when it does not; :class:`FrontendUnavailable` when it cannot tell.
        The password file is read again first, so a corrected file is noticed."""
        self._reload_password()
        self._post_report(b'{"build_id":0}')

    def close(self) -> None:
        """Interrupt requests in flight and retry sleeps; later calls fail at once."""
        self._stopping.set()
        self.session.abort()

    # --- requests -----------------------------------------------------------

    def _post_report(self, body: bytes) -> Any:
        try:
            return self._request(
                "POST",
                _REPORT_PATH,
                data=body,
                headers={"Content-Type": "application/json"},
                auth=("user", self.password or ""),
            )
        except FrontendRefused as exc:
            if exc.password_rejected:
                self._reload_password()
            raise

    def _reload_password(self) -> None:
        try:
            self.password = self.settings.resolved_password()
        except ConfigError as exc:
            log.warning("%s; keeping the password read earlier", exc)

    def _request(self, method: str, path: str, *, attempts: int = 1, **kwargs: Any) -> Any:
        url = f"{self.base_url}{path}"
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(method, url, **kwargs)
            except FrontendUnavailable as exc:
                if attempt == attempts or self._stopping.is_set():
                    raise
                delay = min(60.0, self.settings.backoff * 2 ** (attempt - 1))
                log.warning("%s; retry in %.1f s", exc, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")  # the last attempt returned or raised

    def _attempt(self, method: str, url: str, **kwargs: Any) -> Any:
        fe = self.settings
        try:
            response = self.session.request(
                method, url, connect=fe.connect_timeout, read=fe.read_timeout, total=fe.total_timeout, **kwargs
            )
        except RequestAborted:
            raise FrontendUnavailable(f"{method} {url}: the importer is stopping", kind="connection") from None
        except RequestDeadline as exc:
            raise FrontendUnavailable(f"{method} {url}: {exc}", kind="timeout") from None
        except requests.RequestException as exc:
            kind, why = _why(exc)
            raise FrontendUnavailable(f"{method} {url}: {why}", kind=kind) from None
        status = response.status_code
        if status < 400:
            try:
                return response.json()
            except ValueError:
                raise FrontendUnavailable(f"{method} {url}: the answer is not JSON", kind="bad_answer") from None
        text = response.text[:200].strip()
        if status >= 500 or status in (408, 429):
            kind = "http_5xx" if status >= 500 else "http_4xx"
            raise FrontendUnavailable(f"{method} {url}: HTTP {status} {text!r}", kind=kind)
        raise FrontendRefused(f"{method} {url}: HTTP {status} {text!r}", status=status)
