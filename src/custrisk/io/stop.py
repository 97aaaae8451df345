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
#: Depth of :func:`stops_held` blocks, and the signal that came within them
_held = 0
_pending: int | None = None


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


def not_written(path: object) -> str:
    """What a stop before ``path`` was put in place left (:meth:`Stopped.leave`)."""
    return f"{path} not written (an earlier file there is left as it was)"


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Stopped` in the main thread.

    Signals that arrive while stopping are ignored until the block ends, so a second
    Ctrl-C does not break off the cleanup halfway (SIGKILL still ends the process). A
    signal ignored when the block starts stays ignored (``nohup``, a background job of
    a shell without job control). Nested blocks use the outermost one's handlers.
    Outside the main thread (where handlers cannot be set) this does nothing.
    """
    global _installed, _pending
    if _installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        global _pending
        if stopping:
            return
        stopping = True
        if _held:
            _pending = signum  # raised when the last stops_held block ends
            return
        raise Stopped(signum)

    previous = {
        sig: signal.signal(sig, stop)
        for sig in STOP_SIGNALS
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    _installed = True
    try:
        yield
    finally:
        _installed, _pending = False, None
        for sig, handler in previous.items():
            # None: a handler set outside Python, which cannot be put back; the default
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


@contextlib.contextmanager
def stops_held() -> Iterator[None]:
    """Within the block, a stop is held back and raised when the block ends: for a step
    that cannot be broken off halfway and leave something to clean up (a cluster being
    started is not yet an object to close). Enter what the step made in an enclosing
    block (a :class:`contextlib.ExitStack`), so that the stop raised here closes it.
    """
    global _held, _pending
    _held += 1
    try:
        yield
    except BaseException:
        _held -= 1
        if not _held and _pending is not None:  # most likely the signal's doing
            signum, _pending = _pending, None
            raise Stopped(signum) from None
        raise
    _held -= 1
    if not _held and _pending is not None:
        signum, _pending = _pending, None
        raise Stopped(signum)


__all__ = ["STOP_SIGNALS", "Stopped", "stop_on_signals", "stops_held"]
