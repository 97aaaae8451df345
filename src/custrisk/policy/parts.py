"""The credit policy and the early-warning rules applied to a run part by part.

A run of millions of customers is scored in parts (the Dask engine's buckets), and no
process should hold every customer's table at once. :class:`PolicyInParts` applies
:func:`~custrisk.policy.apply_policy` to each part as it arrives, with the previous run
cut to that part's customers, and keeps only what the whole run's facts need: the
alerts, the closed alerts, the parts' migration matrices and their counts. Its
:meth:`~PolicyInParts.finish` then gives what ``apply_policy`` gives over the whole:

- Every value in a customer's row depends on that customer's rows alone (grade, limit,
  changes, alerts, ``new_when``), so a part's rows are the whole's rows.
- The alerts are sorted by level, customer and rule code, a total order: the parts'
  alerts sorted the same way are the whole's. The closed alerts are put back in the
  previous run's order.
- A previous customer that no part holds has departed: their alerts close as departed
  and they count as departed in the migration matrix.
- The facts' sums are taken by :func:`~custrisk.policy.apply._summary` over the columns
  of every customer the caller gives in the whole run's order (five narrow columns), so
  they are the same floats.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import numpy as np
import pandas as pd

from custrisk.policy.apply import (
    PolicyResult,
    _summary,
    apply_policy,
    assign_grades,
    in_alert_order,
    migration_summary,
)
from custrisk.policy.config import Policy
from custrisk.policy.lifecycle import Lifecycle, alert_lifecycle
from custrisk.policy.migration import Migration, combine_migrations, migration_matrix
from custrisk.policy.rules import AlertRules

#: The columns of the scores table that :meth:`PolicyInParts.finish` reads.
SUMMARY_COLUMNS = (
    "pd",
    "score",
    "grade",
    "current_limit",
    "recommended_limit",
    "review_flag",
    "alert_level",
)


class PolicyInParts:
    """:func:`~custrisk.policy.apply_policy` over a run's customers part by part (see
    the module). The parameters are apply_policy's, for the whole run."""

    def __init__(
        self,
        policy: Policy,
        rules: AlertRules | None = None,
        *,
        previous: pd.DataFrame | None = None,
        lang: str = "zh",
        previous_alerts: pd.DataFrame | None = None,
        previous_details: pd.DataFrame | None = None,
    ) -> None:
        self.policy = policy
        self.rules = rules
        self.lang = lang
        self.previous = previous
        self.previous_alerts = previous_alerts
        self.previous_details = previous_details
        # Every customer id of the previous run's tables, once; each table's rows as
        # positions into it, so a part's previous rows are found by one mask.
        self._tables = (previous, previous_alerts, previous_details)
        ids = [
            None if t is None else t["customer_id"].astype("str").to_numpy(dtype=object)
            for t in self._tables
        ]
        given = [i for i in ids if i is not None]
        self._known = pd.Index(pd.unique(np.concatenate(given))) if given else pd.Index([])
        self._rows = [None if i is None else self._known.get_indexer(pd.Index(i)) for i in ids]
        self._taken = np.zeros(len(self._known), dtype=bool)
        self._alerts: list[pd.DataFrame] = []
        self._closed: list[pd.DataFrame] = []
        self._migrations: list[Migration] = []
        self._not_computed = 0
        self._skipped: dict[str, str] = {}
        self._as_of: str | None = None

    def _previous_of(self, mask: np.ndarray) -> list[pd.DataFrame | None]:
        """The previous tables cut to the customers at ``mask`` (in their order)."""
        return [
            None if table is None or rows is None else table.loc[mask[rows]]
            for table, rows in zip(self._tables, self._rows, strict=True)
        ]

    def add(
        self, scores: pd.DataFrame, details: pd.DataFrame, unavailable: Collection[str] = ()
    ) -> PolicyResult:
        """Apply the policy to one part's customers (no other part holds them): their
        scores table with the policy's columns, their alerts and closed alerts, as
        :func:`~custrisk.policy.apply_policy` gives them for these customers over the
        whole run."""
        mask = np.zeros(len(self._known), dtype=bool)
        at = self._known.get_indexer(pd.Index(scores["customer_id"].astype("str")))
        mask[at[at >= 0]] = True
        self._taken |= mask
        previous, previous_alerts, previous_details = self._previous_of(mask)
        result = apply_policy(
            scores,
            details,
            self.policy,
            self.rules,
            previous=previous,
            lang=self.lang,
            unavailable=unavailable,
            previous_alerts=previous_alerts,
            previous_details=previous_details,
            whole=False,
        )
        self._alerts.append(result.alerts)
        if result.closed is not None:
            self._closed.append(result.closed)
        if result.migration is not None:
            self._migrations.append(result.migration)
        self._not_computed += int(result.summary["policy"]["limits"]["rule_not_computed"])
        self._skipped = result.summary["alerts"]["skipped_rules"]
        self._as_of = str(scores["as_of"].iloc[0])[:10] if len(scores) else self._as_of
        return result

    def finish(self, frame: pd.DataFrame) -> PolicyResult:
        """The whole run's alerts, closed alerts, migration and facts, once every part
        was added. ``frame``: :data:`SUMMARY_COLUMNS` of every customer, in the whole
        scores table's order; it is the result's ``scores``."""
        if self._as_of is None:
            raise ValueError("no part was added")
        as_of = dt.date.fromisoformat(self._as_of)
        # the previous customers no part holds: departed
        previous, previous_alerts, _ = self._previous_of(~self._taken)
        alerts = in_alert_order(pd.concat(self._alerts, ignore_index=True))
        closed = None
        if self.previous_alerts is not None:  # every alert of a departed customer closes
            departed = alert_lifecycle(
                self.previous_alerts.iloc[:0], previous_alerts, as_of=self._as_of, customers=()
            )
            pieces = [*self._closed, departed.closed]
            closed = _in_previous_order(
                pd.concat([p for p in pieces if p is not None], ignore_index=True),
                self.previous_alerts,
            )
        migration = None
        if previous is not None:
            rest = previous.loc[:, ["customer_id"]].assign(
                grade=previous["grade"].to_numpy()
                if "grade" in previous
                else assign_grades(previous["score"], self.policy).to_numpy()
            )
            empty = pd.DataFrame({"customer_id": pd.Series(dtype="str"), "grade": []})
            parts = [*self._migrations, migration_matrix(rest, empty, self.policy.codes)]
            migration = combine_migrations(parts, self.policy.codes)
        summary = _summary(
            self.policy, self.rules, frame, alerts, self._not_computed, self._skipped
        )
        summary["alerts"]["lifecycle"] = Lifecycle(alerts, closed).summary()
        if migration is not None and self.previous is not None:
            summary["migration"] = migration_summary(migration, self.previous, as_of)
        return PolicyResult(frame, alerts, summary, migration, closed)


def _in_previous_order(closed: pd.DataFrame, previous_alerts: pd.DataFrame) -> pd.DataFrame:
    """Closed alerts in the order of the previous run's alerts they close."""
    keys = pd.MultiIndex.from_frame(
        previous_alerts.loc[:, ["customer_id", "code"]].astype("str")
    ).drop_duplicates()
    at = keys.get_indexer(pd.MultiIndex.from_frame(closed.loc[:, ["customer_id", "code"]]))
    return closed.iloc[np.argsort(at, kind="stable")].reset_index(drop=True)


__all__ = ["SUMMARY_COLUMNS", "PolicyInParts"]
