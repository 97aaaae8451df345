"""A run's details written as a folder of Parquet parts (issue 16: outputs as
partitioned Parquet): written by the Dask engine as each bucket's results arrive, read
back by the one reader as the one table, checked part by part against the facts,
encrypted part by part, and rewritten part by part when a customer is forgotten."""

from __future__ import annotations

import json
import shutil
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.errors import DataError
from custrisk.protect.keys import ENCRYPTION, add_key, new_key
from custrisk.protect.output import protected_outputs
from custrisk.results import (
    FACTS_DIGESTS,
    DetailsParts,
    ScoringRun,
    facts_digests,
    forget_in_run,
    read_run,
)
from custrisk.scoring import score_portfolio
from custrisk.scoring.forget import forget_customer

DETAILS = "scores.details.parquet"


@pytest.fixture(scope="module")
def scored(export_200: Path, models_200: Path) -> ScoringRun:
    return score_portfolio(export_200, "logistic", models_dir=models_200)


def _parted(run: ScoringRun, out: Path, parts: int = 3) -> ScoringRun:
    """``run`` with its details written as ``parts`` parts beside ``out``."""
    written = DetailsParts(out)
    for rows in np.array_split(np.arange(len(run.details)), parts):
        written.add(run.details.iloc[rows].reset_index(drop=True))
    return replace(run, details=run.details.loc[:, ["customer_id"]], details_parts=written)


def test_details_as_parts_read_back_as_the_one_file(scored: ScoringRun, tmp_path: Path) -> None:
    single = scored.write(tmp_path / "single" / "scores.csv")
    out = tmp_path / "parted" / "scores.csv"
    parted = _parted(scored, out).write(out)
    folder = out.parent / DETAILS
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        p.name for p in single.folder.iterdir()
    )  # the staging folder of the parts is gone
    assert sorted(p.name for p in folder.iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "part-00000.parquet").stat().st_mode) == 0o600
    entry = json.loads(parted.facts.read_text(encoding="utf-8"))["files"]["details"]
    assert entry["file"] == DETAILS and entry["rows"] == len(scored.details)
    assert [p["rows"] for p in entry["parts"]] == [67, 67, 66]
    assert out.read_bytes() == single.scores.read_bytes()
    want, got = read_run(single.scores), read_run(out)
    pd.testing.assert_frame_equal(got.details, want.details)
    pd.testing.assert_frame_equal(got.scores, want.scores)
    # any Parquet reader takes the folder for one table
    assert pd.read_parquet(folder).shape == want.details.shape


def _tamper_stray(folder: Path, facts: Path) -> None:
    shutil.copy(folder / "part-00000.parquet", folder / "part-00003.parquet")


def _tamper_changed(folder: Path, facts: Path) -> None:
    shutil.copy(folder / "part-00001.parquet", folder / "part-00000.parquet")


def _tamper_missing(folder: Path, facts: Path) -> None:
    (folder / "part-00002.parquet").unlink()


def _tamper_listing(folder: Path, facts: Path) -> None:
    data = json.loads(facts.read_text(encoding="utf-8"))
    data["files"]["details"]["parts"].pop()  # a part left out of the listing
    data[FACTS_DIGESTS] = facts_digests(data)  # by a forger, who redoes the facts' digests
    facts.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_tamper_stray, r"scores.details.parquet holds part-00003.parquet, which the run facts"),
        (_tamper_changed, r"part-00000.parquet does not belong to the run described by"),
        (_tamper_missing, r"the details file of the run is missing"),
        (_tamper_listing, r"the run facts list the parts of scores.details.parquet inconsistently"),
    ],
)
def test_a_part_that_is_not_the_runs_is_refused(
    scored: ScoringRun, tmp_path: Path, tamper: Any, message: str
) -> None:
    out = tmp_path / "scores.csv"
    files = _parted(scored, out).write(out)
    tamper(out.parent / DETAILS, files.facts)
    for parts in (("scores", "details"), ("scores",)):  # checked even when not read
        with pytest.raises(DataError, match=message):
            read_run(out, parts=parts)


def test_a_run_rewritten_from_one_layout_to_the_other(scored: ScoringRun, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    scored.write(out)
    want = read_run(out).details
    _parted(scored, out, parts=2).write(out)  # the file gives way to the folder
    assert (out.parent / DETAILS).is_dir()
    pd.testing.assert_frame_equal(read_run(out).details, want)
    scored.write(out)  # and the folder to the file
    assert (out.parent / DETAILS).is_file()
    pd.testing.assert_frame_equal(read_run(out).details, want)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".custrisk-stage")] == []


def test_parts_are_moved_into_one_run_only(scored: ScoringRun, tmp_path: Path) -> None:
    run = _parted(scored, tmp_path / "a" / "scores.csv")
    with pytest.raises(ValueError, match="not in"):
        run.write(tmp_path / "b" / "scores.csv")
    run.write(tmp_path / "a" / "scores.csv")
    with pytest.raises(ValueError, match="moved into a run already"):
        run.write(tmp_path / "a" / "scores.csv")


@pytest.mark.parametrize("token", [None, "anon-1"])
def test_forgetting_a_customer_rewrites_the_parts(
    scored: ScoringRun, tmp_path: Path, token: str | None
) -> None:
    out = tmp_path / "scores.csv"
    _parted(scored, out).write(out)
    gone = str(scored.details["customer_id"].iloc[100])  # in the second part
    counts = forget_in_run(out, gone, token=token)
    assert counts["details"] == 1 and counts["scores"] == 1
    after = read_run(out)
    assert gone not in set(after.details["customer_id"])
    assert (out.parent / DETAILS).is_dir() and len(list((out.parent / DETAILS).iterdir())) == 3
    whole = read_run(scored.write(tmp_path / "whole" / "scores.csv").scores).details
    kept = whole["customer_id"] != gone
    if token is None:
        want = whole.loc[kept].reset_index(drop=True)
        pd.testing.assert_frame_equal(after.details, want)
    else:
        row = after.details.loc[after.details["customer_id"] == token]
        assert len(row) == 1 and row["name_masked"].isna().all()
        pd.testing.assert_frame_equal(
            after.details.loc[after.details["customer_id"] != token].reset_index(drop=True),
            whole.loc[kept].reset_index(drop=True),
        )
    assert forget_in_run(out, gone) == {}  # nothing left to forget: nothing written


def test_forget_customer_searches_a_runs_parts(scored: ScoringRun, tmp_path: Path) -> None:
    out = tmp_path / "runs" / "2026-10" / "scores.csv"
    _parted(scored, out).write(out)
    gone = str(scored.details["customer_id"].iloc[5])
    result = forget_customer(gone, tmp_path / "runs")
    assert result.runs and result.remaining == []  # no part is left as "not searched"


def test_encrypted_parts_hold_no_plaintext(scored: ScoringRun, tmp_path: Path) -> None:
    keyfile = tmp_path / "keys.json"
    add_key(keyfile, new_key(ENCRYPTION))
    out = tmp_path / "run" / "scores.csv"
    with protected_outputs(encrypt=True, keyfile=keyfile):
        _parted(scored, out).write(out)
    names = sorted(p.name for p in (out.parent / DETAILS).iterdir())
    assert names == [f"part-0000{i}.parquet.enc" for i in range(3)]
    for path in (out.parent / DETAILS).iterdir():
        assert not path.read_bytes().startswith(b"PAR1")
    want = read_run(scored.write(tmp_path / "clear" / "scores.csv").scores).details
    with protected_outputs(keyfile=keyfile):
        pd.testing.assert_frame_equal(read_run(out.parent).details, want)


def test_parts_need_the_dask_engine(tmp_path: Path, export_200: Path) -> None:
    out = tmp_path / "scores.csv"
    args = ["score", str(export_200), "--model", "logistic", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--parts"])
    assert result.exit_code == 2
    assert "--parts applies to --engine dask only; add --engine dask" in result.output
    assert not out.parent.exists() or not any(out.parent.iterdir())


# -- on the Dask engine ----------------------------------------------------------------


def test_a_workbook_run_keeps_only_the_details_it_reads(
    tmp_path: Path,
    dask_cluster: Any,
    export_200: Path,
    models_200: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run with a workbook keeps its scores whole (the sheet holds them all): only the
    details are parts, and the command keeps the columns of them it reads. (A run in
    parts: tests/test_dask_run_parts.py.)"""
    from custrisk.engine import dask_engine, score_portfolio_dask

    out = tmp_path / "scores.xlsx"
    options = {"client": dask_cluster, "buckets": 3, "models_dir": models_200}
    small = score_portfolio_dask(export_200, "logistic", out=out, parts=None, **options)
    assert small.details_parts is None  # 200 customers: one file by default
    monkeypatch.setattr(dask_engine, "PARTS_FROM", 200)
    run = score_portfolio_dask(export_200, "logistic", out=out, parts=None, **options)
    assert run.details_parts is not None and run.details_parts.rows == 200
    assert run.scores_parts is None and len(run.scores) == 200 and "customer_id" in run.scores
    full = small.details.columns
    kept = set(run.details.columns)
    # what the packaged policy and alert rules read, and the follow-up plan: not all
    assert {"customer_id", "credit_limit", "name_masked", "ind__max_days_past_due_12m"} <= kept
    assert not any(c.startswith("reason_") for c in kept) and len(kept) < len(full) / 2
    run.write(out)
    small_out = tmp_path / "small" / "scores.csv"
    small.write(small_out)
    for name in ("scores.csv", "alerts.csv", "followups.csv"):
        assert (out.parent / name).read_bytes() == (small_out.parent / name).read_bytes()
    want = read_run(small_out).details.set_index("customer_id")
    pd.testing.assert_frame_equal(
        read_run(out).details.set_index("customer_id").loc[want.index], want
    )
