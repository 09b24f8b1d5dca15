"""Which pending tasks start now: copr's priority order under global and per-key caps.

Priority follows copr-dist-git: ``(100 if background else 0) + k`` where ``k`` is
the task's 1-based position among the queue's tasks of the same sandbox, in
build-id order; lower runs first and ties go to the lower build id.  A user's
first import therefore overtakes someone else's mass rebuild.

:func:`choose` is the single decision function used by every executor.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from .task import ImportTask

__all__ = ["BACKGROUND_PENALTY", "Limits", "choose", "prioritize"]

BACKGROUND_PENALTY = 100


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on concurrently running imports; ``None`` means no cap for that key."""

    total: int
    per_owner: int | None = 5
    per_sandbox: int | None = 3


def prioritize(queue: Sequence[ImportTask]) -> list[ImportTask]:
    """The queue in the order copr would start it (running tasks count for ``k``)."""
    seen: Counter[str] = Counter()
    keyed: list[tuple[int, int, ImportTask]] = []
    for task in sorted(queue, key=lambda t: t.build_id):
        seen[task.sandbox] += 1
        priority = (BACKGROUND_PENALTY if task.background else 0) + seen[task.sandbox]
        keyed.append((priority, task.build_id, task))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [task for _, _, task in keyed]


def choose(
    *,
    queue: Sequence[ImportTask],
    running: Sequence[ImportTask],
    limits: Limits,
    held: Collection[int] = (),
    presorted: bool = False,
) -> list[ImportTask]:
    """Tasks to start now, in start order.

    ``queue`` is the frontend's whole importing queue (it still lists running
    tasks), ``running`` what occupies a slot now (it may include tasks that have
    left the queue), ``held`` build ids that must not start yet (backoff, already
    finished but not reported).  With ``presorted`` the queue is already in
    :func:`prioritize` order (callers cache it between polls of a long queue).
    Lowering ``limits.total`` below ``len(running)`` starts nothing and stops nothing.
    """
    free = limits.total - len(running)
    if free <= 0:
        return []
    running_ids = {t.build_id for t in running}
    per_owner = Counter(t.owner for t in running)
    per_sandbox = Counter(t.sandbox for t in running)
    chosen: list[ImportTask] = []
    for task in queue if presorted else prioritize(queue):
        if len(chosen) == free:
            break
        if task.build_id in running_ids or task.build_id in held:
            continue
        if limits.per_owner is not None and per_owner[task.owner] >= limits.per_owner:
            continue
        if limits.per_sandbox is not None and per_sandbox[task.sandbox] >= limits.per_sandbox:
            continue
        chosen.append(task)
        running_ids.add(task.build_id)
        per_owner[task.owner] += 1
        per_sandbox[task.sandbox] += 1
    return chosen
