"""``copr-importer cgit-list``: list in cgit every repository that is not listed yet.

The git-writer lists each repository it commits to; repositories that existed
before (imported by copr-dist-git, or before the web side was deployed) appear
after their next import, or after this command.  It writes the list, which only
the git-writer may do, so it takes the writer's lock: with a writer running it
exits 75 and says so (stop the writer, or run it before the first start).
"""

from __future__ import annotations

import argparse

from ..app.gitwriter import GitWriter
from .common import add_common, settings_from

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cgit = sub.add_parser("cgit-list", help="list every existing repository in cgit's include file")
    add_common(cgit)
    cgit.set_defaults(func=_cmd_cgit_list)


def _cmd_cgit_list(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    writer = GitWriter(settings=settings)
    writer.acquire()  # WriterBusy: exit 75
    try:
        added = writer.cgit_list.ensure_all()
    finally:
        writer.close()
    print(f"{settings.cgit_list_path}: {added} repositories added")
    return 0
