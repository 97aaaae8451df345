"""Writing the indicator table (CSV, Parquet or a workbook, by the file extension),
atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from custrisk.io.atomic import atomic_path, output_format, output_path
from custrisk.io.excel_out import Sheet, write_workbook
from custrisk.io.frame_csv import write_escaped_csv
from custrisk.io.parquet_out import write_parquet
from custrisk.io.safe_csv import csv_encoding as parse_csv_encoding


def write_indicators(
    frame: pd.DataFrame, path: str | os.PathLike[str], *, csv_encoding: str | None = None
) -> Path:
    """Write an indicator table to ``path`` (temp file + rename, mode 0600).

    Parameters
    ----------
    frame : pandas.DataFrame
        Usually :attr:`IndicatorResult.frame`.
    path : str or path-like
        ``.csv`` (no index, text that a spreadsheet would run as a formula escaped) or
        ``.parquet``/``.pq``.
    csv_encoding : {"utf-8-sig", "utf-8"}, optional
        For CSV: UTF-8 with a BOM (the default, for Excel) or without.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    kind = output_format(path)
    target = Path(path)
    if kind == "csv":
        encoding = parse_csv_encoding(csv_encoding)
        with atomic_path(target) as tmp, tmp.open("wb") as handle:
            write_escaped_csv(frame, handle, encoding)
        return output_path(target)
    if kind == "xlsx":  # numbers as numbers, text as text (never a formula)
        return write_workbook(target, [Sheet("indicators", frame)])
    with atomic_path(target) as tmp:
        write_parquet(frame, tmp)
    return output_path(target)
