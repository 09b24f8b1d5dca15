"""Migration from copr-dist-git and back (docs/migration.md), on a host laid out as copr's
packages lay it out (tests/support/coprhost.py):

1. copr-dist-git's era: repositories made as copr makes them (``git init --shared --bare``,
   "Initial setup of the repo", mkbranch, then pyrpkg's import, commit and push, all as
   the copr-dist-git user), its cgit list, lookaside files in its md5 layout, per-task
   logs; then dist-git-gc (``git gc`` as root): packs and packed refs.
2. The importer, started as the unit starts it (copr-dist-git's user, umask 0002, no
   arguments: the default settings file, which points at copr's configuration), imports
   a new version into an existing package (with a new branch) and a new package.
3. The Fedora httpd configuration serves the result.
4. Back to copr-dist-git: its pyrpkg import onto the repositories we wrote, a push by
   another member of the packager group, and copr's full cgit refresh over our list.
"""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from copr_importer.adapters.cgitlist import read_listed
from copr_importer.core.sources import parse_sources
from tests.support import pipeline
from tests.support.coprhost import APACHE_GID, COPR_UID, PACKAGER_GID, CoprHost
from tests.support.frontend_stub import FrontendStub
from tests.support.srpms import binary_tarball
from tests.support.waiting import wait_until
from tests.support.webserver import public_dir, serving

WRAPPER = Path(__file__).resolve().parents[1] / "support" / "fedora-httpd.conf"
AS_ROOT = os.geteuid() == 0
OTHER_PACKAGER = 10013


def git(repo: Path, *args: str) -> str:
    """git in a repository of copr-dist-git's user (root's git refuses others' without this)."""
    return pipeline.git(repo, "-c", "safe.directory=*", *args)


def copr_stanza(host: CoprHost, url: str) -> str:
    """What copr-dist-git-refresh-cgit writes for one repository."""
    return f"\nrepo.url={url}\nrepo.path={host.git_root}/{url}/\n"


def test_migrate_from_copr_dist_git_serve_and_roll_back(
    frontend: FrontendStub, srpm_factory: Callable[..., Path], tmp_path: Path
) -> None:
    def srpm(name: str, version: str) -> Path:
        tarball = {f"{name}-{version}.tar.gz": binary_tarball(name=name, version=version)}
        return srpm_factory(name=name, version=version, sources=tarball, patches={f"{name}.patch": b"-a\n+b\n"})

    with public_dir() as root:
        host = CoprHost(root / "host")
        extra = '[frontend]\npoll_interval = 0.2\nbackoff = 0.05\n[telemetry]\nlisten = ""\n'
        host.make(frontend_url=frontend.url, password=frontend.password, extra_toml=extra)
        copr = copr_era(host, srpm)
        reports = importer_era(host, frontend, srpm, copr=copr, log=tmp_path / "importer.log")
        served(host, reports, run_dir=root / "run", workdir=tmp_path)
        rolled_back(host, srpm, reports=reports, workdir=root / "work")


# --- 1. copr-dist-git's era -----------------------------------------------------------


def copr_era(host: CoprHost, srpm: Callable[[str, str], Path]) -> dict[str, dict[str, str]]:
    imported = {}
    for pkg, branches in (("foo", ("f43", "master")), ("bar", ("f43",))):
        imported[pkg] = host.copr_import(f"alice/demo/{pkg}", branches=branches, srpm=srpm(pkg, "1"))
    for build_id in (1, 2):
        log = host.task_logs / f"{build_id}.log"
        log.write_text(f"copr-dist-git imported build {build_id}\n")
        if AS_ROOT:
            os.chown(log, COPR_UID, COPR_UID)
    for pkg in ("foo", "bar"):  # dist-git-gc, monthly, as root
        repo = host.git_root / f"alice/demo/{pkg}.git"
        subprocess.run(["git", "-c", "safe.directory=*", "-C", str(repo), "gc", "--quiet"], check=True)
        assert (repo / "packed-refs").is_file() and not list((repo / "refs/heads").iterdir())
    cgit = (host.cgit / "repo-configuration.rc").read_text()
    assert cgit == copr_stanza(host, "alice/demo/foo.git") + copr_stanza(host, "alice/demo/bar.git")
    assert (host.cgit / "repo-subdirs.list").read_text() == "alice/demo/foo\nalice/demo/bar\n"
    return imported


# --- 2. the importer ---------------------------------------------------------------------


def importer_era(
    host: CoprHost,
    frontend: FrontendStub,
    srpm: Callable[[str, str], Path],
    *,
    copr: dict[str, dict[str, str]],
    log: Path,
) -> dict[int, dict[str, Any]]:
    frontend.task(101, srpm=srpm("foo", "2"), pkg="foo", branches=["f43", "master", "epel9"])
    frontend.task(102, srpm=srpm("baz", "1"), pkg="baz", branches=["f43"])
    with open(log, "wb") as output:
        controller = subprocess.Popen(host.importer_command("run"), env=host.env(), stdout=output, stderr=output)
        try:
            wait_until(lambda: len(frontend.reports) >= 2, timeout=120, what="two reports", diagnostics=log.read_text)
        finally:
            controller.send_signal(signal.SIGTERM)
            controller.wait(timeout=60)
    assert controller.returncode == 0, log.read_text()
    reports = {r["build_id"]: r for r in frontend.reports}
    foo, baz = reports[101]["branch_commits"], reports[102]["branch_commits"]
    assert set(foo) == {"f43", "master", "epel9"} and set(baz) == {"f43"}, reports

    repo = host.git_root / "alice/demo/foo.git"
    for branch in ("f43", "master"):  # copr's history goes on
        assert git(repo, "rev-parse", f"{foo[branch]}^") == copr["foo"][branch]
    copr_root = git(repo, "rev-list", "--max-parents=0", "master")
    assert git(repo, "log", "--format=%s", "-1", copr_root) == "Initial setup of the repo"
    assert git(repo, "rev-list", "--max-parents=0", foo["epel9"]) == copr_root  # mkbranch's rule
    assert (repo / "packed-refs").is_file()
    git(repo, "fsck", "--no-dangling")
    (entry,) = parse_sources(git(repo, "show", f"{foo['master']}:sources") + "\n")
    stored = host.lookaside / "alice/demo/foo" / entry.filename / entry.digest / entry.filename  # copr's md5 layout
    assert entry.hashtype == "md5" and hashlib.md5(stored.read_bytes()).hexdigest() == entry.digest

    new = host.git_root / "alice/demo/baz.git"
    assert git(new, "config", "core.sharedRepository") in ("1", "group")
    first = git(new, "rev-list", "--max-parents=0", "f43")
    assert git(new, "log", "--format=%s", "-1", first) == "Initial setup of the repo"
    assert git(new, "ls-tree", "--name-only", first) == ".gitignore"

    ours = (host.lookaside / "alice/demo/baz", host.lookaside / "alice/demo/foo" / entry.filename)
    for tree, group in ((repo, PACKAGER_GID), (new, PACKAGER_GID), *((t, APACHE_GID) for t in ours)):
        shared_by_group(tree, group=group)
    cgit = (host.cgit / "repo-configuration.rc").read_text()
    coprs = copr_stanza(host, "alice/demo/foo.git") + copr_stanza(host, "alice/demo/bar.git")
    assert cgit == coprs + copr_stanza(host, "alice/demo/baz.git")  # copr's stanzas kept, ours in copr's form
    assert (host.cgit / "repo-subdirs.list").read_text().splitlines()[-1] == "alice/demo/baz.git"
    assert {p.name for p in host.task_logs.iterdir()} == {"1.log", "2.log", "101.log", "102.log"}
    assert (host.task_logs / "1.log").read_text() == "copr-dist-git imported build 1\n"
    # Temporaries are made under the hidden .incoming/ directory, which stays, empty.
    assert not [p for p in host.lookaside.rglob(".*") if p.is_file()], "temporaries left in the lookaside"
    assert [p.name for p in host.lookaside.iterdir() if p.name.startswith(".")] == [".incoming"]
    ours = {"spool", "outbox", "reports", "local-build-id", ".controller.lock", "attempts"}
    assert {p.name for p in host.state.iterdir()} <= ours
    return reports


def shared_by_group(tree: Path, *, group: int) -> None:
    """What we wrote can be written by copr-dist-git through its group, as copr's own files can."""
    for path in [tree, *tree.rglob("*")]:
        st = path.lstat()
        if stat.S_ISDIR(st.st_mode):
            assert st.st_mode & 0o2070 == 0o2070, f"{path}: {oct(st.st_mode)} is not group-writable setgid"
            assert st.st_gid == group or not AS_ROOT, f"{path}: group {st.st_gid}, not {group}"
        else:  # a file moved in from the spool keeps its group; reading it is all anyone does
            assert st.st_mode & 0o044 == 0o044, f"{path}: {oct(st.st_mode)} is not readable by all"


# --- 3. served ---------------------------------------------------------------------------


def served(host: CoprHost, reports: dict[int, dict[str, Any]], *, run_dir: Path, workdir: Path) -> None:
    (host.root / "var/www/html").mkdir(parents=True)
    with serving(host.root, run_dir=run_dir, config=WRAPPER) as server:
        checkout = workdir / "foo"
        subprocess.run(["git", "clone", "-q", f"{server.url}/git/alice/demo/foo", str(checkout)], check=True)
        for branch, sha in reports[101]["branch_commits"].items():
            assert git(checkout, "rev-parse", f"origin/{branch}") == sha
        for commit in (git(checkout, "rev-parse", "origin/master~1"), reports[101]["branch_commits"]["master"]):
            (entry,) = parse_sources(git(checkout, "show", f"{commit}:sources") + "\n")  # copr's file, then ours
            url = f"{server.url}/repo/pkgs/alice/demo/foo/{entry.filename}/md5/{entry.digest}/{entry.filename}"
            with urllib.request.urlopen(url, timeout=30) as response:
                assert hashlib.md5(response.read()).hexdigest() == entry.digest
        for log in ("1.log", "101.log"):
            with urllib.request.urlopen(f"{server.url}/per-task-logs/{log}", timeout=30) as response:
                assert response.read() == (host.task_logs / log).read_bytes()
        sha = reports[102]["branch_commits"]["f43"]
        with urllib.request.urlopen(f"{server.url}/cgit/alice/demo/baz.git/commit/?id={sha}", timeout=30) as page:
            assert sha.encode() in page.read()


# --- 4. back to copr-dist-git -----------------------------------------------------------


def rolled_back(
    host: CoprHost, srpm: Callable[[str, str], Path], *, reports: dict[int, dict[str, Any]], workdir: Path
) -> None:
    ours = reports[101]["branch_commits"]
    copr = host.copr_import("alice/demo/foo", branches=("f43", "master", "epel9"), srpm=srpm("foo", "3"))
    repo = host.git_root / "alice/demo/foo.git"
    assert git(repo, "rev-parse", f"{copr['f43']}^") == ours["f43"]  # copr goes on from our commits
    assert {b: git(repo, "rev-parse", b) for b in copr} == copr
    (entry,) = parse_sources(git(repo, "show", f"{copr['f43']}:sources") + "\n")
    assert (host.lookaside / "alice/demo/foo" / entry.filename / entry.digest / entry.filename).is_file()
    baz = host.copr_import("alice/demo/baz", branches=("f43",), srpm=srpm("baz", "2"))
    new = host.git_root / "alice/demo/baz.git"
    assert git(new, "rev-parse", f"{baz['f43']}^") == reports[102]["branch_commits"]["f43"]

    pushed_by_another_packager(host, new, workdir=workdir)
    host.copr("refresh")  # copr's monthly full refresh rewrites the list from its own scan
    cgit = host.cgit / "repo-configuration.rc"
    listed = [line.removeprefix("repo.url=") for line in cgit.read_text().splitlines() if line.startswith("repo.url=")]
    assert cgit.read_text() == "".join(copr_stanza(host, url) for url in listed)  # every stanza in copr's form
    assert read_listed(cgit) == {"alice/demo/bar.git", "alice/demo/baz.git", "alice/demo/foo.git"}
    # Ours is recorded as copr's scan names it, so the refresh lists it once (copr's own
    # "owner/project/pkg" records come out twice, beside the scan's "….git").
    assert listed.count("alice/demo/baz.git") == 1

    clone = workdir / "copr-clone"  # what copr's pyrpkg clone by path sees
    subprocess.run(host.as_copr(["git", "clone", "-q", str(new), str(clone)], umask=0o022), env=host.env(), check=True)
    refs = git(clone, "for-each-ref", "--format=%(refname)").split()
    assert all(r.startswith(("refs/heads/", "refs/remotes/origin/")) for r in refs), refs


def pushed_by_another_packager(host: CoprHost, repo: Path, *, workdir: Path) -> None:
    """A member of packager who is not copr-dist-git pushes to a repository the importer created:
    group permissions, not ownership, let copr's people and tools at it."""
    workdir.mkdir(mode=0o777, exist_ok=True)
    workdir.chmod(0o777)
    # As copr's hosts do in /etc/gitconfig (git's local transport ignores GIT_CONFIG_COUNT).
    (workdir / ".gitconfig").write_text("[safe]\n\tdirectory = *\n")
    script = (
        f"git clone -q {repo} {workdir}/admin && cd {workdir}/admin && "
        "git -c user.name=Admin -c user.email=admin@example.org commit -q --allow-empty -m 'by an admin' && "
        "git push -q origin HEAD:refs/heads/admin-note"
    )
    command = host.as_user(["sh", "-c", script], uid=OTHER_PACKAGER, groups=(PACKAGER_GID,), umask=0o022)
    env = {**host.env(), "HOME": str(workdir), "USER": "admin", "LOGNAME": "admin"}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert git(repo, "log", "--format=%s", "-1", "admin-note") == "by an admin"
