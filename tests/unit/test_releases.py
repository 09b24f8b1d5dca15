"""Choosing a release from a simple index page or a compact index, and spelling versions for RPM."""

from __future__ import annotations

import pytest
from packaging.version import Version

from copr_importer.core.gemrelease import choose_release, parse_info, version_key
from copr_importer.core.gemspec import requirement_lines
from copr_importer.core.pyrelease import IndexFile, choose_sdist, parse_project_page, rpm_version, sdist_version
from copr_importer.core.pyspec import SdistFacts, spec_context
from copr_importer.errors import BadInputError

PAGE = "http://127.0.0.1:9/simple/python-dateutil/"


def test_html_and_json_pages_give_the_same_files() -> None:
    html = (
        b'<html><body><a href="../../f/python-dateutil-2.8.2.tar.gz#sha256=AB12">python-dateutil-2.8.2.tar.gz</a>\n'
        b'<a href="../../f/python_dateutil-2.9.0-py3-none-any.whl#sha256=cd">python_dateutil-2.9.0-py3-none-any.whl</a>'
        b'<a data-yanked="" href="../../f/python-dateutil-3.0.tar.gz">python-dateutil-3.0.tar.gz</a></body></html>'
    )
    files = parse_project_page(html, page_url=PAGE)
    assert files[0] == IndexFile(
        "python-dateutil-2.8.2.tar.gz", "http://127.0.0.1:9/f/python-dateutil-2.8.2.tar.gz", {"sha256": "AB12"}
    )
    assert files[2].yanked and files[0].best_hash() == ("sha256", "ab12")
    as_json = (
        b'{"meta": {"api-version": "1.0"}, "name": "python-dateutil", "files": ['
        b'{"filename": "python-dateutil-2.8.2.tar.gz", "url": "../../f/python-dateutil-2.8.2.tar.gz",'
        b' "hashes": {"sha256": "AB12"}}]}'
    )
    assert parse_project_page(as_json, page_url=PAGE)[0] == files[0]


def test_the_newest_final_unyanked_sdist_is_chosen_unless_pinned() -> None:
    files = [
        IndexFile("Foo_Bar-1.0.tar.gz", "u1"),
        IndexFile("foo-bar-1.1.zip", "u2"),
        IndexFile("foo-bar-1.1.tar.gz", "u3"),
        IndexFile("foo_bar-2.0rc1.tar.gz", "u4"),
        IndexFile("foo_bar-1.5.tar.gz", "u5", yanked=True),
        IndexFile("foo_bar-3.0-py3-none-any.whl", "u6"),
        IndexFile("foo-bar-baz-9.0.tar.gz", "u7"),
    ]
    assert choose_sdist(files, project="Foo.Bar", version=None) == (files[2], Version("1.1"))
    assert choose_sdist(files, project="foo-bar", version="1.5")[0] is files[4]  # pinned: yanked is allowed
    assert choose_sdist(files, project="foo-bar", version="2.0rc1")[0] is files[3]
    with pytest.raises(BadInputError, match=r"no source distribution of version 3\.0") as err:
        choose_sdist(files, project="foo-bar", version="3.0")
    assert err.value.code == "source_not_found"
    with pytest.raises(BadInputError, match="no source distribution on the index"):
        choose_sdist(files[5:6], project="foo-bar", version=None)
    assert sdist_version("foo-bar-baz-9.0.tar.gz", project="foo-bar") is None


@pytest.mark.parametrize(
    ("pep440", "rpm"),
    [("1.0", "1.0"), ("1.0rc1", "1.0~rc1"), ("2.0b2", "2.0~b2"), ("1.0.post2", "1.0^post2"), ("1.0.dev3", "1.0~~dev3")],
)
def test_rpm_versions_follow_fedora_python_guidelines(pep440: str, rpm: str) -> None:
    assert rpm_version(Version(pep440)) == rpm


def test_gem_versions_order_as_rubygems_does() -> None:
    ordered = ["0.9", "1.0.a", "1.0.b1", "1.0", "1.0.1", "1.2", "1.10"]
    assert sorted(reversed(ordered), key=version_key) == ordered
    info = (
        "---\n1.0.0 |checksum:aa\n1.1.0 json:>= 2|checksum:bb,ruby:>= 2.7\n"
        "1.1.0-java |checksum:cc\n2.0.pre |checksum:dd\n"
    )
    releases = parse_info(info)
    assert choose_release(releases, gem="g", version=None).sha256 == "bb"
    assert choose_release(releases, gem="g", version="2.0.pre").sha256 == "dd"
    with pytest.raises(BadInputError, match=r"no version 3\.0") as err:
        choose_release(releases, gem="g", version="3.0")
    assert err.value.code == "source_not_found"


def test_gem_requirements_as_gem2rpm_writes_them() -> None:
    pessimistic = {"requirements": [["~>", {"version": "3.12"}]]}
    assert requirement_lines("rubygem(rspec)", pessimistic) == ["(rubygem(rspec) >= 3.12 with rubygem(rspec) < 4)"]
    assert requirement_lines("ruby", {"requirements": [[">=", {"version": "0"}]]}) == ["ruby"]
    assert requirement_lines("ruby", {"requirements": [[">=", {"version": "2.7"}]]}) == ["ruby >= 2.7"]


def test_metadata_text_cannot_inject_macros_and_must_match_the_release() -> None:
    pkg_info = (
        "Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 1.0\nSummary: 100% %{lua: os.exit()} fun\n"
        "License: MIT\nProject-URL: Homepage, https://h.invalid/foo\n"
    )
    facts = SdistFacts(
        "foo_bar-1.0.tar.gz",
        "http://i.invalid/f/foo_bar-1.0.tar.gz",
        "foo_bar-1.0",
        ("PKG-INFO", "src/foo_bar/__init__.py", "LICENSE", "README.md", "setup.py"),
        pkg_info,
    )
    context = spec_context(
        facts, project="foo-bar", version="1.0", rpm_version="1.0", pkg_name="python-foo-bar", packager="P <p@x>"
    )
    assert context["summary"] == "100%% %%{lua: os.exit()} fun"
    assert context["modules"] == "foo_bar" and context["license_files"] and context["docs"] == ["README.md"]
    assert context["url"] == "https://h.invalid/foo" and not context["archful"]
    with pytest.raises(BadInputError, match=r"not foo-bar 2\.0") as err:
        spec_context(facts, project="foo-bar", version="2.0", rpm_version="2.0", pkg_name="p", packager="P")
    assert err.value.code == "spec_generation_failed"


def test_index_data_cannot_reach_paths_or_macros() -> None:
    """A hostile index names files and versions: they become paths and spec lines."""
    releases = parse_info("---\n../../etc/x |checksum:aa\n1.0%{lua:x} |checksum:bb\n1.0 |checksum:cc\n")
    assert [r.version for r in releases] == ["1.0"]
    pkg_info = "Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n"
    hostile_url = "http://i.invalid/f/%{lua:os.exit()}\n%prep/foo-1.0.tar.gz"
    facts = SdistFacts("foo-1.0.tar.gz", hostile_url, "foo-1.0", ("PKG-INFO",), pkg_info)
    context = spec_context(facts, project="foo", version="1.0", rpm_version="1.0", pkg_name="p", packager="P")
    assert "\n" not in context["source"] and "%{" not in context["source"].replace("%%", "")
    with pytest.raises(BadInputError, match="unusual top directory"):
        spec_context(
            SdistFacts("foo-1.0.tar.gz", "http://i.invalid/f", "foo 1.0\n%prep", ("PKG-INFO",), pkg_info),
            project="foo", version="1.0", rpm_version="1.0", pkg_name="p", packager="P",
        )  # fmt: skip
