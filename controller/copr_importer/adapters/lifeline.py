"""What a process of the embedded importer asks of the kernel about itself.

* :func:`die_with_parent`: SIGKILL when the parent dies (``PR_SET_PDEATHSIG``),
  so no worker or git-writer outlives its controller to hand over or commit a
  build late.  It checks afterwards that the parent is still the expected one: a
  parent that died before the request would leave the child orphaned for good,
  so such a child exits at once.  The kernel sends the signal when the parent
  *thread* that forked the child ends; every fork here happens on a main thread.
* :func:`set_title`: the command line ``ps`` and ``/proc/<pid>/cmdline`` show, so
  an operator tells the controller, the zygote, each worker and the writer apart.
* :func:`limit_address_space`: ``RLIMIT_AS`` for an import worker.  An allocation
  beyond it fails inside that worker (``MemoryError``, or an abort in C code)
  instead of the machine swapping or the OOM killer picking some victim.
* :func:`start_ticks`: a process's start time in clock ticks since boot, which
  with the pid names one process for good (pids are reused, start times are not).
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal

import setproctitle

__all__ = ["EXIT_ORPHANED", "die_with_parent", "limit_address_space", "set_title", "start_ticks"]

EXIT_ORPHANED = 70  # EX_SOFTWARE: the parent was gone before the child could ask to die with it
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when its parent dies; exit now if ``parent_pid`` is already gone."""
    if _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if os.getppid() != parent_pid:  # reparented before the request took effect
        os._exit(EXIT_ORPHANED)


def set_title(title: str) -> None:
    setproctitle.setproctitle(title)


def limit_address_space(limit: int | None) -> None:
    """Cap this process's address space at ``limit`` bytes (None or 0: leave it as it is).

    Only the soft limit: the commands a source build runs (git, rpmbuild, make) set
    their own, larger limits, and without CAP_SYS_RESOURCE a hard limit could not be
    raised again for them."""
    if limit:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def start_ticks(pid: int) -> int | None:
    """Field 22 of ``/proc/<pid>/stat``; None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or parentheses.
    return int(stat[stat.rindex(b")") + 2 :].split()[19])
