"""Feature selection for a WOE scorecard: information value, then correlation.

1. Features forced out (config) are dropped.
2. Features whose IV is below ``min_iv`` are dropped, unless forced in.
3. The remaining features are taken by decreasing IV (forced-in ones first); a feature
   whose WOE values correlate with an already kept feature by more than ``max_corr``
   (absolute Pearson r) is dropped, naming that feature. So of two correlated
   features the one with the higher IV stays. Forced-in features are always kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from custrisk.errors import ConfigError
from custrisk.model._validation import check_float, list_some

if TYPE_CHECKING:
    from custrisk.model.binning import WoeBinner

logger = logging.getLogger(__name__)

__all__ = ["SelectionResult", "select_features"]

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
    """

    selected: tuple[str, ...]
    dropped: Mapping[str, str] = field(default_factory=dict)
    iv: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "selected": list(self.selected),
            "dropped": dict(self.dropped),
            "iv": {k: float(v) for k, v in self.iv.items()},
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
    min_iv: float = 0.02,
    max_corr: float = 0.7,
    force_in: Iterable[str] = (),
    force_out: Iterable[str] = (),
) -> SelectionResult:
    """Select features by IV and WOE correlation.

    Parameters
    ----------
    binner : WoeBinner
        A fitted binner (gives the IVs and the WOE transform).
    X : pandas.DataFrame
        The training features (for the correlations of their WOE values).
    min_iv : float, default 0.02
        Least IV to keep a feature.
    max_corr : float, default 0.7
        Largest absolute correlation of WOE values between two kept features.
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
    check_is_fitted(binner, "bins_")
    min_iv = check_float(_OWNER, "min_iv", min_iv, low=0.0)
    max_corr = check_float(_OWNER, "max_corr", max_corr, low=0.0, high=1.0, low_open=True)
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
