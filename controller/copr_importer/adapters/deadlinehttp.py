"""HTTP requests with a wall-clock deadline, on top of requests.

requests has a connect timeout and a read timeout, but the read timeout bounds each
socket read: a server that sends a byte every few seconds holds a request for as long
as it likes.  Here each request also has a deadline.  The connections of this session
hand their sockets to the request in flight (urllib3 pool and connection subclasses),
and one watchdog thread shuts a request's sockets down when its deadline passes: the
blocked read wakes up at once, and the caller gets :class:`RequestDeadline`.
:meth:`DeadlineSession.abort` does the same for every request in flight (a stopping
service) and refuses new ones with :class:`RequestAborted`.

Name resolution cannot be interrupted this way; it is bounded by the resolver's own
timeouts (a few seconds per server in resolv.conf).
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ..core.backoff import request_timeouts

__all__ = ["DeadlineSession", "RequestAborted", "RequestDeadline"]


class RequestDeadline(Exception):
    """The request did not complete within its deadline."""


class RequestAborted(Exception):
    """The session was aborted (the service is stopping)."""


class _Guard:
    """One request in flight: its deadline and the sockets it uses."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self.finished = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self.fired:
                _shut(sock)
            elif sock not in self._sockets:
                self._sockets.append(sock)

    def fire(self) -> None:
        with self._lock:
            if self.finished or self.fired:
                return
            self.fired = True
            for sock in self._sockets:
                _shut(sock)

    def finish(self) -> None:
        with self._lock:
            self.finished = True
            self._sockets.clear()


def _shut(sock: socket.socket) -> None:
    # The base class's shutdown also works on an SSLSocket without tearing down its
    # TLS state under the thread that is reading it.
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


_current = threading.local()  # the guard of the request this thread is making


def _attach(conn: HTTPConnection) -> None:
    guard: _Guard | None = getattr(_current, "guard", None)
    if guard is not None:
        guard.attach(conn.sock)


class _HTTPConnection(HTTPConnection):
    # A reused connection has its socket before the request, a new one after.
    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach(self)
        super().request(*args, **kwargs)
        _attach(self)


class _HTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach(self)
        super().request(*args, **kwargs)
        _attach(self)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager


class _Watchdog:
    """One daemon thread that fires guards at their deadlines."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Guard]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def arm(self, guard: _Guard) -> None:
        with self._wake:
            heapq.heappush(self._heap, (guard.deadline, next(self._order), guard))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self._thread.start()
            if self._heap[0][2] is guard:  # the earliest deadline changed
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][2].finished:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                deadline, _, guard = self._heap[0]
                left = deadline - time.monotonic()
                if left > 0:
                    self._wake.wait(left)
                    continue
                heapq.heappop(self._heap)
            guard.fire()


class DeadlineSession:
    """A requests session whose requests end by their deadline (see the module docstring).

    Safe to share between threads: each request carries its own guard.
    """

    def __init__(self, *, pool_size: int = 10) -> None:
        self._session = requests.Session()
        adapter = _Adapter(pool_connections=4, pool_maxsize=pool_size)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._watchdog = _Watchdog()
        self._inflight: set[_Guard] = set()
        self._lock = threading.Lock()
        self._aborted = False

    def request(
        self, method: str, url: str, *, connect: float, read: float, total: float, **kwargs: Any
    ) -> requests.Response:
        """``requests.Session.request`` with the body read in full (no streaming), ending
        within ``total`` seconds or raising :class:`RequestDeadline`; neither the connect
        nor the read timeout outlasts ``total``."""
        now = time.monotonic()
        guard = _Guard(now + total)
        timeout = request_timeouts(now=now, deadline=guard.deadline, connect=connect, read=read)
        assert timeout is not None  # total > 0
        with self._lock:
            if self._aborted:
                raise RequestAborted("stopping")
            self._inflight.add(guard)
        self._watchdog.arm(guard)
        _current.guard = guard
        try:
            return self._session.request(method, url, timeout=timeout, **kwargs)
        except requests.RequestException as exc:
            if self._aborted:
                raise RequestAborted("stopping") from exc
            if guard.fired:
                raise RequestDeadline(f"no complete answer within {total:g} s") from exc
            raise
        finally:
            _current.guard = None
            guard.finish()
            with self._lock:
                self._inflight.discard(guard)

    def abort(self) -> None:
        """Interrupt every request in flight and refuse new ones."""
        with self._lock:
            self._aborted = True
            inflight = list(self._inflight)
        for guard in inflight:
            guard.fire()

    @property
    def aborted(self) -> bool:
        return self._aborted
