"""The RPM package (packaging/copr-importer.spec) as far as this Debian machine can take it:
rpmbuild makes a noarch package from a source tarball of this checkout; its payload has the
expected files; systemd-analyze verify accepts every unit (no systemd as PID 1 needed: it
loads the units offline, from a root directory holding the payload and the machine's own
units); systemd-sysusers and systemd-tmpfiles make copr-dist-git's user and the
directories in that root; the packaged program runs; and the command lines the units run
do what the units' comments promise."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from copr_importer import __version__
from tests.support.coprhost import REPO_ROOT

SPEC = REPO_ROOT / "packaging" / "copr-importer.spec"
UNITS = (
    "copr-importer.service",
    "copr-importer-storage@expire-logs.service",
    "copr-importer-storage@gc-lookaside.service",
    "copr-importer-storage@prune-projects.service",
    "copr-importer-storage@maintain-repos.service",
    "copr-importer-expire-logs.timer",
    "copr-importer-gc-lookaside.timer",
    "copr-importer-prune-projects.timer",
    "copr-importer-maintain-repos.timer",
)


@dataclass(frozen=True)
class Built:
    rpm: Path
    root: Path
    """The payload unpacked, beside a copy of this machine's systemd units."""

    @property
    def site_packages(self) -> Path:
        (package,) = self.root.glob("usr/lib/python3*/*-packages/copr_importer")
        return package.parent


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: install Debian's {package!r} package (scripts/install --test does)")
    return path


def _source_tarball(target: Path) -> None:
    """This checkout's files (tracked, and new ones not ignored) as copr-importer-<version>/."""
    listed = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    names = [n.decode() for n in listed if n and (REPO_ROOT / n.decode()).is_file()]
    prefix = f"copr-importer-{__version__}/"
    subprocess.run(
        ["tar", "-C", str(REPO_ROOT), "--null", "-T", "-", f"--transform=s|^|{prefix}|", "-czf", str(target)],
        input="\0".join(names).encode(),
        check=True,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    _tool("rpmbuild", "rpm")
    _tool("cpio", "cpio")
    top = tmp_path_factory.mktemp("rpmbuild")
    (top / "SOURCES").mkdir()
    _source_tarball(top / "SOURCES" / f"copr-importer-{__version__}.tar.gz")
    # --nodeps: the build dependencies are Fedora's packages, unknown to Debian's rpm database.
    done = subprocess.run(
        ["rpmbuild", "-bb", "--nodeps", "--define", f"_topdir {top}", str(SPEC)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (rpm,) = (top / "RPMS" / "noarch").glob("copr-importer-*.noarch.rpm")
    root = tmp_path_factory.mktemp("root")
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    payload = subprocess.run(["rpm2cpio", str(rpm)], check=True, capture_output=True).stdout
    subprocess.run(["cpio", "-idm", "--quiet"], cwd=root, input=payload, check=True)
    yield Built(rpm=rpm, root=root)


def rpm_query(rpm: Path, *args: str) -> list[str]:
    return subprocess.run(["rpm", "-qp", *args, str(rpm)], check=True, capture_output=True, text=True).stdout.split(
        "\n"
    )[:-1]


def test_the_spec_version_is_the_package_version() -> None:
    (version,) = re.findall(r"^Version:\s*(\S+)$", SPEC.read_text(), re.MULTILINE)
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version == pyproject == __version__


def test_the_package_is_noarch_and_holds_the_expected_files(built: Built) -> None:
    assert rpm_query(built.rpm, "--qf", "%{NAME} %{VERSION} %{ARCH}\n") == [f"copr-importer {__version__} noarch"]
    files = set(rpm_query(built.rpm, "-l"))
    expected = {
        "/usr/bin/copr-importer",
        "/etc/copr-importer/importer.toml",
        "/etc/httpd/conf.d/copr-importer.conf",
        "/usr/share/copr-importer/cgitrc",
        "/usr/lib/sysusers.d/copr-importer.conf",
        "/usr/lib/tmpfiles.d/copr-importer.conf",
        "/usr/lib/systemd/system/copr-importer.service",
        "/usr/lib/systemd/system/copr-importer-storage@.service",
        "/usr/lib/systemd/system/copr-importer-storage@expire-logs.service.d/apply.conf",
        *(f"/usr/lib/systemd/system/copr-importer-{t}.timer" for t in ("expire-logs", "gc-lookaside")),
        *(f"/usr/lib/systemd/system/copr-importer-{t}.timer" for t in ("prune-projects", "maintain-repos")),
    }
    assert expected <= files, expected - files
    site = "/" + built.site_packages.relative_to(built.root).as_posix()
    sources = {p.relative_to(REPO_ROOT / "controller").as_posix() for p in (REPO_ROOT / "controller").rglob("*.py")}
    shipped = {
        f.removeprefix(site + "/") for f in files if f.startswith(site + "/copr_importer/") and f.endswith(".py")
    }
    assert shipped == sources  # every module, nothing else
    assert f"{site}/copr_importer/templates/job.yaml.j2" in files
    docs = {Path(f).name for f in files if f.startswith("/usr/share/doc/")}
    assert docs >= {"README.md", "migration.md", "storage.md", "operations.md"}
    assert set(rpm_query(built.rpm, "-c")) == {
        "/etc/copr-importer/importer.toml",
        "/etc/httpd/conf.d/copr-importer.conf",
    }


def test_systemd_analyze_verify_accepts_every_unit(built: Built) -> None:
    _tool("systemd-analyze", "systemd")
    for unit in UNITS:
        done = subprocess.run(
            ["systemd-analyze", "verify", f"--root={built.root}", unit], capture_output=True, text=True
        )
        # verify exits 0 on unknown keys too: any line it prints is a finding.
        assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), unit


def test_systemd_analyze_verify_would_catch_a_broken_unit(built: Built, tmp_path: Path) -> None:
    """The check above can fail: the same unit with a missing program or a typo is refused."""
    units = built.root / "usr/lib/systemd/system"
    original = (units / "copr-importer.service").read_text()
    for broken, finding in (
        (original.replace("/usr/bin/copr-importer run", "/usr/bin/copr-importr run"), "is not executable"),
        (original.replace("UMask=0002", "UMsk=0002"), "Unknown key 'UMsk'"),
    ):
        (units / "copr-importer-broken.service").write_text(broken)
        done = subprocess.run(
            ["systemd-analyze", "verify", f"--root={built.root}", "copr-importer-broken.service"],
            capture_output=True,
            text=True,
        )
        assert finding in done.stderr
    (units / "copr-importer-broken.service").unlink()


def test_sysusers_and_tmpfiles_make_coprs_user_and_the_directories(built: Built) -> None:
    root = built.root
    (root / "etc").mkdir(exist_ok=True)
    subprocess.run([_tool("systemd-sysusers", "systemd"), f"--root={root}"], check=True, capture_output=True)
    users = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
    groups = {line.split(":")[0]: line.split(":") for line in (root / "etc/group").read_text().splitlines()}
    copr = users["copr-dist-git"]
    assert copr[5] == "/var/lib/copr-dist-git" and copr[3] == groups["copr-dist-git"][2]
    assert "copr-dist-git" in groups["packager"][3].split(",") and "copr-dist-git" in groups["apache"][3].split(",")
    tmpfiles = _tool("systemd-tmpfiles", "systemd")
    subprocess.run([tmpfiles, "--create", f"--root={root}", "copr-importer.conf"], check=True, capture_output=True)
    for path, owner, group, mode in (
        ("var/lib/copr-importer", "copr-dist-git", "packager", 0o775),
        ("var/lib/copr-dist-git", "copr-dist-git", "copr-dist-git", 0o755),
        ("var/lib/copr-dist-git/per-task-logs", "copr-dist-git", "copr-dist-git", 0o755),
    ):
        st = (root / path).stat()
        assert (str(st.st_uid), str(st.st_gid), st.st_mode & 0o7777) == (
            users[owner][2],
            groups[group][2],
            mode,
        ), path


def _packaged(built: Built, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The packaged /usr/bin/copr-importer, importing the packaged modules (with this
    environment's dependencies: Fedora's come as RPMs)."""
    environ = {"PATH": os.environ["PATH"], "PYTHONPATH": str(built.site_packages), **(env or {})}
    script = built.root / "usr/bin/copr-importer"
    return subprocess.run([sys.executable, str(script), *args], env=environ, capture_output=True, text=True)


def test_the_packaged_program_runs_with_the_packaged_settings(built: Built, tmp_path: Path) -> None:
    done = _packaged(built, "--version")
    assert done.stdout == f"copr-importer {__version__}\n", done.stderr
    where = _packaged(built, "config", "--config", str(built.root / "etc/copr-importer/importer.toml"), "data_dir")
    assert where.stdout == "/var/lib/copr-importer\n", where.stderr
    # The shipped file with its copr line switched on reads copr's files.
    copr = tmp_path / "copr-dist-git.conf"
    copr.write_text("[dist-git]\nfrontend_base_url=https://copr.example\nfrontend_auth=pw\n")
    shipped = (built.root / "etc/copr-importer/importer.toml").read_text()
    on = tmp_path / "importer.toml"
    on.write_text(
        shipped.replace('#copr_dist_git_conf = "/etc/copr/copr-dist-git.conf"', f'copr_dist_git_conf = "{copr}"')
    )
    assert on.read_text() != shipped
    url = _packaged(built, "config", "--config", str(on), "frontend.base_url")
    assert url.stdout == "https://copr.example\n", url.stderr
    module = _packaged(built, "config", "--config", str(on), "executor.workers")
    assert module.stdout == "10\n"


def _unit_command(built: Built, instance: str) -> list[str]:
    """The command copr-importer-storage@<instance>.service runs: its ExecStart with %i and
    the Environment= of the unit and its drop-ins expanded (as systemd expands $VAR: one
    word each, an empty one vanishing)."""
    units = built.root / "usr/lib/systemd/system"
    texts = [(units / "copr-importer-storage@.service").read_text()]
    texts += [p.read_text() for p in sorted(units.glob(f"copr-importer-storage@{instance}.service.d/*.conf"))]
    env: dict[str, str] = {}
    exec_start = ""
    for text in texts:
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key == "Environment":
                name, _, val = value.partition("=")
                env[name] = val
            elif key == "ExecStart":
                exec_start = value
    words: list[str] = []
    for word in exec_start.replace("%i", instance).split():
        value = env.get(word[1:], "") if word.startswith("$") else word
        if value:
            words.append(value)
    return words


def test_the_timers_run_dry_runs_but_expire_logs_deletes(built: Built, tmp_path: Path) -> None:
    assert _unit_command(built, "expire-logs") == ["/usr/bin/copr-importer", "expire-logs", "--apply"]
    assert _unit_command(built, "gc-lookaside") == ["/usr/bin/copr-importer", "gc-lookaside"]
    data = tmp_path / "data"
    (data / "per-task-logs").mkdir(parents=True)
    old = data / "per-task-logs" / "7.log"
    old.write_text("an import long ago\n")
    os.utime(old, (0, 0))
    config = tmp_path / "importer.toml"
    config.write_text(f'data_dir = "{data}"\n')
    for instance in ("gc-lookaside", "prune-projects"):
        program, *args = _unit_command(built, instance)
        assert (built.root / program.lstrip("/")).is_file()
        extra = ["--project", "alice/gone"] if instance == "prune-projects" else []
        done = _packaged(built, *args, *extra, env={"COPR_IMPORTER_CONFIG": str(config)})
        assert done.returncode == 0 and "dry run: nothing was deleted" in done.stdout, done.stderr
    _, *args = _unit_command(built, "expire-logs")
    done = _packaged(built, *args, env={"COPR_IMPORTER_CONFIG": str(config)})
    assert done.returncode == 0 and "removed 1 item(s)" in done.stdout, done.stdout + done.stderr
    assert not old.exists()
