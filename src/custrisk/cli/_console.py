"""Consoles shared by the CLI modules (rich is used only in the CLI layer)."""

from __future__ import annotations

import logging
import os
import re
import shlex

from rich.console import Console, ConsoleDimensions
from rich.text import Text

from custrisk.io.plain import cell_shown
from custrisk.io.plain import counted as counted  # (the library's, for the CLI's modules)
from custrisk.privacy import mask_pii_text
from custrisk.vocab import NOTE

#: The width of the CLI's output where it goes to a file or a pipe (a log, a cron mail).
LOG_WIDTH = 120


class _CliConsole(Console):
    """rich's console, at least :data:`LOG_WIDTH` columns wide where it writes to no
    terminal (a log has no width of its own) and ``COLUMNS`` does not set one: rich's
    80 columns there cut a table's figures short (``13,988,61…``) or wrap it."""

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)  # type: ignore[attr-defined]
        if size.width >= LOG_WIDTH or self.is_terminal or os.environ.get("COLUMNS"):
            return size
        return ConsoleDimensions(LOG_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


# Markup off: the text printed holds file names, column names, config keys and values
# from the user's exports, where `[db]` or `[/x]` is data, not a style (rich ate the
# first and raised on the second). A styled line says its style itself: `say`, `Text`,
# or `markup=True` with every value `escape`d.
console = _CliConsole(highlight=False, soft_wrap=True, markup=False)
err_console = _CliConsole(stderr=True, highlight=False, soft_wrap=True, markup=False)


#: Labels of lines that --quiet leaves out ("only errors on stderr"), as it leaves out
#: the library's log warnings.
QUIETED = ("Warning:", "Note:")


def shell_word(text: str) -> str:
    """``text`` as a shell word in a command printed for the user to run: quoted only
    when it holds characters a shell treats specially (Chinese file names stay readable).
    A phone number, ID number or e-mail address in it (a file named for its customer,
    ``王小明_13812345678.xlsx``) is masked, its masked characters left as the shell's
    wildcards (``王小明_138****5678.xlsx``): the command still finds the file."""
    masked = mask_pii_text(text)
    if masked != text:
        return "".join(p if p.startswith("*") else _quoted(p) for p in re.split(r"(\*+)", masked))
    return _quoted(text)


def _quoted(text: str) -> str:
    return text if re.fullmatch(r"[\w@%+=:,./-]*", text) else shlex.quote(text)


def say(label: str, message: str, *, style: str = "yellow", to: Console = err_console) -> None:
    """Print ``label`` (``Warning:``, ``Note:``, ``Error:``) in ``style`` and then
    ``message`` as it is (no markup read in it). A warning or note is left out under
    --quiet (the CLI then logs errors only: see ``custrisk.cli._configure_logging``)."""
    quiet = not logging.getLogger("custrisk").isEnabledFor(logging.WARNING)
    if quiet and label in QUIETED and to is err_console:
        return
    to.print(Text.assemble((label, style), " ", message))


class SayHandler(logging.Handler):
    """The library's log records said as :func:`say` says the CLI's own warnings: one
    line ``Warning: ...`` (``Error:`` for ERROR and CRITICAL, ``Info:`` and ``Debug:``
    under -v and -vv), never wrapped, so that a cron log's ``grep Warning:`` finds them
    all; phones, ID numbers and e-mail addresses masked as in an error line.

    A record logged with its exception (``log.exception``) names the exception at the
    end of its line; its traceback follows only with ``tracebacks`` (``--debug``, -vv):
    a traceback is for a bug report, not for every cron mail."""

    _LABELS = (
        (logging.ERROR, "Error:", "bold red"),
        (logging.WARNING, "Warning:", "yellow"),
        (logging.INFO, "Info:", "cyan"),
        (logging.NOTSET, "Debug:", "dim"),
    )

    def __init__(self, *, tracebacks: bool = False) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def emit(self, record: logging.LogRecord) -> None:
        try:
            label, style = next((lb, st) for lv, lb, st in self._LABELS if record.levelno >= lv)
            if record.levelno == logging.WARNING and all(
                getattr(record, key, False) for key in NOTE
            ):
                label = "Note:"  # (a decision said, not a fault)
            message = _one_line(record.getMessage())
            exc = record.exc_info[1] if record.exc_info else None
            if exc is not None:
                said = _one_line(str(exc))
                message += f" ({type(exc).__name__}{': ' + said if said else ''})"
            say(label, mask_pii_text(message), style=style)
            if exc is not None and self.tracebacks and record.exc_info:
                trace = logging.Formatter().formatException(record.exc_info)
                err_console.print(mask_pii_text(trace), style="dim")
        except Exception:
            self.handleError(record)


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


#: A table cell's text: blank for a missing value (None, NaN, NA), never ``nan``.
shown = cell_shown


def amount_text(value: float, lang: str, sign: bool = False) -> str:
    """A limit total as the run's language counts large amounts: in 万 (``1,728万``)
    for zh, as the Chinese reports do, in k (``17,275k``) for en; as wide either way,
    so that a table fits the same terminal (``custrisk score``'s summary, the what-if
    of ``custrisk backtest``)."""
    plus = "+" if sign else ""
    if lang == "zh":
        return f"{value / 10_000:{plus},.0f}万"
    return f"{value / 1000:{plus},.0f}k"
