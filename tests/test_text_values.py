"""Text values: formulas in disguise, control characters, and ids that must not merge."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.config import default_config_path, load_sources_config
from custrisk.data import load_workspace
from tests._support import CREDIT_HEADER, TXN_HEADER, credit_row

MakeWs = Callable[[dict[str, str | bytes]], Path]


def _credit(*rows: str) -> str:
    return "\n".join([CREDIT_HEADER, *rows]) + "\n"


def _with_region(row: str, region: str) -> str:
    return row.replace(",华东,", f",{region},", 1)


def _rules(ws, source: str = "credit") -> dict[int, set[str]]:
    rejects = ws.rejects[ws.rejects["source"] == source]
    out: dict[int, set[str]] = {}
    for line, rule in zip(rejects["line"], rejects["rule"], strict=True):
        out.setdefault(int(line), set()).add(rule)
    return out


# -- formulas after normalisation ------------------------------------------------------

FULL_WIDTH_FORMULAS = [
    '＝HYPERLINK("http://evil.example","click")',
    "＋CMD|' /C calc'!A0",
    "＠SUM(1+1)*cmd|' /C calc'!A0",
    "﹦1+1",  # small form variant of =
    "－cmd|' /C calc'!A0",
]


@pytest.mark.parametrize("formula", FULL_WIDTH_FORMULAS)
def test_full_width_formulas_are_found_in_every_text_column(
    make_workspace: MakeWs, formula: str
) -> None:
    """Rejected in the key; blanked in the optional name and region (the packaged config
    blanks a bad value of an optional column)."""
    value = '"' + formula.replace('"', '""') + '"'  # one CSV field
    folder = make_workspace(
        {
            "credit.csv": _credit(
                credit_row("0000000001"),
                credit_row("0000000002", name=value),
                credit_row(value),
                _with_region(credit_row("0000000003"), value),
                credit_row("0000000004", name='"　' + value[1:]),  # after an ideographic space
                credit_row("0000000005", name="－５"),  # signed numbers are no formulas
                credit_row("＋８６ ２"),
            )
        }
    )
    ws = load_workspace(folder)
    assert {line: rules - {"normalised"} for line, rules in _rules(ws).items()} == {
        3: {"formula"},
        4: {"formula"},
        5: {"formula"},
        6: {"formula"},
        8: set(),
    }
    formulas = ws.rejects[ws.rejects["rule"] == "formula"]
    assert formulas[["line", "action"]].values.tolist() == [
        [3, "repaired"],
        [4, "dropped"],
        [5, "repaired"],
        [6, "repaired"],
    ]
    credit = ws.frames["credit"]
    assert list(credit["customer_id"]) == [
        "0000000001",
        "0000000002",
        "0000000003",
        "0000000004",
        "0000000005",
        "+862",
    ]
    assert credit["name"].isna().tolist() == [False, True, False, True, False, False]
    assert credit["region"].isna().tolist() == [False, False, True, False, False, False]


# -- control characters ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [
        ("customer_id", "C\x00D", "C\\x00D"),
        ("customer_id", "C\tD", "C\tD"),
        ("name", "张\x00伟", "张\\x00伟"),
        ("name", "张\x1b[2J伟", "张\\x1b[2J伟"),
        ("name", "张\x7f伟", "张\\x7f伟"),
        ("name", "张\x85伟", "张\\x85伟"),  # C1: NEXT LINE
        ("region", "华\x07东", "华\\x07东"),
    ],
)
def test_control_characters_reject_an_id_and_blank_optional_text(
    make_workspace: MakeWs, column: str, value: str, shown: str
) -> None:
    row = {
        "customer_id": credit_row(value),
        "name": credit_row("0000000002", name=value),
        "region": _with_region(credit_row("0000000002"), value),
    }[column]
    tab = credit_row("0000000001", name="张\t伟")  # free text may hold a tab
    folder = make_workspace({"credit.csv": _credit(tab, row)})
    ws = load_workspace(folder)
    rejects = ws.rejects
    action = "dropped" if column == "customer_id" else "repaired"
    assert rejects[["line", "column", "rule", "action"]].values.tolist() == [
        [3, column, "control_character", action]
    ]
    assert rejects["value"].iloc[0] == shown
    report = ws.report.sources["credit"]
    credit = ws.frames["credit"]
    if column == "customer_id":
        assert (report.rows_in, report.rows_kept, report.rows_rejected) == (2, 1, 1)
        assert list(credit["name"]) == ["张\t伟"]
    else:
        assert (report.rows_in, report.rows_kept, report.rows_repaired) == (2, 2, 1)
        assert credit[column].isna().tolist() == [False, True]
        assert credit["name"].iloc[0] == "张\t伟"


def test_rejects_csv_never_holds_a_raw_control_character(
    make_workspace: MakeWs, tmp_path: Path
) -> None:
    folder = make_workspace(
        {"credit.csv": _credit(credit_row("0000000001"), credit_row("C\x00\x1b\x9bD"))}
    )
    result = CliRunner().invoke(app, ["validate", str(folder), "--out", str(tmp_path / "v")])
    assert result.exit_code == 1, result.output
    data = (tmp_path / "v" / "rejects.csv").read_bytes()
    assert b"C\\x00\\x1b\\x9bD" in data
    assert not any(byte < 0x20 and byte not in b"\t\r\n" for byte in data)


def _config_blanking(tmp_path: Path, *columns: str, required: tuple[str, ...] = ()) -> Path:
    """The packaged sources config with ``on_invalid: blank`` on these credit columns and
    ``reject`` on every other one (and the ``required`` ones required)."""
    data = yaml.safe_load(default_config_path("sources.yaml").read_text(encoding="utf-8"))
    for name, rules in data["sources"]["credit"]["columns"].items():
        rules["on_invalid"] = "blank" if name in columns else "reject"
        rules["required"] = rules.get("required", False) or name in required
    config = tmp_path / "sources.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return config


def test_formulas_and_control_characters_are_blanked_with_on_invalid_blank(
    make_workspace: MakeWs, tmp_path: Path
) -> None:
    config = _config_blanking(
        tmp_path, "name", "phone", "region", "industry", required=("industry",)
    )
    folder = make_workspace(
        {
            "credit.csv": _credit(
                credit_row("0000000001", name='"=HYPERLINK(""http://x"")"'),
                credit_row("0000000002", name="张\x1b[2J伟"),
                _with_region(credit_row("0000000003"), "＠SUM(1)"),
                credit_row("0000000004", phone="=1+2"),  # not reported again as a pattern
                # a required column still rejects its row
                credit_row("0000000005").replace(",制造业,", ",=1+5,"),
            )
        }
    )
    ws = load_workspace(folder, config=config)
    credit = ws.frames["credit"]
    assert list(credit["customer_id"]) == ["0000000001", "0000000002", "0000000003", "0000000004"]
    assert credit["name"].isna().tolist() == [True, True, False, False]
    assert credit["region"].isna().tolist() == [False, False, True, False]
    assert credit["phone"].isna().tolist() == [False, False, False, True]
    rejects = ws.rejects[["line", "column", "rule", "action"]].values.tolist()
    assert rejects == [
        [2, "name", "formula", "repaired"],
        [3, "name", "control_character", "repaired"],
        [4, "region", "formula", "repaired"],
        [5, "phone", "formula", "repaired"],
        [6, "industry", "formula", "dropped"],
    ]
    assert ws.rejects["message"].iloc[0] == (
        "looks like a spreadsheet formula (possible CSV injection); replaced by blank "
        "(on_invalid: blank)"
    )
    report = ws.report.sources["credit"]
    assert (report.rows_kept, report.rows_rejected, report.rows_repaired) == (4, 1, 4)


def test_blanked_formulas_of_personal_columns_are_masked_in_rejects_csv(
    make_workspace: MakeWs, tmp_path: Path
) -> None:
    config = _config_blanking(tmp_path, "name")
    folder = make_workspace(
        {"credit.csv": _credit(credit_row("0000000001", name="=张伟CMD|' /C calc'!A0"))}
    )
    result = CliRunner().invoke(
        app, ["validate", str(folder), "--sources", str(config), "--out", str(tmp_path / "v")]
    )
    assert result.exit_code == 0, result.output
    text = (tmp_path / "v" / "rejects.csv").read_text(encoding="utf-8-sig")
    assert "name,formula,'=**,repaired" in text
    assert "calc" not in text


# -- one rule for every id, and no silent merges ---------------------------------------


def test_every_id_loses_spaces_and_case_by_one_rule(make_workspace: MakeWs) -> None:
    folder = make_workspace(
        {
            "credit.csv": _credit(
                credit_row("AB C1"),
                credit_row("ab c2"),
                credit_row("ＡＢ　Ｃ3"),
                credit_row("ABC4"),
            )
        }
    )
    ws = load_workspace(folder)
    assert list(ws.frames["credit"]["customer_id"]) == ["ABC1", "ABC2", "ABC3", "ABC4"]
    assert _rules(ws) == {2: {"normalised"}, 3: {"normalised"}, 4: {"normalised"}}


def test_ids_that_become_one_once_normalised_are_all_rejected_naming_each_other(
    make_workspace: MakeWs,
) -> None:
    folder = make_workspace(
        {
            "credit.csv": _credit(
                credit_row("ABC", limit="5000.00"),
                credit_row("0000000001"),
                credit_row("ab c", limit="900000.00"),
                credit_row("xyz"),
                credit_row("xyz", limit="1.00"),  # the same id twice: a duplicate key
            ),
            "transactions.csv": "\n".join(
                [
                    TXN_HEADER,
                    "T1,ABC,2026-01-05,100.00,payment,online,,",
                    "T2,ab c,2026-01-06,200.00,payment,online,,",
                    "T3,0000000001,2026-01-07,300.00,payment,online,,",
                ]
            )
            + "\n",
        }
    )
    ws = load_workspace(folder)
    collisions = ws.rejects[ws.rejects["rule"] == "id_collision"]
    assert collisions[["line", "value", "action"]].values.tolist() == [
        [2, "ABC", "dropped"],
        [4, "ab c", "dropped"],
    ]
    message = collisions["message"].iloc[0]
    assert "'ABC' (line 2)" in message and "'ab c' (line 4)" in message
    assert "become the same id 'ABC' once normalised" in message
    assert ws.rejects.loc[ws.rejects["line"] == 6, "rule"].tolist() == ["duplicate_key"]
    # Neither customer is scored with the other's data: both are out, and so are
    # their transactions.
    assert list(ws.frames["credit"]["customer_id"]) == ["0000000001", "XYZ"]
    assert list(ws.frames["transactions"]["txn_id"]) == ["T3"]
    for report in ws.report.sources.values():
        assert report.rows_in == report.rows_kept + report.rows_rejected


def test_collisions_in_a_personal_key_name_the_lines_only(
    make_workspace: MakeWs, tmp_path: Path
) -> None:
    data = yaml.safe_load(default_config_path("sources.yaml").read_text(encoding="utf-8"))
    data["sources"]["credit"]["columns"]["customer_id"]["pii"] = True
    config = tmp_path / "sources.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    folder = make_workspace(
        {"credit.csv": _credit(credit_row("Zhang Wei"), credit_row("ZHANGWEI"))}
    )
    ws = load_workspace(folder, config=config)
    messages = set(ws.rejects.loc[ws.rejects["rule"] == "id_collision", "message"])
    assert len(messages) == 1
    message = messages.pop()
    assert "lines 2" not in message and "line 2, line 3" in message
    assert "Zhang" not in message and "ZHANGWEI" not in message


def test_a_category_s_export_values_are_recoded_before_the_allowed_check(
    make_workspace: MakeWs, tmp_path: Path
) -> None:
    config = yaml.safe_load(default_config_path("sources.yaml").read_text(encoding="utf-8"))
    txn_type = config["sources"]["transactions"]["columns"]["txn_type"]
    txn_type["recode"] = {"订单": "order", "回款": "payment", "退款": "refund"}
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    rows = [
        f"T{i},C001,2026-10-0{i},10.5,{kind},app,,"
        for i, kind in enumerate([" 订单 ", "回款", "order", "退款", "拒付"], start=1)
    ]
    folder = make_workspace(
        {
            "credit.csv": _credit(credit_row("C001")),
            "transactions.csv": "\n".join([TXN_HEADER, *rows]) + "\n",
        }
    )
    ws = load_workspace(folder, config=load_sources_config(sources))
    kinds = ws.frames["transactions"].set_index("txn_id")["txn_type"].astype(str).to_dict()
    assert kinds == {"T1": "order", "T2": "payment", "T3": "order", "T4": "refund"}
    # A value the recode does not name is checked against the allowed values as before.
    assert _rules(ws, "transactions") == {6: {"not_allowed"}, 2: {"whitespace"}}


def test_a_blanked_value_s_message_says_what_the_column_allows(
    make_workspace: MakeWs, tmp_path: Path
) -> None:
    config = yaml.safe_load(default_config_path("sources.yaml").read_text(encoding="utf-8"))
    phone = config["sources"]["credit"]["columns"]["phone"]
    del phone["check"]
    phone["pattern"] = "1[3-9][0-9]{9}"
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    folder = make_workspace(
        {
            "credit.csv": _credit(
                credit_row("C001", phone="12345"),
                credit_row("C002", bureau="1000"),
            )
        }
    )
    ws = load_workspace(folder, config=sources)
    messages = dict(zip(ws.rejects["column"], ws.rejects["message"], strict=True))
    assert messages == {
        "phone": "does not match the required pattern 1[3-9][0-9]{9}; replaced by blank "
        "(on_invalid: blank)",
        "bureau_score": "outside the allowed range 300 to 900; replaced by blank "
        "(on_invalid: blank)",
    }
    assert len(ws.frames["credit"]) == 2


def test_phone_numbers_written_with_country_code_or_separators_are_kept(
    make_workspace: MakeWs,
) -> None:
    written = {
        "C01": ("+86 138 1234 5678", "13812345678"),
        "C02": ("+86-139-1234-5678", "13912345678"),  # not a formula: a number
        "C03": ("0086 15012345678", "15012345678"),
        "C04": ("１５８１２３４５６７８", "15812345678"),
        "C05": ("(0371) 6123 4567", "0371-61234567"),
        "C06": ("+86 10 62345678", "010-62345678"),
        "C07": ("13712345678", "13712345678"),
        "C08": ("+86 1381234567", None),  # a digit short
        "C09": ("12345", None),
        "C10": ("=1+2", None),
    }
    folder = make_workspace(
        {"credit.csv": _credit(*(credit_row(c, phone=p) for c, (p, _) in written.items()))}
    )
    ws = load_workspace(folder)
    kept = ws.frames["credit"].set_index("customer_id")["phone"]
    assert {c: (None if pd.isna(v) else v) for c, v in kept.items()} == {
        c: want for c, (_, want) in written.items()
    }
    # Each value listed once, with what happened to it (blanked: not also "normalised").
    lines = {
        int(line): (rule, message)
        for line, rule, message in zip(
            ws.rejects["line"], ws.rejects["rule"], ws.rejects["message"], strict=True
        )
    }
    assert len(lines) == len(ws.rejects) == 9
    assert lines[2] == (
        "normalised",
        "phone number normalised (+86, spaces, dashes or full-width digits)",
    )
    assert [lines[n][0] for n in (9, 10, 11)] == ["cn_phone", "cn_phone", "formula"]
    assert lines[9][1].startswith("not a mainland phone number")


def test_none_written_as_a_dash_or_word_in_a_number_column_is_a_blank(
    make_workspace: MakeWs,
) -> None:
    """A Chinese sheet's "none" in a number column (—, /, 无, 暂无, and a Chinese input
    method's full-width －) is a blank, as '-' and N/A are: not a malformed number blanked
    and listed; a required one is missing."""
    written = {"C01": "无", "C02": "—", "C03": "/", "C04": "暂无", "C05": "1,200.50"}
    written |= {"C07": "－", "C08": "／", "C09": "不详"}
    rows = [credit_row(c, overdue=v if "," not in v else f'"{v}"') for c, v in written.items()]
    rows.append(credit_row("C06", limit="无"))  # credit_limit is required
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}))
    kept = ws.frames["credit"].set_index("customer_id")["overdue_amount"]
    assert kept.loc[["C01", "C02", "C03", "C04", "C07", "C08", "C09"]].isna().all()
    assert kept.loc["C05"] == 1200.5
    assert _rules(ws) == {10: {"missing_required"}}  # only the required one, once


def test_excel_text_literals_are_read_as_their_text_and_not_as_formulas(
    make_workspace: MakeWs,
) -> None:
    """="0000000001" is how many systems export an id for Excel to keep its zeros: the
    text it shows, never run. Such ids (and numbers, dates) are read as that text; they
    were every row rejected as a formula. A literal holding a formula is still one."""

    def wrapped(value: str) -> str:
        return '"=""' + value + '"""'

    rows = [
        credit_row(wrapped("0000000001"), limit=wrapped("12,345.50")),
        credit_row(wrapped("0000000002"), name=wrapped("=cmd|' /C calc'!A0")),
        credit_row(wrapped("0000000003"), balance=wrapped("")),
    ]
    txn = f"T1,{wrapped('0000000001')},{wrapped('2026-01-05')},100,order,online,,"
    files = {"credit.csv": _credit(*rows), "transactions.csv": f"{TXN_HEADER}\n{txn}\n"}
    ws = load_workspace(make_workspace(files))
    credit = ws.frames["credit"].set_index("customer_id")
    assert list(credit.index) == ["0000000001", "0000000002", "0000000003"]
    assert credit.loc["0000000001", "credit_limit"] == 12345.5
    assert pd.isna(credit.loc["0000000003", "outstanding_balance"])
    assert ws.frames["transactions"]["txn_date"].dt.strftime("%Y-%m-%d").tolist() == ["2026-01-05"]
    assert _rules(ws) == {3: {"formula"}}  # the name that is a formula, blanked
    assert ws.rejects["action"].tolist() == ["repaired"]


def test_a_tab_before_every_id_is_the_export_keeping_it_text_not_a_repair(
    make_workspace: MakeWs,
) -> None:
    """\t0000000001 (an export's tab before each id, for Excel to keep it text) is the id,
    not a stray blank trimmed and listed on every row; spaces around a value still are
    (and a stray tab before a few of a column's values: test_validate_sample)."""
    rows = [credit_row(f"\t000000000{i}") for i in (1, 2, 3)] + [credit_row(" 0000000004")]
    txn = "T1,\t0000000001,2026-01-05,100,order,online,,"
    files = {"credit.csv": _credit(*rows), "transactions.csv": f"{TXN_HEADER}\n{txn}\n"}
    ws = load_workspace(make_workspace(files))
    assert ws.frames["credit"]["customer_id"].tolist() == [f"000000000{i}" for i in (1, 2, 3, 4)]
    assert len(ws.frames["transactions"]) == 1
    assert _rules(ws) == {5: {"whitespace"}}  # the space alone


def test_check_marks_are_yes_and_no_and_dotted_dates_are_dates(make_workspace: MakeWs) -> None:
    """A Chinese sheet's √ and × in a yes/no column (已解决: √), and 2026.01.05 dates, read
    by the packaged config: they were invalid values, blanked and listed."""
    header = (
        "event_id,customer_id,event_date,event_type,channel,response_hours,resolved,satisfaction"
    )
    events = [
        f"E{i},0000000001,{day},complaint,phone,2.5,{mark},4"
        for i, (day, mark) in enumerate(
            [("2026.01.05", "√"), ("2026-01-06", "×"), ("2026.1.7", "✓")]
        )
    ]
    files = {
        "credit.csv": _credit(credit_row("0000000001")),
        "behaviour.csv": "\n".join([header, *events]) + "\n",
    }
    ws = load_workspace(make_workspace(files))
    frame = ws.frames["behaviour"]
    assert frame["resolved"].tolist() == [True, False, True]
    assert frame["event_date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2026-01-05",
        "2026-01-06",
        "2026-01-07",
    ]
    assert ws.rejects.empty


def test_none_written_as_a_dash_or_word_in_a_date_column_is_a_blank(
    make_workspace: MakeWs,
) -> None:
    """An unpaid bill's 实际还款日期 written — (or /, 无, 暂无, －) is no date, as a blank
    cell is: not thousands of invalid dates listed as repairs; other text still is one."""
    paid = ["—", "/", "无", "暂无", "－", "未还", "2026-02-10"]
    rows = [
        f"T{i},0000000001,2026-01-05,100,order,online,2026-02-04,{value}"
        for i, value in enumerate(paid)
    ]
    files = {"credit.csv": _credit(credit_row("0000000001"))}
    files["transactions.csv"] = "\n".join([TXN_HEADER, *rows]) + "\n"
    ws = load_workspace(make_workspace(files))
    kept = ws.frames["transactions"]["paid_date"]
    assert kept.isna().tolist() == [True] * 6 + [False]
    assert _rules(ws, "transactions") == {7: {"invalid_date"}}  # 未还 alone


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("￥1,234.50", 1234.5),  # a GBK export's full-width yen
        ("¥1,234.50", 1234.5),
        ("1,234.50元", 1234.5),
        ("RMB 1234", 1234.0),
        ("$80", 80.0),
        ("12.5%", 0.125),  # a percentage is its hundredth
        ("0.1%", 0.001),
        ("1.5万", 15000.0),  # ten thousands
        ("1.234万元", 12340.0),
        ("0.0001亿", 10000.0),
    ],
)
def test_a_number_with_a_currency_sign_unit_or_percent_sign_is_read_and_not_listed(
    make_workspace: MakeWs, written: str, read: float
) -> None:
    """How finance exports write numbers: read as the number, not blanked as malformed,
    and not listed as a repair either (the full-width ￥ included)."""
    rows = [credit_row("C01", overdue=f'"{written}"'), credit_row("C02", overdue="１２３")]
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}))
    kept = ws.frames["credit"].set_index("customer_id")["overdue_amount"]
    assert kept.loc["C01"] == read  # the exact double a plain "0.125" gives
    assert kept.loc["C02"] == 123.0
    assert _rules(ws) == {3: {"normalised"}}  # the full-width digits only


def test_an_amount_in_brackets_is_accountings_negative(make_workspace: MakeWs) -> None:
    """(1,234.50) and 1,234.50- (an ERP's) are -1234.5: read as a number, then refused by
    the column's minimum of 0 (out_of_range), not blanked as malformed text."""
    rows = [credit_row("C01", overdue='"(1,234.50)"'), credit_row("C02", overdue="(-5)")]
    rows.append(credit_row("C03", overdue="−5"))  # U+2212, the minus of a document
    rows.append(credit_row("C04", overdue='"1,234.50-"'))  # SAP's negative: a minus after
    rows.append(credit_row("C05", overdue="-5-"))
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}))
    assert _rules(ws) == {
        2: {"out_of_range"},
        3: {"invalid_number"},
        4: {"out_of_range"},
        5: {"out_of_range"},
        6: {"invalid_number"},
    }
    balance = ws.frames["credit"].set_index("customer_id")["outstanding_balance"]
    assert balance.notna().all()  # (the rows kept, the overdue amounts blanked)


def test_a_numbers_yen_and_brackets_in_full_width_are_read_not_listed() -> None:
    """How a Chinese export writes an amount (￥, （…）) is folded for reading without
    counting as a repair; full-width digits still do."""
    import numpy as np
    import pyarrow as pa

    from custrisk.data.text import normalise_width

    text = pa.array(["￥1,234.50", "（1,234.50）", "１２３", "12"])
    present = np.ones(4, dtype=bool)
    folded, changed = normalise_width(text, present, unflagged="￥（）")
    assert folded.to_pylist() == ["¥1,234.50", "(1,234.50)", "123", "12"]
    assert changed.tolist() == [False, False, True, False]


@pytest.mark.parametrize(
    "written", ["12.5%%", "5%元", "¥", "%", "¥1,23", "1.2.3元", "元12", "万", "1万万", "((5))"]
)
def test_a_malformed_decorated_number_is_still_malformed(
    make_workspace: MakeWs, written: str
) -> None:
    rows = [credit_row("C01", overdue=f'"{written}"')]
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}))
    assert _rules(ws) == {2: {"invalid_number"}}


def test_an_amount_in_a_foreign_currency_is_rejected_naming_it_never_converted(
    make_workspace: MakeWs,
) -> None:
    """HK$1,200, USD 35.00 or €12 in an export of 元 amounts: refused as before (not
    converted at a guessed rate), but the message names the currency and the fix instead
    of a bare "not a number"; the export's own currency is still read."""
    written = ["HK$1,200", "USD 35.00", "us$80", "€12", "35.00 USD", "1,200港币", "(EUR 5)"]
    rows = [credit_row(f"C{i:02d}", overdue=f'"{w}"') for i, w in enumerate(written)]
    rows += [credit_row("C90", overdue="RMB 12"), credit_row("C91", overdue="abc")]
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}))
    rejects = ws.rejects.set_index("line")
    assert set(rejects["rule"]) == {"invalid_number"} and len(rejects) == 8
    named = ["HK$", "USD", "US$", "€", "USD", "港币", "EUR"]
    for line, currency in enumerate(named, start=2):
        message = rejects.loc[line, "message"]
        assert f"foreign currency ({currency})" in message, message
        assert "convert it to the export's currency (元)" in message
    assert rejects.loc[len(written) + 3, "message"].startswith("not a number;")  # abc
    assert ws.frames["credit"].set_index("customer_id").loc["C90", "overdue_amount"] == 12.0
    # a whole column of them is said once, with that fix (not "export the plain numbers":
    # those would be read as 元)
    rows = [credit_row(f"C{i:02d}", overdue=f'"USD {i}.50"') for i in range(12)]
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}))
    (said,) = [w for w in ws.report.sources["credit"].warnings if "overdue_amount" in w]
    assert said.endswith("they are amounts in USD: convert them to 元 in the export"), said


def test_ids_a_spreadsheet_turned_into_scientific_notation_are_rejected_with_the_fix(
    make_workspace: MakeWs,
) -> None:
    """6.22848E+17 no longer names one customer (its digits are gone): rejected as such,
    not kept as an id that many customers share; a phone blanked alike. A whole column
    of them is said once, with how to export it."""
    rows = [credit_row(f"00000000{i:02d}") for i in range(1, 13)]
    rows[0] = credit_row("0000000001", phone="1.38123E+10")
    rows[1] = credit_row("6.22848E+17")
    rows[2] = credit_row("C+1")  # a plus in an id is no number
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}))
    assert _rules(ws) == {2: {"scientific_id"}, 3: {"scientific_id"}}
    credit = ws.frames["credit"].set_index("customer_id")
    assert pd.isna(credit.loc["0000000001", "phone"]) and "C+1" in credit.index
    every = [credit_row(f"{6.22848e17 + i * 1e12:.5E}") for i in range(12)]
    ws = load_workspace(make_workspace({"credit.csv": _credit(*every)}))
    said = " ".join(ws.report.sources["credit"].warnings)
    assert "rows are not ids but numbers in scientific notation" in said
    assert "export the column as text" in said


# -- dates in a layout the config does not know ------------------------------------------


def test_chinese_dates_are_read_by_the_packaged_formats(make_workspace: MakeWs) -> None:
    rows = [credit_row(f"000000000{i}", since=f"201{i}年{i}月2{i}日") for i in range(1, 4)]
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}))
    assert not len(ws.rejects)
    since = ws.frames["credit"]["customer_since"].dt.strftime("%Y-%m-%d").tolist()
    assert since == ["2011-01-21", "2012-02-22", "2013-03-23"]


def test_a_column_of_unreadable_dates_is_said_once_with_the_fix(make_workspace: MakeWs) -> None:
    """Each blanked date is in the rejects; that the whole column is in a layout the
    config lacks (day first) is said once, naming the setting to add it to."""
    rows = [credit_row(f"{i:010d}", since=f"{i % 28 + 1:02d}/03/2015") for i in range(1, 13)]
    rows.append(credit_row("0000000099"))  # one readable date
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}))
    assert set(ws.rejects["rule"]) == {"invalid_date"} and len(ws.rejects) == 12
    said = [w for w in ws.report.sources["credit"].warnings if "customer_since" in w]
    assert said == [
        "column customer_since: 12 of 13 rows are not dates in any of the date_formats "
        "(e.g. '02/03/2015'); they read as '%d/%m/%Y': add it to defaults.date_formats in "
        "the sources config"
    ]
    # the layout named is one that reads them all: 13/03 is no month
    rows = [credit_row(f"{i:010d}", since=f"2015-03-{i:02d}T08:30:00") for i in range(1, 13)]
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}))
    said = [w for w in ws.report.sources["credit"].warnings if "customer_since" in w]
    assert len(said) == 1 and "they read as '%Y-%m-%dT%H:%M:%S'" in said[0]
    # no day over 12: either order reads them, and neither is named as the layout
    rows = [credit_row(f"{i:010d}", since=f"{i % 12 + 1:02d}/03/2015") for i in range(1, 13)]
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}))
    said = [w for w in ws.report.sources["credit"].warnings if "customer_since" in w]
    assert len(said) == 1
    assert "they read as '%d/%m/%Y' or as '%m/%d/%Y' (no day over 12 tells which)" in said[0]
    # a few bad dates among good ones are typos, each in the rejects, not a layout
    rows = [credit_row(f"{i:010d}") for i in range(1, 30)] + [credit_row("0000000099", since="x")]
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}))
    assert not any("customer_since" in w for w in ws.report.sources["credit"].warnings)


@pytest.mark.parametrize("written", ["0,614", "0,614.5", "-0,500", "¥0,614", "(0,614)", "00,123"])
def test_a_decimal_comma_after_a_zero_is_no_thousands_separator(
    make_workspace: MakeWs, written: str
) -> None:
    """0,614 is how a European export writes 0.614: it was read as 614 (a thousands
    separator after a lone zero), a thousand times the amount, silently. No number
    written with thousands separators starts with 0: it is malformed."""
    rows = [credit_row("C01", overdue=f'"{written}"'), credit_row("C02", overdue='"1,614"')]
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}))
    assert _rules(ws) == {2: {"invalid_number"}}
    assert ws.frames["credit"].set_index("customer_id").loc["C02", "overdue_amount"] == 1614.0


def test_a_number_columns_unit_is_read_off_its_values(
    make_workspace: MakeWs, tmp_path: Path
) -> None:
    """``unit: 天`` reads 30天 and 30 天 as 30 (a Chinese sheet's days past due); a value
    in another unit (1个月) is not a number, listed with the value as written, and a plain
    number is read as it is."""
    from tests._support import PACKAGED_SOURCES

    config = tmp_path / "sources.yaml"
    config.write_text(
        PACKAGED_SOURCES.read_text(encoding="utf-8").replace(
            "max_days_past_due_12m: {type: int,", "max_days_past_due_12m: {type: int, unit: 天,"
        ),
        encoding="utf-8",
    )
    written = {"C01": "30天", "C02": "45 天", "C03": "60", "C04": "1个月", "C05": "400天"}
    rows = [credit_row(c).replace(",0,3", f",{v},3") for c, v in written.items()]
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}), config=config)
    days = ws.frames["credit"].set_index("customer_id")["max_days_past_due_12m"]
    assert days.loc[["C01", "C02", "C03"]].tolist() == [30, 45, 60]
    assert days.loc[["C04", "C05"]].isna().all()  # (on_invalid: blank)
    assert _rules(ws) == {5: {"invalid_number"}, 6: {"out_of_range"}}
    listed = ws.rejects.set_index("line")["value"]
    assert (listed.loc[5], listed.loc[6]) == ("1个月", "400天")


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("{type: int, unit: 万}", "'万' is not allowed"),
        ("{type: string, unit: 天}", "applies to number columns, not string"),
    ],
)
def test_a_unit_is_one_of_the_count_units_on_a_number_column(
    tmp_path: Path, rules: str, message: str
) -> None:
    from custrisk.config.sources import load_sources_config
    from custrisk.errors import ConfigError
    from tests._support import PACKAGED_SOURCES

    config = tmp_path / "sources.yaml"
    config.write_text(
        PACKAGED_SOURCES.read_text(encoding="utf-8").replace(
            "max_days_past_due_12m: {type: int, min: 0, max: 366, on_invalid: blank}",
            f"max_days_past_due_12m: {rules}",
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_sources_config(config)


def test_a_sources_decimal_comma_reads_its_number_columns(
    make_workspace: MakeWs, tmp_path: Path
) -> None:
    """``decimal: ','`` on a source: 1.234,56 and 0,5 are 1234.56 and 0.5 in its number
    columns (text columns keep their commas); any other mark is refused when the config
    loads."""
    from custrisk.errors import ConfigError
    from tests._support import PACKAGED_SOURCES

    packaged = PACKAGED_SOURCES.read_text(encoding="utf-8")
    config = tmp_path / "sources.yaml"
    config.write_text(
        packaged.replace("  credit:\n", "  credit:\n    decimal: ','\n", 1), encoding="utf-8"
    )
    rows = [
        credit_row("C01", limit='"100.000,50"', overdue='"0,5"'),
        credit_row("C02", limit="2000", overdue='"1,234,567"'),
    ]
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}), config=config)
    credit = ws.frames["credit"].set_index("customer_id")
    assert (
        credit.loc["C01", "credit_limit"] == 100000.5 and credit.loc["C01", "overdue_amount"] == 0.5
    )
    assert credit.loc["C02", "credit_limit"] == 2000 and pd.isna(
        credit.loc["C02", "overdue_amount"]
    )
    assert _rules(ws) == {3: {"invalid_number"}}
    config.write_text(
        packaged.replace("  credit:\n", "  credit:\n    decimal: ';'\n", 1), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="decimal") as refused:
        load_sources_config(config)
    # the values quoted: a bare "., ," reads as the sentence's punctuation
    assert "allowed values: '.', ','" in str(refused.value)


def test_a_column_of_decimal_commas_is_said_once_with_the_source_key(
    make_workspace: MakeWs,
) -> None:
    """A European export's amounts (16000,00) under a config without ``decimal``: each is
    in the rejects, and the warning names the key that reads them."""
    rows = [credit_row(f"{i:010d}", overdue=f'"{i},50"') for i in range(1, 13)]
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}))
    said = [w for w in ws.report.sources["credit"].warnings if "overdue_amount" in w]
    assert len(said) == 1
    assert "they are numbers with a decimal comma (1.234,56): add decimal: ','" in said[0]
