"""Monitoring over exports: load a month's data for a model, then check drift or compare
two models (the statistics themselves live in :mod:`custrisk.monitoring`)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from custrisk.config.sources import CUSTOMER_SOURCE
from custrisk.data import ValidationReport, load_labels
from custrisk.data.labels import (
    label_faults,
    label_rejects_summary,
    require_labels,
    without_outcomes_known_at,
)
from custrisk.errors import DataError, UsageError
from custrisk.monitoring import (
    CompareConfig,
    Comparison,
    DriftConfig,
    DriftReport,
    check_drift,
    compare_predictions,
    load_drift_config,
    with_options,
)
from custrisk.registry import MODEL_FILE, LoadedModel
from custrisk.scoring.features import (
    INDICATORS_FILE,
    Features,
    as_loaded_model,
    in_sample_files,
    in_sample_note,
    model_sources,
    prepare_model_features,
    too_few_note,
)
from custrisk.scoring.table import TABLE_CARD_KEY, TABLE_SOURCES_FILE, is_table_model, table_target

log = logging.getLogger(__name__)


def read_labels(
    path: str | os.PathLike[str],
    *,
    sources_config: Any = None,
    encoding: str | None = None,
    as_of: dt.date | None = None,
) -> pd.Series:
    """Bad flags (0/1, int8) indexed by customer_id from a labels file.

    Rows rejected while cleaning are logged as a warning; a repeated customer keeps its
    first row. The file name is kept in ``series.attrs["file"]`` for messages. With
    ``as_of`` (the data's), bad outcomes dated on or before it are left out, or
    refused when they are most (the labels of an earlier export).
    """
    frame, rejects = load_labels(path, config=sources_config, encoding=encoding)
    require_labels(frame, rejects, path)
    if as_of is not None:
        frame = without_outcomes_known_at(frame, as_of, path)
    dropped, blanked = label_faults(rejects)
    if len(dropped):
        log.warning(
            "%s: %d label rows rejected while cleaning (%s)",
            path,
            dropped["line"].nunique(),
            label_rejects_summary(dropped),
        )
    if len(blanked):
        log.warning(
            "%s: %d label values blanked, unknown (%s)",
            path,
            len(blanked),
            label_rejects_summary(blanked),
        )
    frame = frame.drop_duplicates("customer_id", keep="first")
    frame = frame[frame["bad"].notna()]
    flags = pd.Series(
        frame["bad"].to_numpy(dtype=np.int8),
        index=pd.Index(frame["customer_id"].astype(str), name="customer_id"),
        name="bad",
    )
    flags.attrs["file"] = str(path)
    return flags


def _flags(
    model: LoadedModel,
    features: Any,
    labels: str | os.PathLike[str] | None,
    sources: Any,
    encoding: str | None,
) -> pd.Series | None:
    return drift_outcomes(
        model, features.workspace, labels, sources, encoding, as_of=features.as_of
    )


def drift_outcomes(
    model: LoadedModel,
    workspace: Any,
    labels: str | os.PathLike[str] | None,
    sources: Any,
    encoding: str | None,
    as_of: dt.date | None = None,
) -> pd.Series | None:
    """The outcomes a drift check of ``workspace`` uses: a labels file, a flat table's
    own target column (when the model was trained on one and the table has it), or none.
    With ``as_of``, a labels file whose bad outcomes are dated on or before it is refused
    (the labels of an earlier export)."""
    if labels is not None:
        return read_labels(labels, sources_config=sources, encoding=encoding, as_of=as_of)
    if not is_table_model(model):
        return None
    frame = workspace.frames[CUSTOMER_SOURCE]
    try:
        table = table_target(model, frame)
    except DataError:
        return None  # a table of new customers: no outcomes yet
    flags = pd.Series(
        table["bad"].to_numpy(dtype=np.int8),
        index=pd.Index(table["customer_id"].astype(str), name="customer_id"),
        name="bad",
    )
    flags.attrs["file"] = "the table's target column"
    return flags


def exports_facts(report: ValidationReport) -> dict[str, Any]:
    """What cleaning the exports did, for a drift report's ``data``: rows rejected and
    repaired, and each source's warnings (a column no value of which could be read, say
    ``712分`` where numbers were: its feature then drifts to all missing, and the
    warning says why)."""
    return {
        "rows_rejected_in_exports": report.rows_rejected,
        "rows_repaired_in_exports": report.rows_repaired,
        "warnings_in_exports": [
            f"{source.name}: {warning}"
            for source in report.sources.values()
            for warning in source.warnings
        ],
    }


def check_data_drift(
    model: LoadedModel | str,
    data_dir: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | None = None,
    config: DriftConfig | str | os.PathLike[str] | None = None,
    fail_on: str | None = None,
    allow_insufficient: bool | None = None,
    sources_config: str | os.PathLike[str] | None = None,
    encoding: str | None = None,
    as_of: dt.date | str | None = None,
    models_dir: str | os.PathLike[str] | None = None,
    require_signed: bool | None = None,
    allow_unverified: bool = False,
    features: Features | None = None,
    lang: str = "zh",
) -> DriftReport:
    """Load the exports in ``data_dir`` (and the labels), then
    :func:`custrisk.monitoring.check_drift`.

    ``model`` is a loaded model or a model folder, NAME or NAME@VERSION (verified before it
    is loaded). ``config`` is a drift config or its YAML (default: the packaged one);
    ``fail_on`` and ``allow_insufficient`` override it. The indicators are computed with
    the model's own indicator config.

    ``features`` are the model's features of these exports computed already (the
    ``extras["features"]`` of :func:`custrisk.scoring.score_portfolio`'s run with
    ``keep_features=True``, the same model, sources config and encoding, as the monthly
    batch's drift stage passes them): the exports are then not read again (``as_of``
    does not apply). ``lang``: the language of the features' labels.
    """
    cfg = config if isinstance(config, DriftConfig) else load_drift_config(config)
    cfg = with_options(cfg, fail_on=fail_on, allow_insufficient=allow_insufficient)
    model = as_loaded_model(
        model,
        models_dir,
        require_signed=require_signed,
        allow_unverified=allow_unverified,
        predict_only=True,  # PDs and scores only: a scorecard without scikit-learn
    )
    folder, sources = model_sources(model, data_dir, sources_config)
    if features is None:
        features = prepare_model_features(
            model, folder, sources_config=sources, encoding=encoding, as_of=as_of
        )
    flags = _flags(model, features, labels, sources, encoding)
    info = {
        **exports_facts(features.workspace.report),
        "unavailable_indicators": dict(features.unavailable),
    }
    return check_drift(model, features.X, flags, cfg, as_of=features.as_of, info=info, lang=lang)


def compare_models(
    champion: LoadedModel | str,
    challenger: LoadedModel | str,
    data_dir: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None = None,
    *,
    config: CompareConfig | str | os.PathLike[str] | None = None,
    bootstrap: int | None = None,
    seed: int | None = None,
    min_gain: float | None = None,
    sources_config: str | os.PathLike[str] | None = None,
    encoding: str | None = None,
    as_of: dt.date | str | None = None,
    models_dir: str | os.PathLike[str] | None = None,
    require_signed: bool | None = None,
    allow_unverified: bool = False,
) -> Comparison:
    """Compare two registry models on the labelled exports in ``data_dir``.

    Each model gets the indicators of its own indicator config (computed once when both
    configs are the same file content); the customers labelled in both are compared.

    Parameters
    ----------
    champion, challenger : LoadedModel or str
        Loaded models, or model folders, NAMEs or NAME@VERSIONs (verified before they
        are loaded; ``models_dir``, ``require_signed``, ``allow_unverified`` apply).
    data_dir : path
        Folder of the exports.
    labels : path
        Labels file (customer_id, bad).
    config : CompareConfig or path, optional
        The settings, or a drift YAML whose ``compare`` section to use (default: the
        packaged drift.yaml); ``bootstrap``, ``seed`` and ``min_gain`` override them.
    sources_config, encoding, as_of
        As for :func:`custrisk.scoring.prepare_features`.

    Returns
    -------
    Comparison
    """
    if bootstrap is not None and bootstrap < 1:
        raise UsageError(f"--bootstrap must be at least 1; got {bootstrap}", hint="e.g. 1000")
    if seed is not None and seed < 0:
        raise UsageError(f"--seed must be 0 or more; got {seed}")
    if min_gain is not None and min_gain < 0:
        raise UsageError(f"--min-gain must be 0 or more; got {min_gain:g}", hint="e.g. 0.01")
    # (drift.yaml's minimum.bads says when the comparison is too thin to act on)
    drift_config = load_drift_config(None if isinstance(config, CompareConfig) else config)
    settings = config if isinstance(config, CompareConfig) else drift_config.compare
    settings = replace(
        settings,
        bootstrap=bootstrap if bootstrap is not None else settings.bootstrap,
        seed=seed if seed is not None else settings.seed,
        min_auc_gain=min_gain if min_gain is not None else settings.min_auc_gain,
    )
    champion = as_loaded_model(
        champion,
        models_dir,
        require_signed=require_signed,
        allow_unverified=allow_unverified,
        predict_only=True,  # PDs and scores only: a scorecard without scikit-learn
    )
    challenger = as_loaded_model(
        challenger,
        models_dir,
        require_signed=require_signed,
        allow_unverified=allow_unverified,
        predict_only=True,  # PDs and scores only: a scorecard without scikit-learn
    )
    cache: dict[tuple[bytes, str, bytes], Any] = {}  # (read once for models that agree)
    frames = []
    in_sample: dict[str, list[str]] = {}  # measured on the outcomes it was trained on
    as_of_text = None
    for model in (champion, challenger):
        folder, sources = model_sources(model, data_dir, sources_config)
        if is_table_model(model):  # read by its saved layout and columns, not a path
            layout = model.file_bytes(TABLE_SOURCES_FILE)
            columns = [  # (each column's reason is words for the user, not how it is read)
                {k: v for k, v in column.items() if k != "reason"}
                for column in (model.card.get(TABLE_CARD_KEY) or {}).get("columns", [])
            ]
            read_as = json.dumps(columns, sort_keys=True, ensure_ascii=False)
        else:
            layout, read_as = b"", str(sources.path)
        key = (model.file_bytes(INDICATORS_FILE), read_as, layout)
        if key not in cache:
            cache[key] = prepare_model_features(
                model, folder, sources_config=sources, encoding=encoding, as_of=as_of
            )
        features = cache[key]
        as_of_text = features.as_of.isoformat()
        needed = list(model.card["candidate_features"])
        missing = [c for c in needed if c not in features.X.columns]
        if missing:
            raise DataError(
                f"the data lacks features model {model.model_id} needs: {', '.join(missing)}",
                hint="compare on exports with the same sources as the training data",
            )
        frames.append(features.X[needed])
        reused = in_sample_files(model, features, folder, labels)
        if reused:
            in_sample[model.model_id] = reused
    _refuse_same_model(champion, challenger)  # (after the data is found fit for them)
    flags = _flags(champion, features, labels, sources, encoding)
    if flags is None:
        raise UsageError(
            "--labels is required: the outcomes (customer_id,bad) to compare the models on",
            hint="e.g. --labels labels.csv",
        )
    common = frames[0].index.intersection(frames[1].index).intersection(flags.index)
    if len(common) == 0:
        raise DataError(
            "no labelled customer: none of the label ids is among the data's customers",
            file=str(labels),
            hint="check that the labels belong to this export",
        )
    y = flags.reindex(common).to_numpy(dtype=np.int8)
    pd_champion = champion.model.predict_pd(frames[0].loc[common])
    pd_challenger = challenger.model.predict_pd(frames[1].loc[common])
    warnings = []
    if in_sample:
        files = [name for names in in_sample.values() for name in names]
        warnings.append(in_sample_note(files, list(in_sample)))
    too_few = too_few_note(drift_config, y, "the AUCs and their difference are")
    if too_few:
        warnings.append(too_few)
    warning = "; ".join(warnings) or None
    shown = [champion.model_id, challenger.model_id]
    if shown[0] == shown[1]:  # two registries' retail@1: told apart by their folders
        shown = [f"{model.model_id} ({model.ref.path})" for model in (champion, challenger)]
    compared = compare_predictions(
        y,
        pd_champion,
        pd_challenger,
        config=settings,
        champion_id=shown[0],
        challenger_id=shown[1],
        as_of=as_of_text,
    )
    return replace(compared, warning=warning, trust=(champion.trust, challenger.trust))


def _refuse_same_model(champion: LoadedModel, challenger: LoadedModel) -> None:
    """Refuse a comparison of a model with itself (``NAME`` resolves to the latest
    version, so ``retail retail@2`` may name one model twice): it always says "keep"."""
    digests = [model.card.get("artifact", {}).get("sha256") for model in (champion, challenger)]
    if digests[0] is None or digests[0] != digests[1]:
        return
    same = (
        champion.model_id
        if champion.model_id == challenger.model_id
        else f"{champion.model_id} and {challenger.model_id}"
    )
    where = (
        str(champion.ref.path)
        if champion.ref.path == challenger.ref.path
        else f"{champion.ref.path} and {challenger.ref.path} hold the same {MODEL_FILE}"
    )
    raise UsageError(
        f"the champion and the challenger are the same model ({same}: {where}); "
        "comparing a model with itself always says keep",
        hint="name two different versions as NAME@VERSION (a bare NAME is its latest "
        "version); custrisk models list shows them",
    )


__all__ = ["check_data_drift", "compare_models", "drift_outcomes", "read_labels"]
