"""Benchmark: what one ``copr-importer import-step`` process costs, from exec to exit.

Each run starts the command the job image's entry point runs (``copr-importer
import-step --data-dir ... --config ... --termination-log ... --task-json ...``, the
Job template's arguments), as a fresh process, as every import Job does, for a task
of one kind:

* ``srpm``: a small SRPM (one 4 KiB binary source, made with rpmbuild as the tests
  make them) downloaded from 127.0.0.1;
* ``pypi``: a PyPI source build from a simple index on 127.0.0.1 (the real
  ``six-1.16.0`` sdist under distinct names, see bench/providers.py), which runs
  ``rpmbuild -bs``;

and, for comparison, ``python -c pass``.  Every kind runs twice: as the console
script itself (the image's ENTRYPOINT; skip with ``--script ''``), and as the same
script's code under ``python -c`` with marks that split the process into the
interpreter's start (exec to the script's first line), the imports (``copr_importer.cli``
and the step's command module), the work (``main()``; the CPU of the children it
reaped, rpmbuild, apart) and the exit (the interpreter's finalization).  CPU is
user + system seconds: ``wait4``'s rusage for the whole process, ``getrusage`` at
the marks.  Wall is from before the fork to ``wait4``'s return.  Medians and
quartiles over ``--runs`` runs; the servers run in this process and are not
counted.  ``--importtime`` adds one ``-X importtime`` run per kind and prints the
slowest modules by cumulative time and the self time per top-level package
(wall-clock, so noisy under load).

    .venv/bin/python -m bench.stepstart --runs 30 --importtime
    .venv/bin/python -m bench.stepstart --python '.venv/bin/python -I' --script ''

Another version of the code (say main's, for a before/after): a copy of its
``controller/`` first on the path, without the console script (which is this
checkout's): ``PYTHONPATH=<copy>/controller ... --script ''``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.support.sourceservers import Route, RouteServer, pypi_routes
from tests.support.srpms import binary_tarball, build_srpm

from bench.providers import generate, records

# The console script (what the image's ENTRYPOINT runs: ``console()``, or ``main()``
# before it existed), reporting to a pipe the process's own CPU and wall clock at three
# points: the interpreter has started (the first line of the script), the step's modules
# are imported, ``main`` has returned; and the CPU of the children it reaped.  What
# follows (the process's exit) is the whole process's rusage, from ``wait4``, minus the
# last point.
SPLIT = """import os, resource, time
def now():
    me = resource.getrusage(resource.RUSAGE_SELF)
    return f"{me.ru_utime + me.ru_stime} {time.time()} "
marks = now()
import re, sys
import copr_importer.cli as cli
import copr_importer.cli.units
marks += now()
main = cli.main
def marked_main(argv=None):
    try:
        return main(argv)
    finally:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        os.write(int(os.environ["STEPSTART_FD"]), (marks + now() + str(kids.ru_utime + kids.ru_stime)).encode())
cli.main = marked_main
sys.exit(cli.console() if hasattr(cli, "console") else cli.main())
"""


def run_once(command: list[str], *, env: dict[str, str], split: bool = False) -> dict[str, float]:
    """CPU seconds and wall seconds of one process, exec to exit, with everything it reaped;
    with ``split``, its phases: start, imports, work (children apart) and exit."""
    read, write = os.pipe()
    began = time.time()
    process = subprocess.Popen(
        command,
        env={**env, "STEPSTART_FD": str(write)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        pass_fds=(write,) if split else (),
    )
    os.close(write)
    stderr = process.stderr.read() if process.stderr else b""
    _, status, usage = os.wait4(process.pid, 0)
    ended = time.time()
    process.returncode = os.waitstatus_to_exitcode(status)
    with os.fdopen(read, "rb") as pipe:
        parts = [float(part) for part in pipe.read().split()]
    if process.returncode != 0:
        raise RuntimeError(f"{command[:3]} exited {process.returncode}: {stderr.decode()[-2000:]}")
    figures = {"cpu": usage.ru_utime + usage.ru_stime, "wall": ended - began}
    if split and parts:
        (cpu_start, at_start, cpu_imported, at_imported, cpu_done, at_done, children) = parts
        figures |= {
            "cpu start": cpu_start,
            "cpu imports": cpu_imported - cpu_start,
            "cpu work": cpu_done - cpu_imported,
            "cpu children": children,
            "cpu exit": figures["cpu"] - cpu_done - children,
            "wall start": at_start - began,
            "wall imports": at_imported - at_start,
            "wall work": at_done - at_imported,
            "wall exit": ended - at_done,
        }
    return figures


def summary(samples: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in samples[0]:
        values = sorted(s[key] for s in samples)
        quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
        out[key] = {"median": round(quartiles[1], 4), "q1": round(quartiles[0], 4), "q3": round(quartiles[2], 4)}
    return out


def step_commands(kind: str, *, work: Path, runs: int, url: str, config: Path) -> list[list[str]]:
    """One ``import-step`` command line per run, each its own build in its own data directory."""
    base = {"owner": "bench", "project": "start", "branches": ["f43"], "background": False}
    commands = []
    sources = records(generate(max(runs, 20)))
    for i in range(runs):
        if kind == "srpm":
            task = {**base, "build_id": i + 1, "pkg_name": f"pkg{i}", "sandbox": "s", "srpm_url": f"{url}/pkg{i}"}
        else:
            task = {**base, **sources[i], "build_id": i + 1}
        data = work / f"{kind}-{i}"
        commands.append(
            [
                *("--config", str(config), "--data-dir", str(data), "--termination-log", str(work / "termination")),
                *("--task-json", json.dumps(task)),
            ]
        )
    return [["import-step", *c] for c in commands]


def routes(work: Path, *, runs: int) -> dict[str, Route]:
    served = pypi_routes(generate(max(runs, 20)))
    for i in range(runs):
        source = {f"pkg{i}.tar.gz": binary_tarball(name="p", version=str(i))}
        srpm = build_srpm(workdir=work / "rpmbuild", name=f"pkg{i}", sources=source)
        served[f"/pkg{i}"] = Route(srpm.read_bytes(), "application/x-rpm")
    return served


def importtime(command: list[str], *, env: dict[str, str]) -> dict[str, dict[str, float]]:
    """From one ``-X importtime`` run, in milliseconds: the slowest modules by cumulative
    time (a module's own import and everything it imported first), and self time summed
    per top-level package."""
    script = (
        "import re, sys; import copr_importer.cli as c; sys.exit(c.console() if hasattr(c, 'console') else c.main())"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", script, *command],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    packages: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            own, total, name = line.removeprefix("import time:").split("|")
            packages[name.strip().split(".")[0]] += int(own)
            cumulative[name.strip()] = int(total)
    return {
        "cumulative_ms": {name: round(us / 1000, 1) for name, us in cumulative.most_common(15)},
        "self_by_package_ms": {name: round(us / 1000, 1) for name, us in packages.most_common(12)},
        "all_ms": {"modules": len(cumulative), "self": round(sum(packages.values()) / 1000, 1)},
    }


def measure(args: argparse.Namespace, work: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | dict(args.env)
    server = RouteServer(routes(work, runs=args.runs))
    config = work / "importer.toml"
    config.write_text(f'[sources]\npypi_index_url = "{server.url}/simple/"\n')
    python = [*shlex.split(args.python), "-c"]
    baselines = {"python -c pass": [*python, "pass"]}
    try:
        for name, command in baselines.items():
            samples = [run_once(command, env=env) for _ in range(args.runs)]
            print(json.dumps({"kind": name, **summary(samples), "load": os.getloadavg()[0]}), flush=True)
        for kind in args.kinds:
            commands = step_commands(kind, work=work, runs=args.runs, url=server.url, config=config)
            samples = [run_once([*python, SPLIT, *c], env=env, split=True) for c in commands]
            print(json.dumps({"kind": f"{kind}, split", **summary(samples), "load": os.getloadavg()[0]}), flush=True)
            if args.script:
                commands = step_commands(kind, work=work / "script", runs=args.runs, url=server.url, config=config)
                samples = [run_once([args.script, *c], env=env) for c in commands]
                print(json.dumps({"kind": f"{kind}, {args.script}", **summary(samples)}), flush=True)
            if args.importtime:
                extra = step_commands(kind, work=work / "importtime", runs=1, url=server.url, config=config)[0]
                print(json.dumps({"kind": kind, "importtime_ms": importtime(extra, env=env)}), flush=True)
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--kinds", nargs="+", default=["srpm", "pypi"], choices=["srpm", "pypi"])
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter and its options, e.g. --python '.venv/bin/python -I'",
    )
    parser.add_argument(
        "--script",
        default=str(Path(sys.executable).parent / "copr-importer"),
        help="the console script, run as is as well (the image's ENTRYPOINT); '' to skip",
    )
    parser.add_argument("--env", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stepstart-") as tmp:
        measure(args, Path(tmp))


if __name__ == "__main__":
    main()
