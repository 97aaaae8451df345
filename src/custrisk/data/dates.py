"""The plausible end of a date column: its latest credible date.

One mistyped date (2100-06-15 for 2025-06-15, or a 9999-12-31 "no end" marker) must not
move the as-of date of a whole portfolio. The latest credible date of a column is found
from the column itself, so that an export that lies entirely in the future (a test or
demo export, or a run with an earlier ``--as-of``) is as plausible as any other:

1. the **anchor** is the 95th percentile of the column's dates: up to 5 % of the rows
   may be wrong without moving it (a column needs at least 20 dates to be judged: with
   fewer, one wrong date cannot be told from a real one and all are credible);
2. from the anchor, the later dates are walked in order while each **gap** to the date
   before is at most ``days_ahead`` (31 by default) or ten times the largest gap seen
   so far from the 5th percentile up, whichever is larger; the first larger jump ends
   the credible range. Dense event dates thus allow a jump of 31 days at most, while
   the thinning top of a sparse column (the newest customer-since dates) is followed as
   long as its gaps grow gradually; a typo decades away is always a jump.

Dates more than ``days_ahead`` after the latest credible date are implausible. By
construction no date lies between the latest credible date and ``days_ahead`` after it,
so these are exactly the dates beyond the first jump above the anchor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_DAYS_AHEAD = 31
#: Share of a column's dates that may be wrong without moving its credible range.
OUTLIER_SHARE = 0.05
#: Fewer dates than this are all credible.
MIN_DATES = 20
#: A gap this many times the largest gap below it is a jump.
JUMP_FACTOR = 10
_SECONDS_PER_DAY = 86_400
# Counting days needs one slot per day of the column's span; wider spans (only possible
# for dates far outside the years 0001-9999) are sorted instead.
_MAX_COUNTED_SPAN = 1 << 23


@dataclass(frozen=True)
class CredibleRange:
    """The latest credible date of a column and the last plausible one (day numbers
    since 1970-01-01)."""

    latest: int
    limit: int


#: Values per part when the largest used tick is looked for.
_CHUNK = 1 << 20


def credible_range(days: np.ndarray, days_ahead: int = DEFAULT_DAYS_AHEAD) -> CredibleRange | None:
    """The latest credible date of whole-day numbers (no missing values), or ``None``
    when there are none.

    Parameters
    ----------
    days : numpy.ndarray of int64
        Day numbers since 1970-01-01, in any order.
    days_ahead : int
        Days after the latest credible date that are still plausible.
    """
    n = int(days.size)
    if not n:
        return None
    first, last = int(days.min()), int(days.max())
    outliers = int(OUTLIER_SHARE * n)
    if n < MIN_DATES or np.count_nonzero(days >= last - days_ahead) > outliers:
        # Too few to judge, or the anchor lies within days_ahead of the latest date.
        return CredibleRange(last, last + days_ahead)
    low_rank, high_rank = outliers, n - 1 - outliers
    if last - first <= _MAX_COUNTED_SPAN:
        # One count per day of the span: quantiles and distinct days without sorting.
        counts = np.bincount(days - first)
        low, anchor = np.searchsorted(np.cumsum(counts), [low_rank, high_rank], side="right")
        distinct = np.flatnonzero(counts[low:]) + (low + first)
        anchor += first
    else:
        ordered = np.sort(days)
        anchor = ordered[high_rank]
        distinct = np.unique(ordered[low_rank:])
    gaps = np.diff(distinct)
    at = int(np.searchsorted(distinct, anchor))
    below, above = gaps[:at], gaps[at:]
    # The largest gap before each gap above the anchor, starting with those below it.
    widest = np.maximum.accumulate(np.concatenate([[below.max() if below.size else 0], above]))
    jumps = np.flatnonzero(above > np.maximum(days_ahead, JUMP_FACTOR * widest[:-1]))
    latest = int(distinct[at + jumps[0]] if jumps.size else distinct[-1])
    return CredibleRange(latest, latest + days_ahead)


def credible_range_of_dates(
    values: np.ndarray, use: np.ndarray | None = None, days_ahead: int = DEFAULT_DAYS_AHEAD
) -> CredibleRange | None:
    """:func:`credible_range` of a ``datetime64[s]`` array: of its present values, or of
    those where ``use`` is true (``use`` must be false where a value is missing).

    Usually more than 5 % of a column's dates lie within ``days_ahead`` of its latest
    one; the anchor is then among them and the latest date is credible, which a few
    passes over the values show without counting days.
    """
    ticks = values.view(np.int64)
    present = ~np.isnat(values) if use is None else use
    n = int(np.count_nonzero(present))
    if not n:
        return None
    # NaT is the smallest int64: it never counts as the latest or a near-latest date.
    # No copy of the ticks beyond one of the used ones in whole days (a date column of
    # millions of transactions: each int64 copy is tens of MB).
    last = _latest_tick(ticks, use) // _SECONDS_PER_DAY
    near_last = ticks >= (last - days_ahead) * _SECONDS_PER_DAY
    if use is not None:
        near_last &= use
    if n < MIN_DATES or np.count_nonzero(near_last) > int(OUTLIER_SHARE * n):
        return CredibleRange(last, last + days_ahead)
    del near_last
    days = ticks[present]
    days //= _SECONDS_PER_DAY
    return credible_range(days, days_ahead)


def _latest_tick(ticks: np.ndarray, use: np.ndarray | None) -> int:
    """The largest of ``ticks`` (where ``use``), a part at a time."""
    if use is None:
        return int(ticks.max())
    latest = np.iinfo(np.int64).min
    for start in range(0, len(ticks), _CHUNK):
        part = ticks[start : start + _CHUNK][use[start : start + _CHUNK]]
        if part.size:
            latest = max(latest, int(part.max()))
    return latest


def credible_range_of_counts(
    days: np.ndarray, counts: np.ndarray, days_ahead: int = DEFAULT_DAYS_AHEAD
) -> CredibleRange | None:
    """:func:`credible_range` of a column given as its distinct day numbers (sorted,
    ascending) and how many times each occurs: the same answer as for the days
    themselves, so that day counts summed over the parts of a source (an engine that
    reads a source in partitions) give the whole source's latest credible date."""
    n = int(counts.sum())
    if not n:
        return None
    last = int(days[-1])
    outliers = int(OUTLIER_SHARE * n)
    if n < MIN_DATES or int(counts[days >= last - days_ahead].sum()) > outliers:
        return CredibleRange(last, last + days_ahead)
    # The day of rank r (0-based, in sorted order) is the first whose running count
    # exceeds r: as credible_range's counting of days.
    low, at_anchor = np.searchsorted(np.cumsum(counts), [outliers, n - 1 - outliers], "right")
    anchor = days[at_anchor]
    distinct = days[low:]
    gaps = np.diff(distinct)
    at = int(np.searchsorted(distinct, anchor))
    below, above = gaps[:at], gaps[at:]
    widest = np.maximum.accumulate(np.concatenate([[below.max() if below.size else 0], above]))
    jumps = np.flatnonzero(above > np.maximum(days_ahead, JUMP_FACTOR * widest[:-1]))
    latest = int(distinct[at + jumps[0]] if jumps.size else distinct[-1])
    return CredibleRange(latest, latest + days_ahead)
