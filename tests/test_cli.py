"""The CLI as a whole: help texts, version, exit codes of usage errors."""

from __future__ import annotations

import subprocess
import sys

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
