"""A run whose scores, details and follow-up plan are all folders of Parquet parts (issue
16: outputs as partitioned Parquet), as the Dask engine writes them for millions of
customers: read back by the one reader as the tables of the same run written as files,
checked part by part against the facts, written over a run of files (and files over
it), refused with a workbook, rewritten part by part when a customer is forgotten, and
encrypted part by part."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from custrisk.errors import DataError, UsageError
from custrisk.protect.backup import create_backup, restore_backup
from custrisk.protect.keys import ENCRYPTION, add_key, new_key
from custrisk.protect.output import protected_outputs
from custrisk.results import (
    FACTS_DIGESTS,
    ScoringRun,
    TableParts,
    facts_digests,
    forget_in_run,
    read_run,
)
from custrisk.results.parts import parts_digest
from custrisk.scoring import score_portfolio
from custrisk.scoring.forget import forget_customer

SCORES, DETAILS, FOLLOWUPS = "scores.parquet", "scores.details.parquet", "followups.parquet"
FOLDERS = {"scores": SCORES, "details": DETAILS, "followups": FOLLOWUPS}
PARTS = 3


@pytest.fixture(scope="module")
def scored(export_200: Path, models_200: Path) -> ScoringRun:
    run = score_portfolio(export_200, "logistic", models_dir=models_200)
    assert run.followups is not None and len(run.followups) > PARTS
    return run


@pytest.fixture(scope="module")
def as_files(scored: ScoringRun, tmp_path_factory: pytest.TempPathFactory) -> ScoringRun:
    """The run written as files (Parquet scores: the types the scores parts read as)."""
    out = tmp_path_factory.mktemp("as_files") / "scores.parquet"
    scored.write(out)
    return read_run(out)


def _buckets(run: ScoringRun) -> list[set[str]]:
    """The customers dealt to the parts by turns, as a hash spreads them: no part holds
    a stretch of the scores file."""
    ids = run.scores["customer_id"].astype(str).to_numpy()
    turn = np.arange(len(ids)) % PARTS
    return [set(ids[turn == i]) for i in range(PARTS)]


def _parts_of(out: Path, member: str, frame: pd.DataFrame, buckets: list[set[str]]) -> TableParts:
    written = TableParts(out, member)
    for bucket in buckets:
        part = frame.loc[frame["customer_id"].astype(str).isin(bucket)].reset_index(drop=True)
        for name in part.columns:  # a bucket's categories are the values it holds
            if isinstance(part[name].dtype, pd.CategoricalDtype):
                part[name] = part[name].cat.remove_unused_categories()
        written.add(part)
    return written


def _parted(run: ScoringRun, out: Path) -> ScoringRun:
    """``run`` with its scores, details and follow-up plan written as parts beside
    ``out``, keeping in memory only what the Dask engine keeps."""
    assert run.followups is not None
    buckets = _buckets(run)
    return replace(
        run,
        scores=run.scores.loc[:, ["customer_id", "grade"]],
        details=run.details.loc[:, ["customer_id"]],
        followups=None,
        scores_parts=_parts_of(out, "scores", run.scores, buckets),
        details_parts=_parts_of(out, "details", run.details, buckets),
        followups_parts=_parts_of(out, "followups", run.followups, buckets),
    )


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("customer_id", kind="stable").reset_index(drop=True)


def _assert_same_run(got: ScoringRun, want: ScoringRun) -> None:
    """The tables of two reads of a run: scores and details in any order of customers,
    the follow-up plan and the alerts exactly."""
    pd.testing.assert_frame_equal(_by_id(got.scores), _by_id(want.scores))
    pd.testing.assert_frame_equal(_by_id(got.details), _by_id(want.details))
    assert got.followups is not None and want.followups is not None
    pd.testing.assert_frame_equal(got.followups, want.followups)
    pd.testing.assert_frame_equal(got.alerts, want.alerts)


@pytest.mark.parametrize("name", ["scores.csv", "scores.parquet"])
def test_a_run_of_parts_reads_back_as_the_run_of_files(
    scored: ScoringRun, as_files: ScoringRun, tmp_path: Path, name: str
) -> None:
    out = tmp_path / name
    files = _parted(scored, out).write(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["alerts.csv", DETAILS, FOLLOWUPS, SCORES, "scores.run.json", ".custrisk.lock"]
    )  # no scores or follow-up file beside the folders, no staging folder left
    assert files.scores == tmp_path / SCORES  # the scores are the folder, whatever --out
    listed = json.loads(files.facts.read_text(encoding="utf-8"))["files"]
    for member, folder in FOLDERS.items():
        names = sorted(p.name for p in (tmp_path / folder).iterdir())
        assert names == [f"part-0000{i}.parquet" for i in range(PARTS)]
        assert listed[member]["file"] == folder
        assert [p["file"] for p in listed[member]["parts"]] == names
    assert listed["scores"]["rows"] == len(scored.scores)
    for where in (out, tmp_path, files.facts, files.scores):  # --out, folder, facts, scores
        _assert_same_run(read_run(where), as_files)
    got = read_run(out)
    first = got.scores["customer_id"].iloc[: listed["scores"]["parts"][0]["rows"]]
    assert set(first) == _buckets(scored)[0]  # the scores in the order of their parts
    # the follow-up plan is the plan written as one file, order included
    plan = read_run(scored.write(tmp_path / "csv" / "scores.csv").scores).followups
    assert plan is not None and got.followups is not None
    pd.testing.assert_frame_equal(got.followups, plan)
    for member, folder in FOLDERS.items():  # any Parquet reader takes a folder for a table
        whole = pd.read_parquet(tmp_path / folder)
        assert len(whole) == len(getattr(got, member))
        assert set(whole.columns) == set(getattr(got, member).columns)


def test_the_scores_parts_hold_each_customer_once(scored: ScoringRun, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    parts = TableParts(out, "scores")
    parts.add(scored.scores.iloc[:120])
    parts.add(scored.scores.iloc[100:])  # 100-119 again
    replace(scored, scores_parts=parts).write(out)
    with pytest.raises(DataError) as caught:
        read_run(out)
    assert caught.value.file == str(tmp_path / SCORES)
    assert (
        "the scores file holds customer ids more than once "
        f"(in part-00000.parquet, part-00001.parquet): {scored.scores['customer_id'].iloc[100]}"
    ) in caught.value.message


def test_a_scores_part_lacking_a_column_is_named(scored: ScoringRun, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    with TableParts(out, "scores") as parts:
        for rows in np.array_split(np.arange(len(scored.scores)), 2):
            parts.add(scored.scores.iloc[rows].drop(columns="score"))
    replace(scored, scores_parts=parts).write(out)
    with pytest.raises(DataError, match=r"the scores file lacks the column\(s\) score") as caught:
        read_run(out, parts=("scores",))
    assert caught.value.file == str(tmp_path / SCORES / "part-00000.parquet")


def _changed(folder: Path) -> None:
    shutil.copy(folder / "part-00001.parquet", folder / "part-00000.parquet")


def _missing(folder: Path) -> None:
    (folder / "part-00002.parquet").unlink()


def _stray(folder: Path) -> None:
    shutil.copy(folder / "part-00000.parquet", folder / "part-00003.parquet")


def _folder_gone(folder: Path) -> None:
    shutil.rmtree(folder)


@pytest.mark.parametrize("member", ["scores", "followups"])
@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_changed, r": part-00000.parquet does not belong to the run described by scores.run"),
        (_missing, r"parquet: the (scores file|follow-up plan) of the run is missing"),
        (_stray, r": (scores|followups).parquet holds part-00003.parquet, which the run facts"),
        (_folder_gone, r"parquet: the folder of parts of the run's (scores|follow-up plan) is"),
    ],
    ids=["changed", "missing", "stray", "folder-gone"],
)
def test_a_part_that_is_not_the_runs_is_refused_in_one_line(
    scored: ScoringRun,
    tmp_path: Path,
    member: str,
    tamper: Callable[[Path], None],
    message: str,
) -> None:
    out = tmp_path / "scores.csv"
    _parted(scored, out).write(out)
    tamper(tmp_path / FOLDERS[member])
    for wanted in ((member,), ("alerts",)):  # checked even when that table is not read
        with pytest.raises(DataError, match=message) as caught:
            read_run(out, parts=wanted)
        assert "\n" not in caught.value.message
    with pytest.raises(DataError, match=message):
        forget_in_run(out, str(scored.scores["customer_id"].iloc[0]))


@pytest.mark.parametrize("name", ["scores.csv", "scores.parquet"])
def test_files_and_folders_of_parts_give_way_to_each_other(
    scored: ScoringRun, as_files: ScoringRun, tmp_path: Path, name: str
) -> None:
    out = tmp_path / name
    scored.write(out)
    assert (tmp_path / name).is_file() and (tmp_path / "followups.csv").is_file()
    _parted(scored, out).write(out)  # the files give way to the folders
    assert not (tmp_path / "scores.csv").exists() and not (tmp_path / "followups.csv").exists()
    assert (tmp_path / SCORES).is_dir() and (tmp_path / FOLLOWUPS).is_dir()
    _assert_same_run(read_run(out), as_files)
    scored.write(out)  # and the folders to the files
    assert (tmp_path / name).is_file() and (tmp_path / "followups.csv").is_file()
    assert not (tmp_path / FOLLOWUPS).exists()
    assert not (tmp_path / SCORES).is_dir()
    back = read_run(out)
    assert back.followups is not None and as_files.followups is not None
    pd.testing.assert_frame_equal(back.followups, as_files.followups)
    assert len(back.scores) == len(scored.scores)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".custrisk-stage")] == []


def test_a_workbook_is_refused_with_scores_as_parts(scored: ScoringRun, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:  # before anything is computed
        TableParts(tmp_path / "scores.xlsx", "scores")
    assert caught.value.one_line() == (
        "scores.xlsx: a workbook cannot hold the scores written as parts (a sheet holds at "
        "most 1,048,576 rows); write scores.csv or scores.parquet instead"
    )
    run = _parted(scored, tmp_path / "scores.csv")
    with pytest.raises(UsageError, match="a workbook cannot hold the scores and the follow-up"):
        run.write(tmp_path / "scores.xlsx")
    assert not any(p.name.startswith("scores") for p in tmp_path.iterdir())  # nothing written
    run.write(tmp_path / "scores.csv")  # the parts are still there for a run without one
    assert (tmp_path / SCORES).is_dir()


def test_only_the_per_customer_tables_are_written_as_parts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"must be one of \('scores', 'details', 'followups'\)"):
        TableParts(tmp_path / "scores.csv", "alerts")


@pytest.mark.parametrize("token", [None, "anon-1"])
def test_forgetting_a_customer_rewrites_every_table_of_parts(
    scored: ScoringRun, tmp_path: Path, token: str | None
) -> None:
    assert scored.followups is not None
    gone = str(scored.followups["customer_id"].iloc[1])  # scores, details and the plan
    files_out = tmp_path / "files" / "scores.parquet"
    scored.write(files_out)
    want_counts = forget_in_run(files_out, gone, token=token)
    assert {"scores", "details", "followups"} <= set(want_counts)
    out = tmp_path / "parts" / "scores.csv"
    _parted(scored, out).write(out)
    assert forget_in_run(out, gone, token=token) == want_counts
    after, want = read_run(out), read_run(files_out)
    if token is not None:  # the token sorts elsewhere among the ids than the id did: the
        # plan of parts is read in the plan's order, the file keeps the row where it was
        assert after.followups is not None and want.followups is not None
        want.followups = (
            want.followups.set_index("customer_id", drop=False)
            .loc[after.followups["customer_id"]]
            .reset_index(drop=True)
        )
    _assert_same_run(after, want)  # as the run of files, forgotten alike
    for member, folder in FOLDERS.items():  # still parts, the same parts
        assert len(list((out.parent / folder).iterdir())) == PARTS, member
    for table in (after.scores, after.details, after.followups):
        assert table is not None and gone not in set(table["customer_id"])
    if token is not None:
        assert after.followups is not None
        row = after.followups.loc[after.followups["customer_id"] == token]
        assert len(row) == 1 and row["name_masked"].isna().all()
    assert forget_in_run(out, gone) == {}  # nothing left to forget: nothing written


def test_forget_customer_searches_every_table_of_parts(scored: ScoringRun, tmp_path: Path) -> None:
    out = tmp_path / "runs" / "2026-10" / "scores.csv"
    _parted(scored, out).write(out)
    assert scored.followups is not None
    gone = str(scored.followups["customer_id"].iloc[0])
    result = forget_customer(gone, tmp_path / "runs")
    counts = next(iter(result.runs.values()))
    assert {"scores", "details", "followups"} <= set(counts)
    assert result.remaining == []  # no part is left as "not searched"


def test_encrypted_parts_hold_no_plaintext(
    scored: ScoringRun, as_files: ScoringRun, tmp_path: Path
) -> None:
    keyfile = tmp_path / "keys.json"
    add_key(keyfile, new_key(ENCRYPTION))
    out = tmp_path / "run" / "scores.csv"
    scored.write(out)  # a clear run of files, written over
    with protected_outputs(encrypt=True, keyfile=keyfile):
        _parted(scored, out).write(out)
    clear = [p for p in out.parent.rglob("*") if p.is_file() and not p.name.endswith(".enc")]
    assert [p.name for p in clear] == [".custrisk.lock"]
    for folder in FOLDERS.values():
        names = sorted(p.name for p in (out.parent / folder).iterdir())
        assert names == [f"part-0000{i}.parquet.enc" for i in range(PARTS)]
        for path in (out.parent / folder).iterdir():
            assert b"PAR1" not in path.read_bytes()[:64]
    with pytest.raises(DataError, match="key"):
        read_run(out)
    with protected_outputs(keyfile=keyfile):
        _assert_same_run(read_run(out), as_files)


def test_a_backup_restores_a_run_of_parts(
    scored: ScoringRun, as_files: ScoringRun, tmp_path: Path
) -> None:
    out = tmp_path / "runs" / "2026-10" / "scores.csv"
    _parted(scored, out).write(out)
    archive = create_backup({"runs": tmp_path / "runs"}, tmp_path / "backups").archive
    restore_backup(archive, tmp_path / "restored")
    _assert_same_run(read_run(tmp_path / "restored" / "runs" / "2026-10"), as_files)


def test_a_previous_run_of_parts_is_read_for_the_columns_the_rules_read(
    scored: ScoringRun, as_files: ScoringRun, tmp_path: Path
) -> None:
    """--previous of a run of millions of customers: the policy reads five columns of
    its scores and, for a prev_<name> in a new_when, <name> of its details; each part
    is cut to them as it is read (checked whole first)."""
    from custrisk.policy import load_alert_rules, load_policy, previous_read
    from custrisk.results import read_previous_run

    out = tmp_path / "scores.csv"
    _parted(scored, out).write(out)
    columns = previous_read(load_alert_rules(policy=load_policy()))
    assert columns["details"] == {"overdue_amount", "ind__overdue_amount"}  # alerts.yaml
    previous = read_previous_run(out, details=True, columns=columns)
    assert set(previous.scores.columns) == {
        "customer_id",
        "as_of",
        "pd",
        "score",
        "grade",
        "recommended_limit",
    }  # pd: a scores file's required column
    assert set(previous.details.columns) == {"customer_id", "overdue_amount"}
    want = as_files.scores.loc[:, list(previous.scores.columns)]
    pd.testing.assert_frame_equal(_by_id(previous.scores), _by_id(want))
    # a part holding raw personal data (listed as the run's: its hash in the facts) is
    # refused, although that column is not kept
    part = tmp_path / DETAILS / "part-00001.parquet"
    pd.read_parquet(part).assign(name="张伟").to_parquet(part)
    facts_path = tmp_path / "scores.run.json"
    facts = json.loads(facts_path.read_text(encoding="utf-8"))
    entry = facts["files"]["details"]
    entry["parts"][1]["sha256"] = hashlib.sha256(part.read_bytes()).hexdigest()
    entry["parts"][1]["bytes"] = part.stat().st_size
    entry["sha256"] = parts_digest(entry["parts"])
    facts[FACTS_DIGESTS] = facts_digests(facts)  # (a forger's: the facts' digests redone)
    facts_path.write_text(json.dumps(facts), encoding="utf-8")
    with pytest.raises(DataError, match="unmasked personal data"):
        read_previous_run(out, details=True, columns=columns)
