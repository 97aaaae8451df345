"""Tests on a flat table's text values, for :mod:`custrisk.data.infer`: numbers as written
(thousands separators, a currency sign, a unit such as 岁 or 个月), decimal commas, dates
and the order of day and month in dates with the year last, phone numbers and e-mail
addresses."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence

import numpy as np

from custrisk.config.columns import COUNT_UNITS, unit_spellings
from custrisk.data.parse import FOREIGN_AMOUNT_PATTERN, currency_shown, decorated_number
from custrisk.data.text import DECIMAL_COMMA_NUMBER, DOTTED_THOUSANDS
from custrisk.io.cells import excel_serial_date

#: Share of the non-blank values that must parse for a column to be typed a number or date.
NUMBER_SHARE = 0.95

NUMBER = re.compile(r"[+-]?(?:[1-9]\d{0,2}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][+-]?\d+)?|[+-]?\.\d+")
_INT = re.compile(r"[+-]?(?:[1-9]\d{0,2}(?:,\d{3})+|\d+)(?:\.0*)?")
_DATE = re.compile(
    r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}|\d{8}"
    r"|\d{4}年\d{1,2}月\d{1,2}日)"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?"  # a time of day, as exports stamp records
    r"|\d{4}[-/]\d{1,2}|\d{4}年\d{1,2}月"  # a month (开户年月 2019-05): its first day
)
#: Date-and-time layouts of exports that stamp records (创建时间, 申请时间): the day counts.
DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
)
#: Month layouts of a table's dates (开户年月 ``2019-05``, ``2019年5月``): read as the
#: month's first day, tried after the day layouts.
MONTH_FORMATS = ("%Y-%m", "%Y/%m", "%Y年%m月")
#: Dates with the year last (17/05/2023 written in Europe, 5/17/2023 by an American
#: Excel): which of day and month comes first is told by a value over 12 in one place
#: and in no value in the other (_day_first).
_YEAR_LAST = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2\d{4}( \d{1,2}:\d{2}(:\d{2})?)?")
_DATE_HEADER = re.compile(r"date|day|_dt$|time|日期|时间|年月日", re.IGNORECASE)
PHONE = re.compile(r"(?:\+?86)?1[3-9]\d{9}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")


def pattern_share(values: Sequence[str], pattern: re.Pattern[str]) -> float:
    if not values:
        return 0.0
    return sum(1 for v in values if pattern.fullmatch(v)) / len(values)


def is_whole_number(value: str) -> bool:
    """Whether a value is a whole number as written (``1,200``, ``¥1,200.00``; never a
    percentage)."""
    if _INT.fullmatch(value):
        return True
    found = decorated_number(value)
    return found is not None and found[1] != "%" and found[0].is_integer()


def number_of(value: str) -> float | None:
    """A value as the number cleaning reads it (thousands separators, a currency sign
    or unit, a percentage's hundredth), or ``None``: a comma only between thousands
    (``0,614`` is none, as cleaning rejects it)."""
    if "," not in value or NUMBER.fullmatch(value):
        try:
            return float(value.replace(",", ""))
        except ValueError:
            pass
    found = decorated_number(value)
    return None if found is None else found[0]


def percent_text(values: Sequence[str]) -> str | None:
    """One of a number column's values written as a percentage (``16.3%``), when most of
    them are: the column holds fractions (16.3% is read as 0.163) to be shown as percents
    again; ``None`` otherwise."""
    sample = values[:5000]
    found = [v for v in sample if (number := decorated_number(v)) and number[1] == "%"]
    return found[0] if found and 2 * len(found) > len(sample) else None


#: A header naming its numbers as percentages: ``Utilisation %``, ``逾期率(%)``,
#: ``使用率％``, ``百分比``, ``Usage pct``, ``percent used``.
_PERCENT_HEADER = re.compile(r"%|百分比|\bper ?cent\b|\bpct\b", re.IGNORECASE)


def percent_points(header: str, values: Sequence[str]) -> str | None:
    """One of a number column's values, when its header names percentages and most of
    its numbers are written as percentage points (``42.7`` under ``Utilisation %``:
    42.7 %, to be read as the fraction 0.427); ``None`` otherwise: a header without a
    percent, or fractions already (``0.427``: at most half the numbers other than 0
    are above 1.5 or below -1.5; 0 says nothing of a scale, as in the policy's share
    check, :mod:`custrisk.policy.shares`)."""
    if not _PERCENT_HEADER.search(unicodedata.normalize("NFKC", header)):
        return None
    points: list[str] = []
    numbers = 0
    for value in values[:5000]:
        try:
            number = float(value.replace(",", ""))
        except ValueError:
            continue
        if number == 0 or number != number:  # (0, nan: no scale)
            continue
        numbers += 1
        if abs(number) > 1.5:
            points.append(value)
    return points[0] if points and 2 * len(points) > numbers else None


#: A number and the unit written after it (``35岁``, ``36 个月``, ``3次``).
_WITH_UNIT = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(\D{1,6})")


def count_unit(values: list[str]) -> tuple[str | None, list[str]]:
    """The one unit of :data:`COUNT_UNITS` a column's numbers are written with, and its
    values without it: some values carry it (an age typed 41岁 in a quarter of the rows,
    41 in the others), and every other one is a plain number (but for a few in another
    unit, left for cleaning to reject). ``(None, values)`` when the values are numbers
    in several such units (年 and 个月),
    ``(None, [])`` otherwise."""
    sample = values[:5000]
    if not sample:
        return None, []
    units: dict[str, int] = {}
    plain = 0
    for value in sample:
        found = _WITH_UNIT.fullmatch(value)
        if found is not None and found[2] in COUNT_UNITS:
            units[found[2]] = units.get(found[2], 0) + 1
        elif NUMBER.fullmatch(value):
            plain += 1
    carried = sum(units.values())
    if not units or carried + plain < NUMBER_SHARE * len(sample):
        return None, []
    groups: dict[frozenset[str], int] = {}  # (岁 and 周岁, 歲 are one unit; 年 and 个月 not)
    for found_unit, n in units.items():
        group = frozenset(unit_spellings(found_unit))
        groups[group] = groups.get(group, 0) + n
    ranked = sorted(groups.values(), reverse=True)
    others = carried - ranked[0]
    if others and (ranked[1] == ranked[0] or plain + ranked[0] < NUMBER_SHARE * len(sample)):
        return None, values
    spellings = next(g for g, n in groups.items() if n == ranked[0])
    unit = max(spellings & units.keys(), key=lambda u: (units[u], -COUNT_UNITS.index(u)))
    # (a few values in another unit, 3年 among months, are rejected while cleaning)
    return unit, [_without(v, spellings) for v in values]


def _without(value: str, units: Collection[str]) -> str:
    found = _WITH_UNIT.fullmatch(value)
    return found[1] if found is not None and found[2] in units else value


def with_unit(values: list[str], unit: str) -> str:
    """A value written as a number and ``unit`` (not 1e308个月, which cleaning rejects)."""
    read = (v for v in values if (found := _WITH_UNIT.fullmatch(v)) and found[2] == unit)
    return next(read, unit)


def several_units(values: list[str]) -> str:
    found = sorted(
        {m[2] for v in values[:5000] if (m := _WITH_UNIT.fullmatch(v)) and m[2] in COUNT_UNITS}
    )
    return (
        f"numbers written in several units ({', '.join(found)}): export them in one unit "
        "to use them"
    )


_FOREIGN = re.compile(FOREIGN_AMOUNT_PATTERN)


def foreign_amounts(values: list[str]) -> str | None:
    """Why a column is no feature when its values are amounts in a foreign currency
    (``USD 35.00``, ``HK$1,200``) in 95% of the rows (plain numbers allowed among them):
    never converted, so not read, rather than called free text; ``None`` otherwise."""
    sample = values[:5000]
    found = [m for v in sample if (m := _FOREIGN.fullmatch(v)) and (m["before"] or m["after"])]
    if not found:  # (most columns: their plain numbers need no counting)
        return None
    plain = sum(1 for v in sample if NUMBER.fullmatch(v))
    if len(found) + plain < NUMBER_SHARE * len(sample):
        return None
    named = [m["before"] or m["after"] for m in found]
    currency = max(set(named), key=named.count)
    return (
        f"amounts in a foreign currency ({currency_shown(currency)}, e.g. {found[0].group()!r}): "
        "custrisk does not convert currencies; convert them to 元 in the table to use them"
    )


def decimal_commas(texts: dict[str, list[str]]) -> bool:
    """Whether a table writes its numbers with decimal commas: a column's values are
    such numbers in 95% of its rows (plain whole numbers allowed among them), some with
    other than three digits after the comma (``1,234`` alone could be a thousand), and
    no column holds numbers with a decimal point."""
    found = False
    for values in texts.values():
        sample = values[:5000]
        if not sample:
            continue
        commas = [v for v in sample if DECIMAL_COMMA_NUMBER.fullmatch(v)]
        if any(_POINT_DECIMAL.fullmatch(v) for v in sample[:500]):
            return False
        plain = sum(
            1 for v in sample if v.isdigit() or DOTTED_THOUSANDS.fullmatch(v.removesuffix("%"))
        )
        if len(commas) + plain >= NUMBER_SHARE * len(sample) and any(
            len(v.rstrip("%").rsplit(",", 1)[1]) != 3 for v in commas
        ):
            found = True
    return found


#: A number with a decimal point (``0.614``, ``1234.5``): not a decimal-comma table.
_POINT_DECIMAL = re.compile(r"[+-]?\d+\.\d{1,2}|[+-]?0\.\d+|[+-]?\d+\.\d{4,}")


#: How each order of day and month in dates with the year last is said.
DATE_ORDER_SHOWN = {"day": "day first (17/05/2023)", "month": "month first (05/17/2023)"}


def year_last(values: list[str]) -> list[re.Match[str]]:
    """The dates with the year last among ``values``, when they are most of them."""
    sample = values[:5000]
    shaped = sum(1 for v in sample if _YEAR_LAST.fullmatch(v))
    if not shaped or shaped < NUMBER_SHARE * len(sample):
        return []
    return [m for m in map(_YEAR_LAST.fullmatch, values) if m is not None]


def _day_first(values: list[str]) -> str | None:
    """``"day"`` (17/05/2023), ``"month"`` (05/17/2023) or ``"unclear"`` (no value over
    12 in either place) for a column of dates with the year last; ``None`` for any other
    column (or one with values over 12 in both places: not dates)."""
    found = year_last(values)
    if not found:
        return None
    first = any(int(m[1]) > 12 for m in found)
    second = any(int(m[3]) > 12 for m in found)
    if first and second:
        return None
    return "day" if first else "month" if second else "unclear"


def year_last_dates(texts: dict[str, list[str]]) -> tuple[str | None, dict[str, str]]:
    """The table's order of day and month in dates with the year last (one system wrote
    them all: a column that cannot tell takes the order its other columns show), and the
    columns of such dates left out, with why: no column tells the order, or two tell
    different ones. A guess would put every date from the 13th on in the wrong month."""
    orders = {h: o for h, v in texts.items() if (o := _day_first(v)) is not None}
    told = {o: h for h, o in orders.items() if o != "unclear"}
    if not orders:
        return None, {}
    if len(told) == 1:
        return next(iter(told)), {}
    if told:
        why = (
            f"dates with the day first in column {cut_text(told['day'])!r} and the month first "
            f"in column {cut_text(told['month'])!r}: write them as YYYY-MM-DD to use them"
        )
    else:
        example = next(v for h in orders for v in texts[h] if _YEAR_LAST.fullmatch(v))
        why = (
            f"dates whose day and month cannot be told apart ({cut_text(example)}: no value "
            "is over 12 in either place): write them as YYYY-MM-DD to use them"
        )
    return None, dict.fromkeys(orders, why)


def year_last_formats(order: str) -> tuple[str, ...]:
    """The date layouts with the year last, in ``order``, each separator, with a time or
    without."""
    day = "%d{0}%m{0}%Y" if order == "day" else "%m{0}%d{0}%Y"
    days = [day.format(sep) for sep in "/-."]
    return (*days, *(f"{d} %H:%M:%S" for d in days), *(f"{d} %H:%M" for d in days))


def date_share(sample: list[str], header: str, formats: Sequence[str]) -> float:
    import pandas as pd

    shaped = [v for v in sample if _DATE.fullmatch(v)]
    if not shaped or len(shaped) < NUMBER_SHARE * len(sample):
        return 0.0
    eight_digits = sum(1 for v in shaped if len(v) == 8 and v.isdigit())
    if eight_digits and not _DATE_HEADER.search(header):
        return 0.0  # 20250131 is a number unless the header says it is a date
    parsed = np.zeros(len(sample), dtype=bool)
    series = pd.Series(sample, dtype="str")
    for fmt in formats:
        ok = pd.to_datetime(series, format=fmt, errors="coerce").notna().to_numpy()
        parsed |= ok
    return float(parsed.mean())


#: The Excel serial numbers taken for dates in a workbook's date column: 1920-01-01 to
#: 2099-12-31 (a count of days past due, a few hundred, is no date of 1900).
_SERIALS = (7306, 73050)


def serial_dates(values: list[str], header: str, formats: Sequence[str]) -> list[str] | None:
    """A workbook column's values with its Excel serial numbers as the dates they are
    (``45961`` as ``2025-10-31``): a date cell whose format was lost (pasted as values,
    set to General) shows its serial. ``None`` when the column is no date column: the
    serials are taken for dates beside dates (the other values, at least a tenth of
    them, dates but for a few) or under a header that names a date (开户日期: serials,
    or serials and dates); the cleaner reads a serial in a date column so too."""
    # (decided on the first values, as a column's type is: a column of 200,000 incomes
    # is not tried as dates)
    sample = values[:_SERIAL_SAMPLE]
    serials = sum(map(_is_serial, sample))
    if not serials:
        return None
    named = _DATE_HEADER.search(header) is not None
    if serials < len(sample):
        if not named and len(sample) - serials < 0.1 * len(sample):
            return None
        others = [v for v in sample if not _is_serial(v)]
        if date_share(others, header, formats) < NUMBER_SHARE:
            return None
    elif not named:
        return None
    return [_serial_date(v) if _is_serial(v) else v for v in values]


_SERIAL_SAMPLE = 5000


def _is_serial(value: str) -> bool:
    return value.isascii() and value.isdigit() and _SERIALS[0] <= int(value) <= _SERIALS[1]


def _serial_date(value: str) -> str:
    day = excel_serial_date(float(value))
    return value if day is None else day.date().isoformat()


def cut_text(value: str, size: int = 20) -> str:
    return value if len(value) <= size else value[: size - 1] + "…"
