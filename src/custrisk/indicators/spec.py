"""The indicator config's objects: windows, aggregations, indicators and the whole config,
frozen once loaded (loading and its errors: :mod:`custrisk.indicators.config`)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from custrisk.expr import (
    RESERVED_WORDS,
    Expression,
    ExprType,
)

#: Aggregations over the rows of a source.
AGGREGATIONS = (
    "count",
    "sum",
    "mean",
    "median",
    "min",
    "max",
    "std",
    "nunique",
    "first",
    "last",
    "days_since",
)
#: Aggregations that need numbers (conditions count as 1/0).
NUMERIC_AGGREGATIONS = ("sum", "mean", "median", "min", "max", "std")
#: Risk directions: how an indicator relates to risk (``none``: information only).
DIRECTIONS = ("higher_is_riskier", "higher_is_safer", "none")
#: Missing-value policies.
MISSING_POLICIES = ("keep", "fill")
#: ``days_since`` measures from the latest or the earliest date.
DAYS_SINCE_WHICH = ("latest", "earliest")
#: Window units: days, calendar months, calendar years.
WINDOW_UNITS = {"d": "days", "m": "months", "y": "years"}
#: Length of an average month in days, for per-month normalisation of day windows.
DAYS_PER_MONTH = 365.25 / 12
#: The name of the as-of date inside expressions.
AS_OF = "as_of"
#: The source with one row per customer; its columns are the "fields" of expressions.
CUSTOMER_SOURCE = "credit"
#: The customer key column; the first column of the result.
CUSTOMER_ID = "customer_id"
#: Names that cannot be indicator codes or derived columns.
RESERVED_NAMES = frozenset(RESERVED_WORDS | {AS_OF, CUSTOMER_ID})

_WINDOW = re.compile(r"(\d+)\s*([dmy])")


# ---------------------------------------------------------------------------------------
# frozen config objects


@dataclass(frozen=True)
class Window:
    """A time window ending at the as-of date: ``90d``, ``3m``, ``1y`` or ``all``.

    A window of ``N`` units covers the dates ``d`` with ``as_of - N units < d <= as_of``
    (months and years are calendar months and years).
    """

    text: str
    count: int | None
    unit: str | None

    @classmethod
    def parse(cls, text: Any) -> Window:
        """Parse ``"90d"``, ``"12m"``, ``"1y"`` or ``"all"``; ``ValueError`` otherwise."""
        raw = str(text).strip().lower() if isinstance(text, str | int) else ""
        if raw == "all":
            return cls("all", None, None)
        match = _WINDOW.fullmatch(raw)
        if not match or int(match.group(1)) <= 0:
            raise ValueError(text)
        return cls(f"{int(match.group(1))}{match.group(2)}", int(match.group(1)), match.group(2))

    @property
    def is_all(self) -> bool:
        """True for the unbounded window ``all``."""
        return self.count is None

    @property
    def months(self) -> float | None:
        """Length in months (days / 30.4375 for day windows); ``None`` for ``all``."""
        if self.count is None:
            return None
        if self.unit == "m":
            return float(self.count)
        if self.unit == "y":
            return 12.0 * self.count
        return self.count / DAYS_PER_MONTH

    def before(self, day: dt.date) -> dt.date | None:
        """``day`` minus this window's length (``None`` for ``all``); never before
        0001-01-01 (a window reaching further back starts there)."""
        if self.count is None:
            return None
        if self.unit == "d":
            if self.count >= (day - dt.date.min).days:
                return dt.date.min
            return day - dt.timedelta(days=self.count)
        months = self.count * (12 if self.unit == "y" else 1)
        total = day.year * 12 + (day.month - 1) - months
        year, month = divmod(total, 12)
        if year < dt.MINYEAR:
            return dt.date.min
        month += 1
        last_day = _days_in_month(year, month)
        return dt.date(year, month, min(day.day, last_day))

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class MissingPolicy:
    """What to do with a missing value: ``keep`` it (NaN) or ``fill`` it with ``value``."""

    action: str = "keep"
    value: float | str | None = None

    def describe(self) -> str:
        """``keep`` or ``fill 0``."""
        return "keep" if self.action == "keep" else f"fill {self.value!r}"


@dataclass(frozen=True)
class Aggregation:
    """An aggregation of a source's rows per customer."""

    source: str
    func: str
    column: str | None
    window: Window
    offset: Window | None = None
    filter: Expression | None = None
    per_month: bool = False
    which: str = "latest"


@dataclass(frozen=True)
class Indicator:
    """One indicator: what it means (labels, unit, risk direction) and how it is computed.

    ``kind`` is ``aggregate`` (over a source's rows), ``expression`` (over other
    indicators and credit fields) or ``field`` (a credit column passed through).
    """

    code: str
    label_zh: str
    label_en: str
    unit: str
    description: str
    direction: str
    missing: MissingPolicy
    kind: str
    value_type: ExprType
    output: bool = True
    aggregation: Aggregation | None = None
    expression: Expression | None = None
    field: str | None = None
    depends_on: tuple[str, ...] = ()
    key: str = ""

    @property
    def categorical(self) -> bool:
        """True for text-valued (categorical) indicators such as ``region``."""
        return self.value_type is ExprType.STRING

    def label(self, language: str = "en") -> str:
        """The label in ``"en"`` or ``"zh"``."""
        return self.label_zh if language == "zh" else self.label_en


@dataclass(frozen=True)
class SourceSettings:
    """Per-source settings: the date column windows use, and derived row columns."""

    name: str
    date: str | None = None
    derived: tuple[tuple[str, Expression], ...] = ()

    def derived_expression(self, name: str) -> Expression | None:
        """The expression of derived column ``name`` (``None`` if not derived)."""
        return dict(self.derived).get(name)


@dataclass(frozen=True)
class IndicatorConfig:
    """A validated indicator config.

    Attributes
    ----------
    path : str
        The file it was read from (for messages).
    as_of : datetime.date or None
        A fixed as-of date, or ``None`` to use the latest event date in the data.
    sources : mapping of str to SourceSettings
        Settings of every source known to the sources config.
    indicators : tuple of Indicator
        In config order (the order of the output columns).
    order : tuple of str
        Evaluation order: every indicator after the indicators it uses.
    columns : mapping
        ``{source: {column: ExprType}}`` from the sources config.
    """

    path: str
    as_of: dt.date | None
    sources: Mapping[str, SourceSettings]
    indicators: tuple[Indicator, ...]
    order: tuple[str, ...]
    columns: Mapping[str, Mapping[str, ExprType]] = field(repr=False)

    def __getitem__(self, code: str) -> Indicator:
        for indicator in self.indicators:
            if indicator.code == code:
                return indicator
        raise KeyError(code)

    def __contains__(self, code: object) -> bool:
        return any(indicator.code == code for indicator in self.indicators)

    @property
    def codes(self) -> tuple[str, ...]:
        """All indicator codes, in config order."""
        return tuple(indicator.code for indicator in self.indicators)

    @property
    def output_codes(self) -> tuple[str, ...]:
        """Codes of the indicators written to the output (``output: true``)."""
        return tuple(indicator.code for indicator in self.indicators if indicator.output)


# ---------------------------------------------------------------------------------------


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (dt.date(year, month + 1, 1) - dt.date(year, month, 1)).days
