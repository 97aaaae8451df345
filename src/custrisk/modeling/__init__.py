"""Training, evaluating and applying models, from exports to a scores table."""

from custrisk.modeling.config import ALGORITHMS, ModelConfig, load_model_config
from custrisk.modeling.monitor import check_data_drift, compare_models, read_labels
from custrisk.modeling.pipeline import (
    Features,
    ScoreResult,
    TrainResult,
    evaluate_model,
    open_model,
    prepare_features,
    prepare_model_features,
    score_customer,
    score_data,
    score_features,
    train_model,
)
from custrisk.modeling.portfolio import score_portfolio

__all__ = [
    "ALGORITHMS",
    "Features",
    "ModelConfig",
    "ScoreResult",
    "TrainResult",
    "check_data_drift",
    "compare_models",
    "evaluate_model",
    "load_model_config",
    "open_model",
    "prepare_features",
    "prepare_model_features",
    "read_labels",
    "score_customer",
    "score_data",
    "score_features",
    "train_model",
    "score_portfolio",
]
