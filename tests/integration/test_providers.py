"""SRPMs built from PyPI, RubyGems and git, imported end to end through the real pipeline.

Everything is served on 127.0.0.1: a PyPI-compatible simple index over real
sdists (``pip download``-ed once per machine), a RubyGems-compatible source over
gems made by Debian's ``gem build``, and git repositories over smart HTTP
(``git http-backend``) for copr's three SCM methods.  One ``copr-importer run``
imports a batch of good and bad tasks (a task file in copr's record format);
each test then checks one outcome: the repository holds the generated spec, the
lookaside holds the sdist or gem under its md5, and ``rpmbuild -bs`` from a clone
plus the lookaside rebuilds an SRPM equivalent to the one the provider builds.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from copr_importer.adapters.providers import build_task_srpm
from copr_importer.core.sources import parse_sources
from copr_importer.core.task import parse_task
from copr_importer.errors import PermanentError
from copr_importer.settings import Settings, load_settings
from tests.integration.test_roundtrip import rpm_files, rpm_nevr
from tests.support.frontend_stub import FrontendStub
from tests.support.pipeline import cli, frontend_config
from tests.support.sourceservers import (
    GitHttpServer,
    RouteServer,
    build_gem,
    gem_routes,
    pypi_routes,
    real_sdists,
    sha256_of,
)
from tests.support.srpms import binary_tarball, spec_text
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
TITO = REPO / ".venv-tito" / "bin" / "tito"
OWNER, PROJECT = "alice", "sources"


@dataclass(frozen=True)
class Sources:
    index: str
    gems: str
    git_daemon: str
    git: str
    sdists: dict[str, Path]
    gem_files: dict[str, Path]


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_DATE": "1700000000 +0000", "GIT_COMMITTER_DATE": "1700000000 +0000"}
    command = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True, env=env).stdout.strip()


def publish(root: Path, name: str, commits: list[dict[str, str | bytes]], *, tag: str | None = None) -> None:
    """A bare repository ``root/<name>.git`` whose history is ``commits`` (files per commit);
    ``tag`` marks the first commit."""
    work = root / "work" / name
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    for number, files in enumerate(commits):
        for path, content in files.items():
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content if isinstance(content, bytes) else content.encode())
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", f"commit {number}")
        if number == 0 and tag:
            git(work, "tag", tag)
    git(root, "clone", "-q", "--bare", str(work), str(root / f"{name}.git"))


def hello_spec(version: str) -> str:
    return spec_text(name="hello-scm", version=version, sources=[f"hello-scm-{version}.tar.gz"], patches=["fix.patch"])


def make_repos(root: Path) -> None:
    patch = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-1\n+2\n"
    publish(
        root,
        "hello-scm",
        [
            {
                "pkg/hello-scm.spec": hello_spec("1.0"),
                "pkg/hello-scm-1.0.tar.gz": binary_tarball(name="hello-scm", version="1.0"),
                "pkg/fix.patch": patch,
                "README.md": "the spec lives in pkg/\n",
            },
            {
                "pkg/hello-scm.spec": hello_spec("1.1"),
                "pkg/hello-scm-1.1.tar.gz": binary_tarball(name="x", version="1"),
            },
        ],
        tag="v1.0",
    )
    rpmbuild = 'rpmbuild -bs --nodeps --define "_sourcedir $(CURDIR)" --define "_srcrpmdir $(outdir)"'
    publish(
        root,
        "made",
        [
            {
                ".copr/Makefile": f'srpm:\n\t{rpmbuild} --define "_topdir $(outdir)/top" made.spec\n',
                "made.spec": spec_text(name="made", version="2.0", sources=["made.dat"], patches=[]),
                "made.dat": bytes(range(256)) * 8,
            }
        ],
    )
    failing = "srpm:\n\t@echo compiling the universe\n\t@echo 'error: the universe is too large' >&2\n\t@exit 3\n"
    publish(root, "broken", [{".copr/Makefile": failing}])
    publish(root, "slow", [{".copr/Makefile": "srpm:\n\t@echo starting\n\tsleep 600 & sleep 600\n"}])
    publish(root, "inner", [{"inner.txt": "inside\n"}])
    outer = root / "work" / "outer"
    outer.mkdir(parents=True)
    git(outer, "init", "-q", "-b", "main")
    git(outer, "-c", "protocol.file.allow=always", "submodule", "add", "-q", f"file://{root}/inner.git", "inner")
    (outer / "outer.spec").write_text(spec_text(name="outer", version="1", sources=[], patches=[]))
    git(outer, "add", "-A")
    git(outer, "commit", "-q", "-m", "a submodule over file://")
    git(root, "clone", "-q", "--bare", str(outer), str(root / "outer.git"))
    titled = spec_text(name="titled", version="0.3", sources=["%{name}-%{version}.tar.gz"], patches=[])
    tito_props = (
        "[buildconfig]\nbuilder = tito.builder.Builder\ntagger = tito.tagger.VersionTagger\n"
        "changelog_do_not_remove_cherrypick = 0\nchangelog_format = %s (%ae)\n"
    )
    files = {"titled.spec": titled + "\n%changelog\n", "hello.txt": "hi\n", ".tito/tito.props": tito_props}
    publish(root, "titled", [{**files, ".tito/packages/.readme": "what tito init writes\n"}])


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sources]:
    sdists = {p.name: p for p in real_sdists()}
    work = tmp_path_factory.mktemp("sources")
    gems = {v: build_gem(work, name="hello", version=v) for v in ("1.0.0", "1.2.0", "2.0.0.pre1")}
    gem_server = RouteServer(gem_routes({"hello": list(gems.items())}, tamper=frozenset({"hello-1.0.0.gem"})))
    index = RouteServer(pypi_routes(list(sdists.values()), tamper=frozenset({"six-1.15.0.tar.gz"})))
    make_repos(work / "git")
    git_server = GitHttpServer(work / "git")
    daemon, daemon_url = git_daemon(work / "git")
    try:
        gem_files = {p.name: p for p in gems.values()}
        yield Sources(index.url + "/simple/", gem_server.url, daemon_url, git_server.url, sdists, gem_files)
    finally:
        daemon.terminate()
        daemon.wait(30)
        for server in (index, gem_server, git_server):
            server.close()


def git_daemon(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``git daemon`` serving ``root`` over git:// on a free port of 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = ["git", "daemon", "--export-all", "--reuseaddr", f"--base-path={root}", "--listen=127.0.0.1"]
    daemon = subprocess.Popen([*command, f"--port={port}", str(root)], stderr=subprocess.DEVNULL)
    wait_until(lambda: _listening(port), timeout=60, what="git daemon to listen")
    return daemon, f"git://127.0.0.1:{port}"


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def record(build_id: int, pkg: str, source_type: int, **params: Any) -> dict[str, Any]:
    return {"build_id": build_id, "pkg_name": pkg, "source_type": source_type, "source_json": params}


def scm(build_id: int, pkg: str, repo: str, method: str, **params: Any) -> dict[str, Any]:
    return record(build_id, pkg, 8, type="git", clone_url=repo, srpm_build_method=method, **params)


def task_records(src: Sources) -> dict[str, dict[str, Any]]:
    return {
        "pypi-newest": record(1, "python-six", 5, pypi_package_name="six", python_versions=["3"]),
        "pypi-flit": record(2, "python-tomli", "pypi", pypi_package_name="tomli", pypi_package_version="2.0.1"),
        "pypi-hatch": record(3, "python-iniconfig", 5, pypi_package_name="iniconfig", pypi_package_version="2.0.0"),
        "gem-newest": record(4, "rubygem-hello", 6, gem_name="hello"),
        "scm-rpkg": scm(5, "hello-scm", f"{src.git}/hello-scm.git", "rpkg", committish="v1.0", subdirectory="pkg"),
        "scm-make": scm(6, "made", f"{src.git}/made.git", "make_srpm"),
        "scm-tito": scm(7, "titled", f"{src.git}/titled.git", "tito_test"),
        # The same build over git://: the same content, so the same commit as scm-rpkg's.
        "scm-git-protocol": scm(
            8, "hello-scm", f"{src.git_daemon}/hello-scm.git", "rpkg", committish="v1.0", subdirectory="pkg"
        ),
        "pypi-unknown": record(11, "python-nosuch", 5, pypi_package_name="nosuch"),
        "pypi-no-version": record(12, "python-six", 5, pypi_package_name="six", pypi_package_version="9.9"),
        "gem-no-version": record(13, "rubygem-hello", 6, gem_name="hello", gem_version="9.9"),
        "pypi-hash": record(14, "python-six", 5, pypi_package_name="six", pypi_package_version="1.15.0"),
        "gem-hash": record(15, "rubygem-hello", 6, gem_name="hello", gem_version="1.0.0"),
        "make-fails": scm(16, "broken", f"{src.git}/broken.git", "make_srpm"),
        "make-too-long": scm(17, "slow", f"{src.git}/slow.git", "make_srpm"),
        "clone-missing": scm(18, "gone", f"{src.git}/gone.git", "rpkg"),
        "committish-missing": scm(19, "hello-scm", f"{src.git}/hello-scm.git", "rpkg", committish="no-such-branch"),
        "submodule-over-file": scm(20, "outer", f"{src.git}/outer.git", "rpkg"),
    }


def config_text(src: Sources, data: Path) -> str:
    return (
        f'data_dir = "{data}"\n[executor]\nworkers = 4\nper_owner = 10\nper_sandbox = 10\n'
        f'[sources]\npypi_index_url = "{src.index}"\nrubygems_url = "{src.gems}"\nrun_repository_code = true\n'
        f'command_timeout = 30.0\ntito_command = "{TITO}"\n'
    )


@dataclass(frozen=True)
class Batch:
    settings: Settings
    rows: dict[str, dict[str, Any]]
    records: dict[str, dict[str, Any]]

    def log(self, label: str) -> str:
        return (self.settings.log_root / f"{self.records[label]['build_id']}.log").read_text()


@pytest.fixture(scope="module")
def batch(sources: Sources, tmp_path_factory: pytest.TempPathFactory) -> Batch:
    work = tmp_path_factory.mktemp("batch")
    config = work / "importer.toml"
    config.write_text(config_text(sources, work / "data"))
    records = task_records(sources)
    (work / "tasks.json").write_text(json.dumps(list(records.values())))
    command = cli("run", "--config", str(config), "--tasks", str(work / "tasks.json"), "--owner", OWNER)
    result = subprocess.run([*command, "--project", PROJECT, "--json"], capture_output=True, text=True, timeout=600)
    rows = {row["build_id"]: row for row in json.loads(result.stdout)}
    by_label = {label: rows[r["build_id"]] for label, r in records.items()}
    return Batch(load_settings(config), by_label, records)


GOOD = ["pypi-newest", "pypi-flit", "pypi-hatch", "gem-newest", "scm-rpkg", "scm-make", "scm-tito", "scm-git-protocol"]


def clone(settings: Settings, pkg: str, dest: Path) -> Path:
    subprocess.run(
        ["git", "clone", "-q", str(settings.git_root / OWNER / PROJECT / f"{pkg}.git"), str(dest)], check=True
    )
    return dest


def fill_from_lookaside(settings: Settings, checkout: Path, pkg: str) -> dict[str, str]:
    """What dist-git-client does: each ``sources`` line's file from the lookaside, md5 checked."""
    entries = parse_sources((checkout / "sources").read_text()) if (checkout / "sources").exists() else []
    for entry in entries:
        blob = settings.lookaside_root / OWNER / PROJECT / pkg / entry.filename / entry.digest / entry.filename
        assert hashlib.md5(blob.read_bytes()).hexdigest() == entry.digest
        (checkout / entry.filename).write_bytes(blob.read_bytes())
    return {e.filename: e.digest for e in entries}


@pytest.mark.parametrize(
    ("label", "pkg", "version", "sdist"),
    [
        ("pypi-newest", "python-six", "1.16.0", "six-1.16.0.tar.gz"),
        ("pypi-flit", "python-tomli", "2.0.1", "tomli-2.0.1.tar.gz"),
        ("pypi-hatch", "python-iniconfig", "2.0.0", "iniconfig-2.0.0.tar.gz"),
    ],
)
def test_pypi_imports_hold_the_generated_spec_and_the_sdist(
    batch: Batch, sources: Sources, tmp_path: Path, label: str, pkg: str, version: str, sdist: str
) -> None:
    row = batch.rows[label]
    assert set(row["branch_commits"]) == {"master"}, row
    checkout = clone(batch.settings, pkg, tmp_path / "c")
    spec = (checkout / f"{pkg}.spec").read_text()
    assert f"Name:           {pkg}\nVersion:        {version}\n" in spec
    for macro in ("%pyproject_buildrequires", "%pyproject_wheel", "%pyproject_install", "%pyproject_save_files"):
        assert macro in spec
    # The lookaside holds the very sdist the index serves, under its md5; git does not.
    original = sources.sdists[sdist].read_bytes()
    assert fill_from_lookaside(batch.settings, checkout, pkg) == {sdist: hashlib.md5(original).hexdigest()}
    assert git(checkout, "ls-files").split() == [".gitignore", f"{pkg}.spec", "sources"]


def test_the_gem_import_holds_a_gem2rpm_style_spec_and_the_gem(batch: Batch, sources: Sources, tmp_path: Path) -> None:
    checkout = clone(batch.settings, "rubygem-hello", tmp_path / "c")
    spec = (checkout / "rubygem-hello.spec").read_text()
    assert "%global gem_name hello\n" in spec and "Version: 1.2.0\n" in spec  # the newest final release
    assert "%gem_install" in spec and "%{_bindir}/hello" in spec and "%license %{gem_instdir}/LICENSE" in spec
    assert "# BuildRequires: (rubygem(rspec) >= 3.12 with rubygem(rspec) < 4)" in spec
    gem = sources.gem_files["hello-1.2.0.gem"].read_bytes()
    assert fill_from_lookaside(batch.settings, checkout, "rubygem-hello") == {
        "hello-1.2.0.gem": hashlib.md5(gem).hexdigest()
    }


@pytest.mark.parametrize("label", GOOD)
def test_a_clone_plus_the_lookaside_rebuilds_an_equivalent_srpm(batch: Batch, tmp_path: Path, label: str) -> None:
    """The import lost nothing: the provider's own SRPM and the one rebuilt from dist-git
    have the same name, version, release and files with the same digests."""
    task = parse_task({"owner": OWNER, "project": PROJECT, "branches": ["master"], "sandbox": "s",
                       "background": False, **batch.records[label]})  # fmt: skip
    reference = build_task_srpm(task, settings=batch.settings, dest=tmp_path / "reference.src.rpm")
    checkout = clone(batch.settings, task.pkg_name, tmp_path / "c")
    fill_from_lookaside(batch.settings, checkout, task.pkg_name)
    top = tmp_path / "top"
    command = ["rpmbuild", "-bs", "--nodeps", "--define", f"_topdir {top}", "--define", f"_sourcedir {checkout}"]
    subprocess.run([*command, str(checkout / f"{task.pkg_name}.spec")], check=True, capture_output=True)
    (rebuilt,) = (top / "SRPMS").glob("*.src.rpm")
    assert rpm_nevr(rebuilt) == rpm_nevr(reference)
    assert rpm_files(rebuilt) == rpm_files(reference)


def test_scm_methods_build_at_the_committish_in_the_subdirectory(batch: Batch) -> None:
    rows = batch.rows
    assert {label: "branch_commits" in rows[label] for label in ("scm-rpkg", "scm-make", "scm-tito")} == dict.fromkeys(
        ("scm-rpkg", "scm-make", "scm-tito"), True
    ), rows
    rpkg_log = batch.log("scm-rpkg")
    assert "$ git -c protocol.file.allow=never clone --depth 500" in rpkg_log
    assert "$ git -c protocol.file.allow=never checkout --quiet v1.0 --" in rpkg_log
    assert "Wrote: " in rpkg_log and "hello-scm-1.0-1.src.rpm" in rpkg_log  # the tag, not main's 1.1
    assert rows["scm-git-protocol"]["branch_commits"] == rows["scm-rpkg"]["branch_commits"]
    assert "$ make -f " in batch.log("scm-make") and "$ " + str(TITO) + " build --test --srpm" in batch.log("scm-tito")


@pytest.mark.parametrize(
    ("label", "code", "says"),
    [
        ("pypi-unknown", "source_not_found", "nosuch on the index not found"),
        ("pypi-no-version", "source_not_found", "six has no source distribution of version 9.9"),
        ("gem-no-version", "source_not_found", "gem hello has no version 9.9"),
        ("pypi-hash", "source_download_failed", "six-1.15.0.tar.gz: sha256 mismatch"),
        ("gem-hash", "source_download_failed", "hello-1.0.0.gem: sha256 mismatch"),
        ("make-fails", "srpm_build_failed", "make srpm failed (exit status 2):\ncompiling the universe\n"
                                            "error: the universe is too large"),
        ("make-too-long", "srpm_build_failed", "make srpm ran longer than 30 s and was killed:\nstarting"),
        ("clone-missing", "scm_clone_failed", "git failed (exit status 128)"),
        ("committish-missing", "scm_clone_failed", "no-such-branch"),
        ("submodule-over-file", "scm_clone_failed", "transport 'file' not allowed"),
    ],
)  # fmt: skip
def test_failures_have_precise_codes_and_the_tools_last_lines(batch: Batch, label: str, code: str, says: str) -> None:
    row = batch.rows[label]
    assert row.get("error") == code, row
    assert says in row["error_message"]
    assert says.splitlines()[-1] in batch.log(label)


def test_repository_code_runs_only_where_allowed(batch: Batch, tmp_path: Path) -> None:
    """Embedded by default: make_srpm and tito are refused before anything is cloned."""
    settings = load_settings(None, data_dir=str(tmp_path / "data"))
    for method in ("make_srpm", "tito", "tito_test"):
        task = parse_task({"owner": OWNER, "project": PROJECT, "branches": ["master"], "sandbox": "s",
                           "background": False, **scm(30, "made", "http://127.0.0.1:9/made.git", method)})  # fmt: skip
        with pytest.raises(PermanentError, match="run_repository_code is off") as err:
            build_task_srpm(task, settings=settings, dest=tmp_path / "x.src.rpm")
        assert err.value.code == "srpm_build_failed"


def bundle(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Bundler (a default gem of Debian's ruby), which reads the compact index."""
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "BUNDLE_PATH": str(cwd / "vendor")}
    command = ["ruby", "-e", 'load Gem.bin_path("bundler", "bundle")', *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def test_the_fixture_sources_are_what_real_clients_accept(sources: Sources, tmp_path: Path) -> None:
    """The local index and gem source speak the protocols pip and bundler speak (bundler
    reads the compact index: ``/versions``, ``/info/<gem>``, then ``/gems/<file>``)."""
    pip = subprocess.run(
        [str(REPO / ".venv/bin/python"), "-m", "pip", "index", "versions", "six", "--index-url", sources.index],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "Available versions: 1.16.0, 1.15.0" in pip.stdout
    (tmp_path / "Gemfile").write_text(f'source "{sources.gems}"\ngem "hello"\n')
    locked = bundle(tmp_path, "lock")
    assert locked.returncode == 0 and "hello (1.2.0)" in (tmp_path / "Gemfile.lock").read_text(), locked.stdout
    bundle(tmp_path, "cache", "--no-install")  # exits 1 on the json gem built into ruby, after fetching hello
    cached = list(tmp_path.glob("vendor/**/cache/hello-1.2.0.gem"))
    assert [sha256_of(p) for p in cached] == [sha256_of(sources.gem_files["hello-1.2.0.gem"])]


def test_frontend_records_with_a_source_are_built_imported_and_reported(
    frontend: FrontendStub, sources: Sources, tmp_path: Path
) -> None:
    """As a Copr frontend would send them: source_json a JSON string, source_type a number;
    one bad source is a malformed_task report that names the field."""
    base = {"owner": "alice", "project": "demo", "branches": ["f43", "master"], "sandbox": "alice/demo--a",
            "background": False}  # fmt: skip
    pypi = {"pypi_package_name": "tomli", "pypi_package_version": "2.0.1", "spec_generator": "pyp2spec",
            "spec_template": "", "python_versions": ["3"]}  # fmt: skip
    frontend.queue.append({**base, "build_id": 41, "pkg_name": "python-tomli", "source_type": 5,
                           "source_json": json.dumps(pypi)})  # fmt: skip
    frontend.queue.append({**base, "build_id": 42, "pkg_name": "x", "source_type": 8,
                           "source_json": json.dumps({"clone_url": "file:///etc", "type": "git"})})  # fmt: skip
    extra = f'[sources]\npypi_index_url = "{sources.index}"\n'
    config = frontend_config(tmp_path, frontend_url=frontend.url, data=tmp_path / "data", extra=extra)
    controller = subprocess.Popen(cli("run", "--config", str(config)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: len(frontend.reports) >= 2, timeout=120, what="two reports", interval=0.1)
    finally:
        controller.send_signal(signal.SIGTERM)
        output = controller.communicate(timeout=30)[0].decode()
    reports = {r["build_id"]: r for r in frontend.reports}
    assert set(reports[41]["branch_commits"]) == {"f43", "master"}, output
    assert reports[41]["reponame"] == "alice/demo/python-tomli"
    assert reports[42]["error"] == "malformed_task" and "clone_url 'file:///etc'" in reports[42]["error_message"]


def test_the_command_line_flags_build_from_each_source(sources: Sources, tmp_path: Path) -> None:
    flags = ["--pypi", "six==1.16.0", "--rubygem", "hello==1.0.0", "--scm", f"{sources.git}/hello-scm.git#v1.0"]
    command = cli("run", "--data-dir", str(tmp_path / "d"), "--json", "--index-url", sources.index,
                  "--gem-source", sources.gems, *flags, "--subdirectory", "pkg", "--method", "rpkg")  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    rows = {row["reponame"].rsplit("/", 1)[-1] if "reponame" in row else row["build_id"]: row
            for row in json.loads(done.stdout)}  # fmt: skip
    assert set(rows["python-six"]["branch_commits"]) == {"master"} and "hello-scm" in rows, done.stdout
    # The pinned gem is the tampered one: the whole run says so, and exits 1.
    (failed,) = [row for row in rows.values() if "error" in row]
    assert failed["error"] == "source_download_failed" and done.returncode == 1
