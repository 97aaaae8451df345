"""The cleaner's look at a text column's bytes: length, first and last byte of each value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from custrisk.data._arrays import edge_bytes, text_isin

VALUES = ["", " a", "C001 ", None, "全角", "x", "", "　y　", ""]


def _expected(values: list[str | None]) -> tuple[list[int], list[int], list[int]]:
    raw = [(v or "").encode("utf-8") for v in values]
    return (
        [len(b) for b in raw],
        [b[0] if b else 0 for b in raw],
        [b[-1] if b else 0 for b in raw],
    )


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
@pytest.mark.parametrize(
    "values",
    [VALUES, ["", "", ""], ["only"], [], [None, "a", None]],
    ids=["mixed", "all-empty", "one", "none", "nulls"],
)
def test_edge_bytes_of_every_value(kind: pa.DataType, values: list[str | None]) -> None:
    lengths, first, last = edge_bytes(pa.array(values, kind))
    want = _expected(values)
    assert lengths.tolist() == want[0]
    assert first.tolist() == want[1]
    assert last.tolist() == want[2]
    assert first.dtype == last.dtype == np.uint8


def test_edge_bytes_of_a_slice_that_ends_in_empty_values() -> None:
    # A slice's offsets start inside the data, and its trailing empty values point
    # at the end of the data buffer.
    column = pa.array(["head", *VALUES], pa.large_string()).slice(2)
    lengths, first, last = edge_bytes(column)
    want = _expected(VALUES[1:])
    assert (lengths.tolist(), first.tolist(), last.tolist()) == want


def test_ids_are_matched_as_pandas_matches_them() -> None:
    """The labelled ids found among the table's: Arrow's hash set for Arrow text, pandas
    for anything else, the same answer either way (a wrong one drops labelled rows)."""
    ids = pd.Index(pd.array(["0001", "0002", "客户3", "0004"], dtype="str"))
    table = pd.Index(pd.array(["客户3", "0001", "9999"], dtype="str"))
    assert text_isin(ids, table).tolist() == [True, False, True, False]
    assert text_isin(ids, pd.Index(["0002"], dtype=object)).tolist() == [False, True, False, False]
    assert text_isin(pd.Index([1, 2, 3]), pd.Index([3, 1])).tolist() == [True, False, True]
