"""The controller's side of the spool's ordering tickets, robust to a refusing disk.

A ticket says "build b of this package is on its way" (``adapters/spool.py``).  The
controller files one before a task may start and drops it once the task is reported
or gone.  Filing can fail: a full or read-only disk opens the storage problem and the
task simply is not queued until a later poll files its ticket; a ticket name longer
than the file system allows (``ENAMETOOLONG``: owner, project and package names at
their maximum lengths) is the record's fault, and :meth:`Tickets.file` says so.  A
ticket that could not be dropped is dropped later (a stale ticket would hold back the
package's later builds), and those of builds that are gone are swept after the first
poll of a run.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

from ..adapters.spool import Spool
from ..core import naming
from ..core.task import ImportTask
from .storagehealth import StorageHealth

__all__ = ["FILED", "NAME_TOO_LONG", "REFUSED", "Tickets", "ticket_key"]

FILED, REFUSED, NAME_TOO_LONG = "filed", "refused", "name too long"


def ticket_key(task: ImportTask) -> str:
    return naming.reponame_key(task.reponame)


class Tickets:
    """Files and drops tickets; remembers the drops that failed (see the module docstring)."""

    def __init__(self, *, spool: Spool, storage: StorageHealth) -> None:
        self.spool, self.storage = spool, storage
        self._stale: set[tuple[str, int]] = set()

    def file(self, task: ImportTask) -> str:
        """:data:`FILED`, :data:`REFUSED` (the disk; try again later) or :data:`NAME_TOO_LONG`."""
        try:
            self.spool.add_ticket(key=ticket_key(task), build_id=task.build_id)
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                return NAME_TOO_LONG
            self.storage.failed(exc, doing=f"filing the ordering ticket of build {task.build_id}")
            return REFUSED
        return FILED

    def drop(self, *, key: str, build_id: int) -> None:
        try:
            self.spool.remove_ticket(key=key, build_id=build_id)
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                return  # it was never filed
            self._stale.add((key, build_id))
            self.storage.failed(exc, doing=f"removing the ordering ticket of build {build_id}")

    def drop_stale(self) -> None:
        """Try again the drops that failed."""
        for key, build_id in list(self._stale):
            self._stale.discard((key, build_id))
            self.drop(key=key, build_id=build_id)

    def sweep(self, *, keep: Callable[[int], bool]) -> None:
        """Drop the tickets an earlier run left for builds that are gone (they would block their package)."""
        for key, build_id in list(self.spool.all_tickets()):
            if not keep(build_id):
                self.drop(key=key, build_id=build_id)
