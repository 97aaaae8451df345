"""Monitoring: reference distributions stored at training, compared by drift checks."""

from custrisk.monitoring.compare import (
    CompareConfig,
    Comparison,
    compare_models,
    compare_predictions,
    paired_bootstrap_auc,
)
from custrisk.monitoring.drift import (
    DriftConfig,
    DriftReport,
    Statistic,
    Thresholds,
    check_data_drift,
    check_drift,
    load_drift_config,
    psi,
    read_labels,
)
from custrisk.monitoring.reference import (
    Reference,
    build_reference,
    reference_from_dict,
)

__all__ = [
    "CompareConfig",
    "Comparison",
    "DriftConfig",
    "DriftReport",
    "Reference",
    "Statistic",
    "Thresholds",
    "build_reference",
    "check_data_drift",
    "check_drift",
    "compare_models",
    "compare_predictions",
    "load_drift_config",
    "paired_bootstrap_auc",
    "psi",
    "read_labels",
    "reference_from_dict",
]
