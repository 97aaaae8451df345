"""Model performance: AUC, KS, Gini, Brier, calibration, lift; CV and data splits.

Conventions: ``pd`` arguments are probabilities of bad (higher = riskier); ``scores``
are scorecard points (higher = safer). AUC is the probability that a random bad has a
higher PD than a random good (ties count one half); Gini = 2 AUC - 1; KS is the largest
gap between the cumulative PD distributions of bads and goods. Every function is
deterministic (seeded) and returns plain data; nothing is printed.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from custrisk.errors import ConfigError, DataError
from custrisk.estimators._validation import check_float, check_int, check_target

logger = logging.getLogger(__name__)

__all__ = [
    "Evaluation",
    "auc",
    "brier",
    "calibration_table",
    "cross_validate",
    "evaluate",
    "gini",
    "holdout_split",
    "ks",
    "lift_table",
    "out_of_time_split",
]

CALIBRATION_COLUMNS = ("bin", "pd_min", "pd_max", "count", "bads", "mean_pd", "bad_rate")
LIFT_COLUMNS = (
    "band",
    "lower",
    "upper",
    "score_min",
    "score_max",
    "count",
    "bads",
    "bad_rate",
    "cum_count_share",
    "cum_bads",
    "cum_bad_capture",
    "lift",
    "cum_lift",
)
METRIC_NAMES = ("auc", "ks", "gini", "brier")


def _values(values: Any, n: int, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.shape[0] != n:
        raise DataError(f"{what} has {array.shape[0]} values but y has {n}")
    if np.isnan(array).any():
        raise DataError(f"{what} holds missing values")
    return array


def _pair(y: Any, predicted: Any, what: str = "pd") -> tuple[np.ndarray, np.ndarray]:
    n = len(y)
    target = check_target(y, n)
    return target, _values(predicted, n, what)


def auc(y: Any, pd_bad: Any) -> float:
    """Area under the ROC curve of PD against the bad flag (ties count one half).

    Parameters
    ----------
    y : array-like of 0/1
        Bad flags; both classes must be present.
    pd_bad : array-like of float
        Probability of bad, or any score where higher means riskier.

    Returns
    -------
    float
    """
    target, values = _pair(y, pd_bad)
    from sklearn.metrics import roc_auc_score  # scikit-learn loads on first use

    return float(roc_auc_score(target, values))


def gini(y: Any, pd_bad: Any) -> float:
    """Gini coefficient (accuracy ratio): ``2 * AUC - 1``."""
    return 2.0 * auc(y, pd_bad) - 1.0


def ks(y: Any, pd_bad: Any) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the cumulative PD
    distributions of bads and goods (0 to 1)."""
    target, values = _pair(y, pd_bad)
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(target, values, drop_intermediate=False)
    return float(np.max(np.abs(tpr - fpr)))


def brier(y: Any, pd_bad: Any) -> float:
    """Brier score: mean squared difference between PD and the bad flag."""
    n = len(y)
    target = np.asarray(y, dtype=np.float64).ravel()
    if target.shape[0] != n or np.isnan(target).any() or not np.isin(target, (0, 1)).all():
        raise DataError("y must hold 0/1 bad flags (1 = bad)")
    values = _values(pd_bad, n, "pd")
    return float(np.mean((values - target) ** 2))


def _quantile_groups(values: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Group index per value from quantile edges; tied values share a group.

    Returns the group index array and the inner edges (a value ``v`` is in group
    ``searchsorted(edges, v, side="right")``).
    """
    probs = np.linspace(0.0, 1.0, n_groups + 1)[1:-1]
    edges = np.unique(np.quantile(values, probs, method="higher"))
    edges = edges[edges > values.min()]
    return np.searchsorted(edges, values, side="right"), edges


def calibration_table(y: Any, pd_bad: Any, n_bins: int = 10) -> pd.DataFrame:
    """Mean PD against the observed bad rate by PD decile (or ``n_bins`` quantiles).

    Bins are cut at PD quantiles; rows with equal PD always share a bin, so there may be
    fewer than ``n_bins`` bins (a tree has one PD per leaf). Bin 1 has the lowest PDs.

    Returns
    -------
    pandas.DataFrame
        Columns: bin, pd_min, pd_max, count, bads, mean_pd, bad_rate.
    """
    n_bins = check_int("calibration_table", "n_bins", n_bins, low=1)
    target, values = _pair(y, pd_bad)
    groups, _ = _quantile_groups(values, n_bins)
    rows = []
    for g in np.unique(groups):
        hit = groups == g
        rows.append(
            {
                "bin": int(g) + 1,
                "pd_min": float(values[hit].min()),
                "pd_max": float(values[hit].max()),
                "count": int(hit.sum()),
                "bads": int(target[hit].sum()),
                "mean_pd": float(values[hit].mean()),
                "bad_rate": float(target[hit].mean()),
            }
        )
    table = pd.DataFrame(rows, columns=list(CALIBRATION_COLUMNS))
    table["bin"] = np.arange(1, len(table) + 1)
    return table


def largest_calibration_gap(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The bin of a calibration table (its rows as records, as a model card keeps
    them) whose observed bad rate is farthest from its mean PD; an empty bin counts
    as no gap. ``None`` for no rows."""
    if not rows:
        return None
    return max(rows, key=lambda r: abs(r["bad_rate"] - r["mean_pd"]) if r["count"] else 0)


def lift_table(
    y: Any,
    scores: Any,
    *,
    bands: Sequence[float] | None = None,
    n_bands: int = 10,
    higher_is_safer: bool = True,
) -> pd.DataFrame:
    """Bad capture and lift by score band, riskiest band first.

    Parameters
    ----------
    y : array-like of 0/1
        Bad flags.
    scores : array-like of float
        Scores (higher = safer), or PDs with ``higher_is_safer=False``.
    bands : sequence of float, optional
        Inner band edges, ascending (e.g. ``[550, 600, 650]`` gives below 550,
        [550, 600), [600, 650), 650 and above). Default: ``n_bands`` quantile bands
        (tied scores share a band, so there may be fewer).
    n_bands : int, default 10
        Number of quantile bands when ``bands`` is not given.
    higher_is_safer : bool, default True
        Direction of ``scores``.

    Returns
    -------
    pandas.DataFrame
        Columns: band (1 = riskiest), lower, upper (band edges), score_min, score_max
        (observed), count, bads, bad_rate, cum_count_share, cum_bads, cum_bad_capture
        (share of all bads in this and riskier bands), lift (band bad rate over the
        overall bad rate), cum_lift.
    """
    n = len(y)
    target = np.asarray(y, dtype=np.float64).ravel()
    if target.shape[0] != n or np.isnan(target).any() or not np.isin(target, (0, 1)).all():
        raise DataError("y must hold 0/1 bad flags (1 = bad)")
    values = _values(scores, n, "scores")
    if n == 0:
        raise DataError("y is empty")
    if bands is None:
        n_bands = check_int("lift_table", "n_bands", n_bands, low=1)
        groups, edges = _quantile_groups(values, n_bands)
    else:
        edges = np.asarray(list(bands), dtype=np.float64)
        if edges.ndim != 1 or not np.isfinite(edges).all() or np.any(np.diff(edges) <= 0):
            raise ConfigError(
                "The 'bands' parameter of lift_table must be strictly ascending finite "
                f"numbers. Got {list(bands)!r} instead."
            )
        groups = np.searchsorted(edges, values, side="right")
    lower = np.concatenate([[-np.inf], edges])
    upper = np.concatenate([edges, [np.inf]])
    n_groups = edges.size + 1
    counts = np.bincount(groups, minlength=n_groups)
    bads = np.bincount(groups, weights=target, minlength=n_groups).astype(np.int64)
    order = np.arange(n_groups) if higher_is_safer else np.arange(n_groups)[::-1]
    total_bads = int(target.sum())
    overall = total_bads / n
    rows = []
    cum_n = 0
    cum_b = 0
    for rank, g in enumerate(order, start=1):
        hit = groups == g
        count = int(counts[g])
        cum_n += count
        cum_b += int(bads[g])
        rate = bads[g] / count if count else math.nan
        cum_rate = cum_b / cum_n if cum_n else math.nan
        rows.append(
            {
                "band": rank,
                "lower": float(lower[g]),
                "upper": float(upper[g]),
                "score_min": float(values[hit].min()) if count else math.nan,
                "score_max": float(values[hit].max()) if count else math.nan,
                "count": count,
                "bads": int(bads[g]),
                "bad_rate": float(rate),
                "cum_count_share": cum_n / n,
                "cum_bads": cum_b,
                "cum_bad_capture": cum_b / total_bads if total_bads else math.nan,
                "lift": float(rate / overall) if overall and count else math.nan,
                "cum_lift": float(cum_rate / overall) if overall and cum_n else math.nan,
            }
        )
    if bands is None:
        # quantile bands are never empty: drop the edges of empty groups (none expected)
        rows = [row for row in rows if row["count"]]
    return pd.DataFrame(rows, columns=list(LIFT_COLUMNS))


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for record in table.to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for key, value in record.items():
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            clean[str(key)] = value
        out.append(clean)
    return out


@dataclass(frozen=True)
class Evaluation:
    """Performance of a model on labelled data.

    Attributes
    ----------
    n, n_bad : int
        Rows and bads.
    bad_rate, auc, ks, gini, brier : float
    calibration : pandas.DataFrame
        See :func:`calibration_table`.
    lift : pandas.DataFrame
        See :func:`lift_table`.
    """

    n: int
    n_bad: int
    bad_rate: float
    auc: float
    ks: float
    gini: float
    brier: float
    calibration: pd.DataFrame
    lift: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: scalars plus the tables as lists of records (inf/NaN as None)."""
        return {
            "n": self.n,
            "n_bad": self.n_bad,
            "bad_rate": self.bad_rate,
            "auc": self.auc,
            "ks": self.ks,
            "gini": self.gini,
            "brier": self.brier,
            "calibration": _records(self.calibration),
            "lift": _records(self.lift),
        }


def _predict_pd(model: Any, X: Any) -> np.ndarray:
    if hasattr(model, "predict_pd"):
        return np.asarray(model.predict_pd(X), dtype=np.float64)
    return np.asarray(model.predict_proba(X), dtype=np.float64)[:, 1]


def evaluate(
    model: Any,
    X: Any,
    y: Any,
    *,
    n_bins: int = 10,
    bands: Sequence[float] | None = None,
) -> Evaluation:
    """Evaluate a fitted model on labelled data.

    Parameters
    ----------
    model : fitted estimator
        With ``predict_pd`` (or ``predict_proba``); its ``predict_score`` (if any) gives
        the scores of the lift table, else PDs are used.
    X : pandas.DataFrame
        Features.
    y : array-like of 0/1
        Bad flags.
    n_bins : int, default 10
        Calibration bins (and quantile lift bands when ``bands`` is None).
    bands : sequence of float, optional
        Inner score band edges for the lift table.

    Returns
    -------
    Evaluation
    """
    target = check_target(y, len(X))
    pd_bad = _predict_pd(model, X)
    if hasattr(model, "predict_score"):
        lift = lift_table(target, model.predict_score(X), bands=bands, n_bands=n_bins)
    else:
        lift = lift_table(target, pd_bad, bands=bands, n_bands=n_bins, higher_is_safer=False)
    area = auc(target, pd_bad)
    return Evaluation(
        n=int(target.size),
        n_bad=int(target.sum()),
        bad_rate=float(target.mean()),
        auc=area,
        ks=ks(target, pd_bad),
        gini=2.0 * area - 1.0,
        brier=brier(target, pd_bad),
        calibration=calibration_table(target, pd_bad, n_bins),
        lift=lift,
    )


def _rows(data: Any, index: np.ndarray) -> Any:
    if isinstance(data, pd.DataFrame | pd.Series):
        return data.iloc[index]
    return np.asarray(data)[index]


def cross_validate(
    model_factory: Callable[[], Any] | Any,
    X: pd.DataFrame,
    y: Any,
    k: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """Stratified k-fold cross-validation of AUC, KS, Gini and Brier.

    Parameters
    ----------
    model_factory : callable or estimator
        Called with no arguments to make a fresh model per fold, or an unfitted
        estimator that is cloned per fold.
    X : pandas.DataFrame
    y : array-like of 0/1
    k : int, default 5
        Folds.
    seed : int, default 0
        Seed of the fold assignment.

    Returns
    -------
    dict
        ``folds`` (a dict of the four metrics per fold), ``mean`` and ``std`` (population
        standard deviation) of each metric, ``k`` and ``seed``.
    """
    k = check_int("cross_validate", "k", k, low=2)
    seed = check_int("cross_validate", "seed", seed, low=0)
    target = check_target(y, len(X))
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    results: list[dict[str, float]] = []
    for train, test in folds.split(np.zeros(target.size), target):
        model = clone(model_factory) if hasattr(model_factory, "fit") else model_factory()
        model.fit(_rows(X, train), target[train])
        pd_bad = _predict_pd(model, _rows(X, test))
        area = auc(target[test], pd_bad)
        results.append(
            {
                "auc": area,
                "ks": ks(target[test], pd_bad),
                "gini": 2.0 * area - 1.0,
                "brier": brier(target[test], pd_bad),
            }
        )
    return {
        "k": k,
        "seed": seed,
        "folds": results,
        "mean": {m: float(np.mean([r[m] for r in results])) for m in METRIC_NAMES},
        "std": {m: float(np.std([r[m] for r in results])) for m in METRIC_NAMES},
    }


def holdout_split(
    X: pd.DataFrame, y: Any, test_size: float = 0.3, seed: int = 0
) -> tuple[Any, Any, Any, Any]:
    """Stratified random split into training and hold-out rows.

    Returns
    -------
    X_train, X_test, y_train, y_test
        ``y`` parts keep the type of ``y``.
    """
    test_size = check_float(
        "holdout_split", "test_size", test_size, low=0.0, high=1.0, low_open=True, high_open=True
    )
    seed = check_int("holdout_split", "seed", seed, low=0)
    target = check_target(y, len(X))
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        np.arange(target.size), test_size=test_size, random_state=seed, stratify=target
    )
    train, test = np.sort(train), np.sort(test)
    return _rows(X, train), _rows(X, test), _rows(y, train), _rows(y, test)


def out_of_time_split(
    X: pd.DataFrame, y: Any, dates: Any, cutoff: dt.date | str
) -> tuple[Any, Any, Any, Any]:
    """Split by date: rows before ``cutoff`` train, rows on or after it test.

    Parameters
    ----------
    X : pandas.DataFrame
    y : array-like
    dates : array-like of dates
        One date per row (e.g. the observation or application date).
    cutoff : date or "YYYY-MM-DD"
        First date of the out-of-time sample.

    Returns
    -------
    X_train, X_test, y_train, y_test
    """
    stamps = pd.to_datetime(pd.Series(np.asarray(dates, dtype=object)), errors="coerce")
    if stamps.shape[0] != len(X):
        raise DataError(f"dates has {stamps.shape[0]} values but X has {len(X)} rows")
    if bool(stamps.isna().any()):
        raise DataError(f"dates holds {int(stamps.isna().sum())} missing or unreadable dates")
    try:
        limit = pd.Timestamp(cutoff)
    except (TypeError, ValueError):
        raise ConfigError(
            f"The 'cutoff' parameter of out_of_time_split must be a date. Got {cutoff!r} instead."
        ) from None
    before = (stamps < limit).to_numpy()
    train, test = np.flatnonzero(before), np.flatnonzero(~before)
    if train.size == 0 or test.size == 0:
        raise ConfigError(
            f"The 'cutoff' {limit.date()} leaves no "
            f"{'training' if train.size == 0 else 'out-of-time'} rows "
            f"(dates run from {stamps.min().date()} to {stamps.max().date()})."
        )
    return _rows(X, train), _rows(X, test), _rows(y, train), _rows(y, test)
