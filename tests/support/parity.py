"""Verdicts on one RPM file: the importer's reader and unpacker, and rpm's own tools.

:func:`our_verdict` runs what the import step runs (``read_package`` then
``unpack`` into a scratch directory) and returns the files it accepted, or the
refusal.  :func:`rpm_checks` asks ``rpm -K --nosignature`` about many files in
one process; :func:`rpm2archive_files` unpacks one file with ``rpm2archive``.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from copr_importer.adapters.rpmfile import read_package
from copr_importer.adapters.unpacker import unpack
from copr_importer.errors import BadInputError
from copr_importer.settings import UnpackSettings

__all__ = ["Verdict", "error_class", "our_verdict", "rpm2archive_files", "rpm_checks"]


@dataclass
class Verdict:
    files: dict[str, bytes] | None = None
    error: str | None = None
    code: str | None = None
    unhandled: str | None = None
    seconds: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)


def our_verdict(path: Path, *, scratch: Path, limits: UnpackSettings | None = None) -> Verdict:
    started = time.process_time()
    dest = scratch / "out"
    shutil.rmtree(dest, ignore_errors=True)
    verdict = Verdict()
    try:
        with open(path, "rb") as stream:
            package = read_package(stream)
            unpacked = unpack(stream, package=package, dest=dest, limits=limits or UnpackSettings())
        verdict.files = {f.name: f.path.read_bytes() for f in unpacked}
    except BadInputError as exc:
        verdict.error, verdict.code = exc.message, exc.code
    except Exception as exc:  # the corpus reports these; none may happen
        verdict.unhandled = f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    verdict.seconds = time.process_time() - started
    return verdict


def error_class(message: str) -> str:
    """A refusal's message without the parts that vary (names, numbers, digests)."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message)
    text = re.sub(r"\b[0-9a-f]{16,}\b", "<hex>", text)
    return re.sub(r"-?\d+", "N", text)


def rpm_checks(paths: list[Path], *, batch: int = 200) -> dict[Path, bool]:
    """``rpm -K --nosignature``'s verdict per file; one process per ``batch`` files.

    rpm prints ``<path>:`` and then ``digests OK`` (or less) per file, so the text
    between one path and the next is that file's verdict."""
    verdicts: dict[Path, bool] = {}
    for i in range(0, len(paths), batch):
        chunk = paths[i : i + batch]
        out = subprocess.run(
            ["rpmkeys", "-K", "--nosignature", *map(str, chunk)], capture_output=True, text=True, errors="replace"
        ).stdout
        for j, path in enumerate(chunk):
            start = out.find(f"{path}:") + len(f"{path}:")
            end = out.find(f"{chunk[j + 1]}:", start) if j + 1 < len(chunk) else len(out)
            text = out[start:end].strip()
            verdicts[path] = text.endswith("OK") and "NOT OK" not in text
    return verdicts


def rpm2archive_files(path: Path) -> dict[str, bytes] | None:
    """The regular files ``rpm2archive`` unpacks (name without ``./`` → content), None if it fails."""
    with open(path, "rb") as stdin:
        done = subprocess.run(["rpm2archive", "-n"], stdin=stdin, capture_output=True)
    if done.returncode != 0 or b"Error" in done.stderr:
        return None
    files = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
            for member in tar.getmembers():
                content = tar.extractfile(member) if member.isfile() else None
                files[member.name.removeprefix("./")] = content.read() if content else b"<not a regular file>"
    except (tarfile.TarError, EOFError):
        return None
    return files
