"""Package sources on 127.0.0.1 for the provider tests and benchmark.

* :func:`real_sdists`: real sdists of a few small pure-Python projects, fetched
  once per machine with ``pip download --no-binary :all: --no-deps`` (pip's own
  configured index) and cached under ``/var/cache/copr-importer/sdists/<key>``.
* :func:`pypi_routes`: a PyPI-compatible simple index over sdists: PEP 691 JSON
  or PEP 503 HTML by the request's Accept header, each file with its sha256.
* :func:`gem_routes`: a RubyGems-compatible source over ``.gem`` files: the
  compact index (``/versions``, ``/info/<gem>``) and ``/gems/<file>``.
* :class:`RouteServer`: a threaded HTTP server of such routes.
* :class:`GitHttpServer`: ``git http-backend`` behind a small CGI bridge, for
  clones over HTTP.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

__all__ = ["GitHttpServer", "Route", "RouteServer", "gem_routes", "pypi_routes", "real_sdists", "serving"]

CACHE = Path(os.environ.get("COPR_IMPORTER_SDIST_CACHE", "/var/cache/copr-importer/sdists"))
# Small, pure-Python, with the three common build backends (setuptools, flit, hatchling);
# two releases of six so that "the newest release" means something.
SDISTS = ("six==1.15.0", "six==1.16.0", "tomli==2.0.1", "iniconfig==2.0.0")
# What build_gem's gemspec declares, as the compact index spells it.
GEM_DEPENDENCIES = "json:>= 2.0"
GEM_RUBY = "ruby:>= 2.7"


@dataclass(frozen=True)
class Route:
    """What one path answers: a status, a body and its type (or a function of the Accept header)."""

    body: bytes | Callable[[str], tuple[str, bytes]]
    content_type: str = "application/octet-stream"
    status: int = 200


def real_sdists(requirements: Sequence[str] = SDISTS) -> list[Path]:
    """The sdists of ``requirements``, downloaded once per machine."""
    key = hashlib.sha256("\n".join(sorted(requirements)).encode()).hexdigest()[:16]
    folder = CACHE / key
    done = folder / ".complete"
    if not done.exists():
        partial = folder.with_name(f".{key}.{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for requirement in requirements:  # one at a time: pip refuses two versions of one project at once
            command = [sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps"]
            result = subprocess.run([*command, "-d", str(partial), requirement], capture_output=True, text=True)
            if result.returncode != 0:
                pytest.fail(f"pip download {requirement} failed (needs the package index pip uses):\n{result.stderr}")
        (partial / ".complete").touch()
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pypi_routes(files: Sequence[Path], *, tamper: frozenset[str] = frozenset()) -> dict[str, Route]:
    """``/simple/<project>/`` and ``/files/<name>`` for sdists named ``<project>-<version>.tar.gz``;
    a file named in ``tamper`` is listed with a wrong sha256."""
    projects: dict[str, list[Path]] = {}
    for path in files:
        projects.setdefault(_normalize(path.name.rsplit("-", 1)[0]), []).append(path)
    routes: dict[str, Route] = {}
    for name, paths in projects.items():
        entries: list[dict[str, Any]] = []
        for path in paths:
            digest = sha256_of(path) if path.name not in tamper else "0" * 64
            entries.append({"filename": path.name, "url": f"../../files/{path.name}", "hashes": {"sha256": digest}})
            routes[f"/files/{path.name}"] = Route(path.read_bytes(), "application/gzip")
        routes[f"/simple/{name}/"] = Route(_project_page(name, entries))
    return routes


def _anchor(entry: dict[str, Any]) -> str:
    href = html.escape(f"{entry['url']}#sha256={entry['hashes']['sha256']}")
    return f'<a href="{href}">{html.escape(entry["filename"])}</a><br>\n'


def _project_page(name: str, entries: list[dict[str, Any]]) -> Callable[[str], tuple[str, bytes]]:
    page = {"meta": {"api-version": "1.0"}, "name": name, "files": entries}
    anchors = "".join(_anchor(e) for e in entries)
    text = f"<!DOCTYPE html><html><body><h1>Links for {html.escape(name)}</h1>\n{anchors}</body></html>\n"

    def negotiate(accept: str) -> tuple[str, bytes]:
        if "application/vnd.pypi.simple.v1+json" in accept:
            return "application/vnd.pypi.simple.v1+json", json.dumps(page).encode()
        return "text/html", text.encode()

    return negotiate


def gem_routes(gems: dict[str, list[tuple[str, Path]]], *, tamper: frozenset[str] = frozenset()) -> dict[str, Route]:
    """The compact index and the files for ``{gem: [(version, path)]}``."""
    routes: dict[str, Route] = {}
    versions = ["created_at: 2024-01-01T00:00:00Z", "---"]
    for gem, releases in gems.items():
        lines = ["---"]
        for version, path in releases:
            digest = sha256_of(path) if path.name not in tamper else "0" * 64
            lines.append(f"{version} {GEM_DEPENDENCIES}|checksum:{digest},{GEM_RUBY}")
            routes[f"/gems/{path.name}"] = Route(path.read_bytes())
        info = ("\n".join(lines) + "\n").encode()
        routes[f"/info/{gem}"] = Route(info, "text/plain")
        versions.append(f"{gem} {','.join(v for v, _ in releases)} {hashlib.md5(info).hexdigest()}")
    routes["/versions"] = Route(("\n".join(versions) + "\n").encode(), "text/plain")
    return routes


class _Handler(BaseHTTPRequestHandler):
    def answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _RouteHandler(_Handler):
    routes: ClassVar[dict[str, Route]] = {}

    def do_GET(self) -> None:
        route = self.routes.get(self.path.split("?", 1)[0])
        if route is None:
            self.send_error(404)
            return
        if callable(route.body):
            content_type, body = route.body(self.headers.get("Accept", ""))
        else:
            content_type, body = route.content_type, route.body
        self.answer(route.status, [("Content-Type", content_type)], body)


class _Server:
    """A threaded server of ``handler`` on 127.0.0.1 until closed; ``url`` ends with no slash."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RouteServer(_Server):
    """Serves ``routes``."""

    def __init__(self, routes: dict[str, Route]) -> None:
        super().__init__(type("Handler", (_RouteHandler,), {"routes": routes}))


@contextmanager
def serving(routes: dict[str, Route]) -> Iterator[RouteServer]:
    server = RouteServer(routes)
    try:
        yield server
    finally:
        server.close()


class _GitHandler(_Handler):
    """Runs ``git http-backend`` per request, as Apache's CGI module would."""

    root: Path = Path("/nonexistent")

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def _cgi(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(length),
            "REMOTE_ADDR": "127.0.0.1",
        }
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        body = self.rfile.read(length) if length else b""
        result = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        headers = [line.split(b":", 1) for line in head.split(b"\r\n") if b":" in line]
        status = next((int(v.split()[0]) for k, v in headers if k.lower() == b"status"), 200)
        kept = [(k.decode(), v.strip().decode()) for k, v in headers if k.lower() != b"status"]
        self.answer(status, kept, payload)


class GitHttpServer(_Server):
    """Repositories under ``root`` at ``<url>/<name>.git`` over smart HTTP."""

    def __init__(self, root: Path) -> None:
        super().__init__(type("Handler", (_GitHandler,), {"root": root}))


def build_gem(workdir: Path, *, name: str, version: str, summary: str = "A gem for the importer's tests") -> Path:
    """``<name>-<version>.gem`` made by Debian's ``gem build`` from a small gemspec."""
    if shutil.which("gem") is None:
        pytest.fail("gem is missing: install Debian's 'ruby' package (scripts/install --test does)")
    top = workdir / f"gem-{name}-{version}"
    (top / "lib").mkdir(parents=True)
    (top / "bin").mkdir()
    (top / "lib" / f"{name}.rb").write_text(f"module {name.capitalize()}\n  VERSION = '{version}'\nend\n")
    (top / "bin" / name).write_text(f"#!/usr/bin/env ruby\nrequire '{name}'\nputs {name.capitalize()}::VERSION\n")
    (top / "README.md").write_text(f"# {name}\n\n100% test gem.\n")
    (top / "LICENSE").write_text("MIT License\n")
    (top / f"{name}.gemspec").write_text(
        "Gem::Specification.new do |s|\n"
        f"  s.name = {name!r}\n  s.version = {version!r}\n  s.summary = {summary!r}\n"
        f"  s.description = 'The {name} gem: 100% made for tests.'\n"
        "  s.authors = ['Copr Importer']\n  s.licenses = ['MIT']\n"
        "  s.homepage = 'https://example.invalid/gem'\n  s.required_ruby_version = '>= 2.7'\n"
        f"  s.files = ['lib/{name}.rb', 'bin/{name}', 'README.md', 'LICENSE']\n"
        f"  s.executables = [{name!r}]\n  s.add_development_dependency 'rspec', '~> 3.12'\n"
        "  s.add_runtime_dependency 'json', '>= 2.0'\nend\n"
    )
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000", "HOME": str(top)}
    subprocess.run(["gem", "build", f"{name}.gemspec"], cwd=top, check=True, capture_output=True, env=env)
    return top / f"{name}-{version}.gem"
