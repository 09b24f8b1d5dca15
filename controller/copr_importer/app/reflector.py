"""A reflector: keeps a local view of one kind of object in step with the cluster.

It lists, hands the whole list to ``reset``, then watches from the list's
resourceVersion and hands every event to ``apply``.  A watch that ends normally
(the server's timeout) resumes from the last resourceVersion seen, bookmarks
included; 410 Gone means the version was compacted away, so it lists again; any
other failure lists again after a backoff of 1 s doubling to 30 s.  A first list that
fails (the apiserver is down at start-up, RBAC refuses) is no error for the caller:
the background thread keeps trying with the same backoff, and ``listed`` stays False
until it succeeds.  This is client-go's reflector cut down to what the executor needs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from ..adapters.kube import Expired, WatchEvent
from ..errors import ImporterError

__all__ = ["Reflector"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Reflector(Generic[T]):
    """One list+watch loop in a daemon thread; ``open`` lists once in the caller's thread."""

    def __init__(
        self,
        *,
        name: str,
        lister: Callable[[], tuple[list[T], str]],
        watcher: Callable[[str], Iterator[WatchEvent[T]]],
        reset: Callable[[list[T]], None],
        apply: Callable[[str, T], None],
        broken: Callable[[str], None] = lambda why: None,
    ) -> None:
        self.name = name
        self._lister, self._watcher, self._reset, self._apply = lister, watcher, reset, apply
        self._broken = broken  # told why when the view may be stale, until the next ``reset``
        self.version = ""
        self.listed = False  # a list succeeded at least once
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"{name}-watch", daemon=True)

    def open(self, *, block: bool = True) -> None:
        """List once (in the caller's thread with ``block``, so that its first look sees the
        cluster when it can be reached); then watch, or keep trying to list, in the background."""
        if block:
            self._relist_quietly()
        self._thread.start()

    def close(self) -> None:
        self._stopping.set()

    def relist(self) -> None:
        items, self.version = self._lister()
        self._reset(items)
        self.listed = True

    def _loop(self) -> None:
        delay = 1.0
        if not self.listed:
            self._relist_quietly()
        while not self._stopping.is_set():
            if not self.listed:  # never listed: nothing to watch from yet
                self._stopping.wait(delay)
                delay = min(delay * 2, 30.0)
                self._relist_quietly()
                delay = 1.0 if self.listed else delay
                continue
            try:
                for kind, item, version in self._watcher(self.version):
                    self.version = version
                    if item is not None:
                        self._apply(kind, item)
                    if self._stopping.is_set():
                        return
                delay = 1.0
            except Expired:
                log.info("%s watch expired; listing again", self.name)
                self._relist_quietly()
            except Exception as exc:
                self._broken(f"the {self.name} watch failed: {exc}")
                log.warning("%s watch failed (%s); listing again in %.0f s", self.name, exc, delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, 30.0)
                self._relist_quietly()

    def _relist_quietly(self) -> None:
        try:
            self.relist()
        except ImporterError as exc:
            self._broken(f"cannot list {self.name}s: {exc}")
            log.warning("cannot list %ss: %s", self.name, exc)
