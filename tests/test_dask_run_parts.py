"""A Dask run written in parts (issue 16): each bucket's policy, alerts and follow-ups
done as its results arrive, its scores, details and follow-ups written as parts, and
the command keeping only the alerts and a few columns per customer. The run reads back
as the pandas engine's run, a previous run included (new, departed and resolved)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.results import ScoringRun, read_run

#: Facts that name the files of a run (and so differ between a run and its parts).
_NAMING = ("files", "run_id", "facts_sha256")  # (the facts' digests: of the naming too)


def _without_customers(
    source: Path, folder: Path, ids: set[str], falling: set[str] = frozenset()
) -> Path:
    """The exports of ``source`` without the credit rows of ``ids`` (their other rows
    are then orphans, rejected alike by both engines), and the bureau score of
    ``falling`` 50 points lower than three months before (an alert that fires)."""
    shutil.copytree(source, folder)
    credit = folder / "credit.csv"
    lines = credit.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [lines[0]]
    for line in lines[1:]:
        fields = line.split(",")
        if fields[0] in ids:
            continue
        if fields[0] in falling and len(fields) == 15 and fields[7].isdigit():
            fields[8] = str(int(fields[7]) + 50)
        kept.append(",".join(fields))
    credit.write_text("".join(kept), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def months(tmp_path_factory: pytest.TempPathFactory, dirty_300: Path) -> tuple[Path, Path]:
    """Last month without some customers (new this month) and with alerts that no longer
    fire (resolved), this month without others (departed)."""
    root = tmp_path_factory.mktemp("months")
    ids = [
        line.split(b",")[0].decode()
        for line in (dirty_300 / "credit.csv").read_bytes().splitlines()[1:]
    ]
    last = _without_customers(dirty_300, root / "last", set(ids[:12]), set(ids[100:120]))
    this = _without_customers(dirty_300, root / "this", set(ids[40:70]))
    return last, this


def _score(exports: Path, out: Path, models: Path, *options: str) -> Path:
    result = CliRunner().invoke(
        app,
        [
            "score",
            str(exports),
            "--model",
            "logistic",
            "--models-dir",
            str(models),
            "--out",
            str(out),
            *options,
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def _facts(run: ScoringRun) -> dict[str, Any]:
    facts = {k: v for k, v in run.facts.items() if k not in _NAMING}
    facts["followups"] = {k: v for k, v in facts["followups"].items() if k != "file"}
    return facts


def test_a_dask_run_in_parts_reads_back_as_the_pandas_run(
    tmp_path: Path, dask_cluster: Any, months: tuple[Path, Path], models_200: Path
) -> None:
    last, this = months
    previous = _score(last, tmp_path / "last" / "scores.csv", models_200)
    common = ("--previous", str(previous))
    # scores as parts read back as a Parquet scores file does (typed, not CSV text)
    want_out = _score(this, tmp_path / "pandas" / "scores.parquet", models_200, *common)
    dask = ("--engine", "dask", "--scheduler", dask_cluster.scheduler.address)
    got_out = _score(
        this,
        tmp_path / "dask" / "scores.csv",
        models_200,
        *common,
        *dask,
        "--buckets",
        "4",
        "--parts",
    )
    names = sorted(p.name for p in got_out.parent.iterdir() if not p.name.startswith("."))
    assert names == [
        "alerts.closed.csv",
        "alerts.csv",
        "followups.parquet",
        "scores.details.parquet",
        "scores.parquet",
        "scores.rejects.csv",
        "scores.run.json",
    ]
    for name in ("alerts.csv", "alerts.closed.csv", "scores.rejects.csv"):  # the same bytes
        assert (got_out.parent / name).read_bytes() == (want_out.parent / name).read_bytes()
    want, got = read_run(want_out), read_run(got_out)
    facts = want.facts
    assert facts["migration"]["new"] >= 10 and facts["migration"]["departed"] >= 25
    assert set(want.closed["reason"]) == {"departed", "resolved"}
    assert _facts(got) == _facts(want)
    pd.testing.assert_frame_equal(got.followups, want.followups)  # order included
    for table in ("scores", "details"):
        ordered = (
            getattr(got, table).set_index("customer_id").loc[getattr(want, table)["customer_id"]]
        )
        pd.testing.assert_frame_equal(ordered.reset_index(), getattr(want, table))
    for folder in ("scores.parquet", "scores.details.parquet"):
        parts = sorted((got_out.parent / folder).iterdir())
        assert 1 < len(parts) <= 4  # a part per bucket with customers
        for part in parts:  # each bucket's customers in the credit table's order
            positions = pd.Index(want.scores["customer_id"]).get_indexer(
                pd.read_parquet(part)["customer_id"]
            )
            assert (positions >= 0).all() and (np.diff(positions) > 0).all()


def test_the_command_keeps_a_few_columns_per_customer(
    tmp_path: Path, dask_cluster: Any, export_200: Path, models_200: Path
) -> None:
    from custrisk.engine import score_portfolio_dask
    from custrisk.policy.parts import SUMMARY_COLUMNS

    out = tmp_path / "scores.csv"
    run = score_portfolio_dask(
        export_200,
        "logistic",
        client=dask_cluster,
        buckets=3,
        models_dir=models_200,
        out=out,
        parts=True,
    )
    assert list(run.scores.columns) == list(SUMMARY_COLUMNS) and len(run.scores) == 200
    assert run.details.empty and run.followups is None
    assert run.scores_parts is not None and run.scores_parts.rows == 200
    run.write(out)
    facts = json.loads((tmp_path / "scores.run.json").read_text(encoding="utf-8"))
    assert facts["files"]["scores"]["rows"] == 200 and len(facts["files"]["scores"]["parts"]) == 3
    assert facts["followups"]["file"] == "followups.parquet"
