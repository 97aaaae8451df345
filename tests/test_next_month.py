"""Next month's export is not last month's: a feature column exported empty is refused
by score instead of scoring every customer in the 'missing' bin; drift reports it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner, Result

from custrisk.cli import app
from tests._support import with_blank


def _invoke(*args: object) -> Result:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def test_a_feature_column_exported_empty_is_refused_by_score_and_reported_by_drift(
    export_200: Path, models_200: Path, tmp_path: Path
) -> None:
    data = with_blank(export_200, tmp_path / "data", "bureau_score")
    out = tmp_path / "scores.csv"
    model = ["--model", "logistic", "--models-dir", models_200]
    result = _invoke("score", data, *model, "--out", out)
    assert result.exit_code == 2, result.output
    assert (
        "blank (or unreadable) for all 200 customers here but filled for most in training: 'bureau_score'"
        in (result.stderr)
    )
    assert "export it again with its values" in " ".join(result.stderr.split())
    assert not out.exists()
    result = _invoke("drift", data, *model, "--fail-on", "never")
    assert result.exit_code == 0, result.output
    assert "bureau_score" in result.output


def test_a_feature_blank_for_some_customers_still_scores(
    export_200: Path, models_200: Path, tmp_path: Path
) -> None:
    data = with_blank(export_200, tmp_path / "data", "bureau_score", slice(0, 150))
    out = tmp_path / "scores.csv"
    result = _invoke("score", data, "--model", "logistic", "--models-dir", models_200, "-o", out)
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 200
