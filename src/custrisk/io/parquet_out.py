"""Parquet outputs: one writer for every table custrisk writes as Parquet."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def write_parquet(frame: pd.DataFrame, where: Any) -> None:
    """Write ``frame`` (without its index) as Parquet to a path or binary file ``where``.

    Columns of floating-point numbers are written plain, without a dictionary: PDs,
    impacts and indicators are nearly all distinct, so Arrow built a dictionary for
    each, found it too large and fell back, which took a third of the time of the
    details file (52 columns of 200,000 customers: 0.46 s against 0.33 s, 10% larger).
    Text, categories, ids and whole numbers keep their dictionaries. The values read
    back are the same.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    dictionary = [f.name for f in table.schema if not pa.types.is_floating(f.type)]
    pq.write_table(table, where, use_dictionary=dictionary)
