"""A Copr frontend stub on 127.0.0.1 that speaks copr's backend protocol, with fault injection.

It serves ``/backend/importing/``, ``/backend/get-import-task/<id>`` and
``/backend/import-completed/`` (HTTP Basic auth, 401 with copr's text on a
wrong password), and serves SRPM files under ``/srpms/``.  Tests put records
(also malformed ones) in :attr:`queue` and read what arrived in :attr:`reports`.
A completed build leaves the queue, as the real frontend's ``source_status``
change does.  Like copr, a report for a build the frontend never had (the
importer's password check sends build 0) is answered ``{"updated": false}``
after the password check and changes nothing; it lands in :attr:`unknown_reports`.

Faults, per path prefix (:meth:`FrontendStub.inject`, :class:`Fault`): answer a
status (503 for a while, 500 three times), wait before answering, never answer
(hang), or send the answer one byte every few seconds (drip).  :attr:`latency`
delays every answer (a frontend across a network with a database behind it; the
throughput benchmark sets it); without it the stub answers at once (TCP_NODELAY:
no delay of its own).  :attr:`fail_next` is the older, simpler form: statuses to
answer first, one per request.  :attr:`answered` logs each answer with its time,
and :attr:`abandoned` the hung or dripping requests whose client gave up.

It also answers copr's public ``GET /api_3/project?ownername=&projectname=``:
200 with the project for each ``(owner, project)`` in :attr:`projects`, otherwise
404 with copr's JSON ``{"error": ...}``.  :attr:`html_404_projects` makes it
answer a plain-text 404 instead (a proxy's page), which is not copr's "no such
project".
"""

from __future__ import annotations

import base64
import json
import select
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["Fault", "FrontendStub"]


@dataclass
class Fault:
    """What happens to requests whose path starts with a prefix, while the fault lasts."""

    status: int | None = None  # answer this status instead (a short text body)
    delay: float = 0.0  # wait this long first
    hang: bool = False  # never answer: hold the connection until the client leaves or the fault ends
    drip: float | None = None  # send the answer one byte every ``drip`` seconds
    pad: int = 10_000  # leading spaces before a dripped body (JSON allows them): a long drip
    until: float | None = None  # time.monotonic() when it ends; None: until cleared
    count: int | None = None  # requests it applies to; None: all


class FrontendStub:
    def __init__(self, *, password: str, host: str = "127.0.0.1") -> None:
        self.password = password
        self.queue: list[Any] = []
        self.reports: list[dict[str, Any]] = []
        self.unknown_reports: list[dict[str, Any]] = []
        self.bodies: list[bytes] = []  # every authorized report body, byte for byte
        self.files: dict[str, Path] = {}
        self.fail_next: dict[str, list[int]] = {}  # path prefix -> statuses to answer first
        self.faults: dict[str, Fault] = {}
        self.latency = 0.0
        self.requests: list[tuple[str, str]] = []
        self.answered: list[tuple[float, str, str, int]] = []  # (monotonic time, method, path, status)
        self.abandoned: list[tuple[str, str]] = []
        self.projects: set[tuple[str, str]] = set()
        self.html_404_projects: set[tuple[str, str]] = set()
        self.lock = threading.Lock()
        self._known: set[int] = set()  # builds that were ever queued
        self._stopping = threading.Event()
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
        self._stopping.set()
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

    # --- faults -------------------------------------------------------------

    def inject(self, prefix: str, fault: Fault | None = None, *, seconds: float | None = None, **kw: Any) -> Fault:
        """Apply ``fault`` (or ``Fault(**kw)``) to paths starting with ``prefix``, for ``seconds`` if given."""
        fault = fault or Fault(**kw)
        if seconds is not None:
            fault.until = time.monotonic() + seconds
        with self.lock:
            self.faults[prefix] = fault
        return fault

    def clear(self, prefix: str | None = None) -> None:
        """End the faults (of ``prefix``, or all); requests they hold are let go unanswered."""
        with self.lock:
            for key in [k for k in self.faults if prefix is None or k == prefix]:
                del self.faults[key]

    def polls(self, *, status: int = 200, after: float = 0.0) -> int:
        """Answers to ``GET /backend/importing/`` with ``status`` sent after ``after`` (monotonic)."""
        with self.lock:
            return sum(1 for t, m, p, s in self.answered if p == "/backend/importing/" and s == status and t > after)

    def _fault_for(self, path: str) -> Fault | None:
        with self.lock:
            for prefix, fault in list(self.faults.items()):
                if not path.startswith(prefix):
                    continue
                if fault.until is not None and time.monotonic() >= fault.until:
                    del self.faults[prefix]
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        del self.faults[prefix]
                return fault
        return None

    def _active(self, fault: Fault) -> bool:
        with self.lock:
            live = fault in self.faults.values()
        return live and not self._stopping.is_set() and (fault.until is None or time.monotonic() < fault.until)

    def _injected(self, path: str) -> int | None:
        with self.lock:
            for prefix, statuses in self.fail_next.items():
                if path.startswith(prefix) and statuses:
                    return statuses.pop(0)
        return None

    def _knows(self, build_id: Any) -> bool:
        with self.lock:
            queued = {r.get("build_id") for r in self.queue if isinstance(r, dict)}
            self._known |= {b for b in queued if isinstance(b, int)}
            return build_id in self._known

    # --- the server ---------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            fault: Fault | None = None
            # http.server writes the headers and the body separately: with Nagle's algorithm
            # on, the body waits for the client's delayed ACK (about 40 ms) on a kept-alive
            # connection, an accidental latency on top of :attr:`latency`.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                fault = self.fault
                if fault is not None and fault.drip is not None and status < 400:
                    return self._drip(status, body, ctype, fault)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client is gone (killed, or gave up)
                    self.close_connection = True
                    return
                self._answered(status)

            def _answered(self, status: int) -> None:
                with stub.lock:
                    stub.answered.append((time.monotonic(), self.command, self.path, status))

            def _drip(self, status: int, body: bytes, ctype: str, fault: Fault) -> None:
                assert fault.drip is not None
                padded = b" " * fault.pad + body
                head = f"HTTP/1.0 {status} OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(padded)}\r\n\r\n"
                try:
                    self.wfile.write(head.encode())
                    self.wfile.flush()
                    for i in range(len(padded)):
                        if not stub._active(fault):  # the fault ended: send the rest at once
                            self.wfile.write(padded[i:])
                            break
                        self.wfile.write(padded[i : i + 1])
                        self.wfile.flush()
                        stub._stopping.wait(fault.drip)
                except OSError:  # the client gave up (its deadline)
                    stub.abandoned.append((self.command, self.path))
                    self.close_connection = True
                    return
                self._answered(status)

            def _hang(self, fault: Fault) -> None:
                """Answer nothing until the client leaves or the fault ends."""
                while stub._active(fault):
                    readable, _, _ = select.select([self.connection], [], [], 0.1)
                    if readable and not self.connection.recv(1, socket.MSG_PEEK):
                        stub.abandoned.append((self.command, self.path))
                        break
                self.close_connection = True

            def _faulty(self) -> bool:
                """Apply the path's fault before the request is handled; True when it answered (or never will)."""
                stub.requests.append((self.command, self.path))
                if stub.latency:
                    stub._stopping.wait(stub.latency)
                injected = stub._injected(self.path)
                if injected:
                    self._send(injected, b"injected failure", "text/plain")
                    return True
                self.fault = stub._fault_for(self.path)
                if self.fault is None:
                    return False
                if self.fault.delay:
                    stub._stopping.wait(self.fault.delay)
                if self.fault.hang:
                    self._hang(self.fault)
                    return True
                if self.fault.status is not None:
                    self._send(self.fault.status, b"injected failure", "text/plain")
                    return True
                return False

            def do_GET(self) -> None:
                if self._faulty():
                    return None
                if self.path == "/backend/importing/":
                    with stub.lock:
                        body = json.dumps(stub.queue).encode()
                    return self._send(200, body)
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
                if self._faulty():
                    return None
                if self.path != "/backend/import-completed/":
                    return self._send(404, b"not found", "text/plain")
                auth = self.headers.get("Authorization", "")
                expected = "Basic " + base64.b64encode(f"user:{stub.password}".encode()).decode()
                if auth != expected:
                    return self._send(401, b"You have to provide the correct password\n", "text/plain")
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = json.loads(raw)
                with stub.lock:
                    stub.bodies.append(raw)
                if not stub._knows(body.get("build_id")):
                    with stub.lock:
                        stub.unknown_reports.append(body)
                    return self._send(200, json.dumps({"updated": False}).encode())
                with stub.lock:
                    stub.reports.append(body)
                    stub.queue = [
                        r for r in stub.queue if not (isinstance(r, dict) and r.get("build_id") == body["build_id"])
                    ]
                return self._send(200, json.dumps({"updated": True}).encode())

        return Handler
