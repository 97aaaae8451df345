"""The one CSV writer: formula escaping that reads back exactly, BOM, private files,
and the masking of personal data in rejects."""

from __future__ import annotations

import re
import stat
import sys
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrisk.config import load_sources_config
from custrisk.data import mask_rejects
from custrisk.data.issues import ISSUE_COLUMNS
from custrisk.errors import UsageError
from custrisk.io.safe_csv import (
    _RISKY_FIRST_BYTES,
    FORMULA_START,
    QUOTE,
    csv_bytes,
    csv_encoding,
    escape_cell,
    escape_formula_cells,
    read_csv,
    unescape_cell,
    write_csv,
)
from custrisk.report.batch import ReportResult, read_manifest, write_manifest
from custrisk.results import ALERT_COLUMNS, ScoringRun, read_alerts, read_previous_scores

RISKY = ["=1+1", '＝HYPERLINK("x")', "＋CMD|' /C calc'!A0", "＠SUM(A1)", "@SUM(A1)", "-2+3", "\tx"]


def _runs_as_formula(cell: str) -> bool:
    """A spreadsheet (one that normalises width too) runs it; signed numbers are data."""
    text = unicodedata.normalize("NFKC", cell)
    return text.startswith(FORMULA_START) and not re.fullmatch(r"[+-]?[0-9][0-9.,]*", text)


@pytest.mark.parametrize("value", RISKY)
def test_formulas_are_escaped_also_after_width_normalisation(value: str) -> None:
    assert escape_cell(value) == "'" + value
    assert escape_formula_cells(pd.Series([value], dtype="str")).tolist() == ["'" + value]


@pytest.mark.parametrize("value", ["-12.5", "+3", "-1,000.25", "0001", "C-1", "张伟", "", "'abc"])
def test_plain_numbers_and_text_stay_as_they_are(value: str) -> None:
    assert escape_cell(value) == value


@given(st.text(alphabet=st.sampled_from("'=+-@＝＋－＠\t1.,aB张 "), max_size=8) | st.text())
def test_escaping_reads_back_exactly_and_never_leaves_a_formula(value: str) -> None:
    escaped = escape_cell(value)
    assert unescape_cell(escaped) == value
    assert escaped in (value, "'" + value)
    assert not _runs_as_formula(escaped)


def test_every_text_column_is_escaped_and_numbers_are_left_alone() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": pd.Series(["=1+1", "C2"], dtype="str"),
            "score": [600, -5],
            "label": pd.Categorical(["@x", "y"]),
            "mixed": pd.Series(["-x", -1.5], dtype=object),
        }
    )
    before = frame.copy()
    data = csv_bytes(frame)
    assert data == (b"\xef\xbb\xbfcustomer_id,score,label,mixed\n'=1+1,600,'@x,'-x\nC2,-5,y,-1.5\n")
    pd.testing.assert_frame_equal(frame, before)  # the input is not changed
    assert csv_bytes(frame, encoding="utf-8").startswith(b"customer_id,")


def test_write_csv_is_private_and_read_csv_undoes_the_escaping(tmp_path: Path) -> None:
    frame = pd.DataFrame({"customer_id": RISKY, "n": range(len(RISKY))})
    path = write_csv(frame, tmp_path / "new" / "x.csv")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_csv(path, dtype={"customer_id": "str"})["customer_id"].tolist() == RISKY


def test_unknown_csv_encoding_is_a_usage_error() -> None:
    assert csv_encoding("UTF8") == "utf-8"
    with pytest.raises(UsageError, match=r"must be one of utf-8-sig, utf-8; got 'gbk'"):
        csv_encoding("gbk")


def test_previous_scores_and_alerts_read_back_escaped_ids(tmp_path: Path) -> None:
    scores = pd.DataFrame({"customer_id": RISKY, "pd": 0.1, "score": 600, "grade": "=A"})
    alerts = pd.DataFrame({c: ["x"] * len(RISKY) for c in ALERT_COLUMNS})
    alerts["customer_id"] = RISKY
    alerts["level"] = "red"
    alerts["response_hours"] = 24
    files = ScoringRun(scores, scores[["customer_id"]], alerts, {}).write(tmp_path / "scores.csv")
    assert "\n'=1+1," in files.scores.read_text(encoding="utf-8-sig")
    previous = read_previous_scores(files.scores)
    assert previous["customer_id"].tolist() == RISKY
    assert set(previous["grade"]) == {"=A"}
    assert read_alerts(files.scores)["customer_id"].tolist() == RISKY


def test_manifest_rows_are_found_again_by_their_escaped_ids(tmp_path: Path) -> None:
    results = [ReportResult("customer", cid, f"c{i}.pdf", pages=1) for i, cid in enumerate(RISKY)]
    order = [("customer", cid) for cid in RISKY]
    path = write_manifest(tmp_path, results, {}, order)
    assert "\n'=1+1," in path.read_text(encoding="utf-8-sig")
    assert list(read_manifest(tmp_path)) == order


def _rejects(rows: list[dict[str, object]]) -> pd.DataFrame:
    base = {"file": "credit.csv", "line": 2, "action": "dropped", "message": "m"}
    return pd.DataFrame([{**base, **row} for row in rows], columns=ISSUE_COLUMNS)


def test_personal_data_in_rejects_is_masked_by_column() -> None:
    config = load_sources_config()
    rejects = _rejects(
        [
            {"source": "credit", "column": "name", "rule": "formula", "value": " =欧阳娜娜 "},
            {"source": "credit", "column": "phone", "rule": "pattern", "value": "25812345678"},
            {"source": "credit", "column": "id_number", "rule": "x", "value": "11010519491231002Y"},
            {"source": "credit", "column": "credit_limit", "rule": "out_of_range", "value": "-5"},
            {"source": "transactions", "column": "", "rule": "field_count", "value": "T1,C1,x"},
        ]
    )
    masked = mask_rejects(rejects, config)
    assert masked["value"].tolist() == ["=**", "258****5678", "110***********002Y", "-5", "T1,C1,x"]
    assert rejects["value"].iloc[0] == " =欧阳娜娜 "  # the input is not changed


def test_whole_rows_of_a_source_with_personal_data_are_masked_field_by_field() -> None:
    config = load_sources_config()
    line = 'C1,"张,伟",13812345678,11010519491231002X,华东'
    rejects = _rejects(
        [
            {"source": "credit", "column": "", "rule": "field_count", "value": line},
            {"source": "credit", "column": "", "rule": "duplicate_row", "value": "C1,张伟,1"},
        ]
    )
    assert mask_rejects(rejects, config)["value"].tolist() == [
        "C**,张**,1**,1**,华**",
        "C**,张**,1**",
    ]


def test_every_character_that_may_start_a_formula_has_its_first_byte_looked_at() -> None:
    # a value whose first byte is not in the list is never escaped; the list must hold
    # the first UTF-8 byte of every character that normalises to a formula start
    starts = [
        chr(cp)
        for cp in range(sys.maxunicode + 1)
        if not 0xD800 <= cp <= 0xDFFF
        and unicodedata.normalize("NFKC", chr(cp))[:1] in FORMULA_START
    ]
    assert "＝" in starts and "\t" in starts
    for char in [*starts, QUOTE]:
        assert char.encode()[0] in _RISKY_FIRST_BYTES, f"U+{ord(char):04X}"


@given(
    st.lists(
        st.text(alphabet=st.sampled_from("'=+-@＝＋－＠⁺\t1.,aB张 "), max_size=6)
        | st.text(max_size=4),
        max_size=40,
    )
)
def test_a_column_is_escaped_as_each_of_its_cells(values: list[str]) -> None:
    column = pd.Series([*values, None], dtype="str")
    escaped = escape_formula_cells(column)
    assert escaped.iloc[:-1].tolist() == [escape_cell(v) for v in values]
    assert pd.isna(escaped.iloc[-1])
