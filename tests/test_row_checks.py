"""Row checks across two columns: a row fails where both values are there and the
relation does not hold; a missing value never fails a check."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from custrisk.data.rows import _OPS, _comparable, _failed

DAY = dt.datetime(2026, 1, 5)
COLUMNS = {
    "numbers": (
        pd.Series([1.0, 2.0, np.nan, 3.0, 5.0, np.nan], dtype="float64"),
        pd.Series([1.0, 1.0, 2.0, np.nan, 7.0, np.nan], dtype="float64"),
    ),
    "integers": (
        pd.Series([1, 2, None, 3, 5], dtype="Int64"),
        pd.Series([1, 1, 2, None, 7], dtype="Int64"),
    ),
    "dates": (
        pd.Series([DAY, DAY, None, DAY, DAY + dt.timedelta(days=3)], dtype="datetime64[s]"),
        pd.Series(
            [DAY, DAY - dt.timedelta(days=1), DAY, None, DAY + dt.timedelta(days=9)],
            dtype="datetime64[s]",
        ),
    ),
    "text": (
        pd.Series(["a", "b", None, "c", "e"], dtype="str"),
        pd.Series(["a", "a", "b", None, "g"], dtype="str"),
    ),
}


@pytest.mark.parametrize("op", sorted(_OPS))
@pytest.mark.parametrize("kind", sorted(COLUMNS))
def test_a_row_fails_only_where_both_are_there_and_the_relation_does_not_hold(
    kind: str, op: str
) -> None:
    left, right = COLUMNS[kind]
    both = left.notna().to_numpy() & right.notna().to_numpy()
    expected = [
        bool(present and not _OPS[op](a, b))
        for present, a, b in zip(both, left.tolist(), right.tolist(), strict=True)
    ]

    failed = _failed(_OPS[op], _comparable(left), _comparable(right), both)

    assert failed.tolist() == expected
    assert not failed[~both].any()
