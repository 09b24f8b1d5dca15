"""The import task: copr's eight-field record, parsed and validated.

:func:`parse_task` accepts exactly what ``GET /backend/importing/`` returns per
element and raises :class:`~copr_importer.errors.BadInputError` with a reason on
anything else, so that one bad record never hides the others.

Instead of ``srpm_url`` a record may name a source to build the SRPM from:
copr's ``source_type`` and ``source_json`` (see :mod:`.sourcespec`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import BadInputError
from . import naming
from .sourcespec import Source, parse_source, source_record

__all__ = ["MAX_BUILD_ID", "ImportTask", "MalformedTask", "parse_task"]

_FIELDS = ("build_id", "owner", "project", "branches", "pkg_name", "srpm_url", "sandbox", "background")


class MalformedTask(BadInputError):
    """A task record that cannot be imported; ``build_id`` is kept when it was readable."""

    default_code = "malformed_task"

    def __init__(self, message: str, *, build_id: int | None) -> None:
        super().__init__(message)
        self.build_id = build_id


@dataclass(frozen=True, slots=True)
class ImportTask:
    """One build's import, as the frontend describes it."""

    build_id: int
    owner: str
    project: str
    pkg_name: str
    branches: tuple[str, ...]
    srpm_url: str
    sandbox: str
    background: bool = False
    source: Source | None = None
    """Where to build the SRPM from, when ``srpm_url`` is empty."""

    @property
    def reponame(self) -> str:
        """``owner/project/pkg``: what copr's report calls ``reponame``."""
        return f"{self.owner}/{self.project}/{self.pkg_name}"

    def to_record(self) -> dict[str, Any]:
        """The wire form, the inverse of :func:`parse_task`."""
        record: dict[str, Any] = {
            "build_id": self.build_id,
            "owner": self.owner,
            "project": self.project,
            "branches": list(self.branches),
            "pkg_name": self.pkg_name,
            "srpm_url": self.srpm_url,
            "sandbox": self.sandbox,
            "background": self.background,
        }
        if self.source is not None:
            del record["srpm_url"]
            record["source_type"], record["source_json"] = source_record(self.source)
        return record


# Copr's build ids are PostgreSQL ``integer`` serials (``Build.id = db.Column(db.Integer,
# primary_key=True)``): 1 to 2**31 - 1.  Anything else cannot be a build, and an unbounded
# one (10**300) would not even fit in a file name.
MAX_BUILD_ID = 2**31 - 1


def _build_id(raw: dict[str, Any]) -> int | None:
    value = raw.get("build_id")
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_BUILD_ID:
        return value
    return None


def parse_task(raw: object) -> ImportTask:
    """Validate one record; raise :class:`MalformedTask` saying what is wrong."""
    if not isinstance(raw, dict):
        raise MalformedTask(f"task record is not an object: {raw!r:.200}", build_id=None)
    build_id = _build_id(raw)
    try:
        return _parse_fields(raw, build_id)
    except MalformedTask:
        raise
    except BadInputError as exc:
        raise MalformedTask(exc.message, build_id=build_id) from None


def _parse_fields(raw: dict[str, Any], build_id: int | None) -> ImportTask:
    source = _source(raw)
    missing = [f for f in _FIELDS if f not in raw and not (f == "srpm_url" and source)]
    if missing:
        raise MalformedTask(f"task record lacks {', '.join(missing)}", build_id=build_id)
    if build_id is None:
        raise MalformedTask(
            f"build_id is not an integer from 1 to {MAX_BUILD_ID}: {raw['build_id']!r:.40}", build_id=None
        )
    branches = raw["branches"]
    if not isinstance(branches, list) or not branches or not all(isinstance(b, str) for b in branches):
        raise MalformedTask(f"branches must be a non-empty list of strings: {branches!r:.200}", build_id=build_id)
    for field in ("sandbox",) if source else ("srpm_url", "sandbox"):
        if not isinstance(raw[field], str) or not raw[field]:
            raise MalformedTask(f"{field} must be a non-empty string", build_id=build_id)
    if not isinstance(raw["background"], bool):
        raise MalformedTask(f"background must be a boolean: {raw['background']!r}", build_id=build_id)
    return ImportTask(
        build_id=build_id,
        owner=naming.check_component(raw["owner"], what="owner"),
        project=naming.check_component(raw["project"], what="project"),
        pkg_name=naming.check_component(raw["pkg_name"], what="pkg_name"),
        # The first branch, as the frontend sent it, receives the import commit and
        # the others follow it (copr-dist-git iterates the list as given); a
        # repeated name is dropped, keeping its first place.
        branches=tuple(dict.fromkeys(branches)),
        srpm_url="" if source else raw["srpm_url"],
        sandbox=raw["sandbox"],
        background=raw["background"],
        source=source,
    )


def _source(raw: dict[str, Any]) -> Source | None:
    """The record's source when it gives ``source_type``; copr's link and upload types
    are SRPM imports (their ``srpm_url`` is the SRPM)."""
    kind = raw.get("source_type")
    if kind is None or (kind in (1, 2, "link", "upload") and raw.get("srpm_url")):
        return None
    if raw.get("srpm_url"):
        raise BadInputError("give srpm_url or source_type with source_json, not both", code="malformed_task")
    return parse_source(kind, raw.get("source_json"))
