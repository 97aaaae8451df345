"""The CSV reader's typed fast path: a date column whose values all fall at midnight
stays a timestamp; one value with a time of day sends the column to the cleaner as text."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from custrisk.io.csv_reader import _any_time_of_day
from custrisk.io.readers import read_raw


def _read(tmp_path: Path, values: list[str]) -> pa.DataType:
    path = tmp_path / "x.csv"
    path.write_text("id,day\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)))
    raw = read_raw(path, typed={"day": pa.timestamp("s")}, null_values=[""])
    return raw.table.column("day").type


def test_dates_at_midnight_and_empty_ones_stay_typed(tmp_path: Path) -> None:
    assert _read(tmp_path, ["2026-10-01", "", "2026-10-02 00:00:00"] * 40_000) == pa.timestamp("s")


@pytest.mark.parametrize("row", [0, 99_999])
def test_one_date_with_a_time_of_day_makes_the_column_text(tmp_path: Path, row: int) -> None:
    values = ["2026-10-01", ""] * 50_000
    values[row] = "2026-10-02 13:45:12"
    assert _read(tmp_path, values) == pa.large_string()


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_a_time_of_day_is_found_in_any_unit_and_slice(unit: str) -> None:
    midnight, later = dt.datetime(2026, 10, 1), dt.datetime(2026, 10, 1, 0, 0, 1)
    days = pa.array([later, midnight, None, midnight], type=pa.timestamp(unit))
    assert _any_time_of_day(pa.chunked_array([days]))
    assert not _any_time_of_day(pa.chunked_array([days.slice(1)]))  # an offset into the buffer
    assert _any_time_of_day(pa.chunked_array([days.slice(1), days.slice(0, 1)]))
    assert _any_time_of_day(pa.chunked_array([days.cast(pa.timestamp(unit, tz="UTC"))]))
