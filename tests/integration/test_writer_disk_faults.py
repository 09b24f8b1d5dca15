"""Disk faults on a real small filesystem (a tmpfs): full at each write of the git-writer
(objects, trees, commits, refs, its record and results), read-only, and full while an
import step unpacks.  The writer stays up, says what is wrong, applies nothing wrongly,
and once space returns applies everything, with the very commits a healthy run makes;
nothing is reported failed because of the disk.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest

from copr_importer.adapters.download import allow_local_files
from copr_importer.adapters.spool import Spool
from copr_importer.app.gitwriter import GitWriter
from copr_importer.app.importstep import EXIT_OK, EXIT_TRANSIENT, run_step
from copr_importer.core.observer import Observer
from copr_importer.settings import Settings, from_mapping
from tests.support.pipeline import cli, git, make_task
from tests.support.smalldisk import SmallDisk
from tests.support.srpms import binary_tarball
from tests.support.waiting import wait_until

SrpmFactory = Callable[..., Path]
BRANCHES = ("master", "f43", "epel9")


@pytest.fixture
def disk() -> Iterator[SmallDisk]:
    small = SmallDisk(Path(f"/tmp/writer-disk-{uuid.uuid4().hex[:8]}")).mount()
    try:
        yield small
    finally:
        small.unmount()
        small.mountpoint.rmdir()


class Problems(Observer):
    """Records what the writer says about its health."""

    def __init__(self) -> None:
        self.reasons: list[str | None] = []

    def problem(self, component: str, *, reason: str | None) -> None:
        assert component == "git-writer"
        self.reasons.append(reason)


@dataclass
class Reference:
    """What a healthy writer makes of the spooled request."""

    result: bytes
    refs: str
    new_objects: list[tuple[str, str]] = field(default_factory=list)  # (sha, type) in write order


def settings_on(root: Path, **extra: object) -> Settings:
    # The steps here read SRPMs from local paths, as a local run does.
    return allow_local_files(from_mapping({"data_dir": str(root), **extra}))


def started_writer(settings: Settings, observer: Observer) -> GitWriter:
    writer = GitWriter(settings=settings, observer=observer)
    writer.acquire()
    writer.step()
    return writer


def loose_objects(repo: Path) -> set[str]:
    return {d.name + f.name for d in (repo / "objects").glob("??") for f in d.iterdir() if "tmp" not in f.name}


def refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


def stage_reached(settings: Settings, reference: Reference, repo: Path) -> str:
    """Where a writer that stopped on a full disk was: the first write it had not made."""
    present = loose_objects(repo)
    for sha, kind in reference.new_objects:
        if sha not in present:
            return kind  # blob, tree or commit
    if refs(repo) != reference.refs:
        return "ref"
    return "publish"  # the record, the result, removing the request


def check_consistent(settings: Settings) -> None:
    """What a stopped writer left: a published result matches the refs and the record;
    nothing is reported failed; an unpublished build still has its request."""
    spool = Spool(settings.spool_root)
    results = dict(spool.results())
    assert all("error" not in r for r in results.values()), results
    repo = settings.git_root / "alice/demo/foo.git"
    if 2 in results:
        for branch, sha in results[2]["branch_commits"].items():
            assert git(repo, "rev-parse", branch) == sha
        assert json.loads((settings.spool_root / "applied/alice%2Fdemo%2Ffoo/2.json").read_text()) == results[2]
    else:
        assert spool.request_ids() == [2]


@pytest.fixture
def spooled(disk: SmallDisk, srpm_factory: SrpmFactory, tmp_path: Path) -> tuple[Settings, Path, Reference]:
    """On the small disk: foo's repository with build 1, and build 2's request waiting
    (three branches, two of them new).  Returns the settings, a copy of that state on
    another disk, and what a healthy writer makes of it."""
    settings = settings_on(disk.mountpoint / "data")
    spool = Spool(settings.spool_root)
    v1 = srpm_factory(name="foo", version="1", patches={"a.patch": b"-a\n+1\n"})
    sources = {"foo-2.tar.gz": binary_tarball(name="foo", version="2")}
    v2 = srpm_factory(name="foo", version="2", sources=sources, patches={"a.patch": b"-a\n+2\n", "b.patch": b"+b\n"})
    assert run_step(make_task(1, v1, pkg="foo"), settings=settings, spool=spool).exit_code == EXIT_OK
    started_writer(settings, Observer()).close()
    spool.remove_result(1)
    assert run_step(make_task(2, v2, pkg="foo", branches=BRANCHES), settings=settings, spool=spool).exit_code == EXIT_OK
    saved = tmp_path / "saved"
    shutil.copytree(settings.data_dir, saved, symlinks=True)
    repo = settings.git_root / "alice/demo/foo.git"
    before = loose_objects(repo)
    started_writer(settings, Observer()).close()
    new = loose_objects(repo) - before
    order = {"blob": 0, "tree": 1, "commit": 2}
    kinds = sorted(((sha, git(repo, "cat-file", "-t", sha)) for sha in new), key=lambda e: order[e[1]])
    reference = Reference(spool.result_path(2).read_bytes(), refs(repo), kinds)
    assert {k for _, k in kinds} == {"blob", "tree", "commit"}
    return settings, saved, reference


def _applies(writer: GitWriter) -> bool:
    return writer.step() == 1


def restore(settings: Settings, saved: Path) -> None:
    shutil.rmtree(settings.data_dir)
    shutil.copytree(saved, settings.data_dir, symlinks=True)


def test_a_full_disk_at_every_write_of_the_writer(disk: SmallDisk, spooled: tuple[Settings, Path, Reference]) -> None:
    settings, saved, reference = spooled
    spool, repo = Spool(settings.spool_root), settings.git_root / "alice/demo/foo.git"
    stages: dict[str, int] = {}
    for pages in range(64):
        restore(settings, saved)
        disk.leave_free(pages)
        observer = Problems()
        writer = started_writer(settings, observer)
        try:
            if not observer.reasons:  # enough space at last
                assert spool.result_path(2).read_bytes() == reference.result
                break
            assert "no space left on device" in str(observer.reasons[-1]).lower()
            stages[stage_reached(settings, reference, repo)] = pages
            check_consistent(settings)
            disk.release()
            wait_until(partial(_applies, writer), timeout=30, what="the writer to apply after space returned")
            assert observer.reasons[-1] is None  # well again
            assert spool.read_writer_health()[0] is None
        finally:
            writer.close()
        assert spool.result_path(2).read_bytes() == reference.result, f"{pages} free pages: another result"
        assert refs(repo) == reference.refs
        subprocess.run(["git", "-C", str(repo), "fsck", "--strict"], check=True, capture_output=True)
        assert not [p for p in repo.rglob("*") if p.name.endswith(".lock") or "tmp_obj" in p.name]
    else:
        pytest.fail("the writer never had enough space")
    assert set(stages) == {"blob", "tree", "commit", "ref", "publish"}, stages


def test_a_full_git_disk_shows_in_the_writer_health_file(
    disk: SmallDisk, settings: Settings, srpm_factory: SrpmFactory
) -> None:
    settings = settings_on(settings.data_dir, git_dir=str(disk.mountpoint / "git"))
    spool = Spool(settings.spool_root)
    assert run_step(make_task(1, srpm_factory(name="foo"), pkg="foo"), settings=settings, spool=spool).exit_code == 0
    settings.git_root.mkdir()
    disk.leave_free(0)
    writer = started_writer(settings, Observer())
    try:
        problem, since = spool.read_writer_health()
        assert problem is not None and "no space left on device" in problem.lower() and since > 0
        assert spool.request_ids() == [1] and not dict(spool.results())
        disk.release()
        wait_until(lambda: writer.step() == 1, timeout=30, what="the writer to apply after space returned")
        assert spool.read_writer_health()[0] is None
        assert dict(spool.results())[1]["branch_commits"]
    finally:
        writer.close()


def test_a_read_only_disk_holds_the_writer_until_it_is_writable(
    disk: SmallDisk, spooled: tuple[Settings, Path, Reference], tmp_path: Path
) -> None:
    settings, _saved, reference = spooled
    spool, repo = Spool(settings.spool_root), settings.git_root / "alice/demo/foo.git"
    restore(settings, _saved)
    disk.read_only(True)
    stderr = tmp_path / "writer.log"
    with open(stderr, "wb") as err:
        writer = subprocess.Popen(
            cli("git-writer", "--data-dir", str(settings.data_dir), "--listen", ""), stdout=err, stderr=err
        )
    try:
        wait_until(
            lambda: "read-only file system" in stderr.read_text().lower(), timeout=60, what="the writer to say why"
        )
        wait_until(lambda: stderr.read_text().count("trying again") >= 2, timeout=60, what="a second try")
        assert writer.poll() is None, stderr.read_text()
        assert spool.request_ids() == [2] and not dict(spool.results())
        disk.read_only(False)
        wait_until(lambda: spool.has_result(2), timeout=60, what="the result once writable")
        wait_until(lambda: not spool.request_ids(), timeout=30, what="the request to go")
        assert spool.result_path(2).read_bytes() == reference.result
        assert refs(repo) == reference.refs
        assert "writes succeed again" in stderr.read_text()
    finally:
        if writer.poll() is None:
            writer.send_signal(signal.SIGTERM)
        assert writer.wait(60) == 0
    subprocess.run(["git", "-C", str(repo), "fsck", "--strict"], check=True, capture_output=True)


def test_a_full_disk_while_unpacking_is_transient(disk: SmallDisk, srpm_factory: SrpmFactory) -> None:
    settings = settings_on(disk.mountpoint / "data")
    spool = Spool(settings.spool_root)
    big = binary_tarball(name="foo", version="1", size=400_000)
    srpm = srpm_factory(name="foo", sources={"foo-1.tar.gz": big})
    task = make_task(1, srpm, pkg="foo")
    settings.log_root.mkdir(parents=True)
    (settings.log_root / "1.log").write_bytes(b"")
    # Room for the download, not for the unpacked copy of the tarball.
    disk.leave_free(srpm.stat().st_size // 4096 + 8)
    outcome = run_step(task, settings=settings, spool=spool)
    assert outcome.exit_code == EXIT_TRANSIENT
    assert outcome.message.startswith("storage refused a write of the import: no space left on device")
    assert "Error" not in outcome.message
    assert not dict(spool.results()) and not spool.request_ids()  # nothing reported, nothing half-handed over
    assert os.listdir(spool.root / "incoming") == []
    assert not list((settings.lookaside_root / ".incoming").glob("*"))
    log = (settings.log_root / "1.log").read_text()
    assert log.index("unpacking foo-1.0-1") < log.index("will be retried")
    disk.release()
    assert run_step(task, settings=settings, spool=spool).exit_code == EXIT_OK
