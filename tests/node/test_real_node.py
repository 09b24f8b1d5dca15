"""The deployment for real: overlays/single-node applied to a control plane whose one
node is a real kubelet with containerd and runc. The controller with its git-writer
sidecar, the import Jobs and the web Deployment run as containers of the images
built from the Dockerfiles, under Pod Security "restricted", read-only root
filesystems and uid 10001. Pods live on a bridge in a network namespace of the
node's own; they reach the frontend stub and the apiserver through the host's
end of a veth pair (its .1 address), and the test reaches them the same way."""

from __future__ import annotations

import hashlib
import subprocess
import threading
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.frontend_stub import FrontendStub
from tests.support.pipeline import assert_reported_and_committed_once, cli, git
from tests.support.podwatch import Ended
from tests.support.realnode import RealNode, deployed
from tests.support.srpms import binary_tarball
from tests.support.waiting import wait_until

pytestmark = pytest.mark.node

EXIT_TERMINATED = 143  # 128 + SIGTERM, the import step's answer to SIGTERM
EXIT_KILLED = 137  # 128 + SIGKILL: the kubelet gave up waiting


@pytest.fixture
def node_frontend(real_node: RealNode) -> Iterator[FrontendStub]:
    """The frontend stub on the host's address on the pods' network (only there)."""
    stub = FrontendStub(password="s3cret", host=real_node.gateway)
    stub.start()
    yield stub
    stub.stop()


class SlowFiles:
    """SRPMs served from the pods' network after ``delay`` seconds, so that imports
    overlap; ``stall`` makes a download never finish (until the test ends)."""

    def __init__(self, host: str, *, delay: float) -> None:
        self.files: dict[str, Path] = {}
        self.done = threading.Event()
        self.stalled = threading.Event()  # a download of the stalling file began
        slow = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                if name == "stall.src.rpm":
                    slow.stalled.set()
                    self.send_response(200)
                    self.send_header("Content-Length", str(8 << 20))
                    self.end_headers()
                    self.wfile.write(b"\0" * 65536)
                    self.wfile.flush()
                    slow.done.wait(600)
                    return
                slow.done.wait(delay)
                body = slow.files[name].read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def add(self, path: Path) -> str:
        self.files[path.name] = path
        return f"{self.url}/{path.name}"

    def close(self) -> None:
        self.done.set()
        self._server.shutdown()
        self._server.server_close()


def pod_ip(node: RealNode, namespace: str, component: str) -> str:
    selector = f"app.kubernetes.io/component={component}"
    wait_until(
        lambda: "True" in node.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", _READY),
        timeout=180,
        what=f"a ready {component} pod",
        interval=1,
        diagnostics=lambda: node.kubectl("describe", "pods", "-n", namespace, "-l", selector)[-3000:],
    )
    ips = node.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "jsonpath={.items[*].status.podIP}")
    return ips.split()[0]


_READY = 'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}'


def diagnose(node: RealNode, namespace: str) -> Callable[[], str]:
    def text() -> str:
        pods = node.kubectl("get", "pods,jobs", "-n", namespace, "-o", "wide")
        try:
            logs = node.kubectl(
                "logs", "-n", namespace, "-l", "app.kubernetes.io/component=controller", "--all-containers", "--tail=30"
            )
        except subprocess.CalledProcessError as exc:
            logs = exc.stderr
        return f"\n{pods}\n{logs}"

    return text


def test_imports_run_in_real_pods_and_the_web_pod_serves_them(
    real_node: RealNode, node_frontend: FrontendStub, srpm_factory: Callable[..., Path], tmp_path: Path
) -> None:
    tarball = binary_tarball(name="foo", version="1", size=65536)
    foo = srpm_factory(name="foo", sources={"foo-1.tar.gz": tarball})
    bar = srpm_factory(name="bar", patches={"bar.patch": b"-a\n+b\n"})
    node_frontend.task(1, srpm=foo, pkg="foo", branches=["f43", "master"])
    node_frontend.task(2, srpm=bar, pkg="bar", branches=["f43"])
    node_frontend.task(3, srpm=bar, pkg="not-bar", branches=["f43"])  # the SRPM is another package
    data = tmp_path / "data"
    with deployed(real_node, node_frontend, data, parallelism=2) as (namespace, pods):
        wait_until(
            lambda: len(node_frontend.reports) >= 3,
            timeout=300,
            what="three reports",
            interval=1,
            diagnostics=diagnose(real_node, namespace),
        )
        reports = {r["build_id"]: r for r in node_frontend.reports}
        foo_repo = data / "git/alice/demo/foo.git"
        assert reports[1]["branch_commits"] == {b: git(foo_repo, "rev-parse", b) for b in ("f43", "master")}
        assert set(reports[2]["branch_commits"]) == {"f43"}
        assert reports[3]["error"] == "srpm_query_failed"
        # Written by uid 10001 (the git-writer), nothing by root.
        assert {p.stat().st_uid for p in data.rglob("*")} == {10001}

        web = pod_ip(real_node, namespace, "web")
        clone = tmp_path / "clone"
        subprocess.run(["git", "clone", "-q", f"http://{web}:8080/git/alice/demo/foo", str(clone)], check=True)
        assert git(clone, "rev-parse", "origin/f43") == reports[1]["branch_commits"]["f43"]
        md5, name = (clone / "sources").read_text().split()
        url = f"http://{web}:8080/repo/pkgs/alice/demo/foo/{name}/md5/{md5}/{name}"
        with urllib.request.urlopen(url, timeout=30) as response:
            assert hashlib.md5(response.read()).hexdigest() == md5 == hashlib.md5(tarball).hexdigest()
        with urllib.request.urlopen(f"http://{web}:8080/per-task-logs/3.log", timeout=30) as response:
            assert b"not-bar" in response.read()

    imports = {name: seen["spec"] for name, seen in pods.specs.items() if seen["component"] == "import"}
    assert len(imports) == 3
    for spec in imports.values():
        assert spec.automount_service_account_token is False
        assert not any(v.projected for v in spec.volumes), "an import pod got a service-account token"
        data_mounts = {m.sub_path for m in spec.containers[0].volume_mounts if m.name == "data"}
        assert data_mounts == {"spool", "lookaside", "per-task-logs"}  # never git/
        assert spec.containers[0].security_context.read_only_root_filesystem is True
    import_exits = sorted(e.exit_code for e in pods.ended if e.pod in imports)
    assert import_exits == [0, 0, 65]


def test_set_limit_changes_n_while_jobs_run_and_a_killed_controller_loses_nothing(
    real_node: RealNode, node_frontend: FrontendStub, srpm_factory: Callable[..., Path], tmp_path: Path
) -> None:
    files = SlowFiles(real_node.gateway, delay=3)
    builds = {}
    for build_id in range(1, 11):
        pkg, version = f"pkg{build_id % 3}", str(build_id)
        builds[build_id] = pkg
        srpm = srpm_factory(
            name=pkg, version=version, sources={f"{pkg}-{version}.tar.gz": binary_tarball(name=pkg, version=version)}
        )
        node_frontend.task(build_id, srpm=srpm, pkg=pkg, branches=["f43"], srpm_url=files.add(srpm))
    data = tmp_path / "data"
    try:
        with deployed(real_node, node_frontend, data, parallelism=1) as (namespace, pods):
            explain = diagnose(real_node, namespace)
            wait_until(lambda: len(node_frontend.reports) >= 2, timeout=300, what="two reports", diagnostics=explain)
            assert pods.most_live_imports() == 1
            changed = pods.mark()
            kubeconfig = real_node.plane.kubeconfig
            subprocess.run(
                cli("set-limit", "4", "--namespace", namespace, "--kubeconfig", kubeconfig),
                check=True,
                capture_output=True,
            )
            wait_until(
                lambda: pods.most_live_imports(since=changed) >= 3,
                timeout=120,
                what="more than one import at once after set-limit 4",
                diagnostics=explain,
            )
            # Kill the controller's container (not its pod): the kubelet restarts it in place.
            ids = real_node.kubectl(
                "get",
                "pods",
                "-n",
                namespace,
                "-l",
                "app.kubernetes.io/component=controller",
                "-o",
                'jsonpath={.items[0].status.containerStatuses[?(@.name=="controller")].containerID}',
            )
            real_node.ctr("tasks", "kill", "--signal", "SIGKILL", ids.removeprefix("containerd://"))
            wait_until(
                lambda: {r["build_id"] for r in node_frontend.reports} == set(builds),
                timeout=300,
                what="every build to be reported",
                diagnostics=explain,
            )
            assert any(e.container == "controller" and e.exit_code == EXIT_KILLED and e.last for e in pods.ended), (
                pods.ended
            )
    finally:
        files.close()
    assert_reported_and_committed_once(node_frontend.reports, builds=builds, git_root=data / "git")


def test_every_container_stops_on_sigterm(
    real_node: RealNode, node_frontend: FrontendStub, srpm_factory: Callable[..., Path], tmp_path: Path
) -> None:
    files = SlowFiles(real_node.gateway, delay=0)
    stall = tmp_path / "stall.src.rpm"
    node_frontend.task(1, srpm=srpm_factory(name="stall"), pkg="stall", branches=["f43"], srpm_url=files.add(stall))
    try:
        with deployed(real_node, node_frontend, tmp_path / "data", parallelism=1) as (namespace, pods):
            pod_ip(real_node, namespace, "web")
            selector = "app.kubernetes.io/component=import"
            # Mid-download: the step's handler is in place (before it, a PID 1 ignores SIGTERM).
            wait_until(
                files.stalled.is_set, timeout=180, what="the download", diagnostics=diagnose(real_node, namespace)
            )
            # Each pod's grace period is 30 s or more: an ignored SIGTERM would end in SIGKILL (137).
            real_node.kubectl("delete", "pods", "-n", namespace, "-l", selector, "--wait=true", "--timeout=120s")
        # Leaving deployed() deleted the namespace: the controller, its sidecar and httpd got SIGTERM.
    finally:
        files.close()
    by_container: dict[str, set[int]] = {}
    for ended in pods.ended:
        if not ended.last:
            by_container.setdefault(ended.container, set()).add(ended.exit_code)
    assert EXIT_TERMINATED in by_container["import"], by_container
    assert by_container.keys() >= {"import", "controller", "git-writer", "httpd"}, by_container
    assert all(EXIT_KILLED not in codes for codes in by_container.values()), by_container
    assert all(isinstance(e, Ended) for e in pods.ended)
