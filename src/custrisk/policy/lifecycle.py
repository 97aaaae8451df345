"""Alert lifecycle across periods: new, ongoing and closed alerts.

An alert is one rule firing for one customer. Against the previous period's alerts it
is ``ongoing`` when the same rule fired for the same customer last period and still
holds (unless the rule's ``new_when`` says this is a new event, e.g. more overdue than
before), ``new`` otherwise; ``since`` is the as-of date of the first period of the
streak. Alerts of the previous period that no longer fire are *closed*: ``resolved``
(the rule no longer holds) or ``departed`` (the customer is gone).

Pure functions over alert tables (the columns of :data:`custrisk.results.ALERT_COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from custrisk.results import (
    ALERT_STATUSES,
    CLOSED_COLUMNS,
    CLOSED_REASONS,
    NEW_ALERT,
    ONGOING_ALERT,
)

RESOLVED, DEPARTED = CLOSED_REASONS


@dataclass(frozen=True)
class Lifecycle:
    """What :func:`alert_lifecycle` gives.

    Attributes
    ----------
    alerts : pandas.DataFrame
        The current alerts with ``status`` and ``since`` filled in (same rows, same order).
    closed : pandas.DataFrame or None
        :data:`~custrisk.results.CLOSED_COLUMNS`, most severe first; ``None`` without a
        previous period.
    """

    alerts: pd.DataFrame
    closed: pd.DataFrame | None

    def summary(self) -> dict[str, Any]:
        """Counts for the run facts."""
        status = self.alerts["status"].to_numpy(dtype=object)
        levels = self.alerts["level"].to_numpy(dtype=object)
        out: dict[str, Any] = {
            "previous": self.closed is not None,
            **{s: int((status == s).sum()) for s in ALERT_STATUSES},
            "new_by_level": {
                level: int(((status == NEW_ALERT) & (levels == level)).sum())
                for level in dict.fromkeys(levels.tolist())
            },
        }
        if self.closed is not None:
            reasons = self.closed["reason"].to_numpy(dtype=object)
            out["closed"] = len(self.closed)
            out["closed_by_reason"] = {r: int((reasons == r).sum()) for r in CLOSED_REASONS}
        return out


def _keys(frame: pd.DataFrame) -> pd.Index:
    return pd.MultiIndex.from_arrays(
        [frame["customer_id"].astype("str").to_numpy(), frame["code"].astype("str").to_numpy()]
    )


def alert_lifecycle(
    alerts: pd.DataFrame,
    previous: pd.DataFrame | None,
    *,
    as_of: str,
    customers: Collection[str],
    renewed: np.ndarray | None = None,
) -> Lifecycle:
    """Tell new alerts from ongoing ones, and list those closed since ``previous``.

    Parameters
    ----------
    alerts : pandas.DataFrame
        This period's alerts. Not modified.
    previous : pandas.DataFrame or None
        The previous period's alerts (``status``/``since`` may be empty: a run written
        before the lifecycle). ``None``: every alert is new, nothing is closed.
    as_of : str
        This period's as-of date (YYYY-MM-DD): ``since`` of a new alert.
    customers : collection of str
        This period's customer ids: a closed alert of a customer not among them has
        departed, the others are resolved.
    renewed : numpy.ndarray of bool, optional
        Per row of ``alerts``: the rule's ``new_when`` holds, so the alert is new even if
        it fired last period.

    Returns
    -------
    Lifecycle
    """
    out = alerts.copy()
    n = len(out)
    status = np.full(n, NEW_ALERT, dtype=object)
    since = np.full(n, as_of, dtype=object)
    if previous is None or not len(previous):
        out["status"], out["since"] = status, since
        return Lifecycle(out.reset_index(drop=True), None if previous is None else _closed([]))
    prev = previous.drop_duplicates(["customer_id", "code"]).reset_index(drop=True)
    prev_as_of = prev["as_of"].astype("str").to_numpy(dtype=object)
    prev_since = prev["since"].astype("str").fillna("").to_numpy(dtype=object)
    started = np.where(prev_since != "", prev_since, prev_as_of)
    prev_keys = _keys(prev)
    position = pd.Series(np.arange(len(prev)), index=prev_keys)
    at = position.reindex(_keys(out)).to_numpy(dtype=np.float64)
    fired_before = ~np.isnan(at)
    if renewed is not None:
        fired_before &= ~np.asarray(renewed, dtype=bool)
    rows = at[fired_before].astype(np.int64)
    status[fired_before] = ONGOING_ALERT
    since[fired_before] = started[rows]
    out["status"], out["since"] = status, since

    gone = ~prev_keys.isin(_keys(alerts))
    ids = prev["customer_id"].astype("str").to_numpy(dtype=object)
    present = set(map(str, customers))
    records = [
        {
            "customer_id": ids[i],
            "as_of": as_of,
            "code": str(prev["code"].iloc[i]),
            "level": str(prev["level"].iloc[i]),
            "level_zh": str(prev["level_zh"].iloc[i]),
            "owner": str(prev["owner"].iloc[i]),
            "since": str(started[i]),
            "last_as_of": str(prev_as_of[i]),
            "last_message_zh": str(prev["message_zh"].iloc[i]),
            "last_message_en": str(prev["message_en"].iloc[i]),
            "reason": RESOLVED if ids[i] in present else DEPARTED,
        }
        for i in np.flatnonzero(gone)
    ]
    return Lifecycle(out.reset_index(drop=True), _closed(records))


def _closed(records: list[dict[str, Any]]) -> pd.DataFrame:
    # in the order of the previous alerts: most severe first, then customer and rule
    return pd.DataFrame(records, columns=list(CLOSED_COLUMNS), dtype="str")


__all__ = ["DEPARTED", "RESOLVED", "Lifecycle", "alert_lifecycle"]
