"""The as-of date the windows end at, and day numbers: a date given as ``--as-of`` or in
the config checked against the data's event dates (:func:`check_given_as_of`), the latest
credible event date found from the event days counted in parts of the customers
(:func:`resolve_as_of_of_counts`), the warning for isolated later dates ignored, and the
as-of date checked against the month the data is said to be of (:func:`data_period`,
a command's ``--period``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from custrisk.config.locations import AS_OF_DAYS_AFTER, as_of_window, period_end
from custrisk.data.dates import DEFAULT_DAYS_AHEAD, credible_range_of_counts
from custrisk.errors import DataError, UsageError
from custrisk.indicators.spec import IndicatorConfig, Window
from custrisk.io.clock import recorded_today
from custrisk.vocab import NOTE

logger = logging.getLogger(__name__)

EPOCH = dt.date(1970, 1, 1)


def as_day(value: dt.date | str | Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise UsageError(
            f"as-of date {value!r} is not a date", hint="write it as YYYY-MM-DD"
        ) from None


def day_number(day: dt.date) -> float:
    return float((day - EPOCH).days)


def date_of_day(day: float) -> dt.date:
    """The date of a day number; a DataError for one outside the years 1-9999."""
    try:
        return EPOCH + dt.timedelta(days=int(day))
    except OverflowError:
        raise DataError(
            f"the latest event date, {_day_text(day)}, is outside the years 1 to 9999",
            hint="correct the date in the export, or pass --as-of",
        ) from None


def _day_text(day: float) -> str:
    """A day number as YYYY-MM-DD (NumPy's calendar reaches far beyond the year 9999)."""
    return str(np.datetime64(int(day), "D"))


def warn_ignored(source: str, column: str | None, limit: float, count: int, latest: float) -> None:
    logger.warning(
        "%s: %d %s values after %s (more than %d days after the latest credible "
        "date) are ignored for the as-of date, e.g. %s; their rows fall after the "
        "as-of date and count in no window: correct them or pass --as-of",
        source,
        count,
        column,
        _day_text(limit),
        DEFAULT_DAYS_AHEAD,
        _day_text(latest),
    )


#: The month (``YYYY-MM``) the data is of, when a command was given one (``--period``)
_DATA_PERIOD: ContextVar[str | None] = ContextVar("custrisk_data_period", default=None)


@contextlib.contextmanager
def data_period(period: str | None) -> Iterator[None]:
    """Check the as-of date of the data read in this block against the month ``period``
    (``YYYY-MM``, checked by the caller): it must fall in the month or up to
    :data:`AS_OF_DAYS_AFTER` days after it (:func:`check_period_as_of`); ``None``: no
    check. ``custrisk run`` checks its month itself, with its config's window."""
    token = _DATA_PERIOD.set(period)
    try:
        yield
    finally:
        _DATA_PERIOD.reset(token)


def set_data_period(period: str | None) -> None:
    """:func:`data_period` for the rest of the current context (a command's own)."""
    _DATA_PERIOD.set(period)


#: What each origin of an as-of date is, in a message.
_ORIGIN_TEXT = {
    "argument": "--as-of",
    "config": "as_of of the indicator config",
    "data": "the data's latest event date",
    "name": "the end of the month the table's file name gives",
    "today": "today: the data has no event dates",
}


def check_period_as_of(day: dt.date, origin: str) -> None:
    """Refuse an as-of date outside the window of the month :func:`data_period` binds
    (when it binds one): the data of another month, whose scores, indicators or model
    would be taken for that month's.

    Raises
    ------
    DataError
        Naming the month, the as-of date and where it comes from, the dates accepted and
        what to do.
    """
    period = _DATA_PERIOD.get()
    if period is None:
        return
    first, last = as_of_window(period)
    if first <= day <= last:
        return
    month, end = f"{day:%Y-%m}", period_end(period)
    if origin == "argument":
        hint = f"give an --as-of from {first} to {last}, or --period {month} for {day}"
    elif origin == "config":
        hint = f"change as_of in the indicator config, or give --period {month}"
    elif origin in ("name", "today"):  # (no event dates to tell the month by)
        hint = f"pass --as-of {end}, the month's last day, or give --period {month}"
    else:
        hint = (
            "--period picks no file (the files are read as they are; it binds the month "
            f"of database queries): give {period}'s data, or --period {month} for this data"
        )
        if day > last:
            hint += f"; if it is {period}'s data taken later, pass --as-of {end}"
    raise DataError(
        f"--period {period}: the as-of date {day} ({_ORIGIN_TEXT.get(origin, origin)}) is "
        f"{'before' if day < first else 'after'} that month, whose data is dated {first} "
        f"to {last} (the month and {AS_OF_DAYS_AFTER} days after it, as custrisk run checks)",
        hint=hint,
    )


#: Each source's distinct event days (day numbers) and how many rows have each.
DayCounts = dict[str, tuple[np.ndarray, np.ndarray]]


def resolve_as_of_of_counts(
    parts: Sequence[DayCounts],
    config: IndicatorConfig,
    as_of: dt.date | str | None = None,
    *,
    named: Sequence[str] = (),
) -> tuple[dt.date, str]:
    """:func:`resolve_as_of` of the whole data from the :func:`event_day_counts` of its
    parts: the same date and origin (and the same warnings); ``named`` as there."""
    given = as_day(as_of) if as_of is not None else config.as_of
    if given is not None:
        origin = "argument" if as_of is not None else "config"
        spans = []
        for name, settings in config.sources.items():
            days_in = [part[name][0] for part in parts if name in part and part[name][0].size]
            if days_in:
                first = min(float(days.min()) for days in days_in)
                last = max(float(days.max()) for days in days_in)
                spans.append(DateSpan(name, settings.date, first, last))
        check_period_as_of(given, origin)
        check_given_as_of(given, origin, spans, config)
        return given, origin
    latest = []
    for name, settings in config.sources.items():
        found_in = [part[name] for part in parts if name in part]
        if not found_in:
            continue
        values = np.concatenate([days for days, _ in found_in])
        counts = np.concatenate([n for _, n in found_in])
        distinct, inverse = np.unique(values.astype(np.int64), return_inverse=True)  # whole days
        found = credible_range_of_counts(
            distinct, np.bincount(inverse, weights=counts, minlength=len(distinct)).astype(np.int64)
        )
        if found is None:
            continue
        ignored = values > found.latest
        if ignored.any():
            warn_ignored(
                name,
                settings.date,
                found.limit,
                int(counts[ignored].sum()),
                float(values[ignored].max()),
            )
        latest.append((float(found.latest), f"{name}.{settings.date}"))
    day, origin = data_as_of(latest, named)
    check_period_as_of(day, origin)
    return day, origin


def data_as_of(latest: Sequence[tuple[float, str]], named: Sequence[str]) -> tuple[dt.date, str]:
    """The as-of date found in the data: the latest of the sources' latest days (each
    with its ``source.column``), warned of when it is after today or before the month a
    flat table's file name gives; without any, that month's end
    (:func:`undated_as_of`)."""
    if not latest:
        return undated_as_of(named)
    value, where = max(latest)
    day = date_of_day(value)
    check_future_as_of(day, where)
    check_named_as_of(named, day)  # (a table named for a later month)
    return day, "data"


#: Where an as-of date comes from when the user chose it (not found in the data).
GIVEN_AS_OF = ("argument", "config")


@dataclass(frozen=True)
class DateSpan:
    """The first and last event day (day numbers) of one source's date column."""

    source: str
    column: str | None
    first: float
    last: float

    def where(self) -> str:
        return f"{self.source}.{self.column}" if self.column else self.source


def check_given_as_of(
    day: dt.date, origin: str, spans: Sequence[DateSpan], cfg: IndicatorConfig
) -> None:
    """Refuse an as-of date the user gave (``--as-of``, or ``as_of`` in the config)
    that no event of the data reaches, and warn of one well after the data's end.

    A mistyped year scores every customer as inactive: before the first event date,
    every event would fall after the as-of date; later than the last event date by
    more than the longest window of the indicators, every window would be empty.
    Neither is an error custrisk could notice afterwards, so both stop the command.
    A gap of more than a month only warns (the month may really be quiet, or not yet
    exported).
    """
    if origin not in GIVEN_AS_OF or not spans:
        return
    given = "--as-of" if origin == "argument" else "as_of in the indicator config"
    target = day_number(day)
    first = min(spans, key=lambda span: span.first)
    last = max(spans, key=lambda span: span.last)
    keep_out = (
        f"leave {given} out to take {date_of_day(last.last)} from the data"
        if origin == "argument"
        else f"remove it to take {date_of_day(last.last)} from the data"
    )
    if target < first.first:
        raise DataError(
            f"{given} {day} is before every event date of the data (the earliest is "
            f"{date_of_day(first.first)}, {first.where()}): no event would count",
            hint=f"give the date of the export, or {keep_out}",
        )
    gap = int(target - last.last)
    starts = [
        start
        for indicator in cfg.indicators
        if (agg := indicator.aggregation) is not None
        and (start := _window_start(agg.window, agg.offset, day)) is not None
    ]
    if starts and last.last <= day_number(min(starts)):
        raise DataError(
            f"{given} {day} is {gap:,} days after the latest event date of the data "
            f"({date_of_day(last.last)}, {last.where()}): every window of the indicators "
            "would be empty and every customer would look inactive",
            hint=f"give the date of the export, or {keep_out}",
        )
    # (only of indicators counting events in windows: a flat table's columns are read as
    # they are, and its dates, 开户日期, are no events a month must bring)
    windowed = any(indicator.aggregation is not None for indicator in cfg.indicators)
    if gap > DEFAULT_DAYS_AHEAD and windowed:
        logger.warning(
            "%s %s is %d days after the latest event date of the data (%s, %s): the "
            "customers' most recent windows hold no events; check that the month was "
            "exported",
            given,
            day,
            gap,
            date_of_day(last.last),
            last.where(),
        )


def _window_start(window: Window, offset: Window | None, day: dt.date) -> dt.date | None:
    """The first day a window of ``window`` ending ``offset`` before ``day`` reaches
    back to (``None`` for ``all``)."""
    end = offset.before(day) if offset is not None else day
    return None if end is None else window.before(end)


#: A month or a day in a file or folder name: ``2026-11``, ``2026_11_30``, ``202611``,
#: ``20261130``, ``2026年11月``, ``2026年11月30日`` (years 2000-2099; digits not part of
#: a longer number).
_NAMED_DAY = re.compile(
    r"(?<!\d)(20\d\d)(?:[-_.]?(0[1-9]|1[0-2])(?:[-_.]?(0[1-9]|[12]\d|3[01]))?"
    r"|年(0?[1-9]|1[0-2])月(?:(0?[1-9]|[12]\d|3[01])日)?)(?!\d)"
)


def named_period(name: str) -> tuple[dt.date, dt.date] | None:
    """The first and last day of the one month (or day) that ``name`` holds, e.g.
    ``客户清单_2026-11.xlsx`` -> 2026-11-01, 2026-11-30; ``None`` when it holds none, or
    several that differ (``2025-01_to_2025-12``)."""
    found = set()
    for match in _NAMED_DAY.finditer(name):
        year, month, day = int(match[1]), int(match[2] or match[4]), match[3] or match[5]
        first = dt.date(year, month, 1)
        last = (first + dt.timedelta(days=31)).replace(day=1) - dt.timedelta(days=1)
        if day is not None:
            if int(day) > last.day:
                return None
            first = last = first.replace(day=int(day))
        found.add((first, last))
    return found.pop() if len(found) == 1 else None


def first_named_period(names: Sequence[str]) -> tuple[str, tuple[dt.date, dt.date] | None]:
    """The first of ``names`` that holds a month (or day) and its :func:`named_period`;
    ``("", None)`` when none does."""
    named = ((name, period) for name in names if (period := named_period(name)) is not None)
    return next(named, ("", None))


def undated_as_of(names: Sequence[str]) -> tuple[dt.date, str]:
    """The as-of date of data without event dates (a flat table with no date column) and
    its origin: the last day of the month the first of ``names`` that names one gives
    (``客户清单_2026-11.xlsx`` -> 2026-11-30, ``name``), said in a note naming --as-of;
    else today (``today``; SOURCE_DATE_EPOCH's date when set), warned of."""
    name, period = first_named_period(names)
    if period is not None:
        logger.warning(
            "%s has no dates; the as-of date is %s, the end of the %s its name gives "
            "(pass --as-of to take another)",
            name,
            period[1],
            "month" if period[0] != period[1] else "day",
            extra=NOTE,
        )
        check_future_as_of(period[1], name, "the end of the month its name gives")
        return period[1], "name"
    day = recorded_today()
    logger.warning(
        "no event dates in the data; the as-of date is today, %s; pass --as-of%s for "
        "a repeatable run",
        day,
        "" if names else " or set as_of in the indicator config",
    )
    return day, "today"


def check_future_as_of(
    day: dt.date, where: str, found: str = "the latest date in the data"
) -> None:
    """Warn when the as-of date found in the data (``where``: its source and column) is
    over :data:`DEFAULT_DAYS_AHEAD` days after today: a placeholder or mistyped date in
    every row (数据日期 2100-01-31, which no credibility test of the data's own dates can
    tell) would age every date and window to it."""
    today = dt.date.today()
    if (day - today).days > DEFAULT_DAYS_AHEAD:
        logger.warning(
            "%s: the as-of date %s, %s, is after today (%s): correct it, or pass --as-of "
            "(ages in days and the indicators' windows count to the as-of date)",
            where,
            day,
            found,
            today,
        )


def check_named_as_of(names: Sequence[str], day: dt.date) -> None:
    """Warn when the as-of date found in a flat table (its latest date, such as 开户日期,
    when it has no snapshot date) is over a month before the month the table's file
    name gives (the first of ``names`` that gives one): its dates would be aged to a
    day that may be years before the table was taken. (A month's exports are dated by
    their events, and ``custrisk run`` checks their folder's month itself.)"""
    name, period = first_named_period(names)
    if period is None or (period[0] - day).days <= DEFAULT_DAYS_AHEAD:
        return
    logger.warning(
        "%s: the as-of date %s is the latest date in the data, but the name says %s; "
        "if the data is of that date, pass --as-of %s or add a column of the date the "
        "table was taken (数据日期, the same in every row; custrisk run reads only that) "
        "(ages in days and the indicators' windows count to the as-of date)",
        name,
        day,
        period[0].strftime("%Y-%m") if period[0] != period[1] else period[0],
        period[1],
    )
