"""Choosing a gem release from a RubyGems compact index (``GET /info/<gem>``).

The compact index is what ``gem`` and bundler read: after a ``---`` line, one line
per release, ``VERSION[-PLATFORM] DEPS|REQS``, where REQS holds
``checksum:<sha256>`` and the ruby/rubygems requirements.  :func:`choose_release`
picks the pinned version, or the newest release for the ``ruby`` platform that is
not a pre-release (a version with a letter), ordered as ``Gem::Version`` orders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import BadInputError

__all__ = ["GemRelease", "choose_release", "parse_info", "version_key"]

_SEGMENT = re.compile(r"[0-9]+|[a-z]+", re.IGNORECASE)
# A line of another shape is skipped: its fields become file names and spec text.
_VERSION = re.compile(r"^[0-9]+(\.[0-9A-Za-z]+)*$")
_PLATFORM = re.compile(r"^[A-Za-z0-9_.-]*$")


@dataclass(frozen=True, slots=True)
class GemRelease:
    """One line of the compact index."""

    version: str
    platform: str
    sha256: str | None

    @property
    def prerelease(self) -> bool:
        return any(c.isalpha() for c in self.version)


def parse_info(text: str) -> list[GemRelease]:
    """Releases listed by an ``/info/<gem>`` body."""
    releases = []
    lines = text.splitlines()
    body = lines[lines.index("---") + 1 :] if "---" in lines else lines
    for line in body:
        if not line.strip():
            continue
        head, _, rest = line.partition(" ")
        version, _, platform = head.partition("-")
        requirements = rest.partition("|")[2]
        checksum = next((r.split(":", 1)[1] for r in requirements.split(",") if r.startswith("checksum:")), None)
        if not _VERSION.match(version) or not _PLATFORM.match(platform):
            continue
        releases.append(GemRelease(version, platform or "ruby", checksum))
    return releases


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key that orders versions as ``Gem::Version#<=>``: numeric segments
    compare as numbers, a letter segment sorts before any number (``1.0.a < 1.0``),
    missing segments count as 0."""
    segments: list[tuple[int, int | str]] = [
        (1, int(s)) if s.isdigit() else (0, s.lower()) for s in _SEGMENT.findall(version)
    ]
    return tuple(segments + [(1, 0)] * (32 - len(segments)))


def choose_release(releases: list[GemRelease], *, gem: str, version: str | None) -> GemRelease:
    """The release to build; ``source_not_found`` when there is none."""
    ruby = [r for r in releases if r.platform == "ruby"]
    if version is not None:
        for release in ruby:
            if release.version == version:
                return release
        known = ", ".join(sorted({r.version for r in ruby}, key=version_key)[-10:]) or "none"
        raise BadInputError(f"gem {gem} has no version {version} (latest: {known})", code="source_not_found")
    pool = [r for r in ruby if not r.prerelease] or ruby
    if not pool:
        raise BadInputError(f"gem {gem} has no release for the ruby platform", code="source_not_found")
    return max(pool, key=lambda r: version_key(r.version))
