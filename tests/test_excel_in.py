"""Workbooks (.xlsx, .xlsm, .ods) read wherever a CSV is: the same cleaning, typing and
reject rules, the header found past title rows, merged headers, Excel dates, error cells
as rejects, and hostile workbooks refused before they cost memory."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

from custrisk.cli import app
from custrisk.config.sources import load_sources_config
from custrisk.data import load_workspace
from custrisk.data.infer import infer_table
from custrisk.errors import ConfigError, DataError
from custrisk.io.cells import excel_serial_date
from custrisk.io.excel import ExcelLimits, top_rows
from custrisk.io.readers import read_raw
from tests._support import with_zero_pad

PACKAGED_SOURCES = Path(__file__).resolve().parents[1] / "configs" / "sources.yaml"
SOURCES = ("credit", "transactions", "behaviour")


def csv_to_workbook(
    csv_path: Path,
    book: Path,
    *,
    title: str | None = None,
    sheet="data",
    numbers: tuple[str, ...] = (),
) -> None:
    """The CSV as a sheet the way Excel holds it: numbers as numbers, dates as dates,
    ids and text as text (optionally under a title row and a blank row); the columns
    ``numbers`` as number cells too (an id typed into a cell Excel took for a number)."""
    config = load_sources_config(PACKAGED_SOURCES)
    types = {c.name: c.type for spec in config.sources.values() for c in spec.columns}
    with csv_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    workbook = xlsxwriter.Workbook(str(book), {"strings_to_numbers": False})
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet_ = workbook.add_worksheet(sheet)
    top = 0
    if title:
        sheet_.write_string(0, 0, title)
        top = 2
    header = rows[0]
    for c, name in enumerate(header):
        sheet_.write_string(top, c, name)
    for r, row in enumerate(rows[1:], start=top + 1):
        for c, value in enumerate(row):
            kind = types.get(header[c], "string")
            if value == "":
                continue
            if kind == "date":
                sheet_.write_datetime(r, c, dt.datetime.fromisoformat(value), date_format)
            elif kind in ("int", "float") or header[c] in numbers:
                sheet_.write_number(r, c, float(value))
            else:
                sheet_.write_string(r, c, value)
    workbook.close()


@pytest.fixture(scope="session")
def workbook_exports(tmp_path_factory: pytest.TempPathFactory, export_200: Path) -> Path:
    """``export_200`` as workbooks (credit under a title row) and a sources YAML for them."""
    folder = tmp_path_factory.mktemp("excel_exports")
    for name in SOURCES:
        title = "客户授信台账 2026-10" if name == "credit" else None
        csv_to_workbook(export_200 / f"{name}.csv", folder / f"{name}.xlsx", title=title)
    text = PACKAGED_SOURCES.read_text(encoding="utf-8")
    for name in SOURCES:
        text = text.replace(f"file: {name}.csv", f"file: {name}.xlsx")
    (folder / "sources.yaml").write_text(text, encoding="utf-8")
    return folder


def test_a_workbook_export_cleans_to_the_same_frames_as_the_csv_export(
    export_200: Path, workbook_exports: Path
) -> None:
    from_csv = load_workspace(export_200, config=PACKAGED_SOURCES)
    from_excel = load_workspace(workbook_exports, config=workbook_exports / "sources.yaml")
    for name in SOURCES:
        pd.testing.assert_frame_equal(from_excel.frames[name], from_csv.frames[name])
        excel_report, csv_report = from_excel.report.sources[name], from_csv.report.sources[name]
        assert (excel_report.rows_in, excel_report.rows_kept, excel_report.rows_rejected) == (
            csv_report.rows_in,
            csv_report.rows_kept,
            csv_report.rows_rejected,
        )
        assert excel_report.encodings == ("xlsx",)
    # ids keep their leading zeros: they were text cells
    assert from_excel.frames["credit"]["customer_id"].iloc[0] == "0000000001"


@pytest.mark.parametrize("source", ["transactions", "credit"])
def test_id_cells_that_are_numbers_need_zero_pad_and_then_match(
    tmp_path: Path, export_200: Path, source: str
) -> None:
    """One export a workbook whose customer id cells are numbers (0000000042 is the
    number 42): the run stops naming the source and column to pad, whichever side lost
    its zeros; with that zero_pad the frames are the CSV export's (the number 42.0 is
    read as 42, then padded, never 42.0)."""
    folder = tmp_path / "exports"
    shutil.copytree(export_200, folder)
    csv_to_workbook(folder / f"{source}.csv", folder / f"{source}.xlsx", numbers=("customer_id",))
    (folder / f"{source}.csv").unlink()
    text = PACKAGED_SOURCES.read_text(encoding="utf-8")
    text = text.replace(f"file: {source}.csv", f"file: {source}.xlsx")
    (folder / "sources.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_workspace(folder, config=folder / "sources.yaml")
    message = str(info.value)
    assert message.startswith(f"{folder / 'transactions.'}")
    assert "lost their leading zeros" in message
    assert f"add zero_pad: 10 to sources.{source}.columns.customer_id in " in message
    (folder / "padded.yaml").write_text(with_zero_pad(source, text=text), encoding="utf-8")
    got = load_workspace(folder, config=folder / "padded.yaml")
    want = load_workspace(export_200, config=PACKAGED_SOURCES)
    for name in SOURCES:
        pd.testing.assert_frame_equal(got.frames[name], want.frames[name], obj=name)
    assert got.report.status == "clean"


def _exports_to_edit(
    tmp_path: Path, workbook_exports: Path
) -> tuple[Path, openpyxl.Workbook, list[object]]:
    """A copy of the workbook exports in ``tmp_path/data``, its credit workbook opened
    to edit, and the credit sheet's header (row 3: under the title row)."""
    data = tmp_path / "data"
    data.mkdir()
    for name in SOURCES:
        (data / f"{name}.xlsx").write_bytes((workbook_exports / f"{name}.xlsx").read_bytes())
    book = openpyxl.load_workbook(data / "credit.xlsx")
    return data, book, [c.value for c in book.active[3]]


def test_an_excel_error_cell_is_blanked_in_an_optional_column_and_rejects_a_required_ones_row(
    runner, tmp_path: Path, workbook_exports: Path
) -> None:
    """An error cell where a bad value is blanked (annual_income: optional, on_invalid:
    blank) is blanked and listed as repaired, its customer kept; in a required column
    (credit_limit) it rejects the row, and that customer's transactions are
    ``customer_rejected`` naming the cell's row, not orphans."""
    data, book, header = _exports_to_edit(tmp_path, workbook_exports)
    sheet = book.active
    ids = {row: sheet.cell(row=row, column=header.index("customer_id") + 1).value for row in (5, 9)}
    sheet.cell(row=5, column=header.index("annual_income") + 1, value="#N/A").data_type = "e"
    sheet.cell(row=9, column=header.index("credit_limit") + 1, value="#DIV/0!").data_type = "e"
    book.save(data / "credit.xlsx")
    # (openpyxl writes them as error cells, t="e", not as text)
    with zipfile.ZipFile(data / "credit.xlsx") as package:
        assert package.read("xl/worksheets/sheet1.xml").count(b't="e"') == 2
    out = tmp_path / "validation"
    config = workbook_exports / "sources.yaml"
    result = runner.invoke(app, ["validate", str(data), "--config", str(config), "--out", str(out)])
    assert result.exit_code == 1, result.output
    rejects = pd.read_csv(
        out / "rejects.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False
    )
    errors = rejects[rejects["rule"] == "excel_error"]
    assert errors[["file", "line", "column", "value", "action"]].values.tolist() == [
        ["credit.xlsx", "5", "annual_income", "#N/A", "repaired"],
        ["credit.xlsx", "9", "credit_limit", "#DIV/0!", "dropped"],
    ]
    assert (
        errors["message"]
        .str.fullmatch(
            r"cell [A-Z]+5 \(annual_income\) holds the Excel error #N/A; replaced by blank "
            r"\(on_invalid: blank\)"
        )
        .iloc[0]
    )
    assert (
        errors["message"]
        .str.fullmatch(r"cell [A-Z]+9 \(credit_limit\) holds the Excel error #DIV/0!")
        .iloc[1]
    )
    assert "orphan" not in set(rejects["rule"])
    linked = rejects[rejects["source"] != "credit"]
    assert len(linked) > 0
    assert set(linked["rule"]) == {"customer_rejected"}
    assert set(linked["value"]) == {ids[9]}
    assert set(linked["message"]) == {
        "the customer's credit row was rejected (credit.xlsx line 9: excel_error)"
    }
    workspace = load_workspace(data, config=config)
    credit = workspace.frames["credit"].set_index("customer_id")
    assert ids[5] in credit.index and pd.isna(credit.loc[ids[5], "annual_income"])
    assert ids[9] not in credit.index
    kept = workspace.frames["transactions"]["customer_id"].astype(str)
    assert (kept == ids[5]).any() and not (kept == ids[9]).any()
    report = workspace.report.sources["credit"]
    assert (report.rows_kept, report.rows_rejected, report.rows_repaired) == (199, 1, 1)
    assert workspace.report.customers_rejected == 1


def test_a_totals_row_with_an_excel_error_is_skipped_as_a_totals_row(
    runner, tmp_path: Path, workbook_exports: Path
) -> None:
    """合计 under the customers with =SUM(...) showing #N/A (a SUM over a column that
    holds one #N/A is #N/A) is the report's totals row, skipped as without the error: it
    was rejected as a customer's row, and validate failed on a customer 合计 not scored."""
    data, book, header = _exports_to_edit(tmp_path, workbook_exports)
    sheet = book.active
    last = sheet.max_row + 1
    sheet.cell(row=last, column=1, value="合计")
    sheet.cell(row=last, column=header.index("credit_limit") + 1, value="#N/A").data_type = "e"
    book.save(data / "credit.xlsx")
    out = tmp_path / "validation"
    config = workbook_exports / "sources.yaml"
    result = runner.invoke(app, ["validate", str(data), "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rejects = pd.read_csv(
        out / "rejects.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False
    )
    assert rejects[["line", "rule", "value", "action"]].values.tolist() == [
        [str(last), "total_row", "合计", "skipped"]
    ]
    assert (
        rejects["message"]
        .iloc[0]
        .endswith(
            f"(cell {openpyxl.utils.get_column_letter(header.index('credit_limit') + 1)}{last} "
            "(credit_limit) holds the Excel error #N/A)"
        )
    )
    workspace = load_workspace(data, config=config)
    report = workspace.report.sources["credit"]
    assert (report.rows_in, report.rows_kept, report.rows_rejected, report.rows_skipped) == (
        201,
        200,
        0,
        1,
    )
    assert workspace.report.customers_rejected == 0


def _book(path: Path, rows: list[list[object]], **options: object) -> Path:
    workbook = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, **options})
    sheet = workbook.add_worksheet("S")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is not None:
                sheet.write(r, c, value)
    workbook.close()
    return path


def test_whole_numbers_read_as_text_have_no_decimal_and_text_ids_keep_their_zeros(
    tmp_path: Path,
) -> None:
    book = _book(
        tmp_path / "ids.xlsx",
        [["id", "phone", "ratio"], ["007", 13800138000, 0.1], [1.0, 13800138001, 2.0]],
    )
    table = read_raw(book).table.to_pydict()
    assert table == {
        "id": ["007", "1"],
        "phone": ["13800138000", "13800138001"],
        "ratio": ["0.1", "2"],
    }


def test_the_header_is_found_past_title_rows_and_a_merged_parent_joins_its_children(
    tmp_path: Path,
) -> None:
    path = tmp_path / "merged.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("客户")
    sheet.write(0, 0, "2026年10月 客户台账")
    sheet.merge_range(2, 0, 3, 0, "客户编号")  # vertical: spans both header rows
    sheet.merge_range(2, 1, 2, 2, "联系方式")  # the parent of 手机 and 邮箱
    sheet.write(3, 1, "手机")
    sheet.write(3, 2, "邮箱")
    sheet.write(2, 3, "授信额度")
    sheet.write_row(4, 0, ["C001", "13800138000", "a@b.cn", 50000])
    sheet.write_row(6, 0, ["C002", "13900139000", "c@d.cn", 80000])  # a blank row above
    workbook.close()
    raw = read_raw(path)
    assert raw.header == ["客户编号", "联系方式/手机", "联系方式/邮箱", "授信额度"]
    assert raw.lines.tolist() == [5, 7]  # rows as Excel numbers them
    assert raw.table.column("授信额度").to_pylist() == ["50000", "80000"]
    # declared names (e.g. from rename:) decide the header row as well
    declared = read_raw(path, columns={"客户编号": "customer_id", "授信额度": "credit_limit"})
    assert declared.table.column_names == ["客户编号", "授信额度"]
    assert declared.unmatched == ["联系方式/手机", "联系方式/邮箱"]


def test_a_header_of_month_date_cells_is_the_header(tmp_path: Path) -> None:
    """客户编号 then a column per month whose header cell is a date shown as 2026年1月, as
    finance sheets lay out a year: it was "no header row found" (only text made a
    header). The months are named by their dates."""
    path = tmp_path / "months.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("S")
    month = workbook.add_format({"num_format": "yyyy年m月"})
    sheet.write(0, 0, "客户编号")
    for c in (1, 2):
        sheet.write_datetime(0, c, dt.datetime(2026, c, 1), month)
    sheet.write_row(1, 0, ["C001", 100, 200])
    sheet.write_row(2, 0, ["C002", 300, 400])
    workbook.close()
    raw = read_raw(path)
    assert raw.header == ["客户编号", "2026-01-01", "2026-02-01"]
    assert raw.table.column("2026-02-01").to_pylist() == ["200", "400"]


@pytest.mark.parametrize(
    ("odd", "said"),
    [
        ("#REF!", "C1 holds the Excel error #REF!"),
        (3e6, "C1 holds the number 3000000 (a date cell whose value is out of range?)"),
    ],
    ids=["excel-error", "bad-date"],
)
def test_a_header_cell_that_is_no_name_is_named_not_no_header_row(
    tmp_path: Path, odd: object, said: str
) -> None:
    """A header row with one cell that is an Excel error or a date cell holding no date:
    it said "no header row found"; it names the row and the cell."""
    path = tmp_path / "odd.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["客户编号", "月收入", "负债率", "违约"])
    for i in range(5):
        sheet.append([f"C{i:03d}", 1000 * (i + 1), 0.1 * i, "否"])
    sheet["C1"].value = odd
    if odd == "#REF!":
        sheet["C1"].data_type = "e"
    else:
        sheet["C1"].number_format = "yyyy-mm-dd"
    workbook.save(path)
    header = r"row 1 looks like the header row, but a cell of it holds no column name"
    with pytest.raises(DataError, match=header) as caught:
        read_raw(path)
    assert said in str(caught.value) and "type the column's name in C1" in str(caught.value)


def test_rows_a_filter_hides_are_read_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A sheet filtered to the customers the analyst meant (the others hidden) scored
    every row without a word: more customers than the sheet shows. The hidden rows are
    still read (a filter is no deletion), and said once per workbook, with their rows."""
    path = tmp_path / "filtered.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("S")
    sheet.write_row(0, 0, ["id", "limit"])
    for r in range(1, 12):
        sheet.write_row(r, 0, [f"C{r:03d}", 1000 * r])
    for r in (3, 4, 5, 9):  # (0-based: sheet rows 4-6 and 10)
        sheet.set_row(r, None, None, {"hidden": True})
    sheet.autofilter(0, 0, 11, 1)
    workbook.close()
    with caplog.at_level("WARNING", logger="custrisk.io.excel"):
        assert read_raw(path).table.num_rows == 11
        read_raw(path)  # (train reads a table twice: said once)
    said = [r.getMessage() for r in caplog.records if "hidden in the sheet" in r.getMessage()]
    assert len(said) == 1
    assert "4 of the 11 rows under its header are hidden in the sheet (rows 4-6, 10:" in said[0]
    caplog.clear()
    with caplog.at_level("WARNING", logger="custrisk.io.excel"):
        read_raw(_book(tmp_path / "plain.xlsx", [["id", "limit"], ["C001", 1]]))
    assert not caplog.records


def test_a_cell_merged_down_the_data_rows_gives_its_value_to_each_row(tmp_path: Path) -> None:
    """地区 merged over the rows of its group, as a report lays it out: each customer of
    the group is in that region (they read as blank regions but the first). A note
    merged across the width under the table stays one cell."""
    path = tmp_path / "groups.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("客户")
    sheet.write_row(0, 0, ["客户编号", "地区", "授信额度"])
    sheet.merge_range(1, 1, 3, 1, "华东")
    sheet.merge_range(4, 1, 5, 1, "华北")
    for r, (cid, limit) in enumerate(
        [("C001", 1), ("C002", 2), ("C003", 3), ("C004", 4), ("C005", 5)], start=1
    ):
        sheet.write(r, 0, cid)
        sheet.write(r, 2, limit)
    sheet.write(6, 0, "C006")  # its own region: blank
    sheet.write(6, 2, 6)
    sheet.merge_range(7, 0, 7, 2, "备注：额度单位为万元")
    workbook.close()
    raw = read_raw(path)
    assert raw.table.column("地区").to_pylist() == ["华东"] * 3 + ["华北"] * 2 + ["", ""]
    assert raw.table.column("客户编号").to_pylist()[-1] == "备注：额度单位为万元"
    assert raw.table.column("授信额度").to_pylist()[-1] in ("", None)


@pytest.mark.parametrize(
    ("serial", "date1904", "expected"),
    [
        (1, False, dt.datetime(1900, 1, 1)),
        (59, False, dt.datetime(1900, 2, 28)),
        (61, False, dt.datetime(1900, 3, 1)),
        (45658, False, dt.datetime(2025, 1, 1)),
        (45658.5, False, dt.datetime(2025, 1, 1, 12)),
        (0, True, dt.datetime(1904, 1, 1)),
        (44196, True, dt.datetime(2025, 1, 1)),
        (0, False, None),
        (3e6, False, None),
    ],
)
def test_excel_serial_dates_in_both_date_systems(
    serial: float, date1904: bool, expected: dt.datetime | None
) -> None:
    assert excel_serial_date(serial, date1904=date1904) == expected


@pytest.mark.parametrize("date1904", [False, True])
def test_serial_numbers_in_a_date_column_become_dates(tmp_path: Path, date1904: bool) -> None:
    serial = 44196 if date1904 else 45658  # 2025-01-01 in each system
    book = _book(
        tmp_path / "serials.xlsx",
        [["id", "opened"], ["a", serial], ["b", None]],
        date_1904=date1904,
    )
    raw = read_raw(book, date_columns=["opened"])
    assert raw.table.schema.field("opened").type == pa.timestamp("s")
    assert raw.table.column("opened").to_pylist() == [dt.datetime(2025, 1, 1), None]
    # a column that is not a date keeps the number
    assert read_raw(book).table.column("opened").to_pylist()[0] == str(serial)


@pytest.mark.parametrize("date1904", [False, True])
def test_a_date_and_time_in_a_date_column_holds_its_day(tmp_path: Path, date1904: bool) -> None:
    """A cell with a time of day (typed in, or a serial with a fraction) in a date
    column is its day, as a Parquet or database timestamp is; it was rejected."""
    serial = (44196 if date1904 else 45658) + 0.75  # 2025-01-01 18:00 in each system
    path = tmp_path / "times.xlsx"
    workbook = xlsxwriter.Workbook(str(path), {"date_1904": date1904})
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, ["id", "opened", "amount"])
    stamp = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet.write_string(1, 0, "a")
    sheet.write_datetime(1, 1, dt.datetime(2024, 5, 6, 14, 30), stamp)
    sheet.write_number(1, 2, 1.25)
    sheet.write_row(2, 0, ["b", serial, 2.5])
    sheet.write_string(3, 0, "c")
    sheet.write_datetime(3, 1, dt.datetime(2024, 5, 7, 23, 59, 59), stamp)
    sheet.write_number(3, 2, 3.75)
    workbook.close()
    raw = read_raw(path, date_columns=["opened"])
    assert raw.table.column("opened").to_pylist() == [
        dt.datetime(2024, 5, 6),
        dt.datetime(2025, 1, 1),
        dt.datetime(2024, 5, 7),
    ]
    # a number that is not in a date column keeps its fraction
    assert raw.table.column("amount").to_pylist() == ["1.25", "2.5", "3.75"]


def test_a_date_column_with_text_is_read_as_text_for_the_cleaner_to_judge(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mixed.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, ["id", "opened"])
    sheet.write_string(1, 0, "a")
    sheet.write_datetime(
        1, 1, dt.datetime(2024, 5, 6), workbook.add_format({"num_format": "yy/m/d"})
    )
    sheet.write_row(2, 0, ["b", "not a date"])
    workbook.close()
    raw = read_raw(path, date_columns=["opened"])
    assert raw.table.column("opened").to_pylist() == ["2024-05-06", "not a date"]


def test_formulas_give_their_cached_values(tmp_path: Path) -> None:
    path = tmp_path / "formulas.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, ["a", "b"])
    sheet.write_number(1, 0, 21)
    sheet.write_formula(1, 1, "=A2*2", None, 42)
    workbook.close()
    assert read_raw(path).table.column("b").to_pylist() == ["42"]


def test_a_sheet_is_chosen_by_name_after_hash_or_by_the_sources_config(
    tmp_path: Path, make_workspace: Callable[..., Path]
) -> None:
    path = tmp_path / "book.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    workbook.add_worksheet("说明").write(0, 0, "这张表说明数据口径")
    data = workbook.add_worksheet("客户")
    data.write_row(0, 0, ["customer_id", "credit_limit"])
    data.write_row(1, 0, ["C1", 100])
    workbook.close()
    raw = read_raw(f"{path}#客户")
    assert raw.table.column("customer_id").to_pylist() == ["C1"]
    assert raw.path.name == "book.xlsx#客户"
    assert read_raw(path, sheet="客户").num_rows == 1
    with pytest.raises(DataError, match=r"no sheet '客户表'; it has: '说明', '客户'"):
        read_raw(path, sheet="客户表")

    folder = make_workspace({"book.xlsx": path.read_bytes()})
    yaml = folder / "sources.yaml"
    for file_line in ("file: book.xlsx\n    sheet: 客户", "file: 'book.xlsx#客户'"):
        yaml.write_text(
            "version: 1\nsources:\n  credit:\n    " + file_line + "\n    key: customer_id\n"
            "    columns:\n      customer_id: {type: id, required: true}\n"
            "      credit_limit: {type: float}\n",
            encoding="utf-8",
        )
        workspace = load_workspace(folder, config=yaml)
        assert workspace.frames["credit"]["credit_limit"].tolist() == [100.0]


def test_sheet_is_refused_for_a_csv_file_in_the_sources_config(tmp_path: Path) -> None:
    yaml = tmp_path / "sources.yaml"
    yaml.write_text(
        "version: 1\nsources:\n  credit:\n    file: credit.csv\n    sheet: 客户\n"
        "    key: customer_id\n    columns:\n      customer_id: {type: id}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"sources\.credit\.sheet.*applies to workbook files"):
        load_sources_config(yaml)


# -- hostile workbooks ------------------------------------------------------------------


def test_a_cell_far_from_the_data_is_refused_before_the_grid_is_allocated(
    tmp_path: Path,
) -> None:
    book = _book(tmp_path / "far.xlsx", [["id"], ["a"]])
    with zipfile.ZipFile(book) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    stray = '<row r="1048576"><c r="XFD1048576" t="n"><v>1</v></c></row></sheetData>'
    parts["xl/worksheets/sheet1.xml"] = sheet.replace("</sheetData>", stray).encode()
    hostile = tmp_path / "hostile.xlsx"
    with zipfile.ZipFile(hostile, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    with pytest.raises(DataError, match=r"too large to read: a grid of 1,048,576 rows by 16,384"):
        read_raw(hostile)


def test_a_zip_bomb_is_refused_by_its_unzipped_size(tmp_path: Path) -> None:
    book = _book(tmp_path / "bomb.xlsx", [["id"], ["a"]])
    with zipfile.ZipFile(book, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/padding.bin", b"\0" * (8 << 20))
    with pytest.raises(DataError, match=r"unzips to [\d,]+ bytes, over the limit of 4,194,304"):
        read_raw(book, excel_limits=ExcelLimits(max_unzipped_bytes=4 << 20))


def test_a_glance_at_a_workbooks_first_rows_keeps_the_readers_limits(tmp_path: Path) -> None:
    """Choosing a table's sheet, or a CRM export by its headers, looks at the first rows
    of sheets before the reader opens the book: a bomb is not unzipped for that."""
    from custrisk.io.excel import _safe_to_open

    book = _book(tmp_path / "bomb.xlsx", [["id"], ["a"]])
    assert _safe_to_open(book, ExcelLimits(max_unzipped_bytes=4 << 20))
    with zipfile.ZipFile(book, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/padding.bin", b"\0" * (8 << 20))
    assert not _safe_to_open(book, ExcelLimits(max_unzipped_bytes=4 << 20))
    assert not _safe_to_open(tmp_path / "absent.xlsx")


def test_rows_cells_and_sheets_have_limits(tmp_path: Path) -> None:
    book = _book(tmp_path / "rows.xlsx", [["id"], *([str(i)] for i in range(50))])
    with pytest.raises(DataError, match=r"too large to read: 51 rows \(limit 10\)"):
        read_raw(book, excel_limits=ExcelLimits(max_rows=10))
    with pytest.raises(DataError, match=r"too large to read: over 20 cells"):
        read_raw(book, excel_limits=ExcelLimits(max_cells=20))
    path = tmp_path / "sheets.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    for i in range(12):
        workbook.add_worksheet(f"S{i}").write(0, 0, "id")
    workbook.close()
    with pytest.raises(DataError, match=r"has 12 sheets, over the limit of 10"):
        read_raw(path, excel_limits=ExcelLimits(max_sheets=10))


def test_a_file_that_is_not_a_workbook_is_a_one_line_error(tmp_path: Path) -> None:
    fake = tmp_path / "credit.xlsx"
    fake.write_bytes(b"\x01\x02 no workbook \xff\xfe\x00" * 50)
    with pytest.raises(DataError, match=r"credit\.xlsx: not a valid workbook"):
        read_raw(fake)


#: Workbooks no test can write with the packages custrisk installs: an .xlsx protected
#: with the password "custrisk" (msoffcrypto-tool) and an Excel 97-2003 .xls (xlwt).
WORKBOOKS = Path(__file__).parent / "workbooks"


def test_an_old_format_xls_workbook_is_read() -> None:
    raw = read_raw(WORKBOOKS / "old_format.xls", date_columns=["开户日期"])
    assert raw.table.column("客户编号").to_pylist() == ["C001", "C002"]
    assert raw.table.column("开户日期").to_pylist() == [
        dt.datetime(2024, 5, 6),
        dt.datetime(2025, 1, 1),
    ]
    # a formula xlwt wrote is never calculated: blank, as docs/data-sources.md says
    assert raw.table.column("年收入").to_pylist() == ["120000.5", None]


def _cut_workbook(path: Path) -> None:
    whole = _book(path.with_suffix(".full.xlsx"), [["id", "amount"], ["a", 1]]).read_bytes()
    path.write_bytes(whole[: len(whole) // 2])


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        (
            "protected.xlsx",
            lambda p: shutil.copy(WORKBOOKS / "password_protected.xlsx", p),
            r"protected\.xlsx: the workbook is protected with a password .*remove the password",
        ),
        (
            "protected.xlsm",
            lambda p: shutil.copy(WORKBOOKS / "password_protected.xlsx", p),
            r"protected with a password",
        ),
        (
            "old.xlsx",
            lambda p: shutil.copy(WORKBOOKS / "old_format.xls", p),
            r"an Excel 97-2003 workbook \(\.xls\) under the name \.xlsx; rename it to \.xls",
        ),
        (
            "new.xls",
            lambda p: _book(p.with_suffix(".xlsx"), [["id"], ["a"]]).rename(p),
            r"an \.xlsx workbook \(a zip archive\) under the name \.xls; rename it to \.xlsx",
        ),
        (
            "web.xls",
            lambda p: p.write_text("<html><table><tr><td>客户编号</td></tr></table></html>"),
            r"a web page \(HTML\).*save it as an Excel workbook \(\.xlsx\)",
        ),
        (
            "renamed.xlsx",
            lambda p: p.write_text("客户编号,年收入\nC1,1000\n", encoding="gb18030"),
            r"the file is text .*rename it to \.csv",
        ),
        ("cut.xlsx", _cut_workbook, r"incomplete or damaged.*copy or export it again"),
        ("empty.xlsx", lambda p: p.write_bytes(b""), r"the file is empty \(0 bytes\)"),
    ],
)
def test_a_file_that_does_not_open_as_a_workbook_says_what_it_is(
    runner, tmp_path: Path, name: str, make: Callable[[Path], object], message: str
) -> None:
    """What an analyst's "Excel file" often is: the reader's own words (File is not a
    zip file, Invalid OLE signature) named none of these, or said to save a protected
    workbook again as .xlsx."""
    path = tmp_path / name
    make(path)
    with pytest.raises(DataError, match=message):
        read_raw(path)
    result = runner.invoke(app, ["init", str(path), "--out", str(tmp_path / "cfg")])
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and "Traceback" not in result.output
    assert result.output.count("Error:") == 1


def test_an_ods_workbook_is_read(tmp_path: Path) -> None:
    pytest.importorskip("odf", reason="odfpy writes the .ods file of this test")
    frame = pd.DataFrame({"id": ["007", "b"], "amount": [1.0, 2.5]})
    path = tmp_path / "book.ods"
    frame.to_excel(path, index=False, engine="odf")
    assert read_raw(path).table.to_pydict() == {"id": ["007", "b"], "amount": ["1", "2.5"]}


def _formula_book(path: Path, *, cached: bool, monthly: tuple[int, int] = (1000, 2500)) -> None:
    """客户编号, 月收入 and 年收入 = 月收入 × 12 as a formula: stored as a program writes it
    (no result: xlsxwriter's placeholder 0, the workbook asking to be calculated when
    opened), or as Excel saves it (the result stored, nothing asked)."""
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("客户")
    sheet.write_row(0, 0, ["客户编号", "月收入", "年收入"])
    for row, amount in enumerate(monthly, start=1):
        sheet.write_string(row, 0, f"C{row}")
        sheet.write_number(row, 1, amount)
        sheet.write_formula(row, 2, f"=B{row + 1}*12", None, amount * 12 if cached else 0)
    book.close()
    if cached:  # what Excel writes on saving: no request to calculate on opening
        with zipfile.ZipFile(path) as old:
            members = {name: old.read(name) for name in old.namelist()}
        members["xl/workbook.xml"] = members["xl/workbook.xml"].replace(b' fullCalcOnLoad="1"', b"")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
            for name, data in members.items():
                new.writestr(name, data)


def test_formulas_a_program_wrote_are_not_read_as_their_placeholder_results(
    tmp_path: Path,
) -> None:
    """A workbook written by a program (openpyxl, xlsxwriter) stores no formula results:
    read as stored, every customer's annual income was 0 (xlsxwriter) or blank. Each such
    cell is an error cell naming the formula (blanked in a column that blanks bad values,
    its row rejected otherwise); the results Excel stored when it saved are read."""
    path = tmp_path / "book.xlsx"
    _formula_book(path, cached=False)
    columns = {"客户编号": "customer_id", "月收入": "monthly", "年收入": "annual"}
    raw = read_raw(path, columns=columns, blank_errors=["年收入"])
    assert raw.table.column("年收入").to_pylist() == [None, None]
    assert [(c.line, c.text) for c in raw.blanked] == [(2, "=B2*12"), (3, "=B3*12")]
    assert "cell C2 (年收入) holds a formula (=B2*12) never calculated" in raw.blanked[0].message
    refused = read_raw(path, columns=columns)
    assert refused.num_rows == 0 and [b.line for b in refused.bad_rows] == [2, 3]
    _formula_book(path, cached=True, monthly=(1000, 0))  # (0: a result Excel stored)
    raw = read_raw(path, columns=columns)
    assert raw.table.column("年收入").to_pylist() == ["12000", "0"] and not raw.bad_rows
    # openpyxl writes a formula with no result at all (<v />)
    book = openpyxl.Workbook()
    book.active.append(["客户编号", "月收入", "年收入"])
    book.active.append(["C1", 1000, "=B2*12"])
    book.save(path)
    (refused,) = read_raw(path, columns=columns).bad_rows
    assert "cell C2 (年收入) holds a formula (=B2*12) never calculated" in str(refused.message)


def test_a_formula_in_a_personal_data_cell_is_masked_in_the_rejects(tmp_path: Path) -> None:
    """The message of a formula never calculated quotes the formula: in a name cell,
    =HYPERLINK("…","赵敏 13655556666") put the name in clear in every rejects file."""
    from custrisk.config import load_sources_config
    from custrisk.data import load_workspace
    from custrisk.data.rejects import rejects_to_write
    from tests._support import CREDIT_HEADER, PACKAGED_SOURCES, credit_row

    data = tmp_path / "data"
    data.mkdir()
    book = openpyxl.Workbook()
    book.active.append(CREDIT_HEADER.split(","))
    for i in (1, 2):
        book.active.append(credit_row(f"000000000{i}").split(","))
    book.active["B3"] = '=HYPERLINK("http://x","赵敏 13655556666")'
    book.save(data / "credit.xlsx")
    rejects = load_workspace(data).rejects
    shown = rejects_to_write(rejects, load_sources_config(PACKAGED_SOURCES))
    (message,) = shown.loc[shown["rule"] == "excel_error", "message"]
    assert "cell B3 (name) holds a formula (=HYPERLINK(" in message
    assert "赵敏" not in message and "13655556666" not in message and '"赵**"' in message


def test_a_table_of_formulas_never_calculated_says_so_when_trained(runner, tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    _formula_book(path, cached=False)
    result = runner.invoke(app, ["train", str(path), "--target", "月收入"])
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "no row of the table can be read: all 2 were refused, the first at line 2: " in said
    assert "cell C2 (年收入) holds a formula (=B2*12)" in said and "save it" in said


def test_serial_numbers_among_date_cells_or_under_a_date_header_are_dates(
    runner, tmp_path: Path
) -> None:
    """A date cell whose format was lost (pasted as values, set to General) shows its
    serial, 45961: such a column was inferred as free text (dates and numbers) or as a
    number, and so left out or read as a count. An income in the same range stays one."""
    path = tmp_path / "台账.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("客户")
    day = workbook.add_format({"num_format": "yyyy/m/d"})
    sheet.write_row(0, 0, ["客户编号", "开户日期", "放款日期", "年收入", "违约"])
    first = dt.datetime(2019, 3, 1)
    for i in range(60):
        opened = first + dt.timedelta(days=17 * i)
        sheet.write_string(i + 1, 0, f"C{i:03d}")
        if i % 3:
            sheet.write_datetime(i + 1, 1, opened, day)
        else:
            sheet.write_number(i + 1, 1, (opened - dt.datetime(1899, 12, 30)).days)
        sheet.write_number(i + 1, 2, (opened - dt.datetime(1899, 12, 30)).days + 30)
        sheet.write_number(i + 1, 3, 30000 + 700 * i)
        sheet.write_string(i + 1, 4, "是" if i % 4 == 0 else "否")
    workbook.close()
    schema = infer_table(path, target="违约")
    kinds = {c.header: (c.type, c.role) for c in schema.columns}
    assert kinds["开户日期"] == ("date", "feature")
    assert kinds["放款日期"] == ("date", "feature")
    assert kinds["年收入"] == ("int", "feature")
    result = runner.invoke(
        app, ["init", str(path), "--target", "违约", "--out", str(tmp_path / "cfg")]
    )
    assert result.exit_code == 0, result.output
    frame = load_workspace(path, config=tmp_path / "cfg" / "sources.yaml").frames["credit"]
    opened = frame.set_index("customer_id")["customer_since"]
    assert opened["C000"] == pd.Timestamp("2019-03-01")  # a serial
    assert opened["C001"] == pd.Timestamp("2019-03-18")  # a date cell
    assert opened.notna().all()


def test_the_top_rows_of_a_long_sheet_are_read_without_reading_the_sheet_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A glance at a sheet's first rows (which sheet a table is on, past a 说明 cover
    sheet) read the whole sheet: 15 s on a 300,000-row workbook, paid again by the read.
    The rows are the whole sheet's (texts, dates, a merged title, a blank row)."""
    path = tmp_path / "long.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    workbook.add_worksheet("说明").write(0, 0, "导出说明")
    sheet = workbook.add_worksheet("客户")
    sheet.merge_range(0, 0, 0, 2, "客户台账")
    sheet.write_row(2, 0, ["客户编号", "开户日期", "年收入"])
    day = workbook.add_format({"num_format": "yyyy-mm-dd"})
    for i in range(3, 600):
        sheet.write_string(i, 0, f"C{i:05d}")
        sheet.write_datetime(i, 1, dt.datetime(2020, 1, 1) + dt.timedelta(days=i), day)
        sheet.write_number(i, 2, 1000.5 * i)
    short = workbook.add_worksheet("短")
    short.write_row(0, 0, ["客户编号", "年收入"])
    short.write_row(1, 0, ["C1", 12])
    workbook.close()
    with CalamineWorkbook.from_path(str(path)) as book:
        whole = [list(r) for r in book.get_sheet_by_name("客户").to_python(nrows=10)]
        short_whole = [list(r) for r in book.get_sheet_by_name("短").to_python(nrows=10)]
    assert whole[2] == ["客户编号", "开户日期", "年收入"]
    assert whole[3] == ["C00003", dt.date(2020, 1, 4), 3001.5]

    class HeadOnly:  # (the whole workbook is not opened for the long sheet)
        from_filelike = CalamineWorkbook.from_filelike

        @staticmethod
        def from_path(name: str) -> object:
            raise AssertionError("the whole sheet was read")

    monkeypatch.setattr("custrisk.io.excel.CalamineWorkbook", HeadOnly)
    assert top_rows(path, "客户", 10) == whole
    assert top_rows(path, 1, 10) == whole
    monkeypatch.undo()
    assert top_rows(path, "短", 10) == short_whole  # (shorter than a glance: read whole)
