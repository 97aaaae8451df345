"""A report's own rows among an export's records: its header repeated (two exports
joined, a paged report), totals (合计, 小计, Total), notes (制表人：...), its groups'
captions (华东区 alone in 序号) and empty rows (``,,,,``), each rejected once as such
rather than as a customer or for its blank fields.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config.columns import TEXT_TYPES, header_key
from custrisk.config.sources import CUSTOMER_SOURCE, SourceSpec
from custrisk.data._arrays import as_numpy, text_array, to_text
from custrisk.data.infer_columns import row_number_header
from custrisk.data.issues import SKIPPED, Issues, Values
from custrisk.data.known_ids import KnownIds
from custrisk.data.text import normalised_id, note_words, totals_words
from custrisk.io.csv_reader import BadRow
from custrisk.io.readers import EXCEL_ERROR, RawTable


def ignored_label_columns(spec: SourceSpec) -> dict[str, str]:
    """``{header: header}`` of the customer table's ignored row numbers (``ignore:
    [序号]``), read for a report's 合计 or 制表人 label there (its first column) beside a
    blank id, and for nothing else. No other ignored column is read (民族 is left out not
    to be read; free text may hold personal data)."""
    if spec.name != CUSTOMER_SOURCE:
        return {}
    return {h: h for h in sorted(spec.left_out) if row_number_header(h)}


#: ``{ignored header: its text in each row}``
Ignored: TypeAlias = "dict[str, pa.Array]"


def split_ignored(spec: SourceSpec, rows: pa.Table) -> tuple[pa.Table, Ignored]:
    """The rows without the ignored columns read for their labels
    (:func:`ignored_label_columns`), and those columns' text by header."""
    wanted = ignored_label_columns(spec)
    names = [n for n in rows.column_names if n in wanted and n not in spec.file_columns]
    texts = {n: to_text(rows.column(n)).cast(pa.large_string()) for n in names}
    return rows.drop_columns(names), texts


def joined_ignored(parts: Sequence[Ignored], sizes: Sequence[int]) -> Ignored:
    """The ignored columns' text of several tables as one (null where a table lacks one)."""
    headers = sorted({h for part in parts for h in part})
    return {
        h: pa.concat_arrays(
            [
                part.get(h, pa.nulls(n, pa.large_string()))
                for part, n in zip(parts, sizes, strict=True)
            ]
        )
        for h in headers
    }


#: The rules a report's note alone in an ignored column was found by before: no value
#: read (a blank id among them)
_BLANK = frozenset({"missing_required", "blank_row"})


def _blank_key(spec: SourceSpec, out: pd.DataFrame) -> np.ndarray:
    """The rows without an id (every row, in a table whose ids are line numbers)."""
    assert spec.key is not None
    if spec.key == spec.row_number:
        return np.ones(len(out), dtype=bool)
    return np.array(out[spec.key].isna(), dtype=bool)  # (writable: callers narrow it)


def header_rows(
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
        issues.add(found, names[0], "header_row", out[names[0]], SKIPPED)


def blank_rows(spec: SourceSpec, out: pd.DataFrame, issues: Issues) -> None:
    """Reject the rows without a value in any column read (``,,,,,``: a sheet's empty
    rows as Excel saves them in a CSV; a workbook's are not read at all) as such, once:
    they were rejected for a blank id, or, in a table whose ids are line numbers, scored
    as customers with every feature blank. A row whose values were blanked as invalid
    is not one."""
    if spec.key is None or spec.key not in out.columns:
        return
    names = [c for c in out.columns if c != spec.row_number]
    if not names:
        return
    found = _blank_key(spec, out)
    for name in names:  # (column by column: a few rows at most are left after the first)
        if not found.any():
            return
        found &= out[name].isna().to_numpy()
    found &= ~issues.flagged(len(out), but=frozenset({"missing_required"}))
    if found.any():
        issues.instead(found)
        # (a rule of the whole row, as duplicate_row: no column, and no value to show)
        issues.add(found, "", "blank_row", lambda rows: np.full(len(rows), "", object), SKIPPED)


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


def totals_rows(
    spec: SourceSpec, out: pd.DataFrame, issues: Issues, ignored: Ignored | None = None
) -> None:
    """Reject the totals rows of a spreadsheet report (合计, 小计, Total) in the customer
    table: a row that sums the others is no customer to score. The label is looked for
    in the id column, or in every text column when the file has no id (line numbers),
    and in an ignored column (序号: ``ignored``, from :func:`split_ignored`) beside a
    blank id. A totals row is listed once, as such, not also for the blank fields it has."""
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
            issues.add(found, name, "total_row", values, SKIPPED)
            unfound &= ~found
    for header, text in (ignored or {}).items():
        found = totals_words(text) & unfound & _blank_key(spec, out)
        if found.any():
            issues.instead(found)
            issues.add(found, header, "total_row", text, SKIPPED)
            unfound &= ~found


def error_row_totals_label(bad: BadRow) -> str | None:
    """The totals label (合计) of a workbook row the reader refused for an Excel error
    cell, when its first filled cell is one: the report's totals row, whose SUM over a
    column holding #N/A is #N/A too, is skipped as a totals row, not rejected as a
    customer's row. ``None`` for any other row."""
    if bad.rule != EXCEL_ERROR or not bad.cells:
        return None
    first = next((cell for cell in bad.cells if cell is not None and cell.strip()), None)
    if first is None or not totals_words(pa.array([first], pa.large_string()))[0]:
        return None
    return first


def note_rows(
    spec: SourceSpec, out: pd.DataFrame, issues: Issues, ignored: Ignored | None = None
) -> None:
    """Reject the notes of a spreadsheet report in the customer table (制表人：张三, 备注：...,
    数据来源：核心系统 under the table): a row whose only value is such a note, in the id
    column or, in a table without ids, in any text column. It was scored as a customer
    with every feature blank, the note as its id. Listed once, as ``note_row``. A note in
    an ignored column (序号) is one when every column read is blank."""
    if spec.key is None:
        return
    others = [c.name for c in spec.columns if c.name != spec.row_number and c.name in out]
    for header, text in (ignored or {}).items():
        found = note_words(text) & _blank_key(spec, out) & ~issues.flagged(len(out), but=_BLANK)
        rows = np.flatnonzero(found)
        given = out.iloc[rows][others].notna().sum(axis=1).to_numpy()
        found[rows[given > 0]] = False  # (the note alone in its row)
        if found.any():
            issues.instead(found)
            issues.add(found, header, "note_row", text, SKIPPED)
    names = _label_columns(spec)
    found = np.zeros(len(out), dtype=bool)
    for name in names:
        found |= _labelled(out[name], note_words)
    if not found.any():
        return
    rows = np.flatnonzero(found)
    given = out.iloc[rows][others].notna().sum(axis=1).to_numpy()
    found[:] = False
    found[rows[given == 1]] = True  # the note alone in its row
    if found.any():
        issues.instead(found)
        label = next((n for n in names if (out[n].notna().to_numpy() & found).any()), names[0])
        issues.add(found, label, "note_row", out[label], SKIPPED)


def caption_rows(
    spec: SourceSpec, out: pd.DataFrame, issues: Issues, ignored: Ignored | None = None
) -> None:
    """Reject the captions of a spreadsheet report's groups (华东区 alone in its row above
    the group's customers) as such: in an ignored row-number column (序号), every column
    read blank, rather than as rows without a value (``,,,,``); or in the id column,
    every other column blank, the caption without a digit among ids that all have one,
    rather than scored as a customer with every feature blank. A totals label or a note
    is neither (:func:`totals_rows`, :func:`note_rows`)."""
    if spec.key is None:
        return
    others = [c.name for c in spec.columns if c.name != spec.row_number and c.name in out]
    unread = _blank_key(spec, out) & ~issues.flagged(len(out), but=_BLANK)
    rows = np.flatnonzero(unread)
    if rows.size and ignored:
        unread[rows[out.iloc[rows][others].notna().any(axis=1).to_numpy()]] = False
        for header, text in ignored.items():
            written = pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(text), ""), False)
            found = unread & as_numpy(written).astype(bool)
            if found.any():
                issues.instead(found)
                issues.add(found, header, "caption_row", text, SKIPPED)
                unread &= ~found
    if spec.key == spec.row_number or spec.column(spec.key).type not in TEXT_TYPES:
        return
    ids = out[spec.key]
    rest = [c for c in others if c != spec.key]
    if not rest:
        return
    alone = ids.notna().to_numpy() & ~issues.flagged(len(out), but=_BLANK)
    for name in rest:  # (column by column: a few rows at most are left after the first)
        if not alone.any():
            return
        alone &= out[name].isna().to_numpy()
    if not alone.any():
        return
    digits = as_numpy(pc.fill_null(pc.match_substring_regex(text_array(ids), r"\d"), False))
    coded = ids.notna().to_numpy() & ~alone
    found = alone & ~digits.astype(bool)
    if found.any() and coded.any() and digits[coded].mean() >= _CODED_IDS:
        issues.instead(found)
        issues.add(found, spec.key, "caption_row", ids, SKIPPED)


#: The share of a table's ids with a digit above which an id without one, alone in its
#: row, is a group's caption (华东区 among C0001, C0002, ...)
_CODED_IDS = 0.99


def linked_totals_rows(shown: Values, known: KnownIds, column: str, issues: Issues) -> None:
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
        issues.add(found, column, rule, shown, SKIPPED)
