"""How the local executor puts a worker's end into words (the pool itself: integration/test_worker_pool.py)."""

from __future__ import annotations

import signal

from copr_importer.app.localexec import describe_exit
from copr_importer.app.zygote import LOST


def test_a_signal_names_the_signal_and_sigkill_its_usual_suspect() -> None:
    assert describe_exit(signal.SIGKILL) == "killed by SIGKILL (the OOM killer, or someone)"
    assert describe_exit(signal.SIGSEGV | 0x80) == "killed by SIGSEGV"  # with a core dump


def test_an_exit_names_its_code() -> None:
    assert describe_exit(1 << 8) == "exit code 1"
    assert describe_exit(0) == "exit code 0"


def test_children_of_a_dead_zygote_died_with_it() -> None:
    assert describe_exit(LOST) == "killed with its zygote, which died"
