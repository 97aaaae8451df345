"""Plain-data summary of computed indicators (the CLI renders it)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from custrisk.indicators.compute import IndicatorResult
from custrisk.indicators.spec import IndicatorConfig

SUMMARY_COLUMNS = (
    "indicator",
    "label_en",
    "label_zh",
    "type",
    "status",
    "count",
    "missing_share",
    "min",
    "median",
    "max",
    "distinct",
)


def summarize_indicators(result: IndicatorResult, config: IndicatorConfig) -> pd.DataFrame:
    """One row per output indicator: non-missing count, missing share, min/median/max.

    Parameters
    ----------
    result : IndicatorResult
        From :func:`custrisk.indicators.compute_indicators`.
    config : IndicatorConfig
        The config it was computed with (for labels and types).

    Returns
    -------
    pandas.DataFrame
        Columns ``indicator, label_en, label_zh, type (number|category), status
        (ok|unavailable), count, missing_share, min, median, max, distinct`` (min/median/
        max for numbers, distinct for categories; NaN where not applicable).
    """
    rows = []
    total = len(result.frame)
    for indicator in config.indicators:
        if not indicator.output:
            continue
        column = result.frame[indicator.code]
        present = int(column.notna().sum())
        row = {
            "indicator": indicator.code,
            "label_en": indicator.label_en,
            "label_zh": indicator.label_zh,
            "type": "category" if indicator.categorical else "number",
            "status": "unavailable" if indicator.code in result.unavailable else "ok",
            "count": present,
            "missing_share": (total - present) / total if total else np.nan,
            "min": np.nan,
            "median": np.nan,
            "max": np.nan,
            "distinct": np.nan,
        }
        if indicator.categorical:
            row["distinct"] = float(column.nunique())
        elif present:
            values = column.to_numpy(dtype=np.float64)
            values = values[~np.isnan(values)]
            row["min"], row["median"], row["max"] = (
                float(values.min()),
                float(np.median(values)),
                float(values.max()),
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
