"""Starting what admission picks, each confirmed by the frontend first without waiting for it.

With ``confirm_before_start`` (copr's worker does the same), a picked task is asked
about with ``get-import-task`` on the confirm lane and holds its slot meanwhile: it
counts as running for the caps and is not picked again.  When the answer comes, the task
starts with the record the frontend returned, unless the build is gone (skipped), its
record turned malformed (reported), it was canceled or finished meanwhile, N went down,
or starts are paused.  A start the executor refuses (the cluster throttles, cannot be
reached, the Job template is broken) or a confirmation that fails spends no attempt:
starts pause for 1 s, doubling to a minute while it keeps failing, so a broken cluster
or frontend is not hammered.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection
from typing import Any, Protocol

from ..adapters import phasetrace
from ..adapters.frontend import error_kind
from ..core.admission import Limits, choose
from ..core.backoff import exponential
from ..core.observer import Observer
from ..core.task import ImportTask, MalformedTask
from ..errors import ImporterError
from .lanes import Done, Lane
from .localexec import Outcome
from .logformat import task_fields

__all__ = ["Dispatcher", "Executor"]

log = logging.getLogger(__name__)


class Executor(Protocol):
    def start(self, task: ImportTask) -> None: ...
    def running(self) -> list[ImportTask]: ...
    def poll(self) -> list[Outcome]: ...
    def cancel(self, build_id: int) -> None: ...
    def wait(self, timeout: float) -> None: ...


class Hooks(Protocol):
    """What the dispatcher asks of the controller, whose queue it is."""

    def wanted(self, build_id: int) -> bool: ...  # still queued, neither reported nor awaiting the writer
    def gone(self, task: ImportTask) -> None: ...  # the frontend no longer has the build
    def reject(self, build_id: int, message: str) -> None: ...  # its record is malformed
    def started(self, task: ImportTask) -> None: ...


class Dispatcher:
    """See the module docstring."""

    def __init__(
        self,
        *,
        confirm: Callable[[int], ImportTask | None] | None,
        executor: Executor,
        lane: Lane,
        limits: Callable[[], Limits],
        observer: Observer,
        hooks: Hooks,
        clock: Callable[[], float],
    ) -> None:
        self.confirm, self.executor, self.lane, self.limits = confirm, executor, lane, limits
        self.observer, self.hooks, self.clock = observer, hooks, clock
        self.confirming: dict[int, ImportTask] = {}  # picked, waiting for the frontend's answer
        self._failures = 0  # consecutive failures to start or confirm
        self._paused_until = 0.0

    def busy(self) -> bool:
        return bool(self.confirming)

    def dispatch(self, *, candidates: Callable[[], tuple[list[ImportTask], Collection[int]]], paused: bool) -> None:
        """Start (or confirm) what fits from ``candidates()``: the queue in priority order, and
        the build ids to skip.  It is only asked when a slot is free and starts are not paused."""
        self._take_answers(paused=paused)
        running, limits = self.executor.running(), self.limits()
        self.observer.capacity(running=running, limit=limits.total)
        if len(running) + len(self.confirming) >= limits.total or paused or self._pausing():
            return  # no free slot, or starts are paused: skip walking a queue that may hold 100 000 tasks
        ordered, held = candidates()
        busy = [*running, *self.confirming.values()]
        held = {*held, *self.confirming}
        for task in choose(queue=ordered, running=busy, limits=limits, held=held, presorted=True):
            if self.confirm is None:
                if not self._start(task):
                    return
            elif self.lane.free() > 0:
                self.confirming[task.build_id] = task
                phasetrace.mark(task.build_id, "confirming")
                self.lane.submit(task.build_id, functools.partial(self.confirm, task.build_id))
        self._take_answers(paused=paused)

    def _pausing(self) -> bool:
        return self.clock() < self._paused_until

    def _take_answers(self, *, paused: bool) -> None:
        for done in self.lane.finished():
            assert isinstance(done.key, int)
            self._answered(self.confirming.pop(done.key), done, paused=paused)

    def _answered(self, task: ImportTask, done: Done, *, paused: bool) -> None:
        build_id = task.build_id
        phasetrace.mark(build_id, "confirmed")
        if isinstance(done.error, MalformedTask):
            self.hooks.reject(build_id, done.error.message)
        elif done.error is not None:
            self.observer.frontend_error("confirm", kind=error_kind(done.error))
            self._pause(f"cannot confirm build {build_id}: {done.error}", task=task)
        elif done.value is None:
            log.info("build %d is gone from the frontend; skipping it", build_id, extra=_fields(task))
            self.hooks.gone(task)
        elif self.hooks.wanted(build_id) and not (paused or self._pausing()):
            if len(self.executor.running()) < self.limits().total:  # N may have gone down meanwhile
                self._start(done.value)

    def _start(self, task: ImportTask) -> bool:
        log.info("starting build %d (%s)", task.build_id, task.reponame, extra=_fields(task))
        try:
            self.executor.start(task)
        except (ImporterError, OSError) as exc:
            self._pause(f"cannot start build {task.build_id}: {exc}", task=task)
            return False
        phasetrace.mark(task.build_id, "dispatched")
        self._failures = 0
        self.hooks.started(task)
        self.observer.dispatched(task.build_id)
        return True

    def _pause(self, why: str, *, task: ImportTask) -> None:
        self._failures += 1
        pause = exponential(self._failures, first=1.0, cap=60.0)
        self._paused_until = self.clock() + pause
        log.error("%s; dispatching again in %.0f s", why, pause, extra=_fields(task))


def _fields(task: ImportTask) -> dict[str, Any]:
    return task_fields(task, phase="dispatch")
