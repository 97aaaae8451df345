"""Validate and clean one source: schema checks, trimming, typing, ranges, duplicates.

Nothing is lost silently: each dropped or repaired row yields an issue (source, file,
line, column, rule, value, action) that ends up in ``rejects.csv``.
"""

from __future__ import annotations

import datetime as dt
import logging
import operator
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config._yaml import join_limited
from custrisk.config.sources import (
    TEXT_TYPES,
    ColumnSpec,
    DateLimits,
    SourcesConfig,
    SourceSpec,
)
from custrisk.data.dates import credible_range_of_dates
from custrisk.errors import DataError
from custrisk.io.memory import release_memory
from custrisk.io.readers import RawTable, shown_names

log = logging.getLogger(__name__)

DROPPED = "dropped"
REPAIRED = "repaired"
NULL_TOKENS = ("", "null", "none", "nan", "na", "n/a", "#n/a", "-", "--")


def null_variants() -> list[str]:
    """Every spelling of a blank the cleaner accepts (NULL, null, N/A, n/a, ...)."""
    return sorted({v for t in NULL_TOKENS for v in (t, t.upper(), t.title(), t.capitalize())})


_NULL_SET = pa.array(null_variants())
ISSUE_COLUMNS = ["source", "file", "line", "column", "rule", "value", "action", "message"]
RULE_TEXT = {
    "field_count": "wrong number of fields",
    "unclosed_quote": "a quote opened on the line is not closed on it",
    "stray_cr": "a carriage return (CR) inside the line",
    "oversized_line": "the line is longer than the limit",
    "excel_error": "a workbook cell holds an Excel error value (#N/A, #DIV/0!, ...)",
    "missing_required": "required value is blank",
    "formula": "looks like a spreadsheet formula (possible CSV injection)",
    "control_character": "holds a control character (NUL, escape, ...), shown as \\xNN",
    "whitespace": "stray whitespace trimmed",
    "normalised": "full-width characters (or lower case or spaces in an id) normalised",
    "id_collision": "two different ids become the same id once normalised",
    "invalid_number": "not a number",
    "invalid_int": "not a whole number",
    "invalid_date": "not a valid date",
    "invalid_bool": "not true/false",
    "not_allowed": "value not in the allowed list",
    "pattern": "does not match the required pattern",
    "cn_id_number": "invalid resident id number (length, birth date or check digit)",
    "out_of_range": "outside the allowed range",
    "implausible_date": "outside the plausible dates of the source",
    "duplicate_row": "exact duplicate of an earlier row",
    "duplicate_key": "key already used by another row",
    "orphan": "customer not found in the credit table",
    "nulled": "invalid value replaced by blank (on_invalid: blank)",
}
REPAIR_CASE = "repair:case"
#: Columns are cleaned in threads from this many rows on (below, in turn: same results).
_THREADS_FROM_ROWS = 5000
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)


@dataclass
class SourceResult:
    """A cleaned source and what it took to clean it."""

    name: str
    frame: pd.DataFrame
    issues: pd.DataFrame
    files: list[str]
    encodings: list[str]
    rows_in: int
    rows_kept: int
    rows_rejected: int
    rows_repaired: int
    warnings: list[str] = field(default_factory=list)


Values: TypeAlias = "pa.Array | pd.Series | np.ndarray | Callable[[np.ndarray], np.ndarray]"


class _Issues:
    """Collects issues as (row positions, column, rule, raw values, action)."""

    def __init__(self, n: int) -> None:
        self.parts: list[tuple[np.ndarray, str, str, np.ndarray, str, str]] = []
        self.dropped = np.zeros(n, dtype=bool)
        self.repaired = np.zeros(n, dtype=bool)

    def add(
        self,
        mask: np.ndarray,
        column: str,
        rule: str,
        values: Values,
        action: str,
        message: str | None = None,
    ) -> None:
        """Record ``rule`` for the rows in ``mask`` (a mask over all rows, or the row
        positions); ``values`` gives the shown value of each row (an array over all
        rows, or a function of the flagged row positions)."""
        rows = mask if mask.dtype.kind in "iu" else np.flatnonzero(mask)
        if not rows.size:
            return
        picked = values(rows) if callable(values) else _pick(values, rows)
        self.parts.append((rows, column, rule, picked, action, message or RULE_TEXT[rule]))
        if action == DROPPED:
            self.dropped[rows] = True
        else:
            self.repaired[rows] = True

    def merge(self, other: _Issues) -> None:
        self.parts.extend(other.parts)
        self.dropped |= other.dropped
        self.repaired |= other.repaired


def _pick(values: pa.Array | pd.Series | np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The values at ``rows`` as an object array, converting only those rows."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        taken = values.take(pa.array(rows))
        if pa.types.is_timestamp(taken.type):
            taken = pc.strftime(taken, format="%Y-%m-%d")
        return np.asarray(taken.to_numpy(zero_copy_only=False), dtype=object)
    if isinstance(values, pd.Series):
        return np.asarray(values.iloc[rows].to_numpy(dtype=object), dtype=object)
    return np.asarray(values, dtype=object)[rows]


def clean_source(
    spec: SourceSpec,
    tables: Sequence[RawTable],
    config: SourcesConfig,
    *,
    customer_ids: pd.Series | None = None,
) -> SourceResult:
    """Clean the raw tables of one source into a typed frame with canonical columns.

    Parameters
    ----------
    spec
        The source's rules from the sources config.
    tables
        The raw text tables of the source's file(s), in order.
    config
        The sources config (date formats, true/false words).
    customer_ids
        The cleaned credit table's ids; rows of other customers are rejected as
        orphans. ``None`` skips the orphan check.
    """
    warnings: list[str] = []
    file_of = (
        np.concatenate([np.full(t.num_rows, i, dtype=np.int32) for i, t in enumerate(tables)])
        if tables
        else np.empty(0)
    )
    lines = np.concatenate([t.lines for t in tables]).astype(np.int64)
    # Take the rows over from the readers so that each raw column can be freed as soon as
    # it is cleaned (the raw text is the largest thing in memory).
    parts = [_canonical_table(spec, table, table.release(), warnings) for table in tables]
    joined = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
    del parts
    n = joined.num_rows
    raw_columns = {name: joined.column(name) for name in joined.column_names}
    del joined
    # Raw values of the key columns are kept to show in rejects after typing.
    kept_raw = {name: raw_columns[name] for name in (spec.key, spec.customer_key) if name}
    issues = _Issues(n)
    # Columns are cleaned in threads (pyarrow and NumPy release the GIL), each into its
    # own issue list, merged in column order so that outputs stay byte-identical.
    per_column = [_Issues(n) for _ in spec.columns]

    def clean(col: ColumnSpec, col_issues: _Issues) -> pd.Series:
        return _clean_column(
            raw_columns.pop(col.name),
            col,
            config,
            col_issues,
            dates=spec.dates,
            locate=_locator(tables, file_of, lines) if col.name == spec.key else None,
        )

    if n < _THREADS_FROM_ROWS:  # a few rows (a request to custrisk serve): threads cost more
        cleaned = list(map(clean, spec.columns, per_column))
    else:
        with ThreadPoolExecutor(max_workers=min(len(spec.columns), os.cpu_count() or 1)) as pool:
            cleaned = list(pool.map(clean, spec.columns, per_column))
    release_memory()
    typed = {col.name: values for col, values in zip(spec.columns, cleaned, strict=True)}
    for part in per_column:
        issues.merge(part)
    out = pd.DataFrame(typed)
    _row_checks(spec, out, issues)
    alive = ~issues.dropped
    # Exact duplicates (after cleaning), then duplicate keys, then orphans.
    # An exact copy shares the key, so only rows with a repeated key are compared.
    if n:
        _duplicates(spec, out, alive, kept_raw, issues)
        alive = ~issues.dropped
    if customer_ids is not None and spec.customer_key:
        # The customer column becomes categorical over the credit table's ids: unknown
        # ids are orphans, and indicators can group by the codes without hashing text.
        known = pa.array(customer_ids.dropna().to_numpy(dtype=object), type=pa.large_string())
        codes = pc.index_in(_to_text(pa.array(out[spec.customer_key])), value_set=known)
        code_values = codes.to_numpy(zero_copy_only=False)
        orphan = alive & np.isnan(code_values.astype(np.float64))
        issues.add(orphan, spec.customer_key, "orphan", kept_raw[spec.customer_key], DROPPED)
        alive &= ~orphan
        out[spec.customer_key] = pd.Categorical.from_codes(
            np.nan_to_num(code_values.astype(np.float64), nan=-1).astype(np.int32),
            categories=pd.Index(known.to_numpy(zero_copy_only=False), dtype="str"),
        )
    issue_frame = _issue_frame(spec.name, tables, issues, file_of, lines)
    bad_frame = _bad_row_issues(spec.name, tables)
    if len(bad_frame):
        issue_frame = pd.concat([bad_frame, issue_frame], ignore_index=True)
    rows_in = sum(t.records for t in tables)
    kept = out if alive.all() else out[alive].reset_index(drop=True)
    rejected = int(issues.dropped.sum()) + len(bad_frame)
    repaired = int((issues.repaired & alive).sum())
    return SourceResult(
        name=spec.name,
        frame=kept,
        issues=issue_frame,
        files=[str(t.path) for t in tables],
        encodings=[t.encoding for t in tables],
        rows_in=rows_in,
        rows_kept=len(kept),
        rows_rejected=rejected,
        rows_repaired=repaired,
        warnings=warnings,
    )


def _canonical_table(
    spec: SourceSpec, table: RawTable, rows: pa.Table, warnings: list[str]
) -> pa.Table:
    """Rename the file's headers to canonical names; check required/unexpected columns."""
    names = [spec.rename.get(name, name) for name in rows.column_names]
    renamed = rows.rename_columns(names)
    present = set(names)
    missing_required = [c.name for c in spec.columns if c.required and c.name not in present]
    if missing_required:
        mapped = {v: k for k, v in spec.rename.items()}
        shown = [f"{m} (file header '{mapped[m]}')" if m in mapped else m for m in missing_required]
        near = [table.closest(mapped.get(m, m)) for m in missing_required]
        shown = [
            f"{text} (did you mean '{n}'?)" if n else text
            for text, n in zip(shown, near, strict=True)
        ]
        raise DataError(
            f"missing required column(s): {join_limited(shown)}; {table.header_text()}",
            file=str(table.path),
            line=1,
            hint="export the file with its header row"
            if table.headerless
            else f"add the column(s), or map the file's header with 'rename' under "
            f"sources.{spec.name} in the sources config",
        )
    missing = [c.name for c in spec.columns if c.name not in present]
    if missing:
        warnings.append(
            f"{table.path.name}: optional column(s) missing, left blank: {join_limited(missing)}"
        )
    for header, declared in table.folded:
        warnings.append(
            f"{table.path.name}: header {shown_names([header])!r} read as the declared "
            f"column '{declared}' (they differ in case or character width)"
        )
    unexpected = [*table.unmatched, *(c for c in names if c not in spec.column_names)]
    if unexpected:
        warnings.append(
            f"{table.path.name}: column(s) not in the sources config, ignored: "
            f"{shown_names(unexpected)}"
        )
    n = renamed.num_rows
    columns = [
        renamed.column(col.name) if col.name in present else pa.nulls(n, pa.large_string())
        for col in spec.columns
    ]
    return pa.table(columns, names=list(spec.column_names))


def _to_text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The column as one Arrow (large) string array (numbers from Parquet become text)."""
    arr = column
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        if pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type):
            arr = pc.strftime(arr, format="%Y-%m-%d")
        else:
            arr = pc.cast(arr, pa.large_string())
    return arr


def _np(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _clean_column(
    column: pa.ChunkedArray,
    col: ColumnSpec,
    config: SourcesConfig,
    issues: _Issues,
    *,
    dates: DateLimits | None = None,
    locate: Callable[[np.ndarray], list[str]] | None = None,
) -> pd.Series:
    """Clean one column. ``dates`` are the source's plausible dates; ``locate`` (given
    for the key column only) names the lines of rows, for id collisions."""
    dates = dates or DateLimits()
    if _already_typed(column.type, col):
        return _clean_typed(column, col, issues, dates)
    raw = _to_text(column)
    if col.type == "category":
        return _clean_by_dictionary(raw, col, config, issues)
    return _clean_text(raw, col, config, issues, dates=dates, locate=locate)


def _clean_by_dictionary(
    raw: pa.Array, col: ColumnSpec, config: SourcesConfig, issues: _Issues
) -> pd.Series:
    """Clean a low-cardinality column once per distinct value, then expand to rows."""
    encoded = pc.dictionary_encode(raw)
    distinct = encoded.dictionary
    index = encoded.indices.to_numpy(zero_copy_only=False)
    if encoded.null_count:  # nulls get an entry of their own, after the distinct values
        index = np.where(_np(pc.is_null(encoded.indices)), len(distinct), index)
        distinct = pa.concat_arrays([distinct, pa.nulls(1, distinct.type)])
    index = index.astype(np.int64)
    entry_issues = _Issues(len(distinct))
    entry_values = _clean_text(distinct, col, config, entry_issues)
    for entries, column, rule, _shown, action, message in entry_issues.parts:
        flagged = np.zeros(len(distinct), dtype=bool)
        flagged[entries] = True
        issues.add(flagged[index], column, rule, raw, action, message)
    categories, entry_codes = np.unique(
        entry_values.fillna("").to_numpy(dtype=str), return_inverse=True
    )
    missing = entry_values.isna().to_numpy()
    codes = np.where(missing, -1, entry_codes)[index].astype(np.int32)
    present = categories != ""
    remap = np.cumsum(present) - 1
    codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1).astype(np.int32)
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=pd.Index(categories[present], dtype="str"))
    )


def _clean_text(
    raw: pa.Array,
    col: ColumnSpec,
    config: SourcesConfig,
    issues: _Issues,
    *,
    dates: DateLimits | None = None,
    locate: Callable[[np.ndarray], list[str]] | None = None,
) -> pd.Series:
    """Trim, blank, formula and id checks, then parse: the text path, row by row."""
    text, blank, trimmed = _trim_and_blank(raw)
    present = ~blank
    raw_values = raw
    if col.required:
        issues.add(blank, col.name, "missing_required", raw_values, DROPPED)
    flags = None
    if col.type in TEXT_TYPES:
        issues.add(trimmed & present, col.name, "whitespace", raw_values, REPAIRED)
        flags = _row_flags(text)
        control = present & _control_characters(text, flags, col.type)
        issues.add(control, col.name, "control_character", raw_values, DROPPED)
        issues.add(present & _formula_like(text), col.name, "formula", raw_values, DROPPED)
    if col.type == "id":
        trimmed_text = text
        text, normalised = _normalise_id(text, present, flags)
        issues.add(normalised, col.name, "normalised", raw_values, REPAIRED)
        if locate is not None and normalised.any():
            _id_collisions(trimmed_text, text, normalised, present, col, locate, raw_values, issues)
    elif col.type not in TEXT_TYPES:
        text, widened = _normalise_width(text, present)
        issues.add(widened, col.name, "normalised", raw_values, REPAIRED)
    values, failures = _parse(text, present, col, config)
    for invalid, rule in failures:
        if rule == REPAIR_CASE:
            issues.add(
                invalid & present,
                col.name,
                "normalised",
                raw_values,
                REPAIRED,
                "case of an allowed value normalised",
            )
        elif invalid.any():
            _invalid(invalid, col, rule, raw_values, issues)
            if col.on_invalid == "blank":
                values = values.mask(invalid)
    out_of_range = _range_violations(values, col)
    if out_of_range is not None and out_of_range.any():
        _invalid(out_of_range, col, "out_of_range", raw_values, issues)
        if col.on_invalid == "blank":
            values = values.mask(out_of_range)
    if col.type == "date":
        values = _implausible_dates(values, col, dates or DateLimits(), raw_values, issues)
    return values


ARROW_TYPES = {
    "int": pa.int64(),
    "float": pa.float64(),
    "date": pa.timestamp("s"),
    "bool": pa.bool_(),
}


def _already_typed(kind: pa.DataType, col: ColumnSpec) -> bool:
    """True when the reader already parsed this column into its target type."""
    return col.type in ARROW_TYPES and kind == ARROW_TYPES[col.type]


def _clean_typed(
    column: pa.ChunkedArray, col: ColumnSpec, issues: _Issues, dates: DateLimits | None = None
) -> pd.Series:
    """The fast path: values Arrow parsed strictly; only blanks and ranges to check."""
    arr = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    missing = _np(pc.is_null(arr))
    if col.required:
        issues.add(missing, col.name, "missing_required", arr, DROPPED)
    if col.type == "float":
        values = pd.Series(arr.to_numpy(zero_copy_only=False), dtype="float64")
    elif col.type == "int":
        numbers = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False)
        values = pd.Series(pd.arrays.IntegerArray(numbers.astype(np.int64), missing))
    elif col.type == "date":
        values = pd.Series(arr.to_numpy(zero_copy_only=False).astype("datetime64[s]"))
    else:
        flags = pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(bool)
        values = pd.Series(pd.arrays.BooleanArray(flags, missing))
    out_of_range = _range_violations(values, col)
    if out_of_range is not None and out_of_range.any():
        _invalid(out_of_range, col, "out_of_range", arr, issues)
        if col.on_invalid == "blank":
            values = values.mask(out_of_range)
    if col.type == "date":
        values = _implausible_dates(values, col, dates or DateLimits(), arr, issues)
    return values


def _invalid(
    mask: np.ndarray, col: ColumnSpec, rule: str, raw_values: pa.Array, issues: _Issues
) -> None:
    if col.on_invalid == "blank" and not col.required:
        issues.add(
            mask,
            col.name,
            rule,
            raw_values,
            REPAIRED,
            f"{RULE_TEXT[rule]}; replaced by blank (on_invalid: blank)",
        )
    else:
        issues.add(mask, col.name, rule, raw_values, DROPPED, _range_text(col, rule))


def _range_text(col: ColumnSpec, rule: str) -> str:
    if rule != "out_of_range":
        if rule == "not_allowed" and col.allowed:
            return f"{RULE_TEXT[rule]}: {join_limited(col.allowed, 8)}"
        return RULE_TEXT[rule]
    if col.min is not None and col.max is not None:
        return f"outside the allowed range {col.min} to {col.max}"
    if col.min is not None:
        return f"below the minimum {col.min}"
    return f"above the maximum {col.max}"


_WHITESPACE_BYTES = np.array([9, 10, 11, 12, 13, 32], dtype=np.uint8)


def _string_bytes(text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start and end offsets of every value, and the data bytes (no copy)."""
    offsets = _offsets(text)
    data = text.buffers()[2]
    data_bytes = (
        np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, dtype=np.uint8)
    )
    return offsets[:-1], offsets[1:], data_bytes


def _edge_bytes(text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Length, first byte and last byte of every value (0 for empty values)."""
    starts, ends, data = _string_bytes(text)
    lengths = ends - starts
    nonempty = lengths > 0
    first = np.zeros(len(lengths), dtype=np.uint8)
    last = np.zeros(len(lengths), dtype=np.uint8)
    first[nonempty] = data[starts[nonempty]]
    last[nonempty] = data[ends[nonempty] - 1]
    return lengths, first, last


def _trim_and_blank(raw: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Values without surrounding whitespace; which are blank; which were trimmed.

    Only values that start or end with whitespace (or a non-ASCII byte, which may be a
    full-width space) are trimmed, so a clean column costs one look at its bytes.
    """
    nulls = _np(pc.is_null(raw)) if raw.null_count else np.zeros(len(raw), dtype=bool)
    lengths, first, last = _edge_bytes(raw)
    suspect = (lengths > 0) & (
        np.isin(first, _WHITESPACE_BYTES)
        | np.isin(last, _WHITESPACE_BYTES)
        | (first >= 0x80)
        | (last >= 0x80)
    )
    text = raw
    trimmed = np.zeros(len(raw), dtype=bool)
    if suspect.any():
        rows = np.flatnonzero(suspect)
        subset = raw.take(pa.array(rows))
        cleaned = pc.utf8_trim_whitespace(subset)
        changed = ~_np(pc.equal(cleaned, subset))
        if changed.any():
            trimmed[rows[changed]] = True
            text = pc.replace_with_mask(raw, pa.array(trimmed), cleaned.filter(pa.array(changed)))
            lengths = np.diff(_offsets(text))
    blank = nulls | (lengths == 0)
    short = ~blank & (lengths <= max(len(t) for t in NULL_TOKENS))
    if short.any():
        rows = np.flatnonzero(short)
        blank[rows[_np(pc.is_in(text.take(pa.array(rows)), _NULL_SET))]] = True
    return text, blank, trimmed


# What a byte may mean in a text value, as bit flags: a C0 control character or DEL;
# part of a non-ASCII character (full-width forms, C1 controls); a-z; a space.
_CONTROL, _NON_ASCII, _LOWER, _SPACE = 1, 2, 4, 8
_BYTE_FLAGS = np.zeros(256, dtype=np.uint8)
_BYTE_FLAGS[:0x20] = _CONTROL
_BYTE_FLAGS[0x7F] = _CONTROL
_BYTE_FLAGS[0x80:] = _NON_ASCII
_BYTE_FLAGS[ord("a") : ord("z") + 1] = _LOWER
_BYTE_FLAGS[ord(" ")] = _SPACE
# Control characters a column type accepts: free text may hold tabs and line breaks.
_ALLOWED_CONTROLS = {"id": "", "category": "", "string": "\t\n\r"}
_C1_PATTERN = r"[\x{80}-\x{9f}]"  # RE2
_ROWS_PER_SCAN = 1 << 20  # bounds the memory of the per-byte flags


def _row_flags(text: pa.Array, allowed_controls: str = "") -> np.ndarray:
    """The byte flags of each value, or-ed together: one pass over the bytes."""
    starts, ends, data = _string_bytes(text)
    flags = np.zeros(len(starts), dtype=np.uint8)
    if len(starts) and ends[-1] > starts[0]:
        # The usual ids (digits, capitals, - and _) hold no byte that sets a flag.
        window = data[starts[0] : ends[-1]]
        if window.min() > ord(" ") and window.max() < ord("a"):
            return flags
    lookup = _BYTE_FLAGS
    if allowed_controls:
        lookup = lookup.copy()
        lookup[[ord(c) for c in allowed_controls]] = 0
    for first in range(0, len(starts), _ROWS_PER_SCAN):
        last = min(first + _ROWS_PER_SCAN, len(starts))
        begin, stop = int(starts[first]), int(ends[last - 1])
        if stop == begin:
            continue
        chunk = lookup[data[begin:stop]]
        at = starts[first:last] - begin
        nonempty = at < ends[first:last] - begin
        flags[first:last][nonempty] = np.bitwise_or.reduceat(chunk, at[nonempty])
    return flags


def _control_characters(text: pa.Array, flags: np.ndarray, column_type: str) -> np.ndarray:
    """Values holding a C0 or C1 control character (or DEL) their column type forbids."""
    allowed = _ALLOWED_CONTROLS.get(column_type, "")
    found = (flags & _CONTROL) != 0
    if allowed and found.any():  # look again at those values, allowing tabs and breaks
        rows = np.flatnonzero(found)
        found[rows] = (_row_flags(text.take(pa.array(rows)), allowed) & _CONTROL) != 0
    non_ascii = np.flatnonzero((flags & _NON_ASCII) != 0)
    if non_ascii.size:
        subset = text.take(pa.array(non_ascii))
        found[non_ascii[_np(pc.match_substring_regex(subset, _C1_PATTERN))]] = True
    return found


def _shown_with_escapes(values: np.ndarray) -> np.ndarray:
    """Values to show in rejects, control characters written as \\xNN (never raw)."""
    try:
        text = pa.array(values, type=pa.large_string(), from_pandas=True)
        holding = _np(pc.match_substring_regex(text, _SHOWN_CONTROLS_RE2))
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # numbers among the values
        holding = np.array(
            [isinstance(v, str) and _SHOWN_CONTROLS.search(v) is not None for v in values],
            dtype=bool,
        )
    out = values.copy()
    for i in np.flatnonzero(holding):
        out[i] = _SHOWN_CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", values[i])
    return out


_SHOWN_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SHOWN_CONTROLS_RE2 = r"[\x{00}-\x{08}\x{0b}\x{0c}\x{0e}-\x{1f}\x{7f}-\x{9f}]"
_FORMULA_START = "=@+-"


def _formula_like(text: pa.Array) -> np.ndarray:
    """Values a spreadsheet would run as a formula, judged after NFKC normalisation.

    ``＝HYPERLINK(...)``, ``＋CMD|...`` and ``＠SUM(...)`` start with full-width (or other
    compatibility) forms of ``=``, ``+``, ``@`` that normalisation turns into the ASCII
    characters, so they are formulas too. A sign followed only by a number (-5, +86 138)
    is not a formula.
    """
    lengths, first, _last = _edge_bytes(text)
    nonempty = lengths > 0
    found = nonempty & np.isin(first, np.frombuffer(_FORMULA_START.encode(), dtype=np.uint8))
    non_ascii = np.flatnonzero(nonempty & (first >= 0x80))
    if non_ascii.size:
        # Look at each distinct first character once (a name column has few).
        heads = pc.dictionary_encode(pc.utf8_slice_codeunits(text.take(pa.array(non_ascii)), 0, 1))
        becomes = np.array(
            [
                unicodedata.normalize("NFKC", h or "")[:1] in tuple(_FORMULA_START)
                for h in heads.dictionary.to_pylist()
            ]
            + [False],
            dtype=bool,
        )
        index = pc.fill_null(heads.indices, len(heads.dictionary)).to_numpy(zero_copy_only=False)
        found[non_ascii[becomes[index]]] = True
    if found.any():
        rows = np.flatnonzero(found)
        shown = [
            unicodedata.normalize("NFKC", v or "") for v in text.take(pa.array(rows)).to_pylist()
        ]
        found[rows[[_NUMBER_LIKE.fullmatch(v) is not None for v in shown]]] = False
    return found


_NUMBER_LIKE = re.compile(r"[+-][0-9.,\s]*", re.ASCII)


def _normalise_id(
    text: pa.Array, present: np.ndarray, flags: np.ndarray | None = None
) -> tuple[pa.Array, np.ndarray]:
    """One rule for every id: full-width characters to ASCII (NFKC), no spaces, upper
    case (the X of id numbers). ``AB C``, ``ab c`` and ``ＡＢＣ`` all become ``ABC``."""
    if flags is None:
        flags = _row_flags(text)
    odd = present & ((flags & (_NON_ASCII | _LOWER | _SPACE)) != 0)
    if not odd.any():
        return text, odd
    rows = np.flatnonzero(odd)
    subset = text.take(pa.array(rows))
    fixed = pa.array(
        ["".join(unicodedata.normalize("NFKC", v).split()).upper() for v in subset.to_pylist()],
        type=text.type,
    )
    differs = ~_np(pc.equal(fixed, subset))
    changed = np.zeros(len(text), dtype=bool)
    changed[rows[differs]] = True
    if differs.any():
        text = pc.replace_with_mask(text, pa.array(changed), fixed.filter(pa.array(differs)))
    return text, changed


def _normalise_width(text: pa.Array, present: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """Full-width digits, signs and separators (``１２３．５０``, ``２０２６－０１－３１``) as
    ASCII (NFKC), for numbers, dates and booleans; only values with non-ASCII bytes are
    looked at."""
    odd = present & ~_np(pc.string_is_ascii(text))
    if not odd.any():
        return text, odd
    rows = np.flatnonzero(odd)
    subset = text.take(pa.array(rows))
    fixed = pa.array([unicodedata.normalize("NFKC", v) for v in subset.to_pylist()], type=text.type)
    differs = ~_np(pc.equal(fixed, subset))
    changed = np.zeros(len(text), dtype=bool)
    changed[rows[differs]] = True
    if differs.any():
        text = pc.replace_with_mask(text, pa.array(changed), fixed.filter(pa.array(differs)))
    return text, changed


def _id_collisions(
    before: pa.Array,
    after: pa.Array,
    normalised: np.ndarray,
    present: np.ndarray,
    col: ColumnSpec,
    locate: Callable[[np.ndarray], list[str]],
    raw_values: pa.Array,
    issues: _Issues,
) -> None:
    """Reject the rows of a key whose different ids become one id once normalised.

    ``ab c`` and ``ABC`` are two rows of the file; merging them would give one customer
    the other's data. Both are rejected, each naming the other and its line, so that
    nothing is merged silently (exact repeats of one id stay duplicate keys).
    """
    targets = pc.unique(after.filter(pa.array(normalised)))
    involved = np.flatnonzero(present & _np(pc.is_in(after, value_set=targets)))
    if not involved.size:
        return
    taken = pa.array(involved)
    after_ids = pc.dictionary_encode(after.take(taken))
    before_ids = pc.dictionary_encode(before.take(taken))
    group = after_ids.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    variant = before_ids.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    # Groups (one normalised id) holding more than one raw id collide.
    pairs = np.unique(group * len(before_ids.dictionary) + variant)
    raw_ids_per_group = np.bincount(pairs // len(before_ids.dictionary))
    colliding = np.isin(group, np.flatnonzero(raw_ids_per_group > 1))
    if not colliding.any():
        return
    order = np.flatnonzero(colliding)
    order = order[np.argsort(group[order], kind="stable")]  # by group, then row
    starts = np.flatnonzero(np.diff(group[order], prepend=-1))
    for members in np.split(order, starts[1:]):
        _, first_of_each = np.unique(variant[members], return_index=True)
        firsts = np.sort(members[first_of_each])  # first row of each raw id, in file order
        places = locate(involved[firsts])
        raw_ids = [before_ids.dictionary[int(variant[r])].as_py() for r in firsts]
        target = after_ids.dictionary[int(group[members[0]])].as_py()
        if col.pii:  # the ids themselves are personal data: name the lines only
            what = f"the {col.name} values on {join_limited(places)} become the same id"
        else:
            named = join_limited(f"{v!r} ({p})" for v, p in zip(raw_ids, places, strict=True))
            what = f"{col.name} {named} become the same id {target!r}"
        issues.add(
            involved[members],
            col.name,
            "id_collision",
            raw_values,
            DROPPED,
            f"{what} once normalised (case, full-width characters, spaces); all "
            f"{len(members)} rows with them are rejected so that different ids are not merged",
        )


def _locator(
    tables: Sequence[RawTable], file_of: np.ndarray, lines: np.ndarray
) -> Callable[[np.ndarray], list[str]]:
    """Names the line of each row position (with its file when a source has several)."""

    def locate(rows: np.ndarray) -> list[str]:
        if len(tables) == 1:
            return [f"line {lines[r]}" for r in rows]
        return [f"{tables[file_of[r]].path.name} line {lines[r]}" for r in rows]

    return locate


def _implausible_dates(
    values: pd.Series, col: ColumnSpec, limits: DateLimits, raw_values: Values, issues: _Issues
) -> pd.Series:
    """Reject dates before the source's floor or after its plausible range.

    The floor is ``dates.not_before`` for columns without their own ``min``. The upper
    limit is ``dates.days_ahead`` days after the column's latest credible date (see
    :mod:`custrisk.data.dates`) or after today (``dates.ahead_of: today``). Rows already
    rejected for this column do not count.
    """
    stamps = values.to_numpy(dtype="datetime64[s]")
    ticks = stamps.view(np.int64)
    ok = ~np.isnat(stamps)
    if issues.dropped.any():
        ok &= ~issues.dropped
    if not ok.any():
        return values
    bad = np.zeros(len(stamps), dtype=bool)
    if col.min is None:
        floor = np.datetime64(limits.not_before, "s").astype(np.int64)
        early = ok & (ticks < floor)
        if early.any():
            _reject_dates(
                early,
                col,
                raw_values,
                issues,
                f"before {limits.not_before} (dates.not_before in the sources config; "
                "lower it, or give the column a min, to accept older dates)",
            )
            bad |= early
            ok &= ~early
    if limits.days_ahead is not None and ok.any():
        if limits.ahead_of == "today":
            latest = (dt.date.today() - dt.date(1970, 1, 1)).days
            limit, reference = latest + limits.days_ahead, "today"
        else:
            found = credible_range_of_dates(stamps, ok, limits.days_ahead)
            assert found is not None
            latest, limit = found.latest, found.limit
            reference = f"the latest credible {col.name}"
        late = ok & (ticks >= (limit + 1) * 86_400)
        if late.any():
            _reject_dates(
                late,
                col,
                raw_values,
                issues,
                f"more than {limits.days_ahead} days after {reference} "
                f"({np.datetime64(latest, 'D')}), so after {np.datetime64(limit, 'D')}; "
                "probably mistyped (dates.days_ahead in the sources config)",
            )
            bad |= late
    if bad.any() and col.on_invalid == "blank" and not col.required:
        values = values.mask(bad)
    return values


def _reject_dates(
    mask: np.ndarray, col: ColumnSpec, raw_values: Values, issues: _Issues, why: str
) -> None:
    text = f"{RULE_TEXT['implausible_date']}: {why}"
    if col.on_invalid == "blank" and not col.required:
        issues.add(
            mask, col.name, "implausible_date", raw_values, REPAIRED, text + "; replaced by blank"
        )
    else:
        issues.add(mask, col.name, "implausible_date", raw_values, DROPPED, text)


def _parse(
    text: pa.Array, present: np.ndarray, col: ColumnSpec, config: SourcesConfig
) -> tuple[pd.Series, list[tuple[np.ndarray, str]]]:
    """Typed values, and the masks of malformed ones with the rule each broke."""
    if col.type in ("int", "float"):
        floats, ok = _parse_numbers(text, present)
        malformed = present & ~ok
        if col.type == "float":
            return pd.Series(floats, dtype="float64"), [(malformed, "invalid_number")]
        whole = np.nan_to_num(floats)
        not_int = ok & ((np.mod(whole, 1) != 0) | (np.abs(whole) > 2**53))
        floats[not_int] = np.nan
        missing = np.isnan(floats)
        ints = pd.array(np.where(missing, 0, floats).astype(np.int64), dtype="Int64")
        ints[missing] = pd.NA
        return pd.Series(ints), [(malformed, "invalid_number"), (not_int, "invalid_int")]
    if col.type == "date":
        dates = _parse_dates(text, present, config.date_formats)
        return dates, [(present & dates.isna().to_numpy(), "invalid_date")]
    if col.type == "bool":
        lower = pc.utf8_lower(text)
        is_true = _np(pc.is_in(lower, pa.array(config.true_values)))
        is_false = _np(pc.is_in(lower, pa.array(config.false_values)))
        flags = pd.array(is_true, dtype="boolean")
        flags[~(is_true | is_false)] = pd.NA
        return pd.Series(flags), [(present & ~(is_true | is_false), "invalid_bool")]
    # id, string, category
    if not present.all():
        text = pc.if_else(pa.array(present), text, pa.scalar(None, text.type))
    values = _as_str_series(text)
    if col.allowed is not None:
        invalid = present & ~_np(pc.is_in(text, pa.array(col.allowed)))
        recased = np.zeros(len(text), dtype=bool)
        if invalid.any():
            # Case-only differences are repaired, not rejected.
            lowered = {a.lower(): a for a in col.allowed}
            fixed = values[invalid].str.lower().map(lowered)
            ok = fixed.notna().to_numpy()
            rows = np.flatnonzero(invalid)[ok]
            values.iloc[rows] = fixed[ok].to_numpy()
            invalid[rows] = False
            recased[rows] = True
        return values, [(invalid, "not_allowed"), (recased, REPAIR_CASE)]
    if col.pattern is not None:
        # RE2 only (linear time): the sources config refuses patterns it cannot run
        matched = _np(pc.match_substring_regex(text, f"^(?:{col.pattern})$"))
        return values, [(present & ~matched, "pattern")]
    if col.check == "cn_id_number":
        return values, [(present & ~valid_cn_id_number(values), "cn_id_number")]
    return values, []


def _parse_numbers(text: pa.Array, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Floats (NaN where blank or malformed) and the mask of well-formed values.

    Thousands separators ("1,234,567.5") are accepted; "inf" and "nan" are not numbers.
    """
    given = pc.if_else(pa.array(present), text, pa.scalar(None, pa.string()))
    with_commas = present & _np(pc.match_substring(text, ","))
    if with_commas.any():
        grouped = with_commas & _np(
            pc.match_substring_regex(text, r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
        )
        given = pc.if_else(pa.array(grouped), pc.replace_substring(given, ",", ""), given)
        given = pc.if_else(pa.array(with_commas & ~grouped), pa.scalar(None, pa.string()), given)
    try:
        values = pc.cast(given, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    except pa.ArrowInvalid:  # some value is malformed: find which
        shaped = _np(pc.match_substring_regex(given, r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"))
        given = pc.if_else(pa.array(shaped), given, pa.scalar(None, pa.string()))
        values = pc.cast(given, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    ok = present & np.isfinite(values)
    values[~ok] = np.nan
    return values, ok


def _as_categorical(values: pd.Series) -> pd.Series:
    """Text with few distinct values as a pandas Categorical (codes, not strings)."""
    encoded = pc.dictionary_encode(_to_text(pa.array(values)))
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32)
    categories = pd.Index(encoded.dictionary.to_numpy(zero_copy_only=False), dtype="str")
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories))


def _as_str_series(arr: pa.Array | pa.ChunkedArray) -> pd.Series:
    """An Arrow string array as a pandas ``str`` Series, without a round trip via objects."""
    return pd.Series(pd.array(arr, dtype=pd.StringDtype("pyarrow", na_value=np.nan)))


# Fixed-width layouts parsed on the fast path: width, separator positions and the slices
# of year, month and day.
_FIXED_DATE_LAYOUTS: dict[str, tuple[int, dict[int, int], tuple[int, int, int]]] = {
    "%Y-%m-%d": (10, {4: ord("-"), 7: ord("-")}, (0, 5, 8)),
    "%Y/%m/%d": (10, {4: ord("/"), 7: ord("/")}, (0, 5, 8)),
    "%Y.%m.%d": (10, {4: ord("."), 7: ord(".")}, (0, 5, 8)),
    "%Y%m%d": (8, {}, (0, 4, 6)),
    "%d/%m/%Y": (10, {2: ord("/"), 5: ord("/")}, (6, 3, 0)),
    "%d.%m.%Y": (10, {2: ord("."), 5: ord(".")}, (6, 3, 0)),
    "%m/%d/%Y": (10, {2: ord("/"), 5: ord("/")}, (6, 0, 3)),
}


def _parse_dates(text: pa.Array, present: np.ndarray, formats: Sequence[str]) -> pd.Series:
    """Parse dates trying each format in turn; unparseable values stay NaT.

    Fixed-width layouts (2025-01-31, 20250131, ...) are decoded straight from the Arrow
    bytes with NumPy, checking the calendar (no 2025-02-30); other values go through
    pandas' strict parser.
    """
    parsed = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[s]")
    todo = present.copy()
    for fmt in formats:
        if fmt in _FIXED_DATE_LAYOUTS and todo.any():
            rows, values = _fixed_width_dates(text, todo, *_FIXED_DATE_LAYOUTS[fmt])
            parsed[rows] = values
            todo[rows] = False
    for fmt in formats:
        if not todo.any():
            break
        rows = np.flatnonzero(todo)
        strict = pd.to_datetime(pd.Series(_pick(text, rows)), format=fmt, errors="coerce")
        values = strict.to_numpy(dtype="datetime64[s]")
        ok = ~np.isnat(values)
        parsed[rows[ok]] = values[ok]
        todo[rows[ok]] = False
    return pd.Series(parsed)


def _offsets(text: pa.Array) -> np.ndarray:
    """The value offsets of a (large) string array, as NumPy."""
    dtype = np.int64 if pa.types.is_large_string(text.type) else np.int32
    return np.frombuffer(text.buffers()[1], dtype=dtype)[text.offset : text.offset + len(text) + 1]


def _fixed_width_dates(
    text: pa.Array,
    todo: np.ndarray,
    width: int,
    separators: dict[int, int],
    starts: tuple[int, int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``todo`` that are valid dates in one fixed-width layout, and their values."""
    offsets = _offsets(text)
    candidates = np.flatnonzero(todo & (np.diff(offsets) == width))
    if not candidates.size:
        return candidates, np.empty(0, dtype="datetime64[s]")
    subset = text.take(pa.array(candidates)) if candidates.size < len(text) else text
    sub_offsets = _offsets(subset)
    data = np.frombuffer(subset.buffers()[2], dtype=np.uint8)
    block = data[sub_offsets[0] : sub_offsets[-1]].reshape(-1, width)
    digits = block - np.uint8(48)  # wraps around for bytes below '0'
    digit_at = [i for i in range(width) if i not in separators]
    ok = (digits[:, digit_at] <= 9).all(axis=1)
    for position, byte in separators.items():
        ok &= block[:, position] == byte

    def number(start: int, size: int) -> np.ndarray:
        value = np.zeros(len(block), dtype=np.int32)
        for i in range(start, start + size):
            value = value * 10 + digits[:, i]
        return value

    y0, m0, d0 = starts
    year, month, day = number(y0, 4), number(m0, 2), number(d0, 2)
    ok &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1)
    month_start = ((year - 1970) * 12 + np.clip(month, 1, 12) - 1).astype("datetime64[M]")
    days_in_month = (
        (month_start + 1).astype("datetime64[D]") - month_start.astype("datetime64[D]")
    ).astype(np.int64)
    ok &= day <= days_in_month
    values = (month_start.astype("datetime64[D]") + (day - 1)).astype("datetime64[s]")
    return candidates[ok], values[ok]


def valid_cn_id_number(values: pd.Series) -> np.ndarray:
    """True where the value is an 18-digit resident id (GB 11643) with a valid check digit
    and a real birth date."""
    shaped = values.str.fullmatch(r"\d{17}[\dX]").fillna(False).to_numpy(dtype=bool)
    ok = np.zeros(len(values), dtype=bool)
    if not shaped.any():
        return ok
    ids = values[shaped].to_numpy(dtype=str).astype("S18")
    digits = np.frombuffer(ids.tobytes(), dtype=np.uint8).reshape(-1, 18)
    check = _ID_CHECK[((digits[:, :17].astype(np.int64) - 48) @ _ID_WEIGHTS) % 11]
    born = pd.to_datetime(
        pd.Series(ids.astype(str)).str.slice(6, 14), format="%Y%m%d", errors="coerce"
    )
    ok[np.flatnonzero(shaped)] = (check == digits[:, 17]) & born.notna().to_numpy()
    return ok


def _range_violations(values: pd.Series, col: ColumnSpec) -> np.ndarray | None:
    if col.min is None and col.max is None:
        return None
    if col.type == "date":
        lo = np.datetime64(col.min, "s") if col.min is not None else None
        hi = np.datetime64(col.max, "s") if col.max is not None else None
        arr = values.to_numpy(dtype="datetime64[s]")
        bad = np.zeros(len(arr), dtype=bool)
        valid = ~np.isnat(arr)
        if lo is not None:
            bad |= valid & (arr < lo)
        if hi is not None:
            bad |= valid & (arr > hi)
        return bad
    arr = values.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = np.zeros(len(arr), dtype=bool)
        if col.min is not None:
            bad |= arr < col.min
        if col.max is not None:
            bad |= arr > col.max
    return bad


def _comparable(values: pd.Series) -> np.ndarray:
    """NumPy values for a row check: dates and numbers as themselves, else objects."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.to_numpy()
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return values.to_numpy(dtype=object)


def _row_checks(spec: SourceSpec, out: pd.DataFrame, issues: _Issues) -> None:
    for check in spec.checks:
        left, right = out[check.left], out[check.right]
        both = left.notna().to_numpy() & right.notna().to_numpy()
        if not both.any():
            continue
        result = np.zeros(len(out), dtype=bool)
        compared = _OPS[check.op](_comparable(left)[both], _comparable(right)[both])
        result[both] = ~np.asarray(compared, dtype=bool)
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


_KEEP_TEXT = {
    "keep_first": "the first row is kept",
    "keep_last": "the last row is kept",
    "reject_all": "all rows with it are rejected",
}


def _duplicates(
    spec: SourceSpec,
    out: pd.DataFrame,
    alive: np.ndarray,
    raw_keys: dict[str, pa.ChunkedArray],
    issues: _Issues,
) -> None:
    """Reject exact duplicate rows, then rows whose key is taken (by the policy).

    An exact copy shares the key, so with a key only rows whose key repeats are compared
    in full; keys are hashed once by Arrow.
    """
    live = np.flatnonzero(alive)
    if spec.key is None:
        dup = np.zeros(len(out), dtype=bool)
        dup[live] = out.iloc[live].duplicated(keep="first").to_numpy()
        issues.add(dup, "", "duplicate_row", lambda rows: _row_text(out, rows), DROPPED)
        return
    keys = out[spec.key]
    maybe = _maybe_repeated(keys, live)
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


_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def _maybe_repeated(keys: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Which of ``rows`` may share their key with another (a superset of the true ones).

    Keys are hashed (FNV-1a over their bytes, vectorised by length) and only equal hashes
    are candidates; the caller compares candidates exactly. Cheap for millions of keys.
    """
    if isinstance(keys.dtype, pd.CategoricalDtype):
        codes = keys.cat.codes.to_numpy()[rows]
        return pd.Series(codes).duplicated(keep=False).to_numpy() & (codes >= 0)
    text = _to_text(pa.array(keys))
    if len(rows) < len(text):
        text = text.take(pa.array(rows))
    starts, ends, data = _string_bytes(text)
    lengths = ends - starts
    hashes = np.full(len(rows), _FNV_OFFSET, dtype=np.uint64)
    width = int(lengths[0]) if len(lengths) else 0
    if width and (lengths == width).all() and ends[-1] - starts[0] == width * len(lengths):
        # Fixed-width keys stored back to back (the usual ids): hash the byte matrix.
        block = data[starts[0] : ends[-1]].reshape(-1, width)
        with np.errstate(over="ignore"):
            for j in range(width):
                hashes ^= block[:, j].astype(np.uint64)
                hashes *= _FNV_PRIME
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
    blank = _np(pc.is_null(text)) if text.null_count else np.zeros(len(rows), dtype=bool)
    return pd.Series(hashes).duplicated(keep=False).to_numpy() & ~blank


def _key_codes(keys: pd.Series) -> np.ndarray:
    """An integer per row, equal for equal keys; -1 where the key is missing."""
    if isinstance(keys.dtype, pd.CategoricalDtype):
        return keys.cat.codes.to_numpy(dtype=np.int64)
    encoded = pc.dictionary_encode(_to_text(pa.array(keys)))
    return pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _row_text(frame: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """The (cleaned) fields of ``rows`` joined by commas, to show a whole row."""
    subset = frame.iloc[rows]
    parts = [subset[name].astype("str").fillna("") for name in subset.columns]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + "," + part
    return joined.to_numpy(dtype=object)


def _issue_frame(
    source: str, tables: Sequence[RawTable], issues: _Issues, file_of: np.ndarray, lines: np.ndarray
) -> pd.DataFrame:
    if not issues.parts:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in ISSUE_COLUMNS})
    rows = np.concatenate([p[0] for p in issues.parts])
    names = [str(t.path.name) for t in tables]
    frame = pd.DataFrame(
        {
            "source": source,
            "file": np.array(names, dtype=object)[file_of[rows]],
            "line": lines[rows],
            "column": np.concatenate(
                [np.full(len(p[0]), p[1], dtype=object) for p in issues.parts]
            ),
            "rule": np.concatenate([np.full(len(p[0]), p[2], dtype=object) for p in issues.parts]),
            "value": _shown_with_escapes(np.concatenate([p[3] for p in issues.parts])),
            "action": np.concatenate(
                [np.full(len(p[0]), p[4], dtype=object) for p in issues.parts]
            ),
            "message": np.concatenate(
                [np.full(len(p[0]), p[5], dtype=object) for p in issues.parts]
            ),
        }
    )
    # A repaired row that was later dropped is reported as dropped only.
    dropped_rows = issues.dropped[rows]
    frame = frame[~(dropped_rows & (frame["action"] == REPAIRED).to_numpy())]
    return frame


def _bad_row_issues(source: str, tables: Sequence[RawTable]) -> pd.DataFrame:
    records = [
        {
            "source": source,
            "file": t.path.name,
            "line": b.line,
            "column": b.column,
            "rule": b.rule,
            "value": b.text[:500],
            "action": DROPPED,
            "message": b.message
            or f"{RULE_TEXT['field_count']}: expected {b.expected}, found {b.actual}",
        }
        for t in tables
        for b in t.bad_rows
    ]
    return pd.DataFrame(records, columns=ISSUE_COLUMNS)
