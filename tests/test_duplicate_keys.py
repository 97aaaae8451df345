"""Finding repeated keys among millions of rows: the hash that picks the candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custrisk.data.rows import _maybe_repeated


@pytest.mark.parametrize("width", [1, 5, 7, 8, 9, 13, 16, 23])
def test_fixed_width_keys_repeated_exactly_where_they_repeat(width: int) -> None:
    rng = np.random.default_rng(width)
    # Keys that differ in one byte only, at every position (the last word overlaps the
    # one before it: a difference in the overlap must still tell keys apart).
    alphabet = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
    n = 5_000 if width > 1 else 36
    codes = rng.integers(0, len(alphabet), size=(n, width))
    codes[: min(n, width * 30)] = 0
    for i in range(min(n, width * 30)):
        codes[i, i % width] = 1 + i // width  # one byte apart from the all-zero key
    keys = ["".join(map(chr, alphabet[row])) for row in codes]
    keys += [keys[7], keys[n - 1], keys[n // 2]]  # three repeats, at the end
    series = pd.Series(keys, dtype="str")
    truth = series.duplicated(keep=False).to_numpy()

    found = _maybe_repeated(series, np.arange(len(series)))

    assert (found >= truth).all()  # never misses a repeat
    np.testing.assert_array_equal(found, truth)  # and no false candidate among these


def test_keys_of_mixed_lengths_and_missing_ones() -> None:
    keys = pd.Series(["A1", "A10", None, "A1", "B7777777777", "B7777777777", None], dtype="str")
    found = _maybe_repeated(keys, np.arange(len(keys)))
    assert found.tolist() == [True, False, False, True, True, True, False]


def test_only_the_given_rows_count() -> None:
    keys = pd.Series(["T000000000001", "T000000000002", "T000000000001"], dtype="str")
    assert _maybe_repeated(keys, np.array([0, 1])).tolist() == [False, False]
    assert _maybe_repeated(keys, np.array([0, 2])).tolist() == [True, True]


@pytest.mark.parametrize("reverse", [False, True])
def test_keys_in_order_repeat_nowhere_but_a_repeat_out_of_order_is_found(reverse: bool) -> None:
    keys = [f"T{i:012d}" for i in range(1, 2_001)] + [None, "A9", "T000000000010"]
    ordered = pd.Series(keys[:2_000][:: -1 if reverse else 1] + [None], dtype="str")
    assert not _maybe_repeated(ordered).any()  # in order (a missing key between)

    repeated = pd.Series(keys, dtype="str")  # the last key repeats row 10, out of order
    found = _maybe_repeated(repeated)
    assert np.flatnonzero(found).tolist() == [9, 2_002]

    equal_neighbours = pd.Series(["A1", "A2", "A2", "A3"], dtype="str")
    assert _maybe_repeated(equal_neighbours).tolist() == [False, True, True, False]
