"""Benchmark training on 100k customers and scoring 1M, against the bare NumPy floor.

Usage::

    .venv/bin/python benchmarks/bench_model.py [--train 100000] [--score 1000000]
                                               [--no-optbinning]

1. Generates TRAIN customers, computes their indicators and trains the logistic
   scorecard and the tree exactly as ``custrisk train`` does (``train_model``), timing
   the whole run.
2. Builds a SCORE-row feature matrix by repeating the training customers' indicator rows,
   and times, in the same process (best of a few runs each):

   * the floor: bare NumPy on a column-major float matrix (categorical columns pre-coded
     to their bin): bins by comparisons, one WOE lookup and one addition per
     characteristic, a sigmoid (``bare_floor_pd``), the least scoring can cost;
   * the same with a binary search (``np.searchsorted``) for the bins: the floor as it
     was measured before (a reference line);
   * ``predict_pd`` + ``predict_score`` (two calls, the data binned twice);
   * ``score_table``: PD, score and top-3 reasons as arrays, each value binned once;
   * the full scores table (``score_features``: ids, PD, score, reason codes and
     labels), what ``custrisk score`` writes;
   * the reason values and impacts of the details file (text made per distinct value);
   * optbinning's ``Scorecard.score`` and ``predict_proba`` on the same frame, fitted
     on the same training rows (dev extra; skipped with ``--no-optbinning``);
   * the tree: routing alone (encode + scikit-learn ``apply`` + leaf PD) and its full
     scores table;

   and prints each as a ratio to the floor.
3. Times ``score_customer`` (one dict in, PD/score/reasons out) over 2,000 calls.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custrisk.estimators import bare_floor_pd
from custrisk.estimators.scorecard import LogisticScorecard
from custrisk.sample import generate_sample_data
from custrisk.scoring import (
    model_indicator_config,
    open_model,
    prepare_features,
    score_customer,
    score_features,
    train_model,
)

AS_OF = dt.date(2026, 10, 31)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_of(func: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    """The value of the last call and the least time of ``repeat`` calls."""
    best = float("inf")
    value = None
    for _ in range(repeat):
        start = time.perf_counter()
        value = func()
        best = min(best, time.perf_counter() - start)
    return value, best


def searchsorted_floor(model: LogisticScorecard, X: np.ndarray) -> np.ndarray:
    """The floor with bins by binary search (the definition used before the one pass)."""
    z = np.full(X.shape[0], model.intercept_)
    for j, code in enumerate(model.features_):
        fb = model.binner_.bins_[code]
        partial = model.coef_[j] * fb.woe
        if fb.kind == "numeric":
            index = np.searchsorted(np.append(fb.cuts, np.nan), X[:, j], side="right")
            if fb.specials.size:
                index[np.isin(X[:, j], fb.specials)] = fb.special_bin
                index[np.isnan(X[:, j])] = fb.missing_bin
            z += partial[index]
        else:
            z += partial[X[:, j].astype(np.int64)]
    return 1.0 / (1.0 + np.exp(-z))


def floor_matrix(card: LogisticScorecard, frame: pd.DataFrame) -> np.ndarray:
    """The characteristics as a column-major float matrix, categories as bin codes."""
    columns = []
    for code in card.features_:
        fb = card.binner_.bins_[code]
        if fb.kind == "categorical":
            columns.append(fb.bin_array(frame[code]).astype(np.float64))
        else:
            columns.append(frame[code].to_numpy(dtype=np.float64, na_value=np.nan))
    return np.asfortranarray(np.column_stack(columns))


def fit_optbinning(X: pd.DataFrame, y: np.ndarray, categorical: list[str]) -> Any:
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression

    process = BinningProcess(variable_names=list(X.columns), categorical_variables=categorical)
    card = Scorecard(
        binning_process=process,
        estimator=LogisticRegression(max_iter=1000),
        scaling_method="pdo_odds",
        scaling_method_params={"pdo": 20, "odds": 50, "scorecard_points": 600},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        card.fit(X, y)
    return card


def line(label: str, n: int, seconds: float, floor: float) -> None:
    print(
        f"score  {n:>9,} rows  {label:<34} {seconds:7.3f} s {n / seconds:12,.0f} rows/s "
        f"{seconds / floor:6.2f}x the floor"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=100_000)
    parser.add_argument("--score", type=int, default=1_000_000)
    parser.add_argument("--no-optbinning", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_model_") as tmp:
        data = Path(tmp) / "exports"
        generate_sample_data(data, customers=args.train, seed=3)
        models = Path(tmp) / "models"
        for algorithm in ("logistic", "tree"):
            result, seconds = best_of(
                lambda a=algorithm: train_model(
                    data, data / "labels.csv", algorithm=a, models_dir=models
                ),
                1,
            )
            auc = result.card["metrics"]["holdout"]["auc"]
            print(
                f"train {algorithm:<8} {args.train:>9,} customers {seconds:7.1f} s "
                f"(load + indicators + fit + hold-out + 5-fold CV), hold-out AUC {auc:.3f}"
            )
        model = open_model("logistic", models)
        tree = open_model("tree", models)
        features = prepare_features(data, indicator_config=model_indicator_config(model))
        inputs = features.X[list(model.card["candidate_features"])]
        repeats = -(-args.score // len(inputs))
        big = pd.concat([inputs] * repeats).iloc[: args.score]
        n = len(big)
        card: LogisticScorecard = model.model
        kinds = [card.binner_.bins_[c].kind for c in card.features_]
        print(
            f"scorecard: {len(card.features_)} characteristics "
            f"({kinds.count('categorical')} categorical), max "
            f"{max(card.binner_.bins_[c].n_bins for c in card.features_)} bins"
        )
        raw = floor_matrix(card, big)
        floor_pd, floor = best_of(lambda: bare_floor_pd(card, raw), 5)
        _, binary = best_of(lambda: searchsorted_floor(card, raw), 2)
        _, two_calls = best_of(lambda: (card.predict_pd(big), card.predict_score(big)), 2)
        scored, one_pass = best_of(lambda: card.score_table(big, top=3), 3)
        np.testing.assert_allclose(scored.pd, floor_pd, rtol=1e-12)
        table, full = best_of(lambda: score_features(model, big, as_of=AS_OF), 3)
        _, details = best_of(
            lambda: [(scored.reason_texts(k), scored.reason_impacts(k)) for k in range(1, 4)],
            2,
        )
        line("floor (bins by comparison)", n, floor, floor)
        line("floor, bins by binary search", n, binary, floor)
        line("predict_pd + predict_score", n, two_calls, floor)
        line("score_table (PD, score, top-3)", n, one_pass, floor)
        line("full scores table + reasons", n, full, floor)
        line("details: reason values + impacts", n, details, floor)
        if not args.no_optbinning:
            labels = pd.read_csv(data / "labels.csv", dtype={"customer_id": str})
            y = labels.set_index("customer_id")["bad"].reindex(inputs.index)
            known = y.notna().to_numpy()
            categorical = [c for c in inputs.columns if inputs[c].dtype.kind not in "fiub"]
            ob, fit_seconds = best_of(
                lambda: fit_optbinning(inputs[known], y[known].to_numpy(dtype=int), categorical),
                1,
            )
            print(f"optbinning Scorecard fit on {int(known.sum()):,} rows: {fit_seconds:.1f} s")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, ob_score = best_of(lambda: ob.score(big), 1)
                _, ob_proba = best_of(lambda: ob.predict_proba(big), 1)
            line("optbinning Scorecard.score", n, ob_score, floor)
            line("optbinning Scorecard.predict_proba", n, ob_proba, floor)
        encoded = tree.model.encode(big).astype(np.float32)
        _, tree_floor = best_of(
            lambda: tree.model.node_pd_[tree.model.tree_model_.apply(encoded)], 3
        )
        _, tree_full = best_of(lambda: score_features(tree, big, as_of=AS_OF), 2)
        line("tree: apply + leaf PD (pre-encoded)", n, tree_floor, floor)
        line("tree: full scores table + reasons", n, tree_full, floor)
        print(f"tree full table: {tree_full / tree_floor:.2f}x its own routing floor")
        rows = [inputs.iloc[i].to_dict() for i in range(2000)]
        for name, loaded in (("logistic", model), ("tree", tree)):
            _, single = best_of(lambda m=loaded: [score_customer(m, row) for row in rows], 1)
            print(f"score_customer ({name}): {single / len(rows) * 1e3:.3f} ms per call")
        print(f"peak memory {peak_rss_mb():,.0f} MB")
        assert len(table) == n


if __name__ == "__main__":
    main()
