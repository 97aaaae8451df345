"""Monitoring statistics: reference distributions stored at training, PSI/CSI and
performance decay against them, and champion/challenger comparisons.

Everything here works on arrays, frames and fitted models; loading exports for a check
is done above, in :mod:`custrisk.scoring` (``check_data_drift``, ``compare_models``).
"""

from custrisk.monitoring.compare import (
    Comparison,
    compare_predictions,
    paired_bootstrap_auc,
)
from custrisk.monitoring.config import (
    CompareConfig,
    DriftConfig,
    Thresholds,
    load_drift_config,
    with_options,
)
from custrisk.monitoring.drift import DriftCounts, check_drift, count_drift, drift_report
from custrisk.monitoring.psi import psi
from custrisk.monitoring.reference import (
    Reference,
    build_reference,
    reference_from_dict,
)
from custrisk.monitoring.report import DriftReport, Statistic

__all__ = [
    "CompareConfig",
    "Comparison",
    "DriftConfig",
    "DriftCounts",
    "DriftReport",
    "Reference",
    "Statistic",
    "Thresholds",
    "build_reference",
    "check_drift",
    "compare_predictions",
    "count_drift",
    "drift_report",
    "load_drift_config",
    "paired_bootstrap_auc",
    "psi",
    "reference_from_dict",
    "with_options",
]
