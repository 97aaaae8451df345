"""``custrisk drift --engine dask`` (issue 16): on a real LocalCluster (2 worker
processes), each bucket counts its customers into the model's reference bins and the
client adds the counts; the report equals the pandas engine's to 1e-9 (PSI of the score
and PD, CSI of every feature, bin counts, performance decay with labels), for several
bucket counts, on clean and on dirty exports."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.monitoring import DriftCounts, count_drift
from custrisk.sample import generate_sample_data
from custrisk.scoring import check_data_drift, open_model, prepare_features

pytest.importorskip("distributed")

from custrisk.engine import check_data_drift_dask  # noqa: E402

TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def shifted_300(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 other customers with the sample's faults: rejects, and a drift to report."""
    folder = tmp_path_factory.mktemp("shifted_300")
    generate_sample_data(folder, customers=300, seed=5, dirty=True)
    return folder


def _assert_close(got: Any, want: Any, where: str = "report") -> None:
    """Equal JSON trees, numbers to ``TOLERANCE`` (verdicts, labels, counts exactly)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), where
        for key in want:
            _assert_close(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_close(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert isinstance(got, float), where
        assert math.isclose(got, want, rel_tol=0, abs_tol=TOLERANCE), (where, got, want)
    else:
        assert got == want, where


# One bucket (no split) and several: 3 and 7 buckets ran the same code (split by
# customer, one task per bucket, their counts added) for the same assertions.
@pytest.mark.parametrize("buckets", [1, 7])
@pytest.mark.parametrize("data", ["clean", "shifted"])
def test_dask_drift_equals_pandas_drift(
    data: str,
    buckets: int,
    dask_cluster: Any,
    export_200: Path,
    shifted_300: Path,
    models_200: Path,
) -> None:
    folder = export_200 if data == "clean" else shifted_300
    options: dict[str, Any] = {"models_dir": models_200, "labels": folder / "labels.csv"}
    want = check_data_drift("logistic", folder, **options)
    got = check_data_drift_dask("logistic", folder, client=dask_cluster, buckets=buckets, **options)
    _assert_close(got.to_dict(), want.to_dict())
    assert got.verdict == want.verdict
    assert [s.id for s in got.statistics] == [s.id for s in want.statistics]
    assert {"psi:score", "psi:pd", "auc", "calibration"} <= {s.id for s in got.statistics}
    assert got.data["rows"] == want.data["rows"] > 100
    if data == "shifted":  # the faults are rejected, and something moved
        assert got.data["rows_rejected_in_exports"] > 10
        assert max(s.value or 0.0 for s in got.statistics if s.group == "feature") > 0.01


def test_bucket_counts_add_up_to_the_whole(export_200: Path, models_200: Path) -> None:
    """Bin counts are sums: the counts of any split of the customers add up to the
    counts of all of them, and the PDs come back in the given order."""
    model = open_model("logistic", models_200)
    X = prepare_features(export_200).X
    whole = count_drift(model, X)
    cuts = [0, 17, 90, 91, len(X)]
    spans = list(zip(cuts[:-1], cuts[1:], strict=True))
    parts = [count_drift(model, X.iloc[a:b]) for a, b in spans]
    positions = np.concatenate([np.arange(a, b) for a, b in spans[::-1]])
    backwards = DriftCounts.merge(parts[::-1], order=np.argsort(positions, kind="stable"))
    merged = DriftCounts.merge(parts)
    assert merged.rows == whole.rows == len(X)
    assert list(merged.counts) == list(whole.counts)
    for key, counts in whole.counts.items():
        assert np.array_equal(merged.counts[key], counts), key
        assert np.array_equal(backwards.counts[key], counts), key
    for merged_in_order in (merged, backwards):
        assert np.array_equal(merged_in_order.pd_bad, whole.pd_bad)
        assert merged_in_order.index.equals(whole.index)


def test_cli_drift_engine_dask_writes_the_pandas_report(
    tmp_path: Path, dask_cluster: Any, shifted_300: Path, models_200: Path
) -> None:
    runner = CliRunner()
    common = ["drift", str(shifted_300), "--model", "logistic", "--models-dir", str(models_200)]
    common += ["--labels", str(shifted_300 / "labels.csv"), "--format", "json"]
    common += ["--fail-on", "never"]
    outs = {engine: tmp_path / f"{engine}.json" for engine in ("pandas", "dask")}
    first = runner.invoke(app, [*common, "--out", str(outs["pandas"])])
    assert first.exit_code == 0, first.output
    address = dask_cluster.scheduler.address
    args = [*common, "--out", str(outs["dask"]), "--engine", "dask", "--scheduler", address]
    second = runner.invoke(app, [*args, "--buckets", "5"])
    assert second.exit_code == 0, second.output
    want = json.loads(outs["pandas"].read_text(encoding="utf-8"))
    _assert_close(json.loads(outs["dask"].read_text(encoding="utf-8")), want)
    assert outs["dask"].read_bytes() == outs["pandas"].read_bytes()


def test_cli_drift_engine_options_are_checked(
    export_200: Path, models_200: Path, short_scheduler_timeout: int
) -> None:
    runner = CliRunner()
    common = ["drift", str(export_200), "--model", "logistic", "--models-dir", str(models_200)]
    stray = runner.invoke(app, [*common, "--buckets", "3"])
    assert stray.exit_code == 2
    assert "--engine dask" in stray.output and "Traceback" not in stray.output
    unreachable = runner.invoke(
        app, [*common, "--engine", "dask", "--scheduler", "tcp://127.0.0.1:1"]
    )
    assert unreachable.exit_code == 2, unreachable.output
    assert "cannot reach a Dask scheduler" in unreachable.output
