"""Choosing a release's sdist from a simple index page, and its RPM version.

The project page of a PyPI-compatible index comes as PEP 691 JSON or PEP 503
HTML; both become a list of :class:`IndexFile`.  :func:`choose_sdist` picks the
source distribution the way ``pip download --no-binary :all:`` would: the pinned
version (yanked files allowed, PEP 592), or else the newest final release that
has an sdist and is not yanked (pre-releases only when nothing else exists).
:func:`rpm_version` spells a PEP 440 version as Fedora's Python guidelines do
(``1.0rc1`` → ``1.0~rc1``, ``1.0.post2`` → ``1.0^post2``, ``1.0.dev3`` → ``1.0~~dev3``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin

from packaging.version import InvalidVersion, Version

from ..errors import BadInputError, PermanentError

__all__ = ["IndexFile", "choose_sdist", "normalize", "parse_project_page", "rpm_version", "sdist_version"]

_SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz")
_HASHES = ("sha512", "sha384", "sha256")  # strongest first; md5 is not accepted as a check


def normalize(name: str) -> str:
    """PEP 503's normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True, slots=True)
class IndexFile:
    """One file of a project page."""

    filename: str
    url: str
    hashes: dict[str, str] = field(default_factory=dict)
    yanked: bool = False

    def best_hash(self) -> tuple[str, str] | None:
        """The strongest published hash, as ``(hashlib name, hex digest)``."""
        for name in _HASHES:
            if self.hashes.get(name):
                return name, self.hashes[name].lower()
        return None


def parse_project_page(body: bytes, *, page_url: str) -> list[IndexFile]:
    """Files of a PEP 691 JSON or PEP 503 HTML project page; relative URLs resolved."""
    text = body.decode("utf-8", errors="replace")
    if text.lstrip().startswith("{"):
        return _from_json(text, page_url=page_url)
    parser = _Anchors(page_url)
    parser.feed(text)
    return parser.files


def _from_json(text: str, *, page_url: str) -> list[IndexFile]:
    try:
        page = json.loads(text)
        files = [
            IndexFile(
                str(f["filename"]),
                urljoin(page_url, str(f["url"])),
                {str(k): str(v) for k, v in (f.get("hashes") or {}).items()},
                bool(f.get("yanked")),
            )
            for f in page["files"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PermanentError(f"the index's project page is not PEP 691 JSON: {exc}", code="source_not_found") from None
    return files


class _Anchors(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__()
        self.page_url = page_url
        self.files: list[IndexFile] = []
        self._href: str | None = None
        self._yanked = False
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            values = dict(attrs)
            self._href, self._yanked, self._text = values.get("href"), "data-yanked" in values, ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag != "a" or self._href is None:
            return
        url, fragment = urldefrag(urljoin(self.page_url, self._href))
        name, _, digest = fragment.partition("=")
        hashes = {name: digest} if digest else {}
        filename = self._text.strip() or url.rsplit("/", 1)[-1]
        self.files.append(IndexFile(filename, url, hashes, self._yanked))
        self._href = None


def sdist_version(filename: str, *, project: str) -> Version | None:
    """The version in an sdist's file name, or None for a wheel, another project or junk."""
    lower = filename.lower()
    suffix = next((s for s in _SDIST_SUFFIXES if lower.endswith(s)), None)
    if suffix is None:
        return None
    stem = filename[: -len(suffix)]
    wanted = normalize(project)
    # Old sdists spell the name with dashes ("python-dateutil-2.8.2"): try each split.
    for cut in (m.start() for m in re.finditer("-", stem)):
        if normalize(stem[:cut]) == wanted:
            try:
                return Version(stem[cut + 1 :])
            except InvalidVersion:
                return None
    return None


def choose_sdist(files: list[IndexFile], *, project: str, version: str | None) -> tuple[IndexFile, Version]:
    """The sdist to build; :class:`BadInputError` ``source_not_found`` when there is none."""
    candidates = [(f, v) for f in files if (v := sdist_version(f.filename, project=project)) is not None]
    if version is not None:
        pinned = Version(version)
        matching = [(f, v) for f, v in candidates if v == pinned]
        if not matching:
            known = ", ".join(sorted({str(v) for _, v in candidates}, key=Version)[-10:]) or "none"
            raise BadInputError(
                f"{project} has no source distribution of version {version} (versions with one: {known})",
                code="source_not_found",
            )
        return _preferred(matching)
    usable = [(f, v) for f, v in candidates if not f.yanked]
    finals = [(f, v) for f, v in usable if not v.is_prerelease]
    pool = finals or usable
    if not pool:
        raise BadInputError(f"{project} has no source distribution on the index", code="source_not_found")
    newest = max(v for _, v in pool)
    return _preferred([(f, v) for f, v in pool if v == newest])


def _preferred(choices: list[tuple[IndexFile, Version]]) -> tuple[IndexFile, Version]:
    """``.tar.gz`` (PEP 625's format) before the older archive kinds."""
    return min(choices, key=lambda c: (not c[0].filename.lower().endswith(".tar.gz"), c[0].filename))


def rpm_version(version: Version) -> str:
    """A PEP 440 version as an RPM ``Version:`` (Fedora's Python guidelines)."""
    text = ".".join(str(part) for part in version.release)
    if version.pre is not None:
        text += f"~{version.pre[0]}{version.pre[1]}"
    if version.post is not None:
        text += f"^post{version.post}"
    if version.dev is not None:
        text += f"~~dev{version.dev}"
    if version.local is not None:
        text += f"^{version.local.replace('-', '.')}"
    return text
