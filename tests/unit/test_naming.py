"""Names that become paths, and branch-name checks."""

from __future__ import annotations

import pytest

from copr_importer.core import naming
from copr_importer.errors import BadInputError


def test_copr_paths() -> None:
    assert str(naming.repo_relpath(owner="@g", project="p:pr:1", pkg="foo")) == "@g/p:pr:1/foo.git"
    common = {"owner": "o", "project": "p", "pkg": "k", "filename": "f.tgz", "hashtype": "md5", "digest": "abc"}
    assert str(naming.lookaside_relpath(**common, with_hashtype=False)) == "o/p/k/f.tgz/abc/f.tgz"
    assert str(naming.lookaside_relpath(**common, with_hashtype=True)) == "o/p/k/f.tgz/md5/abc/f.tgz"


def test_job_name_is_a_dns_label() -> None:
    name = naming.job_name(123456789012)
    assert name == "import-123456789012"
    assert len(name) <= 63


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a\x00", "x" * 256])
def test_unsafe_file_names(bad: str) -> None:
    with pytest.raises(BadInputError):
        naming.check_filename(bad)


def test_package_key_is_flat() -> None:
    assert "/" not in naming.package_key(owner="@g", project="p:pr:1", pkg="foo")


@pytest.mark.parametrize(
    "what, value",
    [
        ("owner", "alice"),
        ("owner", "@copr-team"),
        ("owner", "@équipe"),
        ("project", "café"),
        ("project", "p:pr:12"),
        ("project", "p:custom:build-2"),
        ("project", "日本語"),
        ("pkg_name", "python3-foo+bar_1.0"),
    ],
)
def test_names_copr_allows(what: str, value: str) -> None:
    assert naming.check_component(value, what=what) == value


@pytest.mark.parametrize(
    "what, value",
    [
        ("owner", "alice\n"),
        ("owner", "a/b"),
        ("owner", ".."),
        ("owner", ".hidden"),
        ("project", "p:pr:"),
        ("project", "p:pr:a_b"),
        ("project", "sp ace"),
        ("project", "é" * 101),
        ("pkg_name", "café"),
        ("pkg_name", "foo\n"),
        ("pkg_name", ""),
    ],
)
def test_names_refused_whole(what: str, value: str) -> None:
    with pytest.raises(BadInputError) as caught:
        naming.check_component(value, what=what)
    assert caught.value.code == "malformed_task"


def test_file_names_are_measured_in_bytes() -> None:
    assert naming.check_filename("é" * (naming.MAX_FILENAME_BYTES // 2))
    with pytest.raises(BadInputError, match="longer than"):
        naming.check_filename("é" * (naming.MAX_FILENAME_BYTES // 2 + 1))
    with pytest.raises(BadInputError, match="not UTF-8"):
        naming.check_filename("bad\udcff")


@pytest.mark.parametrize("branch", ["HEAD", "ORIG_HEAD", "@", "refs/heads/x", "0" * 40, "master\n"])
def test_branches_that_read_as_something_else(branch: str) -> None:
    assert naming.branch_name_problem(branch) is not None


def test_copr_branches_pass() -> None:
    for branch in ("master", "f43", "epel10.1", "fedora/26", "rhel-9.4.0", "openeuler-24.03"):
        assert naming.branch_name_problem(branch) is None
