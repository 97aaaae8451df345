"""A month's scoring as one library call: exports in, a :class:`ScoringRun` out.

>>> from custrisk.scoring import score_portfolio
>>> run = score_portfolio("exports/2026-10", "retail", previous="runs/2026-09/scores.csv")
...                                                    # doctest: +SKIP
>>> run.scores, run.alerts, run.facts["policy"]["distribution"]   # doctest: +SKIP
>>> run.write("runs/2026-10/scores.csv")               # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from custrisk.config.sources import SourcesConfig
from custrisk.data import Workspace, rejects_to_write
from custrisk.io.plain import jsonable, path_argument
from custrisk.policy import (
    AlertRules,
    Policy,
    PolicyResult,
    apply_policy,
    details_read,
    load_alert_rules,
    load_policy,
    previous_read,
)
from custrisk.policy.parts import SUMMARY_COLUMNS, PolicyInParts
from custrisk.privacy import mask_pii_text
from custrisk.registry import LoadedModel
from custrisk.results import FOLLOWUPS_FILE, LANG_FACT, ScoringRun, TableParts, read_previous_run
from custrisk.review.followups import BEHAVIOUR_SOURCE, FOLLOW_UP_DETAILS, follow_up_plan
from custrisk.scoring.features import as_loaded_model, model_indicator_config, model_sources
from custrisk.scoring.score import ScoreResult, score_data
from custrisk.scoring.table import TABLE_CARD_KEY
from custrisk.vocab import check_language

PathLike = str | os.PathLike[str]


def score_portfolio(
    exports: PathLike,
    model: LoadedModel | str,
    *,
    policy: Policy | PathLike | Mapping[str, Any] | None = None,
    alert_rules: AlertRules | PathLike | Mapping[str, Any] | None = None,
    previous: ScoringRun | pd.DataFrame | PathLike | None = None,
    sources: SourcesConfig | PathLike | None = None,
    encoding: str | None = None,
    as_of: dt.date | str | None = None,
    lang: str = "zh",
    models_dir: PathLike | None = None,
    require_signed: bool | None = None,
    allow_unverified: bool = False,
    strict: bool = False,
    scorer: Callable[..., ScoreResult] | None = None,
    loader: Callable[..., Workspace] | None = None,
    keep_features: bool = False,
) -> ScoringRun:
    """Score every customer of a month's exports: PD, score, reasons, grade, limits,
    alerts and (with ``previous``) changes and grade migration.

    Parameters
    ----------
    exports : path
        The folder of the month's exports (a table file for a model trained on a flat
        table).
    model : LoadedModel or str
        A loaded model, or a model folder, NAME or NAME@VERSION (verified before it is
        loaded; ``models_dir``, ``require_signed`` and ``allow_unverified`` apply).
    policy, alert_rules : loaded config, path or dict, optional
        The credit policy and the early-warning rules (default: the packaged ones); a
        dict is the YAML's content, checked as the file would be.
    previous : ScoringRun, DataFrame or path, optional
        The previous period's run (or its scores file): changes, grade migration, and
        the alert lifecycle (new, ongoing and closed alerts). A DataFrame of scores
        gives the changes only (every alert counts as new).
    sources : SourcesConfig or path, optional
        The sources config of the exports (default: the packaged one).
    encoding, as_of, lang
        Text encoding of the exports (default: detected), the as-of date (default: the
        latest credible event date), the language of labels.
    strict : bool
        A limit rule or alert rule that reads a name this data lacks is an error instead
        of being skipped (and reported once).
    scorer : callable, optional
        What scores the exports: :func:`custrisk.scoring.score.score_data` (the default,
        the pandas engine) or a function with its signature and result, such as the Dask
        engine's (:func:`custrisk.engine.score_portfolio_dask` passes its own). A scorer
        with a true ``takes_parts`` attribute is also given ``in_parts``, an
        :class:`InParts`: when it writes the run in parts, it passes each part's scores
        to ``in_parts.add`` and returns only their :data:`SUMMARY_COLUMNS`.
    loader : callable, optional
        What reads and cleans the exports for the default scorer:
        :func:`custrisk.data.load_workspace` (the default) or a function with its
        signature, such as one that hands over the workspace of these exports loaded
        already (see :func:`custrisk.scoring.prepare_features`): the monthly batch's,
        whose validate stage read them.
    keep_features : bool
        Keep the model's features scored in the run's ``extras["features"]``
        (:class:`custrisk.scoring.features.Features`, its workspace the customer table
        only; the default scorer's), for :func:`custrisk.scoring.check_data_drift`
        (``features=``) to take instead of reading the exports again. They hold memory
        (every customer's indicators) as long as the run is held.

    Returns
    -------
    ScoringRun
        Write it with :meth:`ScoringRun.write`; its ``followups`` hold the follow-up
        plan (:func:`custrisk.review.followups.follow_up_plan`). Its ``extras`` hold the
        migration matrix (``migration``), the loaded ``policy``, the cleaned
        ``workspace`` (whose rejects are in clear: write them only where the user asked)
        and with ``keep_features`` the ``features``.
    """
    check_language(lang)
    loaded = as_loaded_model(  # unpickled while the exports are read
        model,
        models_dir,
        require_signed=require_signed,
        allow_unverified=allow_unverified,
        background=True,
        predict_only=True,  # a scorecard scores without importing scikit-learn
    )
    data_dir, sources_config = model_sources(loaded, exports, sources)
    indicators = model_indicator_config(loaded, sources_config)
    policy_obj = (
        policy
        if isinstance(policy, Policy)
        else load_policy(policy, indicators=indicators, strict=strict)
    )
    rules = (
        alert_rules
        if isinstance(alert_rules, AlertRules)
        else load_alert_rules(alert_rules, indicators=indicators, policy=policy_obj, strict=strict)
    )
    prev = _previous(previous, rules)
    score = scorer or score_data
    in_parts = (
        InParts(policy_obj, rules, prev, lang) if getattr(score, "takes_parts", False) else None
    )
    given: dict[str, Any] = {} if in_parts is None else {"in_parts": in_parts}
    if loader is not None:
        given["loader"] = loader
    try:
        result = score(
            data_dir,
            loaded,
            sources_config=sources_config,
            encoding=encoding,
            as_of=as_of,
            lang=lang,
            indicator_config=indicators,
            details_columns=sorted({*details_read(policy_obj, rules), *FOLLOW_UP_DETAILS}),
            **given,
        )
    except BaseException:
        if in_parts is not None:
            in_parts.discard()
        raise
    if in_parts is not None and in_parts.scores is not None:
        try:
            return in_parts.run(result, loaded, exports)
        except BaseException:
            in_parts.discard()
            raise
    applied = apply_policy(
        result.frame,
        result.details,
        policy_obj,
        rules,
        previous=prev.scores,
        lang=lang,
        unavailable=result.features.unavailable,
        previous_alerts=prev.alerts,
        previous_details=prev.details,
    )
    facts = _facts_of(result, applied, loaded, exports, prev, lang)
    followups = follow_up_plan(
        applied.scores,
        result.details,
        applied.alerts,
        (applied.summary.get("policy") or {}).get("grades") or [],
        facts["as_of"],
        behaviour=result.features.workspace.frames.get(BEHAVIOUR_SOURCE),
        channels=result.channels,
    )
    facts["followups"] = _PlanCounts().add(followups).facts(FOLLOWUPS_FILE)
    run = _scoring_run(result, applied, facts, policy_obj, loaded, followups=followups)
    if keep_features and score is score_data:  # (the Dask engine's hold no indicators)
        run.extras["features"] = result.features
    return run


def _scoring_run(
    result: ScoreResult,
    applied: PolicyResult,
    facts: dict[str, Any],
    policy: Policy,
    loaded: LoadedModel,
    **tables: Any,
) -> ScoringRun:
    """The run of the scorer's ``result`` and the policy ``applied`` to it (``tables``:
    the follow-up plan, or the tables written as parts)."""
    workspace = result.features.workspace
    rejects = None
    if len(workspace.rejects):
        rejects = rejects_to_write(
            workspace.rejects, workspace.config, written=workspace.report.written_headers
        )
    return ScoringRun(
        scores=applied.scores,
        details=result.details,
        alerts=applied.alerts,
        facts=jsonable(facts),
        rejects=rejects,
        closed=applied.closed,
        extras={
            "migration": applied.migration,
            "policy": policy,
            "workspace": workspace,
            "model": loaded,
        },
        **tables,
    )


def _facts_of(
    result: ScoreResult,
    applied: PolicyResult,
    loaded: LoadedModel,
    exports: PathLike,
    prev: _Previous,
    lang: str,
) -> dict[str, Any]:
    # the language: the commands reading the run (alerts, report, ...) default to it
    facts: dict[str, Any] = {**result.run, **applied.summary, LANG_FACT: lang}
    table = loaded.card.get(TABLE_CARD_KEY)
    if table is not None and table.get("id_column") is None:
        facts["customer_id"] = (
            f"the row's line number in {mask_pii_text(Path(exports).name)} (the table has no "
            "id column)"
        )
    if prev.file is not None:
        facts["migration"]["previous_file"] = prev.file
    return facts


class _PlanCounts:
    """The run facts' ``followups``, counted from the plan or from its parts."""

    def __init__(self) -> None:
        self.owners: Counter[str] = Counter()
        self.customers = 0
        self.with_alerts = 0

    def add(self, plan: pd.DataFrame) -> _PlanCounts:
        self.owners.update({str(k): int(v) for k, v in plan["owner"].value_counts().items()})
        self.customers += len(plan)
        self.with_alerts += int((plan["open_alerts"] != "").sum())
        return self

    def facts(self, file: str) -> dict[str, Any]:
        return {
            "file": file,
            "customers": self.customers,
            "by_owner": dict(sorted(self.owners.items())),
            "with_alerts": self.with_alerts,
        }


class InParts:
    """What :func:`score_portfolio` does after scoring, done part by part as a scorer
    gives each part's customers (the Dask engine's buckets), so that no process holds
    every customer's tables: the policy and alerts (:class:`PolicyInParts`), the
    follow-up plan, and the scores and follow-ups written as parts of the run
    (:class:`custrisk.results.TableParts`; ``run.write`` moves them into place). Only
    the alerts and :data:`SUMMARY_COLUMNS` of each customer stay in memory."""

    def __init__(self, policy: Policy, rules: AlertRules, prev: _Previous, lang: str) -> None:
        self.policy = PolicyInParts(
            policy,
            rules,
            previous=prev.scores,
            lang=lang,
            previous_alerts=prev.alerts,
            previous_details=prev.details,
        )
        self.prev = prev
        self.lang = lang
        self.grades = policy.to_dict()["grades"]
        self.scores: TableParts | None = None
        self.followups: TableParts | None = None
        self._plan = _PlanCounts()

    def add(
        self,
        out: PathLike,
        scores: pd.DataFrame,
        details: pd.DataFrame,
        unavailable: Collection[str],
        channels: pd.Series | None,
    ) -> pd.DataFrame:
        """One part's customers (no other part holds them, in the order they are to be
        written) with their details (the columns the policy and the plan read) and
        preferred channels: their scores and follow-ups written as parts of the run
        whose scores file is ``out``; their :data:`SUMMARY_COLUMNS` returned."""
        if self.scores is None or self.followups is None:
            self.scores, self.followups = TableParts(out, "scores"), TableParts(out, "followups")
        applied = self.policy.add(scores, details, unavailable)
        as_of = str(scores["as_of"].iloc[0])[:10] if len(scores) else ""
        plan = follow_up_plan(
            applied.scores, details, applied.alerts, self.grades, as_of, channels=channels
        )
        self.scores.add(applied.scores)
        self.followups.add(plan)
        self._plan.add(plan)
        # a copy: a selection of a frame holds on to all of its columns' memory
        return applied.scores.loc[:, list(SUMMARY_COLUMNS)].copy()

    def run(self, result: ScoreResult, loaded: LoadedModel, exports: PathLike) -> ScoringRun:
        """The run, from the scorer's ``result`` whose ``frame`` holds the
        :data:`SUMMARY_COLUMNS` of every customer in the credit table's order."""
        assert self.scores is not None and self.followups is not None
        applied = self.policy.finish(result.frame)
        facts = _facts_of(result, applied, loaded, exports, self.prev, self.lang)
        facts["followups"] = self._plan.facts(self.followups.name)
        return _scoring_run(
            result,
            applied,
            facts,
            self.policy.policy,
            loaded,
            scores_parts=self.scores,
            followups_parts=self.followups,
        )

    def discard(self) -> None:
        for parts in (self.scores, self.followups):
            if parts is not None:
                parts.discard()


@dataclass(frozen=True)
class _Previous:
    scores: pd.DataFrame | None = None
    alerts: pd.DataFrame | None = None
    details: pd.DataFrame | None = None
    file: str | None = None


def _previous(
    previous: ScoringRun | pd.DataFrame | PathLike | None, rules: AlertRules
) -> _Previous:
    """The previous run (read from its files: only the columns the policy and the
    rules read, so that a run of millions of customers is not all read)."""
    if previous is None:
        return _Previous()
    if isinstance(previous, pd.DataFrame):
        return _Previous(scores=previous)
    if not isinstance(previous, ScoringRun):
        hint = "pass the previous month's ScoringRun, its scores file or its scores DataFrame"
        previous = path_argument(previous, "previous", hint=hint)
        columns = previous_read(rules)
        previous = read_previous_run(previous, details=bool(columns["details"]), columns=columns)
    files = previous.files
    return _Previous(
        scores=previous.scores,
        alerts=previous.alerts if "code" in previous.alerts.columns else None,
        details=previous.details if "customer_id" in previous.details.columns else None,
        file=str(files.scores) if files is not None else None,
    )


__all__ = ["InParts", "score_portfolio"]
