"""Headers: matched ignoring case and width, bounded in size, never echoing personal data;
only the declared columns are read; an export that is an empty folder is an error (issue 10,
items 5, 7, 15, 19, 20)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.data import load_workspace
from custrisk.errors import DataError
from custrisk.io.header import HeaderMatcher, match_header
from custrisk.io.readers import read_raw
from tests._support import CREDIT_HEADER, credit_row

MakeWs = Callable[[dict[str, str | bytes]], Path]
ROWS = [
    credit_row("0000000001"),
    credit_row("0000000002", name="李娜", phone="13912345678", id_number="440524198001010013"),
]
PII = ("张伟", "李娜", "13812345678", "13912345678", "11010519491231002X", "440524198001010013")


def _credit(header: str, rows: list[str] = ROWS) -> str:
    return "\n".join([header, *rows]) + "\n"


def _validate(runner: CliRunner, folder: Path, out: Path):
    result = runner.invoke(app, ["validate", str(folder), "--out", str(out)])
    assert "Traceback" not in result.output
    return result


@pytest.mark.parametrize(
    "region,limit",
    [("REGION", "Credit_Limit"), ("ｒｅｇｉｏｎ", "ＣＲＥＤＩＴ＿ＬＩＭＩＴ")],
    ids=["case", "full-width"],
)
def test_headers_match_declared_columns_ignoring_case_and_width(
    make_workspace: MakeWs, region: str, limit: str
) -> None:
    header = CREDIT_HEADER.replace("region", region).replace("credit_limit", limit)
    ws = load_workspace(make_workspace({"credit.csv": _credit(header)}))
    credit = ws.frames["credit"]
    assert credit["region"].tolist() == ["华东", "华东"]
    assert credit["credit_limit"].tolist() == [100000.0, 100000.0]
    warnings = " ".join(ws.report.sources["credit"].warnings)
    assert f"header '{region}' read as the declared column 'region'" in warnings
    assert "missing" not in warnings


def test_an_export_whose_every_header_matches_folded_gets_one_warning_line(
    make_workspace: MakeWs,
) -> None:
    """A Hong Kong or Taiwan export's headers all differ from the declared ones: one line
    naming a few, not a line per column every month."""
    ws = load_workspace(make_workspace({"credit.csv": _credit(CREDIT_HEADER.upper())}))
    warnings = ws.report.sources["credit"].warnings
    folded = [w for w in warnings if "read as the declared" in w]
    assert len(folded) == 1, warnings
    n = len(CREDIT_HEADER.split(","))
    assert f"{n} headers read as the declared columns" in folded[0]
    assert n > 5 and f"and {n - 5} more" in folded[0]


def test_two_headers_matching_one_column_is_an_error_naming_both(make_workspace: MakeWs) -> None:
    header = CREDIT_HEADER + ",REGION"
    folder = make_workspace({"credit.csv": _credit(header, [r + ",华南" for r in ROWS])})
    with pytest.raises(DataError, match=r"'region', 'REGION' all match the declared column"):
        load_workspace(folder)


def test_a_near_miss_header_gets_a_did_you_mean(make_workspace: MakeWs) -> None:
    header = CREDIT_HEADER.replace("credit_limit", "credit_limt")
    with pytest.raises(DataError, match=r"credit_limit \(did you mean 'credit_limt'\?\)"):
        load_workspace(make_workspace({"credit.csv": _credit(header)}))


def test_a_header_wrapped_in_its_cell_matches_the_declared_one_without_the_break() -> None:
    """A flat table's model declares its headers as the training sheet wrote them
    (逾期⏎次数, wrapped with Alt+Enter; 月收入 （元）): next month's 逾期次数 and 月收入(元)
    were 'column(s) this table does not have'. An exact or case/width match wins."""
    declared = {"逾期\n次数": "col9", "月收入 （元）": "annual_income", "Age": "age"}
    chosen, folded = match_header(["逾期次数", "月收入(元)", "age"], declared, Path("t"))
    assert chosen == {"逾期次数": "逾期\n次数", "月收入(元)": "月收入 （元）", "age": "Age"}
    assert ("逾期次数", "逾期\n次数") in folded
    with pytest.raises(DataError, match="all match the declared column 'col9'"):
        match_header(["逾期次数", "逾期 次数"], declared, Path("t"))


def test_traditional_headers_of_an_application_table_match_its_simplified_ones() -> None:
    """A Hong Kong or Taiwan lender's 學歷 and 負債收入比: the table of traditional
    characters knew 歷 and 負 but not 學 or 債, so these two headers were 'column(s) this
    table does not have' while 年齡 and 地區 matched. Two declared names that fold alike
    match only exactly."""
    declared = {
        "学历": "col7",
        "负债收入比": "col9",
        "年龄": "col4",
        "近6月征信查询次数": "col13",
        "后": "a",
        "後": "b",
    }
    chosen, folded = match_header(
        ["學歷", "負債收入比", "年齡", "近6月徵信查詢次數", "後"], declared, Path("t")
    )
    assert chosen == {
        "學歷": "学历",
        "負債收入比": "负债收入比",
        "年齡": "年龄",
        "近6月徵信查詢次數": "近6月征信查询次数",
        "後": "後",
    }
    assert len(folded) == 4
    assert HeaderMatcher(declared).find("后") == "后"
    assert HeaderMatcher({"后": "a", "X": "b"}).find("後") == "后"


def test_a_header_kept_masked_matches_the_header_holding_the_personal_data() -> None:
    """A flat table's model keeps 联系人13812345678备注 as 联系人138****5678备注 (no phone
    number in clear in a model folder): next month's header is that column, read without
    a warning that it differs; a header with another phone number is not."""
    declared = {"联系人138****5678备注": "col11", "经***@bank.cn": "col12"}
    chosen, folded = match_header(
        ["联系人13812345678备注", "经理zhang.wei@bank.cn", "联系人13900001111备注"],
        declared,
        Path("t"),
    )
    assert chosen == {
        "联系人13812345678备注": "联系人138****5678备注",
        "经理zhang.wei@bank.cn": "经***@bank.cn",
    }
    assert folded == []
    assert HeaderMatcher(declared).find("联系人１３８１２３４５６７８备注") is not None


def test_an_empty_folder_named_like_an_export_is_an_error(
    make_workspace: MakeWs, runner: CliRunner, tmp_path: Path
) -> None:
    folder = make_workspace({"credit.csv": _credit(CREDIT_HEADER)})
    (folder / "transactions.csv").mkdir()
    result = _validate(runner, folder, tmp_path / "out")
    assert result.exit_code == 2, result.output
    # a folder with files would be read as a dataset (tests/test_datasets.py)
    assert re.search(r"transactions\.csv: is a folder with no export file in it", result.stderr)


def test_a_headerless_export_does_not_print_personal_data(
    make_workspace: MakeWs, runner: CliRunner, tmp_path: Path
) -> None:
    folder = make_workspace({"credit.csv": "\n".join(ROWS) + "\n"})
    result = _validate(runner, folder, tmp_path / "out")
    assert result.exit_code == 2
    assert "the first line looks like a data row, not a header" in result.stderr
    assert not [value for value in PII if value in result.output]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_a_headerless_export_with_another_delimiter_does_not_print_personal_data(
    make_workspace: MakeWs, runner: CliRunner, tmp_path: Path, delimiter: str
) -> None:
    text = "\n".join(row.replace(",", delimiter) for row in ROWS) + "\n"
    result = _validate(runner, make_workspace({"credit.csv": text}), tmp_path / "out")
    assert result.exit_code == 2
    assert "looks like a data row" in result.stderr
    assert not [value for value in PII if value in result.output]


@pytest.mark.parametrize(
    ("above", "header_line"),
    [
        ("客户风险台账（2026年10月）\n", 2),
        ("客户风险台账\n\n制表：风控部\n", 4),
        # a spreadsheet saved as CSV writes the title's row with a field per column
        ("客户风险台账（2026年10月）,,,,,\n", 2),
    ],
)
def test_title_lines_above_a_csv_header_are_passed_over(
    make_workspace: MakeWs, runner: CliRunner, tmp_path: Path, above: str, header_line: int
) -> None:
    """An Excel sheet saved as CSV keeps its title: passed over, as a workbook's title
    rows are (it was refused, 'delete the line above the header and save the CSV again':
    saved again by Excel, the ids lose their leading zeros)."""
    text = above + "\n".join([CREDIT_HEADER, *ROWS]) + "\n"
    result = _validate(runner, make_workspace({"credit.csv": text}), tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "Status: clean" in result.output


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])  # GBK: read transcoded
def test_rows_under_a_title_keep_their_lines(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "t.csv"
    lines = [
        "客户风险台账（单位：元）,,",  # line 1
        ",,",  # 2: the empty row under it
        "customer_id,amount,note",
        "0000000001,12.5,甲",  # 4
        "0000000002,7",  # 5: two of three fields
        "0000000003,8,乙",  # 6
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    raw = read_raw(path, typed={"amount": pa.float64()})
    assert raw.header == ["customer_id", "amount", "note"]
    assert raw.table.column("customer_id").to_pylist() == ["0000000001", "0000000003"]
    assert list(raw.lines) == [4, 6] and [b.line for b in raw.bad_rows] == [5]
    assert raw.table.column("amount").to_pylist() == [12.5, 8.0]


SEP_HEADER = "customer_id;amount;paid;note"


@pytest.mark.parametrize(
    ("encoding", "typed"),
    [("utf-8-sig", False), ("utf-8-sig", True), ("gbk", True)],  # GBK: read transcoded
)
def test_excels_delimiter_line_is_honoured_and_lines_keep_their_numbers(
    tmp_path: Path, encoding: str, typed: bool
) -> None:
    """sep=; above the header (how some systems export for Excel, which splits the columns
    by it): the file is read with ';' whatever the source says, the header is line 2 and
    every row and bad line keeps its physical line number."""
    path = tmp_path / "t.csv"
    lines = [
        "sep=;",
        SEP_HEADER,
        "0000000001;12.5;2026-10-01;甲",
        "0000000002;7;2026-10-02;乙",  # line 4
        "",  # an empty line (5) is skipped, not a row
        "0000000003;8",  # line 6: two of four fields
        '0000000004;9;2026-10-03;"two\nlines"',  # lines 7-8: a value over two lines
        "0000000005;10;2026-10-04;丙",  # line 9
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    raw = read_raw(
        path,
        typed={"amount": pa.float64()} if typed else None,
        multiline_columns=["note"],
    )
    assert raw.header == ["customer_id", "amount", "paid", "note"]
    assert raw.table.column("customer_id").to_pylist() == [
        "0000000001",
        "0000000002",
        "0000000004",
        "0000000005",
    ]
    assert list(raw.lines) == [3, 4, 7, 9]
    assert [(b.line, b.actual) for b in raw.bad_rows] == [(6, 2)]
    amounts = raw.table.column("amount").to_pylist()
    assert amounts == ([12.5, 7.0, 9.0, 10.0] if typed else ["12.5", "7", "9", "10"])


def test_a_tab_declared_by_the_delimiter_line_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("sep=\t\ncustomer_id\tamount\n0000000001\t3\n", encoding="utf-8")
    raw = read_raw(path, delimiter=",")
    assert raw.header == ["customer_id", "amount"] and list(raw.lines) == [3]


def test_a_delimiter_line_declaring_a_letter_is_refused(
    make_workspace: MakeWs, runner: CliRunner, tmp_path: Path
) -> None:
    text = "sep=x\n" + "\n".join([CREDIT_HEADER, *ROWS]) + "\n"
    result = _validate(runner, make_workspace({"credit.csv": text}), tmp_path / "out")
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "credit.csv:1: line 1 is Excel's delimiter line ('sep=x')" in message
    assert "cannot delimit columns" in message and "delete that line" in message


def test_a_header_fault_under_the_delimiter_line_names_line_2(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("sep=;\ncustomer_id;amount;amount\n1;2;3\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"duplicate column names in the header") as caught:
        read_raw(path)
    assert caught.value.line == 2


def test_exports_with_the_delimiter_line_validate_as_any_other(
    make_workspace: MakeWs, runner: CliRunner, tmp_path: Path
) -> None:
    rows = [r.replace(",", ";") for r in ROWS]
    text = "sep=;\n" + "\n".join([CREDIT_HEADER.replace(",", ";"), *rows]) + "\n"
    result = _validate(runner, make_workspace({"credit.csv": text}), tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "credit" in result.output and "Status: clean" in result.output


def test_a_one_column_csv_whose_second_line_is_data_is_not_a_title(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("customer_id\n0000000001\n0000000002\n", encoding="utf-8")
    assert read_raw(path).table.num_rows == 2


def test_duplicate_values_in_a_headerless_export_are_not_echoed(make_workspace: MakeWs) -> None:
    rows = [r.replace("李娜", "张伟") for r in ROWS]  # two 张伟: the "header" repeats a name
    text = ",".join([ROWS[0].split(",")[0], *rows[1].split(",")[1:]]) + ",张伟\n" + rows[1] + "\n"
    with pytest.raises(DataError) as caught:
        load_workspace(make_workspace({"credit.csv": text}))
    assert "张伟" not in str(caught.value) and "looks like a data row" in str(caught.value)


def test_an_oversized_header_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "credit.csv"
    path.write_text("customer_id," + ",".join(f"c{i}" for i in range(400)) + "\n1," + "0," * 400)
    with pytest.raises(
        DataError, match=r"credit\.csv:1: the first line is longer than 1,000 bytes"
    ):
        read_raw(path, max_header_bytes=1_000)


@pytest.mark.parametrize(
    "first_line,message",
    [
        ("x" * (17 << 20), r"the first line is longer than 16,777,216 bytes: not a header row"),
        ("customer_id," + "y" * 200_000, r"a header field is longer than 131,072 characters"),
    ],
    ids=["17 MB first line", "200 kB header field"],
)
def test_a_huge_first_line_or_header_field_exits_2_with_one_line(
    make_workspace: MakeWs, runner: CliRunner, tmp_path: Path, first_line: str, message: str
) -> None:
    folder = make_workspace({"credit.csv": first_line + "\n" + ROWS[0] + "\n"})
    result = _validate(runner, folder, tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert re.search(message, result.stderr)
    assert len(result.stderr) < 1_000


def test_only_the_declared_columns_are_read(make_workspace: MakeWs) -> None:
    unused = 5_000
    header = CREDIT_HEADER + "".join(f",unused_{i}" for i in range(unused))
    rows = [row + ",0" * unused for row in ROWS]
    folder = make_workspace({"credit.csv": _credit(header, rows)})
    before = pa.total_allocated_bytes()
    table = read_raw(
        folder / "credit.csv", columns={name: name for name in CREDIT_HEADER.split(",")}
    )
    assert table.table.column_names == CREDIT_HEADER.split(",")
    assert pa.total_allocated_bytes() - before < 1 << 20  # 5,000 columns would take more
    assert len(table.unmatched) == unused
    ws = load_workspace(folder)
    warnings = " ".join(ws.report.sources["credit"].warnings)
    assert f"ignored: unused_0, unused_1, unused_2, unused_3, unused_4 and {unused - 5} more" in (
        warnings
    )


def test_parquet_columns_match_ignoring_case_and_only_declared_ones_are_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "credit.parquet"
    pq.write_table(
        pa.table({"CUSTOMER_ID": ["1", "2"], "Region": ["华东", "华南"], "x": [1, 2]}), path
    )
    table = read_raw(path, columns={"customer_id": "customer_id", "region": "region"})
    assert table.table.column_names == ["customer_id", "region"]
    assert table.table.column("region").to_pylist() == ["华东", "华南"]
    assert table.unmatched == ["x"]


def test_trailing_columns_without_a_name_are_left_out_when_empty(tmp_path: Path) -> None:
    """A spreadsheet saved with touched, empty columns to the right ("a,b,,"): read as
    the named columns; a value in such a column is refused, naming its line, not lost."""
    path = tmp_path / "t.csv"
    path.write_text("id,amount,,\nC1,10,,\nC2,20, ,\n", encoding="utf-8")
    raw = read_raw(path)
    assert raw.header == ["id", "amount"] and raw.table.column_names == ["id", "amount"]
    assert raw.table.column("amount").to_pylist() == ["10", "20"] and not raw.bad_rows
    path.write_text("id,amount,,\nC1,10,,\nC2,20,,lost?\n", encoding="utf-8")
    with pytest.raises(
        DataError, match=r"header field 4 is blank but the column holds values \(line 3\)"
    ):
        read_raw(path)
    path.write_text("id,,amount\nC1,,10\n", encoding="utf-8")  # a blank name between two
    with pytest.raises(DataError, match="header field 2 is blank"):
        read_raw(path)


def test_a_pandas_index_saved_without_a_header_is_read_and_left_out(tmp_path: Path) -> None:
    """pandas writes its index as a first column with a blank header unless told
    index=False: that column of row numbers is left out (it stopped the read with
    "header field 1 is blank"); any other values there still stop it."""
    path = tmp_path / "t.csv"
    frame = pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "score": [1.5, 2.5, 3.5]})
    frame.to_csv(path)
    raw = read_raw(path)
    assert raw.table.column_names == ["customer_id", "score"]
    assert raw.header == ["customer_id", "score"]
    frame.drop(index=1).to_csv(path)  # a row deleted after numbering: 0, 2
    assert read_raw(path).num_rows == 2
    path.write_text(",customer_id,score\n0,C1,1.5\n1,C2,2.5\nx,C3,3.5\n")
    with pytest.raises(
        DataError,
        match=r"header field 1 is blank but the column holds values "
        r"that are not row numbers \(line 4\)",
    ):
        read_raw(path)
    path.write_text(",customer_id,score\n7,C1,1.5\n9,C2,2.5\n")  # the rows a filter kept
    assert read_raw(path).num_rows == 2
    path.write_text(",customer_id,score\n7,C1,1.5\n7,C2,2.5\n")
    with pytest.raises(DataError, match=r"not row numbers \(line 3\)"):
        read_raw(path)
