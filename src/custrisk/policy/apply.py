"""Applying the credit policy and the early-warning rules to a scores table.

Pure functions over DataFrames: grades from score bands, recommended limits from each
grade's rule and guards, changes against a previous run, and the alerts that fire.
Nothing is printed or written here.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config.resources import recorded_config_path
from custrisk.data._arrays import TEXT, text_array, text_equal, texts_of
from custrisk.errors import ConfigError, DataError, UsageError
from custrisk.io.plain import brief_repr
from custrisk.policy._names import (
    CREDIT_FIELDS,
    GRADE_CAP,
    POLICY_NAMES,
    PREV_PREFIX,
    PREVIOUS_NAMES,
    SCORE_NAMES,
)
from custrisk.policy.alerting import evaluate_alerts
from custrisk.policy.config import Policy, number_text
from custrisk.policy.lifecycle import alert_lifecycle
from custrisk.policy.migration import Migration, migration_matrix
from custrisk.policy.plausible import check_limit_scale
from custrisk.policy.rules import AlertRules
from custrisk.policy.shares import check_share_scale
from custrisk.results import (
    CHANGE_COLUMNS,
    INDICATOR_PREFIX,
    POLICY_COLUMNS,
    details_of,
    holds_repeats,
)
from custrisk.vocab import LANGUAGES, LEVEL_RANK, LEVELS

# apply_policy judges the score scale (_check_score_scale) from this many scores on
_SCALE_MIN_SCORES = 20

log = logging.getLogger(__name__)

#: Separator of the rule codes in ``alert_codes``.
CODE_SEPARATOR = ";"
_REQUIRED = ("customer_id", "as_of", "score", "pd")
_ROUNDING_SLACK = 1e-9
_SHARE_DECIMALS = 4


@dataclass(frozen=True)
class PolicyResult:
    """What :func:`apply_policy` gives.

    Attributes
    ----------
    scores : pandas.DataFrame
        The scores table with :data:`POLICY_COLUMNS` after ``score`` (and
        :data:`CHANGE_COLUMNS` when a previous run was given).
    alerts : pandas.DataFrame
        One row per rule that fired per customer (:data:`~custrisk.policy.io.ALERT_COLUMNS`),
        most severe level first, then by customer and rule code.
    summary : dict
        Plain data for the run facts: ``policy`` (definition, grade distribution, limit
        totals), ``alerts`` (rules, counts by level and code, skipped rules) and, with a
        previous run, ``migration``.
    migration : Migration or None
        The grade migration matrix when a previous run was given.
    closed : pandas.DataFrame or None
        The previous run's alerts that no longer fire (with ``previous_alerts`` only).
    """

    __repr__ = brief_repr  # a notebook prints it: sizes, never the tables' cells

    scores: pd.DataFrame
    alerts: pd.DataFrame
    summary: dict[str, Any]
    migration: Migration | None = None
    closed: pd.DataFrame | None = None


class _Columns:
    """Name -> column for expressions: computed values first, then indicators, then fields."""

    def __init__(self, details: pd.DataFrame, computed: dict[str, Any]) -> None:
        self.details = details
        self.computed = computed

    def source(self, name: str) -> str | None:
        if name in self.computed:
            return name
        if INDICATOR_PREFIX + name in self.details.columns:
            return INDICATOR_PREFIX + name
        if name in CREDIT_FIELDS and name in self.details.columns:
            return name
        return None

    def get(self, name: str) -> Any:
        if name in self.computed:
            return self.computed[name]
        column = self.source(name)
        if column is None:
            raise KeyError(name)
        return self.details[column]

    def values(self, names: Collection[str]) -> dict[str, Any]:
        return {name: self.get(name) for name in names}

    def present(self, name: str) -> Any:
        """The column of ``name``, or ``None`` when there is none."""
        return self.get(name) if self.source(name) is not None else None


def _as_of(scores: pd.DataFrame) -> dt.date:
    values = scores["as_of"].dropna().astype("str").unique()
    if len(values) != 1:
        shown = ", ".join(sorted(values)[:3]) or "none"
        raise DataError(
            f"the scores table must hold one as-of date, found {len(values)} ({shown})",
            hint="apply the policy to one scoring run at a time",
        )
    try:
        return dt.date.fromisoformat(str(values[0])[:10])
    except ValueError:
        raise DataError(f"the scores' as_of {values[0]!r} is not a date YYYY-MM-DD") from None


def _previous_as_of(previous: pd.DataFrame) -> str | None:
    """The latest as-of date of a previous run's scores (``None`` if it has none)."""
    if "as_of" not in previous:
        return None
    values = previous["as_of"].dropna().astype("str").unique()
    return str(max(values)) if len(values) else None


class PreviousRunLater(DataError):
    """The previous run is dated after this run's data (:attr:`as_of`): the runs were
    swapped, or (in a monthly batch) the month's folder holds an earlier month's files."""

    def __init__(
        self, message: str, *, as_of: dt.date | None = None, hint: str | None = None
    ) -> None:  # (keywords optional: unpickled from a Dask worker with the message only)
        super().__init__(message, hint=hint)
        self.as_of = as_of


def _check_previous_as_of(previous: pd.DataFrame, as_of: dt.date) -> None:
    """A previous run dated after this one turns every comparison around (new alerts
    reported as closed, upgrades as downgrades): the two runs were probably swapped."""
    before = _previous_as_of(previous)
    if before is not None and before[:10] > as_of.isoformat():
        raise PreviousRunLater(
            f"the previous run is as of {before}, after this run's as-of date "
            f"({as_of.isoformat()}): its alerts, grades and limits would be compared "
            "backwards",
            as_of=as_of,
            hint="give the run of an earlier month as the previous run (the two may be swapped)",
        )


def _check_names(policy: Policy, rules: AlertRules | None, columns: _Columns) -> None:
    """Every name a rule reads must be computed or present in the details table."""
    used: list[tuple[str, str, frozenset[str], frozenset[str]]] = []
    for grade in policy.grades:
        if grade.limit.rule is not None:
            local = frozenset({*grade.limit.params, GRADE_CAP})
            used.append((policy.path, f"{grade.limit.key}.rule", grade.limit.rule.names, local))
    if rules is not None:
        used += [(rules.path, rule.key, rule.names, frozenset()) for rule in rules.rules]
    for file, key, names, local in used:
        for name in sorted(names - local):
            if columns.source(name) is None:
                raise ConfigError(
                    f"uses {name!r}, which the scored data does not have (no column "
                    f"{INDICATOR_PREFIX}{name} in the details)",
                    file=file,
                    key=key,
                    hint="use an indicator of the model that scored the data, or retrain with it",
                )


def details_read(policy: Policy, rules: AlertRules | None) -> list[str]:
    """The columns of the details table that :func:`apply_policy` may read with
    ``policy`` and ``rules``: the customer id, the credit fields, and the indicator
    (``ind__<name>``) of every other name a limit rule, alert rule or ``new_when``
    reads (sorted). A scorer that does not keep every customer's details in memory keeps
    these (the Dask engine writing its details as parts)."""
    names: set[str] = set()
    for grade in policy.grades:
        if grade.limit.rule is not None:
            names |= grade.limit.rule.names - {*grade.limit.params, GRADE_CAP}
    for rule in rules.rules if rules is not None else ():
        names |= rule.names
        if rule.new_when is not None:
            names |= {n.removeprefix(PREV_PREFIX) for n in rule.new_when.names}
    names -= {*SCORE_NAMES, *POLICY_NAMES, *PREVIOUS_NAMES, *CREDIT_FIELDS}
    return ["customer_id", *CREDIT_FIELDS, *sorted(INDICATOR_PREFIX + n for n in names)]


#: The columns of a previous run's scores that :func:`apply_policy` reads (changes,
#: grade migration, the previous as-of date).
PREVIOUS_SCORES = ("customer_id", "as_of", "score", "grade", "recommended_limit")


def previous_read(rules: AlertRules | None) -> dict[str, set[str]]:
    """The columns of a previous run's ``scores`` and ``details`` that
    :func:`apply_policy` may read with ``rules``: :data:`PREVIOUS_SCORES`, and for each
    ``prev_<name>`` in a ``new_when``, ``<name>`` and ``ind__<name>``. Without such
    names the details' set is empty: the previous details need not be read at all."""
    named = {
        column
        for rule in (rules.rules if rules is not None else ())
        if rule.new_when is not None
        for name in rule.new_when.names
        if name.startswith(PREV_PREFIX)
        for column in (name.removeprefix(PREV_PREFIX), INDICATOR_PREFIX + name[len(PREV_PREFIX) :])
    }
    return {"scores": {*PREVIOUS_SCORES, *named}, "details": named}


def _check_score_scale(score: np.ndarray, policy: Policy) -> None:
    """Most scores outside the policy's score range: its bands are on another scale
    (``score_range: {min: 0, max: 100}`` against scores of 450-700), and every customer
    would get the best or the riskiest grade, and its limit. A few scores beyond the
    range get those grades as documented, with a warning (a score of -111 graded under
    a band written ``[0, 530)`` is not silent); a handful of scores is not judged."""
    outside = (score < policy.score_min) | (score > policy.score_max)
    whole = f"[{number_text(policy.score_min)}, {number_text(policy.score_max)}]"
    if len(score) < _SCALE_MIN_SCORES or outside.sum() * 2 <= len(score):
        if outside.any():
            beyond = score[outside]
            log.warning(
                "%s: %s of %s scores (from %s to %s) lie outside score_range %s; they get "
                "the riskiest grade (below) or the best grade (above): check the model's "
                "scores or widen score_range",
                policy.path or "policy",
                f"{int(outside.sum()):,}",
                f"{len(score):,}",
                number_text(beyond.min()),
                number_text(beyond.max()),
                whole,
            )
        return
    raise ConfigError(
        f"{int(outside.sum()):,} of {len(score):,} scores (from {number_text(score.min())} "
        f"to {number_text(score.max())}) lie outside score_range {whole}: they would all "
        "get the best or the riskiest grade",
        file=policy.path,
        key="score_range",
        hint="the bands must be on the model's score scale (600 points at 50:1 odds, 20 "
        "points to double them: scores of about 400-800); set score_range and the bands "
        "on that scale",
    )


def assign_grades(scores: Any, policy: Policy) -> pd.Series:
    """The grade code of each score.

    Scores below the policy's score range get the riskiest grade, scores above it the
    best grade. A higher score never gets a worse grade.

    Parameters
    ----------
    scores : array-like of float
        One score per customer.
    policy : Policy
        The grades and their bands.

    Returns
    -------
    pandas.Series
        Grade codes (``str``), in the order of ``scores``.

    Raises
    ------
    DataError
        If a score is missing.
    """
    values = pd.Series(scores).to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(values).any():
        raise DataError(
            f"{int(np.isnan(values).sum())} scores are missing; every customer needs a score"
        )
    return pd.Series(texts_of(policy.codes, policy.grade_index(values)))


def recommend_limits(
    policy: Policy, grade_index: np.ndarray, values: Mapping[str, Any], current: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Recommended limits by each grade's rule and guards.

    Parameters
    ----------
    policy : Policy
    grade_index : numpy.ndarray of int
        Index into ``policy.grades`` per customer.
    values : mapping
        Columns for the names the limit rules read.
    current : numpy.ndarray
        Current limits; missing or negative counts as 0.

    Returns
    -------
    recommended, review_flag, not_computed : numpy.ndarray
        ``not_computed`` marks customers whose rule gave no value (a missing input);
        they keep their current limit (never more than the cap) and are flagged.

    Raises
    ------
    ConfigError
        If a rule's limits are on another scale than the policy's amounts
        (:func:`~custrisk.policy.plausible.check_limit_scale`).
    """
    n = len(grade_index)
    base = np.where(np.isnan(current), 0.0, np.maximum(current, 0.0))
    recommended = np.zeros(n, dtype=np.float64)
    not_computed = np.zeros(n, dtype=bool)
    for i, grade in enumerate(policy.grades):
        mask = grade_index == i
        if not mask.any():
            continue
        limit = grade.limit
        if limit.freeze == "zero":
            value = np.zeros(n, dtype=np.float64)
        elif limit.freeze == "current" or limit.rule is None:
            # kept as it is; no current limit (blank, or the data has none): no limit
            value = np.where(np.isnan(current), np.nan, base)
        else:
            scope = {name: values[name] for name in limit.rule.names if name in values}
            scope.update(limit.params)
            if limit.cap is not None:
                scope[GRADE_CAP] = limit.cap
            raw = np.asarray(limit.rule.evaluate(scope, n=n), dtype=np.float64)
            ok = np.isfinite(raw)
            check_limit_scale(policy, grade, raw[mask & ok], raw[ok])
            value = np.maximum(np.where(ok, raw, 0.0), 0.0)
            if policy.rounding > 0:
                rounded = np.floor(value / policy.rounding + _ROUNDING_SLACK) * policy.rounding
                # rounding never turns a kept or raised limit into a cut
                value = np.where(value >= base, np.maximum(rounded, base), rounded)
            value = np.where(ok, value, base)
            not_computed |= mask & ~ok
        if limit.cap is not None:
            value = np.minimum(value, limit.cap)
        if not limit.allow_increase:
            value = np.minimum(value, base)
        recommended[mask] = value[mask]
    recommended = np.maximum(recommended, 0.0)
    review = (recommended > base * (1.0 + policy.review_increase_share)) | not_computed
    return recommended, review, not_computed


def _int_array(values: np.ndarray) -> pd.arrays.IntegerArray:
    """Whole numbers with missing values (pandas ``Int64``)."""
    missing = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(missing, 0, np.round(values)).astype(np.int64), missing)


def compare_previous(
    ids: pd.Series,
    score: np.ndarray,
    grade_rank: np.ndarray,
    recommended: np.ndarray,
    previous: pd.DataFrame,
    policy: Policy,
) -> pd.DataFrame:
    """Each customer's changes against a previous run (missing for new customers).

    Parameters
    ----------
    ids : pandas.Series
        Customer ids of this run.
    score, grade_rank, recommended : numpy.ndarray
        This run's scores, grade ranks and recommended limits, aligned with ``ids``.
    previous : pandas.DataFrame
        The previous run's scores (``customer_id``, ``score`` and optionally ``grade``
        and ``recommended_limit``). A previous run without grades is graded with
        ``policy``; one without limits gives missing limit changes.
    policy : Policy
        Gives the grade ranks (a grade unknown to it has no rank, so no grade change).

    Returns
    -------
    pandas.DataFrame
        :data:`CHANGE_COLUMNS` and ``prev_grade_rank``, one row per id.
    """
    keyed = previous.assign(customer_id=previous["customer_id"].astype("str"))
    prev = keyed.drop_duplicates("customer_id").set_index("customer_id").reindex(ids.to_numpy())
    prev_score = prev["score"].to_numpy(dtype=np.float64, na_value=np.nan)
    if "grade" in prev:
        prev_grade = prev["grade"].astype("str")
    else:
        known = ~np.isnan(prev_score)
        codes = np.full(len(prev_score), None, dtype=object)
        codes[known] = np.array(policy.codes, dtype=object)[policy.grade_index(prev_score[known])]
        prev_grade = pd.Series(codes, dtype="str")
    ranks = {g.code: float(g.rank) for g in policy.grades}
    prev_rank = prev_grade.map(ranks).to_numpy(dtype=np.float64, na_value=np.nan)
    prev_limit = (
        prev["recommended_limit"].to_numpy(dtype=np.float64, na_value=np.nan)
        if "recommended_limit" in prev
        else np.full(len(prev), np.nan)
    )
    return pd.DataFrame(
        {
            "prev_score": _int_array(prev_score),
            "score_change": _int_array(score - prev_score),
            "prev_grade": pd.Series(prev_grade.to_numpy(), dtype="str"),
            "prev_grade_rank": prev_rank,
            "grade_change": _int_array(grade_rank - prev_rank),
            "prev_recommended_limit": prev_limit,
            "recommended_limit_change": recommended - prev_limit,
        }
    )


def in_alert_order(alerts: pd.DataFrame) -> pd.DataFrame:
    """The alerts in their order: most severe level first, then customer id and rule
    code (a total order: alerts taken part by part and sorted are the whole's)."""
    ranked = alerts.assign(_rank=alerts["level"].map(LEVEL_RANK))
    ranked = ranked.sort_values(["_rank", "customer_id", "code"], kind="stable")
    return ranked.drop(columns="_rank").reset_index(drop=True)


def _skipped_rules(
    rules: AlertRules | None, previous_given: bool, unavailable: Collection[str]
) -> dict[str, str]:
    skipped: dict[str, str] = dict(rules.skipped) if rules is not None else {}
    for rule in rules.rules if rules is not None else ():
        gone = sorted(rule.condition.names & set(unavailable))
        if gone:
            skipped[rule.code] = f"needs indicator(s) {', '.join(gone)}, not available in this data"
        elif rule.needs_previous and not previous_given:
            skipped[rule.code] = "needs a previous run (--previous)"
    return skipped


def _round(value: float) -> float:
    return round(float(value), 2)


def _summary(
    policy: Policy,
    rules: AlertRules | None,
    frame: pd.DataFrame,
    alerts: pd.DataFrame,
    not_computed: int,
    skipped: Mapping[str, str],
) -> dict[str, Any]:
    """The summary of the run facts from the whole scores table (only ``grade``,
    ``current_limit``, ``recommended_limit``, ``review_flag`` and ``alert_level`` are
    read, in the table's order: sums of floats depend on it) and its alerts."""
    n = len(frame)
    current = frame["current_limit"].to_numpy(dtype=np.float64, na_value=np.nan)
    current = np.where(np.isnan(current), 0.0, current)
    recommended = frame["recommended_limit"].to_numpy(dtype=np.float64, na_value=np.nan)
    recommended = np.where(np.isnan(recommended), current, recommended)  # none: unchanged
    review = frame["review_flag"].to_numpy(dtype=bool)
    grades = text_array(frame["grade"])
    distribution = {}
    for grade in policy.grades:
        mask = text_equal(grades, grade.code)
        count = int(mask.sum())
        distribution[grade.code] = {
            "customers": count,
            "share": round(count / n, _SHARE_DECIMALS) if n else 0.0,
            "current_limit": _round(current[mask].sum()),
            "recommended_limit": _round(recommended[mask].sum()),
            "increases": int((recommended[mask] > current[mask]).sum()),
            "decreases": int((recommended[mask] < current[mask]).sum()),
            "review_flags": int(review[mask].sum()),
        }
    limits = {
        "current_total": _round(current.sum()),
        "recommended_total": _round(recommended.sum()),
        "change_total": _round(recommended.sum() - current.sum()),
        "increases": int((recommended > current).sum()),
        "decreases": int((recommended < current).sum()),
        "unchanged": int((recommended == current).sum()),
        "review_flags": int(review.sum()),
        "rule_not_computed": int(not_computed),
    }
    levels = text_array(alerts["level"])
    highest = text_array(frame["alert_level"])
    codes = rules.codes if rules is not None else ()
    by_code = alerts["code"].value_counts()
    alert_summary = {
        "rules_file": recorded_config_path(rules.path) if rules is not None else None,
        "rules": rules.to_dict()["rules"] if rules is not None else [],
        "total": len(alerts),
        "customers": int(alerts["customer_id"].nunique()),
        "by_level": {level: int(text_equal(levels, level).sum()) for level in LEVELS},
        "customers_by_highest_level": {
            level: int(text_equal(highest, level).sum()) for level in LEVELS
        },
        "by_code": {code: int(by_code.get(code, 0)) for code in codes},
        "skipped_rules": dict(skipped),
    }
    return {
        "policy": {**policy.to_dict(), "distribution": distribution, "limits": limits},
        "alerts": alert_summary,
    }


def apply_policy(
    scores: pd.DataFrame,
    details: pd.DataFrame,
    policy: Policy,
    rules: AlertRules | None = None,
    *,
    previous: pd.DataFrame | None = None,
    lang: str = "zh",
    unavailable: Collection[str] = (),
    previous_alerts: pd.DataFrame | None = None,
    previous_details: pd.DataFrame | None = None,
    whole: bool = True,
) -> PolicyResult:
    """Grades, recommended limits, changes against a previous run, and alerts.

    Parameters
    ----------
    scores : pandas.DataFrame
        A scores table (``customer_id``, ``as_of``, ``pd``, ``score``, ...), e.g.
        :attr:`custrisk.scoring.ScoreResult.frame`. Not modified.
    details : pandas.DataFrame
        Per-customer credit fields and indicators (``ind__<code>`` columns), e.g.
        :attr:`custrisk.scoring.ScoreResult.details`. Not modified.
    policy : Policy
        From :func:`~custrisk.policy.load_policy`.
    rules : AlertRules, optional
        From :func:`~custrisk.policy.load_alert_rules`; ``None``: no alerts.
    previous : pandas.DataFrame, optional
        An earlier run's scores (:func:`~custrisk.policy.read_previous_scores`): gives
        the change columns, the ``prev_*`` names in conditions, and the migration
        matrix. Without it those names are missing, so conditions using them are false.
    lang : {"zh", "en"}
        Language of ``grade_label``.
    unavailable : collection of str
        Indicators the data could not provide (e.g. a missing source); alert rules
        whose condition reads one are skipped and listed in the summary.
    previous_alerts : pandas.DataFrame, optional
        The previous run's alerts: each alert becomes ``new`` or ``ongoing`` (with the
        date it started) and those that no longer fire are listed as closed. Without it
        every alert is new.
    previous_details : pandas.DataFrame, optional
        The previous run's details, for ``prev_<name>`` in a rule's ``new_when``.
    whole : bool
        ``scores`` is the whole run (default). False: some of its customers
        (:class:`custrisk.policy.parts.PolicyInParts`), so the summary has no
        ``migration`` (it is made from every part's).

    Returns
    -------
    PolicyResult

    Raises
    ------
    ConfigError
        If a rule reads a name the details table does not have, most scores lie
        outside the policy's score range (its bands are on another scale), or a limit
        rule's limits are on another scale than its amounts (all below 1 or rounded
        down to 0, or a thousand times off the cap), or a share a rule reads holds
        percentage points (:func:`~custrisk.policy.shares.check_share_scale`).
    DataError
        If the scores table lacks a column, holds a customer twice, misses a score or
        mixes as-of dates.
    """
    if lang not in LANGUAGES:
        raise UsageError(f"--lang must be one of {', '.join(LANGUAGES)}; got {lang!r}")
    for name, frame in (("scores", scores), ("details", details)):
        if not isinstance(frame, pd.DataFrame):
            raise UsageError(
                f"{name} must be a pandas DataFrame; got {type(frame).__name__}",
                hint="pass a run's tables: run.scores and run.details (read_run for a file)",
            )
    missing = [c for c in _REQUIRED if c not in scores.columns]
    if missing:
        raise DataError(f"the scores table lacks the column(s) {', '.join(missing)}")
    ids = scores["customer_id"].astype("str").reset_index(drop=True)
    if holds_repeats(ids):
        raise DataError(f"the scores table holds customer {ids[ids.duplicated()].iloc[0]!r} twice")
    as_of = _as_of(scores)
    if previous is not None:
        _check_previous_as_of(previous, as_of)
    n = len(ids)
    det = (
        details_of(details, ids)
        if "customer_id" in details.columns
        else pd.DataFrame(index=pd.RangeIndex(n))
    )

    score = scores["score"].to_numpy(dtype=np.float64, na_value=np.nan)
    grade_text = assign_grades(score, policy)
    _check_score_scale(score, policy)
    index = policy.grade_index(score)
    ranks = np.array([g.rank for g in policy.grades], dtype=np.float64)[index]
    labels = texts_of([g.label(lang) for g in policy.grades], index)
    current = (
        det["credit_limit"].to_numpy(dtype=np.float64, na_value=np.nan)
        if "credit_limit" in det
        else np.full(n, np.nan)
    )
    computed: dict[str, Any] = {
        "score": score,
        "pd": scores["pd"].to_numpy(dtype=np.float64, na_value=np.nan),
        "as_of": as_of,
    }
    columns = _Columns(det, computed)
    computed.update({name: np.full(n, np.nan) for name in (*POLICY_NAMES, *PREVIOUS_NAMES)})
    _check_names(policy, rules, columns)
    skipped = _skipped_rules(rules, previous is not None, unavailable)
    # (a new_when may read a name the details lack: its previous run's value, below)
    check_share_scale(policy, rules, columns.present, skipped)

    limit_names = {
        name
        for grade in policy.grades
        if grade.limit.rule is not None
        for name in grade.limit.rule.names
        if columns.source(name) is not None
    }
    recommended, review, not_computed = recommend_limits(
        policy, index, columns.values(limit_names), current
    )
    change = recommended - current
    computed.update(
        {
            "grade": grade_text,
            "grade_rank": ranks,
            "current_limit": current,
            "recommended_limit": recommended,
            "limit_change": change,
            "review_flag": review.astype(np.float64),
        }
    )
    changes = None
    migration = None
    if previous is not None:
        changes = compare_previous(ids, score, ranks, recommended, previous, policy)
        for name in PREVIOUS_NAMES:
            if name in changes:
                computed[name] = changes[name]
        computed["prev_limit"] = changes["prev_recommended_limit"]
        prev_grades = previous.copy()
        if "grade" not in prev_grades:
            prev_grades["grade"] = assign_grades(prev_grades["score"], policy).to_numpy()
        migration = migration_matrix(
            prev_grades.loc[:, ["customer_id", "grade"]],
            pd.DataFrame({"customer_id": ids, "grade": grade_text}),
            policy.codes,
        )

    alerts = evaluate_alerts(rules or AlertRules("", ()), columns, ids, grade_text, as_of, skipped)
    renewed = _renewed(
        rules,
        alerts,
        columns,
        ids,
        previous if previous_alerts is not None else None,
        previous_details,
    )
    lifecycle = alert_lifecycle(
        alerts,
        previous_alerts,
        as_of=as_of.isoformat(),
        customers=ids.tolist(),
        renewed=renewed,
    )
    alerts = lifecycle.alerts
    alert_level, alert_codes = _alert_columns(alerts, ids)

    added = pd.DataFrame(
        {
            "grade": grade_text,
            "grade_label": labels,
            "current_limit": current,
            "recommended_limit": recommended,
            "limit_change": change,
            "review_flag": review,
            "alert_level": alert_level,
            "alert_codes": alert_codes,
        }
    )
    if changes is not None:
        added = pd.concat([added, changes.loc[:, list(CHANGE_COLUMNS)]], axis=1)
    base = scores.drop(
        columns=[c for c in (*POLICY_COLUMNS, *CHANGE_COLUMNS) if c in scores.columns]
    ).reset_index(drop=True)
    at = list(base.columns).index("score") + 1
    frame = pd.concat([base.iloc[:, :at], added, base.iloc[:, at:]], axis=1)

    summary = _summary(policy, rules, frame, alerts, int(not_computed.sum()), skipped)
    summary["alerts"]["lifecycle"] = lifecycle.summary()
    if migration is not None and previous is not None and whole:
        summary["migration"] = migration_summary(migration, previous, as_of)
    return PolicyResult(frame, alerts, summary, migration, lifecycle.closed)


def migration_summary(
    migration: Migration, previous: pd.DataFrame, as_of: dt.date
) -> dict[str, Any]:
    """The run facts' ``migration``: the matrix and what the previous run was (a
    warning is logged when it is of the same date as this run: a month scored again)."""
    before = _previous_as_of(previous)
    if before is not None and before[:10] >= as_of.isoformat():
        log.warning("the previous run is as of %s, the as-of date of this run too", before)
    return {
        **migration.to_dict(),
        "previous_as_of": before,
        "previous_customers": len(previous),
        "previous_grades_recomputed": "grade" not in previous,
    }


def _renewed(
    rules: AlertRules | None,
    alerts: pd.DataFrame,
    columns: _Columns,
    ids: pd.Series,
    previous: pd.DataFrame | None,
    previous_details: pd.DataFrame | None,
) -> np.ndarray | None:
    """Per alert: its rule's ``new_when`` holds (a new event although the rule fired last
    period too). ``None`` when no rule has one or there is no previous run."""
    with_new_when = [r for r in (rules.rules if rules else ()) if r.new_when is not None]
    if previous is None or not with_new_when or not len(alerts):
        return None
    n = len(ids)
    frames = [previous]
    if previous_details is not None:
        frames.append(previous_details)
    keyed = [
        f.assign(customer_id=f["customer_id"].astype("str"))
        .drop_duplicates("customer_id")
        .set_index("customer_id")
        .reindex(ids.to_numpy())
        for f in frames
        if "customer_id" in f.columns
    ]

    def previous_value(name: str) -> Any:
        bare = name.removeprefix(PREV_PREFIX)
        for frame in keyed:
            for column in (bare, INDICATOR_PREFIX + bare):
                if column in frame.columns:
                    return frame[column].reset_index(drop=True)
        return np.full(n, np.nan)

    position = pd.Series(np.arange(n), index=ids.to_numpy())
    rows = position.reindex(alerts["customer_id"].astype("str").to_numpy()).to_numpy()
    codes = alerts["code"].to_numpy(dtype=object)
    renewed = np.zeros(len(alerts), dtype=bool)
    for rule in with_new_when:
        assert rule.new_when is not None
        scope = {
            name: columns.get(name)
            if name in columns.computed or columns.source(name) is not None
            else previous_value(name)
            for name in rule.new_when.names
        }
        holds = rule.new_when.evaluate_mask(scope, n=n)
        mine = codes == rule.code
        renewed[mine] = holds[rows[mine].astype(np.int64)]
    return renewed


def _alert_columns(
    alerts: pd.DataFrame, ids: pd.Series
) -> tuple[pd.api.extensions.ExtensionArray, pd.api.extensions.ExtensionArray]:
    """The scores' ``alert_level`` and ``alert_codes`` of each customer of ``ids``: the
    level of the customer's first alert, and the codes of its alerts in their order
    joined by :data:`CODE_SEPARATOR` ("" for a customer without alerts). The alerts are
    grouped by a stable sort and joined by Arrow, not by a Python call per customer, and
    the customers are looked up among those with alerts once, by Arrow."""
    customer, with_alerts = pd.factorize(alerts["customer_id"])  # -1: no id, left out
    order = np.argsort(customer, kind="stable")
    order = order[customer[order] >= 0]
    ends = np.cumsum(np.bincount(customer[customer >= 0], minlength=len(with_alerts)))
    lists = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], ends]), type=pa.int32()),
        pa.array(alerts["code"].to_numpy(dtype=object)[order], type=pa.string()),
    )
    joined = pc.binary_join(lists, CODE_SEPARATOR)
    first = order[np.concatenate([[0], ends[:-1]])] if len(ends) else order[:0]
    level = pa.array(alerts["level"].to_numpy(dtype=object)[first], from_pandas=True)
    at = pc.index_in(text_array(ids), value_set=text_array(pd.Series(with_alerts, dtype="str")))

    def per_customer(values: pa.Array) -> pd.api.extensions.ExtensionArray:
        shown = pc.fill_null(values.cast(pa.large_string()).take(at), "")
        return pd.array(shown, dtype=TEXT)

    return per_customer(level), per_customer(joined)
