"""Which lookaside files of one package are garbage: the pure half of ``gc-lookaside``.

A file is garbage when no branch head's ``sources`` (and no request still waiting
for the git-writer) names it, and it is older than the safety age.  Both on-disk
layouts are recognised, whatever the current setting, so that a cache written
before ``with_hashtype_dir`` was switched is still understood:

* copr's ``<file>/<hash>/<file>`` (the hash type follows from the digest's
  length: 32 hex digits are md5, 128 are sha512);
* the modern ``<file>/<hashtype>/<hash>/<file>``.

Anything else under the package directory (a crashed store's temporary file, a
stray directory) is *unrecognised* and never collected: the collector removes only
what it can prove is an unreferenced lookaside object.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .retention import FileFacts, is_older
from .sources import SourceEntry, parse_sources

__all__ = ["PackageVerdict", "classify", "entry_of", "referenced_entries"]

_TYPE_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_HEX = frozenset("0123456789abcdef")


def _is_hex(text: str) -> bool:
    return bool(text) and set(text) <= _HEX


def entry_of(relpath: str) -> SourceEntry | None:
    """The lookaside object a path (relative to the package directory) stores, or None."""
    parts = relpath.split("/")
    if len(parts) == 3 and parts[0] == parts[2]:
        name, digest = parts[0], parts[1]
        hashtype = _TYPE_BY_LENGTH.get(len(digest))
    elif len(parts) == 4 and parts[0] == parts[3]:
        name, hashtype, digest = parts[0], parts[1], parts[2]
        if _TYPE_BY_LENGTH.get(len(digest)) != hashtype:
            return None
    else:
        return None
    if hashtype is None or not _is_hex(digest):
        return None
    return SourceEntry(name, hashtype, digest)


def referenced_entries(sources_texts: Iterable[str | None]) -> set[SourceEntry]:
    """Every entry named by the given ``sources`` files (None: a branch without one).

    Raises :class:`~copr_importer.errors.BadInputError` on a malformed file: the
    caller must then skip the package, since it cannot know what is referenced.
    """
    referenced: set[SourceEntry] = set()
    for text in sources_texts:
        if text:
            referenced.update(parse_sources(text, default_hashtype="md5"))
    return referenced


@dataclass(slots=True)
class PackageVerdict:
    """One package's files, sorted into what the collector removes and what it keeps."""

    garbage: list[FileFacts] = field(default_factory=list)
    referenced: list[FileFacts] = field(default_factory=list)
    young: list[FileFacts] = field(default_factory=list)
    """Unreferenced but younger than the safety age: perhaps an import in flight."""
    unrecognised: list[FileFacts] = field(default_factory=list)


def classify(
    files: Iterable[FileFacts], *, referenced: set[SourceEntry], now: float, safety_age_days: float
) -> PackageVerdict:
    """Sort ``files`` (paths relative to the package directory)."""
    verdict = PackageVerdict()
    for facts in sorted(files, key=lambda f: f.path):
        entry = entry_of(facts.path)
        if entry is None:
            verdict.unrecognised.append(facts)
        elif entry in referenced:
            verdict.referenced.append(facts)
        elif not is_older(facts.mtime, now=now, days=safety_age_days):
            verdict.young.append(facts)
        else:
            verdict.garbage.append(facts)
    return verdict
