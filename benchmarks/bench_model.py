"""Benchmark training on 100k customers and scoring 1M, against the bare floor.

Usage::

    .venv/bin/python benchmarks/bench_model.py [--train 100000] [--score 1000000]

1. Generates TRAIN customers, computes their indicators and trains the logistic
   scorecard and the tree exactly as ``custrisk train`` does (``train_model``), timing
   the whole run and the fit alone.
2. Builds a SCORE-row feature matrix by repeating the training customers' indicator rows,
   and times, in the same process:
   * the bare floor: NumPy bin lookup (searchsorted) plus a dot product on the same array
     (``bare_floor_pd``; categorical columns pre-coded), the least scoring can cost;
   * ``predict_pd`` + ``predict_score`` (what the PD and score columns need);
   * the full scores table, reason codes included (``score_features``).
   and prints each as a ratio to the floor.
3. Times ``score_customer`` (one dict in, PD/score/reasons out) over 2,000 calls.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from custrisk.estimators import bare_floor_pd
from custrisk.sample import generate_sample_data
from custrisk.scoring import (
    model_indicator_config,
    open_model,
    prepare_features,
    score_customer,
    score_features,
    train_model,
)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(func):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = func()
    return value, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=100_000)
    parser.add_argument("--score", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_model_") as tmp:
        data = Path(tmp) / "exports"
        generate_sample_data(data, customers=args.train, seed=3)
        models = Path(tmp) / "models"
        for algorithm in ("logistic", "tree"):
            result, seconds = timed(
                lambda a=algorithm: train_model(
                    data, data / "labels.csv", algorithm=a, models_dir=models
                )
            )
            auc = result.card["metrics"]["holdout"]["auc"]
            print(
                f"train {algorithm:<8} {args.train:>9,} customers {seconds:7.1f} s "
                f"(load + indicators + fit + hold-out + 5-fold CV), hold-out AUC {auc:.3f}"
            )
        model = open_model("logistic", models)
        features = prepare_features(data, indicator_config=model_indicator_config(model))
        inputs = features.X[list(model.card["candidate_features"])]
        repeats = -(-args.score // len(inputs))
        big = pd.concat([inputs] * repeats).iloc[: args.score]
        card = model.model
        categorical = [c for c in card.features_ if card.binner_.bins_[c].kind == "categorical"]
        codes = card.binner_.bin_matrix(big) if categorical else None
        raw = np.column_stack(
            [
                codes[:, card.binner_.features_.index(code)].astype(np.float64)
                if code in categorical and codes is not None
                else big[code].to_numpy(dtype=np.float64, na_value=np.nan)
                for code in card.features_
            ]
        )
        floor = min(timed(lambda: bare_floor_pd(card, raw))[1] for _ in range(3))
        pd_score = min(
            timed(lambda: (card.predict_pd(big), card.predict_score(big)))[1] for _ in range(2)
        )
        table, full = timed(lambda: score_features(model, big, as_of=dt.date(2026, 10, 31)))
        n = len(big)
        print(
            f"score    {n:>9,} rows   bare floor          {floor:7.2f} s  "
            f"{n / floor:12,.0f} rows/s  1.00x"
        )
        print(
            f"score    {n:>9,} rows   PD + score          {pd_score:7.2f} s  "
            f"{n / pd_score:12,.0f} rows/s  {pd_score / floor:5.2f}x the floor"
        )
        print(
            f"score    {n:>9,} rows   full table+reasons  {full:7.2f} s  "
            f"{n / full:12,.0f} rows/s  {full / floor:5.2f}x the floor"
        )
        rows = [inputs.iloc[i].to_dict() for i in range(2000)]
        _, single = timed(lambda: [score_customer(model, row) for row in rows])
        print(f"score_customer: {single / len(rows) * 1e3:.3f} ms per call")
        print(f"peak memory {peak_rss_mb():,.0f} MB")
        assert len(table) == n


if __name__ == "__main__":
    main()
