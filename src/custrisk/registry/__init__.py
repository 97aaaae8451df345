"""The model registry: versioned artifacts on disk, verified before they are loaded."""

from custrisk.registry.artifact import (
    MODEL_CARD,
    MODEL_FILE,
    REQUIRE_SIGNED_ENV,
    SIGNING_KEY_ENV,
    LoadedModel,
    ModelCheck,
    check_model,
    checked_models,
    load_model,
    save_model,
    verify_model,
)
from custrisk.registry.store import (
    ModelRef,
    NameLock,
    list_models,
    lock_model_name,
    resolve_model,
)

__all__ = [
    "MODEL_CARD",
    "MODEL_FILE",
    "REQUIRE_SIGNED_ENV",
    "SIGNING_KEY_ENV",
    "LoadedModel",
    "ModelCheck",
    "ModelRef",
    "NameLock",
    "check_model",
    "checked_models",
    "list_models",
    "load_model",
    "lock_model_name",
    "resolve_model",
    "save_model",
    "verify_model",
]
