"""Reading processes from ``/proc``: titles, children, liveness (Linux)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["alive", "children", "descendants", "in_sessions", "title", "titled", "with_environment"]


def title(pid: int) -> str:
    """The command line as ``ps`` shows it (a process title replaces it); '' if the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid), or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[1])


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie holds no files, locks or ports)."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    """Live direct children of ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[1] == pid and stat[0] not in ("Z", "X"):
                found.append(int(entry))
    return sorted(found)


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    for child in children(pid):
        found += [child, *descendants(child)]
    return found


def titled(prefix: str, *, under: int) -> list[int]:
    """Live descendants of ``under`` whose title starts with ``prefix``."""
    return [p for p in descendants(under) if title(p).startswith(prefix)]


def _others(name: str) -> Iterator[tuple[int, bytes]]:
    """(pid, ``/proc/<pid>/<name>``) of every process but this one (those that end meanwhile skipped)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                yield int(entry), Path(f"/proc/{entry}/{name}").read_bytes()
            except OSError:
                continue


def with_environment(name: str, value: str) -> list[int]:
    """Live processes whose environment has ``name=value`` (children inherit it, whatever
    their process group or parent now), this process excepted.

    Blind to a process that set its title (``setproctitle`` reuses the environment's memory
    for the title, and ``/proc/<pid>/environ`` reads empty): see :func:`in_sessions`."""
    needle = f"{name}={value}".encode()
    return sorted(pid for pid, environ in _others("environ") if needle in environ.split(b"\0") and alive(pid))


def in_sessions(sessions: set[int], *, zombies: bool = False) -> dict[int, int]:
    """pid -> session of the live processes (and zombies if ``zombies``) in one of
    ``sessions``, this process excepted.  A session outlives its leader; a process leaves
    it only by starting its own (``setsid``).  A session's number is free for reuse once
    no process (zombies included) is in it: drop it from ``sessions`` then."""
    found = {}
    for pid, raw in _others("stat"):
        fields = raw[raw.rindex(b")") + 2 :].split()
        if int(fields[3]) in sessions and (zombies or fields[0] not in (b"Z", b"X")):
            found[pid] = int(fields[3])
    return found
