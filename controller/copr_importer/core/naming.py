"""Names and relative paths derived from task fields, validated for safety.

Owner, project and package names come from the network and become directory
names, so every component is checked here before any adapter joins it onto a
root.  Branch names are checked against git's ref-name rules so that a bad
branch fails alone instead of breaking the repository.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import quote

from ..errors import BadInputError

__all__ = [
    "branch_name_problem",
    "check_component",
    "check_filename",
    "job_name",
    "lookaside_relpath",
    "package_key",
    "reponame_key",
    "repo_relpath",
]

# Copr owners are user names or "@group"; projects may carry ":pr:12" or
# ":custom:x" suffixes; RPM names use a small alphabet.  Anything else is refused.
_COMPONENT = re.compile(r"^@?[A-Za-z0-9_.+:-]{1,200}$")
_FILENAME_FORBIDDEN = re.compile(r"[/\x00-\x1f\x7f]")
_BRANCH_BAD_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def check_component(value: object, *, what: str) -> str:
    """Return ``value`` if it is a safe single path component, else raise."""
    if not isinstance(value, str) or not _COMPONENT.match(value) or value in {".", ".."}:
        raise BadInputError(f"invalid {what}: {value!r}", code="malformed_task")
    if value.startswith((".", "-")):
        raise BadInputError(f"invalid {what} (leading dot or dash): {value!r}", code="malformed_task")
    return value


def check_filename(value: str) -> str:
    """Return ``value`` if it can be a flat file name inside a package directory."""
    if not value or value in {".", ".."} or _FILENAME_FORBIDDEN.search(value) or len(value) > 255:
        raise BadInputError(f"unsafe file name in SRPM: {value!r}", code="unsafe_srpm")
    return value


def repo_relpath(*, owner: str, project: str, pkg: str) -> PurePosixPath:
    """``<owner>/<project>/<pkg>.git``, copr's bare-repository location under the git root."""
    return PurePosixPath(owner, project, f"{pkg}.git")


def lookaside_relpath(
    *, owner: str, project: str, pkg: str, filename: str, hashtype: str, digest: str, with_hashtype: bool
) -> PurePosixPath:
    """Copr's ``<owner>/<project>/<pkg>/<file>/<hash>/<file>``, or the modern layout
    with a ``<hashtype>`` directory before the hash."""
    parts = [owner, project, pkg, filename]
    if with_hashtype:
        parts.append(hashtype)
    parts += [digest, filename]
    return PurePosixPath(*parts)


def package_key(*, owner: str, project: str, pkg: str) -> str:
    """One flat, filesystem-safe token naming a package (used for ordering tickets)."""
    return reponame_key(f"{owner}/{project}/{pkg}")


def reponame_key(reponame: str) -> str:
    """:func:`package_key` of copr's ``owner/project/pkg`` reponame."""
    return quote(reponame, safe="@:+-_.")


def job_name(build_id: int, *, prefix: str = "import") -> str:
    """A DNS-1123 label (at most 63 characters) unique per task."""
    name = f"{prefix}-{build_id}"
    if len(name) > 63:
        raise ValueError(f"job name too long: {name}")
    return name


def branch_name_problem(name: str) -> str | None:
    """Why git would refuse ``refs/heads/<name>``, or None when it is acceptable.

    Agrees with ``git branch <name>`` (the integration tests compare the two).
    """
    if not name or name.startswith("-"):
        return "empty or starting with '-'"
    if _BRANCH_BAD_CHARS.search(name):
        return "contains a space, a control character or one of ~^:?*[\\"
    if ".." in name or "@{" in name or "//" in name:
        return "contains '..', '@{' or '//'"
    if name.endswith(("/", ".")):
        return "ends with '/' or '.'"
    for part in name.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return "a component starts with '.' or ends with '.lock'"
    return None
