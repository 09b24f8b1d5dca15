"""The operations HTTP server: ``/metrics``, ``/livez``, ``/readyz`` and ``/status``.

A stdlib ``ThreadingHTTPServer`` in a daemon thread; the loops never wait for it.
What it serves comes from an :class:`Endpoints` object (``app/telemetry.py``),
called on each request.  Health endpoints answer 200 or 503 with a one-line
reason, so a probe failure explains itself in ``kubectl describe pod``.
``/status`` answers 404 where there is none (the git-writer).

The listen address is ``HOST:PORT`` (``[::1]:PORT`` for IPv6); port 0 picks a free
port, see :attr:`OpsServer.url`.  Nothing listens on all interfaces unless the
address says so: the default is loopback, and in Kubernetes the pod's own IP.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from ..errors import ConfigError

__all__ = ["Endpoints", "OpsServer", "parse_listen", "serve"]

log = logging.getLogger(__name__)


class Endpoints(Protocol):
    def metrics(self) -> tuple[bytes, str]: ...  # body, content type
    def live(self) -> tuple[bool, str]: ...  # healthy, why
    def ready(self) -> tuple[bool, str]: ...
    def status(self) -> dict[str, Any] | None: ...


def parse_listen(address: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); raises :class:`ConfigError` with the address."""
    host, sep, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"listen address {address!r} is not HOST:PORT")
    return host, int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class OpsServer:
    """Serves an :class:`Endpoints` on ``address`` until :meth:`close`."""

    def __init__(self, address: str, endpoints: Endpoints) -> None:
        host, port = parse_listen(address)
        server = _Server6 if ":" in host else _Server
        try:
            self._server = server((host, port), _handler(endpoints))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {address}: {exc.strerror or exc}") from exc
        self._thread = threading.Thread(target=self._server.serve_forever, name="ops-server", daemon=True)

    @property
    def url(self) -> str:
        address, port = self._server.server_address[:2]
        host = address.decode() if isinstance(address, bytes) else str(address)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> OpsServer:
        self._thread.start()
        log.info("serving /metrics, /livez, /readyz and /status on %s", self.url, extra={"url": self.url})
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(endpoints: Endpoints) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), format % args)

        def _send(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _health(self, check: tuple[bool, str]) -> None:
            ok, why = check
            self._send(200 if ok else 503, f"{'ok' if ok else 'failing'}: {why}\n".encode())

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            try:
                if path == "/metrics":
                    body, ctype = endpoints.metrics()
                    self._send(200, body, ctype)
                elif path == "/livez":
                    self._health(endpoints.live())
                elif path == "/readyz":
                    self._health(endpoints.ready())
                elif path == "/status" and (doc := endpoints.status()) is not None:
                    self._send(200, json.dumps(doc, indent=1).encode() + b"\n", "application/json")
                else:
                    self._send(404, b"not found: try /metrics, /livez, /readyz or /status\n")
            except Exception as exc:  # a broken endpoint must not kill the server thread
                log.exception("serving %s failed", path)
                self._send(500, f"internal error: {exc}\n".encode())

        do_HEAD = do_GET

    return Handler


def serve(address: str | None, *, endpoints: Endpoints, required: bool = True) -> OpsServer | None:
    """Start a server on ``address``; None (and no server) when the address is empty.

    An address someone asked for (``--listen``) must work; a default that is taken
    (a second importer on one machine) only costs the endpoints, with a warning.
    """
    if not address:
        return None
    try:
        return OpsServer(address, endpoints).start()
    except ConfigError as exc:
        if required:
            raise
        log.warning("%s; running without /metrics and health endpoints (set --listen)", exc)
        return None
