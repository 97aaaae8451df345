"""Scoring records one request at a time (``custrisk serve``): a model trained on a flat
table applied to JSON records of its raw input fields, through exactly the path a batch
``custrisk score TABLE`` takes.

The records become the table's one source (text columns, as a CSV file is read), are
cleaned by the same rules (types, ranges, allowed values, blanks), turned into the same
features, scored by the same estimator and given a grade, limit and alerts by the same
policy; the one thing added is the decision on an application (``decision:`` in the
credit policy). Everything model-specific is prepared once, in :class:`RecordScorer`,
including the quick path (:mod:`custrisk.scoring.quick`): records whose every value is
plainly clean skip the table machinery, with the same results.

>>> scorer = RecordScorer(open_model("application"))           # doctest: +SKIP
>>> scorer.score([{"年龄": 35, "月收入": 9000, "地区": "华东"}])   # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from custrisk.config.columns import header_key
from custrisk.config.sources import CUSTOMER_SOURCE, SourcesConfig
from custrisk.data import SourceReport, ValidationReport, Workspace
from custrisk.data.clean import clean_source
from custrisk.data.issues import DROPPED, RULE_TEXT, SKIPPED
from custrisk.data.text import MAX_ID_CHARS
from custrisk.errors import DataError, UsageError
from custrisk.estimators.fitted import ScorecardPredictions
from custrisk.estimators.scored import NUMBER_FORMAT, category_texts
from custrisk.indicators import compute_indicators
from custrisk.io.header import HeaderMatcher
from custrisk.io.readers import RawTable
from custrisk.policy import (
    AlertRules,
    Policy,
    apply_policy,
    load_alert_rules,
    load_policy,
    recommend_limits,
)
from custrisk.registry import LoadedModel
from custrisk.scoring.features import Features, as_loaded_model, model_indicator_config
from custrisk.scoring.quick import QuickPath, QuickRecords
from custrisk.scoring.score import PD_DECIMALS, score_prepared
from custrisk.scoring.table import TABLE_CARD_KEY, is_table_model, model_table_config
from custrisk.vocab import check_language

PathLike = str | os.PathLike[str]
#: The source a request's records stand in for, in messages.
REQUEST = "request"
_SCALARS = (str, int, float, bool)
#: Quick-path requests of at most this many records are scored record by record on
#: Python scalars; larger ones through the estimator's vectorised ``score_table``.
ONE_BY_ONE = 16
#: Problems :meth:`RecordScorer.check` lists at most: a body of 50,000 unknown keys is
#: answered at once, not with every one of them (megabytes, seconds of the event loop).
MAX_PROBLEMS = 100

#: A yes/no feature's value (1/0 as the model reads it) as a reason shows it
YES_NO = {
    "zh": {"1": "是", "0": "否", "1.0": "是", "0.0": "否"},
    "en": {"1": "yes", "0": "no", "1.0": "yes", "0.0": "no"},
}


class RecordError(DataError):
    """Records a request cannot be scored from: each problem names the record (0-based
    index), the field and what is wrong (``problems``)."""

    def __init__(self, problems: Sequence[Mapping[str, Any]]) -> None:
        self.problems = [dict(p) for p in problems]
        first = self.problems[0]
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        where = f"record {first['index']}" + (
            f", field {first['field']!r}" if first["field"] else ""
        )
        super().__init__(f"{where}: {first['problem']}{more}")


@dataclass(frozen=True)
class InputField:
    """One raw input field of the model: its name in requests (the table's header),
    custrisk's name for it, its type and role."""

    header: str
    name: str
    type: str
    role: str
    pii: bool
    required: bool
    allowed: tuple[str, ...] | None = None
    in_model: bool = False
    label: str = ""
    #: the factor the field's values are read with (月收入 as annual_income: 12)
    scale: int | None = None
    #: the unit its values may be written with (``35岁``: ``unit`` in the sources config,
    #: or the one its header names, 年龄)
    unit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "field": self.header,
            "name": self.name,
            "type": self.type,
            "role": self.role,
            "required": self.required,
            "personal_data": self.pii,
            "in_model": self.in_model,
        }
        if self.allowed is not None:
            out["allowed"] = list(self.allowed)
        if self.scale is not None:
            out["scale"] = self.scale
        if self.unit is not None:
            out["unit"] = self.unit
        return out


@dataclass
class ScoredBatch:
    """What :meth:`RecordScorer.score` gives: one decision per record, in order."""

    decisions: list[dict[str, Any]]
    as_of: dt.date
    model_id: str
    repaired: list[list[dict[str, Any]]] = field(default_factory=list)


class RecordScorer:
    """A loaded flat-table model with its configs and credit policy, ready to score
    records (prepared once; :meth:`score` is safe to call from several threads).

    Parameters
    ----------
    model : LoadedModel or str
        A model trained on a flat table (``custrisk train TABLE --target COLUMN``), or
        its folder, NAME or NAME@VERSION (verified and loaded from ``models_dir``).
    policy, alert_rules : loaded config or path, optional
        The credit policy (with its ``decision:`` section) and the early-warning rules;
        default: the packaged ones.
    lang : {"zh", "en"}
        Language of grade and reason labels.

    Raises
    ------
    UsageError
        The model was trained on monthly exports (it needs a customer's history).
    """

    def __init__(
        self,
        model: LoadedModel | str,
        *,
        policy: Policy | PathLike | None = None,
        alert_rules: AlertRules | PathLike | None = None,
        lang: str = "zh",
        strict: bool = False,
        models_dir: PathLike | None = None,
    ) -> None:
        check_language(lang)
        model = as_loaded_model(model, models_dir, predict_only=True)
        if not is_table_model(model):
            raise UsageError(
                f"model {model.model_id} was trained on monthly exports: scoring it needs each "
                "customer's transactions and events, which a request does not carry",
                hint="serve a model trained on a flat table of application fields: custrisk "
                "train application.csv --target 违约 (docs/serve.md)",
            )
        self.model = model
        self.lang = lang
        self.sources: SourcesConfig = model_table_config(model)
        self.spec = self.sources.sources[CUSTOMER_SOURCE]
        self.indicators = model_indicator_config(model, self.sources)
        self.policy = (
            policy
            if isinstance(policy, Policy)
            else load_policy(policy, indicators=self.indicators, strict=strict)
        )
        self.rules = (
            alert_rules
            if isinstance(alert_rules, AlertRules)
            else load_alert_rules(
                alert_rules, indicators=self.indicators, policy=self.policy, strict=strict
            )
        )
        self.fields = _input_fields(model, self.sources)
        #: the features that are yes/no columns (read as 1/0)
        self._yes_no = {f.name for f in self.fields if f.type == "bool" and f.role == "feature"}
        self.by_key: dict[str, InputField] = {}
        #: custrisk's names of scaled fields: a value sent under one would be read × scale
        self.scaled_names: dict[str, InputField] = {}
        for f in self.fields:
            self.by_key[f.header] = f
            if f.scale is not None and f.name != f.header:
                self.scaled_names[f.name] = f
            else:
                self.by_key.setdefault(f.name, f)
        # a field named as the batch matches a file's headers: 年齡 for 年龄, AGE for age
        self._matcher = HeaderMatcher([*self.by_key, *self.scaled_names])
        #: the fields' names folded, for a hint on an unknown one (負債收入 is near 负债收入比)
        self._folded = {header_key(k): k for k in self.by_key}
        self.id_field = next((f for f in self.fields if f.role == "id"), None)
        self.row_numbered = self.spec.row_number is not None
        self._true = self.sources.true_values[0] if self.sources.true_values else "true"
        self._false = self.sources.false_values[0] if self.sources.false_values else "false"
        self.top = int(model.card.get("reasons_top", 3))
        # Every field a model reads is a column of the one table a request fills, so no
        # feature is unavailable; the quick path is taken only when the policy then has
        # no rule to evaluate per customer (the batch path decides anything else).
        quick = QuickPath.build(
            self.spec, self.sources, self.indicators, list(model.card["candidate_features"])
        )
        self.quick = quick if quick is not None and self._plain_policy({}) else None
        # A few quick-path records are scored one by one on Python scalars (the
        # scorecard's score_one: no frame at all); a scorecard only, whose score_one
        # gives score_table's numbers exactly (tests compare them on every customer).
        estimator = model.model
        self._one = estimator if isinstance(estimator, ScorecardPredictions) else None
        self._kinds = (
            {c: estimator.binner_.bins_[c].kind for c in estimator.features_}
            if self._one is not None
            else {}
        )
        self._category_texts: dict[str, str] = {}

    @property
    def model_id(self) -> str:
        return self.model.model_id

    def card_summary(self) -> dict[str, Any]:
        """The model's summary for clients: input fields with types and allowed values,
        metrics, the decisions of the policy."""
        card = self.model.card
        holdout = (card.get("metrics") or {}).get("holdout") or {}
        return {
            "model_id": self.model_id,
            "algorithm": card.get("algorithm"),
            "created_at": card.get("created_at"),
            "fields": [f.to_dict() for f in self.fields if f.role != "target"],
            "features": list(card.get("features", [])),
            "metrics": {k: holdout.get(k) for k in ("n", "bad_rate", "auc", "ks", "gini", "brier")},
            "training": {k: (card.get("training") or {}).get(k) for k in ("rows", "bad_rate")},
            "scaling": (card.get("model") or {}).get("scaling"),
            "decision": self.policy.to_dict()["decision"],
            "grades": [
                {"grade": g.code, "label": g.label(self.lang), "band": g.band}
                for g in self.policy.grades
            ],
        }

    # -----------------------------------------------------------------------------------

    def check(self, records: Sequence[Any]) -> list[dict[str, Any]]:
        """Problems with the shape of ``records`` (not objects, unknown fields, values
        that are not text, numbers, true/false or null), each naming the record and field."""
        problems: list[dict[str, Any]] = []
        for i, record in enumerate(records):
            if len(problems) >= MAX_PROBLEMS:
                break
            if not isinstance(record, Mapping):
                problems.append(
                    {"index": i, "field": "", "problem": "a record must be a JSON object"}
                )
                continue
            given: dict[str, tuple[str, Any]] = {}  # field name -> (key, value) sent
            scored = False  # a value the model scores on is given
            for key, value in record.items():
                if len(problems) >= MAX_PROBLEMS:
                    break
                known, scaled = self._field(str(key))
                scored = scored or (known is not None and known.in_model and _given(value))
                first = given.setdefault(known.name, (str(key), value)) if known else None
                if (
                    known
                    and first
                    and first[0] != str(key)
                    and self._text(first[1]) != self._text(value)
                ):
                    # its header and custrisk's name (年龄 and col4): one would silently win
                    problems.append(
                        {
                            "index": i,
                            "field": str(key),
                            "problem": f"the field {known.header!r} is given twice, as "
                            f"{first[0]!r} and {str(key)!r}, with different values: send it once",
                        }
                    )
                    continue
                if known is None and scaled is not None:
                    problems.append(
                        {
                            "index": i,
                            "field": str(key),
                            "problem": f"{scaled.name} is read from the field {scaled.header!r}, "
                            f"its value × {scaled.scale:,}: send {scaled.header!r} as the table "
                            "has it",
                        }
                    )
                elif known is None:
                    close = difflib.get_close_matches(header_key(str(key)), self._folded, n=1)
                    close = [self._folded[c] for c in close]
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    problems.append(
                        {
                            "index": i,
                            "field": str(key),
                            "problem": f"unknown field{hint} (GET /v1/model lists the fields)",
                        }
                    )
                elif known.role == "id" and isinstance(value, bool):
                    problems.append(  # true would become the id "TRUE" (or "是")
                        {"index": i, "field": str(key), "problem": "an id is text or a number"}
                    )
                elif known.role == "id" and len(str(value).strip()) > MAX_ID_CHARS:
                    problems.append(
                        {
                            "index": i,
                            "field": str(key),
                            "problem": f"an id has at most {MAX_ID_CHARS} characters; got "
                            f"{len(str(value).strip()):,}",
                        }
                    )
                elif value is not None and not _scalar(value):
                    problems.append(
                        {
                            "index": i,
                            "field": str(key),
                            "problem": "expected text, a number, true/false or null; got "
                            + _kind(value),
                        }
                    )
            if len(problems) < MAX_PROBLEMS and not scored:
                scored_on = [f.header for f in self.fields if f.in_model]
                shown = ", ".join(scored_on[:6]) + (", ..." if len(scored_on) > 6 else "")
                problems.append(
                    {
                        "index": i,
                        "field": "",
                        "problem": "the record gives no value the model scores on "
                        f"({shown}): a decision on nothing but defaults is no decision",
                    }
                )
        if len(problems) >= MAX_PROBLEMS:
            del problems[MAX_PROBLEMS:]
            problems.append(
                {
                    "index": problems[-1]["index"],
                    "field": "",
                    "problem": f"more problems not listed: these are the first {MAX_PROBLEMS}",
                }
            )
        return problems

    def score(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        ids: Sequence[str] | None = None,
        as_of: dt.date | None = None,
    ) -> ScoredBatch:
        """Score ``records`` (raw input fields by header or name) in one pass.

        ``ids`` are the customer ids of records that carry none (default: the record's
        position, from 1). Missing fields and blanks are handled as the model handles
        them in batch; a value the cleaner repairs (e.g. an unparseable number of a
        column that allows blanks) is reported in ``ScoredBatch.repaired``.

        Raises
        ------
        RecordError
            A record is malformed, has an unknown field, or a value the cleaner rejects
            (the row would be a reject in batch): every problem, by record and field.
        """
        batch = self._score(records, ids=ids, as_of=as_of)
        if self._yes_no:  # a yes/no column's reason as 是/否, as the table writes it, not 1/0
            said = YES_NO[self.lang]
            for decision in batch.decisions:
                for reason in decision.get("reasons") or ():
                    if reason["code"] in self._yes_no and reason["value"] in said:
                        reason["value"] = said[reason["value"]]
        return batch

    def _score(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        ids: Sequence[str] | None,
        as_of: dt.date | None,
    ) -> ScoredBatch:
        problems = self.check(records)
        if problems:
            raise RecordError(problems)
        n = len(records)
        if n == 0:
            raise RecordError([{"index": 0, "field": "", "problem": "no record to score"}])
        columns = self._columns(records, ids)
        as_of = as_of or dt.date.today()
        if self.quick is not None:
            if self._one is not None and n <= ONE_BY_ONE:
                records_ = self.quick.records_of(columns, n)
                if records_ is not None:
                    decisions = self._one_by_one(records_)
                    return ScoredBatch(decisions, as_of, self.model_id, [[] for _ in range(n)])
            else:
                quick = self.quick.features_of(columns, n)
                if quick is not None:
                    decisions = self._fast(quick.current_limit, quick.frame)
                    return ScoredBatch(decisions, as_of, self.model_id, [[] for _ in range(n)])
        cleaned = clean_source(self.spec, [self._raw_table(columns, n)], self.sources)
        issues = cleaned.issues
        problems, repaired = self._issues(issues, n)
        if problems:
            raise RecordError(problems)
        frame = cleaned.frame
        result = compute_indicators(
            {CUSTOMER_SOURCE: frame}, self.indicators, as_of=as_of, check_as_of=False
        )
        workspace = Workspace(
            Path(REQUEST),
            self.sources,
            {CUSTOMER_SOURCE: frame},
            ValidationReport(
                REQUEST,
                self.sources.path,
                {
                    CUSTOMER_SOURCE: _report(
                        cleaned.rows_in, cleaned.rows_kept, cleaned.rows_repaired
                    )
                },
            ),
            issues,
        )
        X = result.frame.set_index("customer_id")
        unavailable = dict(result.unavailable)
        lacking = [c for c in self.model.card.get("features", []) if c in unavailable]
        if lacking:
            raise DataError(f"the model needs features the request cannot give: {lacking}")
        if self._plain_policy(unavailable):
            current = (
                frame["credit_limit"].to_numpy(dtype=np.float64, na_value=np.nan)
                if "credit_limit" in frame
                else np.full(len(X), np.nan)
            )
            decisions = self._fast(current, X)
            return ScoredBatch(decisions, result.as_of, self.model_id, repaired)
        features = Features(workspace, self.indicators, X, result.as_of, unavailable)
        scored = score_prepared(self.model, features, lang=self.lang)
        applied = apply_policy(
            scored.frame,
            scored.details,
            self.policy,
            self.rules,
            lang=self.lang,
            unavailable=features.unavailable,
        )
        decisions = self._decisions(applied.scores, scored.details, applied.alerts)
        return ScoredBatch(decisions, result.as_of, self.model_id, repaired)

    # -----------------------------------------------------------------------------------

    def _plain_policy(self, unavailable: Mapping[str, str]) -> bool:
        """Whether the policy reduces to grades and kept limits for these records: no
        limit rule to evaluate and no alert rule that can fire (rules reading a previous
        run or an indicator the data lacks are skipped, as in batch)."""
        if any(g.limit.rule is not None for g in self.policy.grades):
            return False
        return not any(
            not rule.needs_previous and not (rule.condition.names & set(unavailable))
            for rule in self.rules.rules
        )

    def _fast(self, current: np.ndarray, X: pd.DataFrame) -> list[dict[str, Any]]:
        """Score, reasons, grade, limit and decision without building the run's tables:
        the estimator's vectorised predictions and the policy's own functions, as
        :func:`~custrisk.scoring.score.score_prepared` and
        :func:`~custrisk.policy.apply_policy` compute them (tests check both agree)."""
        candidates = list(self.model.card["candidate_features"])
        inputs = X if list(X.columns) == candidates else X[candidates]
        table = self.model.model.score_table(inputs, top=self.top)
        pds = np.round(table.pd, PD_DECIMALS)
        scores = table.score.astype(np.int64, copy=False)
        labels = table.labels_zh if self.lang == "zh" else table.labels_en
        ranks = range(table.top)
        texts = [table.reason_texts(k + 1) for k in ranks]
        features = table.reason_feature.tolist()
        impacts = table.reason_impact
        reasons: list[list[dict[str, Any]]] = []
        for i, row in enumerate(features):
            reasons.append(
                [
                    {
                        "code": table.features[j],
                        "label": labels[j],
                        "value": None if texts[k][i] is None else str(texts[k][i]),
                        "impact": _number(impacts[i, k]),
                    }
                    for k, j in zip(ranks, row, strict=True)
                    if j >= 0
                ]
            )
        index = self.policy.grade_index(scores.astype(np.float64))
        recommended, review, _ = recommend_limits(self.policy, index, {}, current)
        ids = X.index.astype(str)
        out = []
        for i in range(len(X)):
            grade = self.policy.grades[int(index[i])]
            out.append(
                {
                    "customer_id": ids[i],
                    "pd": float(pds[i]),
                    "score": int(scores[i]),
                    "grade": grade.code,
                    "grade_label": grade.label(self.lang),
                    "decision": self.policy.decision(grade.code),
                    "current_limit": _number(current[i]),
                    "recommended_limit": _number(recommended[i]),
                    "review_flag": bool(review[i]),
                    "alert_level": None,
                    "alerts": [],
                    "reasons": reasons[i],
                    "model_id": self.model_id,
                    "lang": self.lang,
                }
            )
        return out

    def _one_by_one(self, quick: QuickRecords) -> list[dict[str, Any]]:
        """:meth:`_fast` for a few records, each scored by the scorecard's ``score_one``
        (the same PD, score, reasons and reason texts as ``score_table``)."""
        assert self._one is not None
        scored = [self._one.score_one(values, top=self.top) for values in quick.features]
        pds = np.round(np.array([s["pd"] for s in scored], dtype=np.float64), PD_DECIMALS)
        scores = np.array([s["score"] for s in scored], dtype=np.int64)
        current = np.array(quick.current_limit, dtype=np.float64)
        index = self.policy.grade_index(scores.astype(np.float64))
        recommended, review, _ = recommend_limits(self.policy, index, {}, current)
        label = "label_zh" if self.lang == "zh" else "label_en"
        out = []
        for i, one in enumerate(scored):
            grade = self.policy.grades[int(index[i])]
            out.append(
                {
                    "customer_id": quick.ids[i],
                    "pd": float(pds[i]),
                    "score": int(scores[i]),
                    "grade": grade.code,
                    "grade_label": grade.label(self.lang),
                    "decision": self.policy.decision(grade.code),
                    "current_limit": _number(current[i]),
                    "recommended_limit": _number(recommended[i]),
                    "review_flag": bool(review[i]),
                    "alert_level": None,
                    "alerts": [],
                    "reasons": [
                        {
                            "code": r["code"],
                            "label": r[label],
                            "value": self._reason_text(r["code"], r["value"]),
                            "impact": float(r["points_lost"]),
                        }
                        for r in one["reasons"]
                    ],
                    "model_id": self.model_id,
                    "lang": self.lang,
                }
            )
        return out

    def field_of(self, key: str) -> InputField | None:
        """The input field a record's key names: its header or custrisk's name, matched
        as a file's header is (年齡 and ａｇｅ are 年龄 and age)."""
        return self._field(key)[0]

    def knows(self, key: str) -> bool:
        """Whether a record's key names an input field, by its header or custrisk's name
        (a scaled field's name too: sent so, it is refused saying why)."""
        return any(self._field(key))

    def _field(self, key: str) -> tuple[InputField | None, InputField | None]:
        """:meth:`field_of`, and the scaled field ``key`` names by custrisk's name (a
        value sent so would be read × scale)."""
        name = self._matcher.find(key)
        if name is None:
            return None, None
        return self.by_key.get(name), self.scaled_names.get(name)

    def _reason_text(self, code: str, value: Any) -> str | None:
        """A reason's value as :meth:`ScoredTable.reason_texts` writes it: a number to
        6 significant digits, a category as is unless it reads as a number."""
        if value is None:
            return None
        if self._kinds[code] == "numeric":
            return NUMBER_FORMAT % float(value)
        text = str(value)
        shown = self._category_texts.get(text)
        if shown is None:
            shown = str(category_texts([text])[0])
            if len(self._category_texts) < 10_000:  # categories are few; bound it anyway
                self._category_texts[text] = shown
        return shown

    def _columns(
        self, records: Sequence[Mapping[str, Any]], ids: Sequence[str] | None
    ) -> dict[str, list[str | None]]:
        """The records as the table's text columns, as a CSV file is read (ids filled in)."""
        n = len(records)
        columns: dict[str, list[str | None]] = {c.name: [None] * n for c in self.spec.columns}
        for i, record in enumerate(records):
            for key, value in record.items():
                field = self._field(str(key))[0]
                assert field is not None  # (check() refused unknown fields)
                columns[field.name][i] = self._text(value)
        id_name = self.spec.key
        if id_name is not None and id_name in columns:
            values = columns[id_name]
            for i in range(n):
                # an id sent empty ("" from a web form's blank input) is no id, as one left
                # out: the id is optional (a 422 "required value is blank" said otherwise)
                text = values[i]
                if text is None or not text.strip() or self.row_numbered:
                    values[i] = str(ids[i]) if ids is not None else str(i + 1)
        return columns

    def _raw_table(self, columns: Mapping[str, list[str | None]], n: int) -> RawTable:
        table = pa.table(
            {name: pa.array(values, type=pa.large_string()) for name, values in columns.items()}
        )
        return RawTable(
            path=Path(REQUEST),
            table=table,
            lines=np.arange(1, n + 1, dtype=np.int64),
            header=list(columns),
            encoding="utf-8",
        )

    def _text(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool):
            return self._true if value else self._false
        if isinstance(value, float):
            return repr(value) if not value.is_integer() else str(int(value))
        return str(value)

    def _issues(
        self, issues: pd.DataFrame, n: int
    ) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
        problems: list[dict[str, Any]] = []
        repaired: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        if not len(issues):
            return problems, repaired
        header = {f.name: f.header for f in self.fields}
        pii = {f.name for f in self.fields if f.pii}
        for row in issues.itertuples(index=False):
            index = int(str(row.line)) - 1
            column = str(row.column)
            entry: dict[str, Any] = {
                "index": index,
                "field": header.get(column, column),
                "problem": _as_records(RULE_TEXT.get(str(row.rule), str(row.rule))),
            }
            message = getattr(row, "message", None)
            if isinstance(message, str) and message and column in header and column not in pii:
                entry["problem"] = _as_records(message)
            if column in header and column not in pii and isinstance(row.value, str):
                entry["value"] = row.value  # a field's own value, never a whole row
            if row.action in (DROPPED, SKIPPED):  # (a blank record is no decision either)
                problems.append(entry)
            elif 0 <= index < n:
                repaired[index].append(entry)
        return problems, repaired

    def _decisions(
        self, scores: pd.DataFrame, details: pd.DataFrame, alerts: pd.DataFrame
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        lang = self.lang
        reason_cols = [
            (
                f"reason_{k}_code",
                f"reason_{k}_label",
                details[f"reason_{k}_value"].to_numpy(dtype=object),
                details[f"reason_{k}_impact"].to_numpy(dtype=np.float64),
            )
            for k in range(1, self.top + 1)
            if f"reason_{k}_code" in scores
        ]
        columns = {c: scores[c].to_numpy(dtype=object) for c in scores.columns}
        messages: dict[str, list[dict[str, Any]]] = {}
        if len(alerts):
            for row in alerts.to_dict("records"):
                messages.setdefault(str(row["customer_id"]), []).append(
                    {"code": row.get("rule_code"), "level": row.get("level")}
                )
        for i in range(len(scores)):
            grade = str(columns["grade"][i])
            reasons = []
            for code_col, label_col, values, impacts in reason_cols:
                code = columns[code_col][i]
                if code is None or (isinstance(code, float) and math.isnan(code)):
                    continue
                reasons.append(
                    {
                        "code": str(code),
                        "label": str(columns[label_col][i]),
                        "value": None if values[i] is None else str(values[i]),
                        "impact": _number(impacts[i]),
                    }
                )
            customer = str(columns["customer_id"][i])
            out.append(
                {
                    "customer_id": customer,
                    "pd": float(columns["pd"][i]),
                    "score": int(columns["score"][i]),
                    "grade": grade,
                    "grade_label": str(columns["grade_label"][i]),
                    "decision": self.policy.decision(grade),
                    "current_limit": _number(columns["current_limit"][i]),
                    "recommended_limit": _number(columns["recommended_limit"][i]),
                    "review_flag": bool(columns["review_flag"][i]),
                    "alert_level": _text_or_none(columns["alert_level"][i]),
                    "alerts": messages.get(customer, []),
                    "reasons": reasons,
                    "model_id": self.model_id,
                    "lang": lang,
                }
            )
        return out


def _as_records(message: str) -> str:
    """A cleaner's message about the request's one-file table in the request's words:
    ``line 2`` is ``record 1`` (0-based, as the problems' ``index``), a row a record."""
    message = _LINE.sub(lambda m: f"record {int(m.group(1)) - 1}", message)
    message = _KEPT.sub("", message)  # a request with a rejected record is refused whole
    return _ROW.sub(lambda m: "record" + m.group(1), message)


_LINE = re.compile(r"\bline (\d+)\b")
_ROW = re.compile(r"\brow(s?)\b")
_KEPT = re.compile(r" \(the (?:first|last) row is kept: [^)]*\)")


def _given(value: Any) -> bool:
    """Whether a record's value holds something (not null, not blank text)."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def _scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, _SCALARS)


def _kind(value: Any) -> str:
    if isinstance(value, float):
        return "a number that is not finite"
    if isinstance(value, Mapping):
        return "an object"
    return "a list" if isinstance(value, list) else type(value).__name__


def _number(value: Any) -> float | None:
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _text_or_none(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value) or None


def _report(rows_in: int, kept: int, repaired: int) -> SourceReport:
    return SourceReport(
        name=CUSTOMER_SOURCE,
        files=(REQUEST,),
        encodings=("utf-8",),
        rows_in=rows_in,
        rows_kept=kept,
        rows_rejected=rows_in - kept,
        rows_repaired=repaired,
        rules={},
    )


def _input_fields(model: LoadedModel, sources: SourcesConfig) -> list[InputField]:
    """The model's raw input fields from its card (the inferred table layout)."""
    info = model.card[TABLE_CARD_KEY]
    spec = sources.sources[CUSTOMER_SOURCE]
    bins = (model.card.get("model") or {}).get("bins") or {}
    used = set(model.card.get("features", []))
    out = []
    for col in info["columns"]:
        if col["role"] == "ignored":
            continue
        name = col["name"]
        declared = next((c for c in spec.columns if c.name == name), None)
        allowed = None
        if col["type"] == "category" and isinstance(bins.get(name), Mapping):
            categories = bins[name].get("categories")
            if isinstance(categories, Mapping):
                allowed = tuple(sorted(categories, key=lambda k: categories[k]))
        in_model = name in used or any(code.startswith(f"{name}_") for code in used)
        out.append(
            InputField(
                header=col["header"],
                name=name,
                type=col["type"],
                role=col["role"],
                pii=bool(col.get("pii")),
                # a record without an id is scored under the id it is given (ids=)
                required=bool(declared.required) and col["role"] != "id"
                if declared is not None
                else False,
                allowed=allowed,
                in_model=in_model,
                label=col["header"],
                scale=col.get("scale"),
                # (declared, or named by its header: 年龄 takes 35岁 too)
                unit=declared.read_units[0] if declared and declared.read_units else None,
            )
        )
    return out


__all__ = ["InputField", "RecordError", "RecordScorer", "ScoredBatch"]
