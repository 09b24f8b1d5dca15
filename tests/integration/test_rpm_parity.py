"""The parity corpus: the importer's RPM reader against rpm itself.

Seeds made by rpmbuild (every payload compressor, a %ghost file, the stripped
archive format) and 2,400 deterministic mutants of them (``support/mutants.py``)
go through what the import step runs (``read_package`` and ``unpack``) and
through ``rpm -K --nosignature`` and ``rpm2archive``.  Every file the importer
accepts must be accepted by rpm and unpack to the same files with the same
content (%ghost files aside: neither writes them); every refusal must be a
``BadInputError``.  ``docs/hostile-input.md`` has the counts and the classes of
refusals where the importer is stricter than rpm; ``bench/hostile.py`` prints
them (and the time per input) for any number of mutants.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.support.mutants import build_seeds, mutants
from tests.support.parity import Verdict, error_class, our_verdict, rpm2archive_files, rpm_checks

PER_SEED = 300


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, tuple[str, Verdict]]:
    work = tmp_path_factory.mktemp("parity")
    seeds = build_seeds(work / "build")
    files: dict[Path, str] = {}
    for name, data in seeds.items():
        (work / f"seed-{name}.src.rpm").write_bytes(data)
        files[work / f"seed-{name}.src.rpm"] = "seed"
    for mutant in mutants(seeds, per_seed=PER_SEED):
        path = work / f"{mutant.name}.src.rpm"
        path.write_bytes(mutant.data)
        files[path] = mutant.kind
    scratch = work / "scratch"
    scratch.mkdir()
    return {path: (kind, our_verdict(path, scratch=scratch)) for path, kind in files.items()}


def test_every_seed_is_accepted_as_rpm2archive_unpacks_it(corpus: dict[Path, tuple[str, Verdict]]) -> None:
    seeds = {path: verdict for path, (kind, verdict) in corpus.items() if kind == "seed"}
    assert len(seeds) == 8
    for path, verdict in seeds.items():
        assert verdict.files is not None, f"{path.name}: {verdict.error or verdict.unhandled}"
        assert verdict.files == rpm2archive_files(path), path.name
        assert set(verdict.files) == {"pkg.spec", "pkg-1.tar.gz", "notes.txt", "fix.patch"}


def test_no_mutant_raises_anything_but_bad_input(corpus: dict[Path, tuple[str, Verdict]]) -> None:
    assert len(corpus) >= 2000
    unhandled = {path.name: v.unhandled for path, (_, v) in corpus.items() if v.unhandled}
    assert not unhandled
    codes = Counter(v.code for _, v in corpus.values() if v.error)
    assert set(codes) <= {"srpm_query_failed", "unsafe_srpm"}, codes
    for _, verdict in corpus.values():
        assert verdict.error is None or "Error" not in verdict.error, verdict.error  # no exception names


def test_what_the_importer_accepts_rpm_accepts_and_unpacks_alike(corpus: dict[Path, tuple[str, Verdict]]) -> None:
    accepted = [path for path, (_, v) in corpus.items() if v.files is not None]
    rpm_ok = rpm_checks(list(corpus))
    # Both sides must have something to say: some mutants pass, many do not.
    assert 100 < len(accepted) < len(corpus) - 1000
    disagreements = []
    for path in accepted:
        if not rpm_ok[path]:
            disagreements.append(f"{path.name}: rpm -K --nosignature refuses it")
            continue
        theirs = rpm2archive_files(path)
        if theirs != corpus[path][1].files:
            disagreements.append(f"{path.name}: rpm2archive unpacks {sorted(theirs or {})}")
    assert not disagreements, "\n".join(disagreements)
    stricter = Counter(error_class(v.error) for path, (_, v) in corpus.items() if v.error and rpm_ok[path])
    print(f"\naccepted {len(accepted)} of {len(corpus)}; rpm -K accepts {sum(rpm_ok.values())}")
    for message, count in stricter.most_common():
        print(f"  stricter than rpm -K ({count}): {message}")
