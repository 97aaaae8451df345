"""The CLI as a whole: help texts, version, exit codes of usage errors."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from custrisk import __version__
from custrisk.cli import app


def _commands() -> list[str]:
    group = typer.main.get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


def test_every_command_has_help_text(runner: CliRunner) -> None:
    group = typer.main.get_command(app)
    assert {"sample-data", "validate"} <= set(_commands())
    for name in _commands():
        command = group.commands[name]  # type: ignore[attr-defined]
        assert command.help and len(command.help) > 20, f"{name} has no help text"
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0


def test_the_command_table_names_each_modules_commands_in_help_order() -> None:
    """``custrisk.cli.STAGES`` lists every command of every stage module, each once."""
    from custrisk.cli import STAGES, stage_commands

    for module in dict.fromkeys(STAGES.values()):
        listed = [name for name, owner in STAGES.items() if owner == module]
        assert sorted(stage_commands(module)) == sorted(listed), module


def test_a_command_loads_only_its_own_stage() -> None:
    """``custrisk validate`` does not import scoring, reports, training or the server."""
    code = (
        "import sys\n"
        "from custrisk.cli import app\n"
        "try:\n"
        "    app(['validate', '--help'], prog_name='custrisk')\n"
        "except SystemExit:\n"
        "    pass\n"
        "mods = ('custrisk.cli.score', 'custrisk.cli.report', 'custrisk.cli.serve',\n"
        "        'custrisk.cli.train', 'sklearn', 'custrisk.report')\n"
        "print(sorted(m for m in mods if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"custrisk {__version__}"


def test_unknown_option_is_exit_2(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate", "--no-such-option"])
    assert result.exit_code == 2


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "custrisk", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"custrisk {__version__}"


def test_a_reader_closing_stdout_is_no_error_of_a_path(tmp_path: Path) -> None:
    """``custrisk ... | head``: the pipe closed before the command printed. It used to
    end with exit 2 and ``Error: Broken pipe; check the path and its permissions``."""
    target = tmp_path / "run.yaml"
    env = {**os.environ, "CUSTRISK_AUDIT": "off"}
    process = subprocess.Popen(
        [sys.executable, "-m", "custrisk", "run", "--init", str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the command writes a byte
    with process.stderr:
        stderr = process.stderr.read().decode()
    assert process.wait() == 1
    assert stderr == ""
    assert target.is_file()


def test_only_stdout_losing_its_reader_is_taken_for_a_closed_pipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A broken pipe of the command's own work (a webhook's connection, a worker's pipe)
    is an error to say; only stdout whose reader went away is ended silently."""
    from custrisk.cli import _stdout_reader_gone

    for reader_closed in (True, False):
        read_end, write_end = os.pipe()
        with os.fdopen(write_end, "w") as stdout:
            monkeypatch.setattr(sys, "stdout", stdout)
            if reader_closed:
                os.close(read_end)
            assert _stdout_reader_gone() is reader_closed
            monkeypatch.undo()
        if not reader_closed:
            os.close(read_end)


def test_asking_for_a_config_option_names_the_commands_config_files(runner: CliRunner) -> None:
    """``score --config`` (no such option) is answered with the YAML options the command
    has, not with the option spelt most alike (``--encoding``); a misspelt option keeps
    click's suggestion."""
    base = ["score", "data", "-m", "logistic", "-o", "s.csv"]
    for asked in ("--config", "-c", "--yaml"):
        result = runner.invoke(app, [*base, asked, "policy.yaml"])
        assert result.exit_code == 2
        assert "(Possible options: --alerts, --policy, --sources)" in result.output, asked
    result = runner.invoke(app, [*base, "--polcy", "policy.yaml"])
    assert result.exit_code == 2
    assert "(Possible options: --policy)" in result.output
    assert "--sources" not in result.output


@pytest.fixture
def custrisk_logger(monkeypatch: pytest.MonkeyPatch) -> logging.Logger:
    """The library's logger, its handlers and level put back after the test."""
    logger = logging.getLogger("custrisk")
    for name in ("handlers", "level", "propagate"):
        monkeypatch.setattr(logger, name, getattr(logger, name))
    monkeypatch.setattr(logger, "handlers", [])
    return logger


def test_library_warnings_are_said_as_the_clis_own_on_one_unwrapped_line(
    custrisk_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """``Warning: ...`` as ``say`` prints it, not rich's wrapped ``WARNING  ...``: a
    cron log's grep finds it; phones, ids and e-mails masked as in an error line."""
    from custrisk.cli import _configure_logging

    _configure_logging(verbose=0, quiet=False)
    log = logging.getLogger("custrisk.policy.apply")
    words = " ".join(f"word{i}" for i in range(60))  # longer than any terminal
    log.warning("%s; call 13812345678 or zhang.wei@example.com", words)
    log.info("not said without -v")
    assert capsys.readouterr().err == (f"Warning: {words}; call 138****5678 or z***@example.com\n")

    _configure_logging(verbose=1, quiet=False)
    log.info("source credit: 400 rows in")
    log.debug("not said without -vv")
    assert capsys.readouterr().err == "Info: source credit: 400 rows in\n"

    _configure_logging(verbose=0, quiet=True)
    log.warning("not said with --quiet")
    log.critical("said\nwith --quiet")
    assert capsys.readouterr().err == "Error: said with --quiet\n"


@pytest.mark.parametrize("debug", [False, True])
def test_a_logged_exception_shows_its_traceback_only_with_debug(
    custrisk_logger: logging.Logger, capsys: pytest.CaptureFixture[str], debug: bool
) -> None:
    from custrisk.cli import _configure_logging

    _configure_logging(verbose=0, quiet=False, debug=debug)
    try:
        raise ValueError("no such customer 13812345678")
    except ValueError:
        logging.getLogger("custrisk.serve.app").exception("internal error on %s", "/v1/score")
    said = capsys.readouterr().err
    first, *rest = said.splitlines()
    assert first == (
        "Error: internal error on /v1/score (ValueError: no such customer 138****5678)"
    )
    assert ("Traceback (most recent call last):" in said) is debug
    assert "13812345678" not in said
    assert bool(rest) is debug


def test_quiet_leaves_out_the_clis_own_warnings_and_notes_too(
    custrisk_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """--quiet is "only errors on stderr": the Warning: and Note: lines the commands say
    themselves went on being printed while the library's log warnings were not."""
    from custrisk.cli import _configure_logging
    from custrisk.cli._console import say

    _configure_logging(verbose=0, quiet=True)
    say("Warning:", "left out")
    say("Note:", "left out")
    say("Error:", "said", style="bold red")
    assert capsys.readouterr().err == "Error: said\n"
    _configure_logging(verbose=0, quiet=False)
    say("Note:", "said")
    assert capsys.readouterr().err == "Note: said\n"


@pytest.mark.parametrize(
    ("flags", "level"), [(["-q"], logging.ERROR), (["-vv"], logging.DEBUG), ([], logging.WARNING)]
)
def test_global_flags_after_the_command_work_as_before_it(
    runner: CliRunner,
    custrisk_logger: logging.Logger,
    tmp_path: Path,
    flags: list[str],
    level: int,
) -> None:
    """``custrisk models list --models-dir D -q`` (a cron line's habit) was "No such
    option: -q"; it is the same as ``custrisk -q models list --models-dir D``."""
    for args in (
        [*flags, "models", "list", "--models-dir", str(tmp_path)],
        ["models", "list", "--models-dir", str(tmp_path), *flags],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert custrisk_logger.level == level, args


def test_global_flags_leave_option_values_and_a_commands_own_flags_alone() -> None:
    """A flag is moved before the command only where click would have read it as an
    option of the command: not as an option's value, after ``--``, nor when the command
    (or its group) defines that flag itself."""
    from custrisk.cli import _globals_first

    demo = typer.Typer()

    @demo.command()
    def tag(data: str, name: str = typer.Option("x", "--name", "-n")) -> None: ...

    @demo.command()
    def show(data: str, version: bool = typer.Option(False, "--version-only", "-v")) -> None: ...

    group = typer.main.get_command(demo)
    ctx = group.make_context("demo", ["--help"], resilient_parsing=True)
    for args, expected in [
        (["tag", "d", "-q", "-vv"], ["-q", "-vv", "tag", "d"]),
        (["tag", "d", "--name", "-v", "-q"], ["-q", "tag", "d", "--name", "-v"]),
        (["tag", "d", "-n", "--debug", "--debug"], ["--debug", "tag", "d", "-n", "--debug"]),
        (["tag", "d", "--", "-q"], ["tag", "d", "--", "-q"]),
        (["show", "d", "-v", "-q"], ["-q", "show", "d", "-v"]),
        (["nosuch", "-q"], ["nosuch", "-q"]),
    ]:
        assert _globals_first(group, ctx, args) == expected, args
