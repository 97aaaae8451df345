"""The Dask engine of ``custrisk score``: the customers of a month in buckets, each
bucket's indicators, scores and details computed on a Dask distributed worker.

Identical results by construction:

- The exports are read and cleaned in one pass, as by the pandas engine
  (:func:`custrisk.data.load_workspace`): every rule across rows (duplicates, orphans,
  id collisions, the latest credible date of a column) sees the whole source, so the
  kept rows and the rejects are the pandas engine's, with their files and lines.
- The as-of date is fixed once over the whole workspace
  (:func:`custrisk.indicators.resolve_as_of`) and handed to every bucket.
- Customers go to a bucket by a stable hash of their cleaned (normalised) id; every row
  of a customer (credit, transactions, behaviour) lands in the bucket of its customer,
  in its original order. Indicators are per customer, so a bucket computes exactly the
  values the whole run computes for its customers.
- The fitted model is sent to the cluster once (:func:`custrisk.engine.cluster.shared`).
- Bucket results are put back in the credit table's order; grades, limits, alerts,
  migration and the follow-up plan are then applied by
  :func:`custrisk.scoring.score_portfolio` to the whole table, as by the pandas engine.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from custrisk.config.sources import CUSTOMER_SOURCE, SourcesConfig, load_sources_config
from custrisk.data import Workspace, load_workspace
from custrisk.data.issues import ISSUE_COLUMNS
from custrisk.data.validation import ValidationReport, require_usable
from custrisk.engine.bucket_tasks import Cleaned, bucket_of
from custrisk.engine.cluster import ENGINES, GATHER_CHUNK, dask_client, shared
from custrisk.engine.partitions import BucketedWorkspace, load_workspace_dask
from custrisk.errors import UsageError
from custrisk.indicators import (
    IndicatorConfig,
    IndicatorResult,
    compute_indicators,
    event_day_counts,
    resolve_as_of,
    resolve_as_of_of_counts,
)
from custrisk.indicators.as_of import DayCounts
from custrisk.io.atomic import output_format
from custrisk.protect.envelope import SUFFIX
from custrisk.protect.pseudonym import active_pseudonymiser
from custrisk.registry import LoadedModel
from custrisk.results import DetailsParts, ScoringRun, concat_parts
from custrisk.review.followups import preferred_channels
from custrisk.scoring import score_portfolio
from custrisk.scoring.features import (
    Features,
    blank_features,
    check_features_given,
    load_configs,
    model_indicator_config,
    refuse_blank_features,
    table_names,
)
from custrisk.scoring.score import ScoreResult, score_prepared, with_query_facts
from custrisk.scoring.unseen import merged_unseen

if TYPE_CHECKING:
    from distributed import Client

    from custrisk.scoring.portfolio import InParts

log = logging.getLogger(__name__)

#: The column that holds the customer id in every source that has one.
CUSTOMER_ID = "customer_id"
#: The source whose events give the follow-up plan its preferred channels.
BEHAVIOUR_SOURCE = "behaviour"

PathLike = str | os.PathLike[str]


def split_workspace(workspace: Workspace, buckets: int) -> tuple[list[Workspace], list[np.ndarray]]:
    """The workspace in ``buckets`` parts by customer, and for each part the positions of
    its customers in the credit table (to put results back in order).

    Each part holds the same report, config and missing columns as the whole (no rejects:
    they stay with the whole workspace), and the rows of its customers in every source, in
    their original order.
    """
    credit = workspace.frames[CUSTOMER_SOURCE]
    of_credit = bucket_of(credit[CUSTOMER_ID], buckets)
    of_source = {
        name: bucket_of(frame[CUSTOMER_ID], buckets)
        for name, frame in workspace.frames.items()
        if name != CUSTOMER_SOURCE and CUSTOMER_ID in frame.columns
    }
    empty = pd.DataFrame({c: pd.Series(dtype="object") for c in ISSUE_COLUMNS})
    parts: list[Workspace] = []
    positions: list[np.ndarray] = []
    for bucket in range(buckets):
        rows = np.flatnonzero(of_credit == bucket)
        frames = {}
        for name, frame in workspace.frames.items():
            if name == CUSTOMER_SOURCE:
                frames[name] = frame.iloc[rows].reset_index(drop=True)
            elif name in of_source:
                frames[name] = frame.iloc[np.flatnonzero(of_source[name] == bucket)].reset_index(
                    drop=True
                )
            else:  # a source without customers: every bucket sees it whole
                frames[name] = frame
        parts.append(replace(workspace, frames=frames, rejects=empty))
        positions.append(rows)
    return parts, positions


class _Scored(NamedTuple):
    """One bucket's scoring, from its worker to the client."""

    #: Its customers' scores and details (the details hold every indicator, so the
    #: indicators themselves do not go to the client).
    frame: pd.DataFrame
    details: pd.DataFrame
    run: dict[str, Any]
    #: The indicators that could not be computed, with why (the same in every bucket)
    unavailable: dict[str, str]
    #: The model's features blank for every customer of the bucket
    #: (:func:`custrisk.scoring.features.blank_features`)
    blank: list[str]
    #: Read on the workers: where each customer's credit row came from (partition, row)
    origin: np.ndarray | None = None
    #: Read on the workers: the customers' preferred channels (from the bucket's events)
    channels: pd.Series | None = None


def _score_bucket(
    model: LoadedModel,
    config: IndicatorConfig,
    part: Workspace,
    as_of: dt.date,
    lang: str,
) -> _Scored:
    """One bucket on a worker: the scores and details of its customers."""
    result = compute_indicators(part.present_frames(), config, as_of=as_of)
    X = result.frame.set_index(CUSTOMER_ID)
    blank = blank_features(model, X)
    features = Features(part, config, X, result.as_of, dict(result.unavailable), result)
    scored = score_prepared(model, features, lang=lang)
    return _Scored(scored.frame, scored.details, scored.run, dict(result.unavailable), blank)


def _blank_in_every_bucket(done: Sequence[_Scored]) -> list[str]:
    """The model's features blank in every bucket: blank for every customer."""
    return [code for code in done[0].blank if all(code in d.blank for d in done[1:])]


def _in_order(frames: list[pd.DataFrame], positions: list[np.ndarray]) -> pd.DataFrame:
    """The bucket tables as one, in the credit table's order. ``frames`` is emptied:
    each bucket's table is let go once it is in the whole (the client holds every
    customer's results; two copies of them at once, not three)."""
    order = np.argsort(np.concatenate(positions), kind="stable")
    return concat_parts(frames).iloc[order].reset_index(drop=True)


def _bucket_indicators(
    config: IndicatorConfig, part: Workspace, as_of: dt.date
) -> tuple[pd.DataFrame, dict[str, str]]:
    """One bucket on a worker: the indicators of its customers."""
    result = compute_indicators(part.present_frames(), config, as_of=as_of)
    return result.frame, dict(result.unavailable)


def _buckets_of(
    client: Client, buckets: int | None, workspace: Workspace
) -> tuple[list[Workspace], list[np.ndarray]]:
    count = buckets or max(1, 2 * len(client.scheduler_info().get("workers", {})))
    parts, positions = split_workspace(workspace, count)
    # A bucket without customers has nothing to compute (and no rows of other sources:
    # those are every one of some customer's).
    filled = [i for i, rows in enumerate(positions) if len(rows)]
    parts, positions = [parts[i] for i in filled], [positions[i] for i in filled]
    log.info(
        "dask engine: %d customers in %d buckets on %s",
        len(workspace.frames[CUSTOMER_SOURCE]),
        count,
        client.scheduler.address if client.scheduler else "?",
    )
    return parts, positions


# --- read and cleaned on the workers ------------------------------------------------------


@dataclass(frozen=True)
class _Shape:
    """What every bucket's workspace shares (sent to the workers once)."""

    data_dir: Path
    config: SourcesConfig
    report: ValidationReport
    missing_columns: dict[str, tuple[str, ...]]


def _part(shape: _Shape, names: Sequence[str], cleaned: Sequence[Cleaned]) -> Workspace:
    """On a worker: one bucket's cleaned rows as a workspace (no rejects: the client has
    them)."""
    empty = pd.DataFrame({c: pd.Series(dtype="object") for c in ISSUE_COLUMNS})
    frames = {name: done.frame for name, done in zip(names, cleaned, strict=True)}
    return Workspace(
        shape.data_dir, shape.config, frames, shape.report, empty, shape.missing_columns
    )


def _day_counts_in(
    shape: _Shape, config: IndicatorConfig, names: Sequence[str], *cleaned: Cleaned
) -> DayCounts:
    """On a worker: the event days of a bucket's sources, counted (for the as-of date)."""
    return event_day_counts(_part(shape, names, cleaned).present_frames(), config)


def _indicators_in(
    shape: _Shape, config: IndicatorConfig, as_of: dt.date, names: Sequence[str], *cleaned: Cleaned
) -> tuple[pd.DataFrame, dict[str, str], np.ndarray] | None:
    """On a worker: the indicators of a bucket's customers and where each customer's
    credit row came from (to put them in the credit table's order); None when the bucket
    has no customers."""
    part = _part(shape, names, cleaned)
    if not len(part.frames[CUSTOMER_SOURCE]):
        return None
    frame, unavailable = _bucket_indicators(config, part, as_of)
    return frame, unavailable, cleaned[list(names).index(CUSTOMER_SOURCE)].origin


def _scores_in(
    shape: _Shape,
    model: LoadedModel,
    config: IndicatorConfig,
    as_of: dt.date,
    lang: str,
    names: Sequence[str],
    *cleaned: Cleaned,
) -> _Scored | None:
    """On a worker: scores and details of a bucket's customers, where each customer's
    credit row came from, and their preferred channels (for the follow-up plan, from
    the behaviour events the bucket holds); None without customers."""
    part = _part(shape, names, cleaned)
    if not len(part.frames[CUSTOMER_SOURCE]):
        return None
    origin = cleaned[list(names).index(CUSTOMER_SOURCE)].origin
    channels = preferred_channels(part.frames.get(BEHAVIOUR_SOURCE), as_of)
    return _score_bucket(model, config, part, as_of, lang)._replace(
        origin=origin, channels=channels
    )


def _on_each_bucket(
    client: Client,
    bucketed: BucketedWorkspace,
    names: Sequence[str],
    task: Any,
    *args: Any,
    each: Callable[[Any], Any] | None = None,
) -> list[Any]:
    """``task(*args, *the bucket's sources)`` on the worker of each bucket (in ``names``'
    order); the results of the buckets that have customers (a task returns ``None`` for
    an empty bucket), each passed through ``each`` as it arrives. The results are
    fetched :data:`GATHER_CHUNK` buckets at a time, and the workers let each chunk go
    once it is fetched."""
    futures = [
        client.submit(task, *args, *[b[n] for n in names], pure=False) for b in bucketed.frames
    ]
    done: list[Any] = []
    while futures:
        chunk, futures = futures[:GATHER_CHUNK], futures[GATHER_CHUNK:]
        results = client.gather(chunk)
        del chunk
        done += [d if each is None else each(d) for d in results if d is not None]
        del results
    return done


def _positions_of(origins: list[np.ndarray]) -> list[np.ndarray]:
    """Each bucket's customers' positions in the credit table, from the (partition,
    row) their credit rows came from: the pandas engine keeps credit rows in that order."""
    whole = np.concatenate(origins)
    order = np.lexsort((whole[:, 1], whole[:, 0]))
    rank = np.empty(len(whole), dtype=np.int64)
    rank[order] = np.arange(len(whole), dtype=np.int64)
    return np.split(rank, np.cumsum([len(o) for o in origins])[:-1])


def _on_workers(
    data_dir: PathLike,
    client: Client,
    buckets: int | None,
    sources_config: SourcesConfig | PathLike | None,
    encoding: str | None,
) -> tuple[SourcesConfig, BucketedWorkspace, Any, list[str]] | None:
    """The exports read and cleaned on the workers (:func:`load_workspace_dask`), their
    rows left there in buckets by customer; None when they are read on the client as
    before: a command that pseudonymises or masks what it reads (that happens on the
    client, as by the pandas engine), a database query (the workers read files),
    encrypted exports (the key is the client's)."""
    if active_pseudonymiser() is not None or Path(data_dir).is_file():
        return None
    sources = (
        sources_config
        if isinstance(sources_config, SourcesConfig)
        else load_sources_config(sources_config)
    )
    if any(spec.query is not None for spec in sources.sources.values()):
        return None
    if next(Path(data_dir).rglob(f"*{SUFFIX}"), None) is not None:
        return None
    bucketed = load_workspace_dask(
        data_dir, client, config=sources, encoding=encoding, buckets=buckets
    )
    require_usable(bucketed.report, bucketed.config, bucketed.rejects)
    shape = _Shape(bucketed.data_dir, sources, bucketed.report, bucketed.missing_columns)
    names = list(bucketed.frames[0]) if bucketed.frames else []
    log.info(
        "dask engine: %d buckets read and cleaned on %s",
        bucketed.buckets,
        client.scheduler.address if client.scheduler else "?",
    )
    return sources, bucketed, shared(client, shape), names


def _as_of_on_workers(
    client: Client,
    bucketed: BucketedWorkspace,
    shape: Any,
    names: list[str],
    config: IndicatorConfig,
    shared_config: Any,
    as_of: dt.date | str | None,
) -> tuple[dt.date, str]:
    """The as-of date of the whole workspace from the buckets' counted event days (also
    when it is given: they tell whether any event reaches it); a flat table's from its
    name, as the local engine's."""
    counts = client.gather(
        [
            client.submit(
                _day_counts_in, shape, shared_config, names, *[b[n] for n in names], pure=False
            )
            for b in bucketed.frames
        ]
    )
    table = table_names(bucketed.report, bucketed.config)
    return resolve_as_of_of_counts(counts, config, as_of, named=table)


def as_of_here(
    workspace: Workspace, config: IndicatorConfig, as_of: dt.date | str | None
) -> tuple[dt.date, str]:
    """The as-of date of a workspace read on the client, as the local engine's (a flat
    table's from its name)."""
    table = table_names(workspace.report, workspace.config)
    return resolve_as_of(workspace.present_frames(), config, as_of, named=table)


def _workspace(
    data_dir: PathLike,
    sources_config: SourcesConfig | PathLike | None,
    encoding: str | None,
) -> tuple[SourcesConfig, Workspace]:
    sources = (
        sources_config
        if isinstance(sources_config, SourcesConfig)
        else load_sources_config(sources_config)
    )
    workspace = load_workspace(data_dir, config=sources, encoding=encoding)
    require_usable(workspace.report, workspace.config, workspace.rejects)
    return sources, workspace


def prepare_features_dask(
    data_dir: PathLike,
    client: Client,
    *,
    buckets: int | None = None,
    indicator_config: IndicatorConfig | PathLike | None = None,
    sources_config: SourcesConfig | PathLike | None = None,
    encoding: str | None = None,
    as_of: dt.date | str | None = None,
) -> Features:
    """:func:`custrisk.scoring.prepare_features` on the Dask engine: the same
    :class:`Features` (workspace, indicators of every customer in the credit table's
    order, as-of date and its origin, unavailable indicators), the indicators computed in
    ``buckets`` parts on ``client``."""
    on_workers = _on_workers(data_dir, client, buckets, sources_config, encoding)
    if on_workers is not None:
        sources, bucketed, shape, names = on_workers
        _, config = load_configs(indicator_config, sources)
        shared_config = shared(client, config)
        day, origin = _as_of_on_workers(
            client, bucketed, shape, names, config, shared_config, as_of
        )
        done = _on_each_bucket(
            client, bucketed, names, _indicators_in, shape, shared_config, day, names
        )
        positions = _positions_of([d[2] for d in done])
        workspace = bucketed.workspace()
    else:
        sources, workspace = _workspace(data_dir, sources_config, encoding)
        _, config = load_configs(indicator_config, sources)
        day, origin = as_of_here(workspace, config, as_of)
        parts, positions = _buckets_of(client, buckets, workspace)
        shared_config = shared(client, config)
        done = client.gather(
            [
                client.submit(_bucket_indicators, shared_config, part, day, pure=False)
                for part in client.scatter(parts, hash=False)
            ]
        )
    frame = _in_order([d[0] for d in done], positions)
    unavailable = done[0][1]
    if unavailable:
        log.warning(
            "%d indicators could not be computed and are left empty: %s",
            len(unavailable),
            ", ".join(unavailable),
        )
    result = IndicatorResult(frame=frame, as_of=day, as_of_origin=origin, unavailable=unavailable)
    X = frame.set_index(CUSTOMER_ID)
    return Features(workspace, config, X, day, dict(unavailable), result)


#: From this many customers the Dask engine writes a run in parts by default
#: (``parts=None``): the scores, details and follow-ups of every customer (about 1.5 KB
#: each in memory) then never come together in the command's process.
PARTS_FROM = 1_000_000


class _DaskScorer:
    """:func:`custrisk.scoring.score.score_data` on a Dask cluster (see
    :func:`dask_scorer`); ``details_parts`` holds the details it wrote as parts, if
    any. It takes ``in_parts`` (see :func:`custrisk.scoring.score_portfolio`): when it
    writes the run in parts, the scores and the follow-up plan are parts too (unless the
    run goes to a workbook)."""

    takes_parts = True

    def __init__(
        self,
        client: Client,
        buckets: int | None,
        out: PathLike | None,
        parts: bool | None,
    ) -> None:
        self.client = client
        self.buckets = buckets
        self.out = out
        self.parts = parts
        self.details_parts: DetailsParts | None = None

    def _in_parts(self, in_parts: InParts | None) -> InParts | None:
        """``in_parts``, unless the run goes to a workbook: its scores sheet needs them
        all (at most 1,048,575 customers), so only the details are parts then."""
        if in_parts is None or self.out is None:
            return None
        return None if output_format(self.out) == "xlsx" else in_parts

    def _parts_for(self, customers: int) -> DetailsParts | None:
        wanted = self.parts
        if wanted is None:
            wanted = customers >= PARTS_FROM
        if not wanted or self.out is None:
            return None
        self.details_parts = DetailsParts(self.out)
        log.info("dask engine: the run of %d customers written in parts", customers)
        return self.details_parts

    def __call__(
        self,
        data_dir: PathLike,
        model: LoadedModel,
        *,
        sources_config: SourcesConfig | PathLike | None = None,
        encoding: str | None = None,
        as_of: dt.date | str | None = None,
        lang: str = "zh",
        indicator_config: IndicatorConfig | None = None,
        details_columns: Sequence[str] | None = None,
        in_parts: InParts | None = None,
    ) -> ScoreResult:
        client, buckets = self.client, self.buckets
        in_parts = self._in_parts(in_parts)
        on_workers = _on_workers(data_dir, client, buckets, sources_config, encoding)
        shared_model = shared(client, model)
        if on_workers is not None:
            sources, bucketed, shape, names = on_workers
            config = indicator_config or model_indicator_config(model, sources)
            shared_config = shared(client, config)
            day, _origin = _as_of_on_workers(
                client, bucketed, shape, names, config, shared_config, as_of
            )
            parts = self._parts_for(bucketed.report.sources[CUSTOMER_SOURCE].rows_kept)
            done = _on_each_bucket(
                client,
                bucketed,
                names,
                _scores_in,
                shape,
                shared_model,
                shared_config,
                day,
                lang,
                names,
                each=None
                if parts is None
                else _WritePart(parts, details_columns, in_parts, self.out),
            )
            positions = _positions_of([d.origin for d in done])
            channels = pd.concat([d.channels for d in done])
            workspace = bucketed.workspace()  # the report and rejects; rows stay there
        else:
            channels = None  # found from the workspace's behaviour events
            sources, workspace = _workspace(data_dir, sources_config, encoding)
            config = indicator_config or model_indicator_config(model, sources)
            day, _origin = as_of_here(workspace, config, as_of)
            split, positions = _buckets_of(client, buckets, workspace)
            shared_config = shared(client, config)
            futures = [
                client.submit(
                    _score_bucket, shared_model, shared_config, part, day, lang, pure=False
                )
                for part in client.scatter(split, hash=False)
            ]
            done = client.gather(futures)
            parts = self._parts_for(len(workspace.frames[CUSTOMER_SOURCE]))
            if parts is not None:  # each bucket's customers are in the credit table's order
                if in_parts is not None:
                    channels = preferred_channels(workspace.frames.get(BEHAVIOUR_SOURCE), day)
                write = _WritePart(parts, details_columns, in_parts, self.out, channels)
                done = [write(d) for d in done]
        run, unavailable = done[0].run, done[0].unavailable
        check_features_given(model, unavailable, data_dir)
        # (drift reports such a column, as the move it is, rather than refuse it)
        customers = sum(len(rows) for rows in positions)
        refuse_blank_features(model, _blank_in_every_bucket(done), customers, data_dir)
        unseen = merged_unseen([d.run for d in done])
        if unseen:  # (every bucket's, not the first's alone)
            run = dict(run, unseen_categories=unseen)
        frames, details_tables = [d.frame for d in done], [d.details for d in done]
        del done  # the buckets' tables are let go as they are put together
        frame = _in_order(frames, positions)
        # (With the run in parts, the buckets' details were let go once written.)
        in_parts_used = in_parts is not None and in_parts.scores is not None
        details = details_tables[0] if in_parts_used else _in_order(details_tables, positions)
        run = dict(run, customers=len(frame))
        # No indicator columns: they are in the details (ind__...), and the client holds
        # every customer's results once, not twice.
        # (With the run in parts, the frame holds no ids: they are in the parts.)
        ids: Any = frame[CUSTOMER_ID] if CUSTOMER_ID in frame.columns else []
        X = pd.DataFrame(index=pd.Index(ids, name=CUSTOMER_ID))
        features = Features(workspace, config, X, day, unavailable)
        return with_query_facts(
            ScoreResult(frame, details, run, features, model.model_id, channels)
        )


class _WritePart:
    """Each bucket's result as it arrives, its customers put in the credit table's
    order: its details written as a part of the run's, and only the columns the caller
    reads kept (every column without ``columns``: the pandas engine's details). With
    ``in_parts`` (:class:`custrisk.scoring.portfolio.InParts`), the bucket's policy,
    alerts and follow-ups are done here too, its scores and follow-ups written as parts
    beside ``out``, and only its summary columns kept (``channels``: the preferred
    channels of every customer, when the results do not carry their bucket's)."""

    def __init__(
        self,
        parts: DetailsParts,
        columns: Sequence[str] | None,
        in_parts: InParts | None = None,
        out: PathLike | None = None,
        channels: pd.Series | None = None,
    ) -> None:
        self.parts = parts
        self.columns = columns
        self.in_parts = in_parts
        self.out = out
        self.channels = channels

    def __call__(self, done: _Scored) -> _Scored:
        frame, details, origin = done.frame, done.details, done.origin
        if origin is not None:  # read on the workers: in the order the credit rows were read
            order = np.lexsort((origin[:, 1], origin[:, 0]))
            if (np.diff(order) < 0).any():
                frame = frame.iloc[order].reset_index(drop=True)
                details = details.iloc[order].reset_index(drop=True)
                origin = origin[order]
        self.parts.add(details)
        # Copies: a selection or an empty slice of a frame holds on to all of its
        # columns' memory, and the command keeps these until every bucket is in.
        if self.columns is not None:
            wanted = set(self.columns)
            details = details.loc[:, [c for c in details.columns if c in wanted]].copy()
        if self.in_parts is None:
            return done._replace(frame=frame, details=details, origin=origin)
        assert self.out is not None
        ours = done.channels
        channels = ours if ours is not None else self.channels
        frame = self.in_parts.add(self.out, frame, details, done.unavailable, channels)
        return done._replace(
            frame=frame,
            details=details.iloc[:0].copy(),
            origin=origin,
            channels=None if ours is None else ours.iloc[:0].copy(),
        )


def dask_scorer(
    client: Client,
    buckets: int | None = None,
    *,
    out: PathLike | None = None,
    parts: bool | None = False,
) -> Any:
    """A function with the signature and result of
    :func:`custrisk.scoring.score.score_data` that scores on ``client``'s cluster in
    ``buckets`` parts (default: from the exports' size and the workers' memory, at least
    twice the cluster's workers). Its result's ``features.X`` is indexed by customer but
    holds no columns: the indicators are in ``details`` (``ind__...``).

    With ``out`` (the scores file the run will be written to) and ``parts`` true
    (``None``: from :data:`PARTS_FROM` customers), each bucket's details are written as
    a part of the run's details as they arrive (:class:`custrisk.results.DetailsParts`,
    the function's ``details_parts``), and the result's ``details`` keeps only the
    columns its caller names (``details_columns``); given ``in_parts``, its policy,
    alerts and follow-ups are done there too (:class:`custrisk.scoring.InParts`)."""
    return _DaskScorer(client, buckets, out, parts)


def score_portfolio_dask(
    exports: PathLike,
    model: LoadedModel | str,
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    buckets: int | None = None,
    memory_limit: str | None = None,
    out: PathLike | None = None,
    parts: bool | None = False,
    **options: Any,
) -> ScoringRun:
    """:func:`custrisk.scoring.score_portfolio` on the Dask engine: the same
    :class:`ScoringRun` (scores, details, alerts, rejects, facts), computed in
    ``buckets`` parts on ``client``, on the scheduler at ``scheduler``, or on a local
    cluster of two worker processes (``memory_limit`` each, e.g. ``2GB``). ``options``
    are score_portfolio's.

    With ``out`` (the scores file the run is to be written to: ``run.write`` must be
    given the same) and ``parts`` true, or ``None`` and at least :data:`PARTS_FROM`
    customers, the run is written in parts while the buckets' results arrive: each
    bucket's policy, alerts and follow-up plan are done as it arrives, and its scores,
    details and follow-ups written as parts (the run's ``scores_parts``,
    ``details_parts`` and ``followups_parts``). The run then holds the alerts and, per
    customer, only :data:`custrisk.policy.parts.SUMMARY_COLUMNS` (``scores``; no
    ``details``). With a workbook ``out`` (``.xlsx``) only the details are parts, and
    ``details`` holds the columns the policy, alerts and follow-up plan read."""
    if parts and out is None:
        raise UsageError("a run written in parts needs the scores file of the run (out)")
    with contextlib.ExitStack() as stack:
        own = client or stack.enter_context(dask_client(scheduler, memory_limit=memory_limit))
        scorer = _DaskScorer(own, buckets, out, parts)
        try:
            run = score_portfolio(exports, model, scorer=scorer, **options)
        except BaseException:
            if scorer.details_parts is not None:
                scorer.details_parts.discard()
            raise
    run.details_parts = scorer.details_parts
    return run


__all__ = [
    "ENGINES",
    "as_of_here",
    "bucket_of",
    "dask_client",
    "dask_scorer",
    "prepare_features_dask",
    "score_portfolio_dask",
    "split_workspace",
]
