"""Which OS errors are the storage's fault (core/storagefault.py), and branch clashes (core/refconflict.py)."""

from __future__ import annotations

import errno
import os

import pytest

from copr_importer.core.refconflict import ref_conflict
from copr_importer.core.storagefault import describe, is_storage_fault, storage_error
from copr_importer.errors import StorageError, TransientError


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES])
def test_disk_and_permission_errors_are_the_storages(code: int) -> None:
    assert is_storage_fault(OSError(code, os.strerror(code), "/data/x"))


@pytest.mark.parametrize("code", [errno.ENOENT, errno.ENOTDIR, errno.EEXIST, errno.ENAMETOOLONG])
def test_other_os_errors_are_not(code: int) -> None:
    assert not is_storage_fault(OSError(code, os.strerror(code)))
    assert not is_storage_fault(ValueError("x"))


def test_the_transient_error_reads_without_python_names() -> None:
    exc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/spool/results/7.json")
    error = storage_error(exc, doing="a write of the import")
    assert isinstance(error, StorageError) and isinstance(error, TransientError)
    assert str(error) == ("storage refused a write of the import: no space left on device (/data/spool/results/7.json)")
    assert "OSError" not in describe(OSError("plain"))


def test_branches_that_cannot_live_together() -> None:
    assert ref_conflict("fedora/26", existing=["master", "fedora"]) is not None
    assert ref_conflict("fedora", existing=["fedora/26"]) is not None
    assert ref_conflict("fedora-26", existing=["fedora", "fedora/27"]) is None
    assert ref_conflict("f43", existing=["f43"]) is None  # the branch itself
