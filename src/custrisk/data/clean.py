"""Validate and clean one source (:func:`clean_source`): the headers checked and mapped
to the declared columns, each column cleaned (:mod:`custrisk.data.clean_columns`, two at a time
in threads), then the checks across rows: a report's own rows
(:mod:`custrisk.data.report_rows`), duplicates, orphans among the customer table's ids
(:mod:`custrisk.data.known_ids`), and the customers none of whose rows was kept.

Nothing is lost silently: each dropped or repaired row yields an issue (source, file,
line, column, rule, value, action) that ends up in ``rejects.csv``.
"""

from __future__ import annotations

import contextvars
import csv
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from custrisk.config._yaml import join_limited
from custrisk.config.columns import TEXT_TYPES, ColumnSpec
from custrisk.config.sources import CUSTOMER_SOURCE, SourcesConfig, SourceSpec
from custrisk.data._arrays import to_text
from custrisk.data.clean_columns import (
    clean_column,
    clean_text,
    dictionary_text,
    is_text,
    one_piece,
)
from custrisk.data.issues import (
    BLANKED,
    DROPPED,
    NOT_ROWS,
    REPAIRED,
    RULE_TEXT,
    SKIPPED,
    Issues,
    RejectedKeys,
    Values,
    bad_row_issues,
    issues_to_frame,
    locator,
    pick_values,
    with_values_typed,
)
from custrisk.data.known_ids import KnownIds, encode_among
from custrisk.data.orphans import Orphans
from custrisk.data.report_rows import (
    blank_rows,
    caption_rows,
    error_row_totals_label,
    header_rows,
    joined_ignored,
    linked_totals_rows,
    note_rows,
    split_ignored,
    totals_rows,
)
from custrisk.data.rows import duplicates, maybe_repeated_keys, row_checks
from custrisk.errors import DataError
from custrisk.io.csv_reader import BadRow
from custrisk.io.header import shown_names
from custrisk.io.memory import release_memory
from custrisk.io.readers import EXCEL_ERROR, BlankedCell, RawTable
from custrisk.privacy import mask_pii_text

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
    #: The report's own rows taken out (blank rows, totals, notes, its header repeated):
    #: rows in = rows kept + rows rejected + rows skipped
    rows_skipped: int = 0
    #: Positions of the kept rows among the rows of the tables (in order), so that an
    #: engine cleaning a source in parts can tell where each kept row came from.
    kept_rows: np.ndarray | None = None
    #: The orphan check's counts and first ids (``None``: no check, not a linked source).
    orphans: Orphans | None = None
    #: Of the customer table: the customers none of whose rows was kept, each with its
    #: first rejected row (their rows in other sources are ``customer_rejected``).
    rejected_keys: RejectedKeys | None = None
    #: The headers a file wrote otherwise than the config declares them (traditional
    #: characters, case, width: 地區 for 地区), by (file as the rejects name it, column):
    #: the rejects show the header as the user's file has it.
    headers: dict[tuple[str, str], str] = field(default_factory=dict)


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
    parts = []
    ignored_parts = []  # (the text of ignored columns read for a report's labels: 序号)
    for table_spec, table in zip(specs, tables, strict=True):
        rows, ignored_texts = split_ignored(table_spec, table.release())
        ignored_parts.append(ignored_texts)
        parts.append(
            _canonical_table(table_spec, table, rows, warnings, stacked=table_specs is not None)
        )
        del rows  # (held here, the raw text would outlive its cleaning: 200 MB at 200k)
    ignored = joined_ignored(ignored_parts, [p.num_rows for p in parts])
    del ignored_parts
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
        and is_text(raw_columns[spec.customer_key].type)
    )
    # Raw values of the key columns are kept to show in rejects after typing: a text key
    # as its cleaned values and the raw text of the rows cleaning changed (set once the
    # column is cleaned), so that the raw column need not be held.
    text_key = (
        spec.key is not None
        and spec.column(spec.key).type in TEXT_TYPES
        and is_text(raw_columns[spec.key].type)
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
                encode_among(column, credit_ids)
                if len(column) >= len(credit_ids)
                else dictionary_text(one_piece(column))
            )
        else:
            column = one_piece(column)
        values = clean_column(
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
        blank_rows(spec, out, issues)
        header_rows(spec, specs, tables, out, file_of, issues)
    if spec.name == CUSTOMER_SOURCE and n:
        totals_rows(spec, out, issues, ignored)
        note_rows(spec, out, issues, ignored)
        caption_rows(spec, out, issues, ignored)
    elif by_value and n:
        assert credit_ids is not None and spec.customer_key
        linked_totals_rows(kept_raw[spec.customer_key], credit_ids, spec.customer_key, issues)
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
            warnings=warnings,
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
    bad_frame = bad_row_issues(spec.name, tables, error_row_totals_label)
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
    skipped = issues.skipped & issues.dropped
    bad_skipped = int((bad_frame["action"] == SKIPPED).sum()) if len(bad_frame) else 0
    rejected = int((issues.dropped & ~skipped).sum()) + len(bad_frame) - bad_skipped
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
        rows_skipped=int(skipped.sum()) + bad_skipped,
        kept_rows=np.flatnonzero(alive),
        orphans=orphans,
        rejected_keys=rejected_keys,
        headers={
            (table.shown_name, table_spec.rename.get(declared, declared)): written
            for table_spec, table in zip(specs, tables, strict=True)
            for written, declared in table.folded
        },
    )


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
    # customer whose rows were rejected; nor, in a table whose ids are its line numbers,
    # a copied row: its customer is the row it copies, kept)
    no_customer = NOT_ROWS | ({"duplicate_row"} if spec.key == spec.row_number else set())
    totals = np.asarray([rule in no_customer for rule in rules] + [False], dtype=bool)[first]
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
        if error_row_totals_label(bad) is not None:
            continue  # (合计: no customer)
        if bad.cells or bad.rule == EXCEL_ERROR:  # (the row's cells: a workbook's, a query's)
            cell = bad.cells[at] if at < len(bad.cells) else None
            if cell is not None:
                found.append((bad, cell))
            continue
        try:
            fields = next(csv.reader([bad.text], delimiter=table.delimiter), [])
        except csv.Error:
            continue
        if at < len(fields):
            found.append((bad, fields[at]))
    if not found:
        return []
    key_issues = Issues(len(found))
    text = pa.array([value for _, value in found], type=pa.large_string())
    keys = clean_text(text, spec.column(spec.key), config, key_issues)
    usable = ~key_issues.dropped & keys.notna().to_numpy()
    return [
        (bad, key) for (bad, _), key, ok in zip(found, keys.tolist(), usable, strict=True) if ok
    ]


#: Rows from which a source's columns are cleaned in two threads: a few rows (a record
#: scored over HTTP, a small export) are cleaned in less time than threads take to start.
_THREADS_FROM = 1 << 16
#: Headers matched only folded that are warned about one line each; more are one line.
_FOLDED_APART = 3


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
    if len(table.folded) > _FOLDED_APART:
        # (a Hong Kong or Taiwan export's every header: one line, not one per column)
        pairs = [f"{shown_names([h])!r} as '{d}'" for h, d in table.folded]
        warnings.append(
            f"{table.shown_name}: {len(pairs)} headers read as the declared columns they "
            "differ from only in case, character width, traditional characters or spaces "
            f"and line breaks: {join_limited(pairs)}"
        )
    else:
        for header, declared in table.folded:
            warnings.append(
                f"{table.shown_name}: header {shown_names([header])!r} read as the declared "
                f"column '{declared}' (they differ in case, character width, traditional "
                "characters or spaces and line breaks)"
            )
    unexpected = [
        c
        for c in [*table.unmatched, *(c for c in names if c not in spec.column_names)]
        # (a flat table's ignored header is kept with its personal data masked)
        if c not in spec.left_out and mask_pii_text(c) not in spec.left_out
    ]
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
