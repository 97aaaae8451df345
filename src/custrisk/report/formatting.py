"""Numbers to display text, per language: money, percentages, indicator values by unit.

Suffixes, currency symbols and the placeholder of a missing value come from the report
config; this module only decides the number of digits.
"""

from __future__ import annotations

import math
from typing import Any

from custrisk.report.config import ReportConfig


def finite(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (missing, NaN, infinite, not a number)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def points(value: Any) -> str:
    """A score in points: no thousands separator (``640 – 1000``, not ``1,000``); ``""``
    when missing."""
    number = finite(value)
    if number is None:
        return ""
    return f"{number:.0f}" if number == round(number) else f"{number:.1f}"


#: The most characters an amount takes in a report's tile before it is shown in the
#: config's units (``¥12,345,678,901`` overflowed the tile and was cut).
TILE_CHARS = 12


class Formatter:
    """Formats numbers for one language of one report config."""

    def __init__(self, config: ReportConfig, lang: str) -> None:
        self.config = config
        self.lang = lang
        self.missing = config.texts[lang]["missing"]
        self._money = config.money[lang]

    def money(self, value: Any) -> str:
        """``¥31,035`` (rounded to the unit)."""
        number = finite(value)
        if number is None:
            return self.missing
        sign = "-" if number < 0 else ""
        return f"{sign}{self._money.prefix}{abs(number):,.0f}{self._money.suffix}"

    def signed_money(self, value: Any) -> str:
        """``+¥5,000`` / ``-¥5,000`` / ``¥0``."""
        number = finite(value)
        if number is None:
            return self.missing
        text = self.money(abs(number))
        return f"+{text}" if number > 0 else (f"-{text}" if number < 0 else text)

    def _scaled(self, number: float) -> tuple[float, str]:
        for divisor, suffix in self._money.scales:
            if abs(number) >= divisor:
                return number / divisor, suffix
        return number, ""

    def money_big(self, value: Any) -> str:
        """Large amounts in the config's units: ``¥1,234.57万`` or ``¥12.35M``."""
        number = finite(value)
        if number is None:
            return self.missing
        scaled, unit = self._scaled(number)
        text = f"{abs(scaled):,.2f}" if unit else f"{abs(scaled):,.0f}"
        sign = "-" if number < 0 else ""
        return f"{sign}{self._money.prefix}{text}{unit}{self._money.suffix}"

    def money_tile(self, value: Any, *, signed: bool = False) -> str:
        """An amount for a tile a few centimetres wide: in full while it fits
        (``¥31,035``), else in the config's units (``¥123.46亿``), never cut short."""
        text = self.signed_money(value) if signed else self.money(value)
        number = finite(value)
        if number is None or len(text) <= TILE_CHARS:
            return text
        big = self.money_big(abs(number))
        return f"-{big}" if number < 0 else (f"+{big}" if signed else big)

    def money_round(self, value: Any) -> str:
        """A round amount for band labels: ``¥5万``, ``¥20k``, ``¥500``."""
        number = finite(value)
        if number is None:
            return self.missing
        scaled, unit = self._scaled(number)
        return f"{self._money.prefix}{scaled:,.6g}{unit}{self._money.suffix}"

    def percent(self, value: Any, digits: int = 1) -> str:
        number = finite(value)
        return self.missing if number is None else f"{number * 100:.{digits}f}%"

    def pd(self, value: Any) -> str:
        """A probability of default: two decimals of a percent (``1.93%``)."""
        return self.percent(value, 2)

    def integer(self, value: Any) -> str:
        number = finite(value)
        return self.missing if number is None else f"{round(number):,}"

    def decimal(self, value: Any, digits: int = 2) -> str:
        number = finite(value)
        return self.missing if number is None else f"{number:,.{digits}f}"

    def general(self, value: Any) -> str:
        """A number of unknown unit: four significant digits."""
        number = finite(value)
        if number is None:
            return self.missing if value is None or isinstance(value, float) else str(value)
        if number == round(number) and abs(number) < 1e9:
            return f"{round(number):,}"
        return f"{number:.4g}"

    def value(self, value: Any, unit: str | None) -> str:
        """An indicator value in its unit: ``12.3%``, ``15 天``, ``¥581/月``."""
        if isinstance(value, str):
            return value or self.missing
        number = finite(value)
        if number is None:
            return self.missing
        spec = self.config.units.get(unit or "")
        if spec is None:
            text = self.general(number)
            return f"{text} {unit}" if unit else text
        kind = spec.format
        if kind == "percent":
            text = self.percent(number)
        elif kind == "money":
            text = self.money(number)
        elif kind == "integer":
            text = self.integer(number)
        elif kind == "signed_integer":
            text = f"{round(number):+,}"
        elif kind == "decimal1":
            text = self.decimal(number, 1)
        else:
            text = self.decimal(number, 2)
        suffix = spec.suffix(self.lang)
        if not suffix:
            return text
        joiner = "" if self.lang == "zh" or suffix.startswith("/") else " "
        return f"{text}{joiner}{suffix}"
