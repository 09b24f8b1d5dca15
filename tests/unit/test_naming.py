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
