"""Writing the indicator table (CSV or Parquet, by the file extension), atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from custrisk.errors import UsageError
from custrisk.io.atomic import atomic_path

#: File extensions -> output format.
OUTPUT_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def output_format(path: str | os.PathLike[str]) -> str:
    """``csv`` or ``parquet`` from the extension of ``path``.

    Raises
    ------
    UsageError
        For any other extension.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise UsageError(
            f"{path}: cannot tell the output format from the extension {suffix or '(none)'!r}",
            hint=f"name the file with one of {', '.join(OUTPUT_FORMATS)}",
        )
    return OUTPUT_FORMATS[suffix]


def write_indicators(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write an indicator table to ``path`` (temp file + rename, mode 0600).

    Parameters
    ----------
    frame : pandas.DataFrame
        Usually :attr:`IndicatorResult.frame`.
    path : str or path-like
        ``.csv`` (UTF-8, no index) or ``.parquet``/``.pq``.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    kind = output_format(path)
    target = Path(path)
    with atomic_path(target) as tmp:
        if kind == "csv":
            frame.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            pq.write_table(table, tmp)
    return target
