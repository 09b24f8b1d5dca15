"""The ``sources`` file in both formats."""

from __future__ import annotations

import pytest

from copr_importer.core.sources import SourceEntry, parse_sources, render_sources
from copr_importer.errors import BadInputError

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA = (
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)


def test_old_format_round_trip_sorted() -> None:
    entries = [SourceEntry("b.tar.gz", "md5", MD5), SourceEntry("a.tar.gz", "md5", MD5)]
    text = render_sources(entries, style="old")
    assert text == f"{MD5}  a.tar.gz\n{MD5}  b.tar.gz\n"
    assert parse_sources(text) == sorted(entries, key=lambda e: e.filename)


def test_bsd_format_round_trip() -> None:
    entries = [SourceEntry("x (1).tar.gz", "sha512", SHA)]
    text = render_sources(entries, style="bsd")
    assert text == f"SHA512 (x (1).tar.gz) = {SHA}\n"
    assert parse_sources(text) == entries


def test_empty() -> None:
    assert render_sources([], style="old") == ""
    assert parse_sources("\n") == []


@pytest.mark.parametrize(
    "text",
    [
        f"{MD5} one-space.tar.gz\n",
        f"MD5 (a) = {MD5}\nSHA512 (b) = {SHA}\n",
        "0123  short.tar.gz\n",
        f"SHA512 (a) = {MD5}\n",
    ],
)
def test_malformed(text: str) -> None:
    with pytest.raises(BadInputError):
        parse_sources(text)
