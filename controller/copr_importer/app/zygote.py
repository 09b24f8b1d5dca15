"""The zygote: a small, clean process that forks the embedded importer's workers and git-writer.

The controller is not a clean parent to fork from: it runs threads (the
operations server's, the frontend client's), holds a listening socket and the
data directory's lock, and has imported everything, the Kubernetes client
included.  A child forked from it inherits all of that: a lock another thread
held at the fork stays held in the child for ever, and an orphaned child keeps
the port and the lock.  So the controller starts the zygote once with fork and
exec (as multiprocessing's ``forkserver`` does): it gets only the descriptor it
is passed, imports only what the workers and the writer need (so they share
those pages instead of each importing its own copy), runs one thread, freezes its
heap for the garbage collector (``gc.freeze``, so children do not copy pages just
by collecting), and forks each worker and the writer on request in about a
millisecond.  A worker replaced after a crash, a kill or K tasks costs no
interpreter start-up and no imports; the children share the zygote's pages.

We do not use ``forkserver`` itself because the zygote must do what it cannot:
die with the controller and have its children die with it, carry a process
title, signal its children through pidfds (a kill can never reach a recycled
pid, since only the zygote reaps them), and report how each child ended.

::

    controller ── zygote ─┬─ worker 1 … N   (PDEATHSIG: die with the zygote)
                          └─ git-writer
    The zygote dies with the controller (PDEATHSIG), ignores SIGINT and SIGTERM,
    and ends when the controller closes its connection, killing what is left.

The control connection carries pickled messages; the descriptors a child is
given follow a spawn request as SCM_RIGHTS::

    controller → zygote   ("spawn", role, title, kwargs, descriptor count)   ("signal", pid, signum)
    zygote → controller   ("ready",)   ("spawned", pid)   ("failed", why)   ("exited", pid, wait status)
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..adapters import lifeline
from ..errors import TransientError
from ..settings import Settings
from .logformat import JsonFormatter, configure_logging

__all__ = ["LOST", "Role", "Zygote", "main"]

log = logging.getLogger(__name__)
_SELF = "/proc/self/exe"

Role = Callable[..., int]
"""A child's body: ``role(settings, fds, **kwargs)`` returns the child's exit code."""
ROLES = {"worker": "copr_importer.app.worker:serve", "writer": "copr_importer.app.writerchild:serve"}
LOST = -1
"""The wait status given to children of a zygote that died: they died with it."""
_ANSWER_WITHIN = 60.0  # the zygote's imports, on a loaded machine, before its first answer


class Zygote:
    """The controller's handle on its zygote, started on first use and again after it dies.

    :attr:`exits` maps the pid of each child that ended to its wait status
    (:data:`LOST` if the zygote died); a child's owner pops its own pids.
    """

    def __init__(self, *, settings: Settings) -> None:
        self.settings = settings
        self.exits: dict[int, int] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._sock: socket.socket | None = None
        self._live: set[int] = set()

    # --- children -----------------------------------------------------------

    def spawn(self, role: str, *, title: str, fds: Sequence[int] = (), **kwargs: Any) -> int:
        """Fork a child that runs ``role``; return its pid.  The caller keeps (and closes) ``fds``."""
        conn, sock = self._running()
        try:
            conn.send(("spawn", role, title, kwargs, len(fds)))
            if fds:
                socket.send_fds(sock, [b"F"], list(fds))
            answer = self._answer()
        except (EOFError, OSError) as exc:
            self._lost(f"{type(exc).__name__}: {exc}")
            raise TransientError(f"cannot start the {role}: the zygote died") from exc
        if answer[0] == "failed":
            raise TransientError(f"cannot start the {role}: {answer[1]}")
        pid: int = answer[1]
        self._live.add(pid)
        return pid

    def signal(self, pid: int, signum: int) -> None:
        """Send ``signum`` to a child that has not ended (else nothing: its pid may be reused)."""
        if pid in self._live and self._conn is not None:
            try:
                self._conn.send(("signal", pid, signum))
            except OSError as exc:
                self._lost(f"{type(exc).__name__}: {exc}")

    def collect(self) -> None:
        """Read what the zygote said without waiting: exits go to :attr:`exits`."""
        try:
            while self._conn is not None and self._conn.poll(0):
                self._handle(self._conn.recv())
        except (EOFError, OSError) as exc:
            self._lost(f"{type(exc).__name__}: {exc}")

    def connection(self) -> Connection | None:
        """What to wait on for news of the children (:func:`multiprocessing.connection.wait`)."""
        return self._conn

    def stop_children(self, *, grace: float, pids: set[int] | None = None) -> None:
        """SIGTERM the children (``pids``, or all); SIGKILL those left after ``grace`` seconds; wait for them."""
        for signum, patience in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            for pid in self._live & (self._live if pids is None else pids):
                self.signal(pid, signum)
            deadline = time.monotonic() + patience
            while self._conn is not None and self._live & (self._live if pids is None else pids):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                if self._conn.poll(min(0.1, remaining)):
                    self.collect()

    def close(self, *, grace: float) -> None:
        """Stop the children, then the zygote (it ends when its connection closes)."""
        self.stop_children(grace=grace)
        self._shut()

    # --- the zygote process ---------------------------------------------------

    def _running(self) -> tuple[Connection, socket.socket]:
        if self._conn is None or self._sock is None:
            self._start()
        assert self._conn is not None and self._sock is not None
        return self._conn, self._sock

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        package_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        command = [sys.executable, "-c", "from copr_importer.app.zygote import main; main()"]
        with theirs:
            try:
                self._process = subprocess.Popen(
                    [*command, str(theirs.fileno()), str(os.getpid())],
                    # The running interpreter's own binary, not its path: a process that
                    # dropped privileges may no longer search the directories on that path
                    # (an interpreter under /root).  argv[0] stays sys.executable, so a
                    # virtualenv's pyvenv.cfg is still found.
                    executable=_SELF if os.path.exists(_SELF) else None,
                    pass_fds=[theirs.fileno()],
                    stdin=subprocess.DEVNULL,
                    env=env,
                )
            except OSError as exc:
                ours.close()
                raise TransientError(f"cannot start the zygote: {exc}") from exc
        self._sock, self._conn = ours, Connection(os.dup(ours.fileno()))
        try:
            self._conn.send(("config", self.settings, _log_setup()))
            self._answer()
        except (EOFError, OSError) as exc:
            self._lost(f"{type(exc).__name__}: {exc}")
            raise TransientError("the zygote did not start") from exc
        log.debug("zygote started as pid %d", self._process.pid)

    def _answer(self) -> tuple[Any, ...]:
        """The next answer to a request, keeping any exit notices that come first."""
        assert self._conn is not None
        deadline = time.monotonic() + _ANSWER_WITHIN
        while True:
            if not self._conn.poll(max(0.0, deadline - time.monotonic())):
                raise OSError(f"the zygote gave no answer within {_ANSWER_WITHIN:.0f} s")
            message = self._conn.recv()
            if message[0] != "exited":
                return tuple(message)
            self._handle(message)

    def _handle(self, message: tuple[Any, ...]) -> None:
        if message[0] == "exited":
            _, pid, status = message
            self._live.discard(pid)
            self.exits[pid] = status

    def _lost(self, why: str) -> None:
        """The zygote is gone: its children died with it (PDEATHSIG); the next spawn starts a new one."""
        code = self._shut()
        if self._live:
            log.error("the zygote died (%s, exit status %s); its %d children died with it", why, code, len(self._live))
        for pid in self._live:
            self.exits[pid] = LOST
        self._live.clear()

    def _shut(self) -> int | None:
        for closable in (self._conn, self._sock):
            if closable is not None:
                closable.close()
        self._conn = self._sock = None
        process, self._process = self._process, None
        if process is None:
            return None
        try:
            return process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()


def _log_setup() -> tuple[str, int, int]:
    """The controller's logging as (format, root level, handler level), for the zygote to copy."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, logging.StreamHandler)), None)
    fmt = "json" if handler is not None and isinstance(handler.formatter, JsonFormatter) else "text"
    return fmt, root.level, handler.level if handler is not None else logging.NOTSET


# --- inside the zygote ---------------------------------------------------------


def main() -> None:
    """The zygote process: ``argv`` holds the control descriptor and the controller's pid."""
    control, parent = int(sys.argv[1]), int(sys.argv[2])
    lifeline.die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C reaches the whole group:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the controller decides how its children stop
    lifeline.set_title("copr-importer: zygote")
    sock, conn = socket.socket(fileno=control), Connection(os.dup(control))
    _, settings, (fmt, root_level, handler_level) = conn.recv()
    configure_logging(fmt=fmt, verbose=False)
    logging.getLogger().setLevel(root_level)
    logging.getLogger().handlers[0].setLevel(handler_level)
    roles = {name: _load(target) for name, target in ROLES.items()}  # the imports children share
    gc.collect()
    gc.freeze()
    conn.send(("ready",))
    _serve(conn, sock, settings=settings, roles=roles)


def _load(target: str) -> Role:
    module, _, name = target.partition(":")
    role: Role = getattr(importlib.import_module(module), name)
    return role


def _serve(conn: Connection, sock: socket.socket, *, settings: Settings, roles: dict[str, Role]) -> None:
    pidfds: dict[int, int] = {}  # pid -> pidfd, for the children not yet reaped
    try:
        while True:
            readable, _, _ = select.select([conn.fileno(), *pidfds.values()], [], [])
            for pid, pidfd in list(pidfds.items()):
                if pidfd in readable:
                    os.close(pidfds.pop(pid))
                    conn.send(("exited", pid, os.waitpid(pid, 0)[1]))
            if conn.fileno() not in readable:
                continue
            message = conn.recv()
            if message[0] == "signal" and message[1] in pidfds:
                signal.pidfd_send_signal(pidfds[message[1]], message[2])
            elif message[0] == "spawn":
                _, role, title, kwargs, count = message
                fds = socket.recv_fds(sock, 1, count)[1] if count else []
                inherited = [conn.fileno(), sock.fileno(), *pidfds.values()]
                try:
                    pid = _fork(roles[role], title=title, fds=fds, close=inherited, settings=settings, kwargs=kwargs)
                except OSError as exc:
                    conn.send(("failed", f"fork: {exc}"))
                    continue
                pidfds[pid] = os.pidfd_open(pid)
                conn.send(("spawned", pid))
    except (EOFError, OSError):
        pass  # the controller closed the connection, or died
    for pid, pidfd in pidfds.items():
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        os.waitpid(pid, 0)


def _fork(
    role: Role, *, title: str, fds: list[int], close: list[int], settings: Settings, kwargs: dict[str, Any]
) -> int:
    """Fork a child that runs ``role`` with ``fds`` (closed here in the zygote); return its pid."""
    zygote = os.getpid()
    try:
        pid = os.fork()
    finally:
        if os.getpid() == zygote:
            for fd in fds:
                os.close(fd)
    if pid:
        return pid
    code = 1
    try:
        for fd in close:
            os.close(fd)
        lifeline.die_with_parent(zygote)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        lifeline.set_title(title)
        code = role(settings, fds, **kwargs)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        log.exception("%s failed", title)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass  # nothing left to report to
        os._exit(code)
