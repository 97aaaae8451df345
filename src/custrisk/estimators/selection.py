"""Feature selection for a WOE scorecard: IV floor, correlation and VIF, stepwise CV AUC.

:func:`select_features` filters:

1. Features forced out (config) are dropped.
2. Features whose IV is below ``min_iv`` are dropped, unless forced in.
3. The remaining features are taken by decreasing IV (forced-in ones first); a feature
   whose WOE values correlate with an already kept feature by more than ``max_corr``
   (absolute Pearson r) is dropped, naming that feature. So of two correlated
   features the one with the higher IV stays. Forced-in features are always kept.
4. With ``max_vif``: while a kept feature's variance inflation factor (of its WOE values
   on the other kept features') exceeds the limit, the one with the highest VIF is
   dropped (forced-in features excepted).

:func:`stepwise_select` then chooses among the survivors by cross-validated AUC: forward
selection, starting from the forced-in features, adds at each step the feature that
raises the mean validation AUC of the L2 logistic regression the most, and stops when
no feature adds at least ``min_auc_gain``; backward elimination removes features that add
nothing. Every step is recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from custrisk.errors import ConfigError
from custrisk.estimators._logistic import Fold, cv_auc, cv_auc_drop_one
from custrisk.estimators._validation import check_float, list_some

if TYPE_CHECKING:
    from custrisk.estimators.binning import WoeBinner

logger = logging.getLogger(__name__)

__all__ = ["SelectionResult", "select_features", "stepwise_select"]

_OWNER = "select_features"


@dataclass(frozen=True)
class SelectionResult:
    """Which features a scorecard uses and why the others were dropped.

    Attributes
    ----------
    selected : tuple of str
        Kept features, in the binner's feature order.
    dropped : mapping of str to str
        Dropped feature to the reason, e.g. ``"IV 0.004 < 0.02"``,
        ``"|r|=0.83 with payment_capacity (IV 0.41)"``, ``"forced out in config"``.
    iv : mapping of str to float
        IV of every feature considered.
    steps : tuple of dict
        The stepwise selection, one dict per step: ``step``, ``added`` (a feature, or
        None when it stopped), ``cv_auc`` (mean validation AUC after the step) and
        ``gain``.
    """

    selected: tuple[str, ...]
    dropped: Mapping[str, str] = field(default_factory=dict)
    iv: Mapping[str, float] = field(default_factory=dict)
    steps: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "selected": list(self.selected),
            "dropped": dict(self.dropped),
            "iv": {k: float(v) for k, v in self.iv.items()},
            "steps": [dict(step) for step in self.steps],
        }


def _codes(name: str, value: Iterable[str], known: list[str]) -> list[str]:
    if isinstance(value, str):
        raise ConfigError(
            f"The '{name}' parameter of {_OWNER} must be a list of feature codes. "
            f"Got {value!r} instead."
        )
    codes = list(value)
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise ConfigError(
            f"The '{name}' parameter of {_OWNER} names unknown features: {list_some(unknown)}",
            hint=f"known features: {list_some(known, 8)}",
        )
    return codes


def select_features(
    binner: WoeBinner,
    X: pd.DataFrame,
    *,
    min_iv: float = 0.01,
    max_corr: float = 0.8,
    max_vif: float | None = None,
    force_in: Iterable[str] = (),
    force_out: Iterable[str] = (),
) -> SelectionResult:
    """Select features by IV, WOE correlation and VIF.

    Parameters
    ----------
    binner : WoeBinner
        A fitted binner (gives the IVs and the WOE transform).
    X : pandas.DataFrame
        The training features (for the correlations of their WOE values).
    min_iv : float, default 0.01
        Least IV to keep a feature.
    max_corr : float, default 0.8
        Largest absolute correlation of WOE values between two kept features.
    max_vif : float or None, default None
        Largest variance inflation factor of a kept feature's WOE values.
    force_in, force_out : iterable of str
        Features always kept / always dropped.

    Returns
    -------
    SelectionResult

    Raises
    ------
    ConfigError
        If a parameter is out of range, or a forced feature is unknown or both forced
        in and out.
    """
    from sklearn.utils.validation import check_is_fitted  # not for SelectionResult's users

    check_is_fitted(binner, "bins_")
    min_iv = check_float(_OWNER, "min_iv", min_iv, low=0.0)
    max_corr = check_float(_OWNER, "max_corr", max_corr, low=0.0, high=1.0, low_open=True)
    if max_vif is not None:
        max_vif = check_float(_OWNER, "max_vif", max_vif, low=1.0)
    features = list(binner.features_)
    forced_in = _codes("force_in", force_in, features)
    forced_out = _codes("force_out", force_out, features)
    both = sorted(set(forced_in) & set(forced_out))
    if both:
        raise ConfigError(f"Features cannot be both forced in and forced out: {list_some(both)}")
    iv = {code: float(binner.iv_[code]) for code in features}
    dropped: dict[str, str] = dict.fromkeys(forced_out, "forced out in config")
    candidates = []
    for code in features:
        if code in dropped:
            continue
        if iv[code] < min_iv and code not in forced_in:
            dropped[code] = f"IV {iv[code]:.3g} < {min_iv:g}"
        else:
            candidates.append(code)
    # forced-in first, then by decreasing IV; ties by feature order (stable sort)
    order = sorted(candidates, key=lambda c: (c not in forced_in, -iv[c]))
    kept: list[str] = []
    if order:
        woe = binner.woe_matrix(X, order)
        corr = _abs_correlation(woe)
        position = {code: i for i, code in enumerate(order)}
        for code in order:
            i = position[code]
            if code not in forced_in and kept:
                rs = [(corr[i, position[k]], k) for k in kept]
                worst_r, worst = max(rs, key=lambda item: item[0])
                if worst_r > max_corr:
                    dropped[code] = f"|r|={worst_r:.2f} with {worst} (IV {iv[worst]:.2f})"
                    continue
            kept.append(code)
        if max_vif is not None and len(kept) > 2:
            kept = _vif_filter(
                woe[:, [position[k] for k in kept]], kept, max_vif, forced_in, dropped
            )
    selected = tuple(code for code in features if code in set(kept))
    for code, reason in dropped.items():
        logger.info("feature %s dropped: %s", code, reason)
    ordered_dropped = {code: dropped[code] for code in features if code in dropped}
    return SelectionResult(selected=selected, dropped=ordered_dropped, iv=iv)


def _abs_correlation(values: np.ndarray) -> np.ndarray:
    """Absolute Pearson correlation matrix; 0 where a column is constant."""
    centred = values - values.mean(axis=0)
    norms = np.sqrt((centred**2).sum(axis=0))
    safe = np.where(norms > 0, norms, 1.0)
    scaled = centred / safe
    corr = np.abs(scaled.T @ scaled)
    corr[:, norms == 0] = 0.0
    corr[norms == 0, :] = 0.0
    return corr


def variance_inflation(values: np.ndarray) -> np.ndarray:
    """VIF of every column: 1 / (1 - R^2) of its regression on the other columns."""
    centred = values - values.mean(axis=0)
    scale = np.sqrt((centred**2).sum(axis=0))
    usable = scale > 0
    out = np.ones(values.shape[1])
    if usable.sum() < 2:
        return out
    standard = centred[:, usable] / scale[usable]
    corr = standard.T @ standard
    inverse = np.linalg.pinv(corr)
    out[usable] = np.maximum(np.diag(inverse), 1.0)
    return out


def _vif_filter(
    woe: np.ndarray,
    kept: list[str],
    max_vif: float,
    forced_in: list[str],
    dropped: dict[str, str],
) -> list[str]:
    """Drop the feature of highest VIF (not forced in) while one exceeds ``max_vif``."""
    kept = list(kept)
    columns = list(range(len(kept)))
    while len(kept) > 2:
        vif = variance_inflation(woe[:, columns])
        order = np.argsort(-vif, kind="stable")
        worst = next((int(i) for i in order if kept[i] not in forced_in), None)
        if worst is None or vif[worst] <= max_vif:
            break
        dropped[kept[worst]] = f"VIF {vif[worst]:.1f} > {max_vif:g}"
        del kept[worst]
        del columns[worst]
    return kept


def stepwise_select(
    y: np.ndarray,
    features: list[str],
    *,
    folds: Sequence[Fold],
    C: float,
    method: str = "backward",
    force_in: Iterable[str] = (),
    min_auc_gain: float = -0.002,
    weights: np.ndarray | None = None,
    max_iter: int = 100,
) -> tuple[list[str], dict[str, str], list[dict[str, Any]]]:
    """Stepwise selection by cross-validated AUC.

    ``backward`` starts from every candidate and removes, one at a time, the feature whose
    removal raises the mean validation AUC the most, while that feature adds no more than
    ``min_auc_gain`` (with -0.002: while removing it raises the CV AUC by 0.002 or more).
    Each step fits the model once per fold; the models without one feature are the
    one-step (Wald) approximations of their refits
    (:func:`~custrisk.estimators._logistic.cv_auc_drop_one`). ``forward`` starts from the
    forced-in features and adds the feature that raises the mean validation AUC the most,
    while one adds at least ``min_auc_gain`` (and more than 0). Forced-in features are
    never removed.

    Parameters
    ----------
    y : ndarray of 0/1
    features : list of str
        Candidate features, in order of preference (ties keep the first); feature ``j``
        is column ``j`` of the folds' matrices.
    folds : sequence of Fold
        Cross-validation folds giving each fold's training and validation WOE values.
    C : float
        Inverse L2 strength of the logistic regressions.
    method : {"backward", "forward"}
    force_in : iterable of str
        Features that stay in the model.
    min_auc_gain : float, default -0.002
        The CV AUC a feature must add to stay (backward) or to be added (forward, where
        it must also be above 0).

    Returns
    -------
    selected : list of str
        The selected features (candidate order).
    dropped : dict of str to str
        Each candidate left out, with the reason.
    steps : list of dict
        ``step``, ``removed`` or ``added`` (None for the stop), ``cv_auc``, ``gain``.
    """
    forced = {f for f in features if f in set(force_in)}

    def score(columns: list[int]) -> float:
        if not columns:
            return 0.5
        return cv_auc(y, folds, columns, C, weights=weights, max_iter=max_iter)

    steps: list[dict[str, Any]] = []
    dropped: dict[str, str] = {}
    if method == "backward":
        chosen = list(range(len(features)))
        steps.append({"step": 0, "removed": None, "cv_auc": None, "gain": 0.0})
        while len(chosen) > 1:
            removable = [k for k, i in enumerate(chosen) if features[i] not in forced]
            if not removable:
                break
            current, without = cv_auc_drop_one(
                y, folds, chosen, C, weights=weights, max_iter=max_iter
            )
            if steps[-1]["cv_auc"] is None:
                steps[-1]["cv_auc"] = current
            best = max(removable, key=lambda k: (without[k], -k))
            loss = current - float(without[best])  # what the feature adds
            if loss > min_auc_gain:
                break
            index = chosen.pop(best)
            steps.append(
                {
                    "step": len(steps),
                    "removed": features[index],
                    "cv_auc": float(without[best]),
                    "gain": -loss,
                }
            )
            dropped[features[index]] = (
                f"the CV AUC rises by {-loss:.4f} without it (stepwise step {len(steps) - 1})"
                if loss < 0
                else f"adds {loss:.4f} CV AUC (stepwise step {len(steps) - 1}; "
                f"the least to stay is {min_auc_gain:+g})"
            )
        return [features[i] for i in sorted(chosen)], dropped, steps
    chosen = [i for i, f in enumerate(features) if f in forced]
    remaining = [i for i in range(len(features)) if i not in chosen]
    current = score(chosen)
    last_gain: dict[int, float] = {}
    while remaining:
        scores = [score([*chosen, i]) for i in remaining]
        for i, value in zip(remaining, scores, strict=True):
            last_gain[i] = value - current
        best = int(np.argmax(scores))
        gain = scores[best] - current
        if gain <= max(min_auc_gain, 0.0):
            steps.append({"step": len(steps) + 1, "added": None, "cv_auc": current, "gain": gain})
            break
        index = remaining.pop(best)
        chosen.append(index)
        current = scores[best]
        steps.append(
            {"step": len(steps) + 1, "added": features[index], "cv_auc": current, "gain": gain}
        )
    for i in remaining:
        dropped[features[i]] = (
            f"adds {last_gain[i]:+.4f} CV AUC at stepwise step {len(steps)} "
            f"(the least to enter is {max(min_auc_gain, 0.0):g})"
        )
    return [features[i] for i in sorted(chosen)], dropped, steps
