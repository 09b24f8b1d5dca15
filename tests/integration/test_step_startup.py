"""What an import Job's process pays for besides its import: the modules it loads,
and its exit.

``copr-importer import-step`` loads no module that only another command or another
kind of task needs (each import Job starts a fresh interpreter, so every module is
paid for once per build); the pooled workers, which live long, load the source
providers up front, in the zygote they are forked from.  The console script ends a
one-shot command without the interpreter's module teardown, but still with what an
ordinary exit does that anyone could see: the exit code, ``atexit`` handlers,
finalizers of unreachable objects, the standard streams' buffers (a success whose
stdout cannot be flushed exits 120, as the interpreter's own exit does; a failure
keeps its code); and it takes the ordinary exit whenever another thread is still
running.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO

import pytest

pytestmark = pytest.mark.integration

# Top-level packages and our own modules the import step of an SRPM task never uses.
NOT_FOR_THE_STEP = {
    "kubernetes",  # the controller's executor only
    "git",  # GitPython: the git-writer's
    "pygit2",  # the git-writer's store
    "prometheus_client",  # the controller's and the writer's telemetry
    "jinja2",  # spec templates of the PyPI and RubyGems providers; the Job template
    "yaml",  # gem metadata (RubyGems provider); manifests
    "copr_importer.adapters.providers.pypi",
    "copr_importer.adapters.providers.rubygems",
    "copr_importer.adapters.providers.scm",
    "copr_importer.adapters.kube",
    "copr_importer.app.gitwriter",
}


def loaded_by(code: str) -> set[str]:
    """The names in ``sys.modules`` after a fresh interpreter has run ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(done.stdout.splitlines()[-1].split())


def test_the_import_step_loads_only_what_an_srpm_task_needs() -> None:
    # What the step has loaded when it starts its work: its command's parser built,
    # the arguments parsed (the same modules as a run; --help stops right there).
    loaded = loaded_by(
        "import sys, runpy\n"
        "sys.argv = ['copr-importer', 'import-step', '--help']\n"
        "try:\n"
        "    runpy.run_module('copr_importer', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass"
    )
    assert "copr_importer.app.importstep" in loaded  # the probe did load the step
    unwanted = {name for name in loaded if name in NOT_FOR_THE_STEP or name.split(".")[0] in NOT_FOR_THE_STEP}
    assert unwanted == set()


def test_pooled_workers_get_the_providers_from_their_zygote() -> None:
    loaded = loaded_by("import copr_importer.app.worker")
    assert {"copr_importer.adapters.providers.pypi", "copr_importer.adapters.providers.rubygems"} <= loaded
    assert {"copr_importer.adapters.providers.scm", "jinja2", "yaml"} <= loaded


def run_console(
    tmp_path: Path, *, command: str, body: str, stdout: int | IO[str] = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    """``console()`` for ``copr-importer <command>``, in a fresh interpreter, with ``main``
    replaced by ``body`` (the lines of a function that returns the exit code)."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import atexit, sys, threading, time\n"
        "from pathlib import Path\n"
        "import copr_importer.cli as cli\n"
        f"out = Path({str(tmp_path)!r})\n"
        "def fake_main():\n"
        + "".join(f"    {line}\n" for line in body.splitlines())
        + f"sys.argv = ['copr-importer', {command!r}]\n"
        "cli.main = fake_main\n"
        "cli.console()\n"
    )
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffered, as a pipe's is
    return subprocess.run(
        [sys.executable, str(script)], stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120, env=buffered
    )


ONE_COMMAND = """
atexit.register(lambda: (out / "atexit").write_text("ran"))
class Cycle:
    def __del__(self):
        (out / "finalized").write_text("ran")
cycle = Cycle()
cycle.me = cycle
del cycle
sys.stdout.write("buffered, no newline")
sys.stderr.write("the outcome")
return 65"""


@pytest.mark.parametrize("command", ["import-step", "render"])
def test_the_console_exit_keeps_what_an_ordinary_exit_does(tmp_path: Path, command: str) -> None:
    done = run_console(tmp_path, command=command, body=ONE_COMMAND)
    assert done.returncode == 65, done.stderr
    assert (done.stdout, done.stderr) == ("buffered, no newline", "the outcome")
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "finalized").read_text() == "ran"


def test_a_one_shot_command_with_a_thread_still_running_exits_the_ordinary_way(tmp_path: Path) -> None:
    # The interpreter's exit waits for a non-daemon thread; so does the console's.
    body = (
        "def late():\n"
        "    time.sleep(0.5)\n"
        '    (out / "thread").write_text("finished")\n'
        "threading.Thread(target=late).start()\n"
        "return 0"
    )
    done = run_console(tmp_path, command="import-step", body=body)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "thread").read_text() == "finished"


@pytest.mark.parametrize(
    ("command", "returned", "status"), [("import-step", 0, 120), ("render", 0, 120), ("import-step", 65, 65)]
)
def test_stdout_that_cannot_be_flushed_fails_a_success(
    tmp_path: Path, command: str, returned: int, status: int
) -> None:
    # /dev/full refuses every write: the interpreter's own exit turns success into 120.
    with open("/dev/full", "w") as full:
        done = run_console(tmp_path, command=command, body=f'print("lost")\nreturn {returned}', stdout=full)
    assert done.returncode == status, done.stderr
