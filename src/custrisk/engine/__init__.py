"""Engines that compute a month's results past one process: the Dask engine scores the
customers of a workspace in buckets on a Dask distributed cluster, with results equal to
the pandas engine's (see docs/scale.md).

>>> from custrisk.engine import score_portfolio_dask
>>> run = score_portfolio_dask("exports/2026-10", "retail", buckets=8)  # doctest: +SKIP
"""

from __future__ import annotations

from custrisk.engine.bucket_tasks import bucket_of
from custrisk.engine.cluster import (
    ENGINES,
    check_engine_options,
    dask_client,
    memory_limit_bytes,
)
from custrisk.engine.dask_engine import (
    dask_scorer,
    prepare_features_dask,
    score_portfolio_dask,
    split_workspace,
)
from custrisk.engine.drift import check_data_drift_dask, drift_counts_dask
from custrisk.engine.partitions import (
    BucketedWorkspace,
    load_workspace_dask,
    validate_dask,
)

__all__ = [
    "ENGINES",
    "BucketedWorkspace",
    "bucket_of",
    "check_data_drift_dask",
    "check_engine_options",
    "dask_client",
    "dask_scorer",
    "drift_counts_dask",
    "load_workspace_dask",
    "memory_limit_bytes",
    "prepare_features_dask",
    "score_portfolio_dask",
    "split_workspace",
    "validate_dask",
]
