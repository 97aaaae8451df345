"""The Arrow CSV formatter writes exactly the bytes pandas writes for the column types
custrisk outputs, and hands anything else back to pandas."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrisk.io import frame_csv
from custrisk.io.frame_csv import escaped_csv_bytes, frame_csv_bytes
from custrisk.io.safe_csv import csv_bytes


def _pandas(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


EDGE_FLOATS = [
    0.0, -0.0, 1.0, -1.0, 0.1, 0.30000000000000004, 1e-4, 9.999999999999999e-05, 1e-5,
    1e-7, 123456.789, 999999999.9999999, 1e9, 1.5e10, 1e15, 1e16, 1.2345678901234567e17,
    5e-324, 1.7976931348623157e308, math.inf, -math.inf, math.nan, 2.0**53, 46000.0,
]  # fmt: skip


def test_floats_print_as_numpy_prints_them_at_the_edges() -> None:
    frame = pd.DataFrame({"x": EDGE_FLOATS, "y": [-v for v in EDGE_FLOATS]})
    assert frame_csv_bytes(frame) == _pandas(frame)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=40),
    st.lists(st.text(), min_size=1, max_size=40),
)
def test_any_floats_and_text_match_pandas(floats: list[float], texts: list[str]) -> None:
    n = min(len(floats), len(texts))
    frame = pd.DataFrame(
        {
            "f": floats[:n],
            "s": pd.Series(texts[:n], dtype="str"),
            "o": pd.Series(texts[:n], dtype=object),
        }
    )
    assert frame_csv_bytes(frame) == _pandas(frame)


@pytest.mark.parametrize("zeros", [(0.0,), (-0.0,), (0.0, -0.0)])
def test_columns_of_few_distinct_floats_match_pandas(zeros: tuple[float, ...]) -> None:
    """Printed once per distinct value (a column of counts, days or scores): the same
    bytes, missing values and signed zeros included."""
    rng = np.random.default_rng(len(zeros))
    n = 3 * frame_csv._ROWS_PER_PART // 2
    few = np.array([*zeros, 1.0, -2.5, 0.1, 1e-5, 46000.0, 1e16, math.nan, math.inf])
    frame = pd.DataFrame(
        {
            "few": rng.choice(few, size=n),
            "many": rng.random(n),
            "late": np.r_[np.zeros(n - 100), rng.random(100)],  # many only after a while
        }
    )
    assert frame_csv_bytes(frame) == _pandas(frame)


def test_the_types_of_a_run_match_pandas() -> None:
    rng = np.random.default_rng(7)
    n = 5000
    cells = ["a", "b,c", 'say "hi"', "two\nlines", "cr\rin", "", None, "张伟", " lead"]
    frame = pd.DataFrame(
        {
            "customer_id": pd.Series([f"{i:010d}" for i in range(n)], dtype="str"),
            "pd": np.round(rng.random(n), 6),
            "score": rng.integers(300, 900, n),
            "limit": np.round(rng.random(n) * 1e6, -3),
            "flag": rng.random(n) > 0.5,
            "text": pd.Series(rng.choice(np.array(cells, dtype=object), n), dtype=object),
            "str": pd.Series(rng.choice(np.array(cells, dtype=object), n), dtype="str"),
            "reason": pd.Categorical(rng.choice(["utilisation", "x,y", None], n)),
            "small": rng.normal(size=n) * 10.0 ** rng.integers(-12, 20, n),
            "u8": rng.integers(0, 200, n).astype(np.uint8),
            # followups.csv's whole days: nullable, a missing one a blank cell
            "days": pd.Series(rng.integers(0, 999, n), dtype="Int64").mask(rng.random(n) < 0.3),
        }
    )
    assert frame_csv_bytes(frame) == _pandas(frame)
    assert frame_csv_bytes(frame.iloc[:0]) == _pandas(frame.iloc[:0])


def test_a_table_formatted_in_parts_matches_pandas_and_is_written_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(frame_csv, "_ROWS_PER_PART", 7)  # 50 rows: 8 parts, the last short
    frame = pd.DataFrame(
        {
            "id": pd.Series([f"{i:04d}" for i in range(50)], dtype="str"),
            "text": pd.Series(["a", "b,c", None, "=1+1", 'q"'] * 10, dtype="str"),
            "x": np.linspace(-1e-6, 1e12, 50),
            "c": pd.Categorical(["u", None] * 25),
        }
    )
    parts = frame_csv.frame_csv_parts(frame)
    assert parts is not None and len(parts) == 1 + 8
    assert b"".join(parts) == _pandas(frame)
    written = io.BytesIO()
    frame_csv.write_escaped_csv(frame, written, "utf-8-sig")
    assert written.getvalue() == escaped_csv_bytes(frame, "utf-8-sig") == csv_bytes(frame)
    # a part that pandas must write (a cell that is not text) sends the whole table there
    mixed = frame.assign(text=pd.Series(["a"] * 49 + [1], dtype=object))
    assert frame_csv.frame_csv_parts(mixed) is None
    assert escaped_csv_bytes(mixed, "utf-8") == csv_bytes(mixed, encoding="utf-8")


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"only": ["", "x"]}),  # one column: pandas quotes an empty cell
        pd.DataFrame({"d": pd.to_datetime(["2026-01-01"]), "x": [1.0]}),
        pd.DataFrame({"m": [1, "a"], "x": [1.0, 2.0]}),
        pd.DataFrame({"f": np.array([0.1], dtype=np.float32), "x": [1.0]}),
    ],
)
def test_other_tables_go_to_pandas_and_come_out_the_same(frame: pd.DataFrame) -> None:
    assert frame_csv_bytes(frame) is None
    assert escaped_csv_bytes(frame, "utf-8-sig") == csv_bytes(frame)


def test_formula_cells_are_escaped_and_the_bom_follows_the_encoding() -> None:
    frame = pd.DataFrame({"id": pd.Series(["=1+1", "-2.5"], dtype="str"), "x": [1.0, 2.0]})
    assert escaped_csv_bytes(frame, "utf-8-sig") == csv_bytes(frame)
    assert escaped_csv_bytes(frame, "utf-8") == csv_bytes(frame, encoding="utf-8")
    assert escaped_csv_bytes(frame, "utf-8").startswith(b"id,x\n'=1+1,1.0\n")
