"""The shape of a model card's sections that commands read without further checks.

An unsigned card is checked against nothing but itself: one edited by hand (a metric
made text, a section emptied to ``null``) would otherwise pass ``models verify`` and
then crash ``models list``, ``models show``, ``evaluate`` or ``drift`` with an internal
error. The check is only of types: what a section holds is the command's business.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from custrisk.errors import ModelArtifactError

#: Sections that are tables (JSON objects) when present
_TABLES = ("metrics", "training", "reference", "feature_labels")
#: Sections that are lists of feature codes when present
_CODES = ("features", "candidate_features")
#: Figures of the hold-out and training metrics, and of the training section
_FIGURES = ("n", "n_bad", "bad_rate", "auc", "ks", "gini", "brier")
_TRAINING_FIGURES = ("rows", "bads", "bad_rate")


def check_card_sections(card: Mapping[str, Any], card_path: Path) -> None:
    """Raise :class:`ModelArtifactError` naming the first section of ``card`` whose type
    is not the one custrisk writes."""
    problem = card_problem(card)
    if problem is not None:
        raise ModelArtifactError(
            f"{card_path}: the card's {problem}; the card was edited or damaged",
            hint="restore the model folder from a backup or retrain the model; a signed "
            "model (CUSTRISK_SIGNING_KEY) is refused as soon as its card is edited",
        )


def card_problem(card: Mapping[str, Any]) -> str | None:
    """The first section of ``card`` of the wrong type, said (``metrics is null, not a
    table``), or ``None``: a display that reads those sections must not show such a
    card."""
    for key in _TABLES:
        if key in card and not isinstance(card[key], Mapping):
            return f"{key} is {_kind(card[key])}, not a table"
    for key in _CODES:
        value = card.get(key, [])
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            return f"{key} is {_kind(value)}, not a list of feature codes"
    metrics = card.get("metrics") or {}
    for part in ("holdout", "train"):
        if metrics.get(part) is None:
            continue
        if not isinstance(metrics[part], Mapping):
            return f"metrics.{part} is {_kind(metrics[part])}, not a table"
        if found := _not_a_number(metrics[part], _FIGURES, f"metrics.{part}"):
            return found
    return _not_a_number(card.get("training") or {}, _TRAINING_FIGURES, "training")


def _not_a_number(section: Mapping[str, Any], keys: tuple[str, ...], where: str) -> str | None:
    for key in keys:
        value = section.get(key)
        if value is None:
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            return f"{where}.{key} is {value!r}, not a number"
    return None


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
