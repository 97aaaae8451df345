"""``--period`` on the commands that read a month's sources: it binds the queries'
month, and the data's as-of date must fall in that month (or a week after). It used to
be ignored, silently, when the sources were files: ``custrisk score exports/ --period
2026-11`` scored October's files as if they were November's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.errors import DataError
from custrisk.indicators.as_of import check_period_as_of, data_period

#: export_200's as-of date is 2026-10-31 (conftest)
MONTH = "2026-10"


def _command(name: str, data: Path, models: Path, out: Path) -> list[str]:
    labels = ["--labels", str(data / "labels.csv")]
    registry = ["--models-dir", str(models)]
    return {
        "score": ["score", str(data), "-m", "logistic", *registry, "--out", str(out)],
        "indicators": ["indicators", str(data), "--out", str(out)],
        "train": ["train", str(data), *labels, *registry],
        "evaluate": ["evaluate", "logistic", str(data), *labels, *registry],
        "drift": ["drift", str(data), "-m", "logistic", *registry],
        "compare": ["compare", "logistic", "logistic", str(data), *labels, *registry],
    }[name]


@pytest.mark.parametrize(
    "command", ["score", "indicators", "train", "evaluate", "drift", "compare"]
)
def test_a_period_the_data_is_not_of_is_refused_in_one_line(
    command: str, export_200: Path, models_200: Path, tmp_path: Path, runner: CliRunner
) -> None:
    out = tmp_path / "out" / "table.csv"
    # (train writes a new version into the registry: a copy of its own)
    models = tmp_path / "models" if command == "train" else models_200
    result = runner.invoke(
        app, [*_command(command, export_200, models, out), "--period", "2026-11"]
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    line = lines[0]
    assert line.startswith("Error: --period 2026-11: the as-of date 2026-10-31 ")
    assert "2026-11-01 to 2026-12-07" in line and "--period 2026-10 for this data" in line
    assert not out.parent.exists() and not (tmp_path / "models").exists()


def test_the_month_of_the_data_scores_as_without_the_option(
    export_200: Path, models_200: Path, tmp_path: Path, runner: CliRunner
) -> None:
    scores = {}
    for name, extra in (("plain", []), ("period", ["--period", MONTH])):
        out = tmp_path / name / "scores.csv"
        result = runner.invoke(app, [*_command("score", export_200, models_200, out), *extra])
        assert result.exit_code == 0, result.output
        scores[name] = out.read_bytes()
    assert scores["plain"] == scores["period"]


def test_an_as_of_given_outside_the_period_is_refused_naming_both(
    export_200: Path, models_200: Path, tmp_path: Path, runner: CliRunner
) -> None:
    out = tmp_path / "scores.csv"
    args = [*_command("score", export_200, models_200, out), "--period", MONTH]
    result = runner.invoke(app, [*args, "--as-of", "2026-09-30"])
    assert result.exit_code == 2, result.output
    assert "--period 2026-10: the as-of date 2026-09-30 (--as-of) is before" in result.output
    assert "give an --as-of from 2026-10-01 to 2026-11-07" in result.output
    assert not out.exists()


def test_validate_says_a_period_binds_nothing_when_no_source_is_a_query(
    export_200: Path, tmp_path: Path, runner: CliRunner
) -> None:
    command = ["validate", str(export_200), "--out", str(tmp_path / "v"), "--period", "2026-11"]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "Note: --period 2026-11 binds nothing here: no source is a database query" in (
        result.output
    )


@pytest.mark.parametrize(
    ("as_of", "accepted"),
    [
        ("2026-10-01", True),
        ("2026-11-07", True),  # an export taken a week after the month, as custrisk run
        ("2026-11-08", False),
        ("2026-09-30", False),
    ],
)
def test_the_period_accepts_the_month_and_a_week_after(as_of: str, accepted: bool) -> None:
    day = dt.date.fromisoformat(as_of)
    check_period_as_of(day, "data")  # no month bound: nothing checked
    with data_period(MONTH):
        if accepted:
            check_period_as_of(day, "data")
        else:
            with pytest.raises(DataError, match=rf"--period {MONTH}: the as-of date {as_of}"):
                check_period_as_of(day, "data")


def test_data_without_dates_is_told_to_take_the_months_end() -> None:
    with data_period(MONTH), pytest.raises(DataError) as caught:
        check_period_as_of(dt.date(2026, 12, 8), "today")
    assert "(today: the data has no event dates)" in str(caught.value)
    assert "pass --as-of 2026-10-31" in (caught.value.hint or "")
