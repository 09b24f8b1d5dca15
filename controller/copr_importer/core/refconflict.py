"""Branch names that cannot live together in one repository.

Refs are files under ``refs/heads/``, so git refuses ``fedora/26`` while a branch
``fedora`` exists, and ``fedora`` while ``fedora/26`` exists.  The git-writer asks
this before creating a branch, so such a branch fails alone (the build's input
asked for it) instead of surfacing as a filesystem error.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ref_conflict"]


def ref_conflict(name: str, *, existing: Iterable[str]) -> str | None:
    """Why branch ``name`` cannot be created next to ``existing`` branches, or None."""
    for other in existing:
        if other.startswith(name + "/") or name.startswith(other + "/"):
            return f"branch {other!r} exists, and git cannot have both {other!r} and {name!r}"
    return None
