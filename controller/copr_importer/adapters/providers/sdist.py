"""Reading an sdist's metadata without unpacking it.

An sdist is a ``.tar.gz`` (or an old ``.zip``/``.tar.bz2``) whose members all sit
under one directory holding ``PKG-INFO``.  Only the member names, ``PKG-INFO``
and setuptools' ``*.egg-info/top_level.txt`` are read, each bounded in size, so
a hostile archive costs at most a listing.  Nothing is written to disk.
"""

from __future__ import annotations

import calendar
import tarfile
import zipfile
from pathlib import Path

from ...core.pyspec import SdistFacts
from ...errors import BadInputError

__all__ = ["read_sdist"]

_MAX_MEMBERS = 100_000
_MAX_METADATA = 1024 * 1024


def _broken(filename: str, why: str) -> BadInputError:
    return BadInputError(f"{filename}: {why}", code="spec_generation_failed")


def read_sdist(path: Path, *, filename: str, url: str) -> SdistFacts:
    """The facts :func:`~copr_importer.core.pyspec.spec_context` needs."""
    try:
        if filename.lower().endswith(".zip"):
            names, mtime, texts = _zip(path)
        else:
            names, mtime, texts = _tar(path)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise _broken(filename, f"not a readable archive: {exc}") from None
    tops = {name.split("/", 1)[0] for name in names}
    if len(tops) != 1:
        raise _broken(filename, f"members are not under one directory ({', '.join(sorted(tops)[:5])})")
    (top,) = tops
    members = tuple(sorted(n.split("/", 1)[1] for n in names if "/" in n and n.split("/", 1)[1]))
    pkg_info = texts.get(f"{top}/PKG-INFO")
    if pkg_info is None:
        raise _broken(filename, f"no readable {top}/PKG-INFO")
    top_level = next((text for name, text in sorted(texts.items()) if name.endswith("/top_level.txt")), None)
    return SdistFacts(
        filename=filename,
        url=url,
        top_dir=top,
        members=members,
        pkg_info=pkg_info,
        top_level=top_level,
        mtime=mtime.get(f"{top}/PKG-INFO", 0),
    )


def _wanted(name: str) -> bool:
    parts = name.split("/")
    return (len(parts) == 2 and parts[1] == "PKG-INFO") or (
        len(parts) == 3 and parts[1].endswith(".egg-info") and parts[2] == "top_level.txt"
    )


def _tar(path: Path) -> tuple[list[str], dict[str, int], dict[str, str]]:
    names: list[str] = []
    mtimes: dict[str, int] = {}
    texts: dict[str, str] = {}
    with tarfile.open(path, mode="r:*") as archive:
        for info in archive:
            if len(names) >= _MAX_MEMBERS:
                raise tarfile.TarError(f"more than {_MAX_MEMBERS} members")
            name = info.name.removeprefix("./").rstrip("/")
            names.append(name)
            mtimes[name] = int(info.mtime)
            if _wanted(name) and info.isfile() and info.size <= _MAX_METADATA:
                stream = archive.extractfile(info)
                if stream is not None:
                    texts[name] = stream.read(_MAX_METADATA).decode("utf-8", errors="replace")
    return names, mtimes, texts


def _zip(path: Path) -> tuple[list[str], dict[str, int], dict[str, str]]:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if len(infos) > _MAX_MEMBERS:
            raise zipfile.BadZipFile(f"more than {_MAX_MEMBERS} members")
        names = [i.filename.rstrip("/") for i in infos]
        mtimes = {n: calendar.timegm((*i.date_time, 0, 0, 0)) for n, i in zip(names, infos, strict=True)}
        texts = {}
        for name, info in zip(names, infos, strict=True):
            if _wanted(name) and info.file_size <= _MAX_METADATA:
                with archive.open(info) as stream:
                    texts[name] = stream.read(_MAX_METADATA).decode("utf-8", errors="replace")
    return names, mtimes, texts
