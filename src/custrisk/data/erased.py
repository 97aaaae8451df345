"""Rows of customers erased by ``custrisk forget`` dropped as the exports are read.

With the register of :mod:`custrisk.protect.erasure` active, every row of a source whose
customer id (the customer table's key, ``customer_id``, the source's ``customer_key``)
names a registered customer is taken out of the file's rows before cleaning, and so is a
line the reader could not parse that holds such an id in one of its fields: the erased
customer reaches no frame, reject, score, alert or report, and only the count is said.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from custrisk.config.sources import CUSTOMER_SOURCE, SourceSpec
from custrisk.io.readers import RawTable
from custrisk.protect.erasure import active_erasures

CUSTOMER_ID = "customer_id"


def _id_columns(spec: SourceSpec) -> set[str]:
    names = {CUSTOMER_ID}
    if spec.customer_key:
        names.add(spec.customer_key)
    if spec.name == CUSTOMER_SOURCE and spec.key:
        names.add(spec.key)
    return names


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
        values = raw.table.column(column).to_pylist()
        hits = erasures.erased(set(values))
        if hits:
            drop |= np.fromiter((v in hits for v in values), dtype=bool, count=len(values))
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
            if not erasures.erased(
                str(f).strip().strip('"')
                for f in (bad.cells or bad.text.split(delimiter))
                if f is not None
            )
        ]
