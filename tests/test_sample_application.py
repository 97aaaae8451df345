"""custrisk sample-data --format application: applications with the later outcome."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from custrisk.cli import app

runner = CliRunner()


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_application_format_writes_a_training_table_and_a_next_batch(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["sample-data", str(tmp_path / "a"), "--format", "application", "--customers", "400"]
    )
    assert result.exit_code == 0, result.output
    train = _read(tmp_path / "a" / "application.csv")
    following = _read(tmp_path / "a" / "application_next.csv")
    assert len(train) == 400 and len(following) == 80
    assert {"客户编号", "年龄", "月收入", "负债收入比", "违约"} <= set(train[0])
    assert "违约" not in following[0]
    bad_rate = sum(r["违约"] == "是" for r in train) / len(train)
    assert 0.03 < bad_rate < 0.3
    ids = {r["客户编号"] for r in train} | {r["客户编号"] for r in following}
    assert len(ids) == 480  # the next batch holds new applicants
    again = runner.invoke(
        app, ["sample-data", str(tmp_path / "b"), "--format", "application", "--customers", "400"]
    )
    assert again.exit_code == 0
    assert (tmp_path / "a" / "application.csv").read_bytes() == (
        tmp_path / "b" / "application.csv"
    ).read_bytes()


def test_an_unknown_format_is_a_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sample-data", str(tmp_path / "x"), "--format", "xml"])
    assert result.exit_code == 2
    assert "--format must be one of" in result.output and "application" in result.output
    assert "got 'xml'" in result.output
    assert not (tmp_path / "x").exists()
    dirty = runner.invoke(
        app, ["sample-data", str(tmp_path / "y"), "--format", "application", "--dirty"]
    )
    assert dirty.exit_code == 2 and "--dirty applies to the monthly exports only" in dirty.output
