"""Dates a typed file already holds (a Parquet timestamp of any unit, a date column) are
cleaned as the text of their day would be: the same values, rejects and shown values as
the path that formatted each date as YYYY-MM-DD and parsed it again (which took 17 of
validate's 28 s on 200,000 customers' Parquet exports, whose dates read back as
timestamp[ms]: Parquet has no seconds unit)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from custrisk.config.sources import load_sources_config
from custrisk.data import clean, clean_columns
from custrisk.data.clean import clean_source
from custrisk.io.readers import RawTable

CONFIG = load_sources_config(None)
SPEC = CONFIG.sources["transactions"]

DAYS = [
    dt.datetime(2026, 10, 1),
    dt.datetime(2026, 10, 2, 13, 45, 12),  # a time of day: the day is kept
    None,  # missing: required, so rejected
    dt.datetime(1999, 12, 31, 23, 59, 59),  # before the column's min (2000-01-01)
    dt.datetime(2100, 1, 1, 8),  # kept (too few rows to tell a credible latest date)
    dt.datetime(2026, 9, 30, 0, 0, 1),
]


def _raw(dates: pa.Array) -> RawTable:
    n = len(dates)
    text = pa.large_string()
    table = pa.table(
        {
            "txn_id": pa.array([f"T{i}" for i in range(n)], type=text),
            "customer_id": pa.array([f"C{i % 3}" for i in range(n)], type=text),
            "txn_date": dates,
            "amount": pa.array(["10.5"] * n, type=text),
            "txn_type": pa.array(["order"] * n, type=text),
        }
    )
    return RawTable(
        path=Path("transactions.parquet"),
        table=table,
        lines=np.arange(2, n + 2, dtype=np.int64),
        header=table.column_names,
        encoding="utf-8",
    )


def _as_text(days: list[dt.datetime | None]) -> pa.Array:
    return pa.array([d.strftime("%Y-%m-%d") if d else None for d in days], type=pa.large_string())


@pytest.mark.parametrize(
    "kind",
    [pa.timestamp("ms"), pa.timestamp("us"), pa.timestamp("ns"), pa.date32(), pa.date64()],
    ids=str,
)
def test_typed_dates_clean_as_their_days_text(
    kind: pa.DataType, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = clean_source(SPEC, [_raw(_as_text(DAYS))], CONFIG)
    as_text = clean_columns.to_text

    def no_dates_as_text(column: pa.Array | pa.ChunkedArray) -> pa.Array:
        assert not pa.types.is_temporal(column.type), "a typed date was formatted as text"
        return as_text(column)

    for module in (clean, clean_columns):  # (a source's tables joined, each column cleaned)
        monkeypatch.setattr(module, "to_text", no_dates_as_text)
    values = [d.date() if d is not None and pa.types.is_date(kind) else d for d in DAYS]
    typed = clean_source(SPEC, [_raw(pa.array(values, type=kind))], CONFIG)
    pd.testing.assert_frame_equal(typed.frame, text.frame)
    pd.testing.assert_frame_equal(typed.issues, text.issues)
    assert typed.frame["txn_date"].tolist() == [
        pd.Timestamp("2026-10-01"),
        pd.Timestamp("2026-10-02"),
        pd.Timestamp("2100-01-01"),
        pd.Timestamp("2026-09-30"),
    ]
    assert {"missing_required", "out_of_range"} <= set(typed.issues["rule"])


def test_date_time_text_read_with_a_time_format_cleans_to_its_day() -> None:
    # A CSV export of a database's timestamps (2026-10-02 13:45:12), read with a format
    # that has a time (as the CRM profile's and `custrisk init`'s have), gives the days a
    # typed timestamp of Parquet or a database gives: the same dates, so the same scores
    config = dataclasses.replace(CONFIG, date_formats=("%Y-%m-%d", "%Y-%m-%d %H:%M:%S"))
    stamps = pa.array(
        [d.strftime("%Y-%m-%d %H:%M:%S") if d else None for d in DAYS], type=pa.large_string()
    )
    text = clean_source(SPEC, [_raw(stamps)], config)
    typed = clean_source(SPEC, [_raw(pa.array(DAYS, type=pa.timestamp("us")))], config)
    pd.testing.assert_frame_equal(text.frame, typed.frame)
    assert text.frame["txn_date"].tolist()[:2] == [
        pd.Timestamp("2026-10-01"),
        pd.Timestamp("2026-10-02"),
    ]


def test_date_time_text_with_offsets_cleans_to_the_day_as_written() -> None:
    # Several offsets in one column (a CSV export of a timestamptz, or of several
    # offices): each the day on its own clock, not an internal error; no offset: invalid
    config = dataclasses.replace(CONFIG, date_formats=("%Y-%m-%d", "%Y-%m-%d %H:%M:%S%z"))
    stamps = [
        "2026-10-03 01:30:00+08:00",  # 2026-10-02 17:30 in UTC: still the 3rd as written
        "2026-10-03 23:30:00-05:00",
        "2026-10-01",
        "2026-10-04 12:00:00",
    ]
    raw = _raw(pa.array(stamps, type=pa.large_string()))
    cleaned = clean_source(SPEC, [raw], config)
    assert cleaned.frame["txn_date"].tolist() == [
        pd.Timestamp("2026-10-03"),
        pd.Timestamp("2026-10-03"),
        pd.Timestamp("2026-10-01"),
    ]
    assert cleaned.issues[["line", "rule"]].values.tolist() == [[5, "invalid_date"]]
