"""The Fedora httpd configuration (packaging/httpd/copr-importer.conf), started by Debian's
apache2 with the same directives (tests/support/fedora-httpd.conf stands in for Fedora's
httpd.conf and its modules), over copr-dist-git's split layout (/var/lib/dist-git +
/var/lib/copr-dist-git + /var/cache/cgit) filled by real imports: the URL map of
web/httpd.conf, and what it refuses (pushes, hidden names, symbolic links, slow clients)."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from copr_importer.adapters.cgitlist import read_listed
from copr_importer.adapters.download import allow_local_files
from copr_importer.core.sources import parse_sources
from copr_importer.settings import LookasideSettings, Settings
from tests.support.coprhost import CoprHost
from tests.support.pipeline import git, import_now, make_task
from tests.support.srpms import binary_tarball
from tests.support.webserver import WebServer, public_dir, serving

WRAPPER = Path(__file__).resolve().parents[1] / "support" / "fedora-httpd.conf"
SHA512_LAYOUT = LookasideSettings(hashtype="sha512", with_hashtype_dir=True, sources_style="bsd")


@dataclass
class Site:
    host: CoprHost
    settings: Settings
    server: WebServer
    results: dict[str, dict[str, Any]]


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from tests.support.srpms import build_srpm

    work = tmp_path_factory.mktemp("srpms")
    with public_dir() as root:
        host = CoprHost(root / "host")
        host.make(frontend_url="http://127.0.0.1:9", password="unused")
        (host.root / "var/www/html").mkdir(parents=True)
        settings = allow_local_files(host.settings())  # the tests import local SRPM files
        results: dict[str, dict[str, Any]] = {}
        for build_id, (pkg, layout) in enumerate((("foo", settings), ("bar", _sha512(settings))), start=1):
            sources = {f"{pkg}-1.tar.gz": binary_tarball(name=pkg, version="1")}
            srpm = build_srpm(workdir=work, name=pkg, sources=sources, patches={"fix.patch": b"-a\n+b\n"})
            results[pkg] = import_now(layout, make_task(build_id, srpm, pkg=pkg, branches=("f43", "master")))
        with serving(host.root, run_dir=root / "run", config=WRAPPER) as server:
            yield Site(host=host, settings=settings, server=server, results=results)


def _sha512(settings: Settings) -> Settings:
    return replace(settings, lookaside=SHA512_LAYOUT)


def test_the_split_layout_is_where_the_imports_went(site: Site) -> None:
    host = site.host
    assert (host.git_root / "alice/demo/foo.git").is_dir() and (host.task_logs / "1.log").is_file()
    assert read_listed(host.cgit / "repo-configuration.rc") == {"alice/demo/foo.git", "alice/demo/bar.git"}
    assert not (host.state / "git").exists()  # our data_dir holds only our own state


@pytest.mark.parametrize("suffix", ["", ".git"])
def test_clones_over_http_see_the_reported_commits(site: Site, tmp_path: Path, suffix: str) -> None:
    checkout = tmp_path / "foo"
    subprocess.run(["git", "clone", "-q", f"{site.server.url}/git/alice/demo/foo{suffix}", str(checkout)], check=True)
    for branch, sha in site.results["foo"]["branch_commits"].items():
        assert git(checkout, "rev-parse", f"origin/{branch}") == sha


def test_pushes_are_refused(site: Site, tmp_path: Path) -> None:
    checkout = tmp_path / "foo"
    url = f"{site.server.url}/git/alice/demo/foo"
    subprocess.run(["git", "clone", "-q", url, str(checkout)], check=True)
    git(checkout, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "--allow-empty", "-m", "evil")
    push = subprocess.run(["git", "-C", str(checkout), "push", "origin", "HEAD:master"], capture_output=True, text=True)
    assert push.returncode != 0 and "403" in push.stderr
    assert (
        git(site.host.git_root / "alice/demo/foo.git", "rev-parse", "master")
        == (site.results["foo"]["branch_commits"]["master"])
    )
    status, _, _ = get(f"{url}/info/refs?service=git-receive-pack")
    assert status == 403


@pytest.mark.parametrize("pkg", ["foo", "bar"])
def test_lookaside_files_are_where_dist_git_client_asks_for_them(site: Site, pkg: str) -> None:
    """copr's md5 layout (no hashtype directory) for foo, the modern sha512 layout for bar."""
    repo = site.host.git_root / f"alice/demo/{pkg}.git"
    entries = parse_sources(git(repo, "show", "master:sources") + "\n")
    assert entries
    for entry in entries:
        path = f"{entry.filename}/{entry.hashtype}/{entry.digest}/{entry.filename}"
        status, headers, body = get(f"{site.server.url}/repo/pkgs/alice/demo/{pkg}/{path}")
        assert status == 200 and headers["Content-Type"] == "application/octet-stream"
        assert hashlib.new(entry.hashtype, body).hexdigest() == entry.digest


def test_task_logs_are_plain_text_and_nothing_else_is_mapped(site: Site) -> None:
    status, headers, body = get(f"{site.server.url}/per-task-logs/1.log")
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff" and body == (site.host.task_logs / "1.log").read_bytes()
    for path in ("/per-task-logs/9.log", "/per-task-logs/", "/repo/", "/repo/pkgs/alice/demo/foo/"):
        assert get(site.server.url + path)[0] == 404, path
    for escape in ("/per-task-logs/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/per-task-logs/..%2f..%2fetc%2fpasswd"):
        status, _, body = get(site.server.url + escape)
        assert status in (400, 404) and b"root:" not in body, escape


def test_cgit_lists_coprs_list_and_shows_each_commit(site: Site) -> None:
    status, _, index = get(f"{site.server.url}/cgit/")
    assert status == 200 and b"alice/demo/foo.git" in index and b"alice/demo/bar.git" in index
    sha = site.results["bar"]["branch_commits"]["f43"]
    status, _, page = get(f"{site.server.url}/cgit/alice/demo/bar.git/commit/?id={sha}")
    assert status == 200 and sha.encode() in page and b"automatic import of bar" in page
    assert get(f"{site.server.url}/cgit.css")[0] == 200
    assert get(f"{site.server.url}/")[0] == 200  # redirected to /cgit/


def plant(path: Path, data: bytes) -> None:
    """A file httpd (another user) could read, were it served."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o644)


def assert_refused(site: Site, paths: tuple[str, ...], *, secret: bytes) -> None:
    for path in paths:
        status, _, body = get(site.server.url + path)
        assert status == 403 and secret not in body, path


def test_hidden_names_are_never_served(site: Site) -> None:
    host = site.host
    plant(host.lookaside / "alice/demo/foo/.stash/0123abcd/.stash", b"half-written")
    hidden_repo = host.git_root / "alice/demo/.foo.git"
    subprocess.run(["cp", "-a", str(host.git_root / "alice/demo/foo.git"), str(hidden_repo)], check=True)
    hidden = (
        "/repo/pkgs/alice/demo/foo/.stash/md5/0123abcd/.stash",
        "/git/alice/demo/.foo/info/refs?service=git-upload-pack",
        "/git/alice/demo/.foo.git/HEAD",
        "/cgit/alice/demo/.foo.git/",
    )
    assert_refused(site, hidden, secret=b"half-written")


def test_symbolic_links_are_never_followed(site: Site) -> None:
    host = site.host
    outside = host.root / "srv/outside"
    plant(outside / "secret", b"not for the web")
    (host.lookaside / "alice/demo/foo/leak.tar.gz/0123abcd").mkdir(parents=True)
    (host.lookaside / "alice/demo/foo/leak.tar.gz/0123abcd/leak.tar.gz").symlink_to(outside / "secret")
    subprocess.run(["git", "init", "-q", "--bare", str(outside / "other.git")], check=True)
    (host.git_root / "alice/demo/other.git").symlink_to(outside / "other.git")
    (host.git_root / "mallory").symlink_to(host.git_root / "alice")
    linked = (
        "/repo/pkgs/alice/demo/foo/leak.tar.gz/md5/0123abcd/leak.tar.gz",
        "/git/alice/demo/other.git/info/refs?service=git-upload-pack",
        "/git/alice/demo/other/info/refs?service=git-upload-pack",
        "/git/mallory/demo/foo/info/refs?service=git-upload-pack",
    )
    assert_refused(site, linked, secret=b"not for the web")
    assert get(f"{site.server.url}/git/alice/demo/foo/info/refs?service=git-upload-pack")[0] == 200


def test_a_client_that_never_finishes_its_request_is_cut_off(site: Site) -> None:
    """RequestReadTimeout: 20 s (up to 40 while data trickles in) for the headers."""
    host, port = site.server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=120) as sock:
        sock.sendall(b"GET /cgit/ HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_httpd_took_the_configuration_without_a_warning(site: Site) -> None:
    assert site.server.process.poll() is None
    startup = (site.server.run_dir / "stderr").read_text()
    assert "AH00111" not in startup  # "Config variable ${...} is not defined"
    assert "[warn]" not in startup and "[error]" not in startup.split("AH00169")[0], startup
