"""The credit policy applied part by part (the Dask engine's buckets, issue 16): the
same rows, alerts, closed alerts, migration and facts as applied to the whole run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from custrisk.policy import apply_policy, load_alert_rules, load_policy
from custrisk.policy.parts import SUMMARY_COLUMNS, PolicyInParts
from custrisk.results import ScoringRun
from custrisk.scoring import score_portfolio


@pytest.fixture(scope="module")
def months(export_200: Path, models_200: Path) -> tuple[ScoringRun, pd.DataFrame, pd.DataFrame]:
    """A previous run, and this month's scores and details: customers gone (some with
    alerts), customers new, alerts that no longer fire, every fifth score 60 points
    lower (grades move, alerts start)."""
    run = score_portfolio(export_200, "logistic", models_dir=models_200)
    ids = run.scores["customer_id"].astype("str")
    alerted = run.alerts["customer_id"].astype("str").drop_duplicates()
    quiet = ids[~ids.isin(alerted)]
    gone = set(alerted.iloc[:5]) | set(ids.iloc[-20:])
    # alerts last month of customers for whom the rule no longer fires
    resolved = run.alerts.iloc[:6].assign(customer_id=quiet.iloc[:6].to_numpy())
    previous = ScoringRun(
        scores=run.scores.loc[~ids.isin(ids.iloc[:15])].assign(as_of="2026-09-30"),
        details=run.details,
        alerts=pd.concat([run.alerts, resolved], ignore_index=True).assign(as_of="2026-09-30"),
        facts={},
    )
    frame = run.scores.loc[~ids.isin(gone), ["customer_id", "as_of", "pd", "score"]]
    frame = frame.reset_index(drop=True)
    frame.loc[::5, "score"] = frame.loc[::5, "score"] - 60
    return previous, frame, run.details


def _both(
    previous: ScoringRun | None, frame: pd.DataFrame, details: pd.DataFrame, parts: int
) -> tuple[object, object, pd.DataFrame]:
    policy = load_policy()
    rules = load_alert_rules(policy=policy)
    options = {}
    if previous is not None:
        options = {
            "previous": previous.scores,
            "previous_alerts": previous.alerts,
            "previous_details": previous.details,
        }
    whole = apply_policy(frame, details, policy, rules, **options)
    rng = np.random.default_rng(7)
    part_of = rng.integers(0, parts, len(frame))
    in_parts = PolicyInParts(policy, rules, **options)
    rows = []
    for part in range(parts):
        mine = np.flatnonzero(part_of == part)
        result = in_parts.add(frame.iloc[mine].reset_index(drop=True), details)
        rows.append(result.scores.set_index(pd.Index(mine)))
    back = pd.concat(rows).sort_index()
    finished = in_parts.finish(back.loc[:, list(SUMMARY_COLUMNS)].reset_index(drop=True))
    return whole, finished, back.reset_index(drop=True)


@pytest.mark.parametrize("parts", [1, 4])
def test_policy_in_parts_is_the_policy_over_the_whole(months, parts: int) -> None:
    previous, frame, details = months
    whole, finished, back = _both(previous, frame, details, parts)
    pd.testing.assert_frame_equal(back, whole.scores)
    assert len(whole.alerts) and set(whole.alerts["status"]) == {"new", "ongoing"}
    pd.testing.assert_frame_equal(finished.alerts, whole.alerts, check_dtype=False)
    assert set(whole.closed["reason"]) == {"resolved", "departed"}
    pd.testing.assert_frame_equal(finished.closed, whole.closed)
    pd.testing.assert_frame_equal(finished.migration.counts, whole.migration.counts)
    facts = finished.summary["migration"]
    assert facts["new"] > 10 and facts["departed"] > 20 and facts["downgraded"]
    assert json.dumps(finished.summary, sort_keys=False, default=str) == json.dumps(
        whole.summary, sort_keys=False, default=str
    )


def test_policy_in_parts_without_a_previous_run(months) -> None:
    _, frame, details = months
    whole, finished, back = _both(None, frame, details, 3)
    pd.testing.assert_frame_equal(back, whole.scores)
    pd.testing.assert_frame_equal(finished.alerts, whole.alerts, check_dtype=False)
    assert finished.closed is None and finished.migration is None
    assert finished.summary == whole.summary
