"""Settings as an operator meets them, through the real command: a bad value stops every
command with one line before anything starts; the default file and $COPR_IMPORTER_CONFIG;
copr-dist-git.conf's defaults and warnings; ``--version``; ``status`` finding the
controller from the settings."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from copr_importer import __version__
from tests.support.frontend_stub import FrontendStub
from tests.support.pipeline import cli, frontend_config
from tests.support.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "controller"), **(env or {})}
    return subprocess.run(cli(*args), env=environ, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    ("toml", "line"),
    [
        ('[executor]\nworkers = "ten"\n', 'executor.workers = "ten": expected an integer >= 0'),
        ('[frontend]\npoll_interval = "fast"\n', 'frontend.poll_interval = "fast": expected a number >= 0'),
        ('[download]\nmax_bytes = "8G"\n', 'download.max_bytes = "8G": expected a byte count or a size such as 8GiB'),
        ('frontend_base_ur1 = "http://x"\n', "unknown setting frontend_base_ur1 (did you mean frontend.base_url?)"),
    ],
)
@pytest.mark.parametrize("command", [("run", "x.src.rpm"), ("git-writer",), ("expire-logs",), ("status", "--once")])
def test_a_bad_value_stops_any_command_with_one_line_before_anything_starts(
    tmp_path: Path, toml: str, line: str, command: tuple[str, ...]
) -> None:
    data = tmp_path / "data"
    config = tmp_path / "importer.toml"
    config.write_text(f'data_dir = "{data}"\n' + toml)
    done = run(command[0], "--config", str(config), *command[1:])
    assert done.returncode == 2, done
    assert done.stderr.startswith(f"copr-importer: {config}: {line}")
    assert done.stderr.count("\n") == 1 and done.stdout == ""
    assert not data.exists()  # nothing was started, nothing was written


def test_sizes_with_units_are_taken_by_a_real_import(tmp_path: Path, srpm_factory: Callable[..., Path]) -> None:
    config = tmp_path / "importer.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[download]\nmax_bytes = "8GiB"\n')
    done = run("run", "--config", str(config), str(srpm_factory(name="hello")))
    assert done.returncode == 0, done.stderr
    assert "imported local/samples/hello" in done.stdout
    small = tmp_path / "small.toml"
    small.write_text(f'data_dir = "{tmp_path / "data2"}"\n[download]\nmax_bytes = "1 KiB"\n[unpack]\nmax_files = 1\n')
    refused = run("run", "--config", str(small), "--owner", "o", str(srpm_factory(name="hello", version="2")))
    assert refused.returncode == 1 and "srpm_too_large" in refused.stdout  # 1 KiB really is the limit


def test_the_environment_names_the_settings_file_when_the_command_line_does_not(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text(f'data_dir = "{tmp_path}/d"\n[executor]\nworkers = 7\n')
    done = run("config", "executor.workers", env={"COPR_IMPORTER_CONFIG": str(config)})
    assert (done.returncode, done.stdout) == (0, "7\n"), done.stderr
    defaults = run("config", "executor.workers", env={"COPR_IMPORTER_CONFIG": ""})
    assert defaults.stdout == "4\n"  # empty: no file, the built-in local defaults
    missing = run("config", env={"COPR_IMPORTER_CONFIG": str(tmp_path / "missing.toml")})
    assert missing.returncode == 2 and f"cannot read settings {tmp_path / 'missing.toml'}" in missing.stderr
    shown = run("config", "--config", str(config))
    assert tomllib.loads(shown.stdout)["executor"]["workers"] == 7  # the whole listing is TOML


def test_copr_dist_git_conf_gives_coprs_defaults_and_names_what_it_does_not_understand(tmp_path: Path) -> None:
    conf = tmp_path / "copr-dist-git.conf"
    conf.write_text(
        "[dist-git]\nfrontend_base_ur1=https://copr.example\nfrontend_auth=hunter2\nredis_host=localhost\n"
        "log_dir=/tmp/copr-dist-git\n"
    )
    done = run("config", "--config", str(conf), "--log-format", "text")
    assert done.returncode == 0, done.stderr
    shown = tomllib.loads(done.stdout)
    assert shown["executor"]["workers"] == 10
    assert shown["lookaside_dir"] == "/var/lib/dist-git/cache/lookaside/pkgs"
    assert shown["per_task_log_dir"] == "/var/lib/copr-dist-git/per-task-logs"
    assert shown["cgit_lock"] == "/var/cache/cgit/copr-repo.lock"
    assert "hunter2" not in done.stdout  # the password is never printed
    assert "frontend_base_ur1 is not a copr-dist-git setting, ignored (did you mean frontend_base_url?)" in done.stderr
    assert "redis_host: no Redis" in done.stderr and "log_dir: logs go to stderr" in done.stderr


def test_version() -> None:
    done = run("--version")
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert done.stdout == f"copr-importer {__version__}\n" and __version__ == pyproject["project"]["version"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_status_reads_the_controllers_address_from_the_settings(frontend: FrontendStub, tmp_path: Path) -> None:
    port = _free_port()
    extra = f'[telemetry]\nlisten = "127.0.0.1:{port}"\n'
    config = frontend_config(tmp_path, frontend_url=frontend.url, data=tmp_path / "data", extra=extra)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "controller")}
    log = (tmp_path / "controller.log").open("wb")
    controller = subprocess.Popen(cli("run", "--config", str(config)), env=env, stdout=log, stderr=log)
    try:

        def answered() -> bool:
            return run("status", "--once", "--json", "--config", str(config)).returncode == 0

        wait_until(answered, timeout=60, what="status --config to reach the controller")
        by_env = run("status", "--once", env={"COPR_IMPORTER_CONFIG": str(config)})
        assert by_env.returncode == 0 and "queue" in by_env.stdout, by_env.stderr
    finally:
        controller.send_signal(signal.SIGTERM)
        controller.wait(timeout=60)
        log.close()
