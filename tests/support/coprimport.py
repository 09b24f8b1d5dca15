"""copr-dist-git's side of a host, for the migration tests: what its worker and its cgit
script do, with the same tools (pyrpkg, git, flock), run by ``.venv-rpkg``'s Python.

copr-dist-git itself is not installable here (it is not on PyPI and needs Redis and
copr-common); rpkg is.  This script does what copr's ``package_import.import_package``
does with pyrpkg, as reference §3 describes it, written for these tests:

``import``   dist-git's ``setup_git_package`` (``git init --shared --bare`` under umask
             0002, the hooks directory, an "Initial setup of the repo" commit pushed to
             the default branch; "exists" judged from the loose ref file, as the
             script does) and ``mkbranch`` (a missing branch at the default branch's
             root commit); cgit's single-repository refresh for a new repository; then
             pyrpkg: a full clone by local path (hooks skipped), ``import_srpm`` on
             the first branch, ``upload`` with the lookaside "upload" replaced by a
             plain copy into ``<lookaside>/<o>/<p>/<pkg>/<file>/<md5>/<file>``,
             ``commit``, ``push``; the other branches fast-forwarded or reset to the
             first with a commit.  Prints ``{"branch_commits": {...}}``.
``refresh``  copr-dist-git-refresh-cgit's full run: scan ``<gitroot>/*/*/*`` outside
             the lock, then under ``flock`` on the lock file merge the scan with the
             repository list and rewrite the include file (``--scan-to``/``--scan-from``
             run the two halves separately).

Run as the copr-dist-git user (the tests use setpriv).  Not part of the product.
"""

from __future__ import annotations

import argparse
import fcntl
import getpass
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# pyrpkg asks os.getlogin(), which needs a terminal; copr-dist-git answers with the
# process's user (here from $USER: the tests' numeric users have no passwd entry).
os.getlogin = getpass.getuser  # type: ignore[assignment]

from pyrpkg import Commands  # noqa: E402
from pyrpkg.errors import rpkgError  # noqa: E402


def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, check=check, capture_output=True, text=True)


@contextmanager
def cgit_lock(path: Path) -> Any:
    with open(path, "w") as lock:  # the script's 9>"$lockfile"
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def stanza(gitroot: Path, subpath: str) -> str:
    if not subpath.endswith(".git"):
        subpath += ".git"
    return f"\nrepo.url={subpath}\nrepo.path={gitroot}/{subpath}/\n"


def setup_git_package(args: argparse.Namespace, reponame: str) -> bool:
    """True if the repository was (judged) new, as the script's exit code 0."""
    old = os.umask(0o002)
    try:
        repo = args.gitroot / f"{reponame}.git"
        if (repo / "refs" / "heads" / args.default_branch).is_file():
            return False
        repo.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "--shared", "--bare", cwd=repo)
        (repo / "hooks" / "post-receive-chained.d").mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory() as work:
            git("init", "-q", "-b", args.default_branch, work)
            (Path(work) / ".gitignore").touch()
            git("config", "user.name", args.author_name, cwd=Path(work))
            git("config", "user.email", args.author_email, cwd=Path(work))
            git("add", ".", cwd=Path(work))
            git("commit", "-q", "-m", "Initial setup of the repo", cwd=Path(work))
            git("remote", "add", "origin", str(repo), cwd=Path(work))
            git("push", "-q", "origin", args.default_branch, cwd=Path(work), check=False)  # no set -e
        return True
    finally:
        os.umask(old)


def mkbranch(args: argparse.Namespace, reponame: str, branch: str) -> None:
    old = os.umask(0o002)
    try:
        repo = args.gitroot / f"{reponame}.git"
        if git("rev-parse", "-q", "--verify", branch, cwd=repo, check=False).returncode == 0:
            return  # exit 128: the branch exists
        root = git("rev-list", "--max-parents=0", args.default_branch, cwd=repo).stdout.split()[0]
        git("branch", "--no-track", branch, root, cwd=repo)
    finally:
        os.umask(old)


def refresh_single(args: argparse.Namespace, reponame: str) -> None:
    with cgit_lock(args.cgit_lock):
        with open(args.cgit_list, "a") as listing:
            listing.write(f"{reponame}\n")
        with open(args.cgit_cache, "a") as cache:
            cache.write(stanza(args.gitroot, reponame))


def refresh_full(args: argparse.Namespace) -> None:
    """The full run.  Like the script, it scans before taking the lock; ``--scan-to`` stops
    after the scan (written to a file, the script's $newlistfile) and ``--scan-from`` goes
    on from such a file, so that a test can put a writer between the two halves."""
    if args.scan_from:
        scan = args.scan_from.read_text().split()
    else:
        scan = sorted(p.relative_to(args.gitroot).as_posix() for p in args.gitroot.glob("*/*/*") if p.is_dir())
    if args.scan_to:
        args.scan_to.write_text("".join(f"{line}\n" for line in scan))
        return
    with cgit_lock(args.cgit_lock):
        known = args.cgit_list.read_text().split() if args.cgit_list.exists() else []
        merged = sorted(set(scan) | set(known))
        args.cgit_list.write_text("".join(f"{line}\n" for line in merged))
        text = "".join(stanza(args.gitroot, line) for line in merged)
        with open(args.cgit_cache, "w") as cache:  # cp -f onto the file cgit reads
            cache.write(text)


def load_commands(args: argparse.Namespace, reponame: str, work: Path) -> Commands:
    commands = Commands(
        path=str(work),
        lookaside="",
        lookasidehash="md5",
        lookaside_cgi="",
        gitbaseurl=f"{args.gitroot}/%(module)s",
        anongiturl="",
        branchre="",
        kojiprofile="",
        build_client="",
        allow_pre_generated_srpm=True,
    )
    commands.repo_name = reponame

    def copy_into_lookaside(_: object, name: str, path: str, digest: str, offline: bool = False) -> None:
        target = args.lookaside / name / os.path.basename(path) / digest / os.path.basename(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            shutil.copyfile(path, target)

    commands.lookasidecache.upload = types.MethodType(copy_into_lookaside, str(work))
    return commands


def sync_branch(branch_commits: dict[str, str], message: str, work: Path) -> None:
    for branch in branch_commits:
        if git("merge", branch, "--ff-only", cwd=work, check=False).returncode == 0:
            return
    first = next(iter(branch_commits))
    git("read-tree", "-m", "-u", first, cwd=work)
    date = git("show", first, "-q", "--format=%ai", cwd=work).stdout.strip()
    if git("diff", "--cached", "--exit-code", cwd=work, check=False).returncode:
        git("commit", "--no-verify", "-m", message, "--date", date, cwd=work)


def import_package(args: argparse.Namespace) -> dict[str, str]:
    reponame = args.reponame
    if setup_git_package(args, reponame):
        refresh_single(args, reponame)
    for branch in args.branch:
        mkbranch(args, reponame, branch)
    work = Path(tempfile.mkdtemp())
    commands = load_commands(args, reponame, work)
    commands.clone(reponame, target=str(work), skip_hooks=True)
    os.chdir(work)
    git("config", "user.name", args.user_name, cwd=work)
    git("config", "user.email", args.user_email, cwd=work)
    message = f"automatic import of {reponame.rsplit('/', 1)[1]}"
    branch_commits: dict[str, str] = {}
    for branch in args.branch:
        commands.switch_branch(branch)
        if not branch_commits:
            uploads = commands.import_srpm(args.srpm, check_specfile_matches_repo_name=False)
            commands = load_commands(args, reponame, work)  # pyrpkg's state is stale after an import
            if uploads:
                commands.upload(uploads, replace=True)
            try:
                commands.commit(message)
            except rpkgError as exc:  # nothing to commit
                print(f"commit: {exc}", file=sys.stderr)
        else:
            sync_branch(branch_commits, message, work)
        commands.push()
        commands.load_commit()
        branch_commits[branch] = commands.commithash
    shutil.rmtree(work)
    return branch_commits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["import", "refresh"])
    parser.add_argument("--gitroot", type=Path, required=True)
    parser.add_argument("--lookaside", type=Path)
    parser.add_argument("--cgit-cache", type=Path, required=True)
    parser.add_argument("--cgit-list", type=Path, required=True)
    parser.add_argument("--cgit-lock", type=Path, required=True)
    parser.add_argument("--default-branch", default="master")
    parser.add_argument("--author-name", default="Copr Release Engineering")
    parser.add_argument("--author-email", default="copr@example.org")
    parser.add_argument("--user-name", default="CoprDistGit")
    parser.add_argument("--user-email", default="copr-devel@lists.fedorahosted.org")
    parser.add_argument("--reponame")
    parser.add_argument("--branch", action="append", default=[])
    parser.add_argument("--srpm")
    parser.add_argument("--scan-to", type=Path)
    parser.add_argument("--scan-from", type=Path)
    args = parser.parse_args()
    if args.action == "refresh":
        refresh_full(args)
        return
    print(json.dumps({"branch_commits": import_package(args)}))


if __name__ == "__main__":
    main()
