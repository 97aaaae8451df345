"""Validate and clean one source: schema checks, trimming, typing, ranges, duplicates.

Nothing is lost silently: each dropped or repaired row yields an issue (source, file,
line, column, rule, value, action) that ends up in ``rejects.csv``.
"""

from __future__ import annotations

import contextvars
import csv
import logging
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config._yaml import join_limited
from custrisk.config.columns import TEXT_TYPES, ColumnSpec, header_key
from custrisk.config.sources import CUSTOMER_SOURCE, DateLimits, SourcesConfig, SourceSpec
from custrisk.data._arrays import as_numpy, string_bytes, text_array, to_text
from custrisk.data.issues import (
    BLANKED,
    DROPPED,
    NOT_ROWS,
    REPAIR_CASE,
    REPAIRED,
    RULE_TEXT,
    Issues,
    RejectedKeys,
    Values,
    bad_row_issues,
    issues_to_frame,
    locator,
    pick_values,
    record_invalid,
    with_values_typed,
)
from custrisk.data.orphans import Orphans
from custrisk.data.parse import implausible_dates, parse_values, range_violations
from custrisk.data.rows import duplicates, maybe_repeated_keys, row_checks
from custrisk.data.text import (
    control_characters,
    excel_text_literals,
    formula_like,
    id_collisions,
    normalise_id,
    normalise_phone,
    normalise_width,
    normalised_id,
    note_words,
    number_blank_words,
    pad_zeros,
    phone_numbers,
    row_flags,
    scientific_ids,
    tab_prefixed,
    totals_words,
    trim_and_blank,
    with_decimal_point,
    without_unit,
)
from custrisk.errors import DataError
from custrisk.io.csv_reader import BadRow
from custrisk.io.header import shown_names
from custrisk.io.memory import release_memory
from custrisk.io.readers import EXCEL_ERROR, BlankedCell, RawTable

log = logging.getLogger(__name__)


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
    #: Positions of the kept rows among the rows of the tables (in order), so that an
    #: engine cleaning a source in parts can tell where each kept row came from.
    kept_rows: np.ndarray | None = None
    #: The orphan check's counts and first ids (``None``: no check, not a linked source).
    orphans: Orphans | None = None
    #: Of the customer table: the customers none of whose rows was kept, each with its
    #: first rejected row (their rows in other sources are ``customer_rejected``).
    rejected_keys: RejectedKeys | None = None


#: KnownIds prepared in this process, by token (an engine's worker gets them back when a
#: spilled copy is read again); the last few only.
_PREPARED: dict[str, KnownIds] = {}
_PREPARED_KEPT = 2


class KnownIds:
    """The cleaned credit table's customer ids, ready for the orphan check: as Arrow
    text, as the categories of the customer column (and their dtype), and as a lookup
    of sorted hashes, each built when first needed and kept.

    An engine cleaning a source in many buckets hands one such object to every bucket
    on a worker. Each bucket then looks up only its own distinct ids (a binary search
    among the hashes, each hit checked on the text), instead of hashing every credit id
    again: with millions of customers and hundreds of buckets that was most of the
    cleaning. With ``compact``, a cleaned customer column gets only the ids its rows
    have as categories, and the categories of every id are never built (an engine
    whose buckets set them again later). Pickled (sent to a worker, spilled), it
    carries the ids as Arrow text and a token; a copy read back in a process that
    prepared the same ids reuses what it built."""

    def __init__(
        self, ids: pd.Series | pa.Array, token: str | None = None, *, compact: bool = False
    ) -> None:
        self.arrow: pa.Array = ids if isinstance(ids, pa.Array) else text_array(ids.dropna())
        self.token = token or uuid.uuid4().hex
        self.compact = compact
        self._categories: pd.Index | None = None
        self._dtype: pd.CategoricalDtype | None = None
        self._lookup: tuple[np.ndarray, np.ndarray] | None = None
        self._numbered: _NumberedIds | None | bool = False  # False: not looked at yet

    @property
    def categories(self) -> pd.Index:
        if self._categories is None:
            self._categories = pd.Index(pd.array(self.arrow, dtype=_TEXT))
        return self._categories

    @property
    def dtype(self) -> pd.CategoricalDtype:
        """The customer column's dtype (its categories checked once, not per bucket)."""
        if self._dtype is None:
            self._dtype = pd.CategoricalDtype(self.categories)
        return self._dtype

    def column(self, codes: np.ndarray) -> pd.Categorical:
        """A customer column from positions among the ids (-1: missing): over every id,
        or with ``compact`` over the ids it uses only (in the ids' order)."""
        if not self.compact:
            return pd.Categorical.from_codes(codes, dtype=self.dtype)
        # Codes are positions among the ids: a mask over the ids finds the used ones in
        # order, and its running count renumbers them (no sort of the codes).
        found = codes >= 0
        used = np.zeros(len(self.arrow), dtype=bool)
        used[codes[found]] = True
        renumbered = np.cumsum(used, dtype=np.int32) - 1
        categories = pd.Index(
            pd.array(self.arrow.take(pa.array(np.flatnonzero(used))), dtype="str")
        )
        compacted = np.full(len(codes), -1, dtype=np.int32)
        compacted[found] = renumbered[codes[found]]
        return pd.Categorical.from_codes(compacted, categories=categories)

    def codes(self, values: pd.Series) -> np.ndarray:
        """The position of each value of a column among the ids (-1: not there, or
        missing), looked up once per distinct value of a categorical column."""
        return _codes_in(values, self)

    def positions(self, values: pa.Array) -> np.ndarray:
        """The position of each of a few text ``values`` among the ids (-1: not there,
        or missing), without hashing every id: each value's hash is searched among the
        ids' sorted hashes and a hit is checked on the text. A value whose hash an id
        shares but whose text differs (a hash collision, about one in 10^12 pairs) is
        looked up exactly."""
        hashes, order = self._prepared_lookup()
        out = np.full(len(values), -1, dtype=np.int64)
        if not len(values) or not len(hashes):
            return out
        text = values.to_numpy(zero_copy_only=False)
        present = ~pd.isna(text)
        wanted = pd.util.hash_array(np.where(present, text, "").astype(object))
        at = np.minimum(np.searchsorted(hashes, wanted), len(hashes) - 1)
        hit = present & (hashes[at] == wanted)
        candidates = order[at]
        same = as_numpy(pc.equal(self.arrow.take(pa.array(candidates)), values))
        out[hit & same] = candidates[hit & same]
        doubtful = np.flatnonzero(hit & ~same)
        if len(doubtful):
            exact = pc.index_in(values.take(pa.array(doubtful)), value_set=self.arrow)
            out[doubtful] = pc.fill_null(exact, -1).to_numpy(zero_copy_only=False)
        return out

    @property
    def by_number(self) -> bool:
        """Whether the ids are numbers written with one width, looked up by number."""
        if self._numbered is False:
            self._numbered = _NumberedIds.of(self.arrow)
        return self._numbered is not None

    def lookup(self, values: pa.Array) -> np.ndarray:
        """The position of each of many text ``values`` among the ids (-1: not there, or
        missing), as int32: by number when the ids are numbers written with one width
        (the usual customer numbers), else by Arrow's lookup, which hashes every id and
        every value (4.9M transactions: 0.09 s against 0.21-0.27 s)."""
        if self.by_number:
            assert isinstance(self._numbered, _NumberedIds)
            return self._numbered.positions(values)
        positions = pc.index_in(values.cast(pa.large_string()), value_set=self.arrow)
        return pc.fill_null(positions, -1).to_numpy(zero_copy_only=False).astype(np.int32)

    def _prepared_lookup(self) -> tuple[np.ndarray, np.ndarray]:
        """The ids' hashes, sorted, and the position of each among the ids. Hashed a
        million at a time: the ids as Python text would be several times their Arrow
        size at once."""
        if self._lookup is None:
            step = 1 << 20
            hashes = np.concatenate(
                [
                    pd.util.hash_array(self.arrow.slice(i, step).to_numpy(zero_copy_only=False))
                    for i in range(0, len(self.arrow), step)
                ]
                or [np.empty(0, dtype=np.uint64)]
            )
            order = np.argsort(hashes, kind="stable")
            self._lookup = (hashes[order], order)
        return self._lookup

    def __getstate__(self) -> dict[str, Any]:
        return {"ids": self.arrow, "token": self.token, "compact": self.compact}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["ids"], state["token"], compact=state.get("compact", False)
        )
        # A copy read on a worker: the first is kept, later copies of the same ids
        # (read back after spilling) share what it has built so far.
        prepared = _PREPARED.get(self.token)
        if prepared is None:
            while len(_PREPARED) >= _PREPARED_KEPT:
                _PREPARED.pop(next(iter(_PREPARED)))
            _PREPARED[self.token] = self
        else:
            self.arrow = prepared.arrow
            self._categories, self._dtype = prepared._categories, prepared._dtype
            self._lookup = prepared._prepared_lookup()
            self._numbered = prepared._numbered

    def __len__(self) -> int:
        return len(self.arrow)

    def __sizeof__(self) -> int:
        """Its bytes, for Dask's spilling (``dask.sizeof`` measures an object by it)."""
        size = object.__sizeof__(self) + self.arrow.nbytes
        if self._categories is not None:
            size += int(self._categories.memory_usage(deep=True))
        if self._lookup is not None:
            size += sum(a.nbytes for a in self._lookup)
        return size


def clean_source(
    spec: SourceSpec,
    tables: Sequence[RawTable],
    config: SourcesConfig,
    *,
    customer_ids: pd.Series | KnownIds | None = None,
    table_specs: Sequence[SourceSpec] | None = None,
    rejected_customers: RejectedKeys | None = None,
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
        The cleaned credit table's ids (or a :class:`KnownIds` of them, prepared once
        for many calls); rows of other customers are rejected as orphans. ``None``
        skips the orphan check.
    table_specs
        For a source of several exports (``files:``), the spec of each table's entry
        (its own header mapping); optional columns a table lacks are then expected and
        not warned about one file at a time.
    rejected_customers
        The customers whose credit rows were all rejected (the credit table's
        :attr:`SourceResult.rejected_keys`): rows of theirs are rejected as
        ``customer_rejected``, naming the credit row, rather than as orphans.
    """
    warnings: list[str] = []
    file_of = (
        np.concatenate([np.full(t.num_rows, i, dtype=np.int32) for i, t in enumerate(tables)])
        if tables
        else np.empty(0)
    )
    # (32 bits from a CSV whose rows are all records: not made 64 bits, a copy of them)
    lines = tables[0].lines if len(tables) == 1 else np.concatenate([t.lines for t in tables])
    # Take the rows over from the readers so that each raw column can be freed as soon as
    # it is cleaned (the raw text is the largest thing in memory).
    specs = list(table_specs) if table_specs is not None else [spec] * len(tables)
    parts = [
        _canonical_table(
            table_spec, table, table.release(), warnings, stacked=table_specs is not None
        )
        for table_spec, table in zip(specs, tables, strict=True)
    ]
    if len(parts) > 1:
        parts = _common_types(parts)
    joined = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
    del parts
    n = joined.num_rows
    raw_columns = {name: joined.column(name) for name in joined.column_names}
    del joined
    credit_ids = (
        None
        if customer_ids is None or not spec.customer_key
        else customer_ids
        if isinstance(customer_ids, KnownIds)
        else KnownIds(customer_ids)
    )
    # The customer column of a linked source (200k ids on millions of rows) is held as a
    # dictionary over the credit ids from here on: one lookup per row, cleaned once per
    # id, kept for rejects as indices, and checked for orphans once per id.
    by_value = (
        credit_ids is not None
        and spec.customer_key != spec.key
        and _is_text(raw_columns[spec.customer_key].type)
    )
    # Raw values of the key columns are kept to show in rejects after typing: a text key
    # as its cleaned values and the raw text of the rows cleaning changed (set once the
    # column is cleaned), so that the raw column need not be held.
    text_key = (
        spec.key is not None
        and spec.column(spec.key).type in TEXT_TYPES
        and _is_text(raw_columns[spec.key].type)
    )
    kept_raw: dict[str, Values] = {
        name: raw_columns[name]
        for name in (spec.key, spec.customer_key)
        if name
        and not (name == spec.key and text_key)
        and not (name == spec.customer_key and (by_value or credit_ids is None))
    }
    issues = Issues(n)
    _blanked_cells(tables, issues)
    # Columns are cleaned two at a time in threads (NumPy and Arrow work outside the
    # GIL), each into its own issue list, merged in column order. On an idle 2-core
    # machine that saves about a tenth of `validate` (200k customers: 4.4-4.7 s against
    # 4.8-6.3 s), for both columns' temporaries held together: 120-150 MB more at the
    # peak of 200k customers, 450 MB at 1M, within the 3x of the input the peak may
    # take (docs/performance.md, seventh round).
    per_column = [Issues(n) for _ in spec.columns]
    repeated_keys: list[np.ndarray] = []

    def clean(col: ColumnSpec, col_issues: Issues) -> pd.Series:
        # One array from the parser's blocks, which are freed now rather than after the
        # column is cleaned (the cleaner needs the values in one piece anyway).
        column: pa.ChunkedArray | pa.Array = raw_columns.pop(col.name)
        if by_value and col.name == spec.customer_key:
            assert credit_ids is not None
            # Among the credit ids when the column is long against them (a whole
            # source: one lookup per row, hashing only the rows of unknown ids); a
            # bucket of a few rows among millions of ids encodes its own values.
            column = kept_raw[col.name] = (
                _encode_among(column, credit_ids)
                if len(column) >= len(credit_ids)
                else _dictionary_text(_one_piece(column))
            )
        else:
            column = _one_piece(column)
        values = _clean_column(
            column,
            col,
            config,
            col_issues,
            dates=spec.dates,
            locate=locator(tables, file_of, lines) if col.name == spec.key else None,
            by_value=by_value and col.name == spec.customer_key,
        )
        if text_key and col.name == spec.key:
            kept_raw[col.name] = _shown_keys(values, column, col_issues)
        if col.name == spec.key and n >= _THREADS_FROM:
            # The keys hashed here, beside the other columns' cleaning, rather than
            # after all of them (4.9M transaction ids: 0.35 s)
            repeated_keys.append(maybe_repeated_keys(values))
        del column
        release_memory()
        return values

    columns = list(zip(spec.columns, per_column, strict=True))
    cleaned = (
        _in_two_threads(clean, columns)
        if n >= _THREADS_FROM
        else [clean(col, col_issues) for col, col_issues in columns]
    )
    release_memory()
    typed = {col.name: values for col, values in zip(spec.columns, cleaned, strict=True)}
    for part in per_column:
        issues.merge(part)
    # Not copied (a dict of Series is copied by default): the cleaned columns are only
    # held by the frame from here on.
    out = pd.DataFrame(typed, copy=False)
    del typed, cleaned
    row_checks(spec, out, issues)
    if n:
        _header_rows(spec, specs, tables, out, file_of, issues)
    if spec.name == CUSTOMER_SOURCE and n:
        _totals_rows(spec, out, issues)
        _note_rows(spec, out, issues)
    elif by_value and n:
        assert credit_ids is not None and spec.customer_key
        _linked_totals_rows(kept_raw[spec.customer_key], credit_ids, spec.customer_key, issues)
    alive = ~issues.dropped
    orphans = None
    # Exact duplicates (after cleaning), then duplicate keys, then orphans.
    # An exact copy shares the key, so only rows with a repeated key are compared.
    if n:
        duplicates(
            spec,
            out,
            alive,
            kept_raw,
            issues,
            maybe_repeated=repeated_keys[0] if repeated_keys else None,
        )
        alive = ~issues.dropped
    if credit_ids is not None:
        # The customer column becomes categorical over the credit table's ids: unknown
        # ids are orphans, and indicators can group by the codes without hashing text.
        assert spec.customer_key
        code_values = credit_ids.codes(out[spec.customer_key])
        orphan = alive & (code_values < 0)
        shown = kept_raw[spec.customer_key]
        if rejected_customers is not None and len(rejected_customers) and orphan.any():
            _customers_rejected(
                orphan, out[spec.customer_key], rejected_customers, spec, issues, shown
            )
            alive &= ~issues.dropped
            orphan &= alive
        # Counted once the rows of rejected customers are theirs: those are no mismatch
        orphans = Orphans.of(out[spec.customer_key], alive, orphan)
        issues.add(orphan, spec.customer_key, "orphan", shown, DROPPED)
        alive &= ~orphan
        out[spec.customer_key] = credit_ids.column(code_values)
    issue_frame = issues_to_frame(spec.name, tables, issues, file_of, lines)
    bad_frame = bad_row_issues(spec.name, tables)
    if len(bad_frame):
        # (an empty frame in the concat would make every column object)
        issue_frame = (
            with_values_typed(pd.concat([bad_frame, issue_frame], ignore_index=True))
            if len(issue_frame)
            else bad_frame
        )
    rows_in = sum(t.records for t in tables)
    rejected_keys = (
        _rejected_keys(spec, specs, tables, out[spec.key], alive, issues, file_of, lines, config)
        if spec.name == CUSTOMER_SOURCE and spec.key is not None
        else None
    )
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
        kept_rows=np.flatnonzero(alive),
        orphans=orphans,
        rejected_keys=rejected_keys,
    )


def _header_rows(
    spec: SourceSpec,
    specs: Sequence[SourceSpec],
    tables: Sequence[RawTable],
    out: pd.DataFrame,
    file_of: np.ndarray,
    issues: Issues,
) -> None:
    """Reject the lines that repeat their file's header (two exports joined with
    ``cat``, a paged report's header on every page) as such: the key column holds its
    own header there, which no customer or record has (in a table whose ids are line
    numbers, any text column). Listed once, not also for every field that is no number
    or date, and not counted as a customer whose rows were rejected: in a flat table it
    would otherwise be scored, every feature blank."""
    if spec.key is None or spec.key not in out.columns:
        return
    names = _label_columns(spec)
    found = np.zeros(len(out), dtype=bool)
    for name in names:
        values = text_array(out[name])
        folded = name != spec.key  # a key is an id, normalised; other text is as written
        for i, (table, table_spec) in enumerate(zip(tables, specs, strict=True)):
            heads = {
                h.lstrip("\ufeff").strip() if folded else normalised_id(h.lstrip("\ufeff"))
                for h in table.header
                if header_key(table_spec.rename.get(h, h)) == header_key(name)
            }
            heads |= {"\ufeff" + h for h in heads}
            if heads:
                # (one hash lookup a value: 0.08 s for 24 million transaction ids)
                found |= (file_of == i) & as_numpy(pc.is_in(values, pa.array(sorted(heads))))
    if found.any():
        issues.instead(found)
        issues.add(found, names[0], "header_row", out[names[0]], DROPPED)


def _label_columns(spec: SourceSpec) -> list[str]:
    """Where a report's own rows (its header again, 合计, 制表人：...) show their label: the
    id column, or every text column of a table whose ids are line numbers."""
    assert spec.key is not None
    if spec.key == spec.row_number:
        return [c.name for c in spec.columns if c.type in ("string", "category")]
    return [spec.key] if spec.column(spec.key).type in TEXT_TYPES else []


def _labelled(values: pd.Series, words: Callable[[pa.Array], np.ndarray]) -> np.ndarray:
    """The rows of ``values`` whose text ``words`` finds (a category's once per value)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        labels = words(pa.array(values.cat.categories.astype("str")))
        if not labels.any():
            return np.zeros(len(values), dtype=bool)
        return np.isin(values.cat.codes.to_numpy(), np.flatnonzero(labels))
    return words(pa.array(values.array))


def _totals_rows(spec: SourceSpec, out: pd.DataFrame, issues: Issues) -> None:
    """Reject the totals rows of a spreadsheet report (合计, 小计, Total) in the customer
    table: a row that sums the others is no customer to score. The label is looked for
    in the id column, or in every text column when the file has no id (line numbers).
    A totals row is listed once, as such, not also for the blank fields it has."""
    if spec.key is None:
        return
    names = _label_columns(spec)
    unfound = np.ones(len(out), dtype=bool)  # (a row is one totals row, found once)
    for name in names:
        values = out[name]
        # (an id is cleaned already: NFKC, no spaces, upper case)
        normalised = spec.column(name).type == "id"
        found = _labelled(values, partial(totals_words, normalised=normalised))
        found &= unfound
        if found.any():
            issues.instead(found)
            issues.add(found, name, "total_row", values, DROPPED)
            unfound &= ~found


def _note_rows(spec: SourceSpec, out: pd.DataFrame, issues: Issues) -> None:
    """Reject the notes of a spreadsheet report in the customer table (制表人：张三, 备注：...,
    数据来源：核心系统 under the table): a row whose only value is such a note, in the id
    column or, in a table without ids, in any text column. It was scored as a customer
    with every feature blank, the note as its id. Listed once, as ``note_row``."""
    if spec.key is None:
        return
    names = _label_columns(spec)
    found = np.zeros(len(out), dtype=bool)
    for name in names:
        found |= _labelled(out[name], note_words)
    if not found.any():
        return
    others = [c.name for c in spec.columns if c.name != spec.row_number and c.name in out]
    rows = np.flatnonzero(found)
    given = out.iloc[rows][others].notna().sum(axis=1).to_numpy()
    found[:] = False
    found[rows[given == 1]] = True  # the note alone in its row
    if found.any():
        issues.instead(found)
        label = next((n for n in names if (out[n].notna().to_numpy() & found).any()), names[0])
        issues.add(found, label, "note_row", out[label], DROPPED)


def _linked_totals_rows(shown: Values, known: KnownIds, column: str, issues: Issues) -> None:
    """Reject the totals rows of a linked export (合计 in its customer column) and its
    report notes (制表人：张三) as such, rather than as orphans or for their blank fields.
    Only the values that are no customer id are looked at: the dictionary's entries
    after the ids."""
    if not isinstance(shown, pa.DictionaryArray):
        return
    dictionary = shown.dictionary
    start = len(known) if len(dictionary) >= len(known) else 0
    others = dictionary.slice(start)
    indices: np.ndarray | None = None
    # (a report's note under the table, 制表人：张三, is no customer either: as such, not
    # as an orphan)
    for rule, labels in (("total_row", totals_words(others)), ("note_row", note_words(others))):
        if not labels.any():
            continue
        if indices is None:
            indices = pc.fill_null(shown.indices, -1).to_numpy(zero_copy_only=False)
        found = np.isin(indices, np.flatnonzero(labels) + start)
        issues.instead(found)
        issues.add(found, column, rule, shown, DROPPED)


def _blanked_cells(tables: Sequence[RawTable], issues: Issues) -> None:
    """The workbook cells holding an Excel error that the reader blanked (a column with
    ``on_invalid: blank``) as repairs of their rows, listed as any blanked value is (and
    as dropped only, should the row be rejected for something else)."""
    by_column: dict[str, list[tuple[int, BlankedCell]]] = {}
    start = 0
    for table in tables:
        if table.blanked:
            # (a part of a file, as an engine cleans it, holds only some of its lines)
            found = pd.Index(table.lines).get_indexer([cell.line for cell in table.blanked])
            for cell, at in zip(table.blanked, found, strict=True):
                if at >= 0:
                    by_column.setdefault(cell.column, []).append((start + int(at), cell))
        start += table.num_rows
    for column, cells in by_column.items():
        issues.add(
            np.array([at for at, _ in cells], dtype=np.int64),
            column,
            EXCEL_ERROR,
            _values_of([cell.text for _, cell in cells]),
            REPAIRED,
            np.array([f"{cell.message}; {BLANKED}" for _, cell in cells], dtype=object),
        )


def _values_of(shown: list[str]) -> Callable[[np.ndarray], np.ndarray]:
    """The shown values of the rows an issue is added for, given in their order."""
    values = np.array(shown, dtype=object)
    return lambda _rows: values


def _customers_rejected(
    orphan: np.ndarray,
    customers: pd.Series,
    rejected: RejectedKeys,
    spec: SourceSpec,
    issues: Issues,
    shown: Values,
) -> None:
    """Reject the rows among ``orphan`` whose customer's credit rows were all rejected
    as ``customer_rejected``, each naming the first of those rows (its file, line and
    first rule): the customer is in the file, and the row to fix is the credit row."""
    rows = np.flatnonzero(orphan)
    at = rejected.positions(pick_values(customers, rows))
    hit = at >= 0
    if not hit.any():
        return
    issues.add(
        rows[hit],
        spec.customer_key or "",
        "customer_rejected",
        shown,
        DROPPED,
        np.array(
            [f"{RULE_TEXT['customer_rejected']} ({row})" for row in rejected.rows[at[hit]]],
            dtype=object,
        ),
    )


def _rejected_keys(
    spec: SourceSpec,
    specs: Sequence[SourceSpec],
    tables: Sequence[RawTable],
    keys: pd.Series,
    alive: np.ndarray,
    issues: Issues,
    file_of: np.ndarray,
    lines: np.ndarray,
    config: SourcesConfig,
) -> RejectedKeys:
    """The keys none of whose rows was kept, each with its first rejected row: among the
    rows cleaning dropped, and the lines the reader could not make a row of whose key
    field can be told (a field too many at the end leaves it in its place)."""
    first, rules = issues.first_drop()
    # (a totals row or a repeated header is no customer: its 合计 or 客户编号 is not a
    # customer whose rows were rejected)
    totals = np.asarray([rule in NOT_ROWS for rule in rules] + [False], dtype=bool)[first]
    dropped = np.flatnonzero((first >= 0) & ~totals & keys.notna().to_numpy())  # file order
    places = (file_of[dropped].astype(np.int64) << 32) + lines[dropped].astype(np.int64)

    def row(i: int) -> str:
        at = dropped[i]
        return f"{tables[file_of[at]].shown_name} line {lines[at]}: {rules[first[at]]}"

    parts = [RejectedKeys.first_of_each(pick_values(keys, dropped), places, row)]
    for file, (table, table_spec) in enumerate(zip(tables, specs, strict=True)):
        bad = _keys_of_bad_rows(spec, table_spec, table, config)
        if bad:
            parts.append(
                RejectedKeys(
                    np.array([key for _, key in bad], dtype=object),
                    np.array([f"{table.shown_name} line {b.line}: {b.rule}" for b, _ in bad]),
                    np.array([(file << 32) + b.line for b, _ in bad], dtype=np.int64),
                )
            )
    rejected = RejectedKeys.merged(parts) if len(parts) > 1 else parts[0]
    if not len(rejected) or not alive.any():
        return rejected
    kept = pd.Index(pick_values(keys, np.flatnonzero(alive)))
    return rejected.without(kept.get_indexer(rejected.ids) >= 0)


def _keys_of_bad_rows(
    spec: SourceSpec, table_spec: SourceSpec, table: RawTable, config: SourcesConfig
) -> list[tuple[BadRow, str]]:
    """The key of each line of a CSV the reader rejected whole (a field too many or too
    few, a quote left open), when the line's fields parse and the key's field is among
    them, and of each workbook row rejected for an Excel error cell (from its cells):
    cleaned by the key column's rules, as the rows' keys are."""
    if not table.bad_rows or spec.key is None:
        return []
    folded = dict(table.folded)  # (headers read as a declared name of another case)
    declared = [folded.get(name, name) for name in table.header]
    names = [table_spec.rename.get(name, name) for name in declared]
    if spec.key not in names:
        return []
    at = names.index(spec.key)
    found: list[tuple[BadRow, str]] = []
    for bad in table.bad_rows:
        if bad.rule == EXCEL_ERROR:  # (its text is the cell's; the row's are its cells)
            cell = bad.cells[at] if at < len(bad.cells) else None
            if cell is not None:
                found.append((bad, cell))
            continue
        try:
            fields = next(csv.reader([bad.text], delimiter=spec.delimiter), [])
        except csv.Error:
            continue
        if at < len(fields):
            found.append((bad, fields[at]))
    if not found:
        return []
    key_issues = Issues(len(found))
    text = pa.array([value for _, value in found], type=pa.large_string())
    keys = _clean_text(text, spec.column(spec.key), config, key_issues)
    usable = ~key_issues.dropped & keys.notna().to_numpy()
    return [
        (bad, key) for (bad, _), key, ok in zip(found, keys.tolist(), usable, strict=True) if ok
    ]


#: pandas' text (Arrow text, missing as NaN), as the cleaner's text columns hold it.
_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)

#: Rows from which a source's columns are cleaned in two threads: a few rows (a record
#: scored over HTTP, a small export) are cleaned in less time than threads take to start.
_THREADS_FROM = 1 << 16


def _in_two_threads(
    function: Callable[[ColumnSpec, Issues], pd.Series],
    columns: list[tuple[ColumnSpec, Issues]],
) -> list[pd.Series]:
    """``function`` of each column, two columns at a time, in the command's context.
    ``Executor.map`` gives the results in column order and, on an error, raises the
    first column's (in column order) and cancels the columns not started yet, as one
    at a time would."""
    # A copy of the context for each column: a context is entered by one thread at a time.
    contexts = [contextvars.copy_context() for _ in columns]
    with ThreadPoolExecutor(2, thread_name_prefix="custrisk-clean") as pool:
        runs = pool.map(lambda context, column: context.run(function, *column), contexts, columns)
        return list(runs)


def clean_column_values(
    spec: SourceSpec,
    table: RawTable,
    name: str,
    config: SourcesConfig,
    *,
    table_spec: SourceSpec | None = None,
) -> tuple[pd.Series, np.ndarray]:
    """One column of a raw table cleaned row by row as :func:`clean_source` cleans it,
    without dropping any row: the values and which rows a rule of this column drops.

    Nothing across rows is applied (no duplicates, no orphans, no upper limit of dates),
    so the values of a row do not depend on the other rows: an engine that cleans a
    source in parts uses them to send the rows sharing a cleaned key to one part, and
    to count the dates behind the latest credible date of a column over all parts.
    """
    table_spec = table_spec or spec
    col = spec.column(name)
    raw: pa.ChunkedArray | None = None
    for file_name in table.table.column_names:
        if table_spec.rename.get(file_name, file_name) == name:
            raw = table.table.column(file_name)
    if raw is None:
        raw = pa.chunked_array([pa.nulls(table.num_rows, pa.large_string())])
    issues = Issues(table.num_rows)
    dates = replace(spec.dates or DateLimits(), days_ahead=None)
    values = _clean_column(raw, col, config, issues, dates=dates)
    return values, issues.dropped


def _one_piece(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """The column as one array (dictionaries, whose blocks each have their own, are
    left to :func:`_dictionary_text`)."""
    if pa.types.is_dictionary(column.type):
        return column
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _shown_keys(
    values: pd.Series, raw: pa.ChunkedArray | pa.Array, issues: Issues
) -> Callable[[np.ndarray], np.ndarray]:
    """The raw keys of rows (to show in rejects) from the cleaned keys, and the raw text
    of the rows whose key cleaning changed, blanked or rejected: the same values as the
    raw column's, without holding it."""
    changed = np.flatnonzero(issues.repaired | issues.dropped | values.isna().to_numpy())
    changed_raw = pick_values(raw, changed)

    def shown(rows: np.ndarray) -> np.ndarray:
        out = pick_values(values, rows)
        at = np.searchsorted(changed, rows)
        hit = at < changed.size
        hit[hit] = changed[at[hit]] == rows[hit]
        out[hit] = changed_raw[at[hit]]
        return out

    return shown


def _is_text(kind: pa.DataType) -> bool:
    """Text, or text as a dictionary."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _dictionary_text(column: pa.ChunkedArray | pa.Array) -> pa.DictionaryArray:
    """A text column as one dictionary array (indices into its distinct values)."""
    if pa.types.is_dictionary(column.type) and _is_text(column.type):
        if isinstance(column, pa.DictionaryArray):
            return column
        column = column.unify_dictionaries()
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return pc.dictionary_encode(to_text(column))


def _encode_among(column: pa.ChunkedArray | pa.Array, known: KnownIds) -> pa.DictionaryArray:
    """A text column as a dictionary over the ``known`` ids followed by the column's
    other distinct values: one lookup per row, and hashing only the rows not known."""
    if pa.types.is_dictionary(column.type):
        column = _dictionary_text(column)
    text: pa.Array | pa.ChunkedArray
    if isinstance(column, pa.ChunkedArray) and _is_text(column.type) and known.by_number:
        # Block by block as the reader gave them: the column's text is not copied into
        # one piece (83 MB for 4.9M transactions), and each block's lookup is small.
        text = column
        blocks = [known.lookup(block) for block in column.chunks]
        indices = np.concatenate(blocks) if blocks else np.empty(0, dtype=np.int32)
    else:
        text = to_text(column)
        indices = known.lookup(text)
    rows = np.flatnonzero(indices < 0)
    if not rows.size:
        return pa.DictionaryArray.from_arrays(pa.array(indices), known.arrow)
    unknown = text.take(pa.array(rows))
    if isinstance(unknown, pa.ChunkedArray):
        unknown = unknown.combine_chunks()
    others = pc.dictionary_encode(unknown.cast(pa.large_string()))
    indices[rows] = len(known) + pc.fill_null(others.indices, 0).to_numpy(zero_copy_only=False)
    missing = np.zeros(len(text), dtype=bool)
    missing[rows] = as_numpy(pc.is_null(others.indices))
    return pa.DictionaryArray.from_arrays(
        pa.array(indices, mask=missing if missing.any() else None),
        pa.concat_arrays([known.arrow, others.dictionary]),
    )


def _codes_in(values: pd.Series, known: KnownIds) -> np.ndarray:
    """The position of each value among ``known`` (-1: not there, or missing): looked
    up once per distinct value of a categorical column."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        positions = _positions_among(text_array(values.cat.categories), known)
        # one extra entry for the missing code (-1), which indexes it from the end
        of_category = np.append(positions, -1).astype(np.int32)
        return of_category[values.cat.codes.to_numpy()]
    return _positions_among(to_text(pa.array(values)), known).astype(np.int32)


#: Arrow's lookup hashes every id (about a tenth of a microsecond each) and then each
#: value; the ids' kept lookup hashes each value as Python text (about a microsecond).
#: Measured with 1,000,000 ids: 400,000 values 126 ms against 481 ms, 20,000 values
#: 130 ms against 21 ms.
_INDEX_IN_FROM = 0.1


def _positions_among(values: pa.Array, known: KnownIds) -> np.ndarray:
    """Positions of ``values`` among the ids: Arrow's lookup (it hashes every id) when
    there are more than a tenth as many values as ids, else the ids' kept lookup."""
    if len(values) >= _INDEX_IN_FROM * len(known):
        return known.lookup(values).astype(np.int64)
    return known.positions(values.cast(pa.large_string()))


#: Ids numbered from their lowest may span at most this many numbers per id (plus
#: _SPAN_SLACK) to be looked up in a table of every number in their span.
_SPAN_PER_ID = 4
_SPAN_SLACK = 1 << 16
#: Digits an id may have to be read as a 64-bit number.
_MAX_DIGITS = 18


@dataclass(frozen=True)
class _NumberedIds:
    """Ids that are all numbers written with one width (``0000000042``), as a table from
    each number in their span to the id's position: a value is an id exactly when it has
    that width, only digits, and its number has an entry (one text per number at one
    width, so no value is taken for an id it is not)."""

    width: int
    low: int
    table: np.ndarray  # int32: position of the id numbered low + i, or -1; a -1 last

    @classmethod
    def of(cls, ids: pa.Array) -> _NumberedIds | None:
        if not len(ids) or ids.null_count:
            return None
        starts, ends, _ = string_bytes(ids)
        width = int(ends[0] - starts[0])
        if not 1 <= width <= _MAX_DIGITS or ((ends - starts) != width).any():
            return None
        if not pc.all(pc.ascii_is_decimal(ids)).as_py():
            return None
        numbers = pc.cast(ids, pa.int64()).to_numpy()
        low = int(numbers.min())
        span = int(numbers.max()) - low + 1
        if span > _SPAN_PER_ID * len(numbers) + _SPAN_SLACK:
            return None  # sparse numbers: Arrow's lookup
        table = np.full(span + 1, -1, dtype=np.int32)  # (the last: numbers off the span)
        # backwards, so that an id held twice finds its first position, as Arrow's does
        table[numbers[::-1] - low] = np.arange(len(numbers) - 1, -1, -1, dtype=np.int32)
        return cls(width, low, table)

    def positions(self, values: pa.Array) -> np.ndarray:
        """Each value's position among the ids (-1: not an id, or missing)."""
        starts, ends, _ = string_bytes(values)
        shaped = as_numpy(pc.ascii_is_decimal(values))  # (missing: not)
        shaped &= (ends - starts) == self.width
        if not shaped.all():
            return self._some_positions(values, shaped)
        numbers = pc.subtract(pc.cast(values, pa.int64()), self.low)
        off = len(self.table) - 1
        within = pc.and_(pc.greater_equal(numbers, 0), pc.less(numbers, off))
        return self.table.take(pc.if_else(within, numbers, off).to_numpy())

    def _some_positions(self, values: pa.Array, shaped: np.ndarray) -> np.ndarray:
        out = np.full(len(values), -1, dtype=np.int32)
        rows = np.flatnonzero(shaped)
        if rows.size:
            out[rows] = self.positions(values.take(pa.array(rows)))
        return out


def _common_types(parts: list[pa.Table]) -> list[pa.Table]:
    """The tables of several files with one type per column: a column read typed from one
    file (dates, numbers) and as text from another is text in all (the cleaner parses it)."""
    out = parts
    for name in parts[0].column_names:
        kinds = {t.schema.field(name).type for t in parts} - {pa.null()}
        if len(kinds) <= 1 or all(pa.types.is_integer(k) or pa.types.is_floating(k) for k in kinds):
            continue
        out = [
            t.set_column(
                t.schema.get_field_index(name), name, pa.chunked_array([to_text(t.column(name))])
            )
            for t in out
        ]
    return out


def _canonical_table(
    spec: SourceSpec, table: RawTable, rows: pa.Table, warnings: list[str], stacked: bool = False
) -> pa.Table:
    """Rename the file's headers to canonical names; check required/unexpected columns."""
    names = [spec.rename.get(name, name) for name in rows.column_names]
    renamed = rows.rename_columns(names)
    present = set(names)
    mapped = {v: k for k, v in spec.rename.items()}

    def with_header(name: str) -> str:
        return f"{name} (file header '{mapped[name]}')" if name in mapped else name

    missing_required = [c.name for c in spec.columns if c.required and c.name not in present]
    if missing_required:
        shown = [with_header(m) for m in missing_required]
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
    missing = [
        c.name for c in spec.columns if c.name not in present and c.name not in spec.outcome_columns
    ]
    if missing and not stacked:
        shown = [with_header(m) for m in missing]
        warnings.append(
            f"{table.shown_name}: optional column(s) missing, left blank: {join_limited(shown)}"
        )
    for header, declared in table.folded:
        warnings.append(
            f"{table.shown_name}: header {shown_names([header])!r} read as the declared "
            f"column '{declared}' (they differ in case, character width or traditional "
            "characters)"
        )
    unexpected = [*table.unmatched, *(c for c in names if c not in spec.column_names)]
    if unexpected:
        warnings.append(
            f"{table.shown_name}: column(s) not in the sources config, ignored: "
            f"{shown_names(unexpected)}"
        )
    n = renamed.num_rows
    columns = [
        renamed.column(col.name) if col.name in present else pa.nulls(n, pa.large_string())
        for col in spec.columns
    ]
    return pa.table(columns, names=list(spec.column_names))


def _clean_column(
    column: pa.ChunkedArray | pa.Array,
    col: ColumnSpec,
    config: SourcesConfig,
    issues: Issues,
    *,
    dates: DateLimits | None = None,
    locate: Callable[[np.ndarray], list[str]] | None = None,
    by_value: bool = False,
) -> pd.Series:
    """Clean one column. ``dates`` are the source's plausible dates; ``locate`` (given
    for the key column only) names the lines of rows, for id collisions; ``by_value``
    cleans a text column once per distinct value into a categorical (as categories
    are), for a column of few distinct values on many rows."""
    dates = dates or DateLimits()
    if col.type == "date" and _other_date_type(column.type):
        column = _days_as_seconds(column)
    if _already_typed(column.type, col):
        return _clean_typed(column, col, issues, dates)
    if col.type == "category" or (by_value and col.type in TEXT_TYPES and locate is None):
        return _clean_by_dictionary(_dictionary_text(column), col, config, issues)
    raw = to_text(column)
    return _clean_text(raw, col, config, issues, dates=dates, locate=locate)


def _clean_by_dictionary(
    encoded: pa.DictionaryArray, col: ColumnSpec, config: SourcesConfig, issues: Issues
) -> pd.Series:
    """Clean a low-cardinality column once per distinct value, then expand to rows.

    Rejects show the raw value of a row, taken from ``encoded`` (the raw column as a
    dictionary), so the column's text is never held once per row."""
    raw = encoded
    distinct = encoded.dictionary
    index = encoded.indices.to_numpy(zero_copy_only=False)
    if encoded.null_count:  # nulls get an entry of their own, after the distinct values
        # (with nulls, the indices arrive as floats)
        index = np.where(as_numpy(pc.is_null(encoded.indices)), len(distinct), index)
        index = index.astype(np.int64)
        distinct = pa.concat_arrays([distinct, pa.nulls(1, distinct.type)])
    # Else the indices stay as Arrow has them (int32): NumPy looks rows up with them as
    # they are, while an int64 copy of them was 39 MB on 4.9M transactions.
    entry_issues = Issues(len(distinct))
    entry_values = _clean_text(distinct, col, config, entry_issues)
    for entries, column, rule, _shown, action, message in entry_issues.parts:
        flagged = np.zeros(len(distinct), dtype=bool)
        flagged[entries] = True
        issues.add(flagged[index], column, rule, raw, action, message)
    # The cleaned entries' distinct texts in sorted order (by Arrow: NumPy's sort of
    # 200,000 customer ids as its own text took a tenth of a second), and each entry's
    # position among them.
    cleaned = pa.array(entry_values.fillna("").astype("str").array, type=pa.large_string())
    encoded = pc.dictionary_encode(cleaned)
    order = pc.sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    entry_codes = rank[encoded.indices.to_numpy(zero_copy_only=False)]
    categories = encoded.dictionary.take(pa.array(order))
    missing = entry_values.isna().to_numpy()
    present = as_numpy(pc.not_equal(categories, ""))
    remap = np.cumsum(present) - 1
    # The code of each distinct value, then one look-up per row: the rows' codes are
    # made once, not through five temporaries as long as the column.
    entry_codes = np.where(missing, -1, entry_codes)
    entry_codes = np.where(entry_codes >= 0, remap[np.maximum(entry_codes, 0)], -1)
    codes = entry_codes.astype(np.int32)[index]
    shown = pd.array(categories.filter(pa.array(present)), dtype=_TEXT)
    return pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(shown)))


def _clean_text(
    raw: pa.Array,
    col: ColumnSpec,
    config: SourcesConfig,
    issues: Issues,
    *,
    dates: DateLimits | None = None,
    locate: Callable[[np.ndarray], list[str]] | None = None,
) -> pd.Series:
    """Trim, blank, formula and id checks, then parse: the text path, row by row."""
    text, blank, trimmed, first = trim_and_blank(raw)
    if trimmed.any():
        # A tab before the ids (most of them: an export keeping them text in Excel) is
        # not a repair to list on every row; a stray one before a few still is
        tabbed = tab_prefixed(raw, text, trimmed)
        if tabbed.sum() * 2 >= np.count_nonzero(~blank):
            trimmed &= ~tabbed
    # ="0000000042", an export's way to keep an id's zeros in Excel: that text (="" blank)
    text, first, literal = excel_text_literals(text, first)
    if literal.any():
        blank = blank | (literal & (first == 0))
    present = ~blank
    raw_values = raw
    repairs: list[tuple[np.ndarray, str, str | None]] = []  # (rows, rule, message)
    if col.required:
        issues.add(blank, col.name, "missing_required", raw_values, DROPPED)
    flags = None
    if col.type in TEXT_TYPES:
        flags = row_flags(text)
        control = present & control_characters(text, flags, col.type)
        formula = present & formula_like(text, first)
        if col.check == "cn_phone" and formula.any():
            formula &= ~phone_numbers(text, formula)  # +86-138-...: kept as 138...
        for unsafe, rule in ((control, "control_character"), (formula, "formula")):
            if unsafe.any():
                record_invalid(unsafe, col, rule, raw_values, issues)
        if col.on_invalid == "blank" and not col.required:
            # Blanked as a blank cell would be, before the other checks see it: the
            # text never reaches an output, and is not reported again (trimmed, a
            # pattern fault) nor normalised as an id
            present = present & ~(control | formula)
        repairs.append((trimmed & present, "whitespace", None))
    if col.type == "id":
        scientific = present & scientific_ids(text, flags)
        if scientific.any():
            record_invalid(scientific, col, "scientific_id", raw_values, issues)
            present = present & ~scientific
        trimmed_text = text
        text, normalised = normalise_id(text, present, flags)
        if col.check == "cn_phone":
            text, phoned = normalise_phone(text, present)
            repairs.append((normalised | phoned, "normalised", PHONE_NORMALISED))
        else:
            repairs.append((normalised, "normalised", None))
        changed = normalised
        if col.zero_pad is not None:
            # Not a repair: the config asks it of every short number (all of a sheet's
            # ids, whose rows would all count as repaired). Two ids it makes one (42 and
            # 0042) still collide.
            text, padded = pad_zeros(text, present, col.zero_pad)
            changed = normalised | padded
        if locate is not None and changed.any():
            id_collisions(trimmed_text, text, changed, present, col, locate, raw_values, issues)
    elif col.check == "cn_phone":
        text, phoned = normalise_phone(text, present)
        repairs.append((phoned, "normalised", PHONE_NORMALISED))
    elif col.type not in TEXT_TYPES:
        numbers = col.type in ("int", "float")
        text, widened = normalise_width(text, present, unflagged="￥（）" if numbers else "")
        if numbers or col.type == "date":  # (an unpaid bill's 实际还款日期: —)
            worded = number_blank_words(text, present)  # 无, —, /: none, as a blank is
            if col.recode and worded.any():
                keys = pa.array([k for k, _ in col.recode], type=text.type)
                worded &= ~np.asarray(pc.is_in(text, keys).to_numpy(zero_copy_only=False))
            if worded.any():
                present = present & ~worded
                widened = widened & ~worded  # (a full-width －: a blank, not a repair)
                if col.required:
                    issues.add(worded, col.name, "missing_required", raw_values, DROPPED)
        repairs.append((widened, "normalised", None))
        if numbers:
            if col.unit is not None:
                text = without_unit(text, col.unit)
            if col.decimal == ",":
                text = with_decimal_point(text)
    values, failures = parse_values(text, present, col, config)
    for invalid, rule in failures:
        if rule == REPAIR_CASE:
            repairs.append((invalid & present, "normalised", "case of an allowed value normalised"))
        elif invalid.any():
            record_invalid(invalid, col, rule, raw_values, issues)
            if col.on_invalid == "blank":
                values = values.mask(invalid)
    values = _scaled(values, col, raw_values, issues)
    out_of_range = range_violations(values, col)
    if out_of_range is not None and out_of_range.any():
        record_invalid(out_of_range, col, "out_of_range", raw_values, issues)
        if col.on_invalid == "blank":
            values = values.mask(out_of_range)
    if col.type == "date":
        values = implausible_dates(values, col, dates or DateLimits(), raw_values, issues)
    # The repairs of values kept: one blanked or rejected later is listed once, with
    # what happened to it, not also as trimmed or normalised
    faulted = issues.faulted(col.name, len(text))
    for rows, rule, message in repairs:
        issues.add(rows & ~faulted, col.name, rule, raw_values, REPAIRED, message)
    return values


#: The message of a phone number ``check: cn_phone`` rewrote into its form.
PHONE_NORMALISED = "phone number normalised (+86, spaces, dashes or full-width digits)"


ARROW_TYPES = {
    "int": pa.int64(),
    "float": pa.float64(),
    "date": pa.timestamp("s"),
    "bool": pa.bool_(),
}


def _already_typed(kind: pa.DataType, col: ColumnSpec) -> bool:
    """True when the reader already parsed this column into its target type."""
    return col.type in ARROW_TYPES and kind == ARROW_TYPES[col.type]


def _other_date_type(kind: pa.DataType) -> bool:
    """A date type of a typed file other than the cleaner's own (timestamp[s]): a date,
    or a timestamp of another unit without a time zone (Parquet has no seconds unit, so
    a date column written from timestamp[s] reads back as timestamp[ms])."""
    return pa.types.is_date(kind) or (
        pa.types.is_timestamp(kind) and kind.tz is None and kind.unit != "s"
    )


def _days_as_seconds(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Dates or naive timestamps as timestamp[s] at the start of their day: the day the
    text path gave them (it formatted each as YYYY-MM-DD and parsed that), without
    formatting and parsing millions of dates."""
    if pa.types.is_timestamp(column.type):
        column = pc.floor_temporal(column, unit="day")
    return column.cast(pa.timestamp("s"))


def _clean_typed(
    column: pa.ChunkedArray | pa.Array,
    col: ColumnSpec,
    issues: Issues,
    dates: DateLimits | None = None,
) -> pd.Series:
    """The fast path: values Arrow parsed strictly; only blanks and ranges to check."""
    arr = column if isinstance(column, pa.Array) else _one_piece(column)
    missing = as_numpy(pc.is_null(arr))
    if col.required:
        issues.add(missing, col.name, "missing_required", arr, DROPPED)
    if col.type == "float":
        values = _series_of(arr.to_numpy(zero_copy_only=False).astype(np.float64, copy=False))
    elif col.type == "int":
        numbers = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False)
        values = pd.Series(pd.arrays.IntegerArray(numbers.astype(np.int64), missing))
    elif col.type == "date":
        values = _series_of(arr.to_numpy(zero_copy_only=False).astype("datetime64[s]", copy=False))
    else:
        flags = pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(bool)
        values = pd.Series(pd.arrays.BooleanArray(flags, missing))
    values = _scaled(values, col, arr, issues)
    out_of_range = range_violations(values, col)
    if out_of_range is not None and out_of_range.any():
        record_invalid(out_of_range, col, "out_of_range", arr, issues)
        if col.on_invalid == "blank":
            values = values.mask(out_of_range)
    if col.type == "date":
        values = implausible_dates(values, col, dates or DateLimits(), arr, issues)
    return values


def _scaled(values: pd.Series, col: ColumnSpec, raw_values: Values, issues: Issues) -> pd.Series:
    """A float column's values in its ``scale``'s unit (as read, without one). A value
    the factor takes past the largest float (``1e300`` in a column of 万元) is an
    ``invalid_number``, never an infinite amount."""
    if col.scale is None:
        return values
    scaled = values * col.scale
    overflow = np.isinf(scaled.to_numpy(dtype=np.float64, na_value=np.nan))
    if overflow.any():
        record_invalid(overflow, col, "invalid_number", raw_values, issues)
        if col.on_invalid == "blank":
            scaled = scaled.mask(overflow)
    return scaled


def _series_of(values: np.ndarray) -> pd.Series:
    """A Series of a column Arrow converted: its own array when the conversion made one
    (nulls filled in), a copy of a read-only view of Arrow's memory otherwise. pandas
    copies every array it is given by default, which made two copies of the first kind
    (a date column of 4.9M transactions: 39 MB each)."""
    return pd.Series(values, copy=not values.flags.writeable)
