"""Training a model on labelled exports: features, split, fit, metrics, card, registry."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custrisk.config.resources import recorded_config_path
from custrisk.data import ValidationReport, rejects_to_write
from custrisk.data.infer import infer_table
from custrisk.errors import CustriskError, DataError, UsageError
from custrisk.indicators import IndicatorConfig
from custrisk.indicators.as_of import named_period
from custrisk.io.atomic import active_sealer
from custrisk.io.clock import recorded_today
from custrisk.io.plain import brief_repr, counted, jsonable, path_argument
from custrisk.io.safe_csv import csv_text
from custrisk.io.sql import query_facts
from custrisk.monitoring import build_reference, load_drift_config
from custrisk.registry import (
    ModelRef,
    NameLock,
    lock_model_name,
    save_model,
)
from custrisk.registry.artifact import sha256_file
from custrisk.scoring.config import ALGORITHMS, ModelConfig, load_model_config
from custrisk.scoring.features import (
    BINS_FILE,
    INDICATORS_FILE,
    POINTS_FILE,
    TRAINING_REJECTS_FILE,
    input_files_sha256,
    labelled_features,
    load_configs,
    prepare_features,
)
from custrisk.scoring.table import (
    TABLE_CARD_KEY,
    TABLE_SOURCES_FILE,
    TableConfigs,
    infer_for_training,
    is_table,
    learnt_directions,
    table_labels,
    written_configs,
)
from custrisk.vocab import PERCENT_UNIT

log = logging.getLogger(__name__)


def _percent_bins(table: pd.DataFrame, column: str, binner: Any) -> pd.DataFrame:
    """``table`` (points or bins) with the bins of a share (a column read from 16%)
    labelled in percents, ``[5%, 15%)``, as its data and the reports show it."""
    # (here: importing the binning at the module's top would load SciPy in every
    # command that imports custrisk.scoring, validate too)
    from custrisk.estimators.binning import percent_bin_labels

    for code in table["feature"].unique():
        spec = binner.specs_.get(code)
        if spec is None or spec.unit != PERCENT_UNIT:
            continue
        labels = percent_bin_labels(binner.bins_[code])
        rows = table["feature"] == code
        table.loc[rows, column] = [labels[int(k)] for k in table.loc[rows, "bin"]]
    return table


def model_features(
    config: IndicatorConfig, model_config: ModelConfig, unavailable: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """Indicator codes the model uses (include, or all outputs, minus exclude), and the
    ones left out because the data cannot give them, with why.

    Raises
    ------
    DataError
        When a feature the model config names (``include`` or ``force_in``) cannot be
        computed from the data: a model must not train on a feature that is not there.
    """
    outputs = [i.code for i in config.indicators if i.output]
    wanted = list(model_config.include) if model_config.include is not None else outputs
    for code in (*wanted, *model_config.exclude, *model_config.force_in, *model_config.force_out):
        if code not in outputs:
            raise UsageError(
                f"model config {model_config.path}: feature {code!r} is not an output indicator",
                hint=f"indicators: {', '.join(outputs[:8])}, ...",
            )
    named = [
        c
        for c in dict.fromkeys([*(model_config.include or ()), *model_config.force_in])
        if c not in model_config.exclude
    ]
    lacking = [c for c in named if c in unavailable]
    if lacking:
        reasons = "; ".join(f"{c}: {unavailable[c]}" for c in lacking[:3])
        raise DataError(
            f"model config {model_config.path} names feature(s) this data cannot give: "
            f"{reasons}" + (f" and {len(lacking) - 3} more" if len(lacking) > 3 else ""),
            hint="add the missing column or export, or take the feature(s) out of "
            "features.include / force_in",
        )
    chosen = [c for c in wanted if c not in model_config.exclude and c not in unavailable]
    left_out = {c: unavailable[c] for c in wanted if c in unavailable and c not in named}
    if left_out:
        log.warning("features not available in this data, left out: %s", ", ".join(left_out))
    if not chosen:
        raise UsageError(
            "no feature left to train on",
            hint="check features.include/exclude and the data's sources",
        )
    return chosen, left_out


#: A feature that alone ranks bads above goods this well (AUC, either way) is the
#: outcome, or was recorded after it: left out unless the model config names it.
LEAK_AUC = 0.99
#: Above this (and below LEAK_AUC) it is kept, with a warning to check when it is known.
SUSPECT_AUC = 0.95
#: A category with more distinct values than this share of the rows is not screened (its
#: values' own bad rates would rank the rows well by chance).
_LEAK_CATEGORY_SHARE = 0.05


def target_leaks(X: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    """Each feature's AUC alone (a number ranked as it is, blanks lowest; a category by
    its values' bad rates), folded so that 0.5 is no information and 1 a perfect split:
    the features at or above :data:`SUSPECT_AUC` only."""
    from sklearn.metrics import roc_auc_score

    if len(y) < 50 or y.min() == y.max():
        return {}
    found: dict[str, float] = {}
    for code in X.columns:
        column = X[code]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            values = column.to_numpy(dtype="float64", na_value=np.nan)
            present = ~np.isnan(values)
            if not present.any():
                continue
            ranked = np.where(present, values, np.nanmin(values) - 1.0)
        else:
            text = column.astype("object").where(column.notna(), "\x00blank").to_numpy()
            distinct = pd.unique(text)
            if len(distinct) < 2 or len(distinct) > max(20, _LEAK_CATEGORY_SHARE * len(y)):
                continue
            rates = pd.Series(y).groupby(text).mean()
            ranked = pd.Series(text).map(rates).to_numpy(dtype="float64")
        if np.unique(ranked).size < 2:
            continue
        auc = float(roc_auc_score(y, ranked))
        auc = max(auc, 1.0 - auc)
        if auc >= SUSPECT_AUC:
            found[str(code)] = auc
    return found


def make_estimator(algorithm: str, cfg: ModelConfig, specs: dict[str, Any]) -> Any:
    """A fresh, unfitted estimator configured from the model config."""
    from custrisk.estimators import LogisticScorecard, TreeModel, WoeBinner

    if algorithm == "logistic":
        return LogisticScorecard(
            binner=WoeBinner(specs=specs, **cfg.binning),
            selection=True,
            force_in=tuple(cfg.force_in),
            force_out=tuple(cfg.force_out),
            scaling=cfg.scaling,
            random_state=cfg.seed,
            **cfg.selection,
            **cfg.logistic,
        )
    return TreeModel(specs=specs, scaling=cfg.scaling, random_state=cfg.seed, **cfg.tree)


@dataclass
class TrainResult:
    """A trained model's registry entry (``ref``) and its card (metrics, features, ...)."""

    __repr__ = brief_repr  # a notebook prints it: sizes, never the card's contents

    ref: ModelRef
    card: dict[str, Any]
    #: What cleaning the training data found, per source (its warnings: columns left
    #: blank, copied rows kept, a file read in place of the one the config names)
    report: ValidationReport | None = None


def check_training_options(
    data: str | os.PathLike[str],
    *,
    labels: object = None,
    target: str | None = None,
    bad_value: str | None = None,
    id_column: str | None = None,
    indicators: object = None,
    sources: object = None,
) -> bool:
    """Whether ``data`` is one flat table (:func:`train_table`) rather than a folder of
    exports (:func:`train_model`), once the options given (each ``None`` when not) are
    checked to fit it: a table needs its outcome column (``target``) and takes no
    labels, indicator or sources config, its layout being inferred; a folder needs the
    labels file and takes none of the table's options.

    Raises
    ------
    UsageError
        Naming the option that does not fit (``--target``, ``--labels``, ...), with
        an example that does.
    """
    data = Path(data)
    if is_table(data):
        if target is None:
            raise UsageError(
                f"{data} is one table: name its outcome column with --target",
                hint=f"e.g. custrisk train {data} --target {_outcome_guess(data)}",
            )
        for option, value in (
            ("--labels", labels),
            ("--indicators", indicators),
            ("--sources", sources),
        ):
            if value is not None:
                raise UsageError(
                    f"{option} does not apply to a flat table: its layout is inferred",
                    hint="leave it out, or train on a folder of exports",
                )
        return True
    for option, given in (
        ("--target", target),
        ("--bad-value", bad_value),
        ("--id-column", id_column),
    ):
        if given is not None:
            raise UsageError(
                f"{option} applies to a flat table (one file), not to the folder {data}",
                hint="pass the table file, or give the outcomes with --labels",
            )
    if labels is None:
        raise UsageError(
            "--labels is required with a folder of exports: the file of outcomes (customer_id,bad)",
            hint=f"e.g. custrisk train {data} --labels labels.csv",
        )
    return False


def _outcome_guess(table: Path) -> str:
    """The table's column named as an outcome (是否违约, default), for the hint of a
    missing --target; ``违约`` when none is, or the table cannot be read (the command
    that follows says why)."""
    try:
        return infer_table(table).outcome_guess or "违约"
    except CustriskError:
        return "违约"


def train_model(
    data_dir: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    *,
    algorithm: str | None = None,
    name: str | None = None,
    models_dir: str | os.PathLike[str] | None = None,
    model_config: ModelConfig | str | os.PathLike[str] | None = None,
    indicator_config: str | os.PathLike[str] | None = None,
    sources_config: str | os.PathLike[str] | None = None,
    encoding: str | None = None,
    as_of: dt.date | str | None = None,
    csv_encoding: str | None = None,
    rejects_unmasked: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train a model on labelled exports, evaluate it, and save it to the registry.

    A model is fitted on the training part of a stratified hold-out split (or an
    out-of-time split when configured) and measured on the hold-out; k-fold CV on the
    training part gives the spread of the metrics. The saved model is then refitted on
    every labelled row (``validation.refit_on_all``, the default), so it learns from all
    the data; the card's ``metrics.rows`` says which rows each metric used.

    The model name is locked from start to end: a second train of the same name is
    refused while this one runs (:func:`custrisk.registry.lock_model_name`).

    The model folder never holds personal data in clear: its ``training_rejects.csv``
    has the columns flagged ``pii`` masked. ``rejects_unmasked`` names a file (mode
    0600, outside the registry) for the rejected rows in clear. ``csv_encoding`` is that
    of the CSV tables in the model folder (UTF-8 with a BOM by default).
    """
    labels = path_argument(labels, "labels", hint="pass the labels file (customer_id, bad)")
    cfg = model_config if isinstance(model_config, ModelConfig) else load_model_config(model_config)
    algorithm = algorithm or cfg.algorithm
    if algorithm not in ALGORITHMS:
        raise UsageError(f"--algorithm must be one of {', '.join(ALGORITHMS)}; got {algorithm!r}")
    with lock_model_name(name or algorithm, models_dir) as lock:
        return _train_locked(
            data_dir,
            labels,
            cfg=cfg,
            algorithm=algorithm,
            lock=lock,
            indicator_config=indicator_config,
            sources_config=sources_config,
            encoding=encoding,
            as_of=as_of,
            csv_encoding=csv_encoding,
            rejects_unmasked=rejects_unmasked,
        )


#: The training rows' AUC above the honest one (the CV's, else the hold-out's) by more
#: than this, and by more than two of the CV's standard deviations, is overfitting
OVERFIT_AUC_GAP = 0.05


def overfitting(
    train_auc: float,
    holdout_auc: float,
    cv: Mapping[str, Any] | None,
    *,
    bads: int,
    algorithm: str,
) -> str | None:
    """Why a model fits its training rows far better than rows it did not see, or
    ``None``: its AUC on the training part above the hold-out's by more than
    :data:`OVERFIT_AUC_GAP`, and above the cross-validated one by more than that and two
    CV standard deviations (a hold-out as good as the training rows is no overfitting,
    whatever smaller CV folds give). New months behave like the unseen rows."""
    measured = f"{holdout_auc:.3f} on the hold-out"
    if not train_auc - holdout_auc > OVERFIT_AUC_GAP:  # (NaN: not judged)
        return None
    if cv is not None:
        honest, spread = float(cv["mean"]["auc"]), float(cv["std"]["auc"])
        if not train_auc - honest > max(OVERFIT_AUC_GAP, 2 * spread):
            return None
        measured = f"{honest:.3f} ± {spread:.3f} in {cv['k']}-fold CV (hold-out {holdout_auc:.3f})"
    fewer = (
        "stronger pruning (a larger tree.min_samples_leaf, a smaller tree.max_depth)"
        if algorithm == "tree"
        else "fewer features (a higher selection.min_iv or selection.min_auc_gain)"
    )
    return (
        f"the model fits its training rows far better than new ones (overfitting): AUC "
        f"{train_auc:.3f} on them ({counted(bads, 'bad')}) against {measured}; expect the "
        f"unseen rows' figure on new months. Train on more labelled customers, or ask the "
        f"model config for {fewer}"
    )


#: A saved model whose PDs on its training rows span (5th to 95th percentile) less
#: than this in log-odds -- a quarter of the points that double the odds -- ranks no one.
FLAT_LOG_ODDS = math.log(2) / 4


def flat_scores(estimator: Any, X: pd.DataFrame) -> str | None:
    """Why the saved model gives nearly every customer the same score, or ``None``:
    its PDs on the rows it was fitted on (5th to 95th percentile) differ by less than
    :data:`FLAT_LOG_ODDS` in log-odds. On a tiny portfolio the strongest regularisation
    (or a pruned tree of one leaf) wins the CV: the model is a constant, not a ranking."""
    pds = np.asarray(
        estimator.predict_pd(X)
        if hasattr(estimator, "predict_pd")
        else estimator.predict_proba(X)[:, 1],
        dtype=np.float64,
    )
    pds = np.clip(pds[np.isfinite(pds)], 1e-9, 1 - 1e-9)
    if len(pds) < 2:
        return None
    low, high = np.quantile(np.log(pds / (1 - pds)), [0.05, 0.95])
    if high - low >= FLAT_LOG_ODDS:
        return None
    shown = f"PD {1 / (1 + math.exp(-low)):.2%} to {1 / (1 + math.exp(-high)):.2%}"
    if hasattr(estimator, "predict_score"):
        scores = np.asarray(estimator.predict_score(X), dtype=np.float64)
        lo, hi = np.nanquantile(scores, [0.05, 0.95])
        shown = f"scores {lo:.0f} to {hi:.0f}, {shown}"
    return (
        f"the saved model gives nearly every customer the same score ({shown} for 90% of "
        f"the {len(pds):,} training rows): it does not rank customers, and grades, limits "
        "and alerts built on it mean little; train on more labelled customers (more bads), "
        "or use a model trained on a larger portfolio"
    )


def train_table(
    table: str | os.PathLike[str],
    target: str,
    *,
    bad_value: str | None = None,
    id_column: str | None = None,
    algorithm: str | None = None,
    name: str | None = None,
    models_dir: str | os.PathLike[str] | None = None,
    model_config: ModelConfig | str | os.PathLike[str] | None = None,
    encoding: str | None = None,
    as_of: dt.date | str | None = None,
    csv_encoding: str | None = None,
    rejects_unmasked: str | os.PathLike[str] | None = None,
    on_inferred: Callable[[TableConfigs], None] | None = None,
) -> TrainResult:
    """Train a model on a flat table (a row per customer, its columns the features, one
    of them the 0/1 outcome ``target``), with no config: the layout is inferred
    (:mod:`custrisk.scoring.table`) and saved with the model. ``on_inferred`` is called
    with the inference before the data is read in full (the CLI prints it).
    """
    table = path_argument(table, "table", hint="pass the table file (CSV, Parquet or Excel)")
    cfg = model_config if isinstance(model_config, ModelConfig) else load_model_config(model_config)
    algorithm = algorithm or cfg.algorithm
    if algorithm not in ALGORITHMS:
        raise UsageError(f"--algorithm must be one of {', '.join(ALGORITHMS)}; got {algorithm!r}")
    configs = infer_for_training(table, target, id_column=id_column, encoding=encoding)
    if on_inferred is not None:
        on_inferred(configs)
    with written_configs(configs) as (sources_file, indicators_file):
        with lock_model_name(name or algorithm, models_dir) as lock:
            return _train_locked(
                table,  # (that file read, whatever the layout's file: names)
                TableTarget(configs, bad_value),
                cfg=cfg,
                algorithm=algorithm,
                lock=lock,
                indicator_config=indicators_file,
                sources_config=sources_file,
                encoding=encoding,
                as_of=as_of or _table_as_of(table, configs),
                csv_encoding=csv_encoding,
                rejects_unmasked=rejects_unmasked,
            )


def _table_as_of(table: str | os.PathLike[str], configs: TableConfigs) -> dt.date | None:
    """A flat table's as-of date when none is given: ``None`` (found when it is read) for
    one with a date column or a month in its name (客户清单_2026-11.xlsx), else today,
    unsaid (an undated table's as-of date changes nothing of its model; the card records
    it: SOURCE_DATE_EPOCH's date when set)."""
    if configs.as_of_column or named_period(Path(table).name):
        return None
    return recorded_today()


@dataclass(frozen=True)
class TableTarget:
    """The labels of a flat table: its target column, read once the table is cleaned."""

    configs: TableConfigs
    bad_value: str | None


def _train_locked(
    data_dir: str | os.PathLike[str],
    labels: str | os.PathLike[str] | TableTarget,
    *,
    cfg: ModelConfig,
    algorithm: str,
    lock: NameLock,
    indicator_config: str | os.PathLike[str] | None,
    sources_config: str | os.PathLike[str] | None,
    encoding: str | None,
    as_of: dt.date | str | None,
    csv_encoding: str | None,
    rejects_unmasked: str | os.PathLike[str] | None,
) -> TrainResult:
    from custrisk.estimators import (
        cross_validate,
        evaluate,
        feature_specs_from_indicators,
        holdout_split,
        out_of_time_split,
    )

    sources, icfg = load_configs(indicator_config, sources_config)
    features = prepare_features(
        data_dir, indicator_config=icfg, sources_config=sources, encoding=encoding, as_of=as_of
    )
    codes, left_out = model_features(icfg, cfg, features.unavailable)
    table_card: dict[str, Any] | None = None
    if isinstance(labels, TableTarget):
        schema = labels.configs.schema
        target = schema.column(schema.target or "")
        label_frame, bad_text = table_labels(
            features.workspace.frames["credit"], target.name, target.header, labels.bad_value
        )
        X_all, y_all, dates, label_counts = labelled_features(features, label_frame, sources)
        table_card = {
            **schema.to_dict(),
            "target_bad_value": bad_text,
            "as_of_column": labels.configs.as_of_column,
        }
    else:
        X_all, y_all, dates, label_counts = labelled_features(
            features, labels, sources, outcomes_after_as_of=True
        )
    X_all = X_all[codes]
    named = {*(cfg.include or ()), *cfg.force_in}
    suspects = target_leaks(X_all, y_all)
    leaking = {
        c: f"alone it tells bads from goods almost perfectly (AUC {auc:.3f}): the outcome "
        "itself, or a value recorded after it?"
        for c, auc in suspects.items()
        if auc >= LEAK_AUC and c not in named
    }
    strong = {
        c: f"alone it has AUC {auc:.3f}: check that it is known before the outcome"
        for c, auc in suspects.items()
        if c not in leaking
    }
    if leaking:
        codes = [c for c in codes if c not in leaking]
        if not codes:
            raise DataError(
                "no feature left to train on: every one tells the outcome almost perfectly ("
                + "; ".join(f"{c}: {why}" for c, why in leaking.items())
                + ")",
                hint="train on the values known when the customer applied",
            )
        X_all = X_all[codes]
    specs = {
        code: spec
        for code, spec in feature_specs_from_indicators(icfg.indicators).items()
        if code in codes
    }
    _enough_of_each(y_all, cfg.cv_folds, cfg.test_size)
    if cfg.oot_date_column and cfg.oot_cutoff:
        if dates is None:
            raise UsageError(
                f"model config {cfg.path}: validation.oot_date_column is set but "
                f"{labels} has no label_date column"
            )
        split = out_of_time_split(X_all, y_all, dates, cfg.oot_cutoff)
        split_kind = f"out-of-time (test from {cfg.oot_cutoff.isoformat()})"
    else:
        split = holdout_split(X_all, y_all, test_size=cfg.test_size, seed=cfg.seed)
        split_kind = f"stratified hold-out ({cfg.test_size:.0%})"
    X_train, X_test, y_train, y_test = split
    for part, name in ((y_train, "training"), (y_test, "test")):
        if len(np.unique(np.asarray(part))) < 2:
            raise DataError(
                f"the {name} part of the {split_kind} split has only one outcome "
                f"({len(part):,} rows): a model cannot be fitted or judged on it",
                hint="move the out-of-time cut-off so that both parts hold bads and goods",
            )
    estimator = make_estimator(algorithm, cfg, specs).fit(X_train, y_train)
    holdout = evaluate(estimator, X_test, y_test)
    bads_held = float(np.sum(y_test))
    too_few = load_drift_config().too_few_labels(
        bads_held, len(y_test) - bads_held, counted="in the hold-out"
    )
    if too_few:
        log.warning(
            "%s: the hold-out's AUC and KS are rough, and drift's auc_drop and ks_drop "
            "compare later months with them; train on more labelled customers",
            too_few,
        )
    training = evaluate(estimator, X_train, y_train)
    cv = (
        cross_validate(
            lambda: make_estimator(algorithm, cfg, specs),
            X_train,
            y_train,
            k=cfg.cv_folds,
            seed=cfg.seed,
        )
        if cfg.cv_folds >= 2
        else None
    )
    overfit = overfitting(
        training.auc, holdout.auc, cv, bads=int(np.sum(y_train)), algorithm=algorithm
    )
    if overfit:
        log.warning("%s", overfit)
    if cfg.refit_on_all:
        estimator = make_estimator(algorithm, cfg, specs).fit(X_all, y_all)
    flat = flat_scores(estimator, X_all)
    if flat:
        log.warning("%s", flat)
    rows_used: dict[str, dict[str, Any]] = {
        "holdout": {
            "model_fitted_on": f"training part ({len(X_train):,} rows)",
            "measured_on": f"hold-out part ({len(X_test):,} rows)",
        },
        "train": {
            "model_fitted_on": f"training part ({len(X_train):,} rows)",
            "measured_on": f"training part ({len(X_train):,} rows, in-sample)",
        },
        "cv": {
            "model_fitted_on": f"{cfg.cv_folds} folds of the training part",
            "measured_on": "the left-out fold each time",
        },
        "saved_model": {
            "fitted_on": (
                f"all labelled rows ({len(X_all):,})"
                if cfg.refit_on_all
                else f"training part ({len(X_train):,} rows)"
            ),
            "rows": len(X_all) if cfg.refit_on_all else len(X_train),
        },
    }
    scores_all = estimator.predict_score(X_all)
    used = list(getattr(estimator, "features_", codes))
    reference = {
        "score": build_reference(
            pd.Series(scores_all, dtype="float64"), bins=cfg.reference_bins
        ).to_dict(),
        "pd": build_reference(
            pd.Series(estimator.predict_pd(X_all)), bins=cfg.reference_bins
        ).to_dict(),
        "features": {
            code: build_reference(X_all[code], bins=cfg.reference_bins).to_dict() for code in codes
        },
        "rows": len(X_all),
    }
    input_files = input_files_sha256(
        features.workspace, data_dir, None if isinstance(labels, TableTarget) else labels
    )
    indicator_text = Path(icfg.path).read_text(encoding="utf-8")
    card: dict[str, Any] = {
        "algorithm": algorithm,
        "parameters": jsonable(estimator.get_params(deep=False)),
        "model_config": {"file": recorded_config_path(cfg.path), "sha256": cfg.text_sha256},
        "config_hashes": {
            "model": cfg.text_sha256,
            "indicators": hashlib.sha256(indicator_text.encode("utf-8")).hexdigest(),
            "sources": sha256_file(Path(sources.path)),
        },
        "seed": cfg.seed,
        "features": used,
        "candidate_features": codes,
        "feature_labels": {
            code: {
                "zh": specs[code].label_zh,
                "en": specs[code].label_en,
                "direction": specs[code].direction,
                "kind": specs[code].kind,
            }
            for code in codes
        },
        "model": jsonable(estimator.to_dict()),
        "metrics": {
            "split": split_kind,
            "holdout": jsonable(holdout.to_dict()),
            "train": jsonable(training.to_dict()),
            "cv": jsonable(cv) if cv is not None else None,
            "rows": rows_used,
        },
        "training": {
            "as_of": features.as_of.isoformat(),
            "rows": len(X_all),
            "bads": int(y_all.sum()),
            "bad_rate": float(y_all.mean()),
            "train_rows": len(X_train),
            "test_rows": len(X_test),
            "model_rows": rows_used["saved_model"]["rows"],
            **label_counts,
            "rows_rejected_in_exports": features.workspace.report.rows_rejected,
            "rows_repaired_in_exports": features.workspace.report.rows_repaired,
            "input_files_sha256": input_files,
            # a query's rows have no file to hash: its text's and the month it was bound to
            **({"queries": q} if (q := query_facts(features.workspace.config.sources)) else {}),
        },
        "reasons_top": cfg.top_reasons,
        "reference": reference,
    }
    if left_out:  # indicators the data could not give, with why
        card["features_left_out"] = left_out
    if leaking:  # features that are the outcome, or recorded after it
        card["features_leaking"] = leaking
    if strong:
        card["features_suspect"] = strong
    extra: dict[str, str | bytes] = {INDICATORS_FILE: indicator_text}
    if table_card is not None:
        # Directions learnt from the data (the table says nothing about them).
        learnt = learnt_directions(X_all, y_all)
        for code, meta in card["feature_labels"].items():
            meta["direction"] = learnt.get(code, "none")
        card[TABLE_CARD_KEY] = table_card
        extra[TABLE_SOURCES_FILE] = Path(sources.path).read_text(encoding="utf-8")
    if algorithm == "logistic":
        binner = estimator.binner_
        points = _percent_bins(estimator.points_table(), "bin_label", binner)
        extra[POINTS_FILE] = csv_text(points, encoding=csv_encoding)
        bins = _percent_bins(binner.bin_table(), "label", binner)
        extra[BINS_FILE] = csv_text(bins, encoding=csv_encoding)
    workspace = features.workspace
    if len(workspace.rejects):
        table = rejects_to_write(
            workspace.rejects, workspace.config, written=workspace.report.written_headers
        )
        text = csv_text(table, encoding=csv_encoding)
        sealer = active_sealer()
        if sealer is None:
            extra[TRAINING_REJECTS_FILE] = text
        else:  # --encrypt: the model folder holds the rejects sealed, never in clear
            sealed = io.BytesIO()
            sealer.seal(io.BytesIO(text.encode("utf-8")), sealed)
            extra[TRAINING_REJECTS_FILE + sealer.suffix] = sealed.getvalue()
    if rejects_unmasked is not None:
        workspace.write_rejects(rejects_unmasked, masked=False, csv_encoding=csv_encoding)
    ref = save_model(
        estimator, card, name=lock.name, models=lock.root, extra_files=extra, lock=lock
    )
    return TrainResult(ref, {**card, "model_id": ref.model_id}, workspace.report)


#: The fewest bads and goods ``train`` fits on: a scorecard's bins and a 5-fold
#: cross-validation of the training part (70%) need more than a handful of each.
MIN_PER_OUTCOME = 10


def _enough_of_each(y: Any, folds: int, test_size: float) -> None:
    """Refuse labels with too few bads or goods to split, cross-validate and fit."""
    values = np.asarray(y)
    bads = int((values == 1).sum())
    goods = len(values) - bads
    # each fold of the training part needs one of each outcome
    least = max(MIN_PER_OUTCOME, math.ceil(folds / (1 - test_size)) + 1)
    if min(bads, goods) < least:  # (the shape of drift.yaml's minimum.bads message)
        cv = f" and {folds}-fold cross-validation" if folds >= 2 else ""
        raise DataError(
            f"too few labelled customers to train on: {bads:,} bads and {goods:,} goods "
            f"labelled, fewer than the {least} of each the hold-out{cv} "
            f"{'need' if cv else 'needs'}",
            hint="train on more customers (several months of outcomes), or use a model "
            "trained on a larger portfolio",
        )
