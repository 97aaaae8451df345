"""A command's work on the engine asked for: ``engine="pandas"`` (one process) or
``"dask"`` (the customers in buckets on a Dask cluster: the scheduler at ``scheduler``,
else a local cluster started and stopped around the call, ``memory_limit`` each worker).
Both give the same results (docs/scale.md).

The engine options are checked first (:func:`custrisk.engine.cluster.check_engine_options`);
the Dask engine's modules are imported only when ``engine="dask"``, so that the pandas
engine's commands do not pay for them.

>>> from custrisk.engine.choice import score_portfolio_on
>>> run = score_portfolio_on("exports/2026-10", "retail", engine="dask")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from custrisk.data import load_workspace
from custrisk.engine.cluster import check_engine_options, dask_client
from custrisk.scoring import check_data_drift, prepare_features, score_portfolio

if TYPE_CHECKING:
    from custrisk.config.sources import SourcesConfig
    from custrisk.data import Workspace
    from custrisk.monitoring import DriftReport
    from custrisk.registry import LoadedModel
    from custrisk.results import ScoringRun
    from custrisk.scoring import Features

PathLike = str | os.PathLike[str]


def score_portfolio_on(
    exports: PathLike,
    model: LoadedModel | str,
    *,
    engine: str = "pandas",
    scheduler: str | None = None,
    buckets: int | None = None,
    memory_limit: str | None = None,
    out: PathLike | None = None,
    parts: bool | None = None,
    **options: Any,
) -> ScoringRun:
    """:func:`custrisk.scoring.score_portfolio` on ``engine``; ``options`` are its own.

    With ``engine="dask"``, ``out`` (the scores file ``run.write`` will be given) and
    ``parts`` are :func:`custrisk.engine.score_portfolio_dask`'s: the run in parts beside
    ``out`` when ``parts`` is true, or ``None`` and the customers are many."""
    check_engine_options(engine, scheduler, buckets, memory_limit, parts)
    if engine == "pandas":
        return score_portfolio(exports, model, **options)
    from custrisk.engine.dask_engine import score_portfolio_dask

    return score_portfolio_dask(
        exports,
        model,
        scheduler=scheduler,
        buckets=buckets,
        memory_limit=memory_limit,
        out=out,
        parts=parts,
        **options,
    )


def check_data_drift_on(
    model: LoadedModel | str,
    data_dir: PathLike,
    *,
    engine: str = "pandas",
    scheduler: str | None = None,
    buckets: int | None = None,
    memory_limit: str | None = None,
    **options: Any,
) -> DriftReport:
    """:func:`custrisk.scoring.check_data_drift` on ``engine`` (the Dask engine adds up
    each bucket's bin counts: the same report); ``options`` are its own."""
    check_engine_options(engine, scheduler, buckets, memory_limit)
    if engine == "pandas":
        return check_data_drift(model, data_dir, **options)
    from custrisk.engine.drift import check_data_drift_dask

    return check_data_drift_dask(
        model,
        data_dir,
        scheduler=scheduler,
        buckets=buckets,
        memory_limit=memory_limit,
        **options,
    )


def prepare_features_on(
    data_dir: PathLike,
    *,
    engine: str = "pandas",
    scheduler: str | None = None,
    buckets: int | None = None,
    memory_limit: str | None = None,
    **options: Any,
) -> Features:
    """:func:`custrisk.scoring.prepare_features` on ``engine`` (the indicators computed
    in buckets on the cluster: the same :class:`~custrisk.scoring.Features`); ``options``
    are its own (``indicator_config``, ``sources_config``, ``encoding``, ``as_of``)."""
    check_engine_options(engine, scheduler, buckets, memory_limit)
    if engine == "pandas":
        return prepare_features(data_dir, **options)
    from custrisk.engine.dask_engine import prepare_features_dask

    with dask_client(scheduler, memory_limit=memory_limit) as client:
        return prepare_features_dask(data_dir, client, buckets=buckets, **options)


def validate_on(
    data_dir: PathLike,
    *,
    engine: str = "pandas",
    scheduler: str | None = None,
    buckets: int | None = None,
    memory_limit: str | None = None,
    config: SourcesConfig | PathLike | None = None,
    encoding: str | None = None,
) -> Workspace:
    """The workspace ``custrisk validate`` reports on, its report and rejects:
    :func:`custrisk.data.load_workspace` on ``engine="pandas"``; on ``"dask"`` each file
    a partition, cleaned in buckets on the cluster (:func:`custrisk.engine.validate_dask`:
    the same report and rejects, no frames). ``config`` is the sources config."""
    check_engine_options(engine, scheduler, buckets, memory_limit)
    if engine == "pandas":
        return load_workspace(data_dir, config=config, encoding=encoding)
    from custrisk.engine.partitions import validate_dask

    return validate_dask(
        data_dir,
        scheduler=scheduler,
        buckets=buckets,
        memory_limit=memory_limit,
        config=config,
        encoding=encoding,
    )


__all__ = ["check_data_drift_on", "prepare_features_on", "score_portfolio_on", "validate_on"]
