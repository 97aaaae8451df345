"""``score``, ``indicators`` and ``drift`` on the Dask engine read and clean the exports on
the workers (issue 16): the client never loads the whole workspace, and the results equal
the pandas engine's for 1 to 4 partitions (files) of each source and several bucket
counts; the as-of date found from the buckets' counted event days is the whole data's."""

from __future__ import annotations

import datetime as dt
import gc
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import custrisk
from custrisk.data import load_workspace
from custrisk.errors import DataError
from custrisk.indicators import event_day_counts, resolve_as_of, resolve_as_of_of_counts
from custrisk.review.followups import preferred_channels
from custrisk.scoring import check_data_drift, prepare_features, score_portfolio
from custrisk.scoring.features import load_configs
from tests._support import assert_same_run, partitioned_exports

distributed = pytest.importorskip("distributed")

import custrisk.engine.dask_engine as dask_engine  # noqa: E402
import custrisk.engine.drift as dask_drift  # noqa: E402
import custrisk.engine.partitions as partitions  # noqa: E402
from custrisk.engine import (  # noqa: E402
    check_data_drift_dask,
    prepare_features_dask,
    score_portfolio_dask,
    split_workspace,
)


@pytest.fixture
def no_client_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if the engine loads the whole workspace on the client."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the dask engine loaded the workspace on the client")

    monkeypatch.setattr(dask_engine, "_workspace", refuse)


@pytest.fixture
def no_client_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if the drift engine loads the whole workspace on the client."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the dask engine loaded the workspace on the client")

    monkeypatch.setattr(dask_drift, "load_workspace", refuse)


def _exports(dirty_300: Path, tmp_path: Path, parts: int) -> tuple[Path, Path | None]:
    if parts == 1:
        return dirty_300, None
    config = partitioned_exports(dirty_300, tmp_path / "parts", parts)
    return config.parent, config


# 20 buckets: each bucket of transactions (by txn_id) holds 176 to 194 of the file's 304
# customers' ids, so its customer column is cleaned over the ids it uses only (a
# dictionary of its own values), a third of the ids left out (with 4 or 5 buckets, 5 %).
# More buckets leave more out by the same code, at a second per four buckets here (40:
# 123 ids each on average, 9 s against 4.4 s). Otherwise a case per kind: one file or
# several, in one bucket or several (2 files in 4 buckets and 3 in 2 ran the code of 4
# files in 5 for the same assertions).
@pytest.mark.parametrize(("parts", "buckets"), [(1, 1), (1, 3), (4, 5), (2, 20)])
def test_score_read_on_the_workers_equals_pandas(
    parts: int,
    buckets: int,
    tmp_path: Path,
    dask_cluster: Any,
    dirty_300: Path,
    models_200: Path,
    no_client_workspace: None,
) -> None:
    folder, config = _exports(dirty_300, tmp_path, parts)
    want = score_portfolio(folder, "logistic", models_dir=models_200, sources=config)
    got = score_portfolio_dask(
        folder,
        "logistic",
        models_dir=models_200,
        sources=config,
        client=dask_cluster,
        buckets=buckets,
    )
    assert_same_run(got, want)
    assert got.rejects is not None and len(got.rejects) > 10
    assert len(got.followups) > 0
    assert (got.followups["preferred_channel"] != "").any()  # found by bucket
    assert not got.extras["workspace"].frames  # every cleaned row stayed on the workers


@pytest.mark.parametrize("through_folder", [True, False])
def test_rows_go_to_their_buckets_through_a_folder_or_as_results(
    through_folder: bool,
    tmp_path: Path,
    dask_cluster: Any,
    dirty_300: Path,
    models_200: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a local cluster the read pieces and the slices of the regroup by customer go
    through a folder (removed with the workspace); on a cluster given by its scheduler
    they go as task results. Both give the pandas engine's run."""
    made: list[str | None] = []
    real = partitions._shuffle_folder

    def watched(client: Any) -> Any:
        scratch = real(client) if through_folder else None
        made.append(None if scratch is None else scratch.path)
        return scratch

    monkeypatch.setattr(partitions, "_shuffle_folder", watched)
    folder, config = _exports(dirty_300, tmp_path, 2)
    want = score_portfolio(folder, "logistic", models_dir=models_200, sources=config)
    got = score_portfolio_dask(
        folder, "logistic", models_dir=models_200, sources=config, client=dask_cluster, buckets=5
    )
    assert_same_run(got, want)
    assert len(made) == 1  # one folder for every source
    if through_folder:
        assert made[0] is not None and Path(made[0]).name.startswith("custrisk-shuffle-")
        gc.collect()
        assert not Path(made[0]).exists()  # removed with the workspace
    else:
        assert made == [None]
    with distributed.Client(dask_cluster.scheduler.address) as remote:
        assert real(remote) is None  # a cluster given by its address: no shared folder


# a case per kind: one file in several buckets, several files in one, several in several
# (3 files in 4 buckets ran the code of 4 in 7 for the same assertions)
@pytest.mark.parametrize(("parts", "buckets"), [(1, 2), (2, 1), (4, 7)])
def test_indicators_read_on_the_workers_equal_pandas(
    parts: int,
    buckets: int,
    tmp_path: Path,
    dask_cluster: Any,
    dirty_300: Path,
    no_client_workspace: None,
) -> None:
    folder, config = _exports(dirty_300, tmp_path, parts)
    want = prepare_features(folder, sources_config=config)
    got = prepare_features_dask(folder, dask_cluster, buckets=buckets, sources_config=config)
    assert want.indicators is not None and got.indicators is not None
    pd.testing.assert_frame_equal(got.indicators.frame, want.indicators.frame)
    pd.testing.assert_frame_equal(got.X, want.X)
    assert (got.indicators.as_of, got.indicators.as_of_origin) == (want.as_of, "data")
    assert dict(got.unavailable) == dict(want.unavailable)
    pd.testing.assert_frame_equal(got.workspace.rejects, want.workspace.rejects)
    assert got.workspace.report.to_dict() == want.workspace.report.to_dict()
    assert not got.workspace.frames  # no cleaned rows on the client


def test_an_as_of_argument_gives_the_features_of_one_process(
    dask_cluster: Any, dirty_300: Path, no_client_workspace: None
) -> None:
    day = dt.date(2026, 9, 30)
    want = prepare_features(dirty_300, as_of=day)
    got = prepare_features_dask(dirty_300, dask_cluster, buckets=3, as_of=day)
    assert got.indicators is not None and want.indicators is not None
    assert got.indicators.as_of_origin == "argument" and got.as_of == day
    pd.testing.assert_frame_equal(got.indicators.frame, want.indicators.frame)


@pytest.mark.parametrize("buckets", [1, 2, 5])
def test_the_as_of_date_of_counted_event_days(
    buckets: int, dirty_300: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Counts of parts give the whole's as-of date, also when isolated later dates are
    ignored (with the same warning)."""
    workspace = load_workspace(dirty_300)
    _, config = load_configs(None, workspace.config)
    frames = dict(workspace.frames)
    transactions = frames["transactions"].copy()
    late = pd.Timestamp("2031-01-15")
    transactions.loc[transactions.index[:3], "txn_date"] = late  # three stray dates
    frames["transactions"] = transactions
    stray = replace(workspace, frames=frames)
    with caplog.at_level(logging.WARNING, logger="custrisk.indicators.as_of"):
        want = resolve_as_of(stray.present_frames(), config)
    whole_warnings = [r.getMessage() for r in caplog.records]
    assert any("are ignored for the as-of date" in m for m in whole_warnings)
    caplog.clear()
    parts, _ = split_workspace(stray, buckets)
    counts = [event_day_counts(p.present_frames(), config) for p in parts]
    with caplog.at_level(logging.WARNING, logger="custrisk.indicators.as_of"):
        got = resolve_as_of_of_counts(counts, config)
    assert got == want and want[1] == "data"
    assert [r.getMessage() for r in caplog.records] == whole_warnings
    total = sum(int(n.sum()) for c in counts for _days, n in [c["transactions"]])
    assert total == int(np.count_nonzero(transactions["txn_date"].notna()))


@pytest.mark.parametrize("as_of", ["2020-01-31", "2028-06-30"])
def test_an_as_of_date_no_event_reaches_is_refused_from_counts_as_from_the_whole(
    as_of: str, dirty_300: Path
) -> None:
    workspace = load_workspace(dirty_300)
    _, config = load_configs(None, workspace.config)
    with pytest.raises(DataError) as whole:
        resolve_as_of(workspace.present_frames(), config, as_of)
    parts, _ = split_workspace(workspace, 3)
    counts = [event_day_counts(p.present_frames(), config) for p in parts]
    with pytest.raises(DataError) as counted:
        resolve_as_of_of_counts(counts, config, as_of)
    assert str(counted.value) == str(whole.value)
    assert str(whole.value).startswith(f"--as-of {as_of} is ")


@pytest.mark.parametrize(("parts", "buckets"), [(1, 3), (2, 1), (4, 5)])
def test_drift_read_on_the_workers_equals_pandas(
    parts: int,
    buckets: int,
    tmp_path: Path,
    dask_cluster: Any,
    dirty_300: Path,
    models_200: Path,
    no_client_load: None,
) -> None:
    folder, config = _exports(dirty_300, tmp_path, parts)
    options: dict[str, Any] = {
        "models_dir": models_200,
        "labels": dirty_300 / "labels.csv",
        "sources_config": config,
    }
    want = check_data_drift("logistic", folder, **options)
    got = check_data_drift_dask("logistic", folder, client=dask_cluster, buckets=buckets, **options)
    assert got.to_dict() == want.to_dict()  # bin for bin, to the last digit
    assert got.data["rows_rejected_in_exports"] == want.data["rows_rejected_in_exports"] > 10
    assert {"psi:score", "auc"} <= {s.id for s in got.statistics}


def test_what_the_workers_cannot_read_is_read_on_the_client(
    tmp_path: Path, dirty_300: Path
) -> None:
    """A database query (the workers read files), encrypted exports (the key is the
    client's) and a flat table keep the client's reading: no cluster is asked."""
    packaged = Path(custrisk.__file__).parent / "defaults" / "configs" / "sources.yaml"
    text = packaged.read_text(encoding="utf-8").replace(
        "    file: credit.csv\n", '    query: "select * from credit"\n    url: env:NO_SUCH_URL\n'
    )
    (tmp_path / "sql.yaml").write_text(text, encoding="utf-8")
    no_client: Any = None
    assert dask_engine._on_workers(dirty_300, no_client, 2, tmp_path / "sql.yaml", None) is None
    sealed = tmp_path / "sealed"
    sealed.mkdir()
    (sealed / "credit.csv.enc").write_bytes(b"sealed")
    assert dask_engine._on_workers(sealed, no_client, 2, None, None) is None
    table = dirty_300 / "credit.csv"
    assert dask_engine._on_workers(table, no_client, 2, None, None) is None


def test_preferred_channels_of_parts_are_the_wholes(dirty_300: Path) -> None:
    """The follow-up plan's preferred channel is per customer: found bucket by bucket
    and put together, it is the whole's (ties included)."""
    workspace = load_workspace(dirty_300)
    day = dt.date(2026, 10, 31)
    want = preferred_channels(workspace.frames["behaviour"], day)
    assert len(want) > 100
    parts, _ = split_workspace(workspace, 4)
    got = pd.concat([preferred_channels(p.frames["behaviour"], day) for p in parts])
    assert got.sort_index().to_dict() == want.to_dict()


def test_the_default_buckets_follow_the_exports_and_the_workers_memory(
    dask_cluster: Any,
) -> None:
    """Without --buckets: twice the workers for small exports; for exports large against
    a worker's memory limit, enough buckets that each holds a 64th of a worker's limit."""
    from custrisk.engine.partitions import default_buckets

    workers = dask_cluster.scheduler_info()["workers"].values()
    limit = min(int(w["memory_limit"]) for w in workers)
    assert default_buckets(dask_cluster, 0) == 2 * len(workers) == 4
    assert default_buckets(dask_cluster, limit // 64) == 4
    assert default_buckets(dask_cluster, limit) == 64
    assert default_buckets(dask_cluster, 3 * limit) == 192
