"""Checks across the fields of a row (row checks) and across rows (duplicates)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config.sources import (
    SourceSpec,
)
from custrisk.data._arrays import as_numpy, strictly_ordered, string_bytes, to_text
from custrisk.data.issues import DROPPED, REPAIRED, RULE_TEXT, Issues, Values

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _comparable(values: pd.Series) -> np.ndarray:
    """NumPy values for a row check: dates and numbers as themselves, else objects."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.to_numpy()
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return values.to_numpy(dtype=object)


def row_checks(spec: SourceSpec, out: pd.DataFrame, issues: Issues) -> None:
    for check in spec.checks:
        left, right = out[check.left], out[check.right]
        both = left.notna().to_numpy() & right.notna().to_numpy()
        if not both.any():
            continue
        result = _failed(_OPS[check.op], _comparable(left), _comparable(right), both)
        text = f"failed check '{check.name}': {check.left} {check.op} {check.right}"

        def pair(
            rows: np.ndarray, left: pd.Series = left, right: pd.Series = right, op: str = check.op
        ) -> np.ndarray:
            shown = (
                left.iloc[rows].astype("str").fillna("")
                + f" {op} "
                + right.iloc[rows].astype("str").fillna("")
            )
            return shown.to_numpy(dtype=object)

        if check.on_fail == "blank_left" and not spec.column(check.left).required:
            issues.add(
                result,
                check.left,
                f"check:{check.name}",
                pair,
                REPAIRED,
                text + "; left value replaced by blank",
            )
            out.loc[result, check.left] = None
        else:
            issues.add(result, check.left, f"check:{check.name}", pair, DROPPED, text)


def _failed(
    op: Callable[[Any, Any], Any], left: np.ndarray, right: np.ndarray, both: np.ndarray
) -> np.ndarray:
    """Rows where both values are present and ``op`` does not hold between them.

    Dates and numbers are compared whole (a missing one, NaT or NaN, compares false and
    is masked by ``both``): no copies of the present rows, a fifth of the time on
    millions of transactions. Objects (text) only where both are present."""
    if left.dtype != object and right.dtype != object:
        with np.errstate(invalid="ignore"):
            holds = np.asarray(op(left, right), dtype=bool)
        return both & ~holds
    result = np.zeros(len(both), dtype=bool)
    result[both] = ~np.asarray(op(left[both], right[both]), dtype=bool)
    return result


_KEEP_TEXT = {
    "keep_first": "the first row is kept",
    "keep_last": "the last row is kept",
    "reject_all": "all rows with it are rejected",
}


def duplicates(
    spec: SourceSpec,
    out: pd.DataFrame,
    alive: np.ndarray,
    raw_keys: Mapping[str, Values],
    issues: Issues,
    *,
    maybe_repeated: np.ndarray | None = None,
    warnings: list[str] | None = None,
) -> None:
    """Reject exact duplicate rows, then rows whose key is taken (by the policy).

    An exact copy shares the key, so with a key only rows whose key repeats are compared
    in full; keys are hashed once. ``maybe_repeated`` is :func:`maybe_repeated_keys` of
    the key column over all the rows, when the caller found it already (the cleaning,
    beside its other columns). A table whose key is its rows' line numbers
    (``row_number``) compares the rows without it (:func:`_copied_rows`).
    """
    live = np.flatnonzero(alive)
    if spec.key is not None and spec.key == spec.row_number:
        _copied_rows(spec.key, out, live, issues, warnings)
        return
    if spec.key is None:
        dup = np.zeros(len(out), dtype=bool)
        dup[live] = out.iloc[live].duplicated(keep="first").to_numpy()
        issues.add(dup, "", "duplicate_row", lambda rows: _row_text(out, rows), DROPPED)
        return
    keys = out[spec.key]
    # Over all the rows, a superset of the live rows' candidates (a key repeated only by
    # a rejected row is a candidate too): the exact comparison below decides
    maybe = maybe_repeated[live] if maybe_repeated is not None else _maybe_repeated(keys, live)
    if not maybe.any():
        return
    codes = np.full(len(live), -1, dtype=np.int64)
    codes[maybe] = _key_codes(keys.iloc[live[maybe]])
    present = codes >= 0
    counts = np.bincount(codes[present], minlength=1)
    repeated = present & (counts[np.where(present, codes, 0)] > 1)
    if not repeated.any():
        return
    candidates = live[repeated]
    dup = np.zeros(len(out), dtype=bool)
    dup[candidates] = out.iloc[candidates].duplicated(keep="first").to_numpy()
    issues.add(dup, "", "duplicate_row", lambda rows: _row_text(out, rows), DROPPED)
    # Among the rows left, the key policy decides.
    left = ~dup[live]
    live, codes, repeated = live[left], codes[left], repeated[left]
    policy = spec.on_duplicate_key
    if policy == "reject_all":
        taken = repeated
    else:
        order = np.arange(len(codes)) if policy == "keep_first" else np.arange(len(codes))[::-1]
        _, first = np.unique(codes[order], return_index=True)
        keep = np.zeros(len(codes), dtype=bool)
        keep[order[first]] = True
        taken = repeated & ~keep
    key_dup = np.zeros(len(out), dtype=bool)
    key_dup[live[taken]] = True
    issues.add(
        key_dup,
        spec.key,
        "duplicate_key",
        raw_keys[spec.key],
        DROPPED,
        f"{RULE_TEXT['duplicate_key']} ({_KEEP_TEXT[policy]}: on_duplicate_key={policy})",
    )


#: The share of a table's rows that may be copies of others: more, and its rows are not
#: told apart by their values (a few coarse columns), so their repeats are no copies.
COPIED_ROWS_SHARE = 0.1


def _copied_rows(
    key: str,
    out: pd.DataFrame,
    live: np.ndarray,
    issues: Issues,
    warnings: list[str] | None,
) -> None:
    """Rows of a table without an id column (its key the line numbers) that repeat an
    earlier row in every column read: an export appended twice, a row pasted twice.
    Their line numbers differ, so as customers they would be trained and scored twice.
    Rejected as ``duplicate_row`` naming the earlier line, when at most
    :data:`COPIED_ROWS_SHARE` of the rows are such repeats; more, and the columns do not
    tell customers apart: kept, and said once."""
    others = np.flatnonzero(out.columns != key)
    if not others.size or len(live) < 2:
        return
    rows = out.iloc[live, others]  # (one copy: the live rows, every column but the key)
    copy = rows.duplicated(keep="first").to_numpy()
    if not copy.any():
        return
    copies = int(copy.sum())
    if copies > COPIED_ROWS_SHARE * len(live):
        if warnings is not None:
            warnings.append(
                f"{copies:,} of {len(live):,} rows repeat an earlier row in every column; the "
                "table has no id column, so they are kept as different customers (add an id "
                "column to tell copies from customers alike)"
            )
        return
    hashes = pd.util.hash_pandas_object(rows, index=False).to_numpy()
    _, first_at, group = np.unique(hashes, return_index=True, return_inverse=True)
    earlier = out[key].to_numpy(dtype=object)[live[first_at[group.ravel()[copy]]]]
    dup = np.zeros(len(out), dtype=bool)
    dup[live[copy]] = True
    messages = np.array(
        [
            f"{RULE_TEXT['duplicate_row']} (line {line}): the table has no id column, so it "
            "would count as a second customer; if it is another customer, add an id column "
            "to tell them apart"
            for line in earlier
        ],
        dtype=object,
    )
    issues.add(dup, "", "duplicate_row", lambda at: _row_text(out, at), DROPPED, messages)


_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def maybe_repeated_keys(keys: pd.Series) -> np.ndarray:
    """Which rows may share their key with another row (a superset of the true ones;
    see :func:`duplicates`)."""
    return _maybe_repeated(keys)


def _maybe_repeated(keys: pd.Series, rows: np.ndarray | None = None) -> np.ndarray:
    """Which of ``rows`` (default: all) may share their key with another (a superset of
    the true ones).

    Keys are hashed (FNV-1a over their bytes, vectorised by length) and only equal hashes
    are candidates; the caller compares candidates exactly. Cheap for millions of keys.
    """
    if isinstance(keys.dtype, pd.CategoricalDtype):
        codes = keys.cat.codes.to_numpy()
        codes = codes if rows is None else codes[rows]
        present = codes >= 0
        counts = np.bincount(codes[present], minlength=1)
        return present & (counts[np.where(present, codes, 0)] > 1)
    text = to_text(pa.array(keys))
    if rows is not None and len(rows) < len(text):
        text = text.take(pa.array(rows))
    if strictly_ordered(text):  # ids exported in order: none repeats, nothing to hash
        return np.zeros(len(text), dtype=bool)
    hashes = _key_hashes(text)
    # Sorted in place, not copied (the keys are hashed beside other columns' cleaning,
    # near the peak: 39 MB less at 4.9M rows); hashed again in the rare case of a repeat
    repeats = _repeats_sorting(hashes)
    del hashes
    if not repeats.size:  # the usual case: every key distinct
        return np.zeros(len(text), dtype=bool)
    blank = as_numpy(pc.is_null(text)) if text.null_count else np.zeros(len(text), dtype=bool)
    return np.isin(_key_hashes(text), repeats) & ~blank


def _key_hashes(text: pa.Array) -> np.ndarray:
    """FNV-1a hashes of the keys' bytes (a missing key hashes as an empty one)."""
    starts, ends, data = string_bytes(text)
    lengths = ends - starts
    hashes = np.full(len(text), _FNV_OFFSET, dtype=np.uint64)
    width = int(lengths[0]) if len(lengths) else 0
    if width and (lengths == width).all() and ends[-1] - starts[0] == width * len(lengths):
        # Fixed-width keys stored back to back (the usual ids): hash the byte matrix.
        _hash_fixed_width(data[starts[0] : ends[-1]], width, hashes)
        lengths = lengths[:0]  # nothing left for the general loop
    with np.errstate(over="ignore"):
        for length in np.unique(lengths):
            where = np.flatnonzero(lengths == length)
            for first in range(0, where.size, 1 << 20):  # bounded memory per step
                chunk = where[first : first + (1 << 20)]
                acc = np.full(chunk.size, _FNV_OFFSET, dtype=np.uint64)
                for j in range(int(length)):
                    acc ^= data[starts[chunk] + j].astype(np.uint64)
                    acc *= _FNV_PRIME
                hashes[chunk] = acc ^ np.uint64(length)
    return hashes


def _hash_fixed_width(data: np.ndarray, width: int, hashes: np.ndarray) -> None:
    """Hash ``len(hashes)`` keys of ``width`` bytes each, stored back to back in ``data``,
    into ``hashes`` in place: eight bytes at a time when the keys have that many (a
    13-character id is two words, not 13 bytes: a fifth of the time on millions of rows;
    the last word overlaps the one before it), else a byte at a time."""
    with np.errstate(over="ignore"):
        if width < 8:
            block = data.reshape(-1, width)
            for j in range(width):
                hashes ^= block[:, j].astype(np.uint64)
                hashes *= _FNV_PRIME
            return
        for j in range(0, width, 8):
            word = np.ndarray(
                hashes.shape, dtype="<u8", buffer=data, offset=min(j, width - 8), strides=(width,)
            )
            hashes ^= word
            hashes *= _FNV_PRIME
            hashes ^= hashes >> np.uint64(29)  # the high bits of the product back down


def _repeats_sorting(values: np.ndarray) -> np.ndarray:
    """The values that occur more than once (sorted); ``values`` is sorted in place. One
    sort, no hash table (a tenth of the time and a quarter of the memory of pandas'
    ``duplicated`` on millions of hashes)."""
    values.sort()
    same = values[1:] == values[:-1]
    return values[1:][same] if same.any() else values[:0]


def _key_codes(keys: pd.Series) -> np.ndarray:
    """An integer per row, equal for equal keys; -1 where the key is missing."""
    if isinstance(keys.dtype, pd.CategoricalDtype):
        return keys.cat.codes.to_numpy(dtype=np.int64)
    encoded = pc.dictionary_encode(to_text(pa.array(keys)))
    return pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _row_text(frame: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """The (cleaned) fields of ``rows`` joined by commas, to show a whole row."""
    subset = frame.iloc[rows]
    parts = [subset[name].astype("str").fillna("") for name in subset.columns]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + "," + part
    return joined.to_numpy(dtype=object)
