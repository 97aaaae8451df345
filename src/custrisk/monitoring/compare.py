"""Champion/challenger: two models on the same labelled data, and whether to switch.

Both models are measured on the same customers (AUC, KS, Gini, Brier, bad rate). The
uncertainty of the AUC difference (challenger - champion) comes from a paired,
stratified bootstrap: bads and goods are resampled separately (so every resample has the
observed bad count), and the same resample is applied to both models, so that what the
two models have in common cancels out of the difference.

The recommendation, with ``min_gain`` the smallest AUC gain worth a model change:

* ``replace`` -- the whole confidence interval of the difference lies above ``min_gain``;
* ``keep`` -- the whole interval lies below zero (the challenger is worse), or the
  estimated gain is at most ``min_gain``;
* ``inconclusive`` -- the estimated gain is above ``min_gain`` but the interval reaches
  below it: more labelled data is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from custrisk.errors import ConfigError, DataError
from custrisk.estimators.metrics import auc, brier, ks
from custrisk.monitoring.config import CompareConfig, load_drift_config

log = logging.getLogger(__name__)

__all__ = [
    "RECOMMENDATIONS",
    "Comparison",
    "compare_predictions",
    "paired_bootstrap_auc",
    "recommend",
]

FORMAT = "custrisk.compare/1"
RECOMMENDATIONS = ("replace", "keep", "inconclusive")
# Cells (resamples x rows) handled at once: bounds the memory of the bootstrap to a few
# tens of MB whatever the number of rows.
_MAX_CELLS = 2_000_000


@dataclass(frozen=True)
class Comparison:
    """Both models' metrics on the same data, the AUC difference and a recommendation.

    Attributes
    ----------
    champion_id, challenger_id : str
    champion, challenger : dict
        ``n``, ``n_bad``, ``bad_rate``, ``auc``, ``ks``, ``gini``, ``brier``.
    auc_difference : float
        Challenger AUC minus champion AUC on all rows.
    ci_low, ci_high : float
        Percentile bootstrap interval of the difference at ``confidence``.
    std_error : float
        Standard deviation of the bootstrap differences.
    confidence : float
    n_bootstrap, seed : int
    min_gain : float
    recommendation : str
        One of ``RECOMMENDATIONS``.
    reason : str
        Why, in one sentence with the numbers.
    as_of : str or None
        As-of date of the data, when known.
    """

    champion_id: str
    challenger_id: str
    champion: dict[str, float]
    challenger: dict[str, float]
    auc_difference: float
    ci_low: float
    ci_high: float
    std_error: float
    confidence: float
    n_bootstrap: int
    seed: int
    min_gain: float
    recommendation: str
    reason: str
    as_of: str | None = None
    #: Why the comparison is too thin to act on (fewer bads or goods than drift.yaml's
    #: ``minimum.bads``), or on the outcomes a model was trained on; else ``None``
    warning: str | None = None
    #: How the champion and the challenger were checked when loaded (``verified``,
    #: ``unsigned``, ``unverified``: as a drift report's ``model_trust``), when known
    trust: tuple[str | None, str | None] = (None, None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content (format ``custrisk.compare/1``)."""
        return {
            "format": FORMAT,
            "as_of": self.as_of,
            "champion": {
                "model_id": self.champion_id,
                "model_trust": self.trust[0],
                "metrics": dict(self.champion),
            },
            "challenger": {
                "model_id": self.challenger_id,
                "model_trust": self.trust[1],
                "metrics": dict(self.challenger),
            },
            "auc_difference": {
                "estimate": self.auc_difference,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "std_error": self.std_error,
                "confidence": self.confidence,
                "bootstrap": self.n_bootstrap,
                "seed": self.seed,
                "method": "paired stratified bootstrap, percentile interval",
            },
            "min_gain": self.min_gain,
            "recommendation": self.recommendation,
            "reason": self.reason,
            "warning": self.warning,
        }


def _target(y: Any) -> np.ndarray:
    target = np.asarray(y, dtype=np.float64).ravel()
    if np.isnan(target).any() or not np.isin(target, (0, 1)).all():
        raise DataError("y must hold 0/1 bad flags (1 = bad) without missing values")
    n_bad = int(target.sum())
    if n_bad == 0 or n_bad == target.size:
        raise DataError(
            f"the labels hold only bad={int(target[0]) if target.size else 0}: comparing AUCs "
            "needs goods and bads",
            hint="compare on labelled data with both outcomes",
        )
    return target.astype(np.int8)


def _scores(values: Any, n: int, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.shape[0] != n:
        raise DataError(f"{what} has {array.shape[0]} values but y has {n}")
    if not np.isfinite(array).all():
        raise DataError(f"{what} holds missing or infinite values")
    return array


def paired_bootstrap_auc(
    y: Any,
    scores: Sequence[Any],
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """AUC of several models on the same stratified bootstrap resamples.

    Bads and goods are resampled with replacement separately (each resample keeps the
    observed numbers of bads and goods); the resampled row indices are drawn once and
    applied to every model. Each AUC is computed from ranks: for every bad, the number
    of resampled goods scored below it plus half of those tied with it.

    Parameters
    ----------
    y : array-like of 0/1
        Bad flags (both classes present).
    scores : sequence of array-like
        One array per model, higher = riskier (e.g. PD), aligned with ``y``.
    n_bootstrap : int, default 1000
        Resamples.
    seed : int, default 0
        Seed: the same inputs and seed give the same AUCs.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_bootstrap, len(scores))``: the AUC of each model on each resample.
    """
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap < 1:
        raise ConfigError(
            "The 'n_bootstrap' parameter of paired_bootstrap_auc must be an integer of at "
            f"least 1. Got {n_bootstrap!r} instead."
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(
            "The 'seed' parameter of paired_bootstrap_auc must be a non-negative integer. "
            f"Got {seed!r} instead."
        )
    target = _target(y)
    bads = np.flatnonzero(target == 1)
    goods = np.flatnonzero(target == 0)
    n1, n0 = bads.size, goods.size
    prepared = [
        _Ranks.of(_scores(values, target.size, f"scores[{i}]"), bads, goods)
        for i, values in enumerate(scores)
    ]
    out = np.empty((n_bootstrap, len(prepared)), dtype=np.float64)
    rng = np.random.default_rng(seed)
    block = max(1, _MAX_CELLS // max(n0, n1))
    for start in range(0, n_bootstrap, block):
        m = min(block, n_bootstrap - start)
        weight_bad = _resample_counts(rng, n1, m)
        weight_good = _resample_counts(rng, n0, m)
        for j, ranks in enumerate(prepared):
            out[start : start + m, j] = ranks.auc(weight_bad, weight_good)
    return out


@dataclass(frozen=True)
class _Ranks:
    """Where each bad's score falls among the sorted goods' scores (computed once)."""

    order: np.ndarray  # goods in ascending score order
    below: np.ndarray  # per bad: goods (in sorted order) scored strictly below it
    up_to: np.ndarray  # per bad: goods scored below or tied with it

    @classmethod
    def of(cls, values: np.ndarray, bads: np.ndarray, goods: np.ndarray) -> _Ranks:
        order = np.argsort(values[goods], kind="stable")
        sorted_goods = values[goods][order]
        return cls(
            order,
            np.searchsorted(sorted_goods, values[bads], side="left"),
            np.searchsorted(sorted_goods, values[bads], side="right"),
        )

    def auc(self, weight_bad: np.ndarray, weight_good: np.ndarray) -> np.ndarray:
        """AUC per row of the weights (how often each bad / good is drawn)."""
        m = weight_good.shape[0]
        cumulative = np.zeros((m, weight_good.shape[1] + 1), dtype=np.float64)
        np.cumsum(weight_good[:, self.order], axis=1, out=cumulative[:, 1:])
        lower = cumulative[:, self.below]
        tied = cumulative[:, self.up_to] - lower
        pairs = weight_bad.sum(axis=1) * weight_good.sum(axis=1)
        return np.asarray((weight_bad * (lower + 0.5 * tied)).sum(axis=1) / pairs)


def _resample_counts(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    """How often each of ``n`` rows is drawn in each of ``m`` resamples of size ``n``."""
    index = rng.integers(0, n, size=(m, n))
    index += (np.arange(m) * n)[:, None]
    return np.bincount(index.ravel(), minlength=m * n).reshape(m, n).astype(np.float64)


def recommend(
    difference: float, ci_low: float, ci_high: float, min_gain: float, confidence: float
) -> tuple[str, str]:
    """The recommendation and its reason (see the module docstring for the rule)."""
    interval = f"{confidence:.0%} CI [{ci_low:+.4f}, {ci_high:+.4f}]"
    if ci_low > min_gain:
        return "replace", (
            f"the challenger's AUC gain {difference:+.4f} ({interval}) lies wholly above the "
            f"minimum gain {min_gain:.4f}"
        )
    if ci_high < 0:
        return "keep", (
            f"the challenger is worse: AUC difference {difference:+.4f} ({interval}) lies "
            "wholly below zero"
        )
    if difference <= min_gain:
        return "keep", (
            f"the challenger's AUC gain {difference:+.4f} ({interval}) is not above the "
            f"minimum gain {min_gain:.4f}"
        )
    return "inconclusive", (
        f"the challenger's AUC gain {difference:+.4f} is above the minimum gain "
        f"{min_gain:.4f} but its {interval} reaches below it; collect more labelled data"
    )


def _metrics(y: np.ndarray, pd_bad: np.ndarray) -> dict[str, float]:
    area = auc(y, pd_bad)
    return {
        "n": int(y.size),
        "n_bad": int(y.sum()),
        "bad_rate": float(y.mean()),
        "auc": area,
        "ks": ks(y, pd_bad),
        "gini": 2.0 * area - 1.0,
        "brier": brier(y, pd_bad),
    }


def compare_predictions(
    y: Any,
    pd_champion: Any,
    pd_challenger: Any,
    *,
    config: CompareConfig | None = None,
    champion_id: str = "champion",
    challenger_id: str = "challenger",
    as_of: str | None = None,
) -> Comparison:
    """Compare two models from their PDs on the same labelled rows.

    Parameters
    ----------
    y : array-like of 0/1
        Bad flags.
    pd_champion, pd_challenger : array-like of float
        Each model's PD for the same rows, in the same order.
    config : CompareConfig, optional
        Resamples, seed, confidence and minimum gain (default: the packaged drift.yaml).
    champion_id, challenger_id : str
        Model ids shown in the result.
    as_of : str, optional
        As-of date of the data.

    Returns
    -------
    Comparison
    """
    if config is None:
        config = load_drift_config().compare
    if not 0 < config.confidence < 1:
        raise ConfigError(
            f"confidence must be between 0 and 1 (e.g. 0.95), got {config.confidence!r}"
        )
    target = _target(y)
    champion = _scores(pd_champion, target.size, "pd_champion")
    challenger = _scores(pd_challenger, target.size, "pd_challenger")
    champion_metrics = _metrics(target, champion)
    challenger_metrics = _metrics(target, challenger)
    difference = challenger_metrics["auc"] - champion_metrics["auc"]
    boot = paired_bootstrap_auc(
        target, [champion, challenger], n_bootstrap=config.bootstrap, seed=config.seed
    )
    diffs = boot[:, 1] - boot[:, 0]
    tail = (1.0 - config.confidence) / 2.0
    ci_low, ci_high = (float(q) for q in np.quantile(diffs, [tail, 1.0 - tail]))
    recommendation, reason = recommend(
        difference, ci_low, ci_high, config.min_auc_gain, config.confidence
    )
    log.info("compare %s vs %s: %s (%s)", champion_id, challenger_id, recommendation, reason)
    return Comparison(
        champion_id=champion_id,
        challenger_id=challenger_id,
        champion=champion_metrics,
        challenger=challenger_metrics,
        auc_difference=float(difference),
        ci_low=ci_low,
        ci_high=ci_high,
        std_error=float(np.std(diffs, ddof=1)) if diffs.size > 1 else 0.0,
        confidence=config.confidence,
        n_bootstrap=config.bootstrap,
        seed=config.seed,
        min_gain=config.min_auc_gain,
        recommendation=recommendation,
        reason=reason,
        as_of=as_of,
    )
