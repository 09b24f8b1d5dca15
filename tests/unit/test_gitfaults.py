"""What a failed git operation is taken for: messages as git and libgit2 print them."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from copr_importer.adapters.gitfaults import RepositoryBusy, RepositoryError, classify
from copr_importer.errors import StorageError, TransientError

REPO = Path("/")  # a readable, writable filesystem: the probe finds nothing wrong


@pytest.mark.parametrize(
    "text",
    [
        "error: unable to write loose object file: No space left on device",
        "fatal: could not open '/x/objects/pack/tmp_pack_1' for writing: Read-only file system",
        "error: failed to write to '/x/objects/tmp_object_git2_a': Input/output error",
        "fatal: write error: Disk quota exceeded",
    ],
)
def test_disk_refusals_are_storage_errors(text: str) -> None:
    assert type(classify(text, path=REPO, doing="x")) is StorageError


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EIO, errno.EDQUOT])
def test_errnos_decide_before_the_text(code: int) -> None:
    assert type(classify(OSError(code, "whatever"), path=REPO, doing="x")) is StorageError


@pytest.mark.parametrize(
    "text",
    [
        "failed to lock file '/x/refs/heads/f43.lock' for writing: ",
        "fatal: Unable to create '/x/refs/heads/f43.lock': File exists.",
        "error: cannot lock ref 'refs/heads/f43': is at 1234 but expected 5678",
        "old reference value does not match",
        "fatal: gc is already running on machine 'host' pid 12 (use --force if not)",
    ],
)
def test_foreign_locks_are_busy_and_transient(text: str) -> None:
    found = classify(text, path=REPO, doing="x")
    assert isinstance(found, RepositoryBusy) and isinstance(found, TransientError)


def test_anything_else_is_a_repository_error() -> None:
    found = classify("fatal: bad object 1234", path=REPO, doing="reading")
    assert type(found) is RepositoryError and "reading in /: fatal: bad object 1234" in str(found)
