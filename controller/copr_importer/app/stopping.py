"""Graceful stop: SIGTERM and SIGINT ask the loop to finish its current tick."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

__all__ = ["stop_on_signals"]


@contextmanager
def stop_on_signals(
    signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
) -> Iterator[Callable[[], bool]]:
    """Yield ``should_stop()``, true once one of ``signals`` arrived; restore the previous handlers on exit."""
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, on_signal) for sig in signals}
    try:
        yield lambda: stopping
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
