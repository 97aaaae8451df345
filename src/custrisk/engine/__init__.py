"""Engines that compute a month's results past one process: the Dask engine scores the
customers of a workspace in buckets on a Dask distributed cluster, with results equal to
the pandas engine's (see docs/scale.md). :mod:`custrisk.engine.choice` runs a command's
work on the engine asked for (``engine="pandas"`` or ``"dask"``).

The names below are imported when first used, so that a pandas command that only checks
its engine options (``custrisk.engine.cluster``) does not pay for the Dask engine's
modules.

>>> from custrisk.engine import score_portfolio_dask
>>> run = score_portfolio_dask("exports/2026-10", "retail", buckets=8)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from custrisk.lazy import lazy_names

if TYPE_CHECKING:
    from custrisk.engine.bucket_tasks import bucket_of
    from custrisk.engine.choice import (
        check_data_drift_on,
        prepare_features_on,
        score_portfolio_on,
        validate_on,
    )
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

_WHERE = {
    "bucket_of": "bucket_tasks",
    "check_data_drift_on": "choice",
    "prepare_features_on": "choice",
    "score_portfolio_on": "choice",
    "validate_on": "choice",
    "ENGINES": "cluster",
    "check_engine_options": "cluster",
    "dask_client": "cluster",
    "memory_limit_bytes": "cluster",
    "dask_scorer": "dask_engine",
    "prepare_features_dask": "dask_engine",
    "score_portfolio_dask": "dask_engine",
    "split_workspace": "dask_engine",
    "check_data_drift_dask": "drift",
    "drift_counts_dask": "drift",
    "BucketedWorkspace": "partitions",
    "load_workspace_dask": "partitions",
    "validate_dask": "partitions",
}

__all__ = [
    "ENGINES",
    "BucketedWorkspace",
    "bucket_of",
    "check_data_drift_dask",
    "check_data_drift_on",
    "check_engine_options",
    "dask_client",
    "dask_scorer",
    "drift_counts_dask",
    "load_workspace_dask",
    "memory_limit_bytes",
    "prepare_features_dask",
    "prepare_features_on",
    "score_portfolio_dask",
    "score_portfolio_on",
    "split_workspace",
    "validate_dask",
    "validate_on",
]


__getattr__, __dir__ = lazy_names(__name__, {n: f"{__name__}.{m}" for n, m in _WHERE.items()})
