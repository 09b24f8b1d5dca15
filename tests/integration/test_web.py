"""The dist-git web side: Debian's apache2 running web/httpd.conf (with git
http-backend and cgit) over data written by real imports, read by real clients:
git, curl and md5sum as dist-git-client drives them, rpkg, and plain HTTP."""

from __future__ import annotations

import hashlib
import http.client
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from copr_importer.adapters.cgitlist import read_listed
from copr_importer.adapters.download import allow_local_files
from copr_importer.settings import Settings, from_mapping
from tests.support.pipeline import git, import_now, make_task
from tests.support.srpms import binary_tarball
from tests.support.webserver import WebServer, public_dir, serving

BRANCHES = ("epel9", "f43", "master")
LAYOUTS: dict[str, dict[str, Any]] = {
    "copr": {},  # md5, old sources lines, no hashtype directory on disk
    "md5-dir": {"with_hashtype_dir": True},
    "sha512": {"hashtype": "sha512", "with_hashtype_dir": True, "sources_style": "bsd"},
    "sha512-flat": {"hashtype": "sha512", "sources_style": "bsd"},
}
# dist-git-client's lookaside URL for copr (its default.ini), namespace being the
# clone URL's path reversed.
DIST_GIT_CLIENT_PATTERN = "repo/pkgs/{namespace[1]}/{namespace[0]}/{name}/{filename}/{hashtype}/{hash}/{filename}"
RPKG_VENV = Path(__file__).resolve().parents[2] / ".venv-rpkg"


@dataclass
class Site:
    """A data directory filled by imports, served by apache2."""

    settings: Settings
    srpm_factory: Callable[..., Path]
    server: WebServer = field(init=False)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_build: int = 1

    def import_package(self, pkg: str, *, version: str = "1.0", branches: tuple[str, ...] = BRANCHES) -> dict[str, Any]:
        sources = {
            f"{pkg}-{version}.tar.gz": binary_tarball(name=pkg, version=version),
            f"{pkg}-assets.tar.gz": binary_tarball(name=pkg, version=version, seed=1),
        }
        patches = {f"{pkg}-fix.patch": f"--- a\n+++ b\n@@ fix for {version}\n".encode()}
        srpm = self.srpm_factory(name=pkg, version=version, sources=sources, patches=patches)
        result = import_now(self.settings, make_task(self.next_build, srpm, pkg=pkg, branches=branches))
        assert not result["branch_errors"], result
        self.results[pkg] = result
        self.next_build += 1
        return result

    def clone_url(self, pkg: str, suffix: str = "") -> str:
        return f"{self.server.url}/git/alice/demo/{pkg}{suffix}"


@pytest.fixture
def make_site(srpm_factory: Callable[..., Path]) -> Iterator[Callable[..., Site]]:
    """Import ``hello`` and ``world`` in a layout, then start the web server over them."""
    with ExitStack() as stack:

        def make(layout: str = "copr") -> Site:
            root = stack.enter_context(public_dir())
            settings = allow_local_files(from_mapping({"data_dir": str(root / "data"), "lookaside": LAYOUTS[layout]}))
            site = Site(settings=settings, srpm_factory=srpm_factory)
            site.import_package("hello")
            site.import_package("world", branches=("f43",))
            site.server = stack.enter_context(serving(settings.data_dir, run_dir=root / "run"))
            return site

        yield make


def run(*command: str, cwd: Path | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{command}: {done.stderr}"
    return done.stdout


def remote_heads(clone: Path) -> dict[str, str]:
    lines = git(clone, "for-each-ref", "--format=%(refname:strip=3) %(objectname)", "refs/remotes/origin").splitlines()
    return {name: sha for name, sha in (line.split() for line in lines) if name != "HEAD"}


def get(url: str) -> tuple[int, str, bytes]:
    """Status, content type and body, also for error statuses."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def raw_get(server: WebServer, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written: no client-side normalization of ``..``."""
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# --- git ----------------------------------------------------------------------


def test_git_clone_over_http_gives_the_reported_commits(make_site: Callable[..., Site], tmp_path: Path) -> None:
    site = make_site()
    for pkg, result in site.results.items():
        for suffix in ("", ".git"):
            clone = tmp_path / f"{pkg}{suffix}"
            run("git", "clone", "--quiet", site.clone_url(pkg, suffix), str(clone))
            heads = remote_heads(clone)
            assert set(heads) == {*result["branch_commits"], "master"}  # a new repository always has master
            assert {branch: heads[branch] for branch in result["branch_commits"]} == result["branch_commits"]
            for branch, sha in result["branch_commits"].items():
                assert git(clone, "rev-parse", f"origin/{branch}^{{commit}}") == sha
    clone = tmp_path / "hello"
    older = site.results["hello"]["branch_commits"]
    newer = site.import_package("hello", version="2.0")["branch_commits"]
    run("git", "fetch", "--quiet", cwd=clone)
    assert remote_heads(clone) == newer and set(newer.values()).isdisjoint(older.values())
    assert git(clone, "log", "-1", "--format=%s", "origin/f43") == "automatic import of hello"


def test_push_is_refused(make_site: Callable[..., Site], tmp_path: Path) -> None:
    site = make_site()
    clone = tmp_path / "hello"
    run("git", "clone", "--quiet", site.clone_url("hello"), str(clone))
    run("git", "-C", str(clone), "-c", "user.name=x", "-c", "user.email=x@x", "commit", "--allow-empty", "-qm", "evil")
    bare = site.settings.git_root / "alice/demo/hello.git"
    before = git(bare, "for-each-ref")
    for refspec in ("HEAD:refs/heads/master", "HEAD:refs/heads/new-branch"):
        push = subprocess.run(["git", "-C", str(clone), "push", "origin", refspec], capture_output=True, text=True)
        assert push.returncode != 0 and "403" in push.stderr, push.stderr
    assert git(bare, "for-each-ref") == before
    status, _, _ = get(site.clone_url("hello") + "/info/refs?service=git-receive-pack")
    assert status == 403


# --- the lookaside --------------------------------------------------------------


def dist_git_client_sources(*, checkout: Path, lookaside_location: str, workdir: Path) -> list[Path]:
    """What ``dist-git-client sources`` does in a checkout: read ``sources``, build
    each URL from its pattern, download with curl, verify with ``<hashtype>sum``."""
    origin = git(checkout, "config", "remote.origin.url")
    namespace = urllib.parse.urlparse(origin).path.strip("/").split("/")
    name = namespace.pop().removesuffix(".git")
    namespace.reverse()
    downloaded = []
    for line in (checkout / "sources").read_text().splitlines():
        spec = line.split()
        if not spec:
            continue
        if len(spec) == 2:  # old format: md5, copr's default_sum
            hashtype, digest, filename = "md5", spec[0], spec[1]
        else:
            assert len(spec) == 4, f"weird sources line {line!r}"
            hashtype, digest, filename = spec[0].lower(), spec[3], Path(spec[1]).name.strip("()")
        url = "/".join([lookaside_location, DIST_GIT_CLIENT_PATTERN]).format(
            namespace=namespace, name=name, filename=filename, hashtype=hashtype, hash=digest
        )
        target = workdir / filename
        run("curl", "-H", "Pragma:", "-o", str(target), "--location", "--remote-time", "--show-error", "--fail", url)
        checksum, _ = run(f"{hashtype}sum", str(target)).split()
        assert checksum == digest, f"{filename}: {hashtype} {checksum} != {digest}"
        downloaded.append(target)
    return downloaded


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_sources_download_as_dist_git_client_does(make_site: Callable[..., Site], tmp_path: Path, layout: str) -> None:
    site = make_site(layout)
    for pkg, result in site.results.items():
        checkout = tmp_path / pkg
        run("git", "clone", "--quiet", site.clone_url(pkg, ".git"), str(checkout))
        for branch in result["branch_commits"]:
            run("git", "-C", str(checkout), "checkout", "--quiet", branch)
            workdir = tmp_path / f"{pkg}-{branch}-sources"
            workdir.mkdir()
            files = dist_git_client_sources(checkout=checkout, lookaside_location=site.server.url, workdir=workdir)
            assert sorted(f.name for f in files) == [f"{pkg}-1.0.tar.gz", f"{pkg}-assets.tar.gz"]
            expected = binary_tarball(name=pkg, version="1.0")
            assert (workdir / f"{pkg}-1.0.tar.gz").read_bytes() == expected


def test_lookaside_answers_404_for_a_wrong_hash_or_name(make_site: Callable[..., Site]) -> None:
    site = make_site()
    data = binary_tarball(name="hello", version="1.0")
    md5 = hashlib.md5(data).hexdigest()
    base = f"{site.server.url}/repo/pkgs/alice/demo/hello/hello-1.0.tar.gz"
    status, content_type, body = get(f"{base}/md5/{md5}/hello-1.0.tar.gz")
    assert (status, content_type, body) == (200, "application/octet-stream", data)
    assert get(f"{base}/md5/{'0' * 32}/hello-1.0.tar.gz")[0] == 404
    assert get(f"{base}/md5/{md5}/other.tar.gz")[0] == 404
    assert get(f"{base}/{md5}/hello-1.0.tar.gz")[0] == 404  # the on-disk path is not a URL
    assert get(f"{site.server.url}/repo/pkgs/alice/demo/hello/")[0] == 404  # no listings


def rpkg_sources(checkout: Path, *, site: Site, workdir: Path, hashtype: str) -> None:
    """``rpkg sources`` as its own executable runs it, with a configuration that
    points at our server (copr's three-part name is namespace ``alice/demo``)."""
    if not (RPKG_VENV / "bin/python").exists():
        pytest.fail(f"rpkg is missing: {RPKG_VENV} is made by scripts/install --test")
    config = workdir / "rpkg.conf"
    url = site.server.url
    config.write_text(
        "[rpkg]\n"
        f"lookaside = {url}/repo/pkgs\n"
        f"lookasidehash = {hashtype}\n"
        f"lookaside_cgi = {url}/repo/pkgs/upload.cgi\n"
        f"gitbaseurl = {url}/git/%(repo)s\n"
        f"anongiturl = {url}/git/%(repo)s\n"
        "branchre = .*\n"
        "kojiprofile = koji\n"
        "build_client = koji\n"
        "distgit_namespaced = True\n"
        "lookaside_namespaced = True\n"
    )
    # rpkg's bin/rpkg, minus its hard-coded /etc/rpkg/rpkg.conf.
    driver = (
        "import configparser, sys\n"
        "import pyrpkg.cli\n"
        "config = configparser.ConfigParser()\n"
        "config.read(sys.argv.pop(1))\n"
        "client = pyrpkg.cli.cliClient(config, name='rpkg')\n"
        "client.do_imports(site='pyrpkg')\n"
        "client.parse_cmdline()\n"
        "client.args.command()\n"
    )
    name = checkout.name
    run(
        str(RPKG_VENV / "bin/python"), "-c", driver, str(config),
        "--path", str(checkout), "--name", name, "--namespace", "alice/demo", "sources", "--outdir", str(workdir),
    )  # fmt: skip


@pytest.mark.parametrize("layout", ["copr", "sha512"])
def test_sources_download_with_rpkg(make_site: Callable[..., Site], tmp_path: Path, layout: str) -> None:
    site = make_site(layout)
    checkout = tmp_path / "hello"
    run("git", "clone", "--quiet", site.clone_url("hello"), str(checkout))
    run("git", "-C", str(checkout), "checkout", "--quiet", "f43")
    workdir = tmp_path / "rpkg-out"
    workdir.mkdir()
    rpkg_sources(checkout, site=site, workdir=workdir, hashtype=site.settings.lookaside.hashtype)
    for filename, data in (
        ("hello-1.0.tar.gz", binary_tarball(name="hello", version="1.0")),
        ("hello-assets.tar.gz", binary_tarball(name="hello", version="1.0", seed=1)),
    ):
        assert (workdir / filename).read_bytes() == data  # rpkg verified the hash from `sources` too


# --- per-task logs and containment -------------------------------------------------


def test_per_task_logs_are_served_as_plain_text(make_site: Callable[..., Site]) -> None:
    site = make_site()
    for build_id in (1, 2):
        status, content_type, body = get(f"{site.server.url}/per-task-logs/{build_id}.log")
        assert status == 200 and content_type.startswith("text/plain")
        assert body == (site.settings.log_root / f"{build_id}.log").read_bytes()
        assert f"build {build_id}".encode() in body
    assert get(f"{site.server.url}/per-task-logs/999.log")[0] == 404
    assert get(f"{site.server.url}/per-task-logs/")[0] == 404


def test_paths_with_dot_dot_cannot_leave_the_data_dir(make_site: Callable[..., Site]) -> None:
    site = make_site()
    secret = b"not for the web"
    (site.settings.data_dir / "secret.txt").write_bytes(secret)
    (site.settings.data_dir.parent / "outside.txt").write_bytes(secret)
    (site.settings.log_root / "notes.txt").write_bytes(secret)
    probes = [
        "/per-task-logs/../secret.txt",
        "/per-task-logs/%2e%2e/secret.txt",
        "/per-task-logs/..%2fsecret.txt",
        "/per-task-logs/notes.txt",
        "/per-task-logs/1.log/../../secret.txt",
        "/repo/pkgs/../../secret.txt",
        "/repo/pkgs/alice/demo/hello/%2e%2e/md5/0/secret.txt",
        "/repo/pkgs/%2e%2e/%2e%2e/%2e%2e/secret.txt/md5/0/secret.txt",
        "/repo/pkgs/alice/demo/../../../../outside.txt/md5/0/outside.txt",
        "/git/../secret.txt",
        "/git/%2e%2e/secret.txt",
        "/git/alice/demo/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/git/alice/demo/hello.git/../../../../secret.txt",
        "/cgit/../secret.txt",
        "/cgit/?url=../../secret.txt",
        "/../secret.txt",
        "/secret.txt",
    ]
    for path in probes:
        status, body = raw_get(site.server, path)
        assert status in (400, 403, 404), f"{path}: {status}"
        assert secret not in body, path
    # The same server does serve what it should (the probes above can succeed).
    assert raw_get(site.server, "/per-task-logs/1.log")[0] == 200


# --- cgit --------------------------------------------------------------------------


def test_cgit_lists_the_repositories_and_shows_each_reported_commit(make_site: Callable[..., Site]) -> None:
    site = make_site()
    status, content_type, index = get(f"{site.server.url}/cgit/")
    assert status == 200 and content_type.startswith("text/html")
    listed = set(re.findall(rb"href='/cgit/(alice/demo/[^/']+\.git)/'", index))
    assert listed == {b"alice/demo/hello.git", b"alice/demo/world.git"}
    for pkg, result in site.results.items():
        for sha in set(result["branch_commits"].values()):
            # The Copr frontend's link: DIST_GIT_URL/<owner>/<dir>/<pkg>.git/commit/?id=<sha>
            link = f"/cgit/alice/demo/{pkg}.git/commit/?id={sha}"
            status, _, page = get(site.server.url + link)
            assert status == 200
            assert f"<title>automatic import of {pkg} - alice/demo/{pkg}.git".encode() in page
            shown = re.search(rb"<th>commit</th><td colspan='2' class='\w+'><a href='([^']+)'>([0-9a-f]{40})</a>", page)
            assert shown is not None and shown.groups() == (link.encode(), sha.encode())
            tree = git(site.settings.git_root / f"alice/demo/{pkg}.git", "rev-parse", f"{sha}^{{tree}}")
            assert re.search(rb"<th>tree</th><td colspan='2' class='\w+'><a [^>]+>" + tree.encode(), page)
    status, _, bogus = get(f"{site.server.url}/cgit/alice/demo/hello.git/commit/?id={'1' * 40}")
    assert status == 404 and b"Bad commit reference" in bogus and b"automatic import" not in bogus


def test_a_new_repository_appears_without_restart_or_rescan(make_site: Callable[..., Site]) -> None:
    site = make_site()
    assert b"alice/demo/later.git" not in get(f"{site.server.url}/cgit/")[2]
    sha = site.import_package("later")["branch_commits"]["master"]
    _, _, index = get(f"{site.server.url}/cgit/")
    assert b"href='/cgit/alice/demo/later.git/'" in index
    status, _, page = get(f"{site.server.url}/cgit/alice/demo/later.git/commit/?id={sha}")
    assert status == 200 and sha.encode() in page
    assert site.server.process.poll() is None  # the same server process answered all along


def test_a_repository_left_unlisted_by_a_crash_is_listed_on_its_next_import(
    make_site: Callable[..., Site],
) -> None:
    site = make_site()
    listing = site.settings.cgit_list_path
    # What a crash between creating hello.git and appending its stanza leaves behind.
    text = listing.read_text()
    stanza = next(s for s in text.split("\n\n") if "repo.url=alice/demo/hello.git" in s)
    listing.write_text(text.replace(stanza + "\n\n", ""))
    assert read_listed(listing) == {"alice/demo/world.git"}
    assert b"alice/demo/hello.git" not in get(f"{site.server.url}/cgit/")[2]
    site.import_package("hello")  # the same SRPM again: no new commit, but listed
    assert read_listed(listing) == {"alice/demo/hello.git", "alice/demo/world.git"}
    assert b"href='/cgit/alice/demo/hello.git/'" in get(f"{site.server.url}/cgit/")[2]


def test_static_files_and_root_redirect(make_site: Callable[..., Site]) -> None:
    site = make_site()
    status, content_type, _ = get(f"{site.server.url}/cgit.css")
    assert status == 200 and content_type.startswith("text/css")
    status, _, body = get(f"{site.server.url}/")  # urllib follows the redirect to /cgit/
    assert status == 200 and b"alice/demo/hello.git" in body
