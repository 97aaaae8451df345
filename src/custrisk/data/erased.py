"""Rows of customers erased by ``custrisk forget`` dropped as the exports are read.

With the register of :mod:`custrisk.protect.erasure` active, every row of a source whose
customer id (the customer table's key, ``customer_id``, the source's ``customer_key``)
names a registered customer is taken out of the file's rows before cleaning, and so is a
line the reader could not parse that holds such an id in one of its fields: the erased
customer reaches no frame, reject, score, alert or report, and only the count is said.
An id is compared as cleaning writes it (:func:`cleaned_id`: ``ｃ００１２`` is ``C0012``),
the form the scores hold and ``custrisk forget`` records.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config.columns import ColumnSpec
from custrisk.config.sources import CUSTOMER_SOURCE, SourceSpec
from custrisk.data._arrays import as_numpy
from custrisk.data.text import normalise_id, normalise_phone, pad_zeros
from custrisk.io.readers import RawTable
from custrisk.protect.erasure import Erasures, active_erasures
from custrisk.protect.pseudonym import TOKEN

CUSTOMER_ID = "customer_id"


def _id_columns(spec: SourceSpec) -> set[str]:
    names = {CUSTOMER_ID}
    if spec.customer_key:
        names.add(spec.customer_key)
    if spec.name == CUSTOMER_SOURCE and spec.key:
        names.add(spec.key)
    return names


def cleaned_id(value: object, column: ColumnSpec | None = None) -> str:
    """An id as cleaning writes it (:func:`cleaned_ids`); a token as it is."""
    return cleaned_ids(pa.array([str(value)]), column)[0] or ""


def cleaned_ids(values: pa.Array, column: ColumnSpec | None = None) -> list[str | None]:
    """Ids (text) as cleaning writes them, by cleaning's own rules: trimmed, full-width
    to ASCII, no spaces, upper case, a ``check: cn_phone`` id in its form and a short
    number padded to the column's ``zero_pad``; a ``--pseudonymise`` token as it is."""
    text = pc.utf8_trim_whitespace(values)
    present = as_numpy(pc.is_valid(text)) & ~as_numpy(pc.match_substring_regex(text, TOKEN.pattern))
    text, _ = normalise_id(text, present)
    if column is not None and column.check == "cn_phone":
        text, _ = normalise_phone(text, present)
    if column is not None and column.zero_pad is not None:
        text, _ = pad_zeros(text, present, column.zero_pad)
    return text.to_pylist()


def _erased(erasures: Erasures, values: pa.Array, column: ColumnSpec | None = None) -> set[object]:
    """Those of ``values`` (distinct ids as read) whose cleaned form names an erased
    customer (:meth:`Erasures.erased` hashes each once)."""
    text = values if pa.types.is_string(values.type) else values.cast(pa.string())
    cleaned = dict(zip(values.to_pylist(), cleaned_ids(text, column), strict=True))
    hits = erasures.erased({c for c in cleaned.values() if c})
    return {v for v, c in cleaned.items() if v is not None and c in hits}


def _column_spec(spec: SourceSpec, name: str) -> ColumnSpec | None:
    return next((c for c in spec.columns if c.name == name), None)


def drop_erased(spec: SourceSpec, table_spec: SourceSpec, raw: RawTable) -> None:
    """Take the rows of erased customers out of ``raw`` (in place); nothing without a
    register."""
    erasures = active_erasures()
    if erasures is None:
        return
    wanted = _id_columns(spec)
    columns = [c for c in raw.table.column_names if table_spec.file_columns.get(c, c) in wanted]
    drop = np.zeros(raw.table.num_rows, dtype=bool)
    for column in columns:
        values = raw.table.column(column)
        if pa.types.is_dictionary(values.type):
            values = values.cast(values.type.value_type)
        declared = table_spec.file_columns.get(column, column)
        distinct = pc.unique(values.combine_chunks())  # (each id once)
        hits = _erased(erasures, distinct, _column_spec(spec, declared))
        if hits:
            found = pc.is_in(values, value_set=pa.array(list(hits), type=values.type))
            drop |= np.asarray(found.fill_null(False).to_numpy(), dtype=bool)
    if drop.any():
        keep = ~drop
        raw.table = raw.table.filter(pa.array(keep))
        raw.num_rows = raw.table.num_rows
        gone = set(raw.lines[drop].tolist())
        raw.lines = raw.lines[keep]
        raw.blanked = [cell for cell in raw.blanked if cell.line not in gone]
    if raw.bad_rows:
        delimiter = raw.delimiter or ","
        raw.bad_rows = [
            bad
            for bad in raw.bad_rows
            if not _erased(
                erasures,
                pa.array(
                    [
                        str(f).strip().strip('"')
                        for f in (bad.cells or bad.text.split(delimiter))
                        if f is not None
                    ],
                    type=pa.string(),
                ),
            )
        ]
