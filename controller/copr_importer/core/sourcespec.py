"""Source types: a task that names where to build its SRPM from, in copr's terms.

Copr's frontend describes a build's source with ``source_type`` (its
``BuildSourceEnum``: ``pypi`` = 5, ``rubygems`` = 6, ``scm`` = 8) and
``source_json`` (a JSON object, or a string holding one, as copr sends it).
:func:`parse_source` turns the pair into one of three frozen records and raises
:class:`~copr_importer.errors.BadInputError` naming the field that is wrong;
:func:`source_record` is its inverse.  Nothing here does I/O: whether a package
exists is the providers' question.

Only what can be built here is accepted: git (not svn), http(s) and git:// clone
URLs (no ``file://``, no local paths, no ``ext::``), Python 3, the Fedora spec
template.  Fields copr sends that do not change the result (``spec_generator``)
are accepted and kept.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from packaging.version import InvalidVersion, Version

from ..errors import BadInputError

__all__ = [
    "SOURCE_TYPES",
    "SRPM_BUILD_METHODS",
    "PypiSource",
    "RubygemSource",
    "ScmSource",
    "Source",
    "default_package_name",
    "parse_source",
    "parse_source_type",
    "source_record",
    "split_requirement",
]

# copr_common.enums.BuildSourceEnum: the names and numbers a frontend may send.
SOURCE_TYPES = {"unset": 0, "link": 1, "upload": 2, "pypi": 5, "rubygems": 6, "scm": 8, "custom": 9, "distgit": 10}
_BUILT_HERE = ("pypi", "rubygems", "scm")
SRPM_BUILD_METHODS = ("rpkg", "tito", "tito_test", "make_srpm")
_CLONE_SCHEMES = ("http", "https", "git")
# PEP 508 names; gem names as rubygems.org accepts them.
_PYPI_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_GEM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_GEM_VERSION = re.compile(r"^[0-9]+(\.[0-9A-Za-z]+)*$")
_MAX_TEXT = 1024


def _bad(message: str) -> BadInputError:
    return BadInputError(message, code="malformed_task")


@dataclass(frozen=True, slots=True)
class PypiSource:
    """An sdist from a PyPI-compatible index (copr's ``pypi``)."""

    pypi_package_name: str
    pypi_package_version: str | None = None
    python_versions: tuple[str, ...] = ("3",)
    spec_generator: str | None = None
    spec_template: str = ""


@dataclass(frozen=True, slots=True)
class RubygemSource:
    """A .gem from a RubyGems-compatible source (copr's ``rubygems``).  Copr sends only
    ``gem_name`` (the newest release); ``gem_version`` pins one."""

    gem_name: str
    gem_version: str | None = None


@dataclass(frozen=True, slots=True)
class ScmSource:
    """A git repository and how to make an SRPM from it (copr's ``scm``)."""

    clone_url: str
    committish: str = ""
    subdirectory: str = ""
    spec: str = ""
    srpm_build_method: str = "rpkg"
    type: str = "git"


Source = PypiSource | RubygemSource | ScmSource
_TYPE_OF = {PypiSource: "pypi", RubygemSource: "rubygems", ScmSource: "scm"}


def parse_source_type(value: object) -> str:
    """copr's number or name → the name; only the three types built here are accepted."""
    names = {number: name for name, number in SOURCE_TYPES.items()}
    if isinstance(value, int) and not isinstance(value, bool) and value in names:
        name = names[value]
    elif isinstance(value, str) and value in SOURCE_TYPES:
        name = value
    else:
        raise _bad(f"source_type {value!r:.80} is not one of copr's BuildSourceEnum values")
    if name not in _BUILT_HERE:
        raise _bad(f"source_type {name!r} cannot be built here (only pypi, rubygems and scm; or give srpm_url)")
    return name


def parse_source(source_type: object, source_json: object) -> Source:
    """Validate copr's pair; raise :class:`BadInputError` (``malformed_task``) saying what is wrong."""
    name = parse_source_type(source_type)
    params = _params(source_json)
    if name == "pypi":
        return _pypi(params)
    if name == "rubygems":
        return _rubygem(params)
    return _scm(params)


def source_record(source: Source) -> tuple[int, dict[str, Any]]:
    """``(source_type, source_json)`` for a task record; :func:`parse_source` reads it back."""
    params = asdict(source)
    if isinstance(source, PypiSource):
        params["python_versions"] = list(source.python_versions)
    return SOURCE_TYPES[_TYPE_OF[type(source)]], params


def split_requirement(text: str) -> tuple[str, str | None]:
    """``NAME==VERSION`` or ``NAME`` (the command line's form) → ``(name, version or None)``."""
    name, sep, version = text.partition("==")
    return name.strip(), (version.strip() if sep else None)


def _params(source_json: object) -> dict[str, Any]:
    if isinstance(source_json, str):
        try:
            source_json = json.loads(source_json)
        except ValueError as exc:
            raise _bad(f"source_json is not JSON: {exc}") from None
    if not isinstance(source_json, dict):
        raise _bad(f"source_json must be an object: {source_json!r:.200}")
    return source_json


def _text(params: dict[str, Any], key: str, *, required: bool = False) -> str:
    """An optional string field: absent, null and "" all mean empty, as copr's forms send them."""
    value = params.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _bad(f"source_json.{key} must be a string: {value!r:.80}")
    if required and not value:
        raise _bad(f"source_json.{key} is required")
    if len(value) > _MAX_TEXT or any(ord(c) < 32 or c == "\x7f" for c in value):
        raise _bad(f"source_json.{key} is too long or holds control characters")
    return value


def _pypi(params: dict[str, Any]) -> PypiSource:
    name = _text(params, "pypi_package_name", required=True)
    if not _PYPI_NAME.match(name):
        raise _bad(f"source_json.pypi_package_name {name!r} is not a valid Python project name")
    version = _text(params, "pypi_package_version") or None
    if version is not None:
        try:
            Version(version)
        except InvalidVersion:
            raise _bad(f"source_json.pypi_package_version {version!r} is not a PEP 440 version") from None
    pythons = params.get("python_versions") or ["3"]
    if not isinstance(pythons, list) or not all(isinstance(p, str | int) for p in pythons):
        raise _bad(f"source_json.python_versions must be a list: {pythons!r:.80}")
    pythons = [str(p) for p in pythons]
    if "3" not in pythons:
        raise _bad(f"python_versions {pythons} lacks 3: only Python 3 packages are built")
    template = _text(params, "spec_template")
    if template not in ("", "fedora"):
        raise _bad(f"spec_template {template!r} is not supported: only the Fedora template is built here")
    generator = _text(params, "spec_generator") or None
    return PypiSource(name, version, tuple(sorted(set(pythons))), generator, template)


def _rubygem(params: dict[str, Any]) -> RubygemSource:
    name = _text(params, "gem_name", required=True)
    if not _GEM_NAME.match(name):
        raise _bad(f"source_json.gem_name {name!r} is not a valid gem name")
    version = _text(params, "gem_version") or None
    if version is not None and not _GEM_VERSION.match(version):
        raise _bad(f"source_json.gem_version {version!r} is not a gem version")
    return RubygemSource(name, version)


def _scm(params: dict[str, Any]) -> ScmSource:
    kind = _text(params, "type") or "git"
    if kind != "git":
        raise _bad(f"scm type {kind!r} is not supported: only git")
    url = _text(params, "clone_url", required=True)
    parts = urlsplit(url)
    if parts.scheme not in _CLONE_SCHEMES or not parts.hostname:
        raise _bad(f"clone_url {url!r} must be an http, https or git:// URL with a host")
    committish = _text(params, "committish")
    if committish.startswith("-") or ".." in committish or any(c in committish for c in " ~^:?*[\\"):
        raise _bad(f"committish {committish!r} is not a branch, tag, commit or ref name")
    method = _text(params, "srpm_build_method") or "rpkg"
    if method not in SRPM_BUILD_METHODS:
        raise _bad(f"srpm_build_method {method!r} is not one of {', '.join(SRPM_BUILD_METHODS)}")
    spec = _relative(params, "spec")
    if spec and not spec.endswith(".spec"):
        raise _bad(f"source_json.spec {spec!r} must end with .spec")
    return ScmSource(url, committish, _relative(params, "subdirectory"), spec, method, kind)


def _relative(params: dict[str, Any], key: str) -> str:
    """A path inside the repository: relative, normalised, never leaving it."""
    value = _text(params, key).strip("/") if params.get(key) else ""
    if not value:
        return ""
    normal = posixpath.normpath(value)
    if normal == ".." or normal.startswith("../") or "\\" in value:
        raise _bad(f"source_json.{key} {value!r} leaves the repository")
    return "" if normal == "." else normal


def default_package_name(source: Source) -> str:
    """The package a source becomes when nobody names it: Fedora's ``python-<name>``
    and ``rubygem-<gem>``; for a repository, its name (the spec must agree)."""
    if isinstance(source, PypiSource):
        return "python-" + re.sub(r"[-_.]+", "-", source.pypi_package_name).lower()
    if isinstance(source, RubygemSource):
        return f"rubygem-{source.gem_name}"
    path = urlsplit(source.clone_url).path.rstrip("/")
    return posixpath.basename(path).removesuffix(".git") or "package"
