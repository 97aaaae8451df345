"""Every command and sub-command is documented: help text, option help, the README table."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from custrisk.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = []
    for name, command in sorted(getattr(group, "commands", {}).items()):
        found.append(((*prefix, name), command))
        found.extend(_commands(command, (*prefix, name)))
    return found


COMMANDS = _commands(get_command(app))
IDS = [" ".join(path) for path, _ in COMMANDS]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_has_help(path: tuple[str, ...], command: Any) -> None:
    assert (command.help or "").strip(), f"custrisk {' '.join(path)} has no help text"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_has_a_short_help_that_fits_the_listing(
    path: tuple[str, ...], command: Any
) -> None:
    """``custrisk --help`` lists each command on one line; a long first sentence would be
    cut off with "..." mid-word, and a full stop on some lines and not others reads as
    carelessness."""
    short = (command.short_help or "").strip()
    assert short, f"custrisk {' '.join(path)} has no short_help"
    assert len(short) <= 60, (
        f"custrisk {' '.join(path)}: short_help of {len(short)} > 60 characters"
    )
    assert not short.endswith("."), f"custrisk {' '.join(path)}: short_help ends with '.'"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_option_and_argument_has_help(path: tuple[str, ...], command: Any) -> None:
    undocumented = [
        param.name
        for param in command.params
        if param.name != "help" and not (getattr(param, "help", None) or "").strip()
    ]
    assert not undocumented, f"custrisk {' '.join(path)}: no help for {undocumented}"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_no_option_shows_a_python_type_for_its_value(path: tuple[str, ...], command: Any) -> None:
    """A repeatable option says what it takes (``--owner <role>``), not the Python type
    behind it (``--owner <list[str]>``)."""
    from typer.testing import CliRunner

    shown = CliRunner().invoke(app, [*path, "--help"], terminal_width=200).output
    options = [line for line in shown.splitlines() if line.lstrip().startswith("-")]
    assert not [line for line in options if re.search(r"<(list|tuple|dict)\[", line)], shown


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_usage_line_names_its_arguments_as_the_help_does(
    path: tuple[str, ...], command: Any
) -> None:
    """``Usage: custrisk score [OPTIONS] DATA_DIR``, as the help texts and the README name
    the arguments: not typer 0.27's Python names in braces (``{data_dir}``)."""
    from typer.testing import CliRunner

    shown = CliRunner().invoke(app, [*path, "--help"], terminal_width=200).output
    usage = shown.splitlines()[0]
    assert usage.startswith(f"Usage: custrisk {' '.join(path)} [OPTIONS]"), usage
    words = usage.split("[OPTIONS]", 1)[1].split()
    if getattr(command, "commands", None):
        assert words == ["COMMAND", "[ARGS]..."], usage
        return
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    assert len(words) == len(arguments), usage
    for word, argument in zip(words, arguments, strict=True):
        assert re.fullmatch(r"\[?[A-Z][A-Z0-9_]*(\.yaml)?\]?(\.\.\.)?", word), usage
        assert word.startswith("[") == (not argument.required), usage
        assert word.endswith("...") == (argument.nargs != 1), usage


@pytest.mark.parametrize(
    "path",
    [path for path, command in COMMANDS if not getattr(command, "commands", None)],
    ids=[i for (p, c), i in zip(COMMANDS, IDS, strict=True) if not getattr(c, "commands", None)],
)
def test_every_command_is_listed_in_the_readme(path: tuple[str, ...]) -> None:
    table_cells = re.findall(r"^\| `custrisk ([^`]+)`", README.read_text(encoding="utf-8"), re.M)
    listed = {
        tuple(w for w in cell.split() if re.fullmatch(r"[a-z][a-z-]*", w)) for cell in table_cells
    }
    assert any(entry[: len(path)] == path for entry in listed), (
        f"custrisk {' '.join(path)} is not in the README's command table"
    )


API_DOC = README.parent / "docs" / "api.md"


def test_every_public_name_resolves_and_is_documented() -> None:
    import custrisk

    text = API_DOC.read_text(encoding="utf-8")
    for name in custrisk.__all__:
        if name == "__version__":
            continue
        assert getattr(custrisk, name) is not None
        assert f"`{name}`" in text, f"custrisk.{name} is not in docs/api.md"


def test_the_api_page_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, export_200: Path
) -> None:
    """Every example of docs/api.md, in order, on the session's 200-customer export in
    the place of sample_data/ (500 customers: the same generator and files; fewer
    customers train, score and render the batch's reports in less time; too few for
    drift, whose statistics are insufficient: the batch's drift gate fails, and every
    stage still runs)."""
    import shutil

    shutil.copytree(export_200, tmp_path / "sample_data")
    monkeypatch.chdir(tmp_path)
    text = API_DOC.read_text(encoding="utf-8")
    # Every example is run: one fenced as another language (```py) would be skipped unseen
    assert re.findall(r"^```(\w+)", text, re.M) == ["python"] * text.count("```python")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 7
    namespace: dict[str, object] = {"__name__": "__main__"}  # run as a script is
    for block in blocks:
        exec(compile(block, str(API_DOC), "exec"), namespace)  # noqa: S102 - our own docs
    assert (tmp_path / "runs" / "2026-10" / "scores.run.json").is_file()
    facts = json.loads((tmp_path / "batch" / "runs" / "2026-10" / "run.json").read_text("utf-8"))
    assert {name: stage["status"] for name, stage in facts["stages"].items()} == {
        "validate": "ok",
        "score": "ok",
        "drift": "ok",
        "evaluate": "skipped",
        "reports": "ok",
        "notify": "skipped",
    }
    assert len(list((tmp_path / "reports").glob("customer_*.pdf"))) == 2


def test_the_docs_python_examples_import_what_exists() -> None:
    """Every ``from custrisk... import NAME`` of a Python example in docs/ resolves: the
    examples of ci.md and policy.md imported names from modules that no longer held them
    (``custrisk.monitoring.check_data_drift``, ``custrisk.scoring.pipeline``)."""
    import ast
    import importlib
    import importlib.util

    missing = []
    for page in sorted((README.parent / "docs").glob("*.md")):
        for block in re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            for node in ast.walk(ast.parse(block)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("custrisk"):
                    if importlib.util.find_spec(node.module or "") is None:
                        missing.append(f"{page.name}: no module {node.module}")
                        continue
                    module = importlib.import_module(node.module or "")
                    missing += [
                        f"{page.name}: from {node.module} import {alias.name}"
                        for alias in node.names
                        if not hasattr(module, alias.name)
                        and importlib.util.find_spec(f"{node.module}.{alias.name}") is None
                    ]
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.startswith("custrisk"):
                            importlib.import_module(alias.name)
    assert not missing, missing
