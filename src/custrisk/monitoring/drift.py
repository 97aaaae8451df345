"""Drift checks: PSI of the score and PD, CSI of each feature, performance decay.

New data is put into the bins stored in the model card at training (see
:mod:`custrisk.monitoring.reference`), bin for bin, including the "other" bin of
categorical features and the "missing" bin of every variable, and compared with the
training counts:

``PSI = sum over bins of (a_i - e_i) * ln(a_i / e_i)``

with ``e_i`` and ``a_i`` the expected (training) and actual (new) shares of bin ``i``.
**Empty bins** are smoothed with a share floor: ``share = max(count / total, epsilon)``
(``epsilon`` = 1e-4 by default, ``epsilon`` in drift.yaml), so PSI is always finite; a
bin empty on both sides contributes 0. The bin tables report the raw shares and the
contribution of each bin after smoothing. "CSI" is the same statistic on a feature.

With labels, performance decay is measured against the model card's hold-out metrics:
the absolute drop in AUC and KS, the relative change of the bad rate against the
training bad rate, and calibration as the observed bad rate over the mean PD
(``O/E - 1``), with a per-decile calibration table.

**Verdicts.** Each statistic is ``stable`` (below ``warn``), ``warn`` (from ``warn``),
``alert`` (from ``alert``) or ``insufficient`` (too few rows, labelled bads or goods, or
no reference value: the statistic is not trusted either way). Thresholds come from
``configs/drift.yaml`` (0.10/0.25 for PSI and CSI by default).

**Failing a check** (``fail_on``, the CLI's ``--fail-on``): ``alert`` (default) fails on
any alert, ``warn`` on any warn or alert, ``never`` never fails. An ``insufficient``
statistic fails the check too (whatever ``fail_on`` is, except ``never``) unless
``allow_insufficient`` is set: a gate that could not look must not pass silently. The
overall verdict is the worst one, in the order stable < warn < insufficient < alert.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from custrisk.config._yaml import Node, join_limited, load_yaml_file
from custrisk.config.resources import default_config_path
from custrisk.errors import ConfigError, DataError, ModelArtifactError
from custrisk.model.metrics import auc, calibration_table, ks
from custrisk.monitoring.compare import CompareConfig
from custrisk.monitoring.reference import Reference, reference_from_dict

if TYPE_CHECKING:
    from custrisk.modeling.pipeline import Features
    from custrisk.registry import LoadedModel

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_EPSILON",
    "FAIL_ON",
    "VERDICTS",
    "BinRow",
    "DriftConfig",
    "DriftReport",
    "PSIResult",
    "Statistic",
    "Thresholds",
    "check_data_drift",
    "check_drift",
    "load_drift_config",
    "psi",
    "read_labels",
]

FORMAT = "custrisk.drift/1"
DEFAULT_EPSILON = 1e-4
STABLE, WARN, INSUFFICIENT, ALERT = "stable", "warn", "insufficient", "alert"
VERDICTS = (STABLE, WARN, INSUFFICIENT, ALERT)  # in order of severity
_RANK = {v: i for i, v in enumerate(VERDICTS)}
FAIL_ON = ("alert", "warn", "never")
CSI_SCOPES = ("all", "model")
GROUPS = ("score", "feature", "performance")
SMOOTHING = "share floor: share = max(count / total, epsilon)"


# --------------------------------------------------------------------------- PSI


class PSIResult(NamedTuple):
    """A PSI value and each bin's contribution to it (they sum to the value)."""

    value: float
    contributions: np.ndarray


def _counts(values: Any, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise DataError(f"{what} is empty: PSI needs at least one bin")
    if not np.isfinite(array).all() or (array < 0).any():
        raise DataError(f"{what} must hold finite counts of at least 0, got {array.tolist()}")
    if array.sum() <= 0:
        raise DataError(f"{what} holds no rows (all counts are 0)")
    return array


def shares(counts: Any, eps: float = DEFAULT_EPSILON) -> np.ndarray:
    """Bin shares floored at ``eps`` (the smoothing PSI uses for empty bins)."""
    array = _counts(counts, "counts")
    return np.maximum(array / array.sum(), eps)


def psi(expected_counts: Any, actual_counts: Any, eps: float = DEFAULT_EPSILON) -> PSIResult:
    """Population stability index of two binned distributions.

    Parameters
    ----------
    expected_counts : array-like of float
        Counts per bin in the reference (training) data.
    actual_counts : array-like of float
        Counts per bin in the new data, same bins and order.
    eps : float, default 1e-4
        Share floor: each share is ``max(count / total, eps)`` before the sum, so an
        empty bin gives a large but finite contribution (and a bin empty on both sides
        gives 0).

    Returns
    -------
    PSIResult
        ``value`` = sum over bins of ``(a - e) * ln(a / e)``, and ``contributions``, the
        per-bin terms (each at least 0).

    Examples
    --------
    >>> round(psi([50, 30, 20, 0], [40, 30, 20, 10]).value, 4)
    0.7124
    """
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not 0 < eps < 1:
        raise ConfigError(f"The 'eps' parameter of psi must be in (0, 1). Got {eps!r} instead.")
    expected = _counts(expected_counts, "expected_counts")
    actual = _counts(actual_counts, "actual_counts")
    if expected.shape != actual.shape:
        raise DataError(
            f"expected_counts has {expected.size} bins but actual_counts has {actual.size}"
        )
    e = np.maximum(expected / expected.sum(), eps)
    a = np.maximum(actual / actual.sum(), eps)
    contributions = (a - e) * np.log(a / e)
    return PSIResult(float(contributions.sum()), contributions)


# ------------------------------------------------------------------------ config


@dataclass(frozen=True)
class Thresholds:
    """Where a statistic turns ``warn`` and ``alert`` (``warn <= alert``)."""

    warn: float
    alert: float

    def verdict(self, value: float) -> str:
        """``alert`` from ``alert``, ``warn`` from ``warn``, else ``stable``."""
        if value >= self.alert:
            return ALERT
        if value >= self.warn:
            return WARN
        return STABLE

    def to_dict(self) -> dict[str, float]:
        return {"warn": self.warn, "alert": self.alert}


@dataclass(frozen=True)
class DriftConfig:
    """The validated drift.yaml. See the packaged file for the meaning of each key."""

    path: str | None
    fail_on: str
    allow_insufficient: bool
    min_rows: int
    min_bads: int
    epsilon: float
    psi: Thresholds
    csi: Thresholds
    csi_scope: str
    csi_exclude: tuple[str, ...]
    auc_drop: Thresholds
    ks_drop: Thresholds
    bad_rate_change: Thresholds
    calibration_error: Thresholds
    calibration_bins: int
    compare: CompareConfig

    def thresholds_dict(self) -> dict[str, Any]:
        """Every threshold and minimum, for reports."""
        return {
            "psi": self.psi.to_dict(),
            "csi": self.csi.to_dict(),
            "auc_drop": self.auc_drop.to_dict(),
            "ks_drop": self.ks_drop.to_dict(),
            "bad_rate_change": self.bad_rate_change.to_dict(),
            "calibration_error": self.calibration_error.to_dict(),
            "min_rows": self.min_rows,
            "min_bads": self.min_bads,
            "epsilon": self.epsilon,
            "smoothing": SMOOTHING,
        }


def _pair(node: Node, warn: float, alert: float) -> Thresholds:
    low = float(node.number("warn", warn, minimum=0))
    high = float(node.number("alert", alert, minimum=0))
    if low > high:
        raise node.error(
            "warn", f"warn {low:g} is above alert {high:g}", hint="warn must be at most alert"
        )
    return Thresholds(low, high)


def _thresholds(parent: Node, name: str, warn: float, alert: float) -> Thresholds:
    child = parent.child(name)
    child.check_keys(("warn", "alert"))
    return _pair(child, warn, alert)


def load_drift_config(path: str | os.PathLike[str] | None = None) -> DriftConfig:
    """Load and validate a drift YAML (``None``: the packaged ``drift.yaml``).

    Keys left out take the packaged defaults; unknown keys and bad values raise
    :class:`~custrisk.errors.ConfigError` naming the file and key path.
    """
    path = Path(path) if path is not None else default_config_path("drift.yaml")
    root = Node(load_yaml_file(path), str(path), "")
    root.check_keys(
        (
            "version",
            "fail_on",
            "allow_insufficient",
            "minimum",
            "epsilon",
            "psi",
            "csi",
            "performance",
            "compare",
        )
    )
    if root.number("version", 1, integer=True) != 1:
        raise root.error(
            "version",
            f"unsupported config version {root.get('version')}",
            hint="this custrisk reads version 1",
        )
    minimum = root.child("minimum")
    minimum.check_keys(("rows", "bads"))
    epsilon = float(root.number("epsilon", DEFAULT_EPSILON))
    if not 0 < epsilon < 0.01:
        raise root.error(
            "epsilon", f"must be above 0 and below 0.01, got {epsilon:g}", hint="e.g. 0.0001"
        )
    csi = root.child("csi")
    csi.check_keys(("warn", "alert", "scope", "exclude"))
    performance = root.child("performance")
    performance.check_keys(
        ("auc_drop", "ks_drop", "bad_rate_change", "calibration_error", "calibration_bins")
    )
    compare = root.child("compare")
    compare.check_keys(("bootstrap", "seed", "confidence", "min_auc_gain"))
    confidence = float(compare.number("confidence", 0.95))
    if not 0 < confidence < 1:
        raise compare.error(
            "confidence", f"must be between 0 and 1, got {confidence:g}", hint="e.g. 0.95"
        )
    return DriftConfig(
        path=str(path),
        fail_on=root.text("fail_on", "alert", allowed=FAIL_ON),
        allow_insufficient=root.flag("allow_insufficient", False),
        min_rows=int(minimum.number("rows", 500, minimum=1, integer=True)),
        min_bads=int(minimum.number("bads", 30, minimum=1, integer=True)),
        epsilon=epsilon,
        psi=_thresholds(root, "psi", 0.10, 0.25),
        csi=_pair(csi, 0.10, 0.25),
        csi_scope=csi.text("scope", "all", allowed=CSI_SCOPES),
        csi_exclude=csi.text_list("exclude", [], allow_empty=True) or (),
        auc_drop=_thresholds(performance, "auc_drop", 0.03, 0.05),
        ks_drop=_thresholds(performance, "ks_drop", 0.06, 0.10),
        bad_rate_change=_thresholds(performance, "bad_rate_change", 0.25, 0.50),
        calibration_error=_thresholds(performance, "calibration_error", 0.20, 0.50),
        calibration_bins=int(performance.number("calibration_bins", 10, minimum=2, integer=True)),
        compare=CompareConfig(
            bootstrap=int(compare.number("bootstrap", 1000, minimum=1, integer=True)),
            seed=int(compare.number("seed", 0, minimum=0, integer=True)),
            confidence=confidence,
            min_auc_gain=float(compare.number("min_auc_gain", 0.01, minimum=0)),
        ),
    )


def with_options(
    config: DriftConfig, *, fail_on: str | None = None, allow_insufficient: bool | None = None
) -> DriftConfig:
    """``config`` with the command-line overrides applied (``None`` keeps the YAML's)."""
    if fail_on is not None and fail_on not in FAIL_ON:
        raise ConfigError(
            f"fail_on must be one of {', '.join(FAIL_ON)}; got {fail_on!r}",
            hint="use --fail-on alert, warn or never",
        )
    return replace(
        config,
        fail_on=fail_on if fail_on is not None else config.fail_on,
        allow_insufficient=(
            allow_insufficient if allow_insufficient is not None else config.allow_insufficient
        ),
    )


# ---------------------------------------------------------------------- results


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
    """

    model_id: str
    as_of: str | None
    statistics: tuple[Statistic, ...]
    config: DriftConfig
    data: dict[str, Any] = field(default_factory=dict)

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
            "as_of": self.as_of,
            "verdict": self.verdict,
            "failed": self.failed,
            "fail_on": cfg.fail_on,
            "allow_insufficient": cfg.allow_insufficient,
            "counts": self.counts,
            "thresholds": cfg.thresholds_dict(),
            "config_file": cfg.path,
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
                {"classname": f"custrisk.drift.{stat.group}", "name": stat.id, "time": "0"},
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


# ---------------------------------------------------------------------- checking


def _insufficient_rows(n_new: int, n_ref: int, minimum: int) -> str | None:
    if n_new < minimum:
        return f"{n_new:,} rows in the new data, below minimum.rows {minimum:,}"
    if n_ref < minimum:
        return f"{n_ref:,} rows in the reference, below minimum.rows {minimum:,}"
    return None


def _distribution_stat(
    *,
    group: str,
    name: str,
    metric: str,
    reference: Reference,
    values: Any,
    thresholds: Thresholds,
    config: DriftConfig,
    in_model: bool | None = None,
) -> Statistic:
    try:
        actual = reference.bin_counts(values)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{name}: the new values do not fit the model's {reference.kind} reference bins "
            f"({exc})",
            hint="compute the indicators with the model's own indicators.yaml",
        ) from None
    expected = np.asarray(reference.counts, dtype=np.int64)
    n_new, n_ref = int(actual.sum()), int(expected.sum())
    value: float | None = None
    contributions: list[float | None] = [None] * len(expected)
    if n_new and n_ref:
        result = psi(expected, actual, config.epsilon)
        value = result.value
        contributions = [float(c) for c in result.contributions]
    bins = tuple(
        BinRow(
            label=label,
            expected_count=int(e),
            expected_share=float(e / n_ref) if n_ref else 0.0,
            actual_count=int(a),
            actual_share=float(a / n_new) if n_new else 0.0,
            contribution=c,
        )
        for label, e, a, c in zip(reference.labels, expected, actual, contributions, strict=True)
    )
    stat_id = f"{metric}:{name}"
    shown = metric.upper()
    short = _insufficient_rows(n_new, n_ref, config.min_rows)
    if short is not None or value is None:
        reason = short or "no rows to compare"
        computed = f"; {shown} {value:.4f} not judged" if value is not None else ""
        return Statistic(
            stat_id,
            group,
            name,
            metric,
            value,
            INSUFFICIENT,
            thresholds,
            reason + computed,
            in_model=in_model,
            bins=bins,
        )
    top = max(bins, key=lambda b: b.contribution or 0.0)
    message = (
        f"{shown} {value:.4f}; largest shift {top.label}: "
        f"{top.expected_share:.1%} -> {top.actual_share:.1%}"
    )
    return Statistic(
        stat_id,
        group,
        name,
        metric,
        value,
        thresholds.verdict(value),
        thresholds,
        message,
        in_model=in_model,
        bins=bins,
        severity=value / thresholds.alert if thresholds.alert else 0.0,
    )


def _reference(card: Mapping[str, Any], model_id: str) -> Mapping[str, Any]:
    stored = card.get("reference")
    if (
        not isinstance(stored, Mapping)
        or not isinstance(stored.get("score"), Mapping)
        or not isinstance(stored.get("features"), Mapping)
    ):
        raise ModelArtifactError(
            f"model {model_id} has no reference distributions in its model card",
            hint="retrain it with this custrisk version (custrisk train) to check drift",
        )
    return stored


def _as_frame(
    features: Features | pd.DataFrame, as_of: dt.date | str | None
) -> tuple[pd.DataFrame, str | None, dict[str, Any]]:
    if isinstance(features, pd.DataFrame):
        text = as_of.isoformat() if isinstance(as_of, dt.date) else as_of
        return features, text, {}
    extra = {
        "rows_rejected_in_exports": features.workspace.report.rows_rejected,
        "unavailable_indicators": dict(features.unavailable),
    }
    return features.X, features.as_of.isoformat(), extra


def _labels_for(labels: pd.Series, index: pd.Index) -> tuple[pd.Series, dict[str, Any]]:
    source = labels.attrs.get("file")
    values = pd.to_numeric(pd.Series(labels, copy=False), errors="coerce")
    if bool(values.isna().any()) or not values.isin((0, 1)).all():
        bad = labels[values.isna() | ~values.isin((0, 1))]
        raise DataError(
            f"labels must be 0/1 bad flags without missing values, got {bad.iloc[0]!r} for "
            f"customer {bad.index[0]!r}",
            file=source,
        )
    flags = pd.Series(values.to_numpy(dtype=np.int8), index=labels.index.astype(str))
    flags = flags[~flags.index.duplicated(keep="first")]
    known = flags.index.isin(index)
    if not known.any():
        raise DataError(
            f"none of the {len(flags):,} labelled customers is among the data's "
            f"{len(index):,} customers",
            file=source,
            hint="check that the labels belong to this export",
        )
    aligned = flags[known]
    info = {
        "labelled": len(aligned),
        "bads": int(aligned.sum()),
        "labels_for_unknown_customers": int((~known).sum()),
    }
    return aligned, info


def _performance_stats(
    card: Mapping[str, Any],
    y: np.ndarray,
    pd_bad: np.ndarray,
    config: DriftConfig,
) -> list[Statistic]:
    holdout = (card.get("metrics") or {}).get("holdout") or {}
    n = int(y.size)
    n_bad = int(y.sum())
    n_good = n - n_bad
    both = n_bad > 0 and n_good > 0
    too_few_rows = (
        f"{n:,} labelled customers, below minimum.rows {config.min_rows:,}"
        if n < config.min_rows
        else None
    )
    stats: list[Statistic] = []
    for metric, name, shown, fn, thresholds in (
        ("auc_drop", "auc", "AUC", auc, config.auc_drop),
        ("ks_drop", "ks", "KS", ks, config.ks_drop),
    ):
        current = float(fn(y, pd_bad)) if both else None
        reference = holdout.get(name)
        reason = too_few_rows
        if reason is None and min(n_bad, n_good) < config.min_bads:
            reason = (
                f"{n_bad:,} bads and {n_good:,} goods labelled; {shown} needs at least "
                f"minimum.bads {config.min_bads:,} of each"
            )
        if reason is None and reference is None:
            reason = f"the model card has no hold-out {shown}"
        if reason is not None or current is None or reference is None:
            stats.append(
                Statistic(
                    name,
                    "performance",
                    name,
                    metric,
                    None,
                    INSUFFICIENT,
                    thresholds,
                    reason or "not computable",
                    current=current,
                    reference=reference,
                )
            )
            continue
        drop = float(reference) - current
        stats.append(
            Statistic(
                name,
                "performance",
                name,
                metric,
                drop,
                thresholds.verdict(drop),
                thresholds,
                f"{shown} {current:.3f} vs hold-out {float(reference):.3f}: drop {drop:+.3f}",
                current=current,
                reference=float(reference),
                severity=drop / thresholds.alert if thresholds.alert else 0.0,
            )
        )
    training_rate = (card.get("training") or {}).get("bad_rate")
    rate = float(y.mean()) if n else None
    if too_few_rows or rate is None or not training_rate:
        reason = too_few_rows or "the model card has no training bad rate"
        stats.append(
            Statistic(
                "bad_rate",
                "performance",
                "bad_rate",
                "bad_rate_change",
                None,
                INSUFFICIENT,
                config.bad_rate_change,
                reason,
                current=rate,
                reference=training_rate,
            )
        )
    else:
        change = rate / float(training_rate) - 1.0
        stats.append(
            Statistic(
                "bad_rate",
                "performance",
                "bad_rate",
                "bad_rate_change",
                change,
                config.bad_rate_change.verdict(abs(change)),
                config.bad_rate_change,
                f"bad rate {rate:.2%} vs training {float(training_rate):.2%} ({change:+.0%})",
                current=rate,
                reference=float(training_rate),
                severity=abs(change) / config.bad_rate_change.alert
                if config.bad_rate_change.alert
                else 0.0,
            )
        )
    stats.append(_calibration_stat(holdout, y, pd_bad, config, too_few_rows))
    return stats


def _holdout_error(holdout: Mapping[str, Any]) -> float | None:
    """Observed over expected bads minus 1 on the training hold-out, if the card says."""
    table = holdout.get("calibration") or []
    try:
        count = sum(float(r["count"]) for r in table)
        expected = sum(float(r["count"]) * float(r["mean_pd"]) for r in table)
        observed = sum(float(r["bads"]) for r in table)
    except (KeyError, TypeError, ValueError):
        return None
    if not count or not expected:
        return None
    return observed / expected - 1.0


def _calibration_stat(
    holdout: Mapping[str, Any],
    y: np.ndarray,
    pd_bad: np.ndarray,
    config: DriftConfig,
    too_few_rows: str | None,
) -> Statistic:
    thresholds = config.calibration_error
    reference = _holdout_error(holdout)
    n = int(y.size)
    expected = float(pd_bad.mean()) if n else 0.0
    observed = float(y.mean()) if n else 0.0
    table: tuple[dict[str, Any], ...] = ()
    if n and 0 < int(y.sum()) < n:
        frame = calibration_table(y, pd_bad, config.calibration_bins)
        table = tuple(
            {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")
        )
    if too_few_rows or expected <= 0:
        return Statistic(
            "calibration",
            "performance",
            "calibration",
            "calibration_error",
            None,
            INSUFFICIENT,
            thresholds,
            too_few_rows or "the mean PD is 0",
            current=None,
            reference=reference,
            table=table,
        )
    error = observed / expected - 1.0
    return Statistic(
        "calibration",
        "performance",
        "calibration",
        "calibration_error",
        error,
        thresholds.verdict(abs(error)),
        thresholds,
        f"observed bad rate {observed:.2%} vs mean PD {expected:.2%} "
        f"(O/E {observed / expected:.2f})",
        current=error,
        reference=reference,
        table=table,
        severity=abs(error) / thresholds.alert if thresholds.alert else 0.0,
    )


def check_drift(
    model: LoadedModel,
    features: Features | pd.DataFrame,
    labels: pd.Series | None = None,
    config: DriftConfig | None = None,
    *,
    as_of: dt.date | str | None = None,
) -> DriftReport:
    """Compare new data with the reference stored in the model card.

    Parameters
    ----------
    model : LoadedModel
        A verified model whose card holds ``reference`` distributions.
    features : Features or pandas.DataFrame
        The new data's indicators, computed with the model's own indicator config
        (:func:`custrisk.modeling.prepare_features`), indexed by customer_id.
    labels : pandas.Series, optional
        Bad flags (0/1) indexed by customer_id (see :func:`read_labels`); adds the
        performance statistics for the labelled customers of ``features``.
    config : DriftConfig, optional
        Thresholds, minimums and fail rule (default: the packaged drift.yaml).
    as_of : date or str, optional
        As-of date to report when ``features`` is a plain DataFrame.

    Returns
    -------
    DriftReport

    Raises
    ------
    ModelArtifactError
        When the card has no reference distributions.
    DataError
        When the data lacks features the model needs, or the labels match no customer.
    """
    config = config if config is not None else load_drift_config()
    card = model.card
    stored = _reference(card, model.model_id)
    X, as_of_text, extra = _as_frame(features, as_of)
    needed = [str(c) for c in card.get("candidate_features", card.get("features", []))]
    missing = [c for c in needed if c not in X.columns]
    if missing:
        raise DataError(
            f"the data lacks {len(missing)} features model {model.model_id} needs: "
            f"{join_limited(missing)}",
            hint="compute the indicators with the model's indicators.yaml and the same sources",
        )
    inputs = X[needed]
    if len(inputs):
        pd_new = np.asarray(model.model.predict_pd(inputs), dtype=np.float64)
        score_new = np.asarray(model.model.predict_score(inputs), dtype=np.float64)
    else:
        pd_new = score_new = np.empty(0, dtype=np.float64)
    stats = [
        _distribution_stat(
            group="score",
            name=name,
            metric="psi",
            reference=reference_from_dict(dict(stored[name])),
            values=pd.Series(values, dtype="float64"),
            thresholds=config.psi,
            config=config,
        )
        # The score's reference is always stored; the PD's in cards that have it.
        for name, values in (("score", score_new), ("pd", pd_new))
        if name == "score" or isinstance(stored.get(name), Mapping)
    ]
    used = {str(c) for c in card.get("features", [])}
    unknown_exclusions = [c for c in config.csi_exclude if c not in stored["features"]]
    if unknown_exclusions:
        log.warning(
            "csi.exclude names features model %s has no reference for: %s",
            model.model_id,
            join_limited(unknown_exclusions),
        )
    for code, data in stored["features"].items():
        if code in config.csi_exclude or (config.csi_scope == "model" and code not in used):
            continue
        if code not in X.columns:
            raise DataError(
                f"the data lacks feature {code!r} of the model's reference",
                hint="compute the indicators with the model's indicators.yaml",
            )
        stats.append(
            _distribution_stat(
                group="feature",
                name=str(code),
                metric="csi",
                reference=reference_from_dict(dict(data)),
                values=X[code],
                thresholds=config.csi,
                config=config,
                in_model=code in used,
            )
        )
    training = card.get("training") or {}
    info: dict[str, Any] = {
        "rows": len(inputs),
        "reference_rows": int(stored.get("rows") or 0),
        "reference_as_of": training.get("as_of"),
        **extra,
    }
    if labels is not None:
        flags, label_info = _labels_for(labels, inputs.index)
        info.update(label_info)
        mask = inputs.index.isin(flags.index)
        y = flags.reindex(inputs.index[mask]).to_numpy(dtype=np.int8)
        stats.extend(_performance_stats(card, y, pd_new[mask], config))
    report = DriftReport(model.model_id, as_of_text, tuple(stats), config, info)
    log.info(
        "drift of %s: %s (%s)",
        model.model_id,
        report.verdict,
        ", ".join(f"{k} {v}" for k, v in report.counts.items() if v),
    )
    return report


def read_labels(
    path: str | os.PathLike[str],
    *,
    sources_config: Any = None,
    encoding: str | None = None,
) -> pd.Series:
    """Bad flags (0/1, int8) indexed by customer_id from a labels file.

    Rows rejected while cleaning are logged as a warning; a repeated customer keeps its
    first row. The file name is kept in ``series.attrs["file"]`` for messages.
    """
    from custrisk.data import load_labels

    frame, rejects = load_labels(path, config=sources_config, encoding=encoding)
    if len(rejects):
        log.warning("%s: %d label rows rejected while cleaning", path, len(rejects))
    frame = frame.drop_duplicates("customer_id", keep="first")
    frame = frame[frame["bad"].notna()]
    flags = pd.Series(
        frame["bad"].to_numpy(dtype=np.int8),
        index=pd.Index(frame["customer_id"].astype(str), name="customer_id"),
        name="bad",
    )
    flags.attrs["file"] = str(path)
    return flags


def check_data_drift(
    model: LoadedModel,
    data_dir: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | None = None,
    config: DriftConfig | None = None,
    sources_config: str | os.PathLike[str] | None = None,
    encoding: str | None = None,
    as_of: dt.date | str | None = None,
) -> DriftReport:
    """Load the exports in ``data_dir`` (and the labels), then :func:`check_drift`.

    The indicators are computed with the model's own indicator config.
    """
    from custrisk.config.sources import load_sources_config
    from custrisk.modeling.pipeline import prepare_model_features

    sources = load_sources_config(sources_config)
    features = prepare_model_features(
        model, data_dir, sources_config=sources, encoding=encoding, as_of=as_of
    )
    flags = (
        read_labels(labels, sources_config=sources, encoding=encoding)
        if labels is not None
        else None
    )
    return check_drift(model, features, flags, config)
