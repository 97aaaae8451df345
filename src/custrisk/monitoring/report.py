"""Drift results: one :class:`Statistic` per score, feature and performance measure, and
the :class:`DriftReport` that gathers them, with its text, JSON and JUnit XML forms."""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from custrisk.config.resources import recorded_config_path
from custrisk.errors import CheckFailed
from custrisk.io.plain import brief_repr
from custrisk.monitoring.config import (
    INSUFFICIENT,
    STABLE,
    VERDICTS,
    DriftConfig,
    Thresholds,
)

#: How a performance statistic's message begins when the model card lacks its baseline
NO_BASELINE = "the model card has no"
FORMAT = "custrisk.drift/1"
_RANK = {v: i for i, v in enumerate(VERDICTS)}
GROUPS = ("score", "feature", "performance")


@dataclass(frozen=True)
class BinRow:
    """One bin of a PSI/CSI table: raw counts and shares, contribution after smoothing."""

    label: str
    expected_count: int
    expected_share: float
    actual_count: int
    actual_share: float
    contribution: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "expected_count": self.expected_count,
            "expected_share": self.expected_share,
            "actual_count": self.actual_count,
            "actual_share": self.actual_share,
            "contribution": self.contribution,
        }


@dataclass(frozen=True)
class Statistic:
    """One checked statistic with its verdict.

    Attributes
    ----------
    id : str
        Unique name: ``psi:score``, ``psi:pd``, ``csi:<feature>``, ``auc``, ``ks``,
        ``bad_rate``, ``calibration``.
    group : str
        ``score``, ``feature`` or ``performance``.
    name : str
        The variable or metric checked.
    metric : str
        ``psi``, ``csi``, ``auc_drop``, ``ks_drop``, ``bad_rate_change`` or
        ``calibration_error``.
    value : float or None
        The statistic (``None`` when it could not be computed). ``auc_drop``/``ks_drop``
        are hold-out minus new (positive = worse); ``bad_rate_change`` is new over
        training bad rate minus 1 and ``calibration_error`` observed bad rate over mean
        PD minus 1, both judged by their absolute value.
    verdict : str
        One of ``VERDICTS``.
    thresholds : Thresholds
    message : str
        One line with the numbers behind the verdict.
    current, reference : float or None
        Performance statistics: the metric on the new data and its reference.
    in_model : bool or None
        Features: whether the model uses the feature (else it is a candidate only).
    label : str
        Features: what people call it, from the model card (a flat table's column
        header, e.g. ``年龄`` for ``csi:col4``); empty for the others. ``id`` and
        ``name`` stay the code, for tools.
    coded : bool
        The feature's code says nothing by itself (a flat table's ``col4``): the label
        is shown beside the id in the table and the JUnit test name.
    bins : tuple of BinRow
        PSI/CSI: the bin table.
    table : tuple of dict
        Calibration: the per-decile table of the new data.
    severity : float
        The judged value over the alert threshold (for sorting; 0 when unknown).
    """

    id: str
    group: str
    name: str
    metric: str
    value: float | None
    verdict: str
    thresholds: Thresholds
    message: str
    current: float | None = None
    reference: float | None = None
    in_model: bool | None = None
    bins: tuple[BinRow, ...] = ()
    table: tuple[dict[str, Any], ...] = ()
    severity: float = 0.0
    label: str = ""
    coded: bool = False

    @property
    def shown_name(self) -> str:
        """The id and, for a feature of a coded name, its label: ``csi:col4 年龄`` (for
        people); the id alone for the rest (``csi:bureau_score``, as CI histories know
        it)."""
        return f"{self.id} {self.label}" if self.label and self.coded else self.id

    @property
    def largest_bin(self) -> BinRow | None:
        """The bin contributing most to a PSI/CSI value (None without bins or value)."""
        scored = [b for b in self.bins if b.contribution is not None]
        return max(scored, key=lambda b: b.contribution or 0.0) if scored else None

    def fails(self, fail_on: str, allow_insufficient: bool) -> bool:
        """Whether this statistic fails a check run with these settings."""
        if fail_on == "never":
            return False
        if self.verdict == INSUFFICIENT:
            return not allow_insufficient
        return _RANK[self.verdict] >= _RANK[fail_on] and self.verdict != STABLE

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "group": self.group,
            "name": self.name,
            "metric": self.metric,
            "value": _finite(self.value),
            "verdict": self.verdict,
            "thresholds": self.thresholds.to_dict(),
            "message": self.message,
        }
        if self.group == "performance":
            out["current"] = _finite(self.current)
            out["reference"] = _finite(self.reference)
        if self.in_model is not None:
            out["in_model"] = self.in_model
        if self.label:
            out["label"] = self.label
        if self.bins:
            out["bins"] = [b.to_dict() for b in self.bins]
        if self.metric == "calibration_error":
            out["calibration"] = [dict(row) for row in self.table]
        return out


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class DriftReport:
    """The result of a drift check: every statistic, the overall verdict, the context.

    Attributes
    ----------
    model_id : str
    as_of : str or None
        As-of date of the new data.
    statistics : tuple of Statistic
        In a fixed order: score, PD, features (card order), performance.
    config : DriftConfig
        Thresholds, minimums and the fail rule used.
    data : dict
        Rows, labelled rows, bads, reference rows and as-of, rejected input rows.
    model_trust : str or None
        How the model was checked when it was loaded: ``verified`` (its signature, with
        the signing key), ``unsigned`` (its files' hashes only) or ``unverified``
        (signed, loaded without the key); the record a CI job keeps says so.
    """

    __repr__ = brief_repr  # a notebook prints it: sizes, never the tables' cells

    model_id: str
    as_of: str | None
    statistics: tuple[Statistic, ...]
    config: DriftConfig
    data: dict[str, Any] = field(default_factory=dict)
    model_trust: str | None = None

    @property
    def verdict(self) -> str:
        """The worst verdict (stable < warn < insufficient < alert)."""
        if not self.statistics:
            return STABLE
        return max((s.verdict for s in self.statistics), key=_RANK.__getitem__)

    @property
    def counts(self) -> dict[str, int]:
        """How many statistics have each verdict."""
        return {v: sum(s.verdict == v for s in self.statistics) for v in VERDICTS}

    def failures(self) -> tuple[Statistic, ...]:
        """The statistics that fail the check under ``config.fail_on``, worst first."""
        return tuple(
            s
            for s in self.worst_first()
            if s.fails(self.config.fail_on, self.config.allow_insufficient)
        )

    def unjudged(self) -> list[Statistic]:
        """The statistics with too little data to judge that the check lets pass
        (``allow_insufficient``, or ``fail_on: never``), in report order."""
        cfg = self.config
        return [
            s
            for s in self.statistics
            if s.verdict == INSUFFICIENT and not s.fails(cfg.fail_on, cfg.allow_insufficient)
        ]

    def require_pass(self) -> None:
        """Raise :class:`~custrisk.errors.CheckFailed` (exit 1) naming the first five
        statistics that fail the check, with the way out: a larger export when they
        all have too little data (too little data is no drift), else the detail of
        what moved most; nothing when the check passes."""
        failures = self.failures()
        if not failures:
            return
        listed = ", ".join(f"{s.shown_name} {s.verdict}" for s in failures[:5])
        more = f" and {len(failures) - 5} more" if len(failures) > 5 else ""
        thin = all(s.verdict == INSUFFICIENT for s in failures)
        unjudgeable = [s.shown_name for s in failures if s.message.startswith(NO_BASELINE)]
        source = os.path.basename(self.config.path) if self.config.path else "drift.yaml"
        hint = (
            f"these have too little data to judge ({source}'s minimum: rows "
            f"{self.config.min_rows:,}, bads {self.config.min_bads:,}); check on a larger "
            "export, pass --allow-insufficient to let them pass, or, for a small portfolio, "
            "lower minimum.rows in a copy of drift.yaml passed with --config (PSI on fewer "
            "rows is mostly noise)"
            if thin
            else "the table's detail column says what moved most in each; to report "
            "without failing, pass --fail-on never"
        )
        if unjudgeable:  # no amount of data helps: the card lacks what they compare with
            hint = (
                f"{', '.join(unjudgeable)}: the model card lacks the training figure to "
                "compare with (its metrics.holdout or training section was removed); restore "
                "the model folder or retrain the model, or leave out --labels"
            )
        raise CheckFailed(
            f"drift check failed (--fail-on {self.config.fail_on}): {len(failures)} "
            f"statistic{'s' if len(failures) > 1 else ''}: "
            f"{listed}{more}",
            hint=hint,
        )

    @property
    def failed(self) -> bool:
        """Whether the check fails (the CLI then exits 1)."""
        return bool(self.failures())

    def worst_first(self) -> list[Statistic]:
        """Statistics sorted by verdict, then by value relative to the alert threshold."""
        return sorted(self.statistics, key=lambda s: (-_RANK[s.verdict], -s.severity, s.id))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content (format ``custrisk.drift/1``)."""
        cfg = self.config
        return {
            "format": FORMAT,
            "model_id": self.model_id,
            "model_trust": self.model_trust,
            "as_of": self.as_of,
            "verdict": self.verdict,
            "failed": self.failed,
            "fail_on": cfg.fail_on,
            "allow_insufficient": cfg.allow_insufficient,
            "counts": self.counts,
            "thresholds": cfg.thresholds_dict(),
            "config_file": recorded_config_path(cfg.path),
            "data": dict(self.data),
            "statistics": [
                {**s.to_dict(), "fails": s.fails(cfg.fail_on, cfg.allow_insufficient)}
                for s in self.statistics
            ],
        }

    def to_junit(self) -> str:
        """JUnit XML: one testsuite, one testcase per statistic.

        A statistic that fails the check (see :meth:`Statistic.fails`) is a
        ``<failure>`` (type = its verdict); an allowed ``insufficient`` one (or any
        insufficient one with ``fail_on: never``) is ``<skipped>``; the rest pass.
        Values, verdicts and thresholds are ``<property>`` elements; the bin table is
        in ``<system-out>``.
        """
        cfg = self.config
        failing = {s.id for s in self.failures()}
        skipped = {s.id for s in self.statistics if s.verdict == INSUFFICIENT} - failing
        counts = {
            "tests": str(len(self.statistics)),
            "failures": str(len(failing)),
            "errors": "0",
            "skipped": str(len(skipped)),
            "time": "0",
        }
        root = ET.Element("testsuites", {"name": "custrisk drift", **counts})
        suite = ET.SubElement(
            root, "testsuite", {"name": f"custrisk drift {self.model_id}", **counts}
        )
        suite_props = {
            "model_id": self.model_id,
            "model_trust": self.model_trust,
            "as_of": self.as_of,
            "verdict": self.verdict,
            "failed": self.failed,
            "fail_on": cfg.fail_on,
            "allow_insufficient": cfg.allow_insufficient,
            **{f"data.{k}": v for k, v in self.data.items() if not isinstance(v, dict | list)},
            **_flatten("thresholds", cfg.thresholds_dict()),
        }
        _properties(suite, suite_props)
        for stat in self.statistics:
            case = ET.SubElement(
                suite,
                "testcase",
                # a flat table's feature codes (col4) mean nothing on a CI page: the
                # label goes into the name there
                {"classname": f"custrisk.drift.{stat.group}", "name": stat.shown_name, "time": "0"},
            )
            props: dict[str, Any] = {
                "value": _finite(stat.value),
                "verdict": stat.verdict,
                "warn": stat.thresholds.warn,
                "alert": stat.thresholds.alert,
            }
            if stat.group == "performance":
                props.update(current=_finite(stat.current), reference=_finite(stat.reference))
            if stat.in_model is not None:
                props["in_model"] = stat.in_model
            if stat.label:
                props.update(id=stat.id, label=stat.label)
            _properties(case, props)
            detail = _detail_text(stat)
            if stat.id in failing:
                failure = ET.SubElement(
                    case,
                    "failure",
                    {"message": f"{stat.verdict}: {stat.message}", "type": stat.verdict},
                )
                failure.text = detail
            elif stat.id in skipped:
                ET.SubElement(case, "skipped", {"message": stat.message})
            ET.SubElement(case, "system-out").text = f"{stat.verdict}: {stat.message}\n{detail}"
        ET.indent(root)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _properties(parent: ET.Element, values: Mapping[str, Any]) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in values.items():
        ET.SubElement(props, "property", {"name": name, "value": _text(value)})


def _flatten(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out.update(_flatten(f"{prefix}.{key}", value))
        else:
            out[f"{prefix}.{key}"] = value
    return out


def _detail_text(stat: Statistic) -> str:
    if stat.bins:
        lines = [f"{'bin':<28} {'expected':>16} {'actual':>16} {'contribution':>12}"]
        for b in stat.bins:
            contribution = "" if b.contribution is None else f"{b.contribution:.4f}"
            lines.append(
                f"{b.label:<28} {b.expected_count:>8,} {b.expected_share:>6.1%} "
                f"{b.actual_count:>8,} {b.actual_share:>6.1%} {contribution:>12}"
            )
        return "\n".join(lines) + "\n"
    if stat.table:
        lines = [f"{'decile':>6} {'count':>8} {'bads':>6} {'mean PD':>8} {'bad rate':>8}"]
        for row in stat.table:
            lines.append(
                f"{row['bin']:>6} {row['count']:>8,} {row['bads']:>6,} "
                f"{row['mean_pd']:>8.2%} {row['bad_rate']:>8.2%}"
            )
        return "\n".join(lines) + "\n"
    return ""


__all__ = ["FORMAT", "GROUPS", "BinRow", "DriftReport", "Statistic"]
