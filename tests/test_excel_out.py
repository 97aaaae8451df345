"""Workbooks written for people: the scoring run's workbook beside its CSV, alerts,
indicators and rejects as .xlsx; text always text (no formula can run), PII masked."""

from __future__ import annotations

import stat
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from custrisk.cli import app
from custrisk.errors import DataError
from custrisk.io import excel_out
from custrisk.io.excel_out import Sheet, write_workbook
from custrisk.results import read_run


@pytest.fixture(scope="session")
def scored_xlsx(tmp_path_factory: pytest.TempPathFactory, export_200: Path, models_200: Path):
    """``export_200`` scored twice: --out scores.xlsx and --out scores.csv."""
    from typer.testing import CliRunner

    base = tmp_path_factory.mktemp("scored")
    for name in ("xlsx", "csv"):
        out = base / name / f"scores.{name}"
        result = CliRunner().invoke(
            app,
            [
                "score",
                str(export_200),
                "--model",
                "logistic",
                "--models-dir",
                str(models_200),
                "--out",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
    return base


def test_score_to_xlsx_writes_the_same_run_as_csv_plus_a_workbook(scored_xlsx: Path) -> None:
    as_xlsx, as_csv = scored_xlsx / "xlsx", scored_xlsx / "csv"
    for name in ("scores.csv", "alerts.csv"):
        assert (as_xlsx / name).read_bytes() == (as_csv / name).read_bytes()
    run = read_run(as_xlsx / "scores.xlsx")  # the workbook's path finds its run
    assert run.run_id == read_run(as_csv / "scores.csv").run_id
    listed = run.facts["files"]["workbook"]
    assert listed["file"] == "scores.xlsx"
    assert stat.S_IMODE((as_xlsx / "scores.xlsx").stat().st_mode) == 0o600

    book = openpyxl.load_workbook(as_xlsx / "scores.xlsx")
    assert book.sheetnames == ["scores", "alerts", "followups", "summary"]
    # the follow-up plan of the run (followups.csv), customer ids kept as text
    assert book["followups"].max_row == len(run.followups) + 1 > 1
    assert book["followups"]["A2"].value == run.followups["customer_id"].iloc[0]
    scores = book["scores"]
    assert scores.freeze_panes == "A2"
    assert scores.auto_filter.ref == f"A1:{scores.cell(1, scores.max_column).column_letter}201"
    header = [c.value for c in scores[1]]
    row = dict(zip(header, scores[2], strict=True))
    assert (
        row["customer_id"].data_type == "s"
        and row["customer_id"].value == run.scores["customer_id"].iloc[0]
    )  # the id keeps its leading zeros
    assert row["pd"].number_format == "0.00%"
    assert row["pd"].value == pytest.approx(run.scores["pd"].iloc[0])
    assert row["score"].number_format == "0"
    assert row["recommended_limit"].number_format == "#,##0.00"
    # dates are Excel dates (filter by month, sort, subtract), not text
    assert row["as_of"].is_date and row["as_of"].number_format == "yyyy-mm-dd"
    assert row["as_of"].value.date().isoformat() == run.scores["as_of"].iloc[0]
    alert_header = [c.value for c in book["alerts"][1]]
    alert = dict(zip(alert_header, book["alerts"][2], strict=True))
    assert alert["due_by"].is_date and alert["due_by"].number_format == "yyyy-mm-dd hh:mm"
    assert alert["since"].is_date
    grade_rules = [r for rng in scores.conditional_formatting for r in rng.rules]
    assert len(grade_rules) >= 5 + 3  # a fill per grade and per alert level
    assert book["alerts"].max_row == len(run.alerts) + 1
    summary = {(r[0], r[1]): r[2] for r in book["summary"].iter_rows(min_row=2, values_only=True)}
    counts = run.scores["grade"].value_counts()
    assert {g: summary[("grade", g)] for g in counts.index} == counts.to_dict()
    assert summary[("run", "run_id")] == run.run_id
    assert summary[("alerts", "red")] == int((run.alerts["level"] == "red").sum())
    assert book["summary"]["C2"].number_format == "#,##0"  # counts with separators


def test_text_that_looks_like_a_formula_or_a_link_stays_literal(tmp_path: Path) -> None:
    hostile = ['=HYPERLINK("http://x","y")', "+1+1", "@SUM(A1)", "-2+3", "http://example.com"]
    frame = pd.DataFrame({"customer_id": ["0001", *hostile], "amount": [1.5, 2, 3, 4, 5, None]})
    path = write_workbook(tmp_path / "t.xlsx", [Sheet("t", frame, kinds={"amount": "amount"})])
    sheet = openpyxl.load_workbook(path)["t"]
    cells = [sheet.cell(row, 1) for row in range(2, 8)]
    assert [c.value for c in cells] == ["0001", *hostile]
    assert {c.data_type for c in cells} == {"s"}  # no formula ('f') anywhere
    assert not sheet._hyperlinks
    assert sheet.cell(7, 2).value is None  # a missing amount is a blank cell


def test_a_date_column_holds_dates_and_keeps_text_that_is_no_date(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"d": ["2026-10-31", "", None, "soon"], "t": ["2026-11-01T08:30", None, None, None]}
    )
    path = write_workbook(
        tmp_path / "t.xlsx", [Sheet("t", frame, kinds={"d": "date", "t": "datetime"})]
    )
    sheet = openpyxl.load_workbook(path)["t"]
    assert sheet["A2"].is_date and sheet["A2"].value.isoformat() == "2026-10-31T00:00:00"
    assert sheet["A3"].value is None and sheet["A4"].value is None
    assert sheet["A5"].value == "soon"  # not a date: written as it is
    assert sheet["B2"].value.isoformat() == "2026-11-01T08:30:00"


def test_an_empty_text_is_a_blank_cell(tmp_path: Path) -> None:
    """The scores sheet's alert_level of a customer without alerts was an empty string:
    COUNTA counted every customer as on alert, and Go To Blanks found none."""
    frame = pd.DataFrame({"customer_id": ["1", "2", "3"], "alert_level": ["red", "", pd.NA]})
    path = write_workbook(tmp_path / "t.xlsx", [Sheet("t", frame)])
    sheet = openpyxl.load_workbook(path)["t"]
    assert [sheet.cell(r, 2).value for r in (2, 3, 4)] == ["red", None, None]


def test_the_same_tables_give_the_same_bytes(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": ["x", "y"], "b": [1.0, 2.0]})
    first = write_workbook(tmp_path / "1.xlsx", [Sheet("s", frame)]).read_bytes()
    assert write_workbook(tmp_path / "2.xlsx", [Sheet("s", frame)]).read_bytes() == first


def test_a_table_longer_than_a_sheet_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(excel_out, "MAX_SHEET_ROWS", 3)
    frame = pd.DataFrame({"a": range(4)})
    with pytest.raises(DataError, match=r"4 rows, more than an Excel sheet holds \(3\).*\.csv"):
        write_workbook(tmp_path / "big.xlsx", [Sheet("scores", frame)])
    assert not (tmp_path / "big.xlsx").exists()


def test_alerts_and_indicators_write_workbooks(
    runner, scored_xlsx: Path, export_200: Path, tmp_path: Path
) -> None:
    out = tmp_path / "red.xlsx"
    result = runner.invoke(
        app,
        ["alerts", str(scored_xlsx / "csv" / "scores.csv"), "--level", "orange", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    alerts = read_run(scored_xlsx / "csv" / "scores.csv").alerts
    sheet = openpyxl.load_workbook(out)["alerts"]
    assert sheet.max_row - 1 == int(alerts["level"].isin(["red", "orange"]).sum())
    indicators = tmp_path / "indicators.xlsx"
    result = runner.invoke(app, ["indicators", str(export_200), "--out", str(indicators)])
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(indicators)["indicators"]
    assert sheet.cell(1, 1).value == "customer_id" and sheet.max_row == 201
    # Each column formatted as its unit says (was General everywhere: 0.8405747368421053).
    formats = {
        cell.value: sheet.cell(2, cell.column).number_format for cell in next(sheet.iter_rows())
    }
    assert formats["utilisation"] == "0.0%"  # unit share
    assert formats["payments_12m"] == "#,##0.00"  # unit CNY
    assert formats["order_amount_pm_3m"] == "#,##0.00"  # unit CNY/month
    assert formats["bureau_score"] == "0"  # unit points
    assert formats["max_days_past_due_12m"] == "#,##0"  # whole days
    assert formats["payment_capacity"] == "#,##0.00"  # a ratio
    assert formats["region"] == "General"  # text


def test_validate_writes_masked_rejects_as_a_workbook(
    runner, hostile_exports: Path, rejected_names: tuple[str, ...], tmp_path: Path
) -> None:
    out = tmp_path / "validation"
    result = runner.invoke(
        app, ["validate", str(hostile_exports), "--out", str(out), "--rejects-format", "xlsx"]
    )
    assert result.exit_code == 1, result.output
    assert "rejects.xlsx" in result.output and not (out / "rejects.csv").exists()
    sheet = openpyxl.load_workbook(out / "rejects.xlsx")["rejects"]
    text = " ".join(str(c.value) for row in sheet.iter_rows() for c in row)
    assert "cn_phone" in text and "duplicate_row" in text
    assert not any(name in text for name in rejected_names)  # names masked
