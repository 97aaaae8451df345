"""Loading, validating and cleaning exports (library level)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from custrisk.config import default_config_path, load_sources_config
from custrisk.data import load_labels, load_workspace
from custrisk.data.rejects import rejects_to_write
from custrisk.errors import DataError
from tests._support import (
    CREDIT_HEADER,
    PACKAGED_SOURCES,
    TXN_HEADER,
    credit_row,
    with_zero_pad,
)

MakeWs = Callable[[dict[str, str | bytes]], Path]


def _credit(*rows: str) -> str:
    return "\n".join([CREDIT_HEADER, *rows]) + "\n"


def _txns(*rows: str) -> str:
    return "\n".join([TXN_HEADER, *rows]) + "\n"


def _rules(ws, source: str) -> dict[int, set[str]]:
    rejects = ws.rejects[ws.rejects["source"] == source]
    out: dict[int, set[str]] = {}
    for line, rule in zip(rejects["line"], rejects["rule"], strict=True):
        out.setdefault(int(line), set()).add(rule)
    return out


def test_rows_in_equal_kept_plus_rejected(make_workspace: MakeWs) -> None:
    folder = make_workspace(
        {
            "credit.csv": _credit(
                credit_row("0000000001"),
                credit_row("0000000002", limit="9x"),
                credit_row("0000000001"),
                "",
                credit_row("0000000003") + ",x",
                credit_row("0000000004", limit="-1"),
            ),
            "transactions.csv": _txns(
                "T1,0000000001,2026-01-05,100.50,order,online,2026-02-04,2026-02-10",
                "T2,0000000099,2026-01-05,10,order,online,2026-02-04,",
                "T3,0000000001,2026-02-30,10,order,online,,",
                "T4,0000000001,2026-01-05,10,order,online,2026-02-04,2026-01-01",
            ),
        }
    )
    ws = load_workspace(folder)
    for report in ws.report.sources.values():
        assert report.rows_in == report.rows_kept + report.rows_rejected
    assert _rules(ws, "credit") == {
        3: {"invalid_number"},
        4: {"duplicate_row"},
        6: {"field_count"},
        7: {"out_of_range"},
    }
    assert _rules(ws, "transactions") == {
        3: {"orphan"},
        4: {"invalid_date"},
        5: {"check:paid_not_before_order"},
    }
    assert list(ws.frames["credit"]["customer_id"]) == ["0000000001"]
    assert list(ws.frames["transactions"]["txn_id"]) == ["T1"]
    assert ws.report.status == "rejected"


def test_ids_keep_leading_zeros_and_whitespace_is_repaired(make_workspace: MakeWs) -> None:
    folder = make_workspace(
        {
            "credit.csv": _credit(credit_row("  0000000001\t"), credit_row("０００００００００２")),
            "transactions.csv": _txns("T1, 0000000001 ,2026-01-05,1,order,online,,"),
        }
    )
    ws = load_workspace(folder)
    assert list(ws.frames["credit"]["customer_id"]) == ["0000000001", "0000000002"]
    assert list(ws.frames["transactions"]["customer_id"]) == ["0000000001"]
    assert ws.report.status == "repaired"
    assert ws.report.sources["credit"].rules == {
        "normalised": {"repaired": 1},
        "whitespace": {"repaired": 1},
    }
    repaired = ws.rejects[ws.rejects["action"] == "repaired"]
    assert sorted(repaired["line"]) == [2, 2, 3]


def test_typed_columns(make_workspace: MakeWs) -> None:
    folder = make_workspace(
        {
            "credit.csv": _credit(
                credit_row("0000000001", bureau="", balance='"1,234,567.5"'),
                credit_row("0000000002", since="2019/07/31", bureau="NULL"),
            )
        }
    )
    credit = load_workspace(folder).frames["credit"]
    assert str(credit["bureau_score"].dtype) == "Int64"
    assert credit["bureau_score"].isna().all()
    assert credit["outstanding_balance"].tolist() == [1234567.5, 20000.0]
    assert credit["customer_since"].tolist() == [
        pd.Timestamp("2015-03-01"),
        pd.Timestamp("2019-07-31"),
    ]
    assert credit["credit_limit"].dtype == np.float64


def test_blank_lines_do_not_shift_line_numbers(make_workspace: MakeWs) -> None:
    folder = make_workspace(
        {
            "credit.csv": _credit(
                credit_row("0000000001"),
                "",
                "",
                credit_row("0000000002", phone="12345"),
                "\r",
                credit_row("0000000003") + ",extra",
                credit_row("0000000004", bureau="x"),
            )
        }
    )
    ws = load_workspace(folder)
    assert _rules(ws, "credit") == {5: {"cn_phone"}, 7: {"field_count"}, 8: {"invalid_number"}}
    assert ws.report.sources["credit"].rows_in == 4


@pytest.mark.parametrize(
    "policy,kept,rejected_lines",
    [
        ("keep_first", ["张伟"], [3]),
        ("keep_last", ["李娜"], [2]),
        ("reject_all", [], [2, 3]),
    ],
)
def test_duplicate_key_policies(
    make_workspace: MakeWs, tmp_path: Path, policy: str, kept: list[str], rejected_lines: list[int]
) -> None:
    default = load_sources_config().path
    text = (
        Path(default)
        .read_text(encoding="utf-8")
        .replace("on_duplicate_key: keep_first", f"on_duplicate_key: {policy}", 1)
    )
    config = tmp_path / "sources.yaml"
    config.write_text(text, encoding="utf-8")
    folder = make_workspace(
        {
            "credit.csv": _credit(
                credit_row("0000000001", name="张伟"), credit_row("0000000001", name="李娜")
            )
        }
    )
    ws = load_workspace(folder, config=config)
    assert list(ws.frames["credit"]["name"]) == kept
    assert sorted(ws.rejects["line"]) == rejected_lines
    assert set(ws.rejects["rule"]) == {"duplicate_key"}


def test_chinese_headers_work_by_editing_yaml(make_workspace: MakeWs, tmp_path: Path) -> None:
    config = tmp_path / "sources_zh.yaml"
    config.write_text(
        "sources:\n"
        "  credit:\n"
        "    file: 客户信用.csv\n"
        "    key: customer_id\n"
        "    rename: {客户编号: customer_id, 客户名称: name, 授信额度: credit_limit}\n"
        "    columns:\n"
        "      customer_id: {type: id, required: true}\n"
        "      name: {type: string, pii: true}\n"
        "      credit_limit: {type: float, required: true, min: 0}\n"
        "  transactions:\n"
        "    file: 交易*.csv\n"
        "    key: txn_id\n"
        "    customer_key: customer_id\n"
        "    rename: {交易编号: txn_id, 客户编号: customer_id, 交易金额: amount}\n"
        "    columns:\n"
        "      txn_id: {type: id, required: true}\n"
        "      customer_id: {type: id, required: true}\n"
        "      amount: {type: float, required: true, min: 0}\n",
        encoding="utf-8",
    )
    folder = make_workspace(
        {
            "客户信用.csv": "客户编号,客户名称,授信额度\n0012,张伟,5000\n0013,李娜,8000\n".encode(
                "gbk"
            ),
            "交易_2026-09.csv": "交易编号,客户编号,交易金额\nT1,0012,12.5\n",
            "交易_2026-10.csv": "交易编号,客户编号,交易金额\nT2,0013,-3\nT3,0013,7\n",
        }
    )
    ws = load_workspace(folder, config=config)
    assert list(ws.frames["credit"]["customer_id"]) == ["0012", "0013"]
    assert ws.frames["transactions"]["amount"].tolist() == [12.5, 7.0]
    assert ws.report.sources["credit"].encodings == ("gb18030",)
    bad = ws.rejects.iloc[0]
    assert (bad["file"], bad["line"], bad["column"], bad["rule"]) == (
        "交易_2026-10.csv",
        2,
        "amount",
        "out_of_range",
    )


def test_missing_required_source_is_unusable(make_workspace: MakeWs, tmp_path: Path) -> None:
    folder = make_workspace({"transactions.csv": _txns()})
    with pytest.raises(
        DataError,
        match=r"no file matches 'credit\.csv' for the required source "
        r"'credit'; add the export",
    ) as raised:
        load_workspace(folder)
    # the packaged config is part of the installed package: never "change it there"
    packaged = str(default_config_path("sources.yaml"))
    assert packaged not in str(raised.value) and "change sources." not in str(raised.value)
    assert f"'custrisk init {folder} --out DIR' proposes a sources config" in str(raised.value)
    assert "give it with --sources" in str(raised.value)
    own = tmp_path / "mine.yaml"
    own.write_bytes(Path(packaged).read_bytes())
    with pytest.raises(DataError, match=r"or change sources\.credit\.file in .*mine\.yaml"):
        load_workspace(folder, config=own)


def test_absent_optional_sources_are_reported(make_workspace: MakeWs) -> None:
    ws = load_workspace(make_workspace({"credit.csv": _credit(credit_row("0000000001"))}))
    assert ws.report.absent == ("transactions", "behaviour")
    assert set(ws.frames) == {"credit"}


def test_parquet_input_with_typed_columns(make_workspace: MakeWs) -> None:
    folder = make_workspace({})
    csv_folder = make_workspace(
        {"credit.csv": _credit(credit_row("0000000001"), credit_row("0000000002"))}
    )
    frame = load_workspace(csv_folder).frames["credit"]
    config_text = (
        Path(load_sources_config().path)
        .read_text(encoding="utf-8")
        .replace("file: credit.csv", "file: credit.parquet")
    )
    config = folder / "sources.yaml"
    config.write_text(config_text, encoding="utf-8")
    frame.to_parquet(folder / "credit.parquet")
    again = load_workspace(folder, config=config).frames["credit"]
    pd.testing.assert_frame_equal(again, frame)


def test_cleaning_is_idempotent(make_workspace: MakeWs) -> None:
    folder = make_workspace(
        {"credit.csv": _credit(credit_row(" 0000000001 "), credit_row("0000000002", bureau=""))}
    )
    first = load_workspace(folder).frames["credit"]
    again_folder = make_workspace({"credit.csv": first.to_csv(index=False, date_format="%Y-%m-%d")})
    second = load_workspace(again_folder)
    assert second.report.status == "clean"
    pd.testing.assert_frame_equal(second.frames["credit"], first)


def test_on_invalid_null_repairs_instead_of_dropping(
    make_workspace: MakeWs, tmp_path: Path
) -> None:
    text = (
        Path(load_sources_config().path)
        .read_text(encoding="utf-8")
        .replace(
            "bureau_score: {type: int, min: 300, max: 900}",
            "bureau_score: {type: int, min: 300, max: 900, on_invalid: blank}",
        )
    )
    config = tmp_path / "s.yaml"
    config.write_text(text, encoding="utf-8")
    folder = make_workspace(
        {
            "credit.csv": _credit(
                credit_row("0000000001", bureau="999"), credit_row("0000000002", bureau="abc")
            )
        }
    )
    ws = load_workspace(folder, config=config)
    assert ws.frames["credit"]["bureau_score"].isna().all()
    assert ws.report.status == "repaired"
    assert set(zip(ws.rejects["rule"], ws.rejects["action"], strict=True)) == {
        ("out_of_range", "repaired"),
        ("invalid_number", "repaired"),
    }


def test_a_bad_optional_value_is_blanked_and_its_customer_kept(make_workspace: MakeWs) -> None:
    folder = make_workspace(
        {
            "credit.csv": _credit(
                credit_row("0000000001", phone="+86 1381234567"),  # a digit short
                credit_row("0000000002").replace(",制造业,", ',"=HYPERLINK(""x"")",'),
                credit_row("0000000003", since="1850-01-01"),
                credit_row("0000000004").replace(",500000.00,", ",约12万,"),
            ),
            "transactions.csv": _txns(
                "T1,0000000001,2026-01-05,100.50,order,online,2026-02-04,2026-02-10",
                "T2,0000000002,2026-01-05,10,order,@cmd,2026-02-04,",
                "T3,0000000003,2026-01-05,10,order,online,2026-13-04,",
                "T4,0000000004,2026-01-05,10,order,online,,",
            ),
        }
    )
    ws = load_workspace(folder)
    assert ws.report.status == "repaired"
    credit = ws.frames["credit"].set_index("customer_id")
    assert len(credit) == 4
    assert pd.isna(credit.loc["0000000001", "phone"])
    assert pd.isna(credit.loc["0000000002", "industry"])
    assert pd.isna(credit.loc["0000000003", "customer_since"])
    assert pd.isna(credit.loc["0000000004", "annual_income"])
    txns = ws.frames["transactions"]
    assert txns["amount"].tolist() == [100.5, 10.0, 10.0, 10.0]
    assert txns["channel"].isna().tolist() == [False, True, False, False]
    assert txns["due_date"].isna().tolist() == [False, False, True, True]
    assert set(ws.rejects["action"]) == {"repaired"}
    # each value once, with what happened to it (the phone: not also "normalised")
    assert ws.rejects[["source", "line", "rule"]].values.tolist() == [
        ["credit", 2, "cn_phone"],
        ["credit", 3, "formula"],
        ["credit", 4, "out_of_range"],
        ["credit", 5, "invalid_number"],
        ["transactions", 3, "formula"],
        ["transactions", 4, "invalid_date"],
    ]


def _income(customer_id: str, income: str, **fields: str) -> str:
    return credit_row(customer_id, **fields).replace(",500000.00,", f",{income},")


@pytest.mark.parametrize("text_path", [False, True])
def test_a_phone_or_id_number_in_a_number_cell_is_blanked_as_personal_data(
    make_workspace: MakeWs, text_path: bool
) -> None:
    """A mobile typed into an income and an ID number into a balance were read as
    numbers (1.671235e+10, 1.101052e+17) and reached the details, reasons and reports:
    blanked now, as ``personal_data`` repairs shown masked. ``text_path``: the column
    holds a value Arrow cannot type (1.2万), so the cleaner reads its text."""
    rows = [
        _income("0000000001", "16712345678"),
        credit_row("0000000002", balance="110105198001011234"),
        credit_row("0000000003", balance="11010519491231002X"),
        _income("0000000004", "1.2万" if text_path else "120000"),
        credit_row("0000000005", balance="1.101051980010112e+17"),  # (a workbook's cell)
    ]
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}))
    credit = ws.frames["credit"].set_index("customer_id")
    assert np.isnan(credit.loc["0000000001", "annual_income"])
    assert np.isnan(credit.loc["0000000002", "outstanding_balance"])
    assert np.isnan(credit.loc["0000000003", "outstanding_balance"])
    assert np.isnan(credit.loc["0000000005", "outstanding_balance"])
    assert credit.loc["0000000004", "annual_income"] == 12000 if text_path else 120000
    assert len(credit) == 5  # (repaired, not rejected)
    assert ws.report.sources["credit"].rules["personal_data"] == {"repaired": 4}
    shown = rejects_to_write(ws.rejects, load_sources_config(PACKAGED_SOURCES))
    text = shown.to_csv(index=False)
    for digits in ("16712345678", "110105198001011234", "11010519491231002X", "1.10105"):
        assert digits not in text
    assert "167****5678" in text and "not read as a number" in text


def test_an_amount_of_billions_is_not_taken_for_a_phone(make_workspace: MakeWs) -> None:
    """Corporate amounts of 13 to 20 billion stay amounts: written with decimals or
    separators (read as text), or in a column of other amounts of 10 million or more."""
    written = [
        _income("0000000001", "16712345678.00"),
        _income("0000000002", '"16,712,345,678"'),
        _income("0000000003", "1.2万"),  # (the column read as text)
    ]
    ws = load_workspace(make_workspace({"credit.csv": _credit(*written)}))
    incomes = ws.frames["credit"]["annual_income"].tolist()
    assert incomes == [16712345678.0, 16712345678.0, 12000.0]
    large = [_income("0000000001", "16712345678"), _income("0000000002", "25000000")]
    ws = load_workspace(make_workspace({"credit.csv": _credit(*large)}))
    assert ws.frames["credit"]["annual_income"].tolist() == [16712345678.0, 25000000.0]
    assert "personal_data" not in set(ws.rejects["rule"])


@pytest.mark.parametrize("text_path", [False, True])
def test_a_phone_typed_with_a_dash_before_it_is_personal_data_too(
    make_workspace: MakeWs, text_path: bool
) -> None:
    """One '-16712345678' counted as an amount of 10 million or more, so every phone of
    the column stayed an income; itself an out_of_range shown '-1.6712345678e+10'."""
    rows = [_income(f"000000000{i}", f"1671234567{i}") for i in range(1, 4)]
    rows += [_income("0000000004", "-16712345678"), _income("0000000005", "120000")]
    if text_path:
        rows.append(_income("0000000006", "1.2万"))
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}))
    incomes = ws.frames["credit"]["annual_income"]
    assert incomes.isna().tolist()[:5] == [True, True, True, True, False]
    assert ws.report.sources["credit"].rules["personal_data"] == {"repaired": 4}
    shown = rejects_to_write(ws.rejects, load_sources_config(PACKAGED_SOURCES))
    assert "-167****5678" in shown.to_csv(index=False)


@pytest.mark.parametrize("text_path", [False, True])
def test_a_mobile_typed_with_its_country_code_is_personal_data_too(
    make_workspace: MakeWs, text_path: bool
) -> None:
    """+8613812345678 and 008613812345678 were read as an income of 8.6e12 (and, being
    10 million or more, kept every bare mobile of the column an income too); 86 138 1234
    5678 was an invalid_number. Written with decimals (read as text), still an amount."""
    written = ["+8613812345678", "008613812345678", "8613812345678", "16712345678"]
    kept = ["120000"]
    if text_path:
        written += ['"86 138 1234 5678"', "+86-138-1234-5678"]
        kept += ["1.2万"]
    rows = [_income(f"{i:010d}", v) for i, v in enumerate(written + kept, 1)]
    ws = load_workspace(make_workspace({"credit.csv": _credit(*rows)}))
    incomes = ws.frames["credit"]["annual_income"].tolist()
    phones = len(written)
    assert np.isnan(incomes[:phones]).all()
    assert incomes[phones:] == [120000.0] + ([12000.0] if text_path else [])
    assert ws.report.sources["credit"].rules["personal_data"] == {"repaired": phones}
    shown = rejects_to_write(ws.rejects, load_sources_config(PACKAGED_SOURCES))
    text = shown.to_csv(index=False)
    assert "3812345678" not in text and "1234 5678" not in text and "1234-5678" not in text
    # an amount written as one, or in a column of amounts of 10 million or more (as a
    # bare mobile is), stays an amount
    for other in ("1.2万", "25000000"):
        large = [_income("0000000001", "8613812345678.00"), _income("0000000002", other)]
        ws = load_workspace(make_workspace({"credit.csv": _credit(*large)}))
        assert ws.frames["credit"]["annual_income"].tolist()[0] == 8613812345678.0
        assert "personal_data" not in set(ws.rejects["rule"])


@pytest.mark.parametrize("kind", ["decimal", "int64", "float64"])
def test_a_mobile_with_its_country_code_in_a_parquet_number_column_is_blanked(
    make_workspace: MakeWs, kind: str
) -> None:
    """A Parquet number column's 8613812345678 (a CRM's phone with its 86) was an income."""
    from decimal import Decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [_income(f"000000000{i}", "1") for i in (1, 2)]
    folder = make_workspace({"credit.csv": _credit(*rows)})
    table = pa.Table.from_pandas(pd.read_csv(folder / "credit.csv", dtype=str))
    incomes = {
        "decimal": pa.array([Decimal("8613812345678"), Decimal("120000")], pa.decimal128(20, 2)),
        "int64": pa.array([8613812345678, 120000], pa.int64()),
        "float64": pa.array([8613812345678.0, 120000.0], pa.float64()),
    }[kind]
    at = table.schema.get_field_index("annual_income")
    table = table.set_column(at, "annual_income", incomes)
    (folder / "credit.csv").unlink()
    pq.write_table(table, folder / "credit.parquet")
    ws = load_workspace(folder)
    assert ws.frames["credit"]["annual_income"].isna().tolist() == [True, False]
    assert ws.report.sources["credit"].rules["personal_data"] == {"repaired": 1}


def test_an_infinite_number_in_a_typed_float_column_warns_nothing() -> None:
    """A Parquet float column's inf or -inf, of 13 billion or more in size, reached
    np.mod, whose RuntimeWarning was printed to the user (an error under pytest)."""
    import pyarrow as pa

    from custrisk.data.clean_columns import personal_numbers

    values = pd.Series(pa.array([1.0, float("inf"), -float("inf")]).to_numpy())
    assert not personal_numbers(values, np.ones(3, dtype=bool)).any()


def test_a_phone_or_id_number_in_a_parquet_decimal_column_is_blanked(
    make_workspace: MakeWs,
) -> None:
    """A Parquet decimal(20, 2) column came as text '16712345678.00', read as an amount
    written with decimals: the phone and an ID number (1.1e17) reached the income."""
    from decimal import Decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [_income(f"000000000{i}", "1") for i in (1, 2, 3)]
    folder = make_workspace({"credit.csv": _credit(*rows)})
    table = pa.Table.from_pandas(pd.read_csv(folder / "credit.csv", dtype=str))
    incomes = [Decimal(v) for v in ("16712345678", "120000.50", "110105198001011234")]
    at = table.schema.get_field_index("annual_income")
    table = table.set_column(at, "annual_income", pa.array(incomes, pa.decimal128(20, 2)))
    (folder / "credit.csv").unlink()
    pq.write_table(table, folder / "credit.parquet")
    ws = load_workspace(folder)
    assert ws.frames["credit"]["annual_income"].tolist()[1] == 120000.5
    assert ws.frames["credit"]["annual_income"].isna().tolist() == [True, False, True]
    assert ws.report.sources["credit"].rules["personal_data"] == {"repaired": 2}


def test_personal_data_outside_pii_columns_is_masked_in_data_and_rejects(
    make_workspace: MakeWs,
) -> None:
    """A phone typed into a region, an e-mail into an industry, a phone into an amount
    that does not parse: the region and industry reached the details, the model's bins,
    drift.json and the portfolio PDF in clear, and every rejects file showed the
    unparsed amount in clear (only columns flagged pii were masked)."""
    folder = make_workspace(
        {
            "credit.csv": _credit(
                credit_row("0000000001").replace(",华东,", ",请致电13912345678,"),
                credit_row("0000000002").replace(",制造业,", ",zhang.wei@example.com,"),
                credit_row("0000000003").replace(",华东,", ",１３９８７６５４３２１,"),
                credit_row("0000000004", limit="110105194912310021元"),
                credit_row("0000000005", bureau="李秀英 13711112222"),
            ),
            "transactions.csv": _txns(
                "T1,0000000001,2026-01-05,100.50,order,online,2026-02-04,2026-02-10",
            ),
        }
    )
    ws = load_workspace(folder)
    credit = ws.frames["credit"].set_index("customer_id")
    assert credit.loc["0000000001", "region"] == "请致电139****5678"
    assert credit.loc["0000000002", "industry"] == "z***@example.com"
    assert credit.loc["0000000003", "region"] == "１３９****４３２１"
    assert credit.loc["0000000001", "phone"] == "13812345678"  # a pii column: as read
    config = load_sources_config(PACKAGED_SOURCES)
    shown = rejects_to_write(ws.rejects, config).to_csv(index=False)
    for value in ("13912345678", "zhang.wei", "１３９８７６５４３２１", "110105194912310021"):
        assert value not in shown
    assert "13711112222" not in shown and "137****2222" in shown
    assert shown.count("personal_data") == 3
    assert "flag the column pii: true" in shown
    # two ids that collide once normalised: the message names both, masked
    folder = make_workspace(
        {
            "credit.csv": _credit(credit_row("138 0013 8000"), credit_row("13800138000")),
            "transactions.csv": _txns("T1,13800138000,2026-01-05,1,order,online,,"),
        }
    )
    shown = rejects_to_write(load_workspace(folder).rejects, config).to_csv(index=False)
    assert "id_collision" in shown and "'138******8000' (line 2)" in shown
    assert "13800138000" not in shown and "0013" not in shown


def test_rows_of_a_customer_whose_credit_row_was_rejected_name_that_row(
    make_workspace: MakeWs,
) -> None:
    folder = make_workspace(
        {
            "credit.csv": _credit(
                credit_row("0000000001"),
                credit_row("0000000002", limit=""),
                credit_row("0000000003") + ",surplus",
                credit_row("0000000004", limit="-5", overdue="x"),
                credit_row("0000000005", limit="abc"),
                credit_row("0000000005"),  # the same customer kept on a later line
            ),
            "transactions.csv": _txns(
                "T1,0000000001,2026-01-05,10,order,online,,",
                "T2,0000000002,2026-01-05,10,order,online,,",
                "T3,0000000003,2026-01-05,10,order,online,,",
                "T4,0000000004,2026-01-05,10,order,online,,",
                "T5,0000000005,2026-01-05,10,order,online,,",
                "T6,0000000099,2026-01-05,10,order,online,,",
            ),
        }
    )
    ws = load_workspace(folder)
    txns = ws.rejects[ws.rejects["source"] == "transactions"]
    assert txns[["line", "rule", "value", "message"]].values.tolist() == [
        [
            3,
            "customer_rejected",
            "0000000002",
            "the customer's credit row was rejected (credit.csv line 3: missing_required)",
        ],
        [
            4,
            "customer_rejected",
            "0000000003",
            "the customer's credit row was rejected (credit.csv line 4: field_count)",
        ],
        [
            5,
            "customer_rejected",
            "0000000004",
            "the customer's credit row was rejected (credit.csv line 5: out_of_range)",
        ],
        [7, "orphan", "0000000099", "customer not found in the credit table"],
    ]
    assert list(ws.frames["transactions"]["txn_id"]) == ["T1", "T5"]
    assert ws.report.customers_rejected == 3
    assert ws.report.to_dict()["customers_rejected"] == 3
    assert ws.report.customers_rejected_text() == (
        "3 customers of credit.csv are not scored: their rows were rejected"
    )


def test_a_bad_line_of_a_credit_export_with_excels_delimiter_line_names_its_customer(
    make_workspace: MakeWs,
) -> None:
    """A credit CSV written with sep=; above its header: a line with a field too many is
    split by the ';' the file declares, so its customer's transactions are
    customer_rejected naming that line, not orphans; its text is masked in rejects."""
    credit = "sep=;\n" + _credit(
        credit_row("0000000001"), credit_row("0000000003") + ",surplus"
    ).replace(",", ";")
    folder = make_workspace(
        {
            "credit.csv": credit,
            "transactions.csv": _txns(
                "T1,0000000001,2026-01-05,10,order,online,,",
                "T3,0000000003,2026-01-05,10,order,online,,",
            ),
        }
    )
    ws = load_workspace(folder)
    assert _rules(ws, "credit") == {4: {"field_count"}}
    txns = ws.rejects[ws.rejects["source"] == "transactions"]
    assert txns[["line", "rule", "message"]].values.tolist() == [
        [
            3,
            "customer_rejected",
            "the customer's credit row was rejected (credit.csv line 4: field_count)",
        ]
    ]
    shown = rejects_to_write(ws.rejects, load_sources_config(None))
    line = shown.loc[shown["rule"] == "field_count", "value"].iloc[0]
    assert "0000000003" not in line and "13812345678" not in line


def test_labels(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("customer_id,bad\n0001,0\n0002,1\n0003,2\n0004,\n", encoding="utf-8")
    labels, rejects = load_labels(path)
    assert labels["customer_id"].tolist() == ["0001", "0002"]
    assert labels["bad"].tolist() == [0, 1]
    assert sorted(rejects["rule"]) == ["missing_required", "out_of_range"]


def test_labels_under_headers_the_dictionary_knows_are_read_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An outcomes table of the analyst's own (客户ID, 是否违约: 是/否; a flat table
    with its outcome column) is read for train --labels and backtest --outcomes, saying
    which header was read as which column; a header the dictionary does not know is
    still the missing-column error naming the rename to add."""
    path = tmp_path / "outcomes.csv"
    path.write_text("客户ID,年龄,是否违约\n0001,30,否\n0002,41,是\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="custrisk"):
        labels, rejects = load_labels(path)
    assert labels["customer_id"].tolist() == ["0001", "0002"] and rejects.empty
    assert labels["bad"].tolist() == [0, 1]
    assert "outcomes.csv: read 客户ID as customer_id, 是否违约 as bad" in caplog.text
    path.write_text("客户ID,结果\n0001,否\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"missing required column\(s\): bad .*rename"):
        load_labels(path)


def test_inputs_are_not_mutated_and_outputs_are_atomic(
    make_workspace: MakeWs, tmp_path: Path
) -> None:
    folder = make_workspace({"credit.csv": _credit(credit_row("0000000001"))})
    before = (folder / "credit.csv").read_bytes()
    ws = load_workspace(folder)
    ws.write_validation(tmp_path / "out")
    assert (folder / "credit.csv").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "rejects.csv",
        "validation_report.json",
    ]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2024-02-29", "2024-02-29"),
        ("2025-02-29", None),
        ("2025-04-31", None),
        ("2025-13-01", None),
        ("2025-00-10", None),
        ("2025-01-00", None),
        ("2025-1x-01", None),
        ("2025-1-5", "2025-01-05"),
        ("2025/01/02", "2025-01-02"),
        ("20250105", "2025-01-05"),
        ("20250230", None),
    ],
)
def test_dates_are_checked_against_the_calendar(text: str, expected: str | None) -> None:
    import pyarrow as pa

    from custrisk.data.parse import _parse_dates

    parsed = _parse_dates(pa.array([text]), np.array([True]), ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"])
    value = parsed.iloc[0]
    assert (None if pd.isna(value) else value.strftime("%Y-%m-%d")) == expected


def test_number_rules(make_workspace: MakeWs) -> None:
    folder = make_workspace(
        {
            "credit.csv": _credit(
                credit_row("0000000001", bureau="700.5"),
                credit_row("0000000002", bureau="7e2"),
                credit_row("0000000003", limit="inf"),
                credit_row("0000000004", limit='"1,2"'),
                credit_row("0000000005", limit="1.5e5"),
            )
        }
    )
    ws = load_workspace(folder)
    assert _rules(ws, "credit") == {
        2: {"invalid_int"},
        4: {"invalid_number"},
        5: {"invalid_number"},
    }
    # the optional bureau score is blanked, the required limit rejects its row
    assert ws.rejects["action"].tolist() == ["repaired", "dropped", "dropped"]
    bureau = ws.frames["credit"]["bureau_score"]
    assert bureau.isna().tolist() == [True, False, False]
    assert bureau.dropna().tolist() == [700, 720]
    assert ws.frames["credit"]["credit_limit"].tolist() == [100000.0, 100000.0, 150000.0]


def test_fast_typed_path_gives_the_same_result_as_text(
    make_workspace: MakeWs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Columns Arrow parses directly must clean exactly like the same columns as text."""
    import custrisk.data.files as files

    folder = make_workspace(
        {
            "credit.csv": _credit(
                credit_row("0000000001", bureau="", limit="N/A"),
                credit_row("0000000002", since="2024-02-29", bureau="950"),
                credit_row("0000000003", balance="-5"),
                credit_row("0000000004"),
            ),
            "transactions.csv": _txns(
                "T1,0000000001,2026-01-05,100.50,order,online,2026-02-04,2026-02-10",
                "T2,0000000004,2026-01-06,1e3,payment,online,,",
                "T3,0000000004,2026-01-07,12,refund,online,,",
            ),
        }
    )
    fast = load_workspace(folder)
    original = files.read_options

    def text_only(spec, cfg):  # type: ignore[no-untyped-def]
        return {**original(spec, cfg), "typed": {}}

    monkeypatch.setattr(files, "read_options", text_only)
    slow = load_workspace(folder)
    for name in fast.frames:
        pd.testing.assert_frame_equal(fast.frames[name], slow.frames[name])
    where = ["source", "file", "line", "column", "rule", "action"]
    pd.testing.assert_frame_equal(fast.rejects[where], slow.rejects[where])
    # Rejected numbers show as the export wrote them (-5, not the parser's -5.0); only
    # a missing value's null word (N/A) is not kept by the typed read.
    shown = fast.rejects["rule"] != "missing_required"
    assert fast.rejects.loc[shown, "value"].tolist() == slow.rejects.loc[shown, "value"].tolist()
    assert fast.rejects.loc[shown, "value"].tolist() == ["950", "-5", "0000000001"]
    assert fast.report.to_dict() == slow.report.to_dict()


def test_category_values_are_cleaned_once_per_distinct_value(make_workspace: MakeWs) -> None:
    folder = make_workspace(
        {
            "credit.csv": _credit(credit_row("0000000001")),
            "transactions.csv": _txns(
                "T1,0000000001,2026-01-05,1,order,online,,",
                "T2,0000000001,2026-01-05,1, Order ,online,,",
                "T3,0000000001,2026-01-05,1,gift,online,,",
                "T4,0000000001,2026-01-05,1,,online,,",
                "T5,0000000001,2026-01-05,1,payment,=cmd(),,",
                "T6,0000000001,2026-01-05,1,refund,,,",
            ),
        }
    )
    ws = load_workspace(folder)
    txns = ws.frames["transactions"]
    assert txns["txn_id"].tolist() == ["T1", "T2", "T5", "T6"]
    assert txns["txn_type"].tolist() == ["order", "order", "payment", "refund"]
    assert isinstance(txns["txn_type"].dtype, pd.CategoricalDtype)
    assert txns["channel"].isna().tolist() == [False, False, True, True]  # T5's blanked
    assert _rules(ws, "transactions") == {
        3: {"whitespace", "normalised"},
        4: {"not_allowed"},
        5: {"missing_required"},
        6: {"formula"},
    }


def test_duplicate_keys_found_among_many(make_workspace: MakeWs) -> None:
    rows = [f"T{i:06d},0000000001,2026-01-05,1,order,online,," for i in range(3000)]
    rows.insert(2500, "T000007,0000000001,2026-01-06,2,order,online,,")  # same key, other row
    folder = make_workspace(
        {"credit.csv": _credit(credit_row("0000000001")), "transactions.csv": _txns(*rows)}
    )
    ws = load_workspace(folder)
    assert _rules(ws, "transactions") == {2502: {"duplicate_key"}}
    assert len(ws.frames["transactions"]) == 3000


def test_a_source_whose_ids_lost_their_leading_zeros_is_unusable(lost_zeros_200: Path) -> None:
    """transactions.csv with 42 for the credit table's 0000000042: every row would be an
    orphan and every customer's transaction indicators zero; the run stops naming the
    file, the column, the counts, two ids and the zero_pad that fixes it."""
    rows = len((lost_zeros_200 / "transactions.csv").read_text(encoding="utf-8").splitlines()) - 1
    with pytest.raises(DataError) as info:
        load_workspace(lost_zeros_200)
    message = str(info.value)
    assert message.startswith(
        f"{lost_zeros_200 / 'transactions.csv'} column 'customer_id': {rows:,} of {rows:,} rows "
        "(100%; max_orphan_share 0.5) name a customer not in the credit table (e.g. '"
    )
    assert "the ids of this file lost their leading zeros ('" in message
    assert "' in credit.csv), as an Excel number cell does; add zero_pad: 10 to " in message
    assert "sources.transactions.columns.customer_id in a copy of " in message
    assert "\n" not in message


def test_zero_pad_reads_ids_that_lost_their_zeros_as_the_credit_table_has_them(
    lost_zeros_200: Path, export_200: Path
) -> None:
    """With zero_pad: 10 the padded export cleans to exactly the frames and report of
    the export that kept its zeros: padding is what the config asks, not a repair."""
    want = load_workspace(export_200)
    got = load_workspace(lost_zeros_200, config=lost_zeros_200 / "padded.yaml")
    for name, frame in want.frames.items():
        pd.testing.assert_frame_equal(got.frames[name], frame, obj=name)
    assert got.report.status == want.report.status == "clean"


def test_zero_pad_pads_numbers_only_and_two_ids_it_makes_one_collide(
    make_workspace: MakeWs, tmp_path: Path
) -> None:
    folder = make_workspace(
        {
            "credit.csv": _credit(
                credit_row("42"),
                credit_row("0000000042"),
                credit_row("７"),
                credit_row("A8"),
                credit_row("12345678901"),
                credit_row("9.0"),
            )
        }
    )
    config = tmp_path / "sources.yaml"
    config.write_text(with_zero_pad("credit"), encoding="utf-8")
    ws = load_workspace(folder, config=config)
    assert list(ws.frames["credit"]["customer_id"]) == ["0000000007", "A8", "12345678901", "9.0"]
    assert _rules(ws, "credit") == {2: {"id_collision"}, 3: {"id_collision"}, 4: {"normalised"}}
    collision = ws.rejects.loc[ws.rejects["rule"] == "id_collision", "message"].iloc[0]
    assert "'42' (line 2), '0000000042' (line 3) become the same id '0000000042'" in collision
    assert "(case, full-width characters, spaces, leading zeros)" in collision


def _linked(orphans: int, kept: int) -> dict[str, str]:
    """Exports with ``kept`` transactions of a known customer and ``orphans`` of
    customers the credit table lacks (C-prefixed ids: another scheme)."""
    rows = [f"T{i},0000000001,2026-01-05,10,order,online,," for i in range(kept)]
    rows += [f"X{i},C{i:09d},2026-01-05,10,order,online,," for i in range(orphans)]
    return {"credit.csv": _credit(credit_row("0000000001")), "transactions.csv": _txns(*rows)}


@pytest.mark.parametrize(
    ("orphans", "kept", "unusable"),
    [(2, 1, False), (19, 0, False), (20, 0, True), (20, 20, False), (21, 19, True)],
)
def test_orphans_stop_the_run_past_the_share_and_from_twenty_rows(
    make_workspace: MakeWs, orphans: int, kept: int, unusable: bool
) -> None:
    """More than half the rows (max_orphan_share 0.5) are orphans, and at least 20 of
    them: a small file's two orphans of three are rejected rows, not a mismatch."""
    folder = make_workspace(_linked(orphans, kept))
    if unusable:
        with pytest.raises(DataError, match=f"{orphans} of {orphans + kept} rows"):
            load_workspace(folder)
        return
    ws = load_workspace(folder)
    assert ws.report.sources["transactions"].rules == {"orphan": {"dropped": orphans}}
    assert len(ws.frames["transactions"]) == kept


def test_ids_of_another_scheme_are_named_with_the_share_to_change(make_workspace: MakeWs) -> None:
    with pytest.raises(DataError) as info:
        load_workspace(make_workspace(_linked(30, 0)))
    message = str(info.value)
    assert (
        "transactions.csv column 'customer_id': 30 of 30 rows (100%; max_orphan_share 0.5) "
        "name a customer not in the credit table (e.g. 'C000000000', 'C000000001'); credit "
        "ids look like '0000000001': the ids of the two files do not match (another id "
        "scheme, a prefix?); export both with the same customer ids; or set "
        "sources.transactions.max_orphan_share in a copy of "
    ) in message
    assert message.endswith(
        "sources.yaml given with --sources ('custrisk init DATA --out DIR' writes one for your "
        "files) (1 turns the check off)"
    )


def test_orphans_written_like_the_credit_ids_point_at_a_short_credit_table(
    make_workspace: MakeWs,
) -> None:
    """A credit export cut short (two customers of thirty): the orphans' ids are written
    like the credit ids, so the message says the credit table lacks them, not that the
    two files use different ids."""
    credit = [credit_row(f"{i:010d}") for i in (1, 2)]
    rows = [f"T{i},{i:010d},2026-01-05,10,order,online,," for i in range(1, 31)]
    files = {"credit.csv": _credit(*credit), "transactions.csv": _txns(*rows)}
    with pytest.raises(DataError) as info:
        load_workspace(make_workspace(files))
    message = str(info.value)
    assert (
        "28 of 30 rows (93%; max_orphan_share 0.5) name a customer not in the credit table "
        "(e.g. '0000000003', '0000000004'); credit ids look like '0000000001': they are "
        "written like its ids, so credit.csv seems to lack these customers (it kept 2 rows); "
        "export the whole credit table, with every customer the other files name; or set "
        "sources.transactions.max_orphan_share in a copy of "
    ) in message
    assert "do not match" not in message


def _packaged_with(tmp_path: Path, old: str, new: str) -> Path:
    """The packaged sources config with ``old`` replaced by ``new``, as tmp_path/sources.yaml."""
    text = PACKAGED_SOURCES.read_text(encoding="utf-8")
    assert old in text
    config = tmp_path / "sources.yaml"
    config.write_text(text.replace(old, new), encoding="utf-8")
    return config


def test_max_orphan_share_1_turns_the_check_off(make_workspace: MakeWs, tmp_path: Path) -> None:
    config = _packaged_with(
        tmp_path,
        "    customer_key: customer_id\n",
        "    customer_key: customer_id\n    max_orphan_share: 1\n",
    )
    ws = load_workspace(make_workspace(_linked(30, 0)), config=config)
    assert ws.report.sources["transactions"].rules == {"orphan": {"dropped": 30}}


def test_a_credit_table_that_lost_its_zeros_is_the_one_named(
    make_workspace: MakeWs, tmp_path: Path
) -> None:
    """The other way round: credit ids without their zeros (1, 2, ...), transactions with
    them: the message names the credit table and its column as the one to pad."""
    credit = [credit_row(str(i)) for i in range(1, 31)]
    rows = [f"T{i},{i:010d},2026-01-05,10,order,online,," for i in range(1, 31)]
    files = {"credit.csv": _credit(*credit), "transactions.csv": _txns(*rows)}
    with pytest.raises(DataError) as info:
        load_workspace(make_workspace(files))
    assert (
        "(e.g. '0000000001', '0000000002'): the ids of credit.csv lost their leading zeros "
        "('0000000001' here is '1' there), as an Excel number cell does; add zero_pad: 10 "
        "to sources.credit.columns.customer_id in "
    ) in str(info.value)
    config = tmp_path / "sources.yaml"
    config.write_text(with_zero_pad("credit"), encoding="utf-8")
    ws = load_workspace(make_workspace(files), config=config)
    assert len(ws.frames["transactions"]) == 30
    assert ws.frames["credit"]["customer_id"].iloc[0] == "0000000001"


def test_the_orphans_message_shows_no_id_of_a_personal_data_column(
    lost_zeros_200: Path, tmp_path: Path
) -> None:
    config = _packaged_with(
        tmp_path,
        "customer_id: {type: id, required: true}",
        "customer_id: {type: id, required: true, pii: true}",
    )
    with pytest.raises(DataError) as info:
        load_workspace(lost_zeros_200, config=config)
    message = str(info.value)
    assert (
        "name a customer not in the credit table: the ids of this file lost their leading "
        "zeros (they match once padded to 10 digits)"
    ) in message
    assert "e.g." not in message and "'0000000" not in message
