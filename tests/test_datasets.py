"""A source's export as a dataset folder — Parquet (or CSV) parts in sub-folders, as
Spark, Hive and most lakes write them — read as the flat export is, and its hive
folders (``txn_type=order/``) giving the declared column they name its value (issue 16
item 1; the Dask engine reads the same folders: tests/test_dask_engine.py)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.data.workspace import Workspace, load_workspace
from custrisk.errors import DataError
from tests._support import hive_dataset


def _by_key(workspace: Workspace, name: str) -> pd.DataFrame:
    frame = workspace.frames[name]
    key = "customer_id" if name == "credit" else frame.columns[0]
    frame = frame.sort_values(key, kind="stable").reset_index(drop=True)
    return frame.astype(dict.fromkeys(frame.select_dtypes("category").columns, "str"))


def test_a_hive_partitioned_dataset_reads_as_the_flat_export(
    tmp_path: Path, export_200: Path
) -> None:
    """Every row of the flat export, each with the value of its folder, and no row
    from the marker files."""
    dataset = hive_dataset(export_200, tmp_path / "dataset")
    want = load_workspace(export_200)
    got = load_workspace(dataset)
    for name in ("credit", "transactions", "behaviour"):
        pd.testing.assert_frame_equal(_by_key(got, name), _by_key(want, name), obj=name)
        assert got.report.sources[name].rows_in == want.report.sources[name].rows_in
    parts = sorted((dataset / "transactions").glob("txn_type=*/*.parquet"))
    assert len(parts) >= 3
    assert got.report.sources["transactions"].files == tuple(str(p) for p in parts)


def test_scores_of_a_dataset_are_the_flat_exports(
    tmp_path: Path, export_200: Path, models_200: Path, runner: CliRunner
) -> None:
    """``custrisk score`` on the dataset writes the flat export's scores, alerts and
    follow-ups byte for byte, and its details to the last bits of a mean (the dataset's
    rows come folder by folder, and a sum in another order can differ in its last bit)."""
    dataset = hive_dataset(export_200, tmp_path / "dataset")
    for data, out in ((export_200, "flat"), (dataset, "dataset")):
        args = ["score", str(data), "-m", "logistic", "--models-dir", str(models_200)]
        result = runner.invoke(app, [*args, "--out", str(tmp_path / out / "scores.csv")])
        assert result.exit_code == 0, result.output
    for name in ("scores.csv", "alerts.csv", "followups.csv"):
        flat = (tmp_path / "flat" / name).read_bytes()
        assert (tmp_path / "dataset" / name).read_bytes() == flat, name
    details = [
        pd.read_parquet(tmp_path / out / "scores.details.parquet") for out in ("flat", "dataset")
    ]
    pd.testing.assert_frame_equal(details[1], details[0], check_exact=False, rtol=1e-12)


def test_hive_values_are_decoded_and_a_files_own_column_wins(
    tmp_path: Path, export_200: Path
) -> None:
    """``%20`` and the like are decoded as Hive writes them, Hive's missing value is a
    missing value, a folder naming no declared column is a name only, and a file that
    holds the column keeps its own values."""
    frame = pd.read_csv(export_200 / "transactions.csv", dtype=str, keep_default_na=False)
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(export_200 / "credit.csv", folder / "credit.csv")
    thirds = [frame.iloc[i::3] for i in range(3)]
    layout = {
        "batch=1/channel=online%20shop": thirds[0].drop(columns="channel"),
        "batch=2/channel=__HIVE_DEFAULT_PARTITION__": thirds[1].drop(columns="channel"),
        "batch=3/channel=ignored": thirds[2],  # holds its own channel column
    }
    for sub, rows in layout.items():
        (folder / "transactions" / sub).mkdir(parents=True)
        pq.write_table(
            pa.Table.from_pandas(rows, preserve_index=False),
            folder / "transactions" / sub / "part-0.parquet",
        )
    channel = load_workspace(folder).frames["transactions"].set_index("txn_id")["channel"]
    assert set(channel[thirds[0]["txn_id"]]) == {"online shop"}
    assert channel[thirds[1]["txn_id"]].isna().all()
    own = channel[thirds[2]["txn_id"]]
    assert (own.astype("str") == thirds[2]["channel"].to_numpy()).all()
    assert "batch" not in load_workspace(folder).frames["transactions"].columns


@pytest.mark.parametrize("content", [(), ("_SUCCESS", ".hidden.csv")])
def test_a_dataset_folder_without_data_files_is_one_line(
    tmp_path: Path, export_200: Path, runner: CliRunner, content: tuple[str, ...]
) -> None:
    """An empty folder (or one with only markers) where a source's export should be is
    an error naming it, never an absent source."""
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(export_200 / "credit.csv", folder / "credit.csv")
    (folder / "transactions").mkdir()
    for name in content:
        (folder / "transactions" / name).write_text("txn_id\nT1\n")
    result = runner.invoke(app, ["validate", str(folder), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    line = f"{folder / 'transactions'}: is a folder with no export file in it"
    assert re.search(re.escape(line), result.stderr), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_a_hive_value_the_column_does_not_allow_is_rejected_naming_its_part(
    tmp_path: Path, export_200: Path
) -> None:
    """A folder's value is cleaned by its column's rules like any value, and each
    reject names its part by its path in the exports folder (every part is
    ``part-00000.parquet``)."""
    dataset = hive_dataset(export_200, tmp_path / "dataset")
    (dataset / "transactions" / "txn_type=refund").rename(
        dataset / "transactions" / "txn_type=wire"
    )
    workspace = load_workspace(dataset)
    refunds = pd.read_csv(export_200 / "transactions.csv", dtype=str).query("txn_type == 'refund'")
    rejects = workspace.rejects.query("rule == 'not_allowed'")
    assert len(rejects) == len(refunds) > 0
    assert set(rejects["file"]) == {"transactions/txn_type=wire/part-00000.parquet"}
    assert set(rejects["value"]) == {"wire"}
    assert sorted(rejects["line"]) == list(range(1, len(refunds) + 1))
    kept = workspace.frames["transactions"]["txn_id"]
    assert not kept.isin(refunds["txn_id"]).any()


def _text_parquet(csv: Path, out: Path) -> None:
    """A CSV export saved as Parquet of text columns (as a spreadsheet tool saves it)."""
    pd.read_csv(csv, dtype="str").to_parquet(out)


def test_an_export_saved_in_another_format_is_read_in_its_place_and_said(
    export_200: Path, models_200: Path, tmp_path: Path
) -> None:
    """transactions.parquet where the config names transactions.csv: read, and the
    source's report says so (it was left out as absent: every transaction indicator
    missing from the scores, status clean)."""
    want = load_workspace(export_200)
    folder = tmp_path / "exports"
    shutil.copytree(export_200, folder)
    _text_parquet(folder / "transactions.csv", folder / "transactions.parquet")
    (folder / "transactions.csv").unlink()
    got = load_workspace(folder)
    report = got.report.sources["transactions"]
    assert [Path(f).name for f in report.files] == ["transactions.parquet"]
    assert "no transactions.csv in the folder: read transactions.parquet in its place" in (
        report.warnings
    )
    pd.testing.assert_frame_equal(got.frames["transactions"], want.frames["transactions"])
    out = tmp_path / "run" / "scores.csv"
    scored = CliRunner().invoke(
        app,
        ["score", str(folder), "-m", "logistic", "--models-dir", str(models_200), "-o", str(out)],
    )
    assert scored.exit_code == 0, scored.output
    assert "Warning: transactions: no transactions.csv in the folder: read " in scored.stderr
    # the file the config names comes first, without a word
    shutil.copy(export_200 / "transactions.csv", folder / "transactions.csv")
    again = load_workspace(folder).report.sources["transactions"]
    assert [Path(f).name for f in again.files] == ["transactions.csv"]
    assert not again.warnings


def test_two_exports_in_other_formats_are_an_error_naming_both(
    export_200: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "exports"
    shutil.copytree(export_200, folder)
    _text_parquet(folder / "behaviour.csv", folder / "behaviour.parquet")
    (folder / "behaviour.csv").rename(folder / "behaviour.txt")
    with pytest.raises(
        DataError, match=r"no behaviour\.csv, and 2 exports named as it in another case or format"
    ):
        load_workspace(folder)


def test_an_export_named_in_other_letters_is_read_and_said(
    export_200: Path, tmp_path: Path
) -> None:
    """Transactions.CSV (copied from Windows, whose file names ignore case) where the
    config names transactions.csv: read, and said; it was an absent source here."""
    folder = tmp_path / "exports"
    shutil.copytree(export_200, folder)
    (folder / "transactions.csv").rename(folder / "Transactions.CSV")
    got = load_workspace(folder)
    report = got.report.sources["transactions"]
    assert [Path(f).name for f in report.files] == ["Transactions.CSV"]
    assert "no transactions.csv in the folder: read Transactions.CSV in its place" in (
        report.warnings
    )
    assert len(got.frames["transactions"]) == len(load_workspace(export_200).frames["transactions"])
