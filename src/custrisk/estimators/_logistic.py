"""L2 logistic regression by Newton's method, and its cross-validation.

The scorecard fits many small logistic regressions while it chooses its features and its
regularisation by cross-validation; scikit-learn's per-call overhead dominates at that
size, so they are solved here exactly (Newton-Raphson with step halving) on dense NumPy
arrays. The objective is scikit-learn's::

    sum_i w_i * logloss(y_i, b0 + x_i . b) + ||b||^2 / (2 C)

(the intercept is not penalised), so ``C`` means what it means for
``sklearn.linear_model.LogisticRegression``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Fold(Protocol):
    """One cross-validation fold: row indices and the design matrices of some columns."""

    train: np.ndarray
    valid: np.ndarray

    def matrices(self, columns: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The training and validation rows of ``columns``."""
        ...


@dataclass(frozen=True)
class MatrixFold:
    """A fold of one fixed design matrix."""

    X: np.ndarray
    train: np.ndarray
    valid: np.ndarray

    def matrices(self, columns: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        cols = np.asarray(list(columns), dtype=np.intp)
        return self.X[np.ix_(self.train, cols)], self.X[np.ix_(self.valid, cols)]


@dataclass(frozen=True)
class LogisticFit:
    """Coefficients, intercept and whether Newton's method converged."""

    coef: np.ndarray
    intercept: float
    converged: bool
    n_iter: int


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # one exp over the whole array (no boolean gathers and scatters): 1 / (1 + e^-z) for
    # z >= 0, e^z / (1 + e^z) below, the same values as computing each half apart
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _objective(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, beta: np.ndarray, penalty: np.ndarray
) -> tuple[float, np.ndarray]:
    """The objective at ``beta`` and the linear predictor ``X @ beta`` (the next Newton
    step starts from it instead of computing it again)."""
    z = X @ beta
    # log(1 + e^z) - y z, computed stably
    loss = np.logaddexp(0.0, z) - y * z
    return float(w @ loss + 0.5 * (penalty * beta) @ beta), z


def fit_logistic(
    X: np.ndarray,
    y: np.ndarray,
    C: float,
    *,
    weights: np.ndarray | None = None,
    start: np.ndarray | None = None,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> LogisticFit:
    """Fit the L2 logistic regression of ``y`` (0/1) on the columns of ``X``.

    ``start`` (intercept first, then coefficients) warm-starts the solver. ``C=inf``
    gives no penalty.
    """
    n, p = X.shape
    design = np.empty((n, p + 1))
    design[:, 0] = 1.0
    design[:, 1:] = X
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    penalty = np.full(p + 1, 0.0 if math.isinf(C) else 1.0 / C)
    penalty[0] = 0.0
    if start is not None:
        beta = np.asarray(start, dtype=float).copy()
    else:
        beta = np.zeros(p + 1)
        rate = float(np.clip((w @ y) / w.sum(), 1e-6, 1 - 1e-6))
        beta[0] = math.log(rate / (1.0 - rate))
    current, z = _objective(design, y, w, beta, penalty)
    converged = False
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        prob = _sigmoid(z)
        gradient = design.T @ (w * (prob - y)) + penalty * beta
        hessian = (design * (w * prob * (1.0 - prob))[:, np.newaxis]).T @ design
        hessian[np.diag_indices_from(hessian)] += penalty + 1e-12
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        scale = 1.0
        while True:
            candidate = beta - scale * step
            value, candidate_z = _objective(design, y, w, candidate, penalty)
            if value <= current + 1e-12 * max(1.0, abs(current)) or scale < 1e-6:
                break
            scale *= 0.5
        decrease = current - value
        beta, current, z = candidate, value, candidate_z
        if float(np.abs(gradient).max()) < tol * max(1.0, w.sum()) or decrease < 1e-12 * max(
            1.0, abs(current)
        ):
            converged = True
            break
    return LogisticFit(beta[1:].copy(), float(beta[0]), converged, iteration)


def auc_columns(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AUC of every column of ``scores`` against 0/1 ``y`` (ties count one half).

    0.5 for a column when ``y`` holds a single class.
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim == 1:
        scores = scores[:, np.newaxis]
    positives = float(y.sum())
    negatives = float(y.size) - positives
    if positives == 0 or negatives == 0:
        return np.full(scores.shape[1], 0.5)
    from scipy.stats import rankdata  # SciPy's statistics cost 0.5 s to import: fitting only

    ranks = rankdata(scores, axis=0)
    return (ranks[y == 1].sum(axis=0) - positives * (positives + 1) / 2) / (positives * negatives)


def hessian(
    X: np.ndarray, fit: LogisticFit, C: float, weights: np.ndarray | None = None
) -> np.ndarray:
    """Hessian of the penalised objective at ``fit`` (intercept first)."""
    design = np.column_stack([np.ones(X.shape[0]), X])
    prob = _sigmoid(design @ np.concatenate([[fit.intercept], fit.coef]))
    w = np.ones(X.shape[0]) if weights is None else weights
    out = (design * (w * prob * (1.0 - prob))[:, np.newaxis]).T @ design
    if not math.isinf(C):
        out[np.diag_indices_from(out)] += np.concatenate([[0.0], np.full(X.shape[1], 1.0 / C)])
    return out


def predict_logit(fit: LogisticFit, X: np.ndarray) -> np.ndarray:
    """The log-odds of bad."""
    return fit.intercept + X @ fit.coef


def log_loss(y: np.ndarray, z: np.ndarray) -> float:
    """Mean log-loss of log-odds ``z`` against 0/1 ``y``."""
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


@dataclass(frozen=True)
class CVPath:
    """Cross-validated log-loss per candidate ``C``.

    ``se_log_loss`` is the standard error of each C's out-of-fold log-loss minus the best
    C's, paired by row.
    """

    Cs: tuple[float, ...]
    mean_log_loss: tuple[float, ...]
    se_log_loss: tuple[float, ...]
    best: int
    chosen: int
    out_of_fold: np.ndarray  # log-odds of every row at the chosen C

    def to_dict(self) -> dict[str, object]:
        return {
            "Cs": list(self.Cs),
            "mean_log_loss": list(self.mean_log_loss),
            "se_log_loss": list(self.se_log_loss),
            "best_C": self.Cs[self.best],
            "chosen_C": self.Cs[self.chosen],
            "rule": "one standard error (paired by row)",
        }


def cv_path(
    y: np.ndarray,
    folds: Sequence[Fold],
    columns: Sequence[int],
    Cs: Sequence[float],
    *,
    weights: np.ndarray | None = None,
    max_iter: int = 100,
) -> CVPath:
    """Out-of-fold log-loss per C; the chosen C follows the one-standard-error rule.

    The best C has the least mean out-of-fold log-loss; the chosen one is the smallest C
    (the strongest penalty) whose mean exceeds the best by at most one standard error of
    the difference, paired by row (the folds' own difficulty cancels out).
    """
    Cs = sorted(float(c) for c in Cs)
    row_loss = np.empty((len(Cs), y.size))
    oof = np.empty((len(Cs), y.size))
    for fold in folds:
        train, valid = fold.train, fold.valid
        X_train, X_valid = fold.matrices(columns)
        start = None
        w = None if weights is None else weights[train]
        for c, C in enumerate(Cs):
            fit = fit_logistic(X_train, y[train], C, weights=w, start=start, max_iter=max_iter)
            start = np.concatenate([[fit.intercept], fit.coef])
            z = predict_logit(fit, X_valid)
            oof[c, valid] = z
            row_loss[c, valid] = np.logaddexp(0.0, z) - y[valid] * z
    mean = row_loss.mean(axis=1)
    best = int(np.argmin(mean))
    differences = row_loss - row_loss[best]
    se = differences.std(axis=1, ddof=1) / math.sqrt(y.size) if y.size > 1 else np.zeros(len(Cs))
    chosen = int(np.flatnonzero(mean <= mean[best] + se + 1e-15)[0])
    return CVPath(
        Cs=tuple(Cs),
        mean_log_loss=tuple(float(v) for v in mean),
        se_log_loss=tuple(float(v) for v in se),
        best=best,
        chosen=chosen,
        out_of_fold=oof[chosen].copy(),
    )


def cv_auc(
    y: np.ndarray,
    folds: Sequence[Fold],
    columns: Sequence[int],
    C: float,
    *,
    weights: np.ndarray | None = None,
    max_iter: int = 100,
) -> float:
    """Mean validation AUC over the folds at one C."""
    values = []
    for fold in folds:
        X_train, X_valid = fold.matrices(columns)
        w = None if weights is None else weights[fold.train]
        fit = fit_logistic(X_train, y[fold.train], C, weights=w, max_iter=max_iter)
        values.append(auc_columns(y[fold.valid], predict_logit(fit, X_valid))[0])
    return float(np.mean(values))


def cv_auc_drop_one(
    y: np.ndarray,
    folds: Sequence[Fold],
    columns: Sequence[int],
    C: float,
    *,
    weights: np.ndarray | None = None,
    max_iter: int = 100,
) -> tuple[float, np.ndarray]:
    """Mean validation AUC of the model on ``columns``, and of the model without each.

    The model without column ``j`` is the one-step (Wald) approximation of its refit
    from the full fit: ``beta - H^-1 e_j beta_j / (H^-1)_jj``, one fit per fold instead
    of one per fold and column.
    """
    full = []
    dropped = []
    for fold in folds:
        train, valid = fold.train, fold.valid
        X_train, X_valid = fold.matrices(columns)
        w = None if weights is None else weights[train]
        fit = fit_logistic(X_train, y[train], C, weights=w, max_iter=max_iter)
        inverse = np.linalg.pinv(hessian(X_train, fit, C, w))
        beta = np.concatenate([[fit.intercept], fit.coef])
        diagonal = np.diag(inverse)[1:]
        shift = inverse[:, 1:] * np.where(diagonal > 0, beta[1:] / diagonal, 0.0)
        design = np.column_stack([np.ones(valid.size), X_valid])
        z = design @ beta
        full.append(auc_columns(y[valid], z)[0])
        dropped.append(auc_columns(y[valid], z[:, np.newaxis] - design @ shift))
    return float(np.mean(full)), np.mean(dropped, axis=0)


def platt(y: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    """Platt scaling: ``(a, b)`` of the logistic regression of ``y`` on log-odds ``z``."""
    fit = fit_logistic(z[:, np.newaxis], y, math.inf)
    return fit.intercept, float(fit.coef[0])
