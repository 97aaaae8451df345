"""Stopping a command cleanly: SIGINT (Ctrl-C) and SIGTERM (systemd, ``timeout``, a cron
wrapper) raised as :class:`Stopped` in the main thread.

SIGTERM's default action ends the process at once: no ``finally`` runs, so temporary
files, staging folders and Dask's scratch folders stay behind, worker processes print
tracebacks into a closed pipe, and nothing says what was left. Raised as an exception
instead, a stop unwinds like any error: every ``finally`` and ``with`` block cleans up,
and each layer that knows what the stop left (the stage of a monthly run, the reports
done) says so with :meth:`Stopped.leave` on its way out. The CLI prints those words in
one line and exits 130 (SIGINT) or 143 (SIGTERM), the codes a shell gives a process
ended by those signals.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

#: The signals that stop a command, and nothing else does.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_installed = False


class Stopped(KeyboardInterrupt):
    """The command was stopped by a signal (SIGINT from Ctrl-C, or SIGTERM).

    A :class:`KeyboardInterrupt`, not an ``Exception``: an ``except Exception`` that
    records one item's failure and goes on (a report, a notification) must not swallow
    it, and the cleanup it runs is the one Ctrl-C gets.

    Parameters
    ----------
    signum : int
        The signal that stopped the command.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        #: What the stop left, said by the layers it went through (innermost first)
        self.left: list[str] = []

    @property
    def signal_name(self) -> str:
        """``SIGINT`` or ``SIGTERM``."""
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """The shell's code for a process ended by the signal: 130 (SIGINT), 143 (SIGTERM)."""
        return 128 + self.signum

    def leave(self, what: str, *, instead: bool = False) -> None:
        """Say what the stop left behind (``instead``: in place of what inner layers
        said, when this layer cleaned up after them)."""
        if instead:
            self.left.clear()
        self.left.append(what)

    @classmethod
    def of(cls, interrupt: KeyboardInterrupt) -> Stopped:
        """``interrupt`` as a :class:`Stopped` (a plain KeyboardInterrupt is Ctrl-C's)."""
        return interrupt if isinstance(interrupt, Stopped) else cls(signal.SIGINT)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Stopped` in the main thread.

    Signals that arrive while stopping are ignored until the block ends, so a second
    Ctrl-C does not break off the cleanup halfway (SIGKILL still ends the process).
    Nested blocks use the outermost one's handlers. Outside the main thread (where
    handlers cannot be set) this does nothing.
    """
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise Stopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    _installed = True
    try:
        yield
    finally:
        _installed = False
        for sig, handler in previous.items():
            # None: a handler set outside Python, which cannot be put back; the default
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


__all__ = ["STOP_SIGNALS", "Stopped", "stop_on_signals"]
