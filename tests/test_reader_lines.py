"""One row per physical line: broken quoting, stray carriage returns and oversized lines
are rejected line by line, and every other line is still read (issue 10, items 1, 19)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.data import load_workspace
from custrisk.io.readers import read_raw
from tests._support import CREDIT_HEADER, TXN_HEADER, credit_row

MakeWs = Callable[[dict[str, str | bytes]], Path]
CUSTOMERS = [f"{i:010d}" for i in range(1, 41)]


def _txn(i: int, channel: str = "online") -> str:
    customer = CUSTOMERS[i % len(CUSTOMERS)]
    return f"T{i:012d},{customer},2026-03-{1 + i % 28:02d},{100 + i % 900}.50,payment,{channel},,"


def _export(make_workspace: MakeWs, txn_lines: list[str], newline: str = "\n") -> Path:
    credit = "\n".join([CREDIT_HEADER, *(credit_row(c) for c in CUSTOMERS)]) + "\n"
    txns = newline.join([TXN_HEADER, *txn_lines]) + newline
    return make_workspace({"credit.csv": credit, "transactions.csv": txns})


def _txn_report(folder: Path):
    ws = load_workspace(folder)
    report = ws.report.sources["transactions"]
    rejects = ws.rejects[ws.rejects["source"] == "transactions"]
    return ws, report, dict(zip(rejects["line"].astype(int), rejects["rule"], strict=True))


@pytest.mark.parametrize("n_lines", [4_681, 25_000])  # one block, and several blocks
def test_an_unclosed_quote_rejects_its_line_and_every_other_line_is_read(
    make_workspace: MakeWs, n_lines: int
) -> None:
    lines = [_txn(i) for i in range(n_lines)]
    bad = n_lines // 2
    lines[bad] = _txn(bad, channel='"online')  # opened, never closed
    folder = _export(make_workspace, lines)
    ws, report, rules = _txn_report(folder)
    assert report.rows_in == n_lines
    assert (report.rows_kept, report.rows_rejected) == (n_lines - 1, 1)
    assert rules == {bad + 2: "unclosed_quote"}  # + header, 1-based
    kept = set(ws.frames["transactions"]["txn_id"])
    assert f"T{bad + 1:012d}" in kept and f"T{n_lines - 1:012d}" in kept


def test_two_stray_quotes_do_not_swallow_the_rows_between_them(make_workspace: MakeWs) -> None:
    lines = [_txn(i) for i in range(300)]
    lines[100] = _txn(100, channel='"online')
    lines[200] = _txn(200, channel='online"')  # a quote inside a field is a character
    lines[250] = _txn(250, channel='"online')
    ws, report, rules = _txn_report(_export(make_workspace, lines))
    assert (report.rows_in, report.rows_rejected) == (300, 2)
    assert rules == {102: "unclosed_quote", 252: "unclosed_quote"}
    frame = ws.frames["transactions"].set_index("txn_id")
    assert frame.loc[f"T{200:012d}", "channel"] == 'online"'


def test_unclosed_quote_on_the_last_line_before_empty_lines(make_workspace: MakeWs) -> None:
    lines = [_txn(i) for i in range(20)]
    lines[-1] = _txn(19, channel='"online')
    _ws, report, rules = _txn_report(_export(make_workspace, [*lines, "", "", ""]))
    assert (report.rows_in, report.rows_rejected) == (20, 1)
    assert rules == {21: "unclosed_quote"}


def test_a_quoted_text_value_may_span_lines_and_later_rows_keep_their_line(
    make_workspace: MakeWs,
) -> None:
    credit = [credit_row(c) for c in CUSTOMERS[:5]]
    credit[1] = credit[1].replace("张伟", '"张\n伟"')  # name is a text column
    credit[3] = credit[3].replace("100000.00", "-1")  # out of range: rejected on its line
    folder = make_workspace({"credit.csv": "\n".join([CREDIT_HEADER, *credit]) + "\n"})
    ws = load_workspace(folder)
    report = ws.report.sources["credit"]
    assert (report.rows_in, report.rows_kept) == (5, 4)
    assert ws.frames["credit"]["name"].tolist()[1] == "张\n伟"
    assert ws.rejects["line"].tolist() == [6]  # header 1, rows 2, 3-4, 5, 6, 7


def test_a_stray_carriage_return_rejects_its_line(make_workspace: MakeWs) -> None:
    lines = [_txn(i) for i in range(50)]
    lines[10] = lines[10].replace("online", "on\rline")
    _ws, report, rules = _txn_report(_export(make_workspace, lines, newline="\r\n"))
    assert (report.rows_in, report.rows_rejected) == (50, 1)
    assert rules == {12: "stray_cr"}


def test_lines_ending_in_a_carriage_return_alone_are_still_read(make_workspace: MakeWs) -> None:
    lines = [_txn(i) for i in range(50)]
    lines[7] = "bad,row"
    _ws, report, rules = _txn_report(_export(make_workspace, lines, newline="\r"))
    assert (report.rows_in, report.rows_rejected) == (50, 1)
    assert rules == {9: "field_count"}


def test_utf16_export_with_an_unclosed_quote(tmp_path: Path) -> None:
    lines = [TXN_HEADER, *(_txn(i) for i in range(30))]
    lines[5] = _txn(4, channel='"online')
    lines.insert(9, "")
    path = tmp_path / "t.csv"
    path.write_bytes("\n".join(lines).encode("utf-16"))
    table = read_raw(path)
    assert [(b.line, b.rule) for b in table.bad_rows] == [(6, "unclosed_quote")]
    assert table.num_rows == 29
    assert table.lines[-1] == 32


def test_an_oversized_field_is_a_rejected_row_not_a_failed_file(
    make_workspace: MakeWs, runner: CliRunner, tmp_path: Path
) -> None:
    lines = [_txn(i) for i in range(100)]
    lines[40] = _txn(40, channel="x" * 3_000_000)  # over the 1 MiB line limit
    folder = _export(make_workspace, lines)
    _ws, report, rules = _txn_report(folder)
    assert (report.rows_in, report.rows_rejected) == (100, 1)
    assert rules == {42: "oversized_line"}
    result = runner.invoke(app, ["validate", str(folder), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    rejects = (tmp_path / "out" / "rejects.csv").read_text(encoding="utf-8")
    assert "over the limit of 1,048,576" in rejects
    assert len(rejects) < 5_000  # the line is not copied whole


def test_the_line_limit_can_be_set(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("\n".join([TXN_HEADER, _txn(1), _txn(2, channel="y" * 500), _txn(3)]) + "\n")
    table = read_raw(path, max_line_bytes=300)
    assert [(b.line, b.rule) for b in table.bad_rows] == [(3, "oversized_line")]
    assert table.lines.tolist() == [2, 4]


FIELDS = st.sampled_from(
    ["x", "", '"q"', '"a,b"', '"say ""hi"""', 'in"side', '"open', 'close"', '""', "c\rr"]
    + ['"n\nl"', '"c\r\nd"', '"a\rb"', '"2""\n"', '"x"y']
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(FIELDS, FIELDS), min_size=1, max_size=25),
    blank=st.lists(st.booleans(), min_size=25, max_size=25),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_every_line_is_a_row_or_a_rejected_line_or_inside_a_text_value(
    tmp_path_factory: pytest.TempPathFactory, rows, blank, newline: str
) -> None:
    """Whatever the quoting, each non-blank data line is exactly one of: the first line of
    a row (whose id it holds), a line continuing a row's multi-line text value, or a
    rejected line."""
    lines = ["id,note,code"]
    for i, (note, code) in enumerate(rows):
        lines.append(f"R{i},{note},{code}")
        if blank[i]:
            lines.append("")
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    path.write_bytes(newline.join(lines).encode() + newline.encode())
    table = read_raw(
        path, columns={"id": "id", "note": "note", "code": "code"}, multiline_columns=["note"]
    )
    physical = path.read_bytes().decode().split("\n")  # a line ends with LF
    non_blank = {n for n, text in enumerate(physical, start=1) if n > 1 and text.strip("\r")}
    covered: list[int] = []
    for row, line in zip(table.table.to_pylist(), table.lines.tolist(), strict=True):
        assert physical[line - 1].startswith(row["id"] + ",")
        assert "\n" not in row["code"] and "\r" not in row["code"]
        covered += range(line, line + row["note"].count("\n") + 1)
    rejected = [b.line for b in table.bad_rows]
    covered = [n for n in covered if n in non_blank]  # a text value may hold blank lines
    assert sorted(covered + rejected) == sorted(non_blank)
