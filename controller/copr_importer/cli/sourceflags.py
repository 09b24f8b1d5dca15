"""``copr-importer run``'s source options: build SRPMs from PyPI, RubyGems or git.

``--pypi NAME[==VERSION]``, ``--rubygem NAME[==VERSION]`` and
``--scm URL[#COMMITTISH]`` (with ``--subdirectory``, ``--spec``, ``--method``)
each add one local task record in copr's terms (``source_type`` and
``source_json``); they repeat and mix with SRPM paths.  ``--index-url`` and
``--gem-source`` override the ``sources`` settings for the run.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..core.sourcespec import SOURCE_TYPES, SRPM_BUILD_METHODS, split_requirement

__all__ = ["add_source_options", "source_records"]


def add_source_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("building the SRPM from a source (instead of SRPM paths)")
    group.add_argument("--pypi", action="append", default=[], metavar="NAME[==VERSION]", help="a PyPI project")
    group.add_argument("--rubygem", action="append", default=[], metavar="NAME[==VERSION]", help="a gem")
    group.add_argument("--scm", action="append", default=[], metavar="URL[#COMMITTISH]", help="a git repository")
    group.add_argument("--subdirectory", default="", help="--scm: the directory to build in")
    group.add_argument("--spec", default="", help="--scm: the spec file, relative to --subdirectory")
    group.add_argument("--method", choices=SRPM_BUILD_METHODS, default="rpkg", help="--scm: how to build the SRPM")
    group.add_argument("--index-url", help="the PyPI-compatible simple index (default: pip's)")
    group.add_argument("--gem-source", help="the RubyGems-compatible source (default: gemrc's)")


def source_records(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One task record per source option, in copr's names."""
    records = []
    for text in args.pypi:
        name, version = split_requirement(text)
        params = {"pypi_package_name": name, "pypi_package_version": version, "python_versions": ["3"]}
        records.append({"source_type": SOURCE_TYPES["pypi"], "source_json": params})
    for text in args.rubygem:
        name, version = split_requirement(text)
        records.append(
            {"source_type": SOURCE_TYPES["rubygems"], "source_json": {"gem_name": name, "gem_version": version}}
        )
    for text in args.scm:
        url, _, committish = text.partition("#")
        params = {
            "type": "git",
            "clone_url": url,
            "committish": committish,
            "subdirectory": args.subdirectory,
            "spec": args.spec,
            "srpm_build_method": args.method,
        }
        records.append({"source_type": SOURCE_TYPES["scm"], "source_json": params})
    return records
