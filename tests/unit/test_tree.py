"""What an import keeps and removes, and ``.gitignore`` upkeep."""

from __future__ import annotations

from copr_importer.core.tree import compose_tree, merge_gitignore


def test_old_files_are_removed_except_the_kept_ones() -> None:
    old = {
        p: p
        for p in [
            "old.spec",
            "old.patch",
            "sources",
            ".gitignore",
            "README.md",
            "gating.yaml",
            "tests/tests.yml",
            "tests/x/run.sh",
            "testsuite.txt",
        ]
    }
    new = {"new.spec": "N", "sources": "S"}
    assert compose_tree(old=old, new=new) == {
        "new.spec": "N",
        "sources": "S",
        ".gitignore": ".gitignore",
        "README.md": "README.md",
        "gating.yaml": "gating.yaml",
        "tests/tests.yml": "tests/tests.yml",
        "tests/x/run.sh": "tests/x/run.sh",
    }


def test_gitignore_gains_entries_once_and_keeps_user_lines() -> None:
    text = merge_gitignore("*.swp\n/a.tar.gz\n", filenames=["b.tar.gz", "a.tar.gz"])
    assert text == "*.swp\n/a.tar.gz\n/b.tar.gz\n"
    assert merge_gitignore(text, filenames=["a.tar.gz", "b.tar.gz"]) == text
    assert merge_gitignore("", filenames=[]) == ""
