"""The model config (configs/model.yaml), validated into a frozen object."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custrisk.config._yaml import Node, open_config

ALGORITHMS = ("logistic", "tree")
INTERCEPT_POINTS = ("distribute", "base")
CV_METRICS = ("log_loss", "auc")
STEPWISE = ("backward", "forward", "none")
LOGISTIC_CALIBRATION = ("auto", "platt", "none")
TREE_CALIBRATION = ("auto", "platt", "isotonic", "none")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that decides how a model is trained."""

    path: str
    text_sha256: str
    algorithm: str = "logistic"
    seed: int = 42
    include: tuple[str, ...] | None = None  # None: all output indicators
    exclude: tuple[str, ...] = ()
    force_in: tuple[str, ...] = ()
    force_out: tuple[str, ...] = ()
    binning: dict[str, Any] = field(default_factory=dict)
    selection: dict[str, Any] = field(default_factory=dict)
    logistic: dict[str, Any] = field(default_factory=dict)
    tree: dict[str, Any] = field(default_factory=dict)
    scaling: Any = "default"
    test_size: float = 0.3
    cv_folds: int = 5
    refit_on_all: bool = True
    oot_date_column: str | None = None
    oot_cutoff: dt.date | None = None
    top_reasons: int = 3
    reference_bins: int = 10


def load_model_config(path: str | os.PathLike[str] | None = None) -> ModelConfig:
    """Load and validate a model YAML (``None``: the packaged default)."""
    root = open_config(
        path,
        "model.yaml",
        allowed=(
            "version",
            "algorithm",
            "seed",
            "features",
            "binning",
            "selection",
            "logistic",
            "tree",
            "scaling",
            "validation",
            "reasons",
            "reference",
        ),
    )
    path = Path(root.file)
    features = root.child("features")
    features.check_keys(("include", "exclude", "force_in", "force_out"))
    include_raw = features.get("include", "all")
    include = None if include_raw == "all" else features.text_list("include")
    binning = root.child("binning")
    binning.check_keys(
        (
            "max_bins",
            "min_bin_share",
            "min_bin_goods",
            "min_bin_bads",
            "n_prebins",
            "chi2_pvalue",
            "min_iv_gain",
            "trend_pvalue",
            "woe_prior",
            "smoothing",
            "monotonic",
            "min_category_share",
            "special_values",
        )
    )
    selection = root.child("selection")
    selection.check_keys(("min_iv", "max_corr", "max_vif", "stepwise", "min_auc_gain"))
    logistic = root.child("logistic")
    logistic.check_keys(
        ("C", "cv", "max_iter", "drop_wrong_sign", "calibration", "intercept_points")
    )
    tree = root.child("tree")
    tree.check_keys(
        ("max_depth", "min_samples_leaf", "min_leaves", "cv", "cv_metric", "calibration")
    )
    validation = root.child("validation")
    validation.check_keys(
        ("test_size", "cv_folds", "refit_on_all", "oot_date_column", "oot_cutoff")
    )
    test_size = validation.number("test_size", 0.3)
    if not 0 < test_size < 1:
        raise validation.error("test_size", f"must be between 0 and 1, got {test_size}")
    cutoff = validation.get("oot_cutoff")
    if cutoff is not None:
        try:
            cutoff = dt.date.fromisoformat(str(cutoff))
        except ValueError:
            raise validation.error(
                "oot_cutoff", f"{cutoff!r} is not a date", hint="write it as YYYY-MM-DD"
            ) from None
    reasons = root.child("reasons")
    reasons.check_keys(("top",))
    reference = root.child("reference")
    reference.check_keys(("bins",))
    tree_params = {
        "max_depth": tree.number("max_depth", 6, minimum=1, integer=True),
        "min_samples_leaf": tree.number("min_samples_leaf", 0.01, minimum=0),
        "min_leaves": tree.number("min_leaves", 4, minimum=1, integer=True),
        "cv": tree.number("cv", 5, minimum=2, integer=True),
        # "auc" in the config is the tree's "roc_auc"
        "cv_metric": {"auc": "roc_auc"}.get(
            tree.text("cv_metric", "log_loss", allowed=CV_METRICS), "log_loss"
        ),
        "calibration": tree.text("calibration", "auto", allowed=TREE_CALIBRATION),
    }
    C = logistic.get("C", "cv")
    if C != "cv":
        C = logistic.number("C", minimum=0)
        if C is None or C <= 0:
            raise logistic.error("C", f"must be cv or a number above 0, got {C}")
    return ModelConfig(
        path=str(path),
        text_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        algorithm=root.text("algorithm", "logistic", allowed=ALGORITHMS),
        seed=root.number("seed", 42, minimum=0, integer=True),
        include=include,
        exclude=features.text_list("exclude", [], allow_empty=True) or (),
        force_in=features.text_list("force_in", [], allow_empty=True) or (),
        force_out=features.text_list("force_out", [], allow_empty=True) or (),
        binning={
            "max_bins": binning.number("max_bins", 10, minimum=2, integer=True),
            "min_bin_share": binning.number("min_bin_share", 0.02, minimum=0),
            "min_bin_goods": binning.number("min_bin_goods", 1, minimum=0, integer=True),
            "min_bin_bads": binning.number("min_bin_bads", 1, minimum=0, integer=True),
            "n_prebins": binning.number("n_prebins", 20, minimum=2, integer=True),
            "chi2_pvalue": binning.number("chi2_pvalue", None, minimum=0),
            "min_iv_gain": binning.number("min_iv_gain", 0.0, minimum=0),
            "trend_pvalue": binning.number("trend_pvalue", 0.01, minimum=0),
            "woe_prior": binning.number("woe_prior", 20.0, minimum=0),
            "smoothing": binning.number("smoothing", 0.5, minimum=0),
            "monotonic": binning.flag("monotonic", True),
            "min_category_share": binning.number("min_category_share", 0.01, minimum=0),
            "special_values": _special_values(binning),
        },
        selection={
            "min_iv": selection.number("min_iv", 0.01, minimum=0),
            "max_corr": selection.number("max_corr", 0.8, minimum=0),
            "max_vif": selection.number("max_vif", 10.0, minimum=1),
            "stepwise": selection.text("stepwise", "backward", allowed=STEPWISE),
            "min_auc_gain": selection.number("min_auc_gain", -0.002, minimum=-1),
        },
        logistic={
            "C": C,
            "cv": logistic.number("cv", 5, minimum=2, integer=True),
            "max_iter": logistic.number("max_iter", 100, minimum=1, integer=True),
            "drop_wrong_sign": logistic.flag("drop_wrong_sign", True),
            "calibration": logistic.text("calibration", "auto", allowed=LOGISTIC_CALIBRATION),
            "intercept_points": logistic.text(
                "intercept_points", "distribute", allowed=INTERCEPT_POINTS
            ),
        },
        tree=tree_params,
        scaling=root.get("scaling", "default"),
        test_size=float(test_size),
        cv_folds=validation.number("cv_folds", 5, minimum=0, integer=True),
        refit_on_all=validation.flag("refit_on_all", True),
        oot_date_column=validation.text("oot_date_column"),
        oot_cutoff=cutoff,
        top_reasons=reasons.number("top", 3, minimum=1, integer=True),
        reference_bins=reference.number("bins", 10, minimum=2, integer=True),
    )


def _special_values(binning: Node) -> Any:
    """``special_values``: a list of numbers for every indicator, or a mapping per code."""
    raw = binning.get("special_values")
    if raw is None or raw == []:
        return None
    hint = "write a list of numbers, e.g. [-999, -1], or {indicator_code: [numbers]}"

    def numbers(value: Any, where: str) -> tuple[float, ...]:
        if not isinstance(value, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        ):
            raise binning.error(where, f"expected a list of numbers, got {value!r}", hint=hint)
        return tuple(float(v) for v in value)

    if isinstance(raw, dict):
        return {
            str(code): numbers(values, f"special_values.{code}") for code, values in raw.items()
        }
    return numbers(raw, "special_values")
