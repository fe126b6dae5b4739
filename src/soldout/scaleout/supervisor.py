"""Keep a fixed set of child processes running on this machine (`soldout serve --workers N`).

    supervisor = Supervisor([Child("owner", [...]), Child("worker 1", [...])])
    sys.exit(supervisor.run())  # from the main thread; SIGTERM or SIGINT stops it

What it guarantees:
- Every child is started at once; one that exits is logged and started again after
  `restart_delay`, the others untouched.
- A child exiting with status 3 (`STARTUP_FAILED`: bad configuration, a restart cannot
  help) makes it stop all the others and return 3; one exiting more than `give_up_after`
  times within `give_up_window` seconds, stop all the others and return 1.
- SIGTERM or SIGINT (or `stop()`, from any thread or a signal handler) sends SIGTERM to
  every child, gives them `STOP_TIMEOUT` seconds together, SIGKILLs any left, returns 0.
- `run()` neither returns nor raises while a child it started is still running, and on
  Linux the children get SIGKILL if the supervisor dies, even by SIGKILL (PDEATHSIG).

It waits without polling: SIGCHLD and the stop signals wake a selector through a socket
pair (`signal.set_wakeup_fd`); only a pending restart bounds the wait.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

__all__ = ["STARTUP_FAILED", "STOP_TIMEOUT", "Child", "Supervisor"]

STARTUP_FAILED = 3  # a child's exit status for "bad configuration": never restarted
STOP_TIMEOUT = 10.0  # seconds the children get, together, between SIGTERM and SIGKILL
_PR_SET_PDEATHSIG = 1

log = logging.getLogger("soldout.supervisor")


@dataclass(frozen=True)
class Child:
    """One process to keep running: `name` is for log lines ("owner", "worker 1")."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None  # the whole environment; None: the supervisor's


class Supervisor:
    """Starts `children`, restarts those that exit, stops them all on SIGTERM or SIGINT."""

    def __init__(
        self,
        children: Sequence[Child],
        *,
        restart_delay: float = 0.5,
        give_up_after: int = 5,
        give_up_window: float = 60.0,
    ) -> None:
        if not children:
            raise ValueError("a supervisor needs at least one child")
        self._children = list(children)
        self._restart_delay = restart_delay
        self._give_up_after = give_up_after
        self._give_up_window = give_up_window
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * len(self._children)
        self._exits = [deque[float]() for _ in self._children]
        self._stopping = False
        self._lock = threading.RLock()  # reentrant: stop() may run in a signal handler
        self._waker: socket.socket | None = None

    def stop(self) -> None:
        """Ask `run()` to stop every child and return 0; safe from any thread or handler."""
        self._stopping = True
        with self._lock:
            if self._waker is not None:
                with contextlib.suppress(OSError):  # full, or closed by run() meanwhile
                    self._waker.send(b"\0")

    def run(self) -> int:
        """Supervise until stopped (0), a start-up failure (3) or too many exits (1).

        Call it once, from the main thread: signal handlers can only be set there, and
        PR_SET_PDEATHSIG follows the thread that forks, not the process.
        """
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("Supervisor.run() must be called from the main thread")
        wake_read, wake_write = socket.socketpair()
        for end in (wake_read, wake_write):
            end.setblocking(False)
        selector = selectors.DefaultSelector()
        selector.register(wake_read, selectors.EVENT_READ)
        previous_fd = signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
        previous = {sig: signal.getsignal(sig) for sig in _HANDLED}
        try:
            for sig in _HANDLED:
                signal.signal(sig, self._on_signal)
            with self._lock:
                self._waker = wake_write
            wait = functools.partial(_wait, selector, wake_read)
            try:
                return self._supervise(wait)
            finally:
                self._stop_children(wait)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_fd)
            with self._lock:
                self._waker = None
            selector.close()
            wake_read.close()
            wake_write.close()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum in _STOP_SIGNALS:  # SIGCHLD's handler is there only to wake the selector
            self.stop()

    def _supervise(self, wait: Callable[[float | None], None]) -> int:
        due = dict.fromkeys(range(len(self._children)), time.monotonic())  # index -> start at
        while not self._stopping:
            now = time.monotonic()
            for index in [i for i, at in due.items() if at <= now]:
                del due[index]
                self._start(index)
            for index, proc in enumerate(self._procs):
                if proc is None or proc.poll() is None:
                    continue
                self._procs[index] = None
                verdict = self._after_exit(index, proc.returncode, time.monotonic())
                if verdict is not None:
                    return verdict
                due[index] = time.monotonic() + self._restart_delay
            wait(max(0.0, min(due.values()) - time.monotonic()) if due else _LONGEST_WAIT)
        log.info("asked to stop; stopping every child")
        return 0

    def _start(self, index: int) -> None:
        child = self._children[index]
        proc = subprocess.Popen(  # noqa: S603 - argv given by the caller
            child.argv, env=child.env, preexec_fn=_die_with_parent()
        )
        self._procs[index] = proc
        log.info("started %s (pid %d)", child.name, proc.pid)

    def _after_exit(self, index: int, status: int, now: float) -> int | None:
        """Log a child's exit; the status `run()` returns, or None to restart it."""
        name = self._children[index].name
        if self._stopping:
            return 0
        if status == STARTUP_FAILED:
            log.error("%s exited with status 3 (start-up failed); stopping all", name)
            return STARTUP_FAILED
        exits = self._exits[index]
        exits.append(now)
        while exits and exits[0] < now - self._give_up_window:
            exits.popleft()
        if len(exits) > self._give_up_after:
            log.error(
                "%s exited %d times within %g s (last: status %s); giving up, stopping all",
                name,
                len(exits),
                self._give_up_window,
                _describe(status),
            )
            return 1
        log.warning("%s exited with status %s; restarting", name, _describe(status))
        return None

    def _stop_children(self, wait: Callable[[float | None], None]) -> None:
        running = [(c, p) for c, p in zip(self._children, self._procs, strict=True) if p]
        for _, proc in running:
            proc.terminate()  # does nothing to one already reaped
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(p.poll() is None for _, p in running) and time.monotonic() < deadline:
            wait(min(deadline - time.monotonic(), _LONGEST_WAIT or STOP_TIMEOUT))
        for child, proc in running:
            if proc.poll() is None:
                log.warning(
                    "%s still running %g s after SIGTERM; killing", child.name, STOP_TIMEOUT
                )
                proc.kill()
                proc.wait()
        self._procs = [None] * len(self._children)


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
if sys.platform == "win32":  # no SIGCHLD: look at the children twice a second instead
    _HANDLED = _STOP_SIGNALS
    _LONGEST_WAIT: float | None = 0.5
else:
    _HANDLED = (*_STOP_SIGNALS, signal.SIGCHLD)
    _LONGEST_WAIT = None


def _wait(selector: selectors.BaseSelector, wake: socket.socket, timeout: float | None) -> None:
    """Until a signal or `stop()` writes to the socket pair, or `timeout` passes."""
    selector.select(timeout)
    with contextlib.suppress(BlockingIOError):
        while wake.recv(4096):
            pass


def _describe(status: int) -> str:
    """`-9 (SIGKILL)` for a child killed by a signal, the plain number otherwise."""
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"{status} ({signal.Signals(-status).name})"
    return str(status)


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking the kernel to SIGKILL the child when this process dies (Linux).

    PR_SET_PDEATHSIG fires when the *thread* that forked ends: `run()` forks only from the
    main thread, which lives as long as the process.
    """
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # loaded here: not between fork and exec
    parent = os.getpid()

    def in_child() -> None:  # pragma: no cover - runs in the child between fork and exec
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the supervisor died before prctl: nobody to die with
            os._exit(1)

    return in_child
