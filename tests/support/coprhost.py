"""A copr-dist-git host in a directory, for the drop-in tests: copr's paths under ``root``
(which stands for ``/``), owned and moded as the dist-git and copr-dist-git packages and
copr's cgit script leave them, with copr's configuration files and ours.

* ``var/lib/dist-git/git``                      root:packager 2775 (dist-git.spec)
* ``var/lib/dist-git/cache/lookaside/pkgs``     root:apache 2775 (dist-git.spec: apache:apache)
* ``var/lib/copr-dist-git/per-task-logs``       copr-dist-git 0755 (copr-dist-git.spec)
* ``var/cache/cgit/{repo-configuration.rc, repo-subdirs.list, copr-repo.lock}``
                                                 copr-dist-git:apache 0644 (the cgit script)
* ``var/lib/copr-importer``                      copr-dist-git:packager 0775 (our tmpfiles)
* ``etc/copr/copr-dist-git.conf``, ``etc/dist-git/dist-git.conf``,
  ``etc/copr-importer/importer.toml`` (with ``copr_dist_git_conf``).

Users are numeric: copr-dist-git is :data:`COPR_UID` in groups packager and apache (its
sysusers lines).  When the tests run as root, :meth:`CoprHost.as_copr` runs a command as
that user (setpriv) with the umask its unit gives; otherwise as the current user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from copr_importer.settings import Settings, load_settings

__all__ = ["APACHE_GID", "COPR_UID", "PACKAGER_GID", "CoprHost"]

COPR_UID = 10011
PACKAGER_GID = 10010
APACHE_GID = 10048
REPO_ROOT = Path(__file__).resolve().parents[2]
RPKG_PYTHON = REPO_ROOT / ".venv-rpkg" / "bin" / "python"
# copr's hosts mark every repository safe (/etc/gitconfig): root's git gc and other users' pushes.
SAFE_GIT = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*"}


def _own(path: Path, *, uid: int, gid: int, mode: int) -> None:
    if os.geteuid() == 0:
        os.chown(path, uid, gid)
    path.chmod(mode)


class CoprHost:
    """copr's paths under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.git_root = root / "var/lib/dist-git/git"
        self.lookaside = root / "var/lib/dist-git/cache/lookaside/pkgs"
        self.task_logs = root / "var/lib/copr-dist-git/per-task-logs"
        self.cgit = root / "var/cache/cgit"
        self.state = root / "var/lib/copr-importer"
        self.importer_toml = root / "etc/copr-importer/importer.toml"

    def make(self, *, frontend_url: str, password: str, extra_toml: str = "") -> None:
        """Lay out the directories and write the three configuration files."""
        layout = [
            (self.git_root, 0, PACKAGER_GID, 0o2775),
            (self.lookaside, 0, APACHE_GID, 0o2775),
            (self.task_logs.parent, COPR_UID, COPR_UID, 0o755),
            (self.task_logs, COPR_UID, COPR_UID, 0o755),
            (self.cgit, 0, 0, 0o755),
            (self.state, COPR_UID, PACKAGER_GID, 0o775),
            (self.root / "var/lib/copr-dist-git/home", COPR_UID, COPR_UID, 0o755),
            (self.root / "srv/srpms", 0, 0, 0o755),
        ]
        for path, uid, gid, mode in layout:
            path.mkdir(parents=True, exist_ok=True)
            _own(path, uid=uid, gid=gid, mode=mode)
        for name in ("repo-configuration.rc", "repo-subdirs.list", "copr-repo.lock"):
            (self.cgit / name).touch()
            _own(self.cgit / name, uid=COPR_UID, gid=APACHE_GID, mode=0o644)
        self._write(
            "etc/copr/copr-dist-git.conf",
            f"[dist-git]\nfrontend_base_url={frontend_url}\nfrontend_auth={password}\n"
            f"log_dir=/tmp/copr-dist-git\nper_task_log_dir={self.task_logs}/\n"
            f"lookaside_location={self.lookaside}/\ncgit_cache_file={self.cgit}/repo-configuration.rc\n"
            f"cgit_cache_list_file={self.cgit}/repo-subdirs.list\ncgit_cache_lock_file={self.cgit}/copr-repo.lock\n"
            "redis_host=localhost\nredis_port=6379\n",
        )
        self._write(
            "etc/dist-git/dist-git.conf",
            "[dist-git]\ngit_author_name = Copr Release Engineering\ngit_author_email = copr@example.org\n"
            f"lookaside_dir = {self.lookaside}\ngitroot_dir = {self.git_root}\ngit_gc_depth = 3\n"
            "gitolite = False\ngrok = False\ndefault_branch = master\n",
        )
        self._write(
            "etc/copr-importer/importer.toml",
            f'copr_dist_git_conf = "{self.root}/etc/copr/copr-dist-git.conf"\n'
            f'dist_git_conf = "{self.root}/etc/dist-git/dist-git.conf"\n'
            f'data_dir = "{self.state}"\n' + extra_toml,
        )

    def _write(self, relative: str, text: str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in (path.parent, path.parent.parent):
            parent.chmod(0o755)
        path.write_text(text)
        _own(path, uid=0, gid=COPR_UID, mode=0o640 if "copr-dist-git.conf" in relative else 0o644)

    def settings(self) -> Settings:
        return load_settings(self.importer_toml)

    def public_srpm(self, srpm: Path) -> Path:
        """A copy of ``srpm`` that copr-dist-git's user can read."""
        target = self.root / "srv/srpms" / srpm.name
        shutil.copyfile(srpm, target)
        target.chmod(0o644)
        return target

    def as_user(self, command: list[str], *, uid: int, groups: tuple[int, ...], umask: int) -> list[str]:
        """``command`` run as ``uid`` (primary group ``uid``, also in ``groups``) with ``umask``."""
        shell = ["sh", "-c", f'umask {umask:04o} && exec "$@"', "sh", *command]
        if os.geteuid() != 0:
            return shell
        listed = ",".join(str(g) for g in groups)
        return ["setpriv", f"--reuid={uid}", f"--regid={uid}", f"--groups={listed}", "--", *shell]

    def as_copr(self, command: list[str], *, umask: int) -> list[str]:
        return self.as_user(command, uid=COPR_UID, groups=(PACKAGER_GID, APACHE_GID), umask=umask)

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root / "var/lib/copr-dist-git/home"),
            "USER": "copr-dist-git",
            "LOGNAME": "copr-dist-git",
            "LC_ALL": "C.UTF-8",
            "PYTHONPATH": str(REPO_ROOT / "controller"),
            "COPR_IMPORTER_CONFIG": str(self.importer_toml),
            **SAFE_GIT,
        }

    def copr(self, action: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run tests/support/coprimport.py as copr-dist-git (its unit has no UMask: 0022)."""
        script = [
            str(RPKG_PYTHON),
            str(REPO_ROOT / "tests/support/coprimport.py"),
            action,
            f"--gitroot={self.git_root}",
            f"--lookaside={self.lookaside}",
            f"--cgit-cache={self.cgit}/repo-configuration.rc",
            f"--cgit-list={self.cgit}/repo-subdirs.list",
            f"--cgit-lock={self.cgit}/copr-repo.lock",
            *args,
        ]
        done = subprocess.run(
            self.as_copr(script, umask=0o022), env=self.env(), capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"copr-dist-git's {action} failed: {done.stderr}"
        return done

    def copr_import(self, reponame: str, *, branches: tuple[str, ...], srpm: Path) -> dict[str, str]:
        """copr-dist-git's import of ``srpm`` (made readable for its user); its branch commits."""
        args = [f"--reponame={reponame}", *(f"--branch={b}" for b in branches), f"--srpm={self.public_srpm(srpm)}"]
        done = self.copr("import", *args)
        result: dict[str, str] = json.loads(done.stdout.splitlines()[-1])["branch_commits"]  # after git's chatter
        return result

    def importer_command(self, *args: str) -> list[str]:
        """``copr-importer`` from this checkout as copr-dist-git, with the umask of our unit (0002).
        Python sets the umask itself: setpriv starts it directly, because this checkout's
        interpreter may live where only root's search rights reach (pyenv under /root)."""
        launcher = (
            "import os, runpy, sys; os.umask(0o002); sys.argv[0] = 'copr-importer'; "
            "runpy.run_module('copr_importer', run_name='__main__', alter_sys=True)"
        )
        command = [sys.executable, "-c", launcher, *args]
        if os.geteuid() != 0:
            return command
        groups = f"--groups={PACKAGER_GID},{APACHE_GID}"
        return ["setpriv", f"--reuid={COPR_UID}", f"--regid={COPR_UID}", groups, "--", *command]
