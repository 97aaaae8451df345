"""One call for ``custrisk backtest``: read a run and its outcomes, review everything."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from custrisk.config.resources import recorded_config_file
from custrisk.data import load_labels
from custrisk.data.labels import label_faults, label_rejects_summary, require_labels
from custrisk.errors import DataError, UsageError
from custrisk.expr import ExprType
from custrisk.policy import Policy, details_names, load_policy
from custrisk.report.config import load_report_config
from custrisk.results import read_language, read_run
from custrisk.review.alerts import alert_effectiveness, flagged_rules, over_share
from custrisk.review.backtest import backtest_grades, join_outcomes, policy_grades, select_kinds
from custrisk.review.output import Review, table_records, write_review
from custrisk.review.whatif import (
    DEFAULT_CONFIDENCE,
    DEFAULT_HOLDOUT,
    compare_policies,
    holdout_mask,
    parse_targets,
    propose_cutoffs,
    proposed_policy_yaml,
)
from custrisk.vocab import check_language


def backtest_run(
    run: str | os.PathLike[str],
    outcomes: str | os.PathLike[str],
    *,
    policy: str | os.PathLike[str] | Policy | None = None,
    targets: str | None = None,
    max_alert_share: float = 0.05,
    lgd: float | None = None,
    holdout: float = DEFAULT_HOLDOUT,
    confidence: float = DEFAULT_CONFIDENCE,
    outcome: str | Sequence[str] | None = None,
) -> Review:
    """Back-test a scoring run against the outcomes observed since.

    Parameters
    ----------
    run : path-like
        The run's scores file, facts file or folder (read and checked by
        :func:`custrisk.results.read_run`).
    outcomes : path-like
        A labels file (``customer_id``, ``bad``, optional ``bad_date`` or ``label_date``,
        ``churned``, ``churn_date``, ``escalated``, ``escalation_date``).
    policy : path-like or Policy, optional
        A second policy to compare with the run's (the what-if).
    targets : str, optional
        ``A=0.5%,B=2%,...``: propose score cut-offs meeting these bad rates, written as
        a policy (the run's policy file with new bands).
    max_alert_share : float
        Target share of customers per alert rule for the suggested thresholds.
    lgd : float, optional
        Loss given default for the losses (default: the report config's).
    holdout, confidence
        Share of customers held out to check proposed cut-offs; confidence of the
        upper bounds shown.
    outcome : str or sequence of str, optional
        The outcomes to judge the alert rules against: ``bad``, ``churned``,
        ``escalated``, ``any`` (one of those the file holds), comma-separated for
        several; default every kind the outcomes file holds, one table each.
    """
    if not 0 < max_alert_share <= 1:
        raise UsageError(
            f"--max-alert-share must be above 0 and at most 100%; got {max_alert_share!r}"
        )
    if not 0 < holdout < 1:
        raise UsageError(
            f"--holdout must be a share between 0 and 100% (exclusive); got {holdout!r}"
        )
    scoring = read_run(run)
    grades = policy_grades(scoring.facts)
    names = details_names(scoring.details)  # what the policies' limit rules may read
    # the configs first: a mistake in --policy or the targets stops before the review
    new_policy = None
    if policy is not None:
        new_policy = policy if isinstance(policy, Policy) else load_policy(policy, names=names)
    base = wanted = None
    if targets is not None:
        base = _run_policy(scoring.facts, grades, names)
        wanted = parse_targets(targets, base.codes, policy=Path(base.path).name)
    labels, rejects = load_labels(outcomes)
    require_labels(labels, rejects, outcomes)
    joined = join_outcomes(scoring, labels, source=str(outcomes))
    loss_share = lgd if lgd is not None else load_report_config().lgd
    grade_review = backtest_grades(joined, grades, lgd=loss_share)
    codes = [str(g["code"]) for g in grades]
    alerts_facts = scoring.facts.get("alerts") or {}
    kinds = select_kinds(joined, outcome, source=str(outcomes))
    by_outcome = {
        kind: alert_effectiveness(
            joined,
            scoring.alerts,
            alerts_facts.get("rules") or [],
            scoring.details,
            codes,
            max_share=max_alert_share,
            as_of=scoring.facts.get("as_of"),
            outcome=kind,
            skipped=alerts_facts.get("skipped_rules") or {},
        )
        for kind in kinds
    }
    comparison = None
    if new_policy is not None:
        comparison = compare_policies(scoring, joined, new_policy, lgd=loss_share)
    proposal = proposed = None
    if base is not None and wanted is not None:
        frame = joined.frame
        proposal = propose_cutoffs(
            frame["score"],
            frame["bad"],
            base,
            wanted,
            holdout=holdout_mask(frame["customer_id"], holdout),
            confidence=confidence,
        )
        proposed = proposed_policy_yaml(base, proposal, names)
    dropped, blanked = label_faults(rejects)
    facts: dict[str, Any] = {
        "run": str(scoring.files.scores) if scoring.files else str(run),
        "run_id": scoring.run_id,
        "as_of": scoring.facts.get("as_of"),
        "model_id": scoring.facts.get("model_id"),
        "outcomes": str(outcomes),
        "outcome_kinds": list(joined.kinds),
        "outcome_rows_rejected": int(dropped["line"].nunique()) if len(dropped) else 0,
    }
    early = _dated_before(joined.frame, scoring.facts.get("as_of"))
    if early:
        facts["outcomes_dated_before_run"] = early
    if len(dropped):
        facts["outcome_rejects"] = label_rejects_summary(dropped)
    if len(blanked):
        facts["outcome_values_blanked"] = len(blanked)
        facts["outcome_blanked"] = label_rejects_summary(blanked)
    return Review(
        grade_review,
        by_outcome.get("bad"),
        comparison,
        proposal,
        proposed,
        facts,
        alerts_by_outcome=by_outcome,
    )


@dataclass(frozen=True)
class AlertsSummary:
    """The alert rules judged against one kind of outcome, as ``custrisk backtest``
    prints them: the review's facts, the rules it flags (:func:`flagged_rules`) and
    those over ``max_alert_share`` with a suggested condition (:func:`over_share`)."""

    outcome: str
    facts: dict[str, Any]
    flagged: list[dict[str, Any]]
    over_share: list[dict[str, Any]]


@dataclass(frozen=True)
class WrittenBacktest:
    """A back-test done and written (:func:`backtest_and_write`): the review, the folder
    and files written, and what a summary shows of it as plain rows (no frames).

    Attributes
    ----------
    review : Review
    folder : Path
    written : dict of str to Path
        File name -> path, as :func:`write_review` returns.
    grades : list of dict
        The grades table's rows (``None`` for a ratio or p-value that is not finite).
    alerts : list of AlertsSummary
        One per kind of outcome judged, in the order asked.
    moves : dict of str to dict, or None
        With a second policy: ``moved up``, ``stayed``, ``moved down`` -> customers,
        bads, bad rate.
    cutoffs : list of dict, or None
        With target bad rates: the proposed band of every grade but the riskiest
        (``grade``, ``min_score``, ...).
    lang : {"zh", "en"}
        The language it was written in.
    """

    review: Review
    folder: Path
    written: dict[str, Path]
    grades: list[dict[str, Any]]
    alerts: list[AlertsSummary]
    moves: dict[str, dict[str, Any]] | None
    cutoffs: list[dict[str, Any]] | None
    lang: str = "zh"


def backtest_and_write(
    run: str | os.PathLike[str],
    outcomes: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    lang: str | None = None,
    pdf: bool = True,
    **options: Any,
) -> WrittenBacktest:
    """The one call of ``custrisk backtest``: :func:`backtest_run` (``options`` as
    there), written by :func:`write_review` into ``out`` (default: ``backtest/`` beside
    the run, :func:`backtest_folder`) in ``lang`` (default: the run's language), with
    the rows a summary shows."""
    lang = check_language(lang) if lang is not None else read_language(run)
    review = backtest_run(run, outcomes, **options)
    folder = backtest_folder(run, out)
    written = write_review(review, folder, lang=lang, pdf=pdf)
    alerts = [
        AlertsSummary(kind, dict(a.facts), flagged_rules(a), over_share(a))
        for kind, a in review.alerts_by_outcome.items()
    ]
    moves = None
    if review.comparison is not None:
        moves = {str(r["move"]): r for r in table_records(review.comparison.moves)}
    cutoffs = None
    if review.proposal is not None:
        cutoffs = table_records(review.proposal.table)[:-1]  # (the riskiest has no floor)
    grades = table_records(review.grades.table)
    return WrittenBacktest(review, folder, written, grades, alerts, moves, cutoffs, lang)


__all__ = [
    "AlertsSummary",
    "WrittenBacktest",
    "backtest_and_write",
    "backtest_folder",
    "backtest_run",
]


def backtest_folder(run: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path:
    """Where the back-test of ``run`` writes its files: ``out`` when given, else
    ``backtest/`` beside the run (in its folder, or beside its scores or facts file)."""
    if out is not None:
        return Path(out)
    given = Path(run)
    return (given if given.is_dir() else given.parent) / "backtest"


def _run_policy(
    facts: Mapping[str, Any], grades: list[dict[str, Any]], names: Mapping[str, ExprType]
) -> Policy:
    """The policy the run was scored with, which the proposed cut-offs edit: its file,
    when it is still there with the run's grades and bands (the packaged policy for a
    run that names none).

    Raises
    ------
    DataError
        When the file has gone or its grades or bands changed since the run: the
        proposal would silently start from another policy (its limits, its caps).
    """
    recorded = (facts.get("policy") or {}).get("file")
    if not recorded:
        return load_policy(None, names=names)
    file = recorded_config_file(str(recorded))  # (custrisk:...: a packaged policy)
    if not os.path.isfile(file):
        raise DataError(
            "the policy the run was scored with is not there any more: --target-bad-rate "
            "proposes cut-offs as an edit of it",
            file=str(file),
            hint="put the policy file back at that path, or score the run again with the "
            "policy to edit",
        )
    policy = load_policy(file, names=names)
    now = [(g.code, float(g.min_score)) for g in policy.grades]
    then = [(str(g.get("code")), float(g.get("min_score", "nan"))) for g in grades]
    if now != then:
        raise DataError(
            "the policy file changed since the run was scored (its grades or score bands "
            "differ from the run's): the proposal would edit another policy",
            file=str(file),
            hint="score the run again with this policy, or restore the run's version",
        )
    changed = _limits_changed(facts.get("policy") or {}, policy, grades)
    if changed:
        raise DataError(
            f"the policy file changed since the run was scored ({', '.join(changed)} "
            "differ from the run's): the proposed policy would carry limits the back-test "
            "never judged",
            file=str(file),
            hint="score the run again with this policy, or restore the run's version",
        )
    return policy


def _limits_changed(
    recorded: Mapping[str, Any], policy: Policy, grades: list[dict[str, Any]]
) -> list[str]:
    """The policy keys whose limit settings differ from those the run's facts record
    (a rule the run's data could not compute, and so skipped, is not compared)."""
    changed = []
    if "limit_rounding" in recorded and recorded["limit_rounding"] != policy.rounding:
        changed.append("limits.rounding")
    share = recorded.get("review_increase_share")
    if share is not None and share != policy.review_increase_share:
        changed.append("limits.review_increase_share")
    skipped = recorded.get("skipped_limit_rules") or {}
    for grade, then in zip(policy.grades, grades, strict=False):
        limit = then.get("limit")
        if not isinstance(limit, Mapping) or f"grades.{grade.code}.limit.rule" in skipped:
            continue
        now = grade.limit.to_dict()
        if any(limit.get(key, now[key]) != now[key] for key in now):
            changed.append(f"grades.{grade.code}.limit")
    return changed


def _dated_before(frame: Any, as_of: Any) -> dict[str, int]:
    """How many outcomes of each kind are dated before the run's as-of date: those
    customers had gone bad (churned, escalated) when they were scored, so an alert on
    them foretold nothing and its lead time is negative."""
    if not as_of:
        return {}
    day = pd.Timestamp(str(as_of))
    out = {}
    for column in ("bad_date", "churn_date", "escalation_date"):
        if column in frame.columns:
            n = int((pd.to_datetime(frame[column], errors="coerce") < day).sum())
            if n:
                out[column] = n
    return out
