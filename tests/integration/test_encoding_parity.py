"""The text/binary decision agrees with ``file --mime-encoding`` (libmagic), as rpkg uses it."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

from copr_importer.core.encoding import is_binary
from tests.support.srpms import binary_tarball

SAMPLES: dict[str, bytes] = {
    "empty": b"",
    "ascii": b"Name: foo\nVersion: 1\n",
    "utf8": "Zürich ✓\n".encode(),
    "latin1": "Zürich\n".encode("latin-1"),
    "nel": b"x\x85y\n",
    "c1": b"x\x81y\n",
    "esc": b"\x1b[1mbold\x1b[0m\n",
    "crlf": b"a\r\nb\r\n",
    "formfeed": b"a\x0cb\n",
    "nul": b"abc\x00def",
    "bell_only": b"\x07\x07",
    "ctrl": b"abc\x02",
    "gzip": binary_tarball(name="x", version="1"),
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "utf16": "\ufeffhello\n".encode("utf-16-le"),
    "utf16_be": "\ufeffhello\n".encode("utf-16-be"),
    "late_nul": b"a" * 70_000 + b"\x00",
    "early_nul": b"a" * 60_000 + b"\x00" + b"a" * 10_000,
    "patch": b"--- a\n+++ b\n@@ -1 +1 @@\n-\tx\n+\ty\n",
    "pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n\x00",
}


def test_same_decision_as_libmagic(tmp_path: Path) -> None:
    rnd = random.Random(7)
    samples = dict(SAMPLES)
    for i in range(40):  # random mostly-text buffers with occasional odd bytes
        alphabet = bytes(range(0x20, 0x7F)) + b"\n\t" + bytes([rnd.randrange(256) for _ in range(3)])
        samples[f"random{i}"] = bytes(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 400)))
    for name, data in samples.items():
        (tmp_path / name).write_bytes(data)
    names = sorted(samples)
    out = subprocess.run(
        ["file", "-b", "--mime-encoding", *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LC_ALL": "C"},
    ).stdout.splitlines()
    disagreements = {
        n: (m, is_binary(samples[n]))
        for n, m in zip(names, out, strict=True)
        if (m == "binary") != is_binary(samples[n])
    }
    assert disagreements == {}


def test_known_divergence_ebcdic(tmp_path: Path) -> None:
    """libmagic's EBCDIC test is not reproduced (see core/encoding.py): such a file
    goes to the lookaside instead of git, which still round-trips."""
    (tmp_path / "del").write_bytes(b"abc\x7f")
    out = subprocess.run(["file", "-b", "--mime-encoding", "del"], cwd=tmp_path, capture_output=True, text=True).stdout
    assert out.strip() == "ebcdic" and is_binary(b"abc\x7f")
