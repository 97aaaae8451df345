"""The ``custrisk`` command's entry point: a stop while the command line loads.

Loading the command line (pandas, pyarrow, typer and custrisk's own modules) takes a
few tenths of a second before :func:`custrisk.io.stop.stop_on_signals` is in place.
Ctrl-C in that window used to print Python's ``KeyboardInterrupt`` traceback, and
SIGTERM ended the process without a word. Nothing has been read or written yet, so
this module (standard library only) sets handlers first that say so in one line and
exit with the shell's code for the signal (130 for SIGINT, 143 for SIGTERM), as a stop
at any later point does.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

#: What a stop while loading leaves (the words of ``custrisk.cli.LEFT_BY_DEFAULT``)
NOTHING_DONE = "nothing was read or written"


def _stopped_while_loading(signum: int, frame: FrameType | None) -> None:
    # A second signal while this one unwinds the imports is ignored
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    name = signal.Signals(signum).name
    sys.stderr.write(f"Stopped: {name} while starting; {NOTHING_DONE}\n")
    sys.stderr.flush()
    raise SystemExit(128 + signum)


def main() -> None:
    """Console-script entry point (``custrisk``, ``python -m custrisk``)."""
    previous = {
        sig: signal.signal(sig, _stopped_while_loading)
        for sig in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(sig) is not signal.SIG_IGN  # nohup's ignored signals stay so
    }
    from custrisk.cli import main as run_command

    try:
        run_command()  # (its own handlers from parsing on: custrisk.io.stop)
    finally:
        for sig, handler in previous.items():
            # None: a handler set outside Python, which cannot be put back; the default
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


__all__ = ["main"]
