"""Writing the indicator table (CSV, Parquet or a workbook, by the file extension),
atomically."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from custrisk.indicators.spec import IndicatorConfig
from custrisk.io.atomic import atomic_path, output_format, output_path
from custrisk.io.excel_out import Sheet, write_workbook
from custrisk.io.frame_csv import write_escaped_csv
from custrisk.io.parquet_out import write_parquet
from custrisk.io.safe_csv import csv_encoding as parse_csv_encoding

#: An amount's unit: a currency code, alone or per period (``CNY``, ``CNY/month``, ``USD``).
_CURRENCY = re.compile(r"[A-Z]{3}(/.*)?")


def write_indicators(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    csv_encoding: str | None = None,
    config: IndicatorConfig | None = None,
) -> Path:
    """Write an indicator table to ``path`` (temp file + rename, mode 0600).

    Parameters
    ----------
    frame : pandas.DataFrame
        Usually :attr:`IndicatorResult.frame`.
    path : str or path-like
        ``.csv`` (no index, text that a spreadsheet would run as a formula escaped),
        ``.xlsx`` or ``.parquet``/``.pq``.
    csv_encoding : {"utf-8-sig", "utf-8"}, optional
        For CSV: UTF-8 with a BOM (the default, for Excel) or without.
    config : IndicatorConfig, optional
        For a workbook: the indicators' units, which choose each column's number format
        (:func:`workbook_kinds`).

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
        return write_workbook(target, [Sheet("indicators", frame, workbook_kinds(frame, config))])
    with atomic_path(target) as tmp:
        write_parquet(frame, tmp)
    return output_path(target)


def workbook_kinds(frame: pd.DataFrame, config: IndicatorConfig | None) -> dict[str, str]:
    """The number format of each numeric column of an indicator table (kinds of
    :data:`custrisk.io.excel_out.NUMBER_FORMATS`), from the indicator's unit as the
    reports read it: a ``share`` as a percentage, an amount (``CNY``, ``CNY/month``) with
    thousands separators and two decimals, ``points`` as whole numbers; any other unit
    (days, counts, ratios, yes/no) as whole numbers with thousands separators when every
    value is whole, else with two decimals."""
    units: Mapping[str, str] = (
        {i.code: i.unit for i in config.indicators} if config is not None else {}
    )
    kinds: dict[str, str] = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column.dtype) or not pd.api.types.is_numeric_dtype(
            column.dtype
        ):
            continue
        unit = units.get(str(name), "").strip()
        if unit == "share":
            kinds[str(name)] = "share"
        elif _CURRENCY.fullmatch(unit):
            kinds[str(name)] = "amount"
        elif unit == "points":
            kinds[str(name)] = "integer"
        else:
            values = column.to_numpy(dtype="float64", na_value=np.nan)
            values = values[np.isfinite(values)]
            kinds[str(name)] = "count" if np.array_equal(values, np.round(values)) else "decimal"
    return kinds
