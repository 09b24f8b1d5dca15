"""Names and relative paths derived from task fields and SRPM contents, validated for safety.

Owner, project and package names come from the network and become directory
names, and SRPM file names become file names in a repository and the
lookaside, so every one is checked here before any adapter joins it onto a root
or creates anything.  The rules:

* whole-string matches only (``re.fullmatch``): a trailing newline is not a name;
* copr's alphabets: owners and projects are letters, digits (any script, as
  copr's ``[\\w.-]`` allows: ``café`` is a project), ``_``, ``.`` and ``-``;
  groups are ``@<name>``; project directories may carry copr's ``:pr:<id>`` or
  ``:custom:<suffix>`` parts; package names are ASCII ``[-+_.a-zA-Z0-9]``;
* no leading dot (hidden names are never served, and temporaries use them);
* lengths in UTF-8 bytes, leaving room for the temporary names made beside
  each directory and file (``.<name>.tmp-<pid>``), so no name fails later with
  "File name too long";
* no file name git's ``fsck --strict`` refuses in a tree: ``.git`` and
  ``.gitmodules`` in any case, and the names NTFS and HFS+ take for them
  (``git~1``, ``.git.``, ``.g\\u200cit``, ...);
* branch names that git accepts for ``refs/heads/<name>`` and that do not
  read as something else (``HEAD``, ``FETCH_HEAD``, ``refs/...``, a full hash).

Refusals are :class:`~copr_importer.errors.BadInputError`: permanent, with the
name and the rule in the message.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import quote

from ..errors import BadInputError

__all__ = [
    "MAX_COMPONENT_BYTES",
    "MAX_FILENAME_BYTES",
    "branch_name_problem",
    "check_component",
    "check_filename",
    "job_name",
    "lookaside_relpath",
    "package_key",
    "reponame_key",
    "repo_relpath",
]

# 255 bytes is the usual file-name limit; the rest is room for ".<name>.tmp-<pid>"
# and ".<pkg>.git.tmp-<suffix>" temporaries made beside the real names.
MAX_FILENAME_BYTES = 255 - 16
MAX_COMPONENT_BYTES = 200
_MAX_BRANCH_BYTES = 200

_OWNER = re.compile(r"@?[\w.-]+")
# copr: a project name, then ":pr:<id>" or ":custom:<suffix>", each part alphanumeric
# pieces joined by dashes (CoprDirsLogic.validate).
_PROJECT = re.compile(r"[\w.-]+(?::[^\W_]+(?:-[^\W_]+)*)*")
_PACKAGE = re.compile(r"[-+_.a-zA-Z0-9]+")
_PATTERNS = {"owner": _OWNER, "project": _PROJECT, "pkg_name": _PACKAGE}
_FILENAME_FORBIDDEN = re.compile(r"[/\x00-\x1f\x7f]")
_BRANCH_BAD_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_PSEUDO_REF = re.compile(r"[A-Z_]*HEAD")
_FULL_HASH = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
# Code points HFS+ ignores when it compares names (git's utf8.c, next_hfs_char).
_HFS_IGNORED = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")


def _utf8_length(value: str) -> int:
    return len(value.encode("utf-8", "surrogateescape"))


def check_component(value: object, *, what: str) -> str:
    """Return ``value`` if it is a valid ``owner``, ``project`` or ``pkg_name``, else raise."""
    pattern = _PATTERNS.get(what, _PACKAGE)
    if not isinstance(value, str) or not pattern.fullmatch(value) or value in {".", ".."}:
        raise BadInputError(f"invalid {what}: {value!r}", code="malformed_task")
    if value.startswith("."):
        raise BadInputError(f"invalid {what} (leading dot): {value!r}", code="malformed_task")
    if _utf8_length(value) > MAX_COMPONENT_BYTES:
        raise BadInputError(
            f"invalid {what}: longer than {MAX_COMPONENT_BYTES} bytes in UTF-8: {value!r:.300}", code="malformed_task"
        )
    return value


def _hfs_reads_as(name: str, *, word: str) -> bool:
    """HFS+ ignores some code points and ASCII case: would it open ``name`` as ``.<word>``?"""
    bare = _HFS_IGNORED.sub("", name)
    return bare.isascii() and bare.lower() == "." + word


def _ntfs_tail(rest: str, *, stream_ok: bool) -> bool:
    """NTFS drops trailing dots and spaces (and, for some names, a ``:stream`` suffix)."""
    if stream_ok:
        rest = rest.split(":", 1)[0]
    return rest.strip(". ") == ""


def _ntfs_reads_as_git(name: str) -> bool:
    component = re.split(r"[/\\:]", name, maxsplit=1)[0]  # a separator or a stream name ends it
    lower = component.lower() if component.isascii() else component
    for prefix in (".git", "git~1"):
        if lower.startswith(prefix) and _ntfs_tail(lower[len(prefix) :], stream_ok=False):
            return True
    return False


def _ntfs_reads_as_gitmodules(name: str) -> bool:
    """Long name, 8.3 name ``gitmod~1``..``~4``, or the hashed 8.3 name ``gi7eba~<n>``."""
    lower = "".join(c.lower() if c.isascii() else "\x80" for c in name)
    if lower.startswith(".gitmodules"):
        return _ntfs_tail(lower[11:], stream_ok=True)
    if re.match(r"gitmod~[1-4]", lower):
        return _ntfs_tail(lower[8:], stream_ok=True)
    # The fall-back short name: a prefix of "gi7eba", "~", then digits, 8 characters in all.
    if re.fullmatch(r"(?:g(?:i(?:7(?:e(?:ba?)?)?)?)?)?~[1-9][0-9]*", lower[:8]) and len(lower) >= 8:
        return _ntfs_tail(lower[8:], stream_ok=True)
    return False


def is_git_special(name: str) -> bool:
    """Whether ``git fsck --strict`` refuses a tree entry called ``name``: .git or
    .gitmodules by any name that HFS+ or NTFS would take for them (git's fsck.c)."""
    return (
        _hfs_reads_as(name, word="git")
        or _ntfs_reads_as_git(name)
        or _hfs_reads_as(name, word="gitmodules")
        or _ntfs_reads_as_gitmodules(name)
    )


def check_filename(value: str) -> str:
    """Return ``value`` if it can be a flat file name inside a package directory and repository."""
    if not value or value in {".", ".."} or _FILENAME_FORBIDDEN.search(value):
        raise BadInputError(f"unsafe file name in SRPM: {value!r:.300}", code="unsafe_srpm")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadInputError(f"file name in SRPM is not UTF-8: {value!r:.300}", code="unsafe_srpm") from None
    if size > MAX_FILENAME_BYTES:
        raise BadInputError(
            f"file name in SRPM is longer than {MAX_FILENAME_BYTES} bytes: {value!r:.300}", code="unsafe_srpm"
        )
    if is_git_special(value):
        raise BadInputError(
            f"file name in SRPM is reserved by git (a .git or .gitmodules): {value!r}", code="unsafe_srpm"
        )
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
    """Why ``name`` cannot be a branch, or None when it is acceptable.

    git's rules for ``refs/heads/<name>`` (``git check-ref-format --branch``; the
    integration tests compare the two), and names that would read as something else."""
    problem = _ref_format_problem(name)
    if problem:
        return problem
    if _PSEUDO_REF.fullmatch(name) or name == "@" or name.startswith("refs/"):
        return "reads as HEAD, another special ref or a full ref name"
    if _FULL_HASH.fullmatch(name):
        return "reads as a commit hash"
    if _utf8_length(name) > _MAX_BRANCH_BYTES:
        return f"longer than {_MAX_BRANCH_BYTES} bytes"
    return None


def _ref_format_problem(name: str) -> str | None:
    if not name or name.startswith("-"):
        return "empty or starting with '-'"
    if _BRANCH_BAD_CHARS.search(name):
        return "contains a space, a control character or one of ~^:?*[\\"
    if ".." in name or "@{" in name or "//" in name:
        return "contains '..', '@{' or '//'"
    if name.startswith("/") or name.endswith(("/", ".")):
        return "starts or ends with '/' or ends with '.'"
    for part in name.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return "a component starts with '.' or ends with '.lock'"
    return None
