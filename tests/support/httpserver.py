"""A threaded HTTP server on 127.0.0.1 for the length of a ``with`` block."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["serving_http"]


@contextmanager
def serving_http(handler: Callable[..., BaseHTTPRequestHandler] | Any) -> Iterator[str]:
    """Serve ``handler`` on a free port; yield ``http://127.0.0.1:<port>``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
