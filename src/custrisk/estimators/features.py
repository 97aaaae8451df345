"""Feature metadata the models use: kind, risk direction, monotonic constraint, labels.

The indicator engine supplies one :class:`FeatureSpec` per indicator (from
``configs/indicators.yaml``); :func:`feature_specs_from_frame` gives neutral defaults
for a bare DataFrame (numeric or categorical by dtype, no direction, the code as label).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from custrisk.errors import ConfigError, DataError

__all__ = [
    "DIRECTIONS",
    "KINDS",
    "MISSING",
    "MONOTONIC",
    "OTHER",
    "FeatureSpec",
    "feature_specs_from_frame",
    "feature_specs_from_indicators",
    "resolve_specs",
]

#: Feature kinds.
KINDS = ("numeric", "categorical")
#: A tree's category codes for a category unseen in training and for a blank (here, not
#: in the tree's module, so that reading a model's categories needs no scikit-learn).
OTHER = "(other)"
MISSING = "(missing)"
#: Risk directions (the same values as the indicator config).
DIRECTIONS = ("higher_is_riskier", "higher_is_safer", "none")
#: Trends of the bad rate as the feature value grows ("peak": rises then falls).
MONOTONIC = ("auto", "increasing", "decreasing", "peak", "valley", "none")


@dataclass(frozen=True)
class FeatureSpec:
    """What a model needs to know about one feature.

    Parameters
    ----------
    code : str
        The column name (indicator code).
    kind : {"numeric", "categorical"}
        Numeric features are binned by value ranges, categorical ones by category.
    direction : {"higher_is_riskier", "higher_is_safer", "none"}
        The expected risk direction of a numeric feature.
    monotonic : {"auto", "increasing", "decreasing", "peak", "valley", "none"}
        The trend of the bad rate as the value grows (``peak``: rises then falls;
        ``valley``: falls then rises). ``auto`` follows ``direction`` (riskier:
        increasing, safer: decreasing); with direction ``none`` the binning chooses the
        trend from the data. ``none``: no constraint. Ignored for categorical features.
    label_zh, label_en : str
        Labels shown in points tables and reason codes (default: the code).
    unit : str
        Unit of the raw value, for reports.
    """

    code: str
    kind: str = "numeric"
    direction: str = "none"
    monotonic: str = "auto"
    label_zh: str = ""
    label_en: str = ""
    unit: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not self.code:
            raise ConfigError(
                f"The 'code' parameter of FeatureSpec must be a non-empty str. "
                f"Got {self.code!r} instead."
            )
        for name, allowed in (
            ("kind", KINDS),
            ("direction", DIRECTIONS),
            ("monotonic", MONOTONIC),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(
                    f"The '{name}' parameter of FeatureSpec('{self.code}') must be one of "
                    f"{', '.join(allowed)}. Got {value!r} instead."
                )
        for name in ("label_zh", "label_en", "unit"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(
                    f"The '{name}' parameter of FeatureSpec('{self.code}') must be a str. "
                    f"Got {getattr(self, name)!r} instead."
                )
        if not self.label_zh:
            object.__setattr__(self, "label_zh", self.label_en or self.code)
        if not self.label_en:
            object.__setattr__(self, "label_en", self.code)

    @property
    def trend(self) -> str | None:
        """The required bad-rate trend (increasing, decreasing, peak, valley) or ``None``."""
        if self.kind != "numeric":
            return None
        if self.monotonic == "auto":
            return {"higher_is_riskier": "increasing", "higher_is_safer": "decreasing"}.get(
                self.direction
            )
        return None if self.monotonic == "none" else self.monotonic

    @property
    def trend_from_data(self) -> bool:
        """Whether the binning chooses the trend from the data (auto, no direction)."""
        return self.kind == "numeric" and self.monotonic == "auto" and self.direction == "none"

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dict of the fields."""
        return {
            "code": self.code,
            "kind": self.kind,
            "direction": self.direction,
            "monotonic": self.monotonic,
            "label_zh": self.label_zh,
            "label_en": self.label_en,
            "unit": self.unit,
        }


def _is_numeric_dtype(dtype: Any) -> bool:
    return bool(pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype))


def feature_specs_from_frame(X: pd.DataFrame) -> dict[str, FeatureSpec]:
    """Neutral specs for every column of ``X``: numeric or categorical by dtype.

    Numeric (including boolean) dtypes give numeric features; ``str``, object and
    category dtypes give categorical ones. Directions are ``none`` (no monotonic
    constraint) and labels are the column names.

    Parameters
    ----------
    X : pandas.DataFrame
        The features.

    Returns
    -------
    dict of str to FeatureSpec
        In column order.
    """
    if not isinstance(X, pd.DataFrame):
        raise DataError(f"X must be a pandas DataFrame, got {type(X).__name__}")
    return {
        str(code): FeatureSpec(
            code=str(code),
            kind="numeric" if _is_numeric_dtype(X[code].dtype) else "categorical",
        )
        for code in X.columns
    }


def feature_specs_from_indicators(indicators: Iterable[Any]) -> dict[str, FeatureSpec]:
    """Specs from indicator definitions (``custrisk.indicators`` ``Indicator`` objects).

    Duck-typed: every item needs ``code``, ``direction``, ``label_zh``, ``label_en``,
    ``unit`` and a boolean ``categorical``. Indicators with ``output`` false (computed
    only for other expressions) are skipped.
    """
    specs: dict[str, FeatureSpec] = {}
    for indicator in indicators:
        if not getattr(indicator, "output", True):
            continue
        categorical = bool(getattr(indicator, "categorical", False))
        specs[indicator.code] = FeatureSpec(
            code=indicator.code,
            kind="categorical" if categorical else "numeric",
            direction=indicator.direction,
            label_zh=getattr(indicator, "label_zh", ""),
            label_en=getattr(indicator, "label_en", ""),
            unit=getattr(indicator, "unit", "") or "",
        )
    return specs


def resolve_specs(
    X: pd.DataFrame, specs: Mapping[str, FeatureSpec] | Iterable[FeatureSpec] | None
) -> dict[str, FeatureSpec]:
    """The spec of every column of ``X``: the given one, else a default from the dtype.

    Specs for columns absent from ``X`` are ignored (the indicator config may describe
    more indicators than a model uses).

    Raises
    ------
    ConfigError
        If ``specs`` is not a mapping of code to FeatureSpec (or an iterable of them), or
        a key differs from its spec's code.
    DataError
        If a numeric feature's column holds values that are not numbers.
    """
    given: dict[str, FeatureSpec] = {}
    if specs is not None:
        items: Iterable[Any] = (
            specs.items()
            if isinstance(specs, Mapping)
            else ((getattr(spec, "code", None), spec) for spec in specs)
        )
        for key, spec in items:
            if not isinstance(spec, FeatureSpec):
                raise ConfigError(
                    "The 'specs' parameter must be a mapping of code to FeatureSpec. "
                    f"Got {type(spec).__name__} for {key!r} instead."
                )
            if key != spec.code:
                raise ConfigError(
                    f"The 'specs' key {key!r} differs from its FeatureSpec code {spec.code!r}."
                )
            given[spec.code] = spec
    defaults = feature_specs_from_frame(X)
    resolved: dict[str, FeatureSpec] = {}
    for code, default in defaults.items():
        spec = given.get(code, default)
        if spec.kind == "numeric" and default.kind != "numeric":
            _check_numeric_column(X[code], code)
        resolved[code] = spec
    return resolved


def _check_numeric_column(column: pd.Series, code: str) -> None:
    converted = pd.to_numeric(column, errors="coerce")
    bad = converted.isna() & column.notna()
    if bool(bad.any()):
        examples = ", ".join(repr(v) for v in column[bad].unique()[:3])
        raise DataError(
            f"the numeric feature holds values that are not numbers ({examples})",
            column=code,
            hint="declare it categorical or clean the values",
        )


def numeric_values(column: pd.Series) -> np.ndarray:
    """A float64 NumPy copy of a column, missing values as NaN.

    Raises
    ------
    DataError
        If a non-missing value is not a number (e.g. text in a numeric feature).
    """
    if _is_numeric_dtype(column.dtype):
        return column.to_numpy(dtype="float64", na_value=np.nan, copy=True)
    _check_numeric_column(column, str(column.name))
    return pd.to_numeric(column, errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan, copy=True
    )


def is_missing(value: object) -> bool:
    """True for ``None``, NaN, ``pd.NA`` and ``pd.NaT`` (the scalar missing values)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return False


def category_text(value: object) -> str:
    """The text a categorical value is matched by (fit, batch and single scoring alike)."""
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, str) else str(value)
