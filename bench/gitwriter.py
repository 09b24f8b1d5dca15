"""Benchmark: the git-writer alone, on requests already in the spool.

Each request carries a spec and two patches (one changes per build) plus one
lookaside entry, for packages whose repositories already exist (the mass
rebuild case); a cold pass that creates the repositories is reported too.

    .venv/bin/python -m bench.gitwriter --packages 50 --builds 10 --branches 1 5

``--git-process-floor`` measures instead what a store that drives git itself would
pay at the least: one ``git fast-import`` process per request, writing the same
blobs and commit and moving the branch under git's own lock (no reads, no
results, no spool): the floor under any design with a git process per commit.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import tempfile
import time
from typing import Any

from copr_importer.adapters.gitstore import GitStore
from copr_importer.adapters.spool import Spool
from copr_importer.app.gitwriter import GitWriter
from copr_importer.core.sources import SourceEntry, render_sources
from copr_importer.settings import Settings, from_mapping

BRANCH_SETS = {1: ["master"], 5: ["el9", "epel10", "f42", "f43", "master"]}


# Where the data directory lives (the disk under it dominates the figures).
WORK_DIR = os.environ.get("BENCH_DIR", tempfile.gettempdir())


def spool_request(spool: Spool, *, build_id: int, pkg: str, version: int, branches: list[str]) -> None:
    staging = spool.stage(build_id)
    files = {
        f"{pkg}.spec": f"Name: {pkg}\nVersion: {version}\nRelease: 1\nSummary: s\nLicense: MIT\n\n%description\nd\n",
        "fix.patch": f"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-{version}\n+{version + 1}\n",
        "static.patch": "--- a/y\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n",
    }
    for name, text in files.items():
        (staging / "files" / name).write_text(text)
    entry = SourceEntry(f"{pkg}-{version}.tar.gz", "md5", f"{version:032x}")
    task = {
        "build_id": build_id,
        "owner": "bench",
        "project": "mass",
        "branches": branches,
        "pkg_name": pkg,
        "srpm_url": "file:///dev/null",
        "sandbox": "s",
        "background": False,
    }
    request = {
        "version": 1,
        "task": task,
        "files": [{"path": n, "executable": False} for n in files],
        "lookaside": [{"filename": entry.filename, "hashtype": "md5", "digest": entry.digest}],
        "sources": render_sources([entry], style="old"),
        "commit_date": f"{1_700_000_000 + build_id} +0000",  # as the import step writes it
    }
    spool.hand_over(staging, build_id=build_id, request=request)


def timed_pass(settings: Settings, *, packages: int, first_build: int, version: int, branches: list[str]) -> float:
    spool = Spool(settings.spool_root)
    for p in range(packages):
        spool_request(spool, build_id=first_build + p, pkg=f"pkg{p:04d}", version=version, branches=branches)
    writer = GitWriter(settings=settings, spool=spool)
    writer.acquire()
    try:
        start = time.perf_counter()
        while spool.request_ids():
            writer.step()
        return time.perf_counter() - start
    finally:
        writer.close()


def probe_fs(folder: str, *, files: int = 300) -> float:
    """Milliseconds to create, write and close one small file there: the figures follow it."""
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        start = time.perf_counter()
        for i in range(files):
            fd = os.open(f"{tmp}/f{i}", os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, b"x" * 100)
            os.close(fd)
        return 1000 * (time.perf_counter() - start) / files


def run(*, packages: int, builds: int, branch_count: int) -> dict[str, Any]:
    branches = BRANCH_SETS[branch_count]
    with tempfile.TemporaryDirectory(dir=WORK_DIR) as tmp:
        settings = from_mapping({"data_dir": tmp})
        cold = timed_pass(settings, packages=packages, first_build=1, version=0, branches=branches)
        warm = 0.0
        for b in range(1, builds + 1):
            warm += timed_pass(settings, packages=packages, first_build=1 + b * packages, version=b, branches=branches)
    requests = packages * builds
    return {
        "dir": WORK_DIR,
        "fs_create_ms": round(probe_fs(WORK_DIR), 3),
        "branches": branch_count,
        "cold_new_repos_per_s": round(packages / cold, 1),
        "requests": requests,
        "requests_per_s": round(requests / warm, 1),
        "commits_per_s": round(requests * branch_count / warm, 1),
        "ms_per_request": round(1000 * warm / requests, 2),
    }


def _floor_files(*, pkg: str, version: int) -> dict[str, str]:
    return {
        f"{pkg}.spec": f"Name: {pkg}\nVersion: {version}\nRelease: 1\nSummary: s\nLicense: MIT\n\n%description\nd\n",
        "fix.patch": f"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-{version}\n+{version + 1}\n",
        "static.patch": "--- a/y\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n",
        "sources": f"{version:032x}  {pkg}-{version}.tar.gz\n",
        ".gitignore": "".join(f"/{pkg}-{v}.tar.gz\n" for v in range(version + 1)),
    }


def _fast_import_stream(*, pkg: str, version: int) -> bytes:
    files = _floor_files(pkg=pkg, version=version)
    message = f"automatic import of {pkg}\n".encode()
    out = [b"feature done\ncommit refs/heads/master\n"]
    out.append(f"committer CoprDistGit <copr-devel@lists.fedorahosted.org> {1700000000 + version} +0000\n".encode())
    out.append(b"data %d\n%s" % (len(message), message))
    out.append(b"from refs/heads/master^0\n")
    for name, text in files.items():
        data = text.encode()
        out.append(b"M 100644 inline %s\ndata %d\n%s\n" % (name.encode(), len(data), data))
    out.append(b"done\n")
    return b"".join(out)


def _store_commit(store: GitStore, *, pkg: str, version: int) -> None:
    """The same request through the store (libgit2): blobs, tree, commit, compare-and-swap."""
    repo, _ = store.open(owner="bench", project="mass", pkg=pkg)
    head = repo.branch("master")
    assert head is not None
    flat = repo.read_tree(repo.read_commit(head).tree)
    for name, text in _floor_files(pkg=pkg, version=version).items():
        flat[name] = ("100644", repo.write_blob(text.encode()))
    sha = repo.commit(tree=repo.write_tree(flat), parents=(head,), message=f"automatic import of {pkg}")
    repo.set_branch("master", sha=sha)


def git_process_floor(*, packages: int, builds: int) -> list[dict[str, Any]]:
    """Requests per second with one ``git fast-import`` per request (see the module docstring),
    and with the store doing the same work in-process, on the same kind of repositories."""
    figures = []
    for design in ("one git fast-import per request", "the store (libgit2), same work"):
        with tempfile.TemporaryDirectory(dir=WORK_DIR) as tmp:
            settings = from_mapping({"data_dir": tmp})
            timed_pass(settings, packages=packages, first_build=1, version=0, branches=["master"])
            store = GitStore(settings.git_root, settings=settings.git)
            start = time.perf_counter()
            for version in range(1, builds + 1):
                for p in range(packages):
                    if design.startswith("one git"):
                        repo = settings.git_root / "bench" / "mass" / f"pkg{p:04d}.git"
                        stream = _fast_import_stream(pkg=f"pkg{p:04d}", version=version)
                        command = ["git", "--git-dir", str(repo), "fast-import", "--quiet"]
                        subprocess.run(command, input=stream, check=True)
                    else:
                        _store_commit(store, pkg=f"pkg{p:04d}", version=version)
            elapsed = time.perf_counter() - start
            store.close()
        requests = packages * builds
        figures.append(
            {
                "dir": WORK_DIR,
                "design": design,
                "requests": requests,
                "commits_per_s": round(requests / elapsed, 1),
                "ms_per_request": round(1000 * elapsed / requests, 2),
            }
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", type=int, default=50)
    parser.add_argument("--builds", type=int, default=10)
    parser.add_argument("--branches", type=int, nargs="+", default=[1, 5], choices=sorted(BRANCH_SETS))
    parser.add_argument("--git-process-floor", action="store_true", help="measure one git process per request instead")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().handlers[0].setLevel(logging.WARNING)  # per-task logs still get INFO
    if args.git_process_floor:
        for figure in git_process_floor(packages=args.packages, builds=args.builds):
            print(json.dumps(figure), flush=True)
        return
    for count in args.branches:
        print(json.dumps(run(packages=args.packages, builds=args.builds, branch_count=count)), flush=True)


if __name__ == "__main__":
    main()
