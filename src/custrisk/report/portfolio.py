"""The plain data of the portfolio risk report (see :mod:`custrisk.report.context`)."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from custrisk.report.config import ReportConfig
from custrisk.report.context import (
    DRIFT_ROWS_ALWAYS,
    _header,
    _indicator_meta,
    _level_info,
    _masked_name,
    _owner,
    _policy_grades,
    _text,
    grade_info,
)
from custrisk.report.formatting import Formatter, finite
from custrisk.report.inputs import ReportInputs
from custrisk.results import INDICATOR_PREFIX

log = logging.getLogger(__name__)


def _pd_band_labels(edges: tuple[float, ...], fmt: Formatter) -> list[str]:
    texts = [fmt.percent(e, 0) if e * 100 == round(e * 100) else fmt.percent(e) for e in edges]
    labels = [f"< {texts[0]}"]
    labels += [f"{a} – {b}" for a, b in zip(texts, texts[1:], strict=False)]
    labels.append(f"≥ {texts[-1]}")
    return labels


def _exposure_band_labels(edges: tuple[float, ...], fmt: Formatter) -> list[str]:
    texts = [fmt.money_round(e) for e in edges]
    labels = [f"< {texts[0]}"]
    labels += [f"{a} – {b}" for a, b in zip(texts, texts[1:], strict=False)]
    labels.append(f"≥ {texts[-1]}")
    return labels


def _heat(value: float, top: float) -> int:
    if top <= 0 or value <= 0:
        return 0
    return max(1, min(4, math.ceil(4 * value / top)))


def _frame(inputs: ReportInputs, config: ReportConfig) -> pd.DataFrame:
    """Scores joined with the portfolio fields of the details (exposure, identity, KPIs)."""
    frame = inputs.scores.copy()
    details = inputs.details.reindex(frame["customer_id"])
    for column in ("outstanding_balance", "credit_limit", "name_masked", "region"):
        frame[column] = details[column].to_numpy() if column in details.columns else np.nan
    frame["exposure"] = pd.to_numeric(frame["outstanding_balance"], errors="coerce").fillna(0.0)
    frame["expected_loss"] = frame["pd"].fillna(0.0) * frame["exposure"] * config.lgd
    if "current_limit" not in frame.columns or frame["current_limit"].isna().all():
        frame["current_limit"] = pd.to_numeric(frame["credit_limit"], errors="coerce")
    return frame


def _grade_order(
    frame: pd.DataFrame, config: ReportConfig, run: Mapping[str, Any] | None = None
) -> list[str]:
    """The grades of the run's policy, best first, those without customers included (a
    grade nobody reached is a finding, as on the console of ``custrisk score``); then
    any other grade the scores hold. Without a policy in the run: the grades present."""
    present = [str(g) for g in frame["grade"].dropna().unique()]
    policy = _policy_grades(run or {})
    if policy:
        ranked = sorted(policy, key=lambda code: _rank(policy[code]))
        return ranked + sorted(g for g in present if g not in policy)
    ordered = [g for g in config.grades if g in present]
    return ordered + sorted(g for g in present if g not in config.grades)


def _rank(entry: Mapping[str, Any]) -> float:
    rank = entry.get("rank")
    return float(rank) if isinstance(rank, int | float) and not isinstance(rank, bool) else 0.0


def _has_exposure(frame: pd.DataFrame) -> bool:
    """Whether the run knows any customer's balance: a run of new customers (an
    application table) has none, and its exposure and expected loss are unknown, not 0."""
    return bool(pd.to_numeric(frame["outstanding_balance"], errors="coerce").notna().any())


def _grades_section(
    frame: pd.DataFrame,
    inputs: ReportInputs,
    config: ReportConfig,
    fmt: Formatter,
    lang: str,
    known: bool,
) -> list[dict[str, Any]] | None:
    """The grades table (``known``: whether any balance is, for exposure and loss)."""
    if "grade" not in frame.columns or frame["grade"].isna().all():
        return None
    total = len(frame)
    rows = []
    for grade in _grade_order(frame, config, inputs.run):
        part = frame[frame["grade"].astype(str) == grade]
        label_source = (
            part["grade_label"].iloc[0] if "grade_label" in part.columns and len(part) else None
        )
        info = grade_info(
            grade, run=inputs.run, config=config, lang=lang, fallback_label=label_source
        )
        exposure = float(part["exposure"].sum())
        rows.append(
            {
                **(info or {}),
                "count": len(part),
                "share": len(part) / total if total else 0.0,
                "share_text": fmt.percent(len(part) / total if total else None),
                "exposure_text": fmt.money_big(exposure if known else None),
                "mean_pd_text": fmt.pd(part["pd"].mean()),
                "mean_score_text": fmt.integer(part["score"].mean()),
                "expected_loss_text": fmt.money_big(part["expected_loss"].sum() if known else None),
            }
        )
    return rows


def _histogram(frame: pd.DataFrame, config: ReportConfig) -> dict[str, Any]:
    scores = frame["score"].dropna().to_numpy(dtype=np.float64)
    width = config.score_bin_width
    if not len(scores):
        return {"bins": [], "width": width}
    start = math.floor(scores.min() / width) * width
    stop = (math.floor(scores.max() / width) + 1) * width
    edges = np.arange(start, stop + width, width, dtype=np.float64)
    counts, _ = np.histogram(scores, bins=edges)
    grades = frame["grade"].astype(str).to_numpy() if "grade" in frame.columns else None
    bins = []
    for i, count in enumerate(counts):
        low, high = float(edges[i]), float(edges[i + 1])
        dominant = None
        if grades is not None and count:
            inside = (scores >= low) & (scores < high)
            values, times = np.unique(grades[inside], return_counts=True)
            dominant = str(values[np.argmax(times)])
        bins.append({"from": low, "to": high, "count": int(count), "grade": dominant})
    return {"bins": bins, "width": width}


def _matrix(
    frame: pd.DataFrame, config: ReportConfig, fmt: Formatter, known: bool
) -> dict[str, Any] | None:
    if not known:
        return None  # every customer in the lowest exposure band would be made up
    pd_band = np.searchsorted(np.array(config.pd_bands), frame["pd"].fillna(0).to_numpy(), "right")
    ex_band = np.searchsorted(
        np.array(config.exposure_bands), frame["exposure"].to_numpy(), "right"
    )
    n_pd, n_ex = len(config.pd_bands) + 1, len(config.exposure_bands) + 1
    counts = np.zeros((n_pd, n_ex), dtype=np.int64)
    losses = np.zeros((n_pd, n_ex), dtype=np.float64)
    np.add.at(counts, (pd_band, ex_band), 1)
    np.add.at(losses, (pd_band, ex_band), frame["expected_loss"].to_numpy())
    top = float(losses.max()) if losses.size else 0.0
    rows = []
    for i, label in enumerate(_pd_band_labels(config.pd_bands, fmt)):
        rows.append(
            {
                "label": label,
                "cells": [
                    {
                        "count": int(counts[i, j]),
                        "expected_loss_text": fmt.money_big(losses[i, j]),
                        "heat": _heat(float(losses[i, j]), top),
                    }
                    for j in range(n_ex)
                ],
                "count": int(counts[i].sum()),
                "expected_loss_text": fmt.money_big(losses[i].sum()),
            }
        )
    return {
        "columns": _exposure_band_labels(config.exposure_bands, fmt),
        "rows": rows,
        "column_counts": [int(c) for c in counts.sum(axis=0)],
        "column_losses": [fmt.money_big(v) for v in losses.sum(axis=0)],
        "count": int(counts.sum()),
        "expected_loss_text": fmt.money_big(losses.sum()),
        "lgd_text": fmt.percent(config.lgd, 0),
    }


def _limits(
    frame: pd.DataFrame, inputs: ReportInputs, config: ReportConfig, fmt: Formatter, lang: str
) -> dict[str, Any] | None:
    if "recommended_limit" not in frame.columns or frame["current_limit"].isna().all():
        return None  # no current limit: nothing to raise or cut (new customers)
    change = frame["limit_change"] if "limit_change" in frame.columns else None
    if change is None or change.isna().all():
        change = frame["recommended_limit"] - frame["current_limit"]
    frame = frame.assign(_change=change)
    review = frame["review_flag"] if "review_flag" in frame.columns else None

    def summary(part: pd.DataFrame) -> dict[str, Any]:
        return {
            "count": len(part),
            "current_text": fmt.money_big(part["current_limit"].sum()),
            "recommended_text": fmt.money_big(part["recommended_limit"].sum()),
            "net_change_text": fmt.money_big(part["_change"].sum()),
            "increase": int((part["_change"] > 0).sum()),
            "decrease": int((part["_change"] < 0).sum()),
            "unchanged": int((part["_change"] == 0).sum()),
            "review": int(part["review_flag"].sum()) if review is not None else None,
        }

    rows = []
    if "grade" in frame.columns:
        for grade in _grade_order(frame, config, inputs.run):
            part = frame[frame["grade"].astype(str) == grade]
            info = grade_info(grade, run=inputs.run, config=config, lang=lang, fallback_label=None)
            rows.append({**(info or {}), **summary(part)})
    return {"rows": rows, "total": summary(frame), "has_review": review is not None}


def _alerts_summary(
    frame: pd.DataFrame, inputs: ReportInputs, config: ReportConfig, lang: str
) -> dict[str, Any] | None:
    alerts = inputs.alerts
    if alerts is None:
        if "alert_level" not in frame.columns:
            return None
        levels = frame["alert_level"].dropna().astype(str).str.lower()
        levels = levels[levels != ""]
        alerts = pd.DataFrame(
            {
                "level": levels.to_numpy(),
                "customer_id": frame.loc[levels.index, "customer_id"].to_numpy(),
            }
        )
    present = list(dict.fromkeys(alerts["level"].astype(str)))
    order = [lv for lv in config.alert_levels if lv in present] + sorted(
        lv for lv in present if lv not in config.alert_levels
    )
    order = order or list(config.alert_levels)
    # Each customer is counted once, at the most severe level of their alerts (as
    # `custrisk score` prints it), so that the levels' customers add up to the total.
    rank = alerts["level"].astype(str).map({level: i for i, level in enumerate(order)})
    highest = rank.groupby(alerts["customer_id"].astype(str)).min()
    by_level = []
    for i, level in enumerate(order):
        by_level.append(
            {
                **(_level_info(level, config, lang) or {}),
                "count": int((rank == i).sum()),
                "customers": int((highest == i).sum()),
            }
        )
    owners: list[dict[str, Any]] = []
    if "owner" in alerts.columns:
        table = alerts.assign(owner=alerts["owner"].fillna("").astype(str))
        for owner, part in table.groupby("owner", sort=True):
            counts = [int((part["level"] == level).sum()) for level in order]
            owners.append(
                {"owner": _owner(owner, config, lang), "counts": counts, "total": len(part)}
            )
        owners.sort(key=lambda o: (-o["total"], o["owner"] or ""))
    return {
        "levels": by_level,
        "owners": owners,
        "total": len(alerts),
        "customers": int(alerts["customer_id"].nunique()),
    }


def _top(
    frame: pd.DataFrame,
    inputs: ReportInputs,
    config: ReportConfig,
    fmt: Formatter,
    lang: str,
    known: bool,
) -> list[dict[str, Any]]:
    # by expected loss; by PD when no balance is known (new customers: no loss to rank)
    by = "expected_loss" if known else "pd"
    ranked = frame.sort_values([by, "customer_id"], ascending=[False, True], kind="mergesort").head(
        config.top_customers
    )
    out = []
    for rank, row in enumerate(ranked.to_dict(orient="records"), start=1):
        out.append(
            {
                "rank": rank,
                "customer_id": str(row["customer_id"]),
                "name": _masked_name(row.get("name_masked")),
                "region": _text(row.get("region")),
                "grade": grade_info(
                    row.get("grade"),
                    run=inputs.run,
                    config=config,
                    lang=lang,
                    fallback_label=row.get("grade_label"),
                ),
                "score_text": fmt.integer(row.get("score")),
                "pd_text": fmt.pd(row.get("pd")),
                "exposure_text": fmt.money(row.get("exposure")),
                "expected_loss_text": fmt.money(row.get("expected_loss")),
                "alert_level": _level_info(row.get("alert_level"), config, lang),
            }
        )
    return out


def _service(
    inputs: ReportInputs, config: ReportConfig, fmt: Formatter, lang: str
) -> dict[str, Any] | None:
    """Service KPIs by segment, against their targets, month over month (with history),
    and the customers behind each breach (masked names only)."""
    details = inputs.details.reindex(inputs.scores["customer_id"])
    service = config.service
    kpis: dict[str, str] = {}
    for name in ("complaint_rate", "response_hours", "satisfaction", "unresolved"):
        columns = [f"{INDICATOR_PREFIX}{code}" for code in service[name]]
        found = [column for column in columns if column in details.columns]
        if found:
            kpis[name] = found[0]
    if not kpis:
        return None
    group_name = group_column = None
    for candidate in service["group_by"]:
        for column in (candidate, f"{INDICATOR_PREFIX}{candidate}"):
            if column in details.columns and details[column].notna().any():
                group_name, group_column = candidate, column
                break
        if group_column:
            break
    texts = config.texts[lang]
    target = float(service["response_target_hours"])

    def summary(part: pd.DataFrame, group: str | None) -> dict[str, Any]:
        values = _service_values(part, kpis, target)
        return {
            "group": group,
            "customers": len(part),
            "complaint_rate_text": fmt.percent(values["complaint_rate"], 2),
            "response_hours_text": fmt.decimal(values["response_hours"], 1),
            "within_target_text": fmt.percent(values["within_target"], 1),
            "unresolved_text": fmt.integer(values["unresolved"]),
            "satisfaction_text": fmt.decimal(values["satisfaction"], 2),
        }

    rows = []
    if group_column is not None:
        keyed = details.assign(_group=details[group_column].astype(str))
        for group, part in keyed.groupby("_group", sort=True):
            rows.append(summary(part, str(group)))
    trend = []
    periods = [(h.as_of, h.details) for h in inputs.history if h.details is not None]
    periods.append((str(inputs.run.get("as_of") or ""), details))
    previous: dict[str, float | None] | None = None
    for as_of, frame in periods:
        if frame is None:
            continue
        present = {k: c for k, c in kpis.items() if c in frame.columns}
        values = _service_values(frame, present, target)
        trend.append(
            {
                "as_of": as_of[:10],
                "customers": len(frame),
                "complaint_rate_text": fmt.percent(values["complaint_rate"], 2),
                "response_hours_text": fmt.decimal(values["response_hours"], 1),
                "within_target_text": fmt.percent(values["within_target"], 1),
                "unresolved_text": fmt.integer(values["unresolved"]),
                "satisfaction_text": fmt.decimal(values["satisfaction"], 2),
                "worse": _worse(previous, values),
            }
        )
        previous = values
    return {
        "group_by": group_name,
        "group_label": texts.get(group_name or "", group_name),
        "note": texts.get(f"grouped_by_{group_name}", ""),
        "kpis": sorted(kpis),
        "rows": rows,
        "total": summary(details, None),
        "target_text": f"{fmt.decimal(target, 0)} h",
        "trend": trend if len(trend) > 1 else [],
        "breaches": _breaches(inputs, details, kpis, config, fmt, texts),
    }


def _service_values(
    frame: pd.DataFrame, kpis: Mapping[str, str], target: float
) -> dict[str, float | None]:
    def mean(name: str) -> float | None:
        if name not in kpis:
            return None
        value = pd.to_numeric(frame[kpis[name]], errors="coerce").mean()
        return float(value) if pd.notna(value) else None

    within = None
    if "response_hours" in kpis:
        hours = pd.to_numeric(frame[kpis["response_hours"]], errors="coerce").dropna()
        within = float((hours <= target).mean()) if len(hours) else None
    unresolved = None
    if "unresolved" in kpis:
        unresolved = float(pd.to_numeric(frame[kpis["unresolved"]], errors="coerce").sum())
    return {
        "complaint_rate": mean("complaint_rate"),
        "response_hours": mean("response_hours"),
        "within_target": within,
        "unresolved": unresolved,
        "satisfaction": mean("satisfaction"),
    }


#: For each KPI, whether a higher value is worse (month-over-month arrows).
_HIGHER_IS_WORSE = {
    "complaint_rate": True,
    "response_hours": True,
    "within_target": False,
    "unresolved": True,
    "satisfaction": False,
}


def _worse(
    previous: Mapping[str, float | None] | None, current: Mapping[str, float | None]
) -> list[str]:
    """The KPIs that got worse against the previous period."""
    if previous is None:
        return []
    worse = []
    for name, higher_is_worse in _HIGHER_IS_WORSE.items():
        before, now = previous.get(name), current.get(name)
        if before is None or now is None or before == now:
            continue
        if (now > before) == higher_is_worse:
            worse.append(name)
    return worse


def _breaches(
    inputs: ReportInputs,
    details: pd.DataFrame,
    kpis: Mapping[str, str],
    config: ReportConfig,
    fmt: Formatter,
    texts: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Per target: how many customers miss it and the worst of them (masked names)."""
    service = config.service
    checks = [
        (
            "response_hours",
            "breach_response",
            lambda v: v > service["response_target_hours"],
            False,
        ),
        ("unresolved", "breach_unresolved", lambda v: v >= 1, False),
        ("satisfaction", "breach_satisfaction", lambda v: v < service["satisfaction_floor"], True),
        (
            "complaint_rate",
            "breach_complaint_rate",
            lambda v: v > service["complaint_rate_ceiling"],
            False,
        ),
    ]
    grades = inputs.scores.set_index("customer_id")["grade"] if "grade" in inputs.scores else None
    out = []
    for name, label, breached, ascending in checks:
        if name not in kpis:
            continue
        values = pd.to_numeric(details[kpis[name]], errors="coerce")
        hit = values[[pd.notna(v) and bool(breached(v)) for v in values]]
        if hit.empty:
            continue
        worst = hit.sort_values(ascending=ascending, kind="stable").head(
            int(service["breach_customers"])
        )
        customers = []
        for customer_id, value in worst.items():
            name_masked = (
                details.at[customer_id, "name_masked"] if "name_masked" in details.columns else None
            )
            customers.append(
                {
                    "customer_id": str(customer_id),
                    "name": _masked_name(name_masked),
                    "grade": None if grades is None else str(grades.get(customer_id, "")),
                    "value_text": fmt.percent(float(value), 1)
                    if name == "complaint_rate"
                    else fmt.decimal(float(value), 0 if name == "unresolved" else 1),
                }
            )
        out.append(
            {
                "kpi": name,
                "label": texts.get(label, label),
                "count": len(hit),
                "share_text": fmt.percent(len(hit) / max(len(details), 1), 1),
                "customers": customers,
            }
        )
    return out


def _model(run: Mapping[str, Any], fmt: Formatter) -> dict[str, Any]:
    metrics = run.get("model_metrics") or {}
    training = run.get("model_training") or {}
    calibration = [
        {"mean_pd": finite(b.get("mean_pd")), "bad_rate": finite(b.get("bad_rate"))}
        for b in metrics.get("calibration") or []
        if isinstance(b, Mapping)
    ]
    return {
        "training_as_of": _text(training.get("as_of")),
        "training_rows_text": fmt.integer(training.get("rows")),
        "bad_rate_text": fmt.percent(training.get("bad_rate"), 2),
        "metrics": {
            name: fmt.decimal(metrics.get(name), 3) for name in ("auc", "ks", "gini", "brier")
        },
        "calibration": [c for c in calibration if c["mean_pd"] is not None],
        "customers_text": fmt.integer(run.get("customers")),
        "rows_rejected_text": fmt.integer(run.get("rows_rejected")),
    }


def _drift(
    drift: dict[str, Any] | None,
    run: Mapping[str, Any],
    config: ReportConfig,
    fmt: Formatter,
    lang: str,
) -> dict[str, Any] | None:
    """Drift statistics, most severe verdict first, with labels."""
    if drift is None:
        return None
    texts = config.texts[lang]
    indicators = run.get("indicators") or {}

    def label(name: str) -> str:
        if name in indicators:
            return str(_indicator_meta(run, name, lang, texts)["label"])
        return texts.get(f"drift_{name}", name)

    def verdict(code: str | None) -> dict[str, Any] | None:
        if not code:
            return None
        labels = config.drift_verdicts.get(code.lower())
        return {
            "code": code.lower(),
            "label": labels[lang] if labels else code,
            "rank": int(labels["rank"]) if labels else 0,
        }

    rows = []
    for item in drift["statistics"]:
        rows.append(
            {
                "name": item["name"],
                "label": label(item["name"]),
                "kind": item["kind"],
                "value_text": fmt.decimal(item["value"], 4),
                "verdict": verdict(item["verdict"]),
            }
        )
    rows.sort(key=lambda d: -(d["verdict"]["rank"] if d["verdict"] else 0))
    if len(rows) <= DRIFT_ROWS_ALWAYS:
        shown, hidden = rows, []
    else:
        shown = [r for r in rows if r["verdict"] and r["verdict"]["rank"] > 0]
        shown = shown or rows[:DRIFT_ROWS_ALWAYS]
        hidden = [r["label"] for r in rows if r not in shown]
    return {
        "verdict": verdict(drift.get("verdict")),
        "as_of": drift.get("as_of"),
        "rows": rows,
        "shown": shown,
        "hidden": hidden,
    }


def _migration_from_policy(run: Mapping[str, Any]) -> dict[str, Any] | None:
    """The policy stage's matrix: ``{rows, columns, counts, previous_as_of, ...}``."""
    raw = run.get("migration") or (run.get("policy") or {}).get("migration")
    if not isinstance(raw, Mapping):
        return None
    rows, columns, counts = raw.get("rows"), raw.get("columns"), raw.get("counts")
    if (
        not isinstance(rows, list)
        or not isinstance(columns, list)
        or not isinstance(counts, list)
        or len(counts) != len(rows)
        or any(not isinstance(r, list) or len(r) != len(columns) for r in counts)
    ):
        log.warning("the policy's migration matrix has an unknown shape; it is left out")
        return None
    return {
        "rows": [str(r) for r in rows],
        "columns": [str(c) for c in columns],
        "counts": [[int(finite(v) or 0) for v in row] for row in counts],
        "previous_as_of": _text(raw.get("previous_as_of")),
    }


def _migration_from_history(frame: pd.DataFrame, inputs: ReportInputs) -> dict[str, Any] | None:
    previous = inputs.history[-1] if inputs.history else None
    if previous is None or "grade" not in previous.frame.columns or "grade" not in frame.columns:
        return None
    before = previous.frame["grade"].astype("str")
    after = pd.Series(frame["grade"].astype("str").to_numpy(), index=frame["customer_id"])
    grades = sorted(set(before) | set(after))
    both = before.index.intersection(after.index)
    table = pd.crosstab(before[both], after[both]).reindex(index=grades, columns=grades).fillna(0)
    new = after[~after.index.isin(before.index)].value_counts().reindex(grades).fillna(0)
    gone = before[~before.index.isin(after.index)].value_counts().reindex(grades).fillna(0)
    counts = [[*map(int, table.loc[g]), int(gone[g])] for g in grades]
    counts.append([*map(int, new), 0])
    return {
        "rows": [*grades, "new"],
        "columns": [*grades, "departed"],
        "counts": counts,
        "previous_as_of": previous.as_of,
    }


def _migration(
    frame: pd.DataFrame, inputs: ReportInputs, config: ReportConfig, lang: str
) -> dict[str, Any] | None:
    """Grade migration: from the policy's matrix, else from the latest history run."""
    raw = _migration_from_policy(inputs.run) or _migration_from_history(frame, inputs)
    if raw is None:
        return None
    texts = config.texts[lang]
    special = {
        "new": texts.get("migration_new", "new"),
        "departed": texts.get("migration_departed", "departed"),
    }
    order = list(config.grades)

    def rank(code: str) -> tuple[int, str]:
        if code in special:
            return (len(order) + 1, code)
        return (order.index(code) if code in order else len(order), code)

    rows_order = sorted(range(len(raw["rows"])), key=lambda i: rank(raw["rows"][i]))
    cols_order = sorted(range(len(raw["columns"])), key=lambda j: rank(raw["columns"][j]))
    columns = [raw["columns"][j] for j in cols_order]
    rows = []
    for i in rows_order:
        code = raw["rows"][i]
        counts = [raw["counts"][i][j] for j in cols_order]
        rows.append(
            {
                "label": special.get(code, code),
                "counts": counts,
                "total": sum(counts),
                "diagonal": columns.index(code) if code in columns else None,
            }
        )
    return {
        "columns": [special.get(c, c) for c in columns],
        "rows": rows,
        "previous_as_of": raw["previous_as_of"],
    }


def build_portfolio_context(
    inputs: ReportInputs,
    *,
    config: ReportConfig,
    lang: str = "zh",
    report_date: dt.date | None = None,
) -> dict[str, Any]:
    """The data of the portfolio risk report (all customers of the run).

    Parameters
    ----------
    inputs : ReportInputs
        The scoring run; ``inputs.drift`` and ``inputs.history`` add the drift and
        migration sections when given.
    config : ReportConfig
        LGD, PD and exposure bands, number of top customers, labels.
    lang : {"zh", "en"}
        Language of the labels and number formats.
    report_date : datetime.date, optional
        The date printed on the report (default: today).

    Returns
    -------
    dict
        Plain data: JSON-serialisable, no markup.
    """
    header = _header(inputs, config, lang, report_date)
    fmt = Formatter(config, lang)
    frame = _frame(inputs, config)
    known = _has_exposure(frame)
    exposure = float(frame["exposure"].sum()) if known else None
    loss = float(frame["expected_loss"].sum()) if known else None
    limit = frame["current_limit"].sum() if frame["current_limit"].notna().any() else None
    alerts = _alerts_summary(frame, inputs, config, lang)
    red = next(iter(config.alert_levels))
    return {
        "kind": "portfolio",
        **header,
        "has_exposure": known,
        "overview": {
            "customers": len(frame),
            "customers_text": fmt.integer(len(frame)),
            "total_exposure_text": fmt.money_big(exposure),
            "total_limit_text": fmt.money_big(limit),
            "mean_pd_text": fmt.pd(frame["pd"].mean()),
            "mean_score_text": fmt.integer(frame["score"].mean()),
            "expected_loss_text": fmt.money_big(loss),
            "el_rate_text": fmt.percent(
                loss / exposure if loss is not None and exposure else None, 2
            ),
            "customers_with_alerts_text": fmt.integer(alerts["customers"] if alerts else None),
            "top_level": _level_info(red, config, lang),
            "top_level_count_text": fmt.integer(
                next((lv["count"] for lv in alerts["levels"] if lv["code"] == red), 0)
                if alerts
                else None
            ),
        },
        "grades": _grades_section(frame, inputs, config, fmt, lang, known),
        "histogram": _histogram(frame, config),
        "matrix": _matrix(frame, config, fmt, known),
        "limits": _limits(frame, inputs, config, fmt, lang),
        "alerts": alerts,
        "top": _top(frame, inputs, config, fmt, lang, known),
        "service": _service(inputs, config, fmt, lang),
        "model": _model(inputs.run, fmt),
        "drift": _drift(inputs.drift, inputs.run, config, fmt, lang),
        "migration": _migration(frame, inputs, config, lang),
    }
