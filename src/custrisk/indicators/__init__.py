"""Indicators from YAML: aggregations over sources, derived expressions, credit fields.

>>> from custrisk.indicators import load_indicator_config, compute_indicators
>>> config = load_indicator_config()                     # doctest: +SKIP
>>> result = compute_indicators(workspace.frames, config)  # doctest: +SKIP
>>> result.frame, result.as_of, result.unavailable       # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from custrisk.indicators.as_of import data_period, resolve_as_of_of_counts
from custrisk.indicators.compute import (
    IndicatorResult,
    columns_read,
    compute_indicators,
    event_day_counts,
    resolve_as_of,
)
from custrisk.indicators.config import (
    default_config_path,
    load_indicator_config,
    parse_indicator_config,
)
from custrisk.indicators.output import write_indicators
from custrisk.indicators.spec import (
    AGGREGATIONS,
    DIRECTIONS,
    Aggregation,
    Indicator,
    IndicatorConfig,
    MissingPolicy,
    SourceSettings,
    Window,
)
from custrisk.indicators.summary import summarize_indicators
from custrisk.io.atomic import OUTPUT_FORMATS, output_format

if TYPE_CHECKING:
    from custrisk.indicators.transformer import IndicatorTransformer

__all__ = [
    "AGGREGATIONS",
    "DIRECTIONS",
    "Aggregation",
    "Indicator",
    "IndicatorConfig",
    "IndicatorResult",
    "IndicatorTransformer",
    "MissingPolicy",
    "OUTPUT_FORMATS",
    "SourceSettings",
    "Window",
    "columns_read",
    "compute_indicators",
    "data_period",
    "event_day_counts",
    "resolve_as_of",
    "resolve_as_of_of_counts",
    "default_config_path",
    "load_indicator_config",
    "output_format",
    "parse_indicator_config",
    "summarize_indicators",
    "write_indicators",
]


def __getattr__(name: str) -> Any:
    # scikit-learn is imported only when the transformer is used (keeps the CLI fast)
    if name == "IndicatorTransformer":
        from custrisk.indicators.transformer import IndicatorTransformer

        return IndicatorTransformer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
