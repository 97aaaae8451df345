"""A trained model's metrics on new labelled exports, next to its training metrics."""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

from custrisk.config.sources import SourcesConfig
from custrisk.io.plain import jsonable, path_argument
from custrisk.monitoring import DriftConfig, load_drift_config
from custrisk.registry import (
    LoadedModel,
)
from custrisk.scoring.features import (
    as_loaded_model,
    in_sample_files,
    in_sample_note,
    labelled_features,
    model_labels,
    model_sources,
    prepare_model_features,
    too_few_note,
)

log = logging.getLogger(__name__)

#: The format of :func:`evaluate_model`'s result (``custrisk evaluate --format json``)
FORMAT = "custrisk.evaluate/1"


def evaluate_model(
    model: LoadedModel | str,
    data_dir: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None = None,
    *,
    sources_config: SourcesConfig | str | os.PathLike[str] | None = None,
    encoding: str | None = None,
    as_of: dt.date | str | None = None,
    models_dir: str | os.PathLike[str] | None = None,
    require_signed: bool | None = None,
    allow_unverified: bool = False,
    config: DriftConfig | str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Metrics of a trained model on new labelled data, next to its training metrics.

    ``model`` is a loaded model, or a model folder, NAME or NAME@VERSION (verified before
    it is loaded). ``labels`` may be left out for a model trained on a flat table: the
    table's own target column gives the outcomes. ``config`` (a drift config or its
    YAML; default: the packaged drift.yaml) gives ``minimum.bads``: with fewer bads or
    goods, ``too_few`` says the metrics are too uncertain to act on."""
    if labels is not None:
        labels = path_argument(labels, "labels", hint="pass the labels file (customer_id, bad)")
    minimum = config if isinstance(config, DriftConfig) else load_drift_config(config)
    from custrisk.estimators import evaluate

    model = as_loaded_model(
        model, models_dir, require_signed=require_signed, allow_unverified=allow_unverified
    )

    folder, sources = model_sources(model, data_dir, sources_config)
    features = prepare_model_features(
        model, folder, sources_config=sources, encoding=encoding, as_of=as_of
    )
    X, y, _dates, counts = labelled_features(
        features, model_labels(model, features, labels), sources, outcomes_after_as_of=True
    )
    reused = in_sample_files(model, features, folder, labels)
    in_sample = in_sample_note(reused, [model.model_id]) if reused else None
    result = evaluate(model.model, X[list(model.card["candidate_features"])], y)
    return {
        "format": FORMAT,
        "model_id": model.model_id,
        "model_trust": model.trust,
        "as_of": features.as_of.isoformat(),
        **counts,
        "metrics": jsonable(result.to_dict()),
        "training_metrics": model.card.get("metrics", {}).get("holdout"),
        "in_sample": in_sample,
        "too_few": too_few_note(minimum, y, "the metrics are"),
    }
