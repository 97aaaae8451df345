"""The serve quick path's column rules against the cleaner they stand in for: on any text,
a rule either declines (the batch path decides) or gives exactly the value
``clean_source`` gives, with no issue raised."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custrisk.config.sources import parse_sources_config
from custrisk.data.clean import clean_source
from custrisk.io.readers import RawTable
from custrisk.scoring.quick import DECLINE, column_rule

SOURCES = """
version: 1
sources:
  credit:
    file: applications.csv
    key: customer_id
    columns:
      customer_id: {type: id, required: true}
      age: {type: int, min: 18, max: 100, on_invalid: blank}
      income: {type: float, min: 0, max: 1000000, on_invalid: blank}
      limit_wan: {type: float, min: 0, max: 5000000, scale: 10000, on_invalid: blank}
      income_wan: {type: float, scale: 10000, on_invalid: blank}
      income_month: {type: float, min: 0, scale: 12, on_invalid: blank}
      children: {type: int, on_invalid: blank}
      ratio: {type: float}
      region: {type: category, allowed: [华东, 华北, North], on_invalid: blank}
      industry: {type: category, on_invalid: blank}
      owner: {type: bool, on_invalid: blank}
      name: {type: string, pii: true}
      opened: {type: date, on_invalid: blank}
"""
CONFIG = parse_sources_config(SOURCES, "sources.yaml")
SPEC = CONFIG.sources["credit"]
COLUMNS = [c.name for c in SPEC.columns if c.name != "customer_id"]

HOSTILE = [
    None, "", " ", "NULL", "null", "nUlL", "n/a", "N/A", "-", "--", "nan", "NaN", "inf", "-inf",
    "0", "-0", "007", "17", "18", "100", "101", "-5", "12.5", "12.0", ".5", "5.", "1e3",
    "1,234", "1,23", "+7", " 35", "35 ", "３５", "１２．５", "99999999999999999999",
    "9007199254740993", "0.1", "0.30000000000000004", "1000000", "1000000.5",
    "华东", "华东 ", "\u3000华北", "north", "North", "NORTH", "火星", "=1+1", "＝SUM(A1)",
    "@x", "+86 138", "-x", "张\x07伟", "a\tb", "a\u200bb", "\x85x", "是", "否", "true", "TRUE",
    "Yes", "y", "1", "2", "t", "2026-01-31", "2026/01/31", "20260131", "ab 12", "ＡＢ12",
    "16712345678", "110105198001011234", "-16712345678",  # (personal data in a number cell)
]  # fmt: skip


def _clean(column: str, text: str | None, key: str = "C1", config: Any = CONFIG) -> Any:
    """What the cleaner makes of one value of ``column``: ("value", v) or ("issue",)."""
    columns: dict[str, list[str | None]] = {c.name: [None] for c in SPEC.columns}
    columns["customer_id"] = [key]
    columns[column] = [text]
    table = pa.table({n: pa.array(v, type=pa.large_string()) for n, v in columns.items()})
    raw = RawTable(
        path=Path("request"),
        table=table,
        lines=np.arange(1, 2, dtype=np.int64),
        header=list(columns),
        encoding="utf-8",
    )
    cleaned = clean_source(config.sources["credit"], [raw], config)
    if len(cleaned.issues) or cleaned.rows_kept != 1:
        return ("issue",)
    value = cleaned.frame[column].iloc[0]
    return ("value", _plain(value))


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check(column: str, text: str | None) -> bool:
    """Whether the rule took the value (and then agreed with the cleaner)."""
    rule = column_rule(SPEC.column(column), CONFIG)
    assert rule is not None
    given = rule(text)
    if given is DECLINE:
        return False
    cleaned = _clean(column, text)
    assert cleaned == ("value", given), (column, text, cleaned, given)
    assert type(cleaned[1]) is type(given), (column, text)
    return True


@pytest.mark.parametrize("column", COLUMNS)
def test_a_rule_takes_a_value_only_when_it_agrees_with_the_cleaner(column: str) -> None:
    taken = [text for text in HOSTILE if _check(column, text)]
    assert None in taken  # a blank of a column that allows blanks
    assert len(taken) < len(HOSTILE)


def test_out_of_range_and_not_allowed_values_are_left_to_the_cleaner() -> None:
    age = column_rule(SPEC.column("age"), CONFIG)
    region = column_rule(SPEC.column("region"), CONFIG)
    assert age is not None and region is not None
    assert age("18") == 18 and age("100") == 100
    assert age("17") is DECLINE and age("101") is DECLINE and age("-5") is DECLINE
    assert _clean("age", "101") == ("issue",)
    assert region("华东") == "华东" and region("north") is DECLINE
    assert _clean("region", "north") == ("issue",)  # the cleaner repairs the case


def test_a_scaled_column_is_read_in_its_unit_and_ranged_after_scaling() -> None:
    """``scale: 10000`` (an amount in 万元): 12.5 is 125,000 元, on both paths; 600 万元 is
    over the 5,000,000 the column allows, though 600 is not."""
    rule = column_rule(SPEC.column("limit_wan"), CONFIG)
    assert rule is not None
    assert rule("12.5") == 125_000.0 and _clean("limit_wan", "12.5") == ("value", 125_000.0)
    assert rule("600") is DECLINE and _clean("limit_wan", "600") == ("issue",)
    assert rule("500") == 5_000_000.0
    # a unit in the cell of a column that has one: 50万 万元? refused, not read × 10,000 twice
    assert _clean("limit_wan", "50万") == ("issue",) and _clean("limit_wan", "1%") == ("issue",)
    assert _clean("limit_wan", "2亿") == ("issue",)
    # a currency sign or 元 says nothing of the magnitude: ￥1.5 (万元) as a money column writes it
    assert _clean("limit_wan", "￥1.5") == ("value", 15_000.0)
    assert _clean("limit_wan", "(12)") == ("issue",)  # read, -120,000: below the min of 0
    assert _clean("limit_wan", "1,200") == ("issue",)  # read, 12,000,000: over the max
    assert _clean("limit_wan", "1,2") == ("issue",)
    assert _clean("limit_wan", "0.5") == ("value", 5_000.0)
    # × 10,000 past the largest float: no infinite amount, on either path
    assert (
        _clean("income_wan", "1e305") == ("issue",) and _clean("income_wan", "1e300")[0] == "value"
    )
    income = column_rule(SPEC.column("income_wan"), CONFIG)
    assert income is not None and income("1e305") is DECLINE
    assert _clean("income", "50万") == ("value", 500_000.0)  # a column without a scale


def test_a_monthly_income_written_in_wan_is_read_in_yuan_before_the_twelve_months() -> None:
    """``scale: 12`` (月收入 read as annual_income) is a period, not the values' unit: a
    flat table's 1.28万 among 9630 and 10,840 is 12,800 元 a month, not refused (a fifth
    of the incomes of a sheet that writes its large ones so were blanked)."""
    assert _clean("income_month", "1.28万") == ("value", 153_600.0)
    assert _clean("income_month", "9630") == ("value", 115_560.0)
    assert _clean("income_month", "￥1.2万元") == ("value", 144_000.0)
    assert _clean("income_wan", "1.28万") == ("issue",)  # a unit's scale: still refused


def test_ids_the_cleaner_would_normalise_are_left_to_it() -> None:
    rule = column_rule(SPEC.column("customer_id"), CONFIG)
    assert rule is not None
    assert rule("AP00001501") == "AP00001501"
    for text in ("ab 12", "ＡＢ12", "ap1", "=cmd", " AP1", ""):
        assert rule(text) is DECLINE


_TEXT = st.one_of(
    st.text(max_size=8),
    st.text(alphabet="0123456789.-+, eE", max_size=10),
    st.text(alphabet="０１２３４５６７８９．－＋　", max_size=6),
    st.sampled_from(HOSTILE[1:]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(column=st.sampled_from(COLUMNS), text=_TEXT)
def test_any_text_is_declined_or_cleaned_the_same(column: str, text: str) -> None:
    _check(column, text)


def test_an_id_with_zero_pad_gets_the_cleaners_zeros() -> None:
    """A record scored over HTTP with a customer id typed as a number (42) gets the
    cleaner's padded id (0000000042), as the batch path gives it."""
    padded = parse_sources_config(
        SOURCES.replace("{type: id, required: true}", "{type: id, required: true, zero_pad: 10}"),
        "sources.yaml",
    )
    col = padded.sources["credit"].column("customer_id")
    rule = column_rule(col, padded)
    assert rule is not None
    for text in ("42", "0042", "0000000042", "12345678901", "A42", "4.2"):
        assert _clean("customer_id", text, key=text, config=padded) == ("value", rule(text))
    assert rule("42") == "0000000042"


def test_a_recoded_category_gets_the_cleaners_value() -> None:
    """A category whose export values are recoded (订单 -> order) gives the recoded value
    on the quick path too, with or without an allowed list."""
    recoded = parse_sources_config(
        SOURCES.replace(
            "industry: {type: category, on_invalid: blank}",
            "industry: {type: category, on_invalid: blank, recode: {制造: manufacturing}}",
        ).replace(
            "allowed: [华东, 华北, North],",
            "allowed: [华东, 华北, North], recode: {东部: 华东, North: 华北},",
        ),
        "sources.yaml",
    )
    for column, texts in (("industry", ("制造", "零售")), ("region", ("东部", "North", "华北"))):
        rule = column_rule(recoded.sources["credit"].column(column), recoded)
        assert rule is not None
        for text in texts:
            assert _clean(column, text, config=recoded) == ("value", rule(text)), (column, text)
    assert rule("North") == "华北"
