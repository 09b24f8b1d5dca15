"""A Copr frontend stub on 127.0.0.1 that speaks copr's backend protocol.

It serves ``/backend/importing/``, ``/backend/get-import-task/<id>`` and
``/backend/import-completed/`` (HTTP Basic auth, 401 with copr's text on a
wrong password), and serves SRPM files under ``/srpms/``.  Tests put records
(also malformed ones) in :attr:`queue`, inject failures with :attr:`fail_next`
and read what arrived in :attr:`reports`.  A completed build leaves the queue,
as the real frontend's ``source_status`` change does.

It also answers copr's public ``GET /api_3/project?ownername=&projectname=``:
200 with the project for each ``(owner, project)`` in :attr:`projects`, otherwise
404 with copr's JSON ``{"error": ...}``.  :attr:`html_404_projects` makes it
answer a plain-text 404 instead (a proxy's page), which is not copr's "no such
project".
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FrontendStub"]


class FrontendStub:
    def __init__(self, *, password: str, host: str = "127.0.0.1") -> None:
        self.password = password
        self.queue: list[Any] = []
        self.reports: list[dict[str, Any]] = []
        self.files: dict[str, Path] = {}
        self.fail_next: dict[str, list[int]] = {}  # path prefix -> statuses to answer first
        self.requests: list[tuple[str, str]] = []
        self.projects: set[tuple[str, str]] = set()
        self.html_404_projects: set[tuple[str, str]] = set()
        self.lock = threading.Lock()
        # host: another local address only where pods must reach the stub (tests/node).
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_srpm(self, path: Path) -> str:
        self.files[path.name] = path
        return f"{self.url}/srpms/{path.name}"

    def task(self, build_id: int, *, srpm: Path, pkg: str, branches: list[str], **extra: Any) -> dict[str, Any]:
        record = {
            "build_id": build_id,
            "owner": "alice",
            "project": "demo",
            "branches": branches,
            "pkg_name": pkg,
            "srpm_url": self.add_srpm(srpm),
            "sandbox": "alice/demo--alice",
            "background": False,
        }
        record.update(extra)
        with self.lock:
            self.queue.append(record)
        return record

    def _injected(self, path: str) -> int | None:
        with self.lock:
            for prefix, statuses in self.fail_next.items():
                if path.startswith(prefix) and statuses:
                    return statuses.pop(0)
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                stub.requests.append(("GET", self.path))
                injected = stub._injected(self.path)
                if injected:
                    return self._send(injected, b"injected failure", "text/plain")
                if self.path == "/backend/importing/":
                    with stub.lock:
                        return self._send(200, json.dumps(stub.queue).encode())
                if self.path.startswith("/backend/get-import-task/"):
                    build_id = self.path.rstrip("/").rsplit("/", 1)[-1]
                    with stub.lock:
                        found = [r for r in stub.queue if isinstance(r, dict) and str(r.get("build_id")) == build_id]
                    return self._send(200, json.dumps(found[0] if found else None).encode())
                if self.path.startswith("/api_3/project?"):
                    return self._project(parse_qs(urlsplit(self.path).query))
                if self.path.startswith("/srpms/"):
                    path = stub.files.get(self.path[len("/srpms/") :])
                    if path is None:
                        return self._send(404, b"not found", "text/plain")
                    return self._send(200, path.read_bytes(), "application/x-rpm")
                return self._send(404, b"not found", "text/plain")

            def _project(self, query: dict[str, list[str]]) -> None:
                key = (query.get("ownername", [""])[0], query.get("projectname", [""])[0])
                with stub.lock:
                    exists, proxy_page = key in stub.projects, key in stub.html_404_projects
                if proxy_page:
                    return self._send(404, b"<html>Not Found</html>", "text/html")
                if not exists:
                    error = {"error": f"Project {key[0]}/{key[1]} does not exist."}
                    return self._send(404, json.dumps(error).encode())
                project = {"name": key[1], "ownername": key[0], "full_name": f"{key[0]}/{key[1]}"}
                return self._send(200, json.dumps(project).encode())

            def do_POST(self) -> None:
                stub.requests.append(("POST", self.path))
                injected = stub._injected(self.path)
                if injected:
                    return self._send(injected, b"injected failure", "text/plain")
                if self.path != "/backend/import-completed/":
                    return self._send(404, b"not found", "text/plain")
                auth = self.headers.get("Authorization", "")
                expected = "Basic " + base64.b64encode(f"user:{stub.password}".encode()).decode()
                if auth != expected:
                    return self._send(401, b"You have to provide the correct password\n", "text/plain")
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                with stub.lock:
                    stub.reports.append(body)
                    stub.queue = [
                        r for r in stub.queue if not (isinstance(r, dict) and r.get("build_id") == body["build_id"])
                    ]
                return self._send(200, json.dumps({"updated": True}).encode())

        return Handler
