"""N, the live cap on running imports, read from a ConfigMap value while running.

:class:`LiveLimit` parses each new raw value; an invalid one (not an integer,
negative, absurdly large, or a missing key) leaves the last good value in force
and is returned as a problem for the caller to publish (a Warning Event).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LimitUpdate", "LiveLimit", "MAX_LIMIT", "limit_problem"]

MAX_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class LimitUpdate:
    """What one refresh did: the value in force, whether it changed, and any problem."""

    value: int
    changed: bool
    problem: str | None = None


class LiveLimit:
    """The last good N; ``known`` once a valid value was read (until then ``value`` is ``initial``)."""

    def __init__(self, initial: int) -> None:
        self.value = initial
        self.known = False
        self._last_raw: str | None = None

    def update(self, raw: str | None) -> LimitUpdate:
        """Apply a raw ConfigMap value (None: the key is missing)."""
        if raw == self._last_raw:
            return LimitUpdate(self.value, changed=False)  # reported once per distinct value
        self._last_raw = raw
        problem = limit_problem(raw)
        if problem:
            return LimitUpdate(self.value, changed=False, problem=f"{problem}; keeping {self.value}")
        assert raw is not None
        new = int(raw.strip())
        changed, self.value = new != self.value, new
        self.known = True
        return LimitUpdate(new, changed=changed)


def limit_problem(raw: str | None) -> str | None:
    """Why ``raw`` is not a valid N (None: the key is missing), or None when it is valid.

    The controller and ``copr-importer set-limit`` share it, so the CLI refuses
    exactly what the controller would ignore.
    """
    if raw is None:
        return "the parallelism key is missing"
    text = raw.strip()
    if not (text.isascii() and text.isdigit()):  # str.isdigit also accepts "²", which int() refuses
        return f"parallelism {raw!r} is not a non-negative integer"
    if int(text) > MAX_LIMIT:
        return f"parallelism {text} is above the maximum of {MAX_LIMIT}"
    return None
