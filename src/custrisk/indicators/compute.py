"""Computing indicators: one row per customer of the credit table.

The entry points: :func:`compute_indicators` checks the credit table's customer ids and
runs the engine (:mod:`custrisk.indicators.engine`) over every source, one source at a
time; :func:`resolve_as_of` and :func:`event_day_counts` give the as-of date (see
:mod:`custrisk.indicators.as_of`) without computing any indicator; :func:`columns_read`
names the columns a source's indicators read.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from custrisk.data._arrays import as_text, strictly_ordered, text_array
from custrisk.errors import DataError, UsageError
from custrisk.indicators.as_of import DayCounts
from custrisk.indicators.config import load_indicator_config
from custrisk.indicators.engine import Engine, aggregation_names, plan
from custrisk.indicators.spec import (
    AS_OF,
    CUSTOMER_ID,
    CUSTOMER_SOURCE,
    IndicatorConfig,
)
from custrisk.io.plain import brief_repr

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndicatorResult:
    """Indicators of every customer, and how they were computed.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per customer of the credit table, in its order: ``customer_id``, then
        one column per output indicator (float64 for numbers, ``str`` for categories).
    as_of : datetime.date
        The as-of date the windows end at.
    as_of_origin : str
        Where it came from: ``argument``, ``config``, ``data`` (the latest event date),
        ``name`` (no event dates; the month a flat table's file name gives) or ``today``
        (no event dates at all).
    unavailable : mapping of str to str
        Indicators that could not be computed (their source or a column is absent, or
        they use such an indicator), with the reason. Their columns are all missing;
        they are never filled with zeros.
    """

    __repr__ = brief_repr  # a notebook prints it: sizes, never the tables' cells

    frame: pd.DataFrame
    as_of: dt.date
    as_of_origin: str = "argument"
    unavailable: Mapping[str, str] = field(default_factory=dict)

    @property
    def unavailable_codes(self) -> tuple[str, ...]:
        """Codes of the indicators that could not be computed."""
        return tuple(self.unavailable)


def columns_read(config: IndicatorConfig, source: str) -> set[str]:
    """The columns of ``source`` that :func:`compute_indicators` may read: the customer
    column, the date column and what the aggregations over it read (a derived column as
    the columns it is made of)."""
    settings = config.sources.get(source)
    date = settings.date if settings is not None else None
    derived = dict(settings.derived) if settings is not None else {}
    names = {CUSTOMER_ID} | ({date} if date else set())
    for indicator in config.indicators:
        agg = indicator.aggregation
        if agg is not None and agg.source == source:
            names |= aggregation_names(agg, date)
    out: set[str] = set()
    while names:
        name = names.pop()
        if name in out or name == AS_OF:
            continue
        expr = derived.get(name)
        if expr is None:
            out.add(name)
        else:
            names |= expr.names
    return out


def compute_indicators(
    frames: Mapping[str, pd.DataFrame],
    config: IndicatorConfig | str | os.PathLike[str] | None = None,
    as_of: dt.date | str | None = None,
    *,
    check_as_of: bool = True,
    named: Sequence[str] = (),
) -> IndicatorResult:
    """Compute the indicators of every customer of the credit table.

    Parameters
    ----------
    frames : mapping of str to pandas.DataFrame
        Cleaned tables by source name (``credit``, ``transactions``, ``behaviour``) with
        canonical column names. ``credit`` is required and has one row per
        ``customer_id``; the other sources are optional. The frames are not modified.
    config : IndicatorConfig or path, optional
        A loaded config, a path to one, or ``None`` for the default config.
    as_of : datetime.date or str, optional
        The date windows end at. Default: the config's ``as_of``, else the latest
        credible event date in the data: a few dates far after the rest (a mistyped
        2100-06-15) are ignored, with a warning; see :mod:`custrisk.data.dates`.
        A given date before every event date of the data, or after them by more than
        the indicators' windows, is refused (a mistyped year), and one over a month
        after them warned of.
    check_as_of : bool
        ``False``: a given ``as_of`` is not checked against the data's dates, for
        records scored on the day they arrive (a new customer's dates are their own,
        not a month's events).
    named : sequence of str
        A flat table's file names: data without any date (no event date, and no
        ``as_of`` given) is as of the end of the month the first name giving one gives
        (``客户清单_2026-11.xlsx``: 2026-11-30), rather than today.

    Returns
    -------
    IndicatorResult

    Raises
    ------
    DataError
        If the credit table is missing, has no ``customer_id`` column or repeats an id,
        or a column cannot be read as its declared type.
    """
    if not isinstance(frames, Mapping):  # a DataFrame has .get: its column 'credit'
        shown = "a DataFrame" if isinstance(frames, pd.DataFrame) else type(frames).__name__
        raise UsageError(
            f"frames must be a dict of source name -> DataFrame; got {shown}",
            hint="pass workspace.frames, or {'credit': credit, 'transactions': ...}",
        )
    cfg = config if isinstance(config, IndicatorConfig) else load_indicator_config(config)
    credit = frames.get(CUSTOMER_SOURCE)
    if credit is None:
        raise DataError(
            f"the workspace has no '{CUSTOMER_SOURCE}' table",
            hint="the credit table lists the customers; every run needs it",
        )
    if CUSTOMER_ID not in credit.columns:
        raise DataError(
            f"the {CUSTOMER_SOURCE} table has no '{CUSTOMER_ID}' column", file=CUSTOMER_SOURCE
        )
    ids = as_text(credit[CUSTOMER_ID])
    ids_arrow = text_array(ids)
    if ids_arrow.null_count:
        raise DataError(
            f"{ids_arrow.null_count} rows have no {CUSTOMER_ID}",
            file=CUSTOMER_SOURCE,
            column=CUSTOMER_ID,
        )
    if not strictly_ordered(ids_arrow) and pc.count_distinct(ids_arrow).as_py() != len(ids):
        dupes = ids[ids.duplicated()].unique()[:3].tolist()
        raise DataError(
            f"{CUSTOMER_ID} repeats: {', '.join(map(str, dupes))}",
            file=CUSTOMER_SOURCE,
            column=CUSTOMER_ID,
            hint="the credit table needs exactly one row per customer",
        )
    engine = Engine(cfg, frames, ids_arrow)
    as_of_date, origin = engine.resolve_as_of(as_of, check=check_as_of, named=named)
    logger.info(
        "computing %d indicators for %d customers as of %s (%s)",
        len(cfg.indicators),
        len(ids),
        as_of_date,
        origin,
    )
    by_source, rest = plan(cfg)
    # One source at a time: each holds its converted columns, customer codes and row sets
    # until its last aggregation (about 400 MB for 4.9M transactions). Two sources in
    # threads held both sets at once, about 120 MB more at the peak of 200k customers,
    # for no time saved on a busy 2-core machine (docs/performance.md, End to end).
    for codes in by_source:
        engine.compute_all(codes)
    engine.compute_all(rest)
    columns: dict[str, Any] = {CUSTOMER_ID: ids.reset_index(drop=True)}
    for indicator in cfg.indicators:
        if indicator.output:
            columns[indicator.code] = engine.values[indicator.code]
    frame = pd.DataFrame(columns, copy=False)  # the columns are all fresh arrays
    unavailable = {
        code: engine.unavailable[code] for code in cfg.codes if code in engine.unavailable
    }
    if unavailable:
        logger.warning(
            "%d indicators could not be computed and are left empty: %s",
            len(unavailable),
            ", ".join(unavailable),
        )
    return IndicatorResult(
        frame=frame, as_of=as_of_date, as_of_origin=origin, unavailable=unavailable
    )


def resolve_as_of(
    frames: Mapping[str, pd.DataFrame],
    config: IndicatorConfig,
    as_of: dt.date | str | None = None,
    *,
    named: Sequence[str] = (),
) -> tuple[dt.date, str]:
    """The as-of date :func:`compute_indicators` would use for ``frames`` (``named`` as
    there) and where it comes from (``argument``, ``config``, ``data``, ``name`` or
    ``today``), without computing any indicator: an engine that computes customers in
    parts fixes it once for all parts."""
    credit = frames.get(CUSTOMER_SOURCE)
    if credit is None or CUSTOMER_ID not in credit.columns:
        result = compute_indicators(frames, config, as_of, named=named)  # the usual error
        return result.as_of, result.as_of_origin
    engine = Engine(config, frames, text_array(credit[CUSTOMER_ID]))
    return engine.resolve_as_of(as_of, named=named)


def event_day_counts(frames: Mapping[str, pd.DataFrame], config: IndicatorConfig) -> DayCounts:
    """The event days of each source of ``frames`` that has an event date, counted: what
    the automatic as-of date is found from. Counts of parts of the customers add up to
    the whole's, so an engine that computes customers in parts finds the whole's as-of
    date with :func:`resolve_as_of_of_counts` without holding every row in one place."""
    credit = frames.get(CUSTOMER_SOURCE)
    if credit is None or CUSTOMER_ID not in credit.columns:
        return {}
    engine = Engine(config, frames, text_array(credit[CUSTOMER_ID]))
    counts: DayCounts = {}
    for name, source in engine.sources.items():
        present = source.event_days()
        if present is not None:
            counts[name] = np.unique(present, return_counts=True)
    return counts
