"""An HTTP file server on 127.0.0.1 that holds chosen downloads until the test lets them go.

A test points a task's ``srpm_url`` here to keep an import step busy in its
download for as long as it likes (to kill its worker, time it out, cancel it,
or stop the service around it), without guessing how long a step takes.
"""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["GatedFiles"]


class GatedFiles:
    """Serves ``/<name>``; a request for a held name waits until :meth:`release` (or :meth:`stop`)."""

    def __init__(self) -> None:
        self.files: dict[str, Path] = {}
        self.hits: Counter[str] = Counter()  # requests that arrived, held or not
        self._gates: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> GatedFiles:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add(self, path: Path, *, held: bool = False, name: str | None = None) -> str:
        """Serve ``path`` (as ``name``); its URL."""
        name = name or path.name
        with self._lock:
            self.files[name] = path
            if held:
                self._gates[name] = threading.Event()
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/{name}"

    def release(self, name: str) -> None:
        with self._lock:
            gate = self._gates.pop(name, None)
        if gate is not None:
            gate.set()

    def stop(self) -> None:
        with self._lock:
            gates, self._gates = list(self._gates.values()), {}
        for gate in gates:
            gate.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        files = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                with files._lock:
                    files.hits[name] += 1
                    gate = files._gates.get(name)
                    path = files.files.get(name)
                if gate is not None:
                    gate.wait(600)
                body = path.read_bytes() if path is not None else b"not found"
                self.send_response(200 if path is not None else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass  # the importer that asked is gone (killed while it waited)

        return Handler
