"""The ``custrisk`` command line: a thin layer over the library.

Each stage lives in its own module with its own ``typer.Typer`` app, mounted here.
This module is the one place that turns :class:`custrisk.errors.CustriskError` into an
exit code and a one-line message on stderr.
"""

from __future__ import annotations

import contextvars
import errno
import importlib
import itertools
import logging
import os
import re
import select
import sys
import traceback
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperArgument, TyperGroup
from typer.models import TyperInfo

from custrisk import __version__
from custrisk.cli import audit as _audit
from custrisk.cli._console import SayHandler, err_console, say
from custrisk.errors import EXIT_USAGE, CustriskError
<<<<<<< HEAD
from custrisk.io.atomic import out_of_room
from custrisk.io.clock import pinned_time
=======
from custrisk.io.atomic import out_of_room, write_refused_hint
>>>>>>> trip-cron13
from custrisk.io.stop import Stopped, stop_on_signals
from custrisk.privacy import mask_pii_text

EXIT_INTERNAL = 3
#: What a stopped command left when no layer said more: every output is written to a
#: temporary file (or staging folder) and renamed into place, and both are removed when
#: a stop unwinds the command.
LEFT_BY_DEFAULT = "no output half-written (files are written whole or not at all)"
DEBUG_ENV = "CUSTRISK_DEBUG"
_ARGV, _REST = "custrisk.argv", "custrisk.rest"

# Each command and the module under custrisk.cli that defines it, in the order of
# ``custrisk --help``. A command's module (and the library layers it imports) is loaded
# only when that command is looked up, so ``custrisk validate`` does not pay for scoring,
# reports or the server. tests/test_cli.py checks this table against the modules.
STAGES: dict[str, str] = {
    "sample-data": "sample",
    "init": "init",
    "validate": "validate",
    "indicators": "indicators",
    "train": "train",
    "evaluate": "train",
    "score": "score",
    "alerts": "alerts",
    "notify": "notify",
    "backtest": "backtest",
    "followups": "followups",
    "report": "report",
    "drift": "drift",
    "compare": "drift",
    "run": "run",
    "models": "models",
    "encrypt": "keys",
    "decrypt": "keys",
    "keys": "keys",
    "audit": "audit",
    "restore": "backup",
    "backup": "backup",
    "forget": "forget",
    "serve": "serve",
    "serve-token": "serve",
    "decisions": "decisions",
}


def stage_commands(module_name: str) -> dict[str, Any]:
    """The click commands of one stage module, built as ``app.add_typer`` would mount
    them on the root app (same markup mode and exception settings)."""
    module = importlib.import_module(f"custrisk.cli.{module_name}")
    group = typer.main.get_group_from_info(
        TyperInfo(module.app),
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
        suggest_commands=app.suggest_commands,
    )
    for command in group.commands.values():
        _name_arguments_classically(command)
    return dict(group.commands)


class _ClassicArgument(TyperArgument):
    """A positional argument named as the help texts name it: ``DATA_DIR`` in the usage
    line, the Arguments list and "Missing argument" errors, ``[LOG]`` when optional and
    ``PATHS...`` when repeated. typer 0.27 (its PR #1863, with its own copy of click)
    prints the Python name in braces, ``custrisk score [OPTIONS] {data_dir}``, which no
    help text or document of custrisk uses."""

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = self.metavar or (self.name or "").upper()
        if not self.required:
            name = f"[{name}]"
        return [f"{name}..." if self.nargs != 1 else name]


def _name_arguments_classically(command: Any) -> None:
    """Every argument of a command (and of its sub-commands) as a ``_ClassicArgument``,
    named in capitals unless it sets its own ``metavar`` (``RUN.yaml``)."""
    for param in command.params:
        if type(param) is TyperArgument:
            param.__class__ = _ClassicArgument
            if param.metavar is None and param.name:
                param.metavar = param.name.upper()
    for sub in getattr(command, "commands", {}).values():
        _name_arguments_classically(sub)


class _LazyCommands(MutableMapping[str, Any]):
    """The root group's commands: names known up front, each built on first access."""

    def __init__(self, stages: Mapping[str, str]) -> None:
        self._stages = dict(stages)
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in self._stages:
                raise KeyError(name)
            self._built.update(stage_commands(self._stages[name]))
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._stages.setdefault(name, "")
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._stages[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._stages)

    def __len__(self) -> int:
        return len(self._stages)


class _ErrorMappingGroup(TyperGroup):
    """Root group: maps library errors to exit codes and a one-line message, and writes
    every command's line to the audit log (custrisk.cli.audit). Its commands are
    loaded lazily (see ``STAGES``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _LazyCommands(STAGES)

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        # Parsing (which loads the command's module) runs before invoke: a stop here is
        # said as in invoke, not turned by typer into a silent exit 130.
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt as exc:
            stop = Stopped.of(exc)
            say("Stopped:", f"{stop.signal_name} while starting; {LEFT_BY_DEFAULT}")
            raise typer.Exit(stop.exit_code) from None

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta[_ARGV] = list(args)  # as typed, for the audit line
        rest = super().parse_args(ctx, _globals_first(self, ctx, args))
        ctx.meta[_REST] = [*getattr(ctx, "_protected_args", []), *ctx.args]
        return rest

    def invoke(self, ctx: Any) -> Any:
        # SIGINT and SIGTERM raise Stopped (custrisk.io.stop) for the whole command, the
        # audit line included: the cleanup runs and one line says what was left.
        with stop_on_signals():
            try:
                return self._invoke_audited(ctx)
            except KeyboardInterrupt as exc:  # stopped before or after the command proper
                stop = Stopped.of(exc)
                _say_stopped(stop, ctx)
                raise typer.Exit(stop.exit_code) from None

    def _invoke_audited(self, ctx: Any) -> Any:
        try:
            session = _audit.begin(self, ctx, ctx.meta.get(_ARGV, []), ctx.meta.get(_REST, []))
        except CustriskError as exc:
            _say_error(exc.one_line())
            raise typer.Exit(exc.exit_code) from None
        # The note that the audit log is off is for a person at a terminal (or -v); a
        # cron job that must be audited sets CUSTRISK_AUDIT=on, which refuses to run
        # without a key instead of printing a note into every mail cron sends.
        if (
            session.note
            and not ctx.params.get("quiet")
            and (ctx.params.get("verbose") or err_console.is_terminal)
        ):
            say("Note:", session.note)
        code, error = EXIT_INTERNAL, ""
        try:
            result = self._invoke_mapped(ctx)
            code = 0
            return result
        except (typer.Exit, typer.Abort) as exc:
            code = int(getattr(exc, "exit_code", 1) or 0)
            error = session.record.error
            raise
        except KeyboardInterrupt as exc:  # stopped around the command (its audit note)
            stop = Stopped.of(exc)
            code, error = stop.exit_code, f"stopped by {stop.signal_name}"
            raise
        except SystemExit as exc:  # rich's console on a closed stdout: SystemExit(1)
            code = exc.code if isinstance(exc.code, int) else 1
            error = session.record.error
            raise
        except Exception as exc:
            code = int(getattr(exc, "exit_code", EXIT_INTERNAL))
            error = _audit.audit.safe_message(exc)
            raise
        finally:
            try:
                session.finish(code, error)
            except (OSError, CustriskError) as exc:
                say("Error:", f"could not write the audit log: {exc}", style="bold red")

    def _invoke_mapped(self, ctx: Any) -> Any:
        # Each command runs in its own copy of the context: what it switches on (output
        # encryption, its key file, its role) ends with it, also under a test runner.
        invoke = super().invoke
        try:
            return contextvars.copy_context().run(invoke, ctx)
        except CustriskError as exc:
            _note_error(exc.one_line())
            if _debug_enabled(ctx):
                _say_traceback()
            _say_error(exc.one_line())
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt as exc:
            stop = Stopped.of(exc)
            _note_error(f"stopped by {stop.signal_name}")
            if _debug_enabled(ctx):
                _say_traceback()
            _say_stopped(stop, ctx)
            raise typer.Exit(stop.exit_code) from None
        except OSError as exc:
            if isinstance(exc, BrokenPipeError) and _stdout_reader_gone():
                # stdout's reader went away (`custrisk alerts ... | head`): no fault of a
                # path, and nothing to say; exit 1 as rich and click do on a closed pipe
                # (another pipe broken, a webhook's or a worker's, is said below)
                _stdout_to_devnull()
                _note_error("stdout closed by its reader (broken pipe)")
                raise typer.Exit(1) from None
            if _debug_enabled(ctx):
                _say_traceback()
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            _note_error(f"{where}{exc.strerror or exc}")
            hint = write_refused_hint(exc)
            if out_of_room(exc) or exc.errno == errno.EFBIG:
                hint += " and run the command again"
            _say_error(f"{where}{exc.strerror or exc}; {hint}")
            raise typer.Exit(EXIT_USAGE) from None
        except Exception as exc:  # a bug, not a user error
            if hasattr(exc, "exit_code") and hasattr(exc, "show"):
                _suggest_config_options(exc)
                raise  # typer's own usage errors: it prints them and exits 2
            if _debug_enabled(ctx):
                _say_traceback()
            _note_error(f"internal error {type(exc).__name__}: {exc}")
            _say_error(
                f"{type(exc).__name__}: {exc}; rerun with --debug for the traceback and report it",
                label="Internal error:",
            )
            raise typer.Exit(EXIT_INTERNAL) from None


#: The root's options a user also puts after the command (``custrisk score ... -q``,
#: a cron line's habit): ``-vv`` counts twice, as before the command
_GLOBAL_FLAG = re.compile(r"^(--quiet|-q|--verbose|-v+|--debug)$")


def _globals_first(group: Any, ctx: Any, args: list[str]) -> list[str]:
    """``args`` with the global flags (``-q``, ``-v``, ``--debug``) that come after the
    command moved before it, where click parses them. Not moved: a word after ``--``, the
    value of a command's option (``--name -v``) and a flag the command (or its group)
    defines itself."""
    start = next((i for i, word in enumerate(args) if not word.startswith("-")), None)
    if start is None or args[start] not in group.commands:
        return args  # no command, or an unknown one: click says so
    command, moved, kept = group.commands[args[start]], [], [args[start]]
    words = iter(args[start + 1 :])
    for word in words:
        own = {opt for param in command.get_params(ctx) for opt in param.opts}
        if word == "--":
            kept += [word, *words]
        elif _GLOBAL_FLAG.match(word) and word not in own and word[:2] not in own:
            moved.append(word)
        elif word in own and _takes_value(command, word, ctx):
            kept += [word, *itertools.islice(words, 1)]
        elif not word.startswith("-") and word in getattr(command, "commands", {}):
            command = command.commands[word]  # a group's command: custrisk models list
            kept.append(word)
        else:
            kept.append(word)
    return [*args[:start], *moved, *kept]


def _takes_value(command: Any, opt: str, ctx: Any) -> bool:
    """Whether ``opt`` of ``command`` takes the next word as its value."""
    return any(
        opt in param.opts
        and not getattr(param, "is_flag", False)
        and not getattr(param, "count", False)
        for param in command.get_params(ctx)
        if getattr(param, "param_type_name", "") == "option"
    )


def _stdout_reader_gone() -> bool:
    """Whether stdout is a pipe (or socket) whose reader has closed it: polled, it
    reports an error or a hang-up."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no file descriptor (a test runner's)
        return False


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null once its reader has gone, so that the interpreter's
    last flush at exit does not fail on the closed pipe again (the Python docs' note on
    SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor (a test runner's stdout)
        pass


def _say_error(message: str, label: str = "Error:") -> None:
    """The one line of a command that failed, with the phones, ID numbers and e-mail
    addresses it quotes masked, as in the audit log: a terminal's scrollback and cron's
    mail are outputs too."""
    say(label, mask_pii_text(message), style="bold red")


def _say_traceback() -> None:
    """The traceback of the exception being handled (``--debug``), with the phones, ID
    numbers and e-mail addresses it quotes masked as in the error line that follows it;
    the command then exits with its documented code, not Python's 1 for an uncaught
    exception."""
    trace = mask_pii_text(traceback.format_exc())
    err_console.print(trace, style="dim", markup=False, highlight=False, soft_wrap=True)


def _say_stopped(stop: Stopped, ctx: Any) -> None:
    """The one line of a stopped command: the signal, the command, what was left."""
    rest = ctx.meta.get(_REST) or []
    command = " ".join(["custrisk", *rest[:1]])
    group = ctx.command.commands.get(rest[0]) if rest and rest[0] in STAGES else None
    if len(rest) > 1 and rest[1] in getattr(group, "commands", {}):
        command += f" {rest[1]}"  # a command of a group: custrisk models list
    left = "; ".join(stop.left) or LEFT_BY_DEFAULT
    say("Stopped:", f"{stop.signal_name} during {command}; {left}", style="bold yellow")


def _note_error(message: str) -> None:
    """The error of the running command, for its audit line."""
    record = _audit.audit.current()
    if record is not None:
        record.error = message


def _debug_enabled(ctx: Any) -> bool:
    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, dict) else {}
    return bool(obj.get("debug")) or os.environ.get(DEBUG_ENV, "") not in ("", "0")


app = typer.Typer(
    name="custrisk",
    cls=_ErrorMappingGroup,
    help=(
        "Customer risk management: validate monthly exports, compute indicators, score "
        "customers, assign grades and limits, raise early warnings, render PDF reports and "
        "check model drift.\n\nExit codes: 0 ok; 1 a check found a problem (rejected rows, "
        "drift, alerts at the --fail-on level); 2 usage, configuration or input error; "
        "3 internal error; 130 stopped by Ctrl-C (SIGINT), 143 stopped by SIGTERM.\n\n"
        "--debug, -v and -q may also follow the command: custrisk score DATA -m MODEL -q."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"custrisk {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback on errors.")
    ] = False,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv for debug).")
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    ctx.obj = {"debug": debug, "quiet": quiet}
    _configure_logging(verbose=verbose, quiet=quiet, debug=_debug_enabled(ctx))
    # A malformed SOURCE_DATE_EPOCH said before a library (numpy's f2py) fails on it
    pinned_time()


def _configure_logging(*, verbose: int, quiet: bool, debug: bool = False) -> None:
    """The library's log records on stderr, each one line as ``say`` prints it
    (``Warning: ...``); their tracebacks only with --debug or -vv."""
    level = (
        logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    )
    logger = logging.getLogger("custrisk")
    logger.handlers.clear()
    logger.addHandler(SayHandler(tracebacks=debug or level <= logging.DEBUG))
    logger.setLevel(level)
    logger.propagate = False


#: Words of an unknown option that mean "a config file" (``--config``, ``-c``, ``--yaml``)
_CONFIG_WORDS = ("config", "conf", "cfg", "yaml", "yml")


def _suggest_config_options(exc: Exception) -> None:
    """An unknown option that asks for a config file (``--config``) is answered with the
    command's config-file options (``--sources``, ``--policy``, ...: those whose help
    names a YAML file), not with the option whose name is spelt most alike (click's
    ``--encoding`` for ``--config``)."""
    # (typer's own copy of click raises it: known by its name and attributes)
    context = getattr(exc, "ctx", None)
    if type(exc).__name__ != "NoSuchOption" or context is None:
        return
    name = str(getattr(exc, "option_name", "")).lstrip("-").lower()
    if name != "c" and not any(word in name for word in _CONFIG_WORDS):
        return
    yaml_options = [
        opt
        for param in context.command.params
        if getattr(param, "param_type_name", "") == "option"
        and "YAML" in (getattr(param, "help", None) or "")
        for opt in param.opts
        if opt.startswith("--")
    ]
    if yaml_options:
        exc.possibilities = yaml_options  # type: ignore[attr-defined]


def main() -> None:
    """Console-script entry point."""
    with stop_on_signals():  # from the start: parsing loads the command's module
        app(prog_name="custrisk")
    sys.exit(0)
