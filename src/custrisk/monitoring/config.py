"""The drift and champion/challenger settings (``configs/drift.yaml``), validated once.

**Verdicts.** Each statistic is ``stable`` (below ``warn``), ``warn`` (from ``warn``),
``alert`` (from ``alert``) or ``insufficient`` (too few rows for PSI/CSI, too few bads or
goods for a performance statistic: :meth:`DriftConfig.too_few_labels`, or no reference
value). **Failing a check** (``fail_on``): ``alert`` fails on any alert,
``warn`` on any warn or alert, ``never`` never fails; an ``insufficient`` statistic fails
too unless ``allow_insufficient`` is set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from custrisk.config._yaml import Node, open_config
from custrisk.errors import ConfigError
from custrisk.monitoring.psi import DEFAULT_EPSILON, SMOOTHING

STABLE, WARN, INSUFFICIENT, ALERT = "stable", "warn", "insufficient", "alert"
VERDICTS = (STABLE, WARN, INSUFFICIENT, ALERT)  # in order of severity
FAIL_ON = ("alert", "warn", "never")
CSI_SCOPES = ("all", "model")


@dataclass(frozen=True)
class CompareConfig:
    """Settings of the champion/challenger comparison (``compare:`` in drift.yaml).

    Attributes
    ----------
    bootstrap : int
        Paired bootstrap resamples.
    seed : int
        Seed of the resampling: the same data and seed give the same interval.
    confidence : float
        Level of the percentile interval, e.g. 0.95.
    min_auc_gain : float
        Smallest AUC gain of the challenger worth replacing the champion.
    """

    bootstrap: int
    seed: int
    confidence: float
    min_auc_gain: float


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

    def too_few_labels(self, bads: float, goods: float, *, counted: str = "labelled") -> str | None:
        """Why ``bads`` bads and ``goods`` goods are too few to judge a model on, or None.

        The one rule of every judgement on labelled customers: drift's performance
        statistics (``insufficient``), ``evaluate``'s and ``compare``'s warnings. At least
        ``minimum.bads`` of each outcome: an AUC on a dozen bads (or goods) swings by a
        tenth. A rate (bad rate, calibration) counts each outcome as the larger of the
        labelled and the expected (``counted`` says so): a month whose bads fell far
        below the forecast, or rose far above it, is judged, not excused as too few."""
        if min(bads, goods) >= self.min_bads:
            return None
        source = os.path.basename(self.path) if self.path else "drift.yaml"
        return (
            f"{bads:,.0f} bads and {goods:,.0f} goods {counted}, fewer than {source}'s "
            f"minimum.bads ({self.min_bads:,} of each)"
        )

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
    root = open_config(
        path,
        "drift.yaml",
        allowed=(
            "version",
            "fail_on",
            "allow_insufficient",
            "minimum",
            "epsilon",
            "psi",
            "csi",
            "performance",
            "compare",
        ),
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
        path=root.file,
        fail_on=root.text("fail_on", "alert", allowed=FAIL_ON),
        allow_insufficient=root.flag("allow_insufficient", False),
        min_rows=int(minimum.number("rows", 400, minimum=1, integer=True)),
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


__all__ = [
    "ALERT",
    "CSI_SCOPES",
    "FAIL_ON",
    "INSUFFICIENT",
    "STABLE",
    "VERDICTS",
    "WARN",
    "CompareConfig",
    "DriftConfig",
    "Thresholds",
    "load_drift_config",
    "with_options",
]
