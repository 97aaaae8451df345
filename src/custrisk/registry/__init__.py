"""The model registry: versioned artifacts on disk, verified before they are loaded."""

from custrisk.registry.artifact import (
    MODEL_CARD,
    MODEL_FILE,
    SIGNING_KEY_ENV,
    LoadedModel,
    load_model,
    save_model,
)
from custrisk.registry.store import ModelRef, list_models, resolve_model

__all__ = [
    "MODEL_CARD",
    "MODEL_FILE",
    "SIGNING_KEY_ENV",
    "LoadedModel",
    "ModelRef",
    "list_models",
    "load_model",
    "resolve_model",
    "save_model",
]
