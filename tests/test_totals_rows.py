"""Totals rows of spreadsheet reports (合计, 小计, Total): rejected as such, never scored
as a customer, never counted as a customer whose rows were rejected."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.data import load_workspace
from custrisk.data.text import note_words, totals_words
from tests._support import CREDIT_HEADER, TXN_HEADER, credit_row

MakeWs = Callable[[dict[str, str | bytes]], Path]


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("合计", True),
        ("合　计", True),  # an ideographic space, as Excel reports align it
        ("小计：", True),
        (" Grand Total ", True),
        ("ＴＯＴＡＬ", True),
        ("总计:", True),
        ("合计金额", False),  # a header-like text, not the label of a totals row
        ("0000000042", False),
        ("王总", False),
        ("Sumner", False),
    ],
)
def test_totals_labels(value: str, found: bool) -> None:
    assert totals_words(pa.array([value, None])).tolist() == [found, False]


def test_totals_rows_are_rejected_once_each_as_such(make_workspace: MakeWs) -> None:
    """A credit totals row with its sums passes every other check; one with blank
    fields would be rejected for each of them. Both are listed once, as totals rows, and
    are no customer whose rows were rejected; a linked export's totals row too."""
    sums = credit_row("合计", limit="300000.00")
    blank = "合　计" + "," * (CREDIT_HEADER.count(","))
    credit = "\n".join(
        [CREDIT_HEADER, credit_row("0000000001"), credit_row("0000000002"), sums, blank]
    )
    txns = "\n".join(
        [
            TXN_HEADER,
            "T1,0000000001,2026-09-01,100.00,order,mobile,,",
            "T2,0000000002,2026-09-02,200.00,order,mobile,,",
            ",Total,,300.00,,,,",
        ]
    )
    ws = load_workspace(
        make_workspace({"credit.csv": credit + "\n", "transactions.csv": txns + "\n"})
    )
    rejects = ws.rejects
    listed = sorted(zip(rejects["source"], rejects["line"], rejects["rule"], strict=True))
    assert listed == [
        ("credit", 4, "total_row"),
        ("credit", 5, "total_row"),
        ("transactions", 4, "total_row"),
    ]
    assert ws.frames["credit"]["customer_id"].tolist() == ["0000000001", "0000000002"]
    assert len(ws.frames["transactions"]) == 2
    assert ws.report.customers_rejected == 0  # 合计 is no customer


def test_a_repeated_header_line_is_rejected_once_as_such(make_workspace: MakeWs) -> None:
    """Two exports joined with cat (the second's header, with its byte-order mark, in
    the middle) or a report's header on every page: the line is listed once as a
    repeated header, not for each field that is no number or date, and is no customer
    whose rows were rejected; a linked export's too."""
    credit = "\n".join(
        [
            CREDIT_HEADER,
            credit_row("0000000001"),
            "\ufeff" + CREDIT_HEADER,
            credit_row("0000000002"),
        ]
    )
    txns = "\n".join(
        [
            TXN_HEADER,
            "T1,0000000001,2026-09-01,100.00,order,mobile,,",
            TXN_HEADER,
            "T2,0000000002,2026-09-02,200.00,order,mobile,,",
        ]
    )
    ws = load_workspace(
        make_workspace({"credit.csv": credit + "\n", "transactions.csv": txns + "\n"})
    )
    rejects = ws.rejects
    listed = sorted(zip(rejects["source"], rejects["line"], rejects["rule"], strict=True))
    assert listed == [("credit", 3, "header_row"), ("transactions", 3, "header_row")]
    assert ws.frames["credit"]["customer_id"].tolist() == ["0000000001", "0000000002"]
    assert len(ws.frames["transactions"]) == 2
    assert ws.report.customers_rejected == 0  # customer_id is no customer


def test_a_flat_tables_totals_row_is_not_scored(tmp_path: Path) -> None:
    """A table with no id column (customers are its line numbers) and a totals row at
    the bottom, its label in the name column and its sums in the number columns."""
    rng = np.random.default_rng(3)
    n = 600
    frame = pd.DataFrame(
        {
            "姓名": [f"客户{i}" for i in range(n)],
            "年龄": rng.integers(20, 65, n),
            "月收入": rng.integers(3000, 30000, n),
            "负债收入比": rng.uniform(0, 1, n).round(3),
        }
    )
    frame["违约"] = np.where(rng.uniform(size=n) < 0.15 + 0.3 * frame["负债收入比"], "是", "否")
    frame.to_csv(tmp_path / "train.csv", index=False)
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "train",
            str(tmp_path / "train.csv"),
            "--target",
            "违约",
            "--models-dir",
            str(tmp_path / "m"),
        ],
    )
    assert result.exit_code == 0, result.output
    later = frame.drop(columns=["违约"]).head(50)
    totals = {"姓名": "合计", "年龄": "", "月收入": later["月收入"].sum(), "负债收入比": ""}
    pd.concat([later, pd.DataFrame([totals])]).to_csv(tmp_path / "next.csv", index=False)
    # and the header again after 25 rows, as a report repeats it on a new page: no
    # customer to score (every feature blank), though its ids are line numbers
    lines = (tmp_path / "next.csv").read_text(encoding="utf-8").splitlines()
    lines.insert(26, lines[0])
    # and the report's notes under it, each alone in its row (the preparer's name too)
    lines += ["制表人：张三  审核：李四,,,", "数据来源：核心系统,,,"]
    # and an empty row of the sheet, as Excel saves it in a CSV (line 12): no customer
    lines.insert(11, ",,,")
    (tmp_path / "next.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "run" / "scores.csv"
    result = runner.invoke(
        app,
        [
            "score",
            str(tmp_path / "next.csv"),
            "-m",
            "logistic",
            "--models-dir",
            str(tmp_path / "m"),
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 50
    rejects = pd.read_csv(out.with_name("scores.rejects.csv"), dtype=str)
    assert rejects[["line", "rule"]].values.tolist() == [
        ["12", "blank_row"],
        ["28", "header_row"],
        ["54", "total_row"],
        ["55", "note_row"],
        ["56", "note_row"],
    ]
    # said as what they are (it said "0 input rows were repaired while cleaning")
    said = " ".join(result.stderr.split())
    assert "0 input rows" not in said
    assert "Note: 5 rows of the report itself (totals, notes, captions, blank or repeated" in said


def test_an_empty_row_saved_as_csv_is_rejected_once_as_such(make_workspace: MakeWs) -> None:
    """,,,,, (a sheet's empty row as Excel saves it) is listed once as blank_row, not as
    a customer with a blank id; a row whose only values were blanked as invalid is not."""
    empty = "," * CREDIT_HEADER.count(",")
    credit = "\n".join(
        [CREDIT_HEADER, credit_row("0000000001"), empty, credit_row("0000000002"), empty]
    )
    ws = load_workspace(make_workspace({"credit.csv": credit + "\n"}))
    rejects = ws.rejects
    assert sorted(zip(rejects["line"], rejects["rule"], strict=True)) == [
        (3, "blank_row"),
        (5, "blank_row"),
    ]
    assert ws.frames["credit"]["customer_id"].tolist() == ["0000000001", "0000000002"]
    assert ws.report.customers_rejected == 0


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("制表人：张三  审核：李四", True),
        ("备注", True),
        ("注:以上数据截至月末", True),
        ("数据来源： 核心系统", True),
        ("Prepared by: Li Na", True),
        ("ＮＯＴＥ：", True),
        ("注意事项", False),  # a word that starts like one
        ("sourcing", False),
        ("0000000042", False),
    ],
)
def test_note_labels(value: str, found: bool) -> None:
    assert note_words(pa.array([value, None])).tolist() == [found, False]


def test_a_note_under_the_customer_table_is_no_customer(make_workspace: MakeWs) -> None:
    """制表人：张三 in the id column under the table, every other field blank: rejected
    once as a note (it was a customer 制表人:张三审核:李四, scored on blanks). A customer
    whose id happens to start so but who has data is kept."""
    note = "制表人：张三  审核：李四" + "," * CREDIT_HEADER.count(",")
    credit = "\n".join(
        [
            CREDIT_HEADER,
            credit_row("0000000001"),
            credit_row("备注"),
            credit_row("0000000002"),
            note,
        ]
    )
    txns = "\n".join(
        [TXN_HEADER, "T1,0000000001,2026-09-01,100.00,order,mobile,,", ",数据来源：ERP,,,,,,"]
    )
    ws = load_workspace(
        make_workspace({"credit.csv": credit + "\n", "transactions.csv": txns + "\n"})
    )
    rejects = ws.rejects
    listed = sorted(zip(rejects["source"], rejects["line"], rejects["rule"], strict=True))
    assert listed == [("credit", 5, "note_row"), ("transactions", 3, "note_row")]  # no orphan
    assert ws.frames["credit"]["customer_id"].tolist() == ["0000000001", "备注", "0000000002"]
    assert ws.report.customers_rejected == 0  # a note is no customer


def test_a_reports_own_rows_are_skipped_and_do_not_fail_validate(
    make_workspace: MakeWs, tmp_path: Path
) -> None:
    """A monthly export with its blank rows, 合计 row, header again and 制表人 note: each
    is listed (action skipped, with its reason) but none is rejected data, so that a
    cron gate on validate passes; a bad row still fails it, counted alone."""
    empty = "," * CREDIT_HEADER.count(",")
    rows = [
        CREDIT_HEADER,
        credit_row("0000000001"),
        empty,
        CREDIT_HEADER,
        credit_row("0000000002"),
        credit_row("合计", limit="300000.00"),
        "制表人：张三" + empty,
    ]
    data = make_workspace({"credit.csv": "\n".join(rows) + "\n"})
    result = CliRunner().invoke(
        app, ["validate", str(data), "--out", str(tmp_path / "v"), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["status"], report["rows_rejected"], report["rows_skipped"]) == ("clean", 0, 4)
    credit = report["sources"]["credit"]
    assert credit["rows_in"] == credit["rows_kept"] + credit["rows_skipped"]
    rejects = pd.read_csv(tmp_path / "v" / "rejects.csv", dtype=str)
    assert rejects[["line", "rule", "action"]].values.tolist() == [
        ["3", "blank_row", "skipped"],
        ["4", "header_row", "skipped"],
        ["6", "total_row", "skipped"],
        ["7", "note_row", "skipped"],
    ]
    data = make_workspace({"credit.csv": "\n".join([*rows, credit_row("")]) + "\n"})
    result = CliRunner().invoke(app, ["validate", str(data), "--out", str(tmp_path / "w")])
    assert result.exit_code == 1
    assert "1 row was rejected (credit 1)" in " ".join(result.output.split())


def test_a_totals_label_in_an_ignored_row_number_column_is_a_totals_row(tmp_path: Path) -> None:
    """合计 and 制表人 in 序号 (the report's first column, which the flat layout ignores),
    the id blank: a totals row and a note, skipped, not a customer missing its id."""
    n = 40
    frame = pd.DataFrame(
        {
            "序号": [str(i + 1) for i in range(n)],
            "客户编号": [f"C{i:04d}" for i in range(n)],
            "民族": ["汉族"] * n,
            "月收入": [str(5000 + 10 * i) for i in range(n)],
            "近12月逾期次数": [str(i % 4) for i in range(n)],
        }
    )
    report = pd.concat(
        [
            frame,
            pd.DataFrame(
                [
                    {"序号": "合计", "月收入": "230000", "近12月逾期次数": "60"},
                    {"序号": "制表人：王会计"},
                ]
            ),
        ]
    )
    table = tmp_path / "table.csv"
    report.to_csv(table, index=False, encoding="gbk")
    runner = CliRunner()
    result = runner.invoke(app, ["init", str(table), "--out", str(tmp_path / "cfg")])
    assert result.exit_code == 0, result.output
    # init's layout says so too: the id has no fault, the report has two rows of its own
    said = " ".join(result.output.split())
    assert (
        "identifies a customer; 2 rows are the report's own (totals, notes, captions): skipped"
        in said
    )
    assert "repeat an id" not in said
    args = ["validate", str(table), "--config", str(tmp_path / "cfg" / "sources.yaml")]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "v")])
    assert result.exit_code == 0, result.output
    rejects = pd.read_csv(tmp_path / "v" / "rejects.csv", dtype=str)
    assert rejects[["line", "header", "rule", "value", "action"]].values.tolist() == [
        ["42", "序号", "total_row", "合计", "skipped"],
        ["43", "序号", "note_row", "制表人：王会计", "skipped"],
    ]


def test_a_groups_caption_in_an_ignored_row_number_column_is_a_caption_row(
    tmp_path: Path,
) -> None:
    """华东区 alone in 序号 above its group's customers (a report grouped by region): a
    caption, skipped as such, not an empty line of a CSV (",,,,")."""
    n = 40
    customers = [
        {"序号": str(i + 1), "客户编号": f"C{i:04d}", "月收入": str(5000 + 10 * i)}
        for i in range(n)
    ]
    rows = [{"序号": "华东区"}, *customers[:20], {"序号": "华南区"}, *customers[20:]]
    rows += [{"序号": "合计", "月收入": "230000"}, {}]
    table = tmp_path / "table.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    runner = CliRunner()
    result = runner.invoke(app, ["init", str(table), "--out", str(tmp_path / "cfg")])
    assert result.exit_code == 0, result.output
    args = ["validate", str(table), "--config", str(tmp_path / "cfg" / "sources.yaml")]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "v")])
    assert result.exit_code == 0, result.output
    rejects = pd.read_csv(tmp_path / "v" / "rejects.csv", dtype=str)
    assert rejects[["line", "header", "rule", "action"]].values.tolist() == [
        ["2", "序号", "caption_row", "skipped"],
        ["23", "序号", "caption_row", "skipped"],
        ["44", "序号", "total_row", "skipped"],
        ["45", np.nan, "blank_row", "skipped"],  # (an empty line stays one)
    ]
    assert "a caption of the report" in rejects["message"].iloc[0]
    assert ",,,," not in rejects["message"].iloc[0]


def test_a_groups_caption_in_the_id_column_is_not_a_customer(
    make_workspace: Callable[..., Path], tmp_path: Path
) -> None:
    """华东区 alone in the id column, among ids that are codes: a caption, not a customer
    with every field blank; a coded id alone in its row stays a customer."""
    rows = [CREDIT_HEADER, ",".join(["华东区"] + [""] * (CREDIT_HEADER.count(",")))]
    rows += [credit_row(f"C{i:05d}") for i in range(1, 30)]
    rows.append(",".join(["C00099"] + [""] * (CREDIT_HEADER.count(","))))
    data = make_workspace({"credit.csv": "\n".join(rows) + "\n"})
    result = CliRunner().invoke(app, ["validate", str(data), "--out", str(tmp_path / "v")])
    rejects = pd.read_csv(tmp_path / "v" / "rejects.csv", dtype=str)
    listed = rejects[["line", "rule", "value"]].values.tolist()
    assert ["2", "caption_row", "华东区"] in listed, result.output
    assert not rejects[rejects["line"] == "2"]["rule"].ne("caption_row").any()
    assert "caption_row" not in set(rejects[rejects["line"] == "32"]["rule"])
