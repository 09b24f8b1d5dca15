"""The text/binary decision (libmagic parity is checked in tests/integration)."""

from __future__ import annotations

import pytest

from copr_importer.core.encoding import SNIFF_BYTES, is_binary


@pytest.mark.parametrize(
    ("data", "binary"),
    [
        (b"", True),
        (b"plain ascii\n", False),
        ("café\n".encode(), False),
        (b"caf\xe9\n", False),
        (b"\x1b[0m colour\n", False),
        (b"a\x00b", True),
        (b"abc\x01", True),
        (b"\x1f\x8b\x08\x00", True),
        (b"\xff\xfeh\x00i\x00", False),
        (b"\xff\xfeh\x00\x01\x00", True),
    ],
)
def test_examples(data: bytes, binary: bool) -> None:
    assert is_binary(data) is binary


def test_only_the_sniffed_prefix_counts() -> None:
    assert is_binary(b"a" * SNIFF_BYTES + b"\x00") is False
    assert is_binary(b"a" * (SNIFF_BYTES - 1) + b"\x00") is True
