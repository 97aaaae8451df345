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
from custrisk.vocab import LEVEL_LABELS

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


def _keys(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(customer id, rule code) of each alert (plain tuples: hashing them is faster than
    any index over a million text keys)."""
    ids = frame["customer_id"].astype("str").tolist()
    return list(zip(ids, frame["code"].astype("str").tolist(), strict=True))


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
        return Lifecycle(out.reset_index(drop=True), None if previous is None else _closed())
    prev = previous.drop_duplicates(["customer_id", "code"]).reset_index(drop=True)
    prev_as_of = prev["as_of"].astype("str").to_numpy(dtype=object)
    prev_since = prev["since"].astype("str").fillna("").to_numpy(dtype=object)
    started = np.where(prev_since != "", prev_since, prev_as_of)
    prev_keys = _keys(prev)
    position = {key: i for i, key in enumerate(prev_keys)}
    at = np.fromiter((position.get(k, -1) for k in _keys(out)), dtype=np.int64, count=n)
    fired_before = at >= 0
    if renewed is not None:
        fired_before &= ~np.asarray(renewed, dtype=bool)
    status[fired_before] = ONGOING_ALERT
    since[fired_before] = started[at[fired_before]]
    out["status"], out["since"] = status, since

    current = set(_keys(alerts))
    gone = np.fromiter((k not in current for k in prev_keys), dtype=bool, count=len(prev_keys))
    ids = prev["customer_id"].astype("str").to_numpy(dtype=object)[gone]
    present = set(map(str, customers))
    still_here = np.fromiter((i in present for i in ids), dtype=bool, count=len(ids))
    closed = pd.DataFrame(
        {
            "customer_id": ids,
            "as_of": as_of,
            "code": prev["code"].astype("str").to_numpy(dtype=object)[gone],
            "level": prev["level"].astype("str").to_numpy(dtype=object)[gone],
            # named as today (a run of an earlier version said 高/中/低)
            "level_zh": [
                LEVEL_LABELS.get(lv, {}).get("zh", old)
                for lv, old in zip(
                    prev["level"].astype("str").to_numpy(dtype=object)[gone],
                    prev["level_zh"].astype("str").to_numpy(dtype=object)[gone],
                    strict=True,
                )
            ],
            "owner": prev["owner"].astype("str").to_numpy(dtype=object)[gone],
            "since": started[gone],
            "last_as_of": prev_as_of[gone],
            "last_message_zh": prev["message_zh"].astype("str").to_numpy(dtype=object)[gone],
            "last_message_en": prev["message_en"].astype("str").to_numpy(dtype=object)[gone],
            "reason": np.where(still_here, RESOLVED, DEPARTED),
        },
        columns=list(CLOSED_COLUMNS),
    )
    # in the order of the previous alerts: most severe first, then customer and rule
    return Lifecycle(out.reset_index(drop=True), closed.astype("str"))


def _closed() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="str") for c in CLOSED_COLUMNS})


__all__ = ["DEPARTED", "RESOLVED", "Lifecycle", "alert_lifecycle"]
