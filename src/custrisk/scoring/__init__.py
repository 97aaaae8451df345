"""The orchestration: from exports to a trained model, a scored month, a drift check.

* :mod:`~custrisk.scoring.features` -- configs, cleaned exports and a model's features;
* :mod:`~custrisk.scoring.train` and :mod:`~custrisk.scoring.evaluate` -- models;
* :mod:`~custrisk.scoring.score` -- PD, score, reasons and details for a feature table;
* :mod:`~custrisk.scoring.portfolio` -- a month's scoring with policy and alerts
  (:func:`score_portfolio`, written by :mod:`custrisk.results`);
* :mod:`~custrisk.scoring.monitor` -- drift checks and champion/challenger over exports.
"""

from custrisk.scoring.config import ALGORITHMS, ModelConfig, load_model_config
from custrisk.scoring.evaluate import evaluate_model
from custrisk.scoring.features import (
    Features,
    load_configs,
    model_indicator_config,
    open_model,
    prepare_features,
    prepare_model_features,
)
from custrisk.scoring.monitor import check_data_drift, compare_models, read_labels
from custrisk.scoring.portfolio import score_portfolio
from custrisk.scoring.score import ScoreResult, score_customer, score_data, score_features
from custrisk.scoring.train import TrainResult, train_model, train_table

__all__ = [
    "ALGORITHMS",
    "Features",
    "ModelConfig",
    "ScoreResult",
    "TrainResult",
    "check_data_drift",
    "compare_models",
    "evaluate_model",
    "load_configs",
    "load_model_config",
    "model_indicator_config",
    "open_model",
    "prepare_features",
    "prepare_model_features",
    "read_labels",
    "score_customer",
    "score_data",
    "score_features",
    "train_model",
    "train_table",
    "score_portfolio",
]
