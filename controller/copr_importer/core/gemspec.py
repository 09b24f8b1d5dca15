"""What goes into a rubygem's spec, from the gem's own ``Gem::Specification``.

The specification is the YAML in the gem's ``metadata.gz``, already loaded into
plain mappings (Ruby's tags dropped).  The variables feed
``templates/rubygem.spec.j2``, modelled on gem2rpm's Fedora template
(``fedora-38-rawhide``): ``rubygem-%{gem_name}``, ``%gem_install``, the files of
the gem's top directory split into the main package and ``-doc``, development
dependencies as commented-out BuildRequires.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from ..errors import BadInputError
from .gemrelease import version_key
from .pyspec import spec_text, spec_url

__all__ = ["gem_context", "requirement_lines"]

_SAFE = re.compile(r"^[A-Za-z0-9._+-]+$")
_LICENSE = re.compile(r"^(LICEN[CS]E|COPYING|MIT-LICENSE)([.-].*)?$", re.IGNORECASE)
_DOC = re.compile(r"^(README|CHANGELOG|CHANGES|HISTORY|NEWS|doc|docs|examples?)([.-].*)?$", re.IGNORECASE)
_TEST_OR_MISC = re.compile(r"^(test|tests|spec|features|Rakefile|Gemfile.*|.*\.gemspec|\..*)$")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _version(value: Any) -> str:
    """A ``Gem::Version`` mapping (or a plain string) → its text."""
    if isinstance(value, dict):
        value = value.get("version")
    return str(value) if value is not None else ""


def requirement_lines(name: str, requirement: Any) -> list[str]:
    """RPM dependency expressions for a ``Gem::Requirement``, as gem2rpm writes them:
    ``>= 0`` is no constraint, ``~> 2.1`` is the rich dependency ``>= 2.1 with < 3``."""
    pairs = requirement.get("requirements", []) if isinstance(requirement, dict) else []
    lines = []
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2):
            continue
        op, version = str(pair[0]), _version(pair[1])
        if not _SAFE.match(version):
            continue
        if op == ">=" and version in ("0", "0.0"):
            lines.append(name)
        elif op == "~>":
            lines.append(f"({name} >= {version} with {name} < {_bump(version)})")
        elif op in (">=", ">", "<", "<=", "="):
            lines.append(f"{name} {op} {version}")
    return sorted(set(lines)) or [name]


def _bump(version: str) -> str:
    """The upper bound of ``~> version``: drop the last segment, increment the one before."""
    numbers = [p for p in version.split(".") if p.isdigit()]
    if len(numbers) < 2:
        return str(int(numbers[0]) + 1) if numbers else version
    kept = numbers[:-1]
    kept[-1] = str(int(kept[-1]) + 1)
    return ".".join(kept)


def gem_context(
    meta: dict[str, Any], *, gem: str, version: str, source_url: str, pkg_name: str, packager: str
) -> dict[str, Any]:
    """The template's variables; ``spec_generation_failed`` when the metadata is not this gem's."""
    name, meta_version = _text(meta.get("name")), _version(meta.get("version"))
    if name != gem or version_key(meta_version) != version_key(version):
        raise BadInputError(
            f"the gem's metadata describes {name} {meta_version}, not {gem} {version}", code="spec_generation_failed"
        )
    extensions = [e for e in meta.get("extensions") or [] if isinstance(e, str)]
    executables = [e for e in meta.get("executables") or [] if isinstance(e, str) and _SAFE.match(e)]
    licenses = [spec_text(x) for x in meta.get("licenses") or [] if isinstance(x, str) and x.strip()]
    deps = [d for d in meta.get("dependencies") or [] if isinstance(d, dict) and _SAFE.match(_text(d.get("name")))]
    top = sorted({f.split("/", 1)[0] for f in meta.get("files") or [] if isinstance(f, str)})
    top = [t for t in top if _SAFE.match(t)]
    return {
        "packager": spec_text(packager),
        "pkg_name": pkg_name,
        "gem_name": gem,
        "version": version,
        "summary": spec_text(_text(meta.get("summary")) or f"The {gem} gem").rstrip("."),
        "description": _description(meta),
        "license": " AND ".join(licenses) or "LicenseRef-Not-Specified",
        "url": spec_text(_text(meta.get("homepage"))),
        "source_url": spec_url(source_url),
        "ruby_requires": requirement_lines("ruby-devel" if extensions else "ruby", meta.get("required_ruby_version")),
        "rubygems_requires": requirement_lines("rubygems-devel", meta.get("required_rubygems_version")),
        "dev_requires": [
            line
            for d in deps
            if _text(d.get("type")).lstrip(":") == "development" and d["name"] not in ("rdoc", "rake", "bundler")
            for line in requirement_lines(f"rubygem({d['name']})", d.get("requirement"))
        ],
        "extensions": bool(extensions),
        "executables": executables,
        "bindir": _text(meta.get("bindir")) if _SAFE.match(_text(meta.get("bindir"))) else "bin",
        "licenses": [t for t in top if _LICENSE.match(t)],
        "docs": [t for t in top if _DOC.match(t) or _TEST_OR_MISC.match(t)],
        "main": [t for t in top if not (_LICENSE.match(t) or _DOC.match(t) or _TEST_OR_MISC.match(t))],
        "excluded": [t for t in top if t.startswith(".")],
        "changelog_date": _date(meta.get("date")),
    }


def _description(meta: dict[str, Any]) -> str:
    text = _text(meta.get("description")) or _text(meta.get("summary")) or "No description."
    lines = [" ".join(line.split()).replace("%", "%%") for line in text.strip().splitlines()[:50]]
    return "\n".join(lines)[:4000]


def _date(value: Any) -> str:
    """gem2rpm dates the changelog now; the gem's own date keeps the spec reproducible."""
    if not isinstance(value, datetime):
        try:
            value = datetime.fromisoformat(_text(value)[:10])
        except ValueError:
            value = datetime.fromtimestamp(0, tz=UTC)
    stamp = (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return time.strftime("%a %b %d %Y", time.gmtime(stamp))
