"""What goes into a Python package's spec, from its sdist's own metadata.

Input: the sdist's ``PKG-INFO`` (core metadata, RFC 822 headers), the names of
its members and, when the sdist carries one, setuptools' ``top_level.txt``.
Output: the variables of ``templates/python.spec.j2``, a spec that follows
Fedora's current Python packaging guidelines (``%pyproject_*`` macros,
``python3-<name>`` subpackage, SPDX license).  Text from the metadata is made
safe for a spec: one line, ``%`` doubled so rpm expands no macro from it.
"""

from __future__ import annotations

import posixpath
import re
import time
from dataclasses import dataclass
from email.parser import HeaderParser
from typing import Any
from urllib.parse import quote

from packaging.version import InvalidVersion, Version

from ..errors import BadInputError
from .pyrelease import normalize

__all__ = ["SdistFacts", "spec_context", "spec_text", "spec_url"]

# Trove classifiers of the common licenses → SPDX; anything else needs License-Expression.
_CLASSIFIER_SPDX = {
    "MIT License": "MIT",
    "BSD License": "BSD-3-Clause",
    "Apache Software License": "Apache-2.0",
    "ISC License (ISCL)": "ISC",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "Python Software Foundation License": "PSF-2.0",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
}
_NATIVE = (".c", ".cc", ".cpp", ".cxx", ".pyx", ".rs", ".f90")
_LICENSE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|AUTHORS)([.-].*)?$", re.IGNORECASE)
_DOC_FILE = re.compile(r"^(README|CHANGES|CHANGELOG|HISTORY|NEWS)([.-].*)?$", re.IGNORECASE)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._+-]+$")
_NOT_MODULES = {"setup", "conftest", "noxfile", "tasks", "fabfile", "test", "tests", "docs", "doc", "examples"}


@dataclass(frozen=True, slots=True)
class SdistFacts:
    """What the adapter read from the archive."""

    filename: str
    url: str
    top_dir: str
    members: tuple[str, ...]
    """Paths below ``top_dir``."""
    pkg_info: str
    top_level: str | None = None
    mtime: int = 0


def spec_text(value: str) -> str:
    """One line of text that rpm takes literally."""
    return " ".join(value.split()).replace("%", "%%")


def spec_url(url: str) -> str:
    """A URL from an index as a spec's ``Source:``: no whitespace (percent-encoded), no macro."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~").replace("%", "%%")


def spec_context(
    facts: SdistFacts, *, project: str, version: str, rpm_version: str, pkg_name: str, packager: str
) -> dict[str, Any]:
    """The template's variables; :class:`BadInputError` ``spec_generation_failed`` when
    the sdist's metadata contradicts the release it came as."""
    meta = HeaderParser().parsestr(facts.pkg_info)
    name, meta_version = meta.get("Name", ""), meta.get("Version", "")
    if normalize(name) != normalize(project) or not _same_version(meta_version, version):
        raise BadInputError(
            f"{facts.filename}: PKG-INFO describes {name or '?'} {meta_version or '?'}, not {project} {version}",
            code="spec_generation_failed",
        )
    if not _SAFE_NAME.match(facts.top_dir):
        raise BadInputError(f"{facts.filename}: unusual top directory {facts.top_dir!r}", code="spec_generation_failed")
    top_files = sorted({m.split("/", 1)[0] for m in facts.members if "/" not in m})
    modules = _modules(facts)
    url = spec_url(facts.url)
    source = url if posixpath.basename(facts.url.split("?", 1)[0]) == facts.filename else None
    return {
        "filename": facts.filename,
        "packager": spec_text(packager),
        "pkg_name": pkg_name,
        "srcname": normalize(name),
        "pypi_name": name,
        "version": rpm_version,
        "summary": spec_text(meta.get("Summary") or f"The {name} Python package").rstrip("."),
        "license": _license(meta),
        "url": spec_text(_home(meta) or facts.url.rsplit("/", 1)[0]),
        "source": source or f"{url}#/{facts.filename}",
        "archive_dir": facts.top_dir,
        "archful": any(m.lower().endswith(_NATIVE) or m.endswith("Cargo.toml") for m in facts.members),
        "modules": " ".join(modules) if modules else "'*' +auto",
        "license_files": bool([f for f in top_files if _LICENSE_FILE.match(f)]) or bool(meta.get_all("License-File")),
        "docs": [f for f in top_files if _DOC_FILE.match(f) and _SAFE_NAME.match(f)],
        "requires_python": spec_text(meta.get("Requires-Python") or ""),
        "changelog_date": time.strftime("%a %b %d %Y", time.gmtime(facts.mtime)),
    }


def _same_version(left: str, right: str) -> bool:
    try:
        return Version(left) == Version(right)
    except InvalidVersion:
        return False


def _license(meta: Any) -> str:
    expression = meta.get("License-Expression")
    if expression:
        return spec_text(expression)
    text = (meta.get("License") or "").strip()
    if text and "\n" not in text and len(text) <= 80 and text.upper() != "UNKNOWN":
        return spec_text(text)
    for classifier in meta.get_all("Classifier") or []:
        kind = classifier.rsplit(" :: ", 1)[-1]
        if classifier.startswith("License ::") and kind in _CLASSIFIER_SPDX:
            return _CLASSIFIER_SPDX[kind]
    return "LicenseRef-Not-Specified"


def _home(meta: Any) -> str:
    for entry in meta.get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip().lower() in ("homepage", "home", "source", "repository"):
            return str(url).strip()
    home = (meta.get("Home-page") or "").strip()
    return home if home.upper() != "UNKNOWN" else ""


def _modules(facts: SdistFacts) -> list[str]:
    """Top-level import names: setuptools' list when shipped, else packages and modules
    found at the root or under ``src/``; empty when unsure (the spec then uses ``+auto``)."""
    if facts.top_level is not None:
        return sorted({line.strip() for line in facts.top_level.splitlines() if line.strip().isidentifier()})
    found: set[str] = set()
    for member in facts.members:
        parts = member.removeprefix("src/").split("/")
        if len(parts) == 2 and parts[1] == "__init__.py":
            found.add(parts[0])
        elif len(parts) == 1 and member.endswith(".py") and "/" not in member:
            found.add(parts[0][:-3])
    return sorted(m for m in found if m.isidentifier() and m not in _NOT_MODULES)
