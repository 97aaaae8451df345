"""A run's files are written as one unit and read back only when they belong together."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.errors import DataError
from custrisk.io.lock import exclusive_lock
from custrisk.report.fonts import WORK_PREFIX, font_work_dir
from custrisk.results import (
    LOCK_FILE,
    PARTS,
    ScoringRun,
    details_of,
    read_previous_scores,
    read_run,
    run_files,
)
from custrisk.scoring import score_portfolio

MAKE_RUN = """
import numpy as np, pandas as pd
from custrisk.results import ALERT_COLUMNS, ScoringRun

def make_run(tag: str, n: int = 2000) -> ScoringRun:
    ids = [f"C{i:05d}" for i in range(n)]
    rng = np.random.default_rng(len(tag))
    scores = pd.DataFrame({"customer_id": ids, "as_of": "2026-10-31",
                           "pd": rng.random(n).round(6), "score": rng.integers(400, 700, n),
                           "model_id": tag})
    details = pd.DataFrame({"customer_id": ids, "ind__x": rng.random(n), "tag": tag})
    alerts = pd.DataFrame({c: [tag] * 3 for c in ALERT_COLUMNS})
    alerts["customer_id"] = ids[:3]
    alerts["level"] = "red"
    alerts["response_hours"] = 24
    return ScoringRun(scores, details, alerts, {"model_id": tag})
"""
namespace: dict[str, object] = {}
exec(MAKE_RUN, namespace)  # noqa: S102 - the same helper runs in the killed subprocess
make_run = namespace["make_run"]


def _tag(run: ScoringRun) -> set[str]:
    """Which run each table came from."""
    return {
        *run.scores["model_id"].unique(),
        *run.details["tag"].unique(),
        *run.alerts["code"].unique(),
        run.facts["model_id"],
    }


def test_a_run_reads_back_as_written_with_its_files_listed(tmp_path: Path) -> None:
    run = make_run("A")  # type: ignore[operator]
    files = run.write(tmp_path / "out" / "scores.csv")
    back = read_run(files.scores)
    assert _tag(back) == {"A"}
    pd.testing.assert_frame_equal(back.scores, run.scores, check_dtype=False)
    facts = json.loads(files.facts.read_text(encoding="utf-8"))
    assert set(facts["files"]) == {"scores", "details", "alerts"}  # no rejects: none listed
    assert facts["run_id"] == back.run_id and len(back.run_id or "") == 16
    again = make_run("A").write(tmp_path / "again" / "scores.csv")  # type: ignore[operator]
    for part in ("scores", "details", "alerts"):
        assert again.part(part).read_bytes() == files.part(part).read_bytes()
    assert again.facts.read_bytes() == files.facts.read_bytes()
    assert stat_mode(files.folder) == 0o700
    assert all(stat_mode(files.part(p)) == 0o600 for p in ("scores", "details", "alerts"))


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_files_of_two_runs_are_never_read_as_one(tmp_path: Path, runner: CliRunner) -> None:
    a = make_run("A").write(tmp_path / "a" / "scores.csv")  # type: ignore[operator]
    b = make_run("B").write(tmp_path / "b" / "scores.csv")  # type: ignore[operator]
    a.scores.write_bytes(b.scores.read_bytes())  # what a crash between two writes left
    with pytest.raises(DataError, match=r"scores.csv does not belong to the run described"):
        read_run(a.scores)
    with pytest.raises(DataError, match=r"does not belong"):
        read_previous_scores(a.scores)
    for args in (
        ["alerts", str(a.scores)],
        ["report", str(a.scores), "--out", str(tmp_path / "r")],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "does not belong to the run described by scores.run.json" in " ".join(
            result.stderr.split()
        )
    assert not (tmp_path / "r").exists()


KILL_AFTER_REPLACES = """
import os, signal, sys
sys.path.insert(0, os.environ["SRC"])
exec(os.environ["MAKE_RUN"])
calls = 0
real_replace = os.replace
def replace(a, b):
    global calls
    if calls == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9: no cleanup runs
    calls += 1
    return real_replace(a, b)
os.replace = replace
make_run("B").write(sys.argv[1])
"""


@pytest.mark.parametrize("replaces", range(5))
def test_a_run_killed_at_any_point_is_never_read_mixed(tmp_path: Path, replaces: int) -> None:
    out = tmp_path / "scores.csv"
    make_run("A").write(out)  # type: ignore[operator]
    env = {**os.environ, "SRC": str(Path(__file__).parents[1] / "src"), "MAKE_RUN": MAKE_RUN}
    done = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_REPLACES, str(out), str(replaces)],
        env=env,
        timeout=120,
        check=False,
    )
    if replaces < 4:
        assert done.returncode == -signal.SIGKILL
    try:
        found = _tag(read_run(out))
    except DataError as exc:
        assert "the run did not finish" in str(exc)
        found = set()
    assert found in ({"A"}, {"B"}, set())  # the old run, the new one, or refused: never mixed
    if replaces < 4:
        assert list(tmp_path.glob(".custrisk-stage-*"))  # what the kill left behind
    make_run("C").write(out)  # type: ignore[operator]
    assert _tag(read_run(out)) == {"C"}
    assert not list(tmp_path.glob(".custrisk-stage-*"))


def test_temporary_files_of_a_killed_run_are_removed_by_the_next(tmp_path: Path) -> None:
    files = run_files(tmp_path / "scores.parquet")
    stale_tmp = tmp_path / ".alerts.csv.k1ll3d.tmp"
    stale_tmp.write_text("customer data of a killed run", encoding="utf-8")
    stage = tmp_path / ".custrisk-stage-old"
    stage.mkdir()
    (stage / "scores.parquet").write_bytes(b"half")
    other = tmp_path / ".notes.txt.abc.tmp"  # not ours: left alone
    other.write_text("x", encoding="utf-8")
    make_run("A").write(files.scores)  # type: ignore[operator]
    assert not stale_tmp.exists() and not stage.exists()
    assert other.exists()
    assert _tag(read_run(tmp_path)) == {"A"}  # the folder holds one run


def test_a_runs_folder_of_months_names_a_month_to_pass(tmp_path: Path) -> None:
    """custrisk followups / notify / alerts runs: not a bare 'holds no run'."""
    for month in ("2026-09", "2026-10"):
        make_run("A").write(tmp_path / month / "scores.csv")  # type: ignore[operator]
    with pytest.raises(DataError, match=r"holds no run .*pass one, e\.g\. .*2026-10$"):
        read_run(tmp_path)


HOLD_LOCK = """
import sys
from custrisk.io.lock import exclusive_lock
with exclusive_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_second_run_into_a_folder_being_written_is_refused(
    tmp_path: Path, runner: CliRunner, export_200: Path, models_200: Path
) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(folder / LOCK_FILE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        try:
            result = runner.invoke(
                app,
                ["score", str(export_200), "-m", "logistic", "--models-dir", str(models_200)]
                + ["-o", str(folder / "scores.csv")],
            )
        finally:
            holder.communicate("")
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert f"in use by another custrisk process (pid {holder.pid}, host" in message
    assert not list(folder.glob("scores*"))
    with exclusive_lock(folder / LOCK_FILE) as held:  # released by the dead holder
        assert not held.taken_over


def test_every_part_is_checked_and_missing_parts_are_named(tmp_path: Path) -> None:
    files = make_run("A").write(tmp_path / "scores.csv")  # type: ignore[operator]
    files.details.unlink()
    with pytest.raises(DataError, match=r"the details file of the run is missing"):
        read_run(files.scores)
    with pytest.raises(DataError, match=r"the details file of the run is missing"):
        read_run(files.scores, parts=("scores",))  # every file must be there, read or not
    files.facts.unlink()
    with pytest.raises(DataError, match=r"no run facts \(scores.run.json\).*did not finish"):
        read_run(files.scores)


def test_rejects_are_part_of_the_run_and_a_stale_rejects_file_goes(tmp_path: Path) -> None:
    run = make_run("A")  # type: ignore[operator]
    run.rejects = pd.DataFrame({"source": ["credit"], "line": [3], "value": ["张**"]})
    files = run.write(tmp_path / "scores.csv")
    assert files.rejects.is_file()
    back = read_run(files.scores, parts=PARTS)
    assert back.rejects is not None and back.rejects["value"].tolist() == ["张**"]
    make_run("B").write(files.scores)  # type: ignore[operator]
    assert not files.rejects.exists()  # the new run rejected nothing


def test_font_folders_of_dead_report_runs_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f"{WORK_PREFIX}999999999-abc"
    dead.mkdir()
    (dead / "subset.otf").write_bytes(b"font")
    alive = tmp_path / f"{WORK_PREFIX}{os.getppid()}-xyz"  # our parent: alive
    alive.mkdir()
    made = font_work_dir(tmp_path)
    assert not dead.exists() and alive.exists() and made.is_dir()
    assert made.name.startswith(f"{WORK_PREFIX}{os.getpid()}-")
    assert stat_mode(made) == 0o700


def test_a_credit_column_the_export_leaves_blank_stays_text_in_the_details(
    tmp_path: Path, export_200: Path, models_200: Path
) -> None:
    # (a column of missing values only was read back as objects: its type depended on
    # its values, and so differed between two buckets of a Dask run)
    export = tmp_path / "export"
    shutil.copytree(export_200, export)
    credit = pd.read_csv(export / "credit.csv", dtype=str, keep_default_na=False)
    credit["region"] = ""
    credit.to_csv(export / "credit.csv", index=False)
    score_portfolio(export, "logistic", models_dir=models_200).write(tmp_path / "scores.csv")
    details = read_run(tmp_path / "scores.csv").details
    assert details["region"].isna().all()
    assert details["region"].dtype == "str"
    assert details["industry"].dtype == "str"  # a filled category column, as before


def test_details_of_customers_in_any_order() -> None:
    """Each customer's details in the scores' order: taken as they are when they are in
    that order already, else found by id (first row of an id held twice, blank for an id
    without details), with the same columns and types either way."""
    details = pd.DataFrame(
        {
            "customer_id": pd.Series(["C1", "C2", "C3", "C2"], dtype="str"),
            "credit_limit": [10.0, 20.0, 30.0, 99.0],
            "region": pd.Series(["东", "西", None, "北"], dtype="str"),
        }
    )
    ids = pd.Series(["C1", "C2", "C3", "C2"], dtype="str")
    aligned = details_of(details, ids)
    pd.testing.assert_frame_equal(aligned, details)

    shuffled = pd.Series(["C3", "C9", "C2", "C1"], dtype="str")
    found = details_of(details, shuffled, ["credit_limit", "region"])
    assert found["credit_limit"].tolist()[:1] == [30.0]
    assert np.isnan(found["credit_limit"][1])
    assert found["credit_limit"].tolist()[2:] == [20.0, 10.0]  # C2's first row
    assert found.index.equals(pd.RangeIndex(4))
    assert list(found.columns) == ["credit_limit", "region"]
    as_object = details.assign(customer_id=details["customer_id"].astype(object))
    by_id = details_of(as_object, ids)  # ids of another type: found by id, same values
    assert by_id["credit_limit"].tolist() == [10.0, 20.0, 30.0, 20.0]


def test_details_read_back_value_for_value_with_numbers_written_plain(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    run = make_run("A")  # type: ignore[operator]
    n = len(run.details)
    rng = np.random.default_rng(7)
    impact = rng.normal(size=n)
    impact[::17] = np.nan
    run.details["reason_1_impact"] = impact
    run.details["reason_1_code"] = pd.Categorical(rng.choice(["R01", "R02"], n))
    run.details["ind__orders"] = pd.array(rng.integers(0, 5, n), dtype="Int64")
    files = run.write(tmp_path / "out" / "scores.csv")
    pd.testing.assert_frame_equal(read_run(files.scores).details, run.details, check_dtype=False)
    meta = pq.ParquetFile(files.part("details")).metadata.row_group(0)
    encodings = {
        meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)
    }
    # PDs and impacts are nearly all distinct: a dictionary would be built and dropped
    assert not any("DICTIONARY" in e for e in encodings["reason_1_impact"])
    assert any("DICTIONARY" in e for e in encodings["reason_1_code"])


def test_a_run_reads_back_the_same_from_csv_and_from_parquet(tmp_path: Path) -> None:
    # A customer without an alert has the alert level '' from either format, as
    # score_portfolio gives it (the Parquet scores gave '' where the CSV scores gave a
    # missing value; then both gave missing).
    run = make_run("A", n=4)  # type: ignore[operator]
    run.scores["alert_level"] = ["red", "", "", "yellow"]
    back = {
        fmt: read_run(run.write(tmp_path / fmt / f"scores.{fmt}").scores)
        for fmt in ("csv", "parquet")
    }
    levels = {fmt: back[fmt].scores["alert_level"].tolist() for fmt in back}
    assert levels["csv"] == levels["parquet"] == ["red", "", "", "yellow"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_run_read_back_equals_the_run_in_memory(
    tmp_path: Path, export_200: Path, models_200: Path, fmt: str
) -> None:
    # read_run(run.write(...)) gives the frames score_portfolio gave: the score int64
    # (not float64), reason codes and labels categorical (not text), no alert '' (not
    # missing), customer_since datetime64[s] (not the milliseconds Parquet stores)
    run = score_portfolio(export_200, "logistic", models_dir=models_200)
    assert (run.scores["alert_level"] == "").any()  # a customer without an alert
    back = read_run(run.write(tmp_path / f"scores.{fmt}"))  # the files write returned
    for table in ("scores", "alerts", "followups", "details"):
        pd.testing.assert_frame_equal(getattr(back, table), getattr(run, table), obj=table)


def _edit_facts(files_facts: Path, **changes: object) -> None:
    facts = json.loads(files_facts.read_text(encoding="utf-8"))
    facts.update(changes)
    files_facts.write_text(json.dumps(facts, indent=2), encoding="utf-8")


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"as_of": "2026-09-30"}, "as_of"),
        ({"model_id": "B", "customers": 1999}, "customers, model_id"),
        ({"run_id": "0123456789abcdef"}, "run_id"),
        ({"note": "added by hand"}, "note"),
    ],
)
def test_run_facts_edited_by_hand_are_refused_naming_the_fields(
    tmp_path: Path, runner: CliRunner, changes: dict[str, object], named: str
) -> None:
    files = make_run("A").write(tmp_path / "scores.csv")  # type: ignore[operator]
    _edit_facts(files.facts, **changes)
    message = f"the run facts were edited since custrisk score wrote them: {named} do"
    with pytest.raises(DataError, match=message):
        read_run(files.scores, parts=("alerts",))
    with pytest.raises(DataError, match=message):
        read_previous_scores(files.scores)
    result = runner.invoke(app, ["alerts", str(files.scores)])
    assert result.exit_code == 2, result.output
    said = result.stderr.strip()
    assert len(said.splitlines()) == 1 and "Traceback" not in said
    assert said.startswith(f"Error: {files.facts}: {message}")
    assert said.endswith("score the month again (custrisk score)")


def test_run_facts_without_their_digests_are_refused(tmp_path: Path) -> None:
    files = make_run("A").write(tmp_path / "scores.csv")  # type: ignore[operator]
    facts = json.loads(files.facts.read_text(encoding="utf-8"))
    del facts["facts_sha256"]
    files.facts.write_text(json.dumps(facts), encoding="utf-8")
    with pytest.raises(DataError, match=r"lack the SHA-256 of their fields \(facts_sha256\)"):
        read_run(files.scores)


def test_facts_reformatted_but_not_changed_still_read(tmp_path: Path) -> None:
    files = make_run("A").write(tmp_path / "scores.csv")  # type: ignore[operator]
    facts = json.loads(files.facts.read_text(encoding="utf-8"))
    files.facts.write_text(json.dumps(facts, ensure_ascii=True), encoding="utf-8")
    assert read_run(files.scores).facts == facts


def test_a_run_of_the_previous_release_is_still_read(tmp_path: Path, runner: CliRunner) -> None:
    """Layout 1 (no digests of the facts): read as before, and written as layout 2 again."""
    files = make_run("A").write(tmp_path / "scores.csv")  # type: ignore[operator]
    facts = json.loads(files.facts.read_text(encoding="utf-8"))
    del facts["facts_sha256"]
    facts["layout"] = 1
    files.facts.write_text(json.dumps(facts, indent=2, sort_keys=True), encoding="utf-8")
    back = read_run(files.scores)
    assert _tag(back) == {"A"} and back.facts["layout"] == 1
    assert runner.invoke(app, ["alerts", str(files.scores)]).exit_code == 0
    again = back.write(tmp_path / "again" / "scores.csv")
    assert json.loads(again.facts.read_text(encoding="utf-8"))["layout"] == 2
    assert read_run(again.scores).run_id == back.run_id
    _edit_facts(files.facts, layout=3)
    with pytest.raises(DataError, match=r"unknown layout 3: written by another version"):
        read_run(files.scores)


def test_facts_of_any_json_shape_read_back_as_written(tmp_path: Path) -> None:
    """Number keys and tuples become text keys and lists in JSON: the digests are of
    the facts as read back, so such facts are not taken for edited ones."""
    run = make_run("A")  # type: ignore[operator]
    run.facts["bands"] = {2: "B", 10: "A"}
    run.facts["range"] = (1, 2.5)
    files = run.write(tmp_path / "scores.csv")
    back = read_run(files.scores).facts
    assert back["bands"] == {"2": "B", "10": "A"} and back["range"] == [1, 2.5]


def test_numbers_cast_in_arrow_equal_those_of_to_numeric(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, export_200: Path, models_200: Path
) -> None:
    """The fast parse of a scores file's numbers (Arrow's cast) gives exactly the values,
    dtypes and errors of pandas' to_numeric: the golden run's, a --previous run's (its
    change columns), random doubles written as the scorer writes them, and bad values."""
    from custrisk.io.frame_csv import frame_csv_bytes
    from custrisk.results import read as read_module

    golden = Path(__file__).parent / "golden" / "run" / "scores.csv"
    october, november = tmp_path / "oct" / "scores.csv", tmp_path / "nov" / "scores.csv"
    for out, more in ((october, []), (november, ["--previous", str(october)])):
        args = ["score", str(export_200), "-m", "logistic", "--models-dir", str(models_200)]
        args += ["-o", str(out)]
        result = CliRunner().invoke(app, [*args, *more])
        assert result.exit_code == 0, result.output
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**63, 20_000, dtype=np.uint64).view(np.float64)
    doubles = np.concatenate([bits[np.isfinite(bits)], rng.random(20_000), [0.0, 1e300, 5e-324]])
    doubles *= np.where(rng.random(len(doubles)) < 0.5, -1.0, 1.0)
    random = pd.DataFrame({"customer_id": [f"C{i}" for i in range(len(doubles))]})
    random = random.assign(pd=doubles, score=1, as_of="2026-10-31", grade="A")
    random.loc[3, "pd"] = np.nan
    written = frame_csv_bytes(random)
    assert written is not None  # the scorer's formatting of floats
    random_csv = tmp_path / "random.csv"
    random_csv.write_bytes(written)
    cases = [(p.read_bytes(), p) for p in (golden, november, random_csv)]
    lines = written.decode().split("\n")
    for text in ("-0", "nan", '" 1.5"', '"1,5"', "x"):  # Arrow's cast must not decide these
        bad = [*lines[:6], f"C5,{text},1,2026-10-31,A", *lines[7:]]
        cases.append(("\n".join(bad).encode(), random_csv))
    whole = b"customer_id,pd,score,current_limit\nC1,0.5,500,-0\nC2,0.25,510,1000\n"
    cases.append((whole, random_csv))  # -0 among whole numbers: to_numeric reads 0
    fasts = []
    for data, path in cases:
        fast = _scores_or_error(read_module, data, path)
        fasts.append(fast)
        monkeypatch.setattr(read_module, "_plain_floats", lambda column: None)
        slow = _scores_or_error(read_module, data, path)
        monkeypatch.undo()
        if isinstance(slow, str):
            assert fast == slow
            continue
        assert isinstance(fast, pd.DataFrame)
        pd.testing.assert_frame_equal(fast, slow, check_exact=True)
        for column in fast.select_dtypes("float64"):
            assert np.array_equal(
                fast[column].to_numpy().view(np.int64), slow[column].to_numpy().view(np.int64)
            )
    assert "prev_score" in fasts[1] and isinstance(fasts[2], pd.DataFrame)
    assert np.array_equal(fasts[2]["pd"].to_numpy()[4:], doubles[4:])
    # -0 and " 1.5" are numbers to to_numeric (not to Arrow), the rest refused as before
    assert [isinstance(f, str) for f in fasts[3:]] == [False, True, False, True, True, False]


def _scores_or_error(module: object, data: bytes, path: Path) -> pd.DataFrame | str:
    try:
        return module._parse_scores(data, path)  # type: ignore[attr-defined, no-any-return]
    except DataError as exc:
        return str(exc)
