"""`custrisk validate` on generated exports: the issue's acceptance checks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from custrisk.cli import app

SAMPLE_DATA = Path(__file__).parent.parent / "sample_data"


@pytest.fixture(scope="module")
def dirty_gbk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dirty") / "exports"
    result = CliRunner().invoke(
        app,
        [
            "sample-data",
            str(out),
            "--customers",
            "800",
            "--seed",
            "11",
            "--dirty",
            "--encoding",
            "gbk",
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def test_committed_sample_data_is_clean(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(SAMPLE_DATA), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "validation_report.json").read_text(encoding="utf-8"))
    assert report["status"] == "clean"
    assert report["sources"]["credit"]["rows_kept"] == 500


def test_dirty_gbk_export_every_fault_is_found(
    runner: CliRunner, tmp_path: Path, dirty_gbk: Path
) -> None:
    result = runner.invoke(
        app, ["validate", str(dirty_gbk), "--out", str(tmp_path), "--format", "json"]
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    for name, source in report["sources"].items():
        assert source["rows_in"] == source["rows_kept"] + source["rows_rejected"], name
        assert source["encodings"] == ["gb18030"] or name != "credit"
    rejects = pd.read_csv(tmp_path / "rejects.csv", dtype=str, keep_default_na=False)
    faults = pd.read_csv(dirty_gbk / "faults.csv", dtype=str, keep_default_na=False)
    found = set(zip(rejects["file"], rejects["line"], rejects["action"], strict=True))
    expected = set(zip(faults["file"], faults["line"], faults["expected_action"], strict=True))
    assert expected <= found
    # Nothing else was touched: every line in rejects.csv is an injected fault.
    assert {(f, line) for f, line, _ in found} == {(f, line) for f, line, _ in expected}
    dropped = faults[faults["expected_action"] == "dropped"]
    for name in ("credit", "transactions", "behaviour"):
        file_faults = dropped[dropped["file"] == f"{name}.csv"]
        assert report["sources"][name]["rows_rejected"] == len(file_faults)
