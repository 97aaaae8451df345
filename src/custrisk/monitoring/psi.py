"""PSI: how far a distribution has moved from its reference, bin by bin.

``PSI = sum over bins of (a_i - e_i) * ln(a_i / e_i)``

with ``e_i`` and ``a_i`` the expected (reference) and actual (new) shares of bin ``i``.
**Empty bins** are smoothed with a share floor: ``share = max(count / total, epsilon)``
(``epsilon`` = 1e-4 by default), so PSI is always finite; a bin empty on both sides
contributes 0. "CSI" is the same statistic on a feature.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from custrisk.errors import ConfigError, DataError

DEFAULT_EPSILON = 1e-4
SMOOTHING = "share floor: share = max(count / total, epsilon)"


class PSIResult(NamedTuple):
    """A PSI value and each bin's contribution to it (they sum to the value)."""

    value: float
    contributions: np.ndarray


def _counts(values: Any, what: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        # (its type, not its values: a column of customer data handed by mistake)
        raise DataError(f"{what} must be counts (numbers), got {type(values).__name__}") from None
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


__all__ = ["DEFAULT_EPSILON", "SMOOTHING", "PSIResult", "psi", "shares"]
