"""Benchmark: the import step against bombs, and the parity corpus at any size.

``bombs``: each file of the bomb set goes through the import step (``run_step``:
read, verify, unpack, lookaside, hand-over) in a fresh process; its peak RSS
and CPU time are printed.  The set: payloads that expand to gigabytes with
every compressor, data hidden after the archive's trailer, header bombs
(overlapping entries, unterminated strings, the largest header accepted), a real
SRPM made by rpmbuild from a 1 GB zero-filled source, and with ``--large`` one
from a 4.1 GiB source (rpm's stripped archive format).  Target: under 128 MiB
and, for headers, under 10 s of CPU.

``corpus``: the parity corpus of ``tests/integration/test_rpm_parity.py`` with
any number of mutants per seed: accepted and refused counts, agreement with
``rpm -K --nosignature`` and ``rpm2archive``, the classes of refusals where the
importer is stricter than rpm, and the CPU time of the slowest input.

    .venv/bin/python -m bench.hostile bombs [--large]
    .venv/bin/python -m bench.hostile corpus --per-seed 1500 --seed 7

Figures, not assertions; ``docs/hostile-input.md`` has the results.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.craft import CraftFile, Entry, craft_rpm, header_blob, header_entries, reseal, split_rpm
from tests.support.mutants import build_seeds, mutants
from tests.support.parity import error_class, our_verdict, rpm2archive_files, rpm_checks
from tests.support.srpms import spec_text

CACHE = Path(os.environ.get("BENCH_CACHE", "/var/cache/copr-importer/bench"))
WORK_DIR = os.environ.get("BENCH_DIR", tempfile.gettempdir())
SPEC = CraftFile("bomb.spec", b"Name: bomb\n", flags=32)
GiB = 1 << 30


def _zeros(size: int) -> CraftFile:
    return CraftFile("zeros.bin", bytes(size), digest=_zero_digest(size))


def _zero_digest(size: int) -> str:
    import hashlib

    digest, block = hashlib.sha256(), bytes(1 << 20)
    for _ in range(size >> 20):
        digest.update(block)
    digest.update(bytes(size % (1 << 20)))
    return digest.hexdigest()


def _expanding(compressor: str, size: int) -> bytes:
    return craft_rpm(name="bomb", files=[SPEC, _zeros(size)], compressor=compressor)


def _after_trailer(size: int) -> bytes:
    """An honest small package, then ``size`` zero bytes after the archive's trailer."""
    parts = split_rpm(craft_rpm(name="bomb", files=[SPEC], compressor="gzip"))
    archive = gzip.decompress(parts.payload) + bytes(size)
    payload = gzip.compress(archive, compresslevel=1, mtime=0)
    return reseal(parts.lead + parts.sig + b"\0" * (-len(parts.sig) % 8) + parts.main + payload, archive=archive)


def _with_header(extra: list[Entry], *, patch: Callable[[bytearray, int], bytes] | None = None) -> bytes:
    parts = split_rpm(craft_rpm(name="bomb", files=[SPEC]))
    main = bytearray(header_blob([*header_entries(parts.main), *extra], region=63))
    if patch is not None:
        main = bytearray(patch(main, int.from_bytes(main[8:12], "big")))
    return reseal(parts.lead + parts.sig + b"\0" * (-len(parts.sig) % 8) + bytes(main) + parts.payload)


def _overlapping(main: bytearray, il: int) -> bytes:
    """1,500 more index entries, all pointing at the same 1 MiB string (rpm refuses this)."""
    index = [bytes(main[16 + 16 * i : 32 + 16 * i]) for i in range(il)]
    target = next(e for e in index if int.from_bytes(e[:4], "big") == 2000)
    copies = [(3000 + i).to_bytes(4, "big") + target[4:] for i in range(1500)]
    data = bytes(main[16 + 16 * il : -16]) + (63).to_bytes(4, "big") + (7).to_bytes(4, "big")
    data += (-16 * (il + 1500)).to_bytes(4, "big", signed=True) + (16).to_bytes(4, "big")
    return bytes(main[:8]) + (il + 1500).to_bytes(4, "big") + bytes(main[12:16]) + b"".join(index + copies) + data


def bomb_set(workdir: Path, *, large: bool) -> dict[str, Path]:
    """The bomb files, built once and cached under BENCH_CACHE."""
    folder = CACHE / "bombs-v1"
    folder.mkdir(parents=True, exist_ok=True)
    makers: dict[str, Callable[[], bytes]] = {
        "zstd-1GiB": lambda: _expanding("zstd", GiB),
        "xz-1GiB": lambda: _expanding("xz", GiB),
        "gzip-1GiB": lambda: _expanding("gzip", GiB),
        "bzip2-256MiB": lambda: _expanding("bzip2", GiB // 4),
        "zeros-after-trailer-3GiB": lambda: _after_trailer(3 * GiB),
        "header-1500-overlapping": lambda: _with_header(
            [Entry(2000, 6, 1, b"a" * (1 << 20) + b"\0")], patch=_overlapping
        ),
        "header-60-strings": lambda: _with_header(
            [Entry(2000 + i, 6, 1, b"x" * (1 << 18) + (b"\0" if i == 59 else b"")) for i in range(60)]
        ),
        "header-16M-empty-strings": lambda: _with_header(
            [Entry(2000 + i, 8, 0xFFFFF, b"\0" * 0xFFFFF) for i in range(15)]
        ),
    }
    files = {}
    for name, make in makers.items():
        path = folder / f"{name}.src.rpm"
        if not path.exists():
            print(f"building {name}", file=sys.stderr)
            path.with_suffix(".tmp").write_bytes(make())
            path.with_suffix(".tmp").rename(path)
        files[name] = path
    files["rpmbuild-1GB-source"] = _rpmbuild_zeros(folder, workdir, size=10**9)
    files["rpmbuild-xz9-256MB-source"] = _rpmbuild_zeros(folder, workdir, size=256 * 10**6, payload="w9.xzdio")
    if large:
        files["rpmbuild-4.1GiB-source-stripped"] = _rpmbuild_zeros(folder, workdir, size=int(4.1 * GiB))
    return files


def _rpmbuild_zeros(folder: Path, workdir: Path, *, size: int, payload: str = "") -> Path:
    """A real SRPM: rpmbuild -bs over a spec whose one source is ``size`` zero bytes
    (``payload``: rpm's ``_source_payload``, e.g. ``w9.xzdio`` for xz's 64 MiB dictionary)."""
    path = folder / f"zeros-{size}{payload and '-' + payload}.src.rpm"
    if not path.exists():
        print(f"rpmbuild with a {size}-byte source", file=sys.stderr)
        top = workdir / path.stem
        for sub in ("SOURCES", "SPECS", "SRPMS"):
            (top / sub).mkdir(parents=True)
        with open(top / "SOURCES" / "zeros.bin", "wb") as out:
            out.truncate(size)
        spec = top / "SPECS" / "zeros.spec"
        spec.write_text(spec_text(name="zeros", version="1.0", sources=["zeros.bin"], patches=[]))
        command = ["rpmbuild", "--define", f"_topdir {top}", "--define", "_source_filedigest_algorithm 8", "-bs"]
        if payload:
            command[1:1] = ["--define", f"_source_payload {payload}"]
        subprocess.run([*command, str(spec)], check=True, capture_output=True)
        (built,) = (top / "SRPMS").glob("*.src.rpm")
        shutil.copyfile(built, path)
        shutil.rmtree(top)
    return path


def _peak_rss_kib() -> int:
    """This process's peak RSS (VmHWM; getrusage's ru_maxrss survives exec, so it would
    report the parent's size at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def step(srpm: Path, data: Path, pkg: str) -> dict[str, Any]:
    """One import step in this process; its peak RSS and CPU."""
    from copr_importer.adapters.download import allow_local_files
    from copr_importer.adapters.spool import Spool
    from copr_importer.app.importstep import run_step
    from copr_importer.core.task import ImportTask
    from copr_importer.settings import from_mapping

    settings = allow_local_files(from_mapping({"data_dir": str(data)}))
    task = ImportTask(1, "bench", "bombs", pkg, ("master",), str(srpm), "bench/bombs--bench")
    started = time.process_time()
    outcome = run_step(task, settings=settings, spool=Spool(settings.spool_root))
    return {
        "exit_code": outcome.exit_code,
        "message": outcome.message[:160],
        "peak_rss_mib": round(_peak_rss_kib() / 1024, 1),
        "cpu_s": round(time.process_time() - started, 2),
    }


def run_bombs(large: bool) -> None:
    with tempfile.TemporaryDirectory(dir=WORK_DIR, prefix="hostile-bench-") as tmp:
        files = bomb_set(Path(tmp), large=large)
        print(f"{'bomb':36} {'size':>10} {'peak RSS':>9} {'CPU s':>6} {'wall s':>6}  outcome")
        for name, path in files.items():
            data = Path(tmp) / name
            pkg = "zeros" if name.startswith("rpmbuild") else "bomb"
            started = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "bench.hostile", "step", str(path), str(data), pkg],
                capture_output=True,
                text=True,
                check=True,
            )
            wall = time.monotonic() - started
            result = json.loads(done.stdout.strip().splitlines()[-1])
            size = path.stat().st_size
            print(
                f"{name:36} {size:>10} {result['peak_rss_mib']:>6.1f} MiB {result['cpu_s']:>6.2f} {wall:>6.1f}  "
                f"{'imported' if result['exit_code'] == 0 else result['message']}"
            )
            shutil.rmtree(data, ignore_errors=True)


def run_corpus(per_seed: int, seed: int) -> None:
    with tempfile.TemporaryDirectory(dir=WORK_DIR, prefix="hostile-corpus-") as tmp:
        work = Path(tmp)
        seeds = build_seeds(work / "build")
        paths: dict[Path, str] = {}
        for name, data in seeds.items():
            paths[work / f"seed-{name}.rpm"] = "seed"
            (work / f"seed-{name}.rpm").write_bytes(data)
        for mutant in mutants(seeds, per_seed=per_seed, seed=seed):
            paths[work / f"{mutant.name}.rpm"] = mutant.kind
            (work / f"{mutant.name}.rpm").write_bytes(mutant.data)
        (work / "scratch").mkdir()
        started = time.monotonic()
        ours = {path: our_verdict(path, scratch=work / "scratch") for path in paths}
        ours_seconds = time.monotonic() - started
        rpm_ok = rpm_checks(list(paths))
        accepted = [p for p, v in ours.items() if v.files is not None]
        disagree = [p for p in accepted if not rpm_ok[p] or rpm2archive_files(p) != ours[p].files]
        by_kind = Counter((paths[p], ours[p].files is not None) for p in paths)
        slowest = max(ours.items(), key=lambda item: item[1].seconds)
        print(f"inputs {len(paths)} (seed {seed}, {per_seed} mutants per seed), read in {ours_seconds:.1f} s")
        print(f"accepted {len(accepted)}, refused {len(paths) - len(accepted)}; rpm -K accepts {sum(rpm_ok.values())}")
        print(f"unhandled exceptions {sum(1 for v in ours.values() if v.unhandled)}; disagreements {len(disagree)}")
        for p in disagree:
            print(f"  DISAGREE {p.name}")
        for kind in sorted({k for k, _ in by_kind}):
            print(f"  {kind:13} accepted {by_kind[(kind, True)]:5}  refused {by_kind[(kind, False)]:5}")
        print(f"slowest input {slowest[0].name}: {slowest[1].seconds:.3f} s CPU")
        refused = [p for p, v in ours.items() if v.error and rpm_ok[p]]
        unpacks = {p: rpm2archive_files(p) is not None for p in refused}
        stricter = Counter((error_class(ours[p].error or ""), unpacks[p]) for p in refused)
        print(f"refused here, accepted by rpm -K: {len(refused)}, of which rpm2archive unpacks {sum(unpacks.values())}")
        print("  count  rpm2archive  refusal")
        for (message, unpacked), count in stricter.most_common():
            print(f"  {count:5}  {'unpacks' if unpacked else 'fails  '}      {message[:100]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    bombs = sub.add_parser("bombs")
    bombs.add_argument("--large", action="store_true", help="add the 4.1 GiB rpmbuild source (minutes, 9 GB of disk)")
    corpus = sub.add_parser("corpus")
    corpus.add_argument("--per-seed", type=int, default=300)
    corpus.add_argument("--seed", type=int, default=20240917)
    one = sub.add_parser("step")
    one.add_argument("srpm", type=Path)
    one.add_argument("data", type=Path)
    one.add_argument("pkg")
    args = parser.parse_args()
    if args.command == "bombs":
        run_bombs(args.large)
    elif args.command == "corpus":
        run_corpus(args.per_seed, args.seed)
    else:
        print(json.dumps(step(args.srpm, args.data, args.pkg)))


if __name__ == "__main__":
    main()
