"""The web side against hostile clients and a hostile data directory: 450 slow connections,
symbolic links out of the data directory, hidden temporaries.  Real apache2 with web/httpd.conf."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from tests.integration.test_web import Site, make_site  # noqa: F401  (the fixture)
from tests.support.waiting import wait_until

SLOW_CONNECTIONS = 450


def _status(url: str, *, timeout: float = 60) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _advertises(site: Site, path: str) -> int:
    return _status(f"{site.server.url}{path}/info/refs?service=git-upload-pack")


def test_only_real_repositories_are_exported(make_site: Callable[..., Site]) -> None:  # noqa: F811
    site = make_site()
    git_root = site.settings.git_root
    real = git_root / "alice" / "demo" / "hello.git"
    assert _advertises(site, "/git/alice/demo/hello") == 200
    # A repository outside the data directory, linked in at each level.
    outside = site.settings.data_dir.parent / "outside"  # readable by httpd, as the data is
    shutil.copytree(real, outside / "secret.git", symlinks=True)
    (git_root / "alice" / "demo" / "linked.git").symlink_to(outside / "secret.git")
    (git_root / "alice" / "outside").symlink_to(outside)
    (git_root / "mallory").symlink_to(outside.parent)
    # The git-writer's and prune's hidden names, and a repository at another depth.
    shutil.copytree(real, git_root / "alice" / "demo" / ".hello.git.tmp-123", symlinks=True)
    shutil.copytree(real, git_root / "alice" / ".pruned-demo", symlinks=True)
    shutil.copytree(real, git_root / "alice" / "shallow.git", symlinks=True)
    for path in (
        "/git/alice/demo/linked",
        "/git/alice/demo/linked.git",
        "/git/alice/outside/secret.git",
        f"/git/mallory/{outside.name}/secret.git",
        "/git/alice/demo/.hello.git.tmp-123",
        "/git/alice/.pruned-demo/hello.git",
        "/git/alice/demo/%2ehello.git.tmp-123",
        "/git/alice/shallow.git",
    ):
        assert _advertises(site, path) == 404, path
    assert _advertises(site, "/git/alice/demo/hello.git") == 200
    # The links do lead to a repository: git itself would read it through them.
    linked = git_root / "alice" / "demo" / "linked.git"
    assert subprocess.run(["git", "ls-remote", str(linked)], capture_output=True).returncode == 0


def _slow_client(port: int, stop: threading.Event, closed: list[int]) -> None:
    """Send a request's headers a few bytes every two seconds, as slowloris does."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        return
    with sock:
        try:
            sock.sendall(b"GET /cgit/ HTTP/1.1\r\nHost: x\r\n")
            while not stop.wait(2.0):
                sock.sendall(b"X-a: b\r\n")
        except OSError:
            closed.append(1)  # the server hung up on us


def test_slow_clients_do_not_take_the_site_down(make_site: Callable[..., Site]) -> None:  # noqa: F811
    site = make_site()
    port = int(site.server.url.rsplit(":", 1)[1])
    stop, closed = threading.Event(), []
    clients = [threading.Thread(target=_slow_client, args=(port, stop, closed), daemon=True) for _ in range(450)]
    try:
        for client in clients:
            client.start()
        # While the flood lasts (~30 s), ordinary requests keep being answered.
        answered = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answered.append(_advertises(site, "/git/alice/demo/hello"))
            answered.append(_status(f"{site.server.url}/cgit/"))
            time.sleep(1)
        assert answered and set(answered) == {200}, answered
        wait_until(lambda: len(closed) >= SLOW_CONNECTIONS // 2, timeout=60, what="httpd to drop slow clients")
    finally:
        stop.set()
        for client in clients:
            client.join(10)
