"""A strategy review on disk: CSV tables, one workbook, one PDF, the facts as JSON and,
when asked, a proposed policy YAML.

The PDF reuses the report templates' stylesheet, fonts and SVG charts
(:mod:`custrisk.report`); the workbook is written by :mod:`custrisk.io.excel_out`.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from custrisk.io.atomic import atomic_open, ensure_dir, write_bytes, write_text
from custrisk.io.excel_out import LEVEL_FILLS, Sheet, ramp, write_workbook
from custrisk.io.plain import brief_repr
from custrisk.io.safe_csv import escape_frame
from custrisk.report.charts import AXIS_FILL, AXIS_SIZE, Chart, paired_legend, percent_grid
from custrisk.report.config import ReportConfig, load_report_config
from custrisk.report.formatting import Formatter, points
from custrisk.report.render import ReportRenderer
from custrisk.review.alerts import COUNT_COLUMNS, AlertReview, over_share
from custrisk.review.backtest import GradeBacktest
from custrisk.review.whatif import (
    DEPRECATED_TOTALS,
    MOVES_BY_PD,
    CutoffProposal,
    PolicyComparison,
)
from custrisk.vocab import check_language

if TYPE_CHECKING:
    from weasyprint.document import Document

#: File names of a review folder.
GRADES_CSV = "backtest_grades.csv"
ALERTS_CSV = "alert_effectiveness.csv"
#: The alert effectiveness against another outcome than ``bad``: ``.format(kind=...)``.
ALERTS_KIND_CSV = "alert_effectiveness_{kind}.csv"
SWAP_CSV = "policy_swap.csv"
MOVES_CSV = "policy_moves.csv"
TOTALS_CSV = "policy_totals.csv"
POLICY_GRADES_CSV = "policy_grades.csv"
CUTOFFS_CSV = "proposed_cutoffs.csv"
PROPOSED_POLICY = "proposed_policy.yaml"
WORKBOOK = "backtest.xlsx"
PDF = "backtest.pdf"
FACTS = "backtest.json"
TEMPLATE = "backtest.html"

_LABELS = {
    "zh": {
        "title": "策略回测报告",
        "as_of": "评分日期",
        "model": "模型",
        "customers": "客户数",
        "bads": "违约数",
        "bad_rate": "违约率",
        "mean_pd": "平均PD",
        "expected_bads": "预期违约数",
        "exposure": "敞口",
        "utilisation": "额度使用率",
        "expected_loss": "预期损失",
        "observed_loss": "实际损失",
        "loss_ratio": "实际/预期",
        "p_value": "二项检验p值",
        "calibration": "校准",
        "grade": "评级",
        "section_grades": "分级回测",
        "monotone_yes": "违约率随评级逐级上升",
        "monotone_no": "违约率未随评级逐级上升：",
        "gini_grades": "评级排序Gini",
        "gini_score": "评分Gini",
        "section_alerts": "预警规则有效性",
        "outcome_bad": "违约",
        "outcome_churned": "流失",
        "outcome_escalated": "升级",
        "outcome_any": "任一结果",
        "against": "对照结果",
        "unique_churned": "独有流失",
        "unique_escalated": "独有升级",
        "unique_outcomes": "独有结果",
        "code": "规则",
        "level": "级别",
        "fired": "触发",
        "share": "占比",
        "precision": "精确率",
        "recall": "召回率",
        "lift": "提升度",
        "lead_days": "提前天数",
        "overlap": "重叠",
        "unique_bads": "独有违约",
        "flags": "标记",
        "suggested": "建议条件（每条规则≤{share}）",
        "suggested_none": "每条规则触发的客户占比均不超过{share}，无需调整。",
        "suggested_fires": "触发{share}",
        "suggested_then": "调整后触发{share}，精确率{precision}",
        "suggested_missing": (
            "无可建议的阈值（条件中没有可在本次数据上调整的数值比较，或其余部分单独已触发过多），"
            "请人工复核该规则"
        ),
        "alerted": "有预警客户",
        "red": "红色预警客户",
        "section_whatif": "策略对比",
        "move": "变动",
        "moves_by_rank": "上调/下调：按评级顺序调至更好/更差的评级。",
        "moves_by_pd": (
            "上调/下调：调至客户平均PD更低/更高的评级（两策略的评级不同，"
            "其顺序与分数区间不可直接比较；各评级的平均PD见下表）。"
        ),
        "swap_corner": "现行评级 \\ 新评级",
        "policy": "策略",
        "approved": "授信客户（额度>0）",
        "approval_rate": "授信率",
        "limits_total": "建议额度合计",
        "expected_loss_limits": "预期损失（按建议额度）",
        "bad_rate_approved": "授信客户违约率",
        "current": "现行策略",
        "new": "新策略",
        "new_monotone_yes": "新策略下违约率随评级逐级上升",
        "new_monotone_no": "新策略下违约率未随评级逐级上升：",
        "section_cutoffs": "建议分数切点",
        "band": "分数区间",
        "target": "目标违约率",
        "holdout": "留出样本违约率",
        "fit_bad_rate": "拟合样本违约率",
        "holdout_customers": "留出样本客户数",
        "met": "达标",
        "chart": "各评级：平均PD与实际违约率",
        "observed": "实际违约率",
        "note_lgd": (
            "损失 = 违约 × 敞口（{exposure}）× LGD {lgd}；校准为双侧精确二项检验（α = {alpha}）。"
        ),
        "exposure_outstanding_balance": "授信余额",
        "exposure_current_limit": "本次评分无余额数据，按现有授信额度计",
        "confidential": "内部资料 · 注意保密",
    },
    "en": {
        "title": "Strategy back-test",
        "as_of": "As of",
        "model": "Model",
        "customers": "Customers",
        "bads": "Bads",
        "bad_rate": "Bad rate",
        "mean_pd": "Mean PD",
        "expected_bads": "Expected bads",
        "exposure": "Exposure",
        "utilisation": "Utilisation",
        "expected_loss": "Expected loss",
        "observed_loss": "Observed loss",
        "loss_ratio": "Obs./exp.",
        "p_value": "Binomial p",
        "calibration": "Calibration",
        "grade": "Grade",
        "section_grades": "Grades against outcomes",
        "monotone_yes": "Bad rates rise grade by grade",
        "monotone_no": "Bad rates do not rise grade by grade: ",
        "gini_grades": "Gini of the grades",
        "gini_score": "Gini of the score",
        "section_alerts": "Alert rule effectiveness",
        "outcome_bad": "going bad",
        "outcome_churned": "churned",
        "outcome_escalated": "escalated",
        "outcome_any": "any outcome",
        "against": "against",
        "unique_churned": "Only it",
        "unique_escalated": "Only it",
        "unique_outcomes": "Only it",
        "code": "Rule",
        "level": "Level",
        "fired": "Fired",
        "share": "Share",
        "precision": "Precision",
        "recall": "Recall",
        "lift": "Lift",
        "lead_days": "Lead (days)",
        "overlap": "Overlap",
        "unique_bads": "Only it",
        "flags": "Flags",
        "suggested": "Suggested condition (each rule ≤ {share})",
        "suggested_none": "Every rule fires on at most {share} of customers: nothing to change.",
        "suggested_fires": "fires on {share}",
        "suggested_then": "would fire on {share}, precision {precision}",
        "suggested_missing": (
            "no threshold to suggest (the condition has no comparison with a number on the "
            "run's data, or its other parts alone fire this often); review the rule by hand"
        ),
        "alerted": "Customers with an alert",
        "red": "Customers with a red alert",
        "section_whatif": "Policy what-if",
        "move": "Move",
        "moves_by_rank": "Up/down: to a better/riskier grade in the grades' order.",
        "moves_by_pd": (
            "Up/down: to a grade whose customers have a lower/higher mean PD (the "
            "policies' grades differ, so neither their order nor their score bands "
            "compare; each grade's mean PD below)."
        ),
        "swap_corner": "Current \\ new grade",
        "policy": "Policy",
        "approved": "Approved (limit > 0)",
        "approval_rate": "Approval rate",
        "limits_total": "Recommended limits",
        "expected_loss_limits": "Expected loss (on limits)",
        "bad_rate_approved": "Bad rate of approved",
        "current": "current",
        "new": "new",
        "new_monotone_yes": "Under the new policy bad rates rise grade by grade",
        "new_monotone_no": "Under the new policy bad rates do not rise grade by grade: ",
        "section_cutoffs": "Proposed score cut-offs",
        "band": "Band",
        "target": "Target",
        "holdout": "Hold-out bad rate",
        "fit_bad_rate": "Fitting bad rate",
        "holdout_customers": "Hold-out customers",
        "met": "Met",
        "chart": "Mean PD and observed bad rate by grade",
        "observed": "Observed bad rate",
        "note_lgd": (
            "Loss = bad × exposure ({exposure}) × LGD {lgd}; calibration by a "
            "two-sided exact binomial test (α = {alpha})."
        ),
        "exposure_outstanding_balance": "outstanding balance",
        "exposure_current_limit": "the current limit: the run has no outstanding balances",
        "confidential": "Internal · confidential",
    },
}


@dataclass(frozen=True)
class Review:
    """Everything a back-test found, ready to write."""

    __repr__ = brief_repr  # a notebook prints it: sizes, never the tables' cells

    grades: GradeBacktest
    alerts: AlertReview | None = None
    comparison: PolicyComparison | None = None
    proposal: CutoffProposal | None = None
    proposed_policy: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    #: The alert effectiveness per kind of outcome (``bad``, ``churned``, ``escalated``,
    #: ``any``), in the order asked; ``alerts`` is its ``bad`` entry.
    alerts_by_outcome: Mapping[str, AlertReview] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.alerts is not None and not self.alerts_by_outcome:
            object.__setattr__(self, "alerts_by_outcome", {self.alerts.outcome: self.alerts})

    def to_dict(self) -> dict[str, Any]:
        """Plain data: the facts of every part (and their tables as records)."""
        out: dict[str, Any] = {**self.facts, "grades": {**self.grades.facts}}
        out["grades"]["table"] = table_records(self.grades.table)
        if self.alerts is not None:
            out["alerts"] = {**self.alerts.facts, "table": table_records(self.alerts.table)}
        if self.alerts_by_outcome:
            out["alerts_by_outcome"] = {
                kind: {**review.facts, "table": table_records(review.table)}
                for kind, review in self.alerts_by_outcome.items()
            }
        if self.comparison is not None:
            out["what_if"] = {
                **self.comparison.facts,
                "moves": table_records(self.comparison.moves),
                "totals": table_records(self.comparison.totals),
                "grades": table_records(self.comparison.grades),
                "swap": {
                    str(k): {str(c): int(v) for c, v in dict(row).items()}
                    for k, row in self.comparison.swap.to_dict("index").items()
                },
            }
        if self.proposal is not None:
            out["proposal"] = {**self.proposal.facts, "table": table_records(self.proposal.table)}
        return out


def table_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A review table's rows as plain dicts: Python numbers, ``None`` for a value that
    is not finite (a loss ratio without expected loss)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if hasattr(value, "item"):
            return clean(value.item())
        return value

    return [{str(k): clean(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _write_csv(frame: pd.DataFrame, path: Path, encoding: str) -> Path:
    with atomic_open(path, "w", encoding=encoding, newline="") as handle:
        escape_frame(frame).to_csv(handle, index=False, lineterminator="\n")
    return path


def write_review(
    review: Review,
    out_dir: str | os.PathLike[str],
    *,
    lang: str = "zh",
    pdf: bool = True,
    csv_encoding: str = "utf-8-sig",
    report_config: ReportConfig | None = None,
) -> dict[str, Path]:
    """Write the review's tables, workbook, facts, PDF (unless ``pdf`` is false) and
    proposed policy into ``out_dir``; returns name -> path."""
    check_language(lang)
    out = ensure_dir(out_dir)
    written: dict[str, Path] = {}
    tables = _tables(review)
    for name, frame in tables.items():
        written[name] = _write_csv(frame, out / name, csv_encoding)
    grade_codes = review.grades.table["grade"].astype(str).tolist()
    fills = ramp(grade_codes)
    level_fills = dict(LEVEL_FILLS)
    kinds = {
        "share": "percent",
        "bad_rate": "percent",
        "mean_pd": "percent",
        "utilisation": "percent",
        "precision": "percent",
        "recall": "percent",
        "overlap": "percent",
        "target": "percent",
        "approval_rate": "percent",
        "bad_rate_current": "percent",
        "bad_rate_new": "percent",
        "mean_pd_current": "percent",
        "mean_pd_new": "percent",
        "bad_rate_fit": "percent",
        "upper_bound_fit": "percent",
        "bad_rate_holdout": "percent",
        "bad_rate_approved": "percent",
        "suggested_share": "percent",
        "suggested_precision": "percent",
        "suggested_recall": "percent",
        "exposure": "amount",
        "limit": "amount",
        "expected_loss": "amount",
        "recommended_limits": "amount",
        "expected_loss_on_limits": "amount",
        "observed_loss": "amount",
        "expected_bads": "decimal",
        "loss_ratio": "decimal",
        "lift": "decimal",
        **dict.fromkeys(_COUNT_COLUMNS, "count"),
    }
    if TOTALS_CSV in tables:  # the workbook is for people: not the deprecated duplicates
        tables[TOTALS_CSV] = tables[TOTALS_CSV].drop(columns=list(DEPRECATED_TOTALS))
    sheets = [
        Sheet(
            name.removesuffix(".csv")[:31],
            frame,
            kinds=kinds,
            fills={"grade": fills, "level": level_fills},
        )
        for name, frame in tables.items()
    ]
    written[WORKBOOK] = write_workbook(out / WORKBOOK, sheets)
    facts = review.to_dict()
    write_text(out / FACTS, json.dumps(facts, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    written[FACTS] = out / FACTS
    if review.proposed_policy is not None:
        write_text(out / PROPOSED_POLICY, review.proposed_policy)
        written[PROPOSED_POLICY] = out / PROPOSED_POLICY
    if pdf:
        config = report_config or load_report_config()
        write_bytes(out / PDF, render_review_pdf(review, config, lang=lang))
        written[PDF] = out / PDF
    return written


#: Columns of the review tables that count customers or days (thousands separators):
#: the outcomes counted per alert rule (bads, churned, ...) and those only it caught.
_COUNT_COLUMNS = (
    "customers",
    "fired",
    "approved",
    "lead_days",
    "customers_current",
    "customers_new",
    "customers_fit",
    "customers_holdout",
    *COUNT_COLUMNS.values(),
    *(f"unique_{name}" for name in COUNT_COLUMNS.values()),
)


def _tables(review: Review) -> dict[str, pd.DataFrame]:
    tables = {GRADES_CSV: review.grades.table}
    for kind, alerts in review.alerts_by_outcome.items():
        name = ALERTS_CSV if kind == "bad" else ALERTS_KIND_CSV.format(kind=kind)
        tables[name] = alerts.table
    if review.comparison is not None:
        swap = review.comparison.swap.copy()
        swap.insert(0, "current_grade", swap.index.astype(str))
        tables[SWAP_CSV] = swap.reset_index(drop=True)
        tables[MOVES_CSV] = review.comparison.moves
        tables[TOTALS_CSV] = review.comparison.totals
        tables[POLICY_GRADES_CSV] = review.comparison.grades
    if review.proposal is not None:
        tables[CUTOFFS_CSV] = review.proposal.table
    return tables


# -- PDF --------------------------------------------------------------------------------


def _pct(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{float(value) * 100:.{digits}f}%"


def _num(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{float(value):,.{digits}f}"


def _verdict(met: Any) -> str:
    """✓ met, ✗ not met, — not judged (no target or no hold-out customers)."""
    if met is None or (isinstance(met, float) and math.isnan(met)):
        return "—"
    return "✓" if met else "✗"


#: The words the review tables hold (verdicts, flags, moves, notes) as a Chinese PDF
#: says them; the CSV and JSON keep the English words, which tools match on.
_WORDS_ZH = {
    "ok": "通过",
    "under-predicted": "低估风险",
    "over-predicted": "高估风险",
    "too few": "样本过少",
    "no customers": "无客户",
    "never fires": "从未触发",
    "not evaluated": "未评估",
    "fires on most": "触发过多",
    "adds nothing": "无增量",
    "no better than chance": "不优于随机",
    "moved up": "上调",
    "stayed": "不变",
    "moved down": "下调",
    "current": "现行策略",
    "new": "新策略",
    "target not reachable: a one-point band": "目标不可达：仅一分区间",
    "no hold-out customers: not judged": "留出样本无客户：未评判",
}
_FEW_HOLDOUT = re.compile(r"only (\d+) hold-out customers? \(fewer than (\d+)\)")


def _say(text: Any, lang: str) -> Any:
    """``text`` of a review table in the PDF's language (parts joined by "; " each)."""
    if lang != "zh" or not isinstance(text, str) or not text:
        return text
    parts = []
    for part in text.split("; "):
        few = _FEW_HOLDOUT.fullmatch(part)
        parts.append(
            f"留出样本仅{few[1]}位客户（少于{few[2]}）" if few else _WORDS_ZH.get(part, part)
        )
    return "；".join(parts)


def review_context(
    review: Review, lang: str = "zh", *, config: ReportConfig | None = None
) -> dict[str, Any]:
    """The plain data of the review PDF (texts already formatted); alert levels are
    named by ``config``'s labels (红色, Red) in ``lang``, by their code without it, and
    amounts in its currency and units (``¥42.28万``, ``¥422.83k``) as the portfolio
    report shows them, plain numbers without it."""
    labels = _LABELS[lang]
    levels = config.alert_levels if config is not None else {}
    money = Formatter(config, lang).money_big if config is not None else _num

    def level_label(code: Any) -> Any:
        return levels[code].label(lang) if code in levels else code

    g = review.grades
    grades = [
        {
            "code": row["grade"],
            "customers": _num(row["customers"]),
            "bads": _num(row["bads"]),
            "bad_rate": _pct(row["bad_rate"], 2),
            "mean_pd": _pct(row["mean_pd"], 2),
            "exposure": money(row["exposure"]),
            "utilisation": _pct(row["utilisation"]),
            "expected_loss": money(row["expected_loss"]),
            "observed_loss": money(row["observed_loss"]),
            "loss_ratio": _num(row["loss_ratio"], 2),
            "p_value": _num(row["p_value"], 3),
            "calibration": _say(row["calibration"], lang),
            "bad_rate_value": row["bad_rate"],
            "mean_pd_value": row["mean_pd"],
        }
        for row in g.table.to_dict("records")
    ]
    ctx: dict[str, Any] = {
        "kind": "backtest",
        "company": review.facts.get("company", ""),
        "as_of": review.facts.get("as_of"),
        "model_id": review.facts.get("model_id"),
        "L": labels,
        "customers": _num(g.facts["customers"]),
        "bad_rate": _pct(g.facts["bad_rate"], 2),
        "expected_loss": money(g.facts["expected_loss"]),
        "observed_loss": money(g.facts["observed_loss"]),
        "gini_grades": _num(g.gini_grades, 3),
        "gini_score": _num(g.gini_score, 3),
        "monotone": g.monotone,
        "inversions": ", ".join(f"{a} > {b}" for a, b in g.inversions),
        "grades": grades,
        "note": labels["note_lgd"].format(
            lgd=g.facts["lgd"],
            alpha=g.facts["calibration_alpha"],
            exposure=labels[f"exposure_{g.facts.get('exposure_is', 'outstanding_balance')}"],
        ),
        "alerts": None,
        "alert_sections": [],
        "whatif": None,
        "cutoffs": None,
    }
    for kind, a in review.alerts_by_outcome.items():
        count = COUNT_COLUMNS.get(kind, "bads")
        limit = _pct(a.facts["max_alert_share"], 0)
        section = {
            "outcome": kind,
            "title": f"{labels['section_alerts']} · {labels['against']} "
            f"{labels.get('outcome_' + kind, kind)}",
            "unique": labels[f"unique_{count}"],
            "alerted": f"{_num(a.facts['customers_alerted'])} ({_pct(a.facts['alerted_share'])})",
            "red": f"{_num(a.facts['customers_red'])} ({_pct(a.facts['red_share'])})",
            "suggested_title": labels["suggested"].format(share=limit),
            "suggested_none": labels["suggested_none"].format(share=limit),
            "suggestions": [
                {
                    "code": r["code"],
                    "fires": labels["suggested_fires"].format(share=_pct(r["share"])),
                    "condition": r["suggested_condition"],
                    "then": labels["suggested_then"].format(
                        share=_pct(r["suggested_share"]),
                        precision=_pct(r["suggested_precision"]),
                    )
                    if r["suggested_condition"]
                    else labels["suggested_missing"],
                }
                for r in over_share(a)
            ],
            "rows": [
                {
                    "code": r["code"],
                    "level": r["level"],
                    "level_label": level_label(r["level"]),
                    "fired": _num(r["fired"]),
                    "share": _pct(r["share"]),
                    "precision": _pct(r["precision"]),
                    "recall": _pct(r["recall"]),
                    "lift": _num(r["lift"], 1),
                    "lead_days": _num(r["lead_days"]),
                    "overlap": _pct(r["overlap"], 0),
                    "unique_bads": _num(r[f"unique_{count}"]),
                    "flags": _say(r["flags"], lang),
                }
                for r in a.table.to_dict("records")
            ],
        }
        ctx["alert_sections"].append(section)
        if ctx["alerts"] is None:
            ctx["alerts"] = section
    if review.comparison is not None:
        c = review.comparison
        ctx["whatif"] = {
            "policy": Path(str(c.facts["policy"])).name,
            "columns": [str(col) for col in c.swap.columns],
            "swap": [
                {"grade": str(idx), "counts": [_num(v) for v in row]}
                for idx, row in zip(c.swap.index, c.swap.to_numpy().tolist(), strict=True)
            ],
            "moves": [
                {
                    "move": _say(r["move"], lang),
                    "customers": _num(r["customers"]),
                    "bad_rate": _pct(r["bad_rate"], 2),
                }
                for r in c.moves.to_dict("records")
            ],
            "totals": [
                {
                    "policy": _say(r["policy"], lang),
                    "approved": _num(r["approved"]),
                    "approval_rate": _pct(r["approval_rate"]),
                    "recommended_limits": money(r["recommended_limits"]),
                    "expected_loss": money(r["expected_loss_on_limits"]),
                    "bad_rate": _pct(r["bad_rate_approved"], 2),
                }
                for r in c.totals.to_dict("records")
            ],
            "grades": [
                {
                    "grade": r["grade"],
                    "customers_current": _num(r["customers_current"]),
                    "bad_rate_current": _pct(r["bad_rate_current"], 2),
                    "mean_pd_current": _pct(r.get("mean_pd_current"), 2),
                    "customers_new": _num(r["customers_new"]),
                    "bad_rate_new": _pct(r["bad_rate_new"], 2),
                    "mean_pd_new": _pct(r.get("mean_pd_new"), 2),
                }
                for r in c.grades.to_dict("records")
            ],
            "moves_by": labels[
                "moves_by_pd" if c.facts.get("moves_by") == MOVES_BY_PD else "moves_by_rank"
            ],
            "monotone": bool(c.facts.get("new_monotone", True)),
            "inversions": ", ".join(f"{a} > {b}" for a, b in c.facts.get("new_inversions", [])),
        }
    if review.proposal is not None:
        ctx["cutoffs"] = [
            {
                "grade": r["grade"],
                # the best band holds the top of the score range: [640, 1000], as the
                # console of custrisk score and proposed_policy.yaml write it
                "band": f"[{points(r['min_score']) or '—'}, {points(r['max_score']) or '—'}"
                + ("]" if i == 0 else ")"),
                "target": _pct(r["target"], 2),
                "bad_rate_fit": _pct(r["bad_rate_fit"], 2),
                "customers_holdout": _num(r["customers_holdout"]),
                "bad_rate_holdout": _pct(r["bad_rate_holdout"], 2),
                "met": _verdict(r["met"]),
                "note": _say(r["note"], lang),
            }
            for i, r in enumerate(review.proposal.table.to_dict("records"))
        ]
    return ctx


def grade_chart(
    grades: Sequence[Mapping[str, Any]],
    *,
    style: Mapping[str, str],
    labels: Mapping[str, str],
    width: float = 330,
    height: float = 140,
) -> Any:
    """Mean PD (accent) and observed bad rate (primary) per grade, as paired bars in the
    colours of the legend above them."""
    chart = Chart(width, height, style["font_family"], label=labels["chart"])
    left, right, top, bottom = 34.0, 4.0, 18.0, 16.0
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for g in grades for v in (g["mean_pd_value"], g["bad_rate_value"])]
    peak = max([v for v in values if v is not None and math.isfinite(v)] + [0.01])
    nice = percent_grid(
        chart, peak, left=left, right=width - right, top=top, plot_h=plot_h, style=style
    )
    step = plot_w / max(len(grades), 1)
    for i, g in enumerate(grades):
        x = left + i * step
        pairs = (
            (g["mean_pd_value"], style["accent"]),
            (g["bad_rate_value"], style["primary"]),
        )
        for j, (value, color) in enumerate(pairs):
            v = value if value is not None and math.isfinite(value) else 0.0
            h = plot_h * v / nice
            chart.rect(x + step * (0.12 + 0.38 * j), top + plot_h - h, step * 0.36, h, color)
        chart.text(
            x + step / 2, height - 4, g["code"], size=AXIS_SIZE, fill=AXIS_FILL, anchor="middle"
        )
    paired_legend(chart, left, style, str(labels["mean_pd"]), str(labels["observed"]))
    return chart.markup()


def _review_html(review: Review, config: ReportConfig, lang: str) -> tuple[ReportRenderer, str]:
    renderer = ReportRenderer(config, lang=lang)
    ctx = review_context(review, lang, config=config)
    ctx["company"] = config.company.get(lang, "")
    chart = grade_chart(ctx["grades"], style=config.style, labels=ctx["L"])
    return renderer, renderer.env.get_template(TEMPLATE).render(ctx=ctx, chart=chart)


def render_review_pdf(review: Review, config: ReportConfig, *, lang: str = "zh") -> bytes:
    """The review as a PDF, with the report templates' stylesheet and fonts."""
    renderer, html = _review_html(review, config, lang)
    return renderer.engine.write_pdf(html).pdf


def review_layout(review: Review, config: ReportConfig, *, lang: str = "zh") -> Document:
    """WeasyPrint's laid-out document of the review PDF (pages of positioned boxes), for
    layout checks."""
    renderer, html = _review_html(review, config, lang)
    return renderer.engine.layout(html)


__all__ = [
    "ALERTS_CSV",
    "ALERTS_KIND_CSV",
    "CUTOFFS_CSV",
    "FACTS",
    "GRADES_CSV",
    "MOVES_CSV",
    "PDF",
    "POLICY_GRADES_CSV",
    "PROPOSED_POLICY",
    "SWAP_CSV",
    "TOTALS_CSV",
    "WORKBOOK",
    "Review",
    "grade_chart",
    "render_review_pdf",
    "review_context",
    "review_layout",
    "table_records",
    "write_review",
]
