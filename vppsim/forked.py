"""A function called in a forked child process while this one goes on (Linux).

``vppsim run`` uses it to run the uncoordinated baseline on the second core while the
coordinated run computes (the two are independent: same seed, separate models). The child is
a copy of this process at the fork: it needs no pickled arguments and imports nothing. Its
return value comes back pickled through a pipe; an exception in it comes back as a
:class:`ForkedCallError` with the child's message.

Every child is started by :func:`fork_child`: it never returns into the code it was forked
from (it leaves with ``os._exit``, whatever happens, so it cannot unwind through the parent's
``with`` blocks, print the parent's messages or remove its folders), SIGINT and SIGTERM kill it
outright instead of raising in it, and on Linux it dies with the process that forked it
(``PR_SET_PDEATHSIG``), so a killed parent leaves no child computing on.

Only a process with no other Python thread forks: a lock another thread holds at the fork
stays locked in the child forever (seen as a hang under pytest-xdist, whose workers run I/O
threads). Fork before any HiGHS solve, too: a forked child would inherit HiGHS' task scheduler
without its worker threads. Elsewhere (threads, macOS, where forking a process that has loaded
system frameworks is unsafe, Windows) nothing is forked and :meth:`ForkedCall.result` calls
the function in this process, with its exceptions as they are.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

#: prctl(2) option: the signal a child gets when the thread that forked it ends
_PR_SET_PDEATHSIG = 1
#: the signals the children leave to their default action (see the module docstring)
_CHILD_DEFAULT_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def can_fork() -> bool:
    """True where a child may be forked safely: Linux, and no other Python thread."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


def fork_child(body: Callable[[], object]) -> int:
    """Fork a child that runs ``body()`` and leaves with ``os._exit``; return its pid.

    The child's exit code is 0 if ``body`` returned, 1 if it raised (``body`` reports its own
    errors). SIGINT and SIGTERM are blocked around the fork, so neither can reach the child
    before their default action is back in place. Call only where :func:`can_fork` is true.
    """
    parent = os.getpid()
    sys.stdout.flush()  # nothing buffered may be written twice
    sys.stderr.flush()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _CHILD_DEFAULT_SIGNALS)
    pid = -1
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child (its work is checked by the parent)
            code = 1
            try:
                for sig in _CHILD_DEFAULT_SIGNALS:  # (a signal the parent ignores stays ignored)
                    if signal.getsignal(sig) is not signal.SIG_IGN:
                        signal.signal(sig, signal.SIG_DFL)
                ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                if os.getppid() != parent:  # the parent ended before prctl
                    os._exit(1)
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                body()
                code = 0
            finally:
                os._exit(code)
    finally:
        if pid != 0:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return pid


def end_child(pid: int) -> None:
    """Kill the child ``pid`` (if it is still there) and reap it."""
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


class ForkedCallError(RuntimeError):
    """The forked call raised, or its child ended without an answer (message says which)."""


class ForkedCall:
    """``function(*args, **kwargs)`` in a forked child; :meth:`result` waits for its value.

    Use as a context manager: leaving it ends a child whose result was not read (the parent
    failed first), so no process is left behind. Where :func:`can_fork` is false the call is
    made by :meth:`result`, in this process.
    """

    def __init__(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._call = (function, args, kwargs)
        self._pid: int | None = None
        self._read: int | None = None
        self._used = False  # result() called or closed
        #: True if the call runs in a child process
        self.forked = can_fork()
        if self.forked:
            read_fd, write_fd = os.pipe()

            def body() -> None:
                os.close(read_fd)
                self._child(write_fd)

            pid = fork_child(body)
            os.close(write_fd)
            self._pid, self._read = pid, read_fd

    def _child(self, write_fd: int) -> None:
        """Call the function and send ``("ok", value)`` or ``("error", text)``."""
        function, args, kwargs = self._call
        try:
            answer: tuple[str, Any] = ("ok", function(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - sent to the parent, which raises it
            answer = ("error", f"{type(exc).__name__}: {exc}")
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - an answer that cannot be pickled
            data = pickle.dumps(("error", f"the answer could not be pickled: {exc}"))
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)

    def result(self) -> Any:
        """The function's value (waits for the child). Raises :class:`ForkedCallError`.

        Once only: the call's value is handed over, not kept.
        """
        if self._used:
            raise ForkedCallError("the result was read already, or the call was closed")
        self._used = True
        if not self.forked:
            function, args, kwargs = self._call
            return function(*args, **kwargs)
        assert self._read is not None and self._pid is not None
        fd, self._read = self._read, None
        with os.fdopen(fd, "rb") as pipe:
            data = pipe.read()  # until the child's end is closed
        pid, self._pid = self._pid, None
        _, status = os.waitpid(pid, 0)
        if not data:
            raise ForkedCallError(f"the child process ended without an answer (exit "
                                  f"{os.waitstatus_to_exitcode(status)})")
        kind, value = pickle.loads(data)
        if kind == "error":
            raise ForkedCallError(value)
        return value

    def close(self) -> None:
        """End the child if its result was not read; the call is over either way."""
        self._used = True
        if self._read is not None:
            os.close(self._read)
            self._read = None
        if self._pid is not None:
            end_child(self._pid)
            self._pid = None

    def __enter__(self) -> ForkedCall:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
