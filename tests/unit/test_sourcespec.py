"""Task records that name a source (copr's source_type and source_json) instead of an SRPM."""

from __future__ import annotations

import json
from typing import Any

import pytest

from copr_importer.core.sourcespec import PypiSource, RubygemSource, ScmSource, default_package_name
from copr_importer.core.task import MalformedTask, parse_task

BASE: dict[str, Any] = {
    "build_id": 9,
    "owner": "alice",
    "project": "demo",
    "branches": ["f43"],
    "pkg_name": "python-six",
    "sandbox": "alice/demo--alice",
    "background": False,
}
# Exactly what copr's forms write (frontend/coprs_frontend/coprs/forms.py).
COPR_PYPI = {
    "pypi_package_name": "six",
    "pypi_package_version": "1.16.0",
    "spec_generator": "pyp2spec",
    "spec_template": "",
    "python_versions": ["3"],
}
COPR_SCM = {
    "type": "git",
    "clone_url": "https://git.example.invalid/foo.git",
    "subdirectory": "",
    "committish": "",
    "spec": "",
    "srpm_build_method": "rpkg",
}


@pytest.mark.parametrize("source_type", [5, "pypi"])
def test_copr_pypi_records_parse_by_number_or_name_and_round_trip(source_type: object) -> None:
    task = parse_task({**BASE, "source_type": source_type, "source_json": json.dumps(COPR_PYPI)})
    assert task.source == PypiSource("six", "1.16.0", ("3",), "pyp2spec", "")
    assert task.srpm_url == ""
    record = task.to_record()
    assert record["source_type"] == 5 and "srpm_url" not in record
    assert parse_task(json.loads(json.dumps(record))) == task


def test_copr_scm_and_rubygems_records() -> None:
    scm = parse_task({**BASE, "pkg_name": "foo", "source_type": 8, "source_json": COPR_SCM})
    assert scm.source == ScmSource("https://git.example.invalid/foo.git")
    gem = parse_task({**BASE, "pkg_name": "rubygem-rake", "source_type": 6, "source_json": {"gem_name": "rake"}})
    assert gem.source == RubygemSource("rake")
    assert parse_task(gem.to_record()) == gem


def test_link_records_with_their_srpm_url_stay_srpm_imports() -> None:
    task = parse_task({**BASE, "srpm_url": "https://x.invalid/a-1-1.src.rpm", "source_type": 1, "source_json": "{}"})
    assert task.source is None and task.srpm_url.endswith(".src.rpm")


@pytest.mark.parametrize(
    ("source_type", "params", "reason"),
    [
        (3, {}, "BuildSourceEnum"),
        ("custom", {}, "cannot be built here"),
        (5, "not json", "not JSON"),
        (5, [], "must be an object"),
        (5, {}, "pypi_package_name is required"),
        (5, {"pypi_package_name": "six; rm -rf /"}, "not a valid Python project name"),
        (5, {"pypi_package_name": "six", "pypi_package_version": "latest"}, "PEP 440"),
        (5, {"pypi_package_name": "six", "python_versions": ["2"]}, "only Python 3"),
        (5, {"pypi_package_name": "six", "spec_template": "mageia"}, "only the Fedora template"),
        (6, {"gem_name": "../x"}, "not a valid gem name"),
        (8, {**COPR_SCM, "type": "svn"}, "only git"),
        (8, {**COPR_SCM, "clone_url": "file:///etc"}, "http, https or git://"),
        (8, {**COPR_SCM, "clone_url": "/srv/git/foo"}, "http, https or git://"),
        (8, {**COPR_SCM, "clone_url": "ext::sh -c touch% /tmp/x"}, "http, https or git://"),
        (8, {**COPR_SCM, "committish": "--upload-pack=touch /tmp/x"}, "committish"),
        (8, {**COPR_SCM, "subdirectory": "../.."}, "leaves the repository"),
        (8, {**COPR_SCM, "spec": "foo.txt"}, "must end with .spec"),
        (8, {**COPR_SCM, "srpm_build_method": "mock"}, "srpm_build_method"),
        (8, {**COPR_SCM, "clone_url": 7}, "must be a string"),
    ],
)
def test_bad_sources_are_malformed_tasks_that_keep_the_build_id(
    source_type: object, params: object, reason: str
) -> None:
    with pytest.raises(MalformedTask) as err:
        parse_task({**BASE, "source_type": source_type, "source_json": params})
    assert err.value.code == "malformed_task" and err.value.build_id == 9
    assert reason in err.value.message


def test_a_record_needs_an_srpm_url_or_a_source_but_not_both() -> None:
    with pytest.raises(MalformedTask, match="lacks srpm_url"):
        parse_task(BASE)
    with pytest.raises(MalformedTask, match="not both"):
        parse_task({**BASE, "srpm_url": "https://x.invalid/a.src.rpm", "source_type": 5, "source_json": COPR_PYPI})


def test_default_package_names_follow_fedora() -> None:
    assert default_package_name(PypiSource("Zope.Interface")) == "python-zope-interface"
    assert default_package_name(RubygemSource("rake")) == "rubygem-rake"
    assert default_package_name(ScmSource("https://h.invalid/group/foo.git/")) == "foo"
