"""What an import does to a branch's tree, as rpkg's ``import_srpm`` does it.

Files that are no longer in the SRPM are removed, except the ones dist-git
keeps for itself and for CI: ``sources``, ``.gitignore``, ``README.md``,
``gating.yaml`` and everything under ``tests/``.  ``.gitignore`` gains a
``/<file>`` line per lookaside file and keeps every line it had (rpkg never
removes lines, and a user's own entries must survive).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

__all__ = ["KEPT_FILES", "compose_tree", "merge_gitignore"]

KEPT_FILES = frozenset({"sources", ".gitignore", "README.md", "gating.yaml"})
_KEPT_DIRS = ("tests/",)

Entry = TypeVar("Entry")


def is_kept(path: str) -> bool:
    """True for paths an import never deletes."""
    return path in KEPT_FILES or path.startswith(_KEPT_DIRS)


def compose_tree(*, old: Mapping[str, Entry], new: Mapping[str, Entry]) -> dict[str, Entry]:
    """The new flat tree: kept paths of ``old``, overridden by everything in ``new``."""
    tree = {path: entry for path, entry in old.items() if is_kept(path)}
    tree.update(new)
    return tree


def merge_gitignore(old_text: str, *, filenames: Iterable[str]) -> str:
    """Add ``/<file>`` for each lookaside file that is not yet listed."""
    lines = old_text.splitlines()
    present = set(lines)
    for name in sorted(filenames):
        line = f"/{name}"
        if line not in present:
            lines.append(line)
            present.add(line)
    return "".join(f"{line}\n" for line in lines)
