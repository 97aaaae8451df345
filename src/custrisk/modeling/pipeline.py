"""Train, evaluate and apply models: the path from exports to a scored table.

exports -> load/validate/clean -> indicators -> model -> PD, score, reasons

A trained model keeps its own copy of the indicator config (``indicators.yaml`` in the
model folder), so that scoring computes exactly the features the model was trained on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custrisk.config._yaml import load_yaml_text
from custrisk.config.sources import SourcesConfig, load_sources_config
from custrisk.data import Workspace, load_labels, load_workspace, mask_rejects
from custrisk.errors import DataError, UsageError
from custrisk.indicators import IndicatorConfig, compute_indicators, load_indicator_config
from custrisk.indicators.config import parse_indicator_config
from custrisk.io.safe_csv import csv_text
from custrisk.modeling.config import ALGORITHMS, ModelConfig, load_model_config
from custrisk.monitoring import build_reference
from custrisk.registry import (
    LoadedModel,
    ModelRef,
    NameLock,
    load_model,
    lock_model_name,
    resolve_model,
    save_model,
)
from custrisk.registry.artifact import sha256_file
from custrisk.results import CREDIT_DETAIL_COLUMNS, INDICATOR_PREFIX
from custrisk.vocab import check_language

log = logging.getLogger(__name__)

INDICATORS_FILE = "indicators.yaml"
POINTS_FILE = "points.csv"
BINS_FILE = "bins.csv"
TRAINING_REJECTS_FILE = "training_rejects.csv"
PD_DECIMALS = 6


@dataclass
class Features:
    """Model inputs of one workspace: one row per customer, indexed by customer_id."""

    workspace: Workspace
    config: IndicatorConfig
    X: pd.DataFrame
    as_of: dt.date
    unavailable: dict[str, str] = field(default_factory=dict)


def load_configs(
    indicator_config: IndicatorConfig | str | os.PathLike[str] | None = None,
    sources_config: SourcesConfig | str | os.PathLike[str] | None = None,
) -> tuple[SourcesConfig, IndicatorConfig]:
    """The sources config and the indicator config checked against it (``None``: the
    packaged default of each).

    The one way train, score, evaluate and the monitoring commands load the pair, as
    ``custrisk indicators`` does: indicators may use every column the user's sources
    config declares.
    """
    sources = (
        sources_config
        if isinstance(sources_config, SourcesConfig)
        else load_sources_config(sources_config)
    )
    config = (
        indicator_config
        if isinstance(indicator_config, IndicatorConfig)
        else load_indicator_config(indicator_config, sources=sources)
    )
    return sources, config


def prepare_features(
    data_dir: str | os.PathLike[str],
    *,
    indicator_config: IndicatorConfig | str | os.PathLike[str] | None = None,
    sources_config: SourcesConfig | str | os.PathLike[str] | None = None,
    encoding: str | None = None,
    as_of: dt.date | str | None = None,
) -> Features:
    """Load and clean the exports, then compute the indicators of every customer.

    An indicator that needs a source or a column the exports do not have is
    unavailable (``Features.unavailable`` says why), never computed over blanks.
    """
    sources, config = load_configs(indicator_config, sources_config)
    workspace = load_workspace(data_dir, config=sources, encoding=encoding)
    result = compute_indicators(workspace.present_frames(), config, as_of=as_of)
    X = result.frame.set_index("customer_id")
    return Features(workspace, config, X, result.as_of, dict(result.unavailable))


def _labelled(
    features: Features, labels: str | os.PathLike[str], sources: SourcesConfig | None
) -> tuple[pd.DataFrame, np.ndarray, pd.Series | None, dict[str, int]]:
    frame, _rejects = load_labels(labels, config=sources)
    frame = frame.drop_duplicates("customer_id", keep="first").set_index("customer_id")
    known = frame.index.isin(features.X.index)
    unknown = int((~known).sum())
    frame = frame[known]
    X = features.X.loc[features.X.index.isin(frame.index)]
    y = frame["bad"].reindex(X.index).astype(int).to_numpy()
    counts = {
        "customers": len(features.X),
        "labelled": len(X),
        "unlabelled": len(features.X) - len(X),
        "labels_for_unknown_customers": unknown,
        "label_rows_rejected": int(_rejects["line"].nunique()) if len(_rejects) else 0,
    }
    if len(X) == 0:
        raise DataError(
            "no labelled customer: none of the label ids is in the credit table",
            file=str(labels),
            hint="check that the labels belong to this export",
        )
    if len(np.unique(y)) < 2:
        raise DataError(
            f"the labels hold only bad={int(y[0])}: a model needs goods and bads", file=str(labels)
        )
    dates = frame["label_date"].reindex(X.index) if "label_date" in frame else None
    return X, y, dates, counts


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


def make_estimator(algorithm: str, cfg: ModelConfig, specs: dict[str, Any]) -> Any:
    """A fresh, unfitted estimator configured from the model config."""
    from custrisk.model import LogisticScorecard, TreeModel, WoeBinner

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
    ref: ModelRef
    card: dict[str, Any]


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


def _train_locked(
    data_dir: str | os.PathLike[str],
    labels: str | os.PathLike[str],
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
    from custrisk.model import (
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
    X_all, y_all, dates, label_counts = _labelled(features, labels, sources)
    X_all = X_all[codes]
    specs = {
        code: spec
        for code, spec in feature_specs_from_indicators(icfg.indicators).items()
        if code in codes
    }
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
    estimator = make_estimator(algorithm, cfg, specs).fit(X_train, y_train)
    holdout = evaluate(estimator, X_test, y_test)
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
    if cfg.refit_on_all:
        estimator = make_estimator(algorithm, cfg, specs).fit(X_all, y_all)
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
    data_path = Path(data_dir)
    input_files = {}
    for source in features.workspace.report.sources.values():
        for file_name in source.files:
            path = Path(file_name)
            shown = path.relative_to(data_path) if path.is_relative_to(data_path) else path
            input_files[str(shown)] = sha256_file(path)
    input_files[f"labels:{Path(labels).name}"] = sha256_file(Path(labels))
    indicator_text = Path(icfg.path).read_text(encoding="utf-8")
    card: dict[str, Any] = {
        "algorithm": algorithm,
        "parameters": _jsonable(estimator.get_params(deep=False)),
        "model_config": {"file": cfg.path, "sha256": cfg.text_sha256},
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
        "model": _jsonable(estimator.to_dict()),
        "metrics": {
            "split": split_kind,
            "holdout": _jsonable(holdout.to_dict()),
            "train": _jsonable(training.to_dict()),
            "cv": _jsonable(cv) if cv is not None else None,
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
            "input_files_sha256": input_files,
        },
        "reasons_top": cfg.top_reasons,
        "reference": reference,
    }
    if left_out:  # indicators the data could not give, with why
        card["features_left_out"] = left_out
    extra = {INDICATORS_FILE: indicator_text}
    if algorithm == "logistic":
        extra[POINTS_FILE] = csv_text(estimator.points_table(), encoding=csv_encoding)
        extra[BINS_FILE] = csv_text(estimator.binner_.bin_table(), encoding=csv_encoding)
    workspace = features.workspace
    if len(workspace.rejects):
        extra[TRAINING_REJECTS_FILE] = csv_text(
            mask_rejects(workspace.rejects, workspace.config), encoding=csv_encoding
        )
    if rejects_unmasked is not None:
        workspace.write_rejects(rejects_unmasked, masked=False, csv_encoding=csv_encoding)
    ref = save_model(
        estimator, card, name=lock.name, models=lock.root, extra_files=extra, lock=lock
    )
    return TrainResult(ref, {**card, "model_id": ref.model_id})


def _jsonable(value: Any) -> Any:
    """Plain JSON types (NaN and infinities become None)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return _jsonable(value.to_dict(orient="records"))
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def open_model(
    spec: str,
    models_dir: str | os.PathLike[str] | None = None,
    *,
    require_signed: bool | None = None,
    allow_unverified: bool = False,
) -> LoadedModel:
    """Resolve, verify and load a model (path, NAME or NAME@VERSION).

    ``require_signed`` (default: ``CUSTRISK_REQUIRE_SIGNED``) refuses a model whose
    signature is not checked with ``CUSTRISK_SIGNING_KEY``; ``allow_unverified`` loads a
    signed model without the key (with a warning) instead of refusing it.
    """
    return load_model(
        resolve_model(spec, models_dir),
        require_signed=require_signed,
        allow_unverified=allow_unverified,
    )


def model_indicator_config(
    model: LoadedModel, sources_config: SourcesConfig | str | os.PathLike[str] | None = None
) -> IndicatorConfig:
    """The indicator config the model was trained with, parsed from the bytes verified
    when the model was loaded (the file is not read again), and checked against the
    sources config of the data it is applied to (``None``: the packaged default)."""
    sources = (
        sources_config
        if isinstance(sources_config, SourcesConfig)
        else load_sources_config(sources_config)
    )
    file = str(model.ref.path / INDICATORS_FILE)
    data = load_yaml_text(model.file_text(INDICATORS_FILE), file)
    return parse_indicator_config(data, sources=sources, file=file)


def prepare_model_features(
    model: LoadedModel,
    data_dir: str | os.PathLike[str],
    *,
    sources_config: SourcesConfig | str | os.PathLike[str] | None = None,
    encoding: str | None = None,
    as_of: dt.date | str | None = None,
    indicator_config: IndicatorConfig | None = None,
) -> Features:
    """The features ``model`` needs, computed from the exports in ``data_dir`` with the
    indicator config the model was trained with (``indicator_config``, when the caller
    has it already from :func:`model_indicator_config`).

    Raises
    ------
    DataError
        When the data cannot give a feature the model scores with (its source or a
        column it needs is missing): the model's output would be silently wrong.
    """
    sources = (
        sources_config
        if isinstance(sources_config, SourcesConfig)
        else load_sources_config(sources_config)
    )
    features = prepare_features(
        data_dir,
        indicator_config=indicator_config or model_indicator_config(model, sources),
        sources_config=sources,
        encoding=encoding,
        as_of=as_of,
    )
    lacking = [c for c in model.card.get("features", []) if c in features.unavailable]
    if lacking:
        reasons = "; ".join(f"{c}: {features.unavailable[c]}" for c in lacking[:3])
        raise DataError(
            f"model {model.model_id} needs feature(s) this data cannot give: {reasons}"
            + (f" and {len(lacking) - 3} more" if len(lacking) > 3 else ""),
            file=str(data_dir),
            hint="apply the model to exports with the sources and columns it was trained on",
        )
    return features


@dataclass
class ScoreResult:
    """The scores table, the per-customer details reports need, and the run's facts."""

    frame: pd.DataFrame
    details: pd.DataFrame
    run: dict[str, Any]
    features: Features
    model_id: str


def _values_text(values: pd.Series) -> np.ndarray:
    """Reasons' raw values as text: numbers to 6 significant digits, categories as is."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    is_number = ~np.isnan(numbers)
    text = values.to_numpy(dtype=object).copy()
    text[pd.isna(text)] = None
    if is_number.any():
        text[is_number] = np.char.mod("%.6g", numbers[is_number]).astype(object)
    return text


def _categorical(values: pd.Series) -> pd.Categorical:
    """Few distinct texts (reason codes, labels) as a Categorical: cheap to build and hold."""
    return pd.Categorical(values.to_numpy(dtype=object))


def _reasons_wide(reasons: pd.DataFrame, n_rows: int, top: int, lang: str) -> pd.DataFrame:
    """Long reasons (row, rank, code, labels, value, points) -> reason_k_* columns."""
    impact = "points_lost" if "points_lost" in reasons else "contribution"
    columns: dict[str, Any] = {}
    for rank in range(1, top + 1):
        chosen = reasons[reasons["rank"] == rank].set_index("row").reindex(range(n_rows))
        columns[f"reason_{rank}_code"] = _categorical(chosen["code"])
        columns[f"reason_{rank}_label"] = _categorical(chosen[f"label_{lang}"])
        columns[f"reason_{rank}_value"] = _values_text(chosen["value"])
        columns[f"reason_{rank}_impact"] = chosen[impact].to_numpy(dtype=np.float64)
    return pd.DataFrame(columns)


def score_features(
    model: LoadedModel, X: pd.DataFrame, *, as_of: dt.date, lang: str = "zh", top: int | None = None
) -> pd.DataFrame:
    """The scores table for feature rows ``X`` (indexed by customer_id)."""
    return _score(model, X, as_of=as_of, lang=lang, top=top)[0]


def _score(
    model: LoadedModel, X: pd.DataFrame, *, as_of: dt.date, lang: str, top: int | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    check_language(lang)
    estimator = model.model
    top = top or int(model.card.get("reasons_top", 3))
    missing = [c for c in model.card["candidate_features"] if c not in X.columns]
    if missing:
        raise DataError(
            f"the data lacks features the model needs: {', '.join(missing)}",
            hint="score exports with the same sources as the training data",
        )
    inputs = X[list(model.card["candidate_features"])]
    table = pd.DataFrame(
        {
            "customer_id": X.index.astype(str),
            "as_of": as_of.isoformat(),
            "pd": np.round(estimator.predict_pd(inputs), PD_DECIMALS),
            "score": estimator.predict_score(inputs).astype(np.int64),
        }
    )
    wide = _reasons_wide(
        estimator.reasons(inputs.reset_index(drop=True), top=top), len(table), top, lang
    )
    for rank in range(1, top + 1):
        table[f"reason_{rank}_code"] = wide[f"reason_{rank}_code"]
        table[f"reason_{rank}_label"] = wide[f"reason_{rank}_label"]
    table["model_id"] = model.model_id
    details = pd.concat(
        [
            table[["customer_id"]],
            wide.drop(columns=[c for c in wide.columns if str(c).endswith("_label")]),
        ],
        axis=1,
    )
    return table, details


def _customer_details(features: Features) -> pd.DataFrame:
    """Masked identity, credit fields and every indicator, per customer (for reports)."""
    from custrisk.privacy import mask_id_number, mask_name, mask_phone

    credit = features.workspace.frames["credit"].set_index("customer_id").reindex(features.X.index)
    out = pd.DataFrame(index=features.X.index)
    maskers = {"name": mask_name, "phone": mask_phone, "id_number": mask_id_number}
    for column, masker in maskers.items():
        if column in credit:
            out[f"{column}_masked"] = masker(credit[column]).to_numpy()
    for column in CREDIT_DETAIL_COLUMNS:
        if column in credit:
            out[column] = credit[column].to_numpy()
    for code in features.X.columns:
        out[f"{INDICATOR_PREFIX}{code}"] = features.X[code].to_numpy()
    return out.reset_index(names="customer_id")


def score_data(
    data_dir: str | os.PathLike[str],
    model: LoadedModel,
    *,
    sources_config: SourcesConfig | str | os.PathLike[str] | None = None,
    encoding: str | None = None,
    as_of: dt.date | str | None = None,
    lang: str = "zh",
    indicator_config: IndicatorConfig | None = None,
) -> ScoreResult:
    """Score every customer of the exports in ``data_dir`` with a loaded model.

    Returns the scores table, a details table (masked identity, credit fields, every
    indicator, reason values and impacts) and the run's facts for reports.
    """
    features = prepare_model_features(
        model,
        data_dir,
        sources_config=sources_config,
        encoding=encoding,
        as_of=as_of,
        indicator_config=indicator_config,
    )
    config = features.config
    table, reason_details = _score(model, features.X, as_of=features.as_of, lang=lang, top=None)
    details = _customer_details(features).merge(
        reason_details, on="customer_id", how="left", validate="one_to_one"
    )
    card = model.card
    run = {
        "model_id": model.model_id,
        "algorithm": card.get("algorithm"),
        "as_of": features.as_of.isoformat(),
        "customers": len(table),
        "rows_rejected": features.workspace.report.rows_rejected,
        "model_metrics": card.get("metrics", {}).get("holdout"),
        "model_training": {
            k: card.get("training", {}).get(k) for k in ("as_of", "rows", "bad_rate")
        },
        "scaling": (card.get("model") or {}).get("scaling"),
        "unavailable_indicators": features.unavailable,
        "indicators": {
            i.code: {
                "zh": i.label_zh,
                "en": i.label_en,
                "unit": i.unit,
                "direction": i.direction,
                "in_model": i.code in card.get("features", []),
            }
            for i in config.indicators
            if i.output
        },
    }
    return ScoreResult(table, details, run, features, model.model_id)


def evaluate_model(
    model: LoadedModel,
    data_dir: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    *,
    sources_config: SourcesConfig | str | os.PathLike[str] | None = None,
    encoding: str | None = None,
    as_of: dt.date | str | None = None,
) -> dict[str, Any]:
    """Metrics of a trained model on new labelled data, next to its training metrics."""
    from custrisk.model import evaluate

    sources = (
        sources_config
        if isinstance(sources_config, SourcesConfig)
        else load_sources_config(sources_config)
    )
    features = prepare_model_features(
        model, data_dir, sources_config=sources, encoding=encoding, as_of=as_of
    )
    X, y, _dates, counts = _labelled(features, labels, sources)
    result = evaluate(model.model, X[list(model.card["candidate_features"])], y)
    return {
        "model_id": model.model_id,
        "as_of": features.as_of.isoformat(),
        **counts,
        "metrics": _jsonable(result.to_dict()),
        "training_metrics": model.card.get("metrics", {}).get("holdout"),
    }


def score_customer(
    model: LoadedModel,
    values: dict[str, Any],
    *,
    top: int | None = None,
) -> dict[str, Any]:
    """PD, score and reasons of one customer from a dict of indicator values.

    Fast (microseconds after loading): no DataFrame is built.
    """
    return dict(model.model.score_one(values, top=top or int(model.card.get("reasons_top", 3))))
