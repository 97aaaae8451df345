"""The follow-up plan (回访计划): who to call, by when, who calls, and how.

A customer is due for a follow-up when the grade's review frequency (policy) has passed
since the last follow-up (or there was none), or when the run raised an alert for them.
The owner is the owner of the customer's most severe alert, else the account manager;
the preferred channel is the channel the customer used most in the behaviour events of
the last 12 months (ties: the most recent); the due date is the earliest alert's due
time, else ``as_of`` + :data:`REVIEW_DUE_DAYS`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.data._arrays import TEXT, text_array, text_order, texts_of
from custrisk.io.atomic import atomic_open, output_path
from custrisk.io.excel_out import Sheet, write_workbook
from custrisk.io.safe_csv import escape_frame
from custrisk.results import FOLLOWUP_COLUMNS, INDICATOR_PREFIX, details_of, read_run
from custrisk.results.workbook import FOLLOWUP_KINDS
from custrisk.vocab import LEVEL_RANK, followup_reason, owners_named

#: Days between reviews of each review frequency of the policy.
REVIEW_DAYS: Mapping[str, int] = {
    "weekly": 7,
    "monthly": 30,
    "quarterly": 91,
    "semiannual": 182,
    "annual": 365,
}
#: A follow-up due by the review frequency alone is due this many days after as_of.
REVIEW_DUE_DAYS = 14
#: Who follows up a customer without alerts.
DEFAULT_OWNER = "account_manager"
#: Behaviour events of this many days before as_of tell the preferred channel.
CHANNEL_WINDOW_DAYS = 365
#: The source whose events tell the preferred channel.
BEHAVIOUR_SOURCE = "behaviour"
_FOLLOW_UP_INDICATOR = "days_since_last_follow_up"
#: The columns of the details :func:`follow_up_plan` reads.
FOLLOW_UP_DETAILS = ("customer_id", "name_masked", INDICATOR_PREFIX + _FOLLOW_UP_INDICATOR)


def preferred_channels(behaviour: pd.DataFrame | None, as_of: dt.date) -> pd.Series:
    """Customer id -> the channel used most in the last 12 months (ties: most recent)."""
    if behaviour is None or not len(behaviour) or "channel" not in behaviour.columns:
        return pd.Series(dtype="str")
    events = behaviour.loc[:, ["customer_id", "event_date", "channel"]].dropna()
    dates = pd.to_datetime(events["event_date"], errors="coerce")
    # NumPy days: an as-of date past pandas' calendar (2262) still compares
    days = dates.to_numpy().astype("datetime64[D]")
    end = np.datetime64(as_of, "D")
    start = end - np.timedelta64(CHANNEL_WINDOW_DAYS, "D")
    window = (days > start) & (days <= end)
    if not window.any():
        return pd.Series(dtype="str")
    # Count on codes (the cleaned columns are categorical): only the distinct customers
    # and channels are turned into text, and ties are broken by their text's order.
    customer, customers = _text_codes(events["customer_id"], window)
    channel, channels = _text_codes(events["channel"], window)
    last_seen = dates.to_numpy()[window].astype("datetime64[ns]").view(np.int64)
    with_events, chosen = _best_channels(
        customer, channel, last_seen, len(customers), _text_rank(channels)
    )
    order = np.argsort(_text_rank(customers)[with_events])  # in the customers' text order
    return pd.Series(
        channels[chosen[order]],
        index=pd.Index(customers[with_events[order]], dtype="str", name="customer_id"),
        dtype="str",
        name="channel",
    )


#: Customers x channels up to which the events are counted in a table of every pair
#: (a few channels: each looked at in turn, no sort of the events).
_DENSE_PAIRS = 1 << 24


def _best_channels(
    customer: np.ndarray,
    channel: np.ndarray,
    last_seen: np.ndarray,
    customers: int,
    channel_rank: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The customers with events and the channel of each: most events, then most
    recent, then the channel whose text sorts first. Counted in a table of every
    customer x channel when there are few channels, each channel looked at in turn;
    else by sorting the pairs that occur."""
    width = len(channel_rank)
    pair = customer * width + channel
    if customers * width > _DENSE_PAIRS:
        pairs, pair_of_event = np.unique(pair, return_inverse=True)
        pair_counts = np.bincount(pair_of_event)
        pair_latest = np.full(len(pairs), np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(pair_latest, pair_of_event, last_seen)
        pair_customer, pair_channel = pairs // width, pairs % width
        order = np.lexsort((channel_rank[pair_channel], -pair_latest, -pair_counts, pair_customer))
        first = order[np.r_[True, np.diff(pair_customer[order]) != 0]]
        return pair_customer[first], pair_channel[first]
    counts = np.bincount(pair, minlength=customers * width).reshape(customers, width)
    seen_last = np.full(customers * width, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(seen_last, pair, last_seen)
    latest = seen_last.reshape(customers, width)
    best = np.full(customers, -1, dtype=np.int64)
    best_count = np.zeros(customers, dtype=np.int64)
    best_latest = np.full(customers, np.iinfo(np.int64).min, dtype=np.int64)
    # the channels in their text's order: a later one wins only by being strictly better
    for ch in np.argsort(channel_rank):
        count, seen = counts[:, ch], latest[:, ch]
        better = (count > best_count) | ((count == best_count) & (seen > best_latest))
        better &= count > 0
        best[better], best_count[better], best_latest[better] = ch, count[better], seen[better]
    with_events = np.flatnonzero(best >= 0)
    return with_events, best[with_events]


def _text_codes(values: pd.Series, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``values[rows]`` as text (values whose text is equal share a code) and
    the text of each code."""
    codes, uniques = pd.factorize(values[rows])
    text_codes, texts = pd.factorize(pd.Index(uniques).astype(str))
    return text_codes[codes].astype(np.int64), np.asarray(texts, dtype=object)


def _text_rank(texts: np.ndarray) -> np.ndarray:
    """The position of each text in sorted order (by code point, as NumPy sorts text:
    the order of their UTF-8 bytes, which Arrow sorts several times faster)."""
    rank = np.empty(len(texts), dtype=np.int64)
    order = pc.sort_indices(pa.array(texts, type=pa.large_string()))
    rank[order.to_numpy()] = np.arange(len(texts))
    return rank


def follow_up_plan(
    scores: pd.DataFrame,
    details: pd.DataFrame,
    alerts: pd.DataFrame,
    grades: Sequence[Mapping[str, Any]],
    as_of: dt.date | str,
    *,
    behaviour: pd.DataFrame | None = None,
    channels: pd.Series | None = None,
) -> pd.DataFrame:
    """The customers due for a follow-up (:data:`~custrisk.results.FOLLOWUP_COLUMNS`),
    earliest due date first, then most severe alert, then customer id.

    Parameters
    ----------
    scores, details, alerts : pandas.DataFrame
        A run's tables (:class:`~custrisk.results.ScoringRun`).
    grades : sequence of mapping
        The policy's grades (``code``, ``review_frequency``), e.g. the run facts'
        ``policy.grades``.
    as_of : date
        The run's as-of date.
    behaviour : pandas.DataFrame, optional
        Behaviour events (``customer_id``, ``event_date``, ``channel``) for the
        preferred channel; without them the channel is left blank.
    channels : pandas.Series, optional
        The preferred channels already found (:func:`preferred_channels`, customer id ->
        channel), instead of ``behaviour``: per customer, so those of parts of the
        customers together are the whole's (the Dask engine finds them by bucket).
    """
    day = dt.date.fromisoformat(str(as_of)[:10])
    ids = scores["customer_id"].astype(str)
    frequency = {str(g["code"]): str(g.get("review_frequency", "")) for g in grades}
    since_column = INDICATOR_PREFIX + _FOLLOW_UP_INDICATOR
    # Only the two columns read here: the details of 200k customers are about 100 MB,
    # and each step below would copy all of them.
    read = [c for c in FOLLOW_UP_DETAILS[1:] if c in details.columns]
    keyed = details_of(details, ids, read)
    since = (
        pd.to_numeric(keyed[since_column], errors="coerce").to_numpy()
        if since_column in keyed.columns
        else np.full(len(ids), np.nan)
    )
    grade = scores["grade"].astype(str)
    # looked up once per grade, not per customer (by hashing: sorting 200,000 texts
    # took 0.06 s)
    grade_index, grades_seen = pd.factorize(grade)
    frequency_seen = [frequency.get(g, "") for g in grades_seen]
    grade_frequency = texts_of(frequency_seen, grade_index)
    interval = np.array([REVIEW_DAYS.get(f, np.nan) for f in frequency_seen])[grade_index]
    never = np.isnan(since)
    review_due = never | (since >= interval)
    if channels is None:
        channels = preferred_channels(behaviour, day)
    open_alerts = _alerts_by_customer(alerts)
    # Each customer's alerts found by Arrow (one row per customer with alerts), the rows
    # due and their order found on numbers, and then each column taken once in that
    # order: a merge, a filter and a sort of the whole frame moved every text column
    # three times and hashed the ids twice.
    found = pc.index_in(text_array(ids), value_set=text_array(open_alerts["customer_id"]))
    at = pc.fill_null(found, -1).to_numpy(zero_copy_only=False)
    alert_text = {
        column: _taken(open_alerts[column], at) for column in ("open_alerts", "alert_level")
    }
    has_alert = pc.is_valid(alert_text["open_alerts"]).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(review_due | has_alert)
    # NumPy's calendar goes on after 9999-12-31, like the alerts' due times
    review_date = str(np.datetime64(day, "D") + np.timedelta64(REVIEW_DUE_DAYS, "D"))
    due = _filled(_taken(open_alerts["alert_due"], at[rows]), review_date)
    level = _filled(alert_text["alert_level"].take(rows), "")
    level_code, levels = pd.factorize(pd.Series(level, copy=False))
    rank = np.array([LEVEL_RANK.get(v, 99) for v in levels], dtype=np.float64)[level_code]
    # earliest due date first, then most severe alert, then customer id (stable)
    order = np.lexsort((text_order(ids.iloc[rows]), rank, text_order(due)))
    rows, due, level = rows[order], due.take(order), level.take(order)
    codes = 3 * has_alert[rows].astype(int) + np.where(
        np.isnan(since[rows]), 1, np.where(review_due[rows], 2, 0)
    )
    name = keyed["name_masked"].iloc[rows].array if "name_masked" in keyed.columns else ""
    table = pd.DataFrame(
        {
            "customer_id": ids.iloc[rows].array,
            "as_of": day.isoformat(),
            "name_masked": name,
            "grade": grade.iloc[rows].array,
            "review_frequency": grade_frequency.take(rows),
            "days_since_last_follow_up": _whole_days(pd.Series(since[rows])),
            "reason": _REASONS.take(codes),
            "reason_zh": _REASONS_ZH.take(codes),
            "open_alerts": _filled(alert_text["open_alerts"].take(rows), ""),
            "alert_level": level,
            "owner": _filled(_taken(open_alerts["owner"], at[rows]), DEFAULT_OWNER),
            "preferred_channel": _filled(_channel_of(ids.iloc[rows], channels), ""),
            "due_date": due,
        }
    )
    return table.loc[:, list(FOLLOWUP_COLUMNS)]


def _taken(values: pd.Series, at: np.ndarray) -> pa.Array:
    """``values`` at the positions ``at`` (-1: missing) as Arrow text."""
    return text_array(values).take(pa.array(at, mask=at < 0))


def _filled(values: pa.Array, default: str) -> pd.api.extensions.ExtensionArray:
    """Arrow text with ``default`` for the missing values, as pandas text."""
    return pd.array(pc.fill_null(values, default), dtype=TEXT)


def _whole_days(days: pd.Series) -> pd.Series:
    """Whole numbers of days as integers (``341``, not ``341.0``; missing: blank), as
    the days-since indicators are; an indicator of fractional days is left as it is."""
    values = days.to_numpy(dtype="float64", na_value=np.nan)
    known = values[np.isfinite(values)]
    if not np.array_equal(known, np.round(known)):
        return days
    return pd.Series(pd.array(values, dtype="Int64"), index=days.index)


#: The reason of a follow-up: (open alerts or not) x (never followed up, review due, neither).
_REASONS = pd.array(
    [
        "",
        "never followed up",
        "review due",
        "open alerts",
        "open alerts; never followed up",
        "open alerts; review due",
    ],
    dtype=TEXT,
)
#: The same in Chinese (``reason_zh``), for people reading followups.csv.
_REASONS_ZH = pd.array([followup_reason(r, "zh") for r in _REASONS], dtype=TEXT)


def _channel_of(ids: pd.Series, channels: pd.Series) -> pa.Array:
    """The preferred channel of each customer of ``ids`` (null: none), found by Arrow
    among the customers with one (a Series map hashed both as Python text)."""
    if not len(channels):
        return pa.nulls(len(ids), pa.large_string())
    found = pc.index_in(
        text_array(ids), value_set=pa.array(channels.index.array, type=pa.large_string())
    )
    return text_array(channels).take(found)


def _alerts_by_customer(alerts: pd.DataFrame) -> pd.DataFrame:
    """One row per customer with alerts: their codes (most severe first, then by code)
    joined by ``;``, the level and owner of the first alert that has one, and the
    earliest due day. Grouped by a sort found on numbers, taken by Arrow."""
    columns = ["customer_id", "open_alerts", "alert_level", "owner", "alert_due"]
    if alerts is None or not len(alerts):
        return pd.DataFrame({c: pd.Series(dtype="str") for c in columns})
    ids = text_array(alerts["customer_id"].astype(str))
    level_code, levels = pd.factorize(alerts["level"])
    rank = np.array([*(LEVEL_RANK.get(v, 99) for v in levels), 99], dtype=np.float64)
    order = np.lexsort((text_order(alerts["code"].astype(str)), rank[level_code], text_order(ids)))
    # each customer's alerts adjacent, in the order above (a call per customer was slow)
    id_rank = text_order(ids)[order]
    first = np.r_[True, id_rank[1:] != id_rank[:-1]]
    starts = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    codes = pa.ListArray.from_arrays(
        pa.array(np.append(starts, len(order)), type=pa.int32()),
        text_array(alerts["code"].astype(str)).take(pa.array(order)).cast(pa.string()),
    )
    due = _day_of(alerts["due_by"]).take(pa.array(order))
    by_day = np.lexsort((text_order(due), group))
    return pd.DataFrame(
        {
            "customer_id": pd.array(ids.take(pa.array(order[starts])), dtype=TEXT),
            "open_alerts": pd.array(pc.binary_join(codes, ";"), dtype=TEXT),
            "alert_level": _first_valid(text_array(alerts["level"]), order, group, len(starts)),
            "owner": _first_valid(text_array(alerts["owner"]), order, group, len(starts)),
            "alert_due": _first_valid(due, by_day, group[by_day], len(starts)),
        }
    )


def _first_valid(
    values: pa.Array, order: np.ndarray, group: np.ndarray, groups: int
) -> pd.api.extensions.ExtensionArray:
    """Per group, the first value in ``order`` that is not missing (``group``: the group
    of each row of ``order``, ascending)."""
    valid = np.flatnonzero(values.take(pa.array(order)).is_valid().to_numpy(zero_copy_only=False))
    of = group[valid]
    firsts = valid[np.r_[True, of[1:] != of[:-1]]] if len(of) else valid
    at = np.full(groups, -1, dtype=np.int64)
    at[group[firsts]] = order[firsts]
    return pd.array(values.take(pa.array(at, mask=at < 0)), dtype=TEXT)


def _day_of(times: pd.Series) -> pa.Array:
    """The text before the first ``T`` of each time (its day), by Arrow (a split per
    value made a list of each)."""
    return pc.replace_substring_regex(text_array(times.astype(str)), "(?s)T.*", "")


def filter_followups(plan: pd.DataFrame, owners: Sequence[str] = ()) -> pd.DataFrame:
    """Only the follow-ups of these owner roles, each a role or one of its labels
    (all when empty; :func:`custrisk.vocab.owners_named`)."""
    if not owners:
        return plan
    roles = owners_named(owners, plan["owner"].dropna().astype("str").unique())
    return plan[plan["owner"].isin(list(roles))].reset_index(drop=True)


def plan_by_owner(plan: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The plan's follow-ups by owner role, owners in the plan's order (whoever has the
    earliest due, most severe follow-up first), each part in the plan's order."""
    return [(str(name), part) for name, part in plan.groupby("owner", sort=False)]


def plan_of_run(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The follow-up plan of a written run: its ``followups.csv``, or one computed from
    its tables (no preferred channels) for a run written before follow-up plans."""
    run = read_run(path, parts=("scores", "details", "alerts", "followups"))
    if run.followups is not None:
        return run.followups
    grades = (run.facts.get("policy") or {}).get("grades") or []
    return follow_up_plan(run.scores, run.details, run.alerts, grades, run.facts["as_of"])


def write_followups(plan: pd.DataFrame, out: str | os.PathLike[str]) -> Path:
    """The plan as a CSV (UTF-8 with a BOM, formula cells escaped) or an .xlsx workbook."""
    target = Path(out)
    if target.suffix.lower() == ".xlsx":
        # a plan read back from followups.csv holds text: the days are numbers in Excel
        days = pd.to_numeric(plan[_FOLLOW_UP_INDICATOR], errors="coerce")
        sheet = Sheet(
            "followups",
            plan.assign(**{_FOLLOW_UP_INDICATOR: days}),
            kinds=FOLLOWUP_KINDS,
        )
        return write_workbook(target, [sheet])
    with atomic_open(target, "w", encoding="utf-8-sig", newline="") as handle:
        escape_frame(plan).to_csv(handle, index=False, lineterminator="\n")
    return output_path(target)  # NAME.enc when written encrypted


__all__ = [
    "BEHAVIOUR_SOURCE",
    "CHANNEL_WINDOW_DAYS",
    "DEFAULT_OWNER",
    "REVIEW_DAYS",
    "REVIEW_DUE_DAYS",
    "filter_followups",
    "follow_up_plan",
    "plan_by_owner",
    "plan_of_run",
    "preferred_channels",
    "write_followups",
]
