"""`custrisk train`, `score`, `evaluate` and `models` end to end on generated exports."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.registry import MODEL_CARD, MODEL_FILE


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exports")
    result = CliRunner().invoke(
        app, ["sample-data", str(out), "--customers", "3000", "--seed", "5"]
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, exports: Path) -> Path:
    models = tmp_path_factory.mktemp("models")
    for algorithm in ("logistic", "tree"):
        result = CliRunner().invoke(
            app,
            [
                "train",
                str(exports),
                "--labels",
                str(exports / "labels.csv"),
                "--algorithm",
                algorithm,
                "--models-dir",
                str(models),
            ],
        )
        assert result.exit_code == 0, result.output
        assert f"Model id: {algorithm}@1" in result.stdout
    return models


@pytest.mark.parametrize("algorithm", ["logistic", "tree"])
def test_train_then_score(
    runner: CliRunner, exports: Path, registry: Path, tmp_path: Path, algorithm: str
) -> None:
    out = tmp_path / "scores.csv"
    result = runner.invoke(
        app,
        [
            "score",
            str(exports),
            "--model",
            algorithm,
            "--models-dir",
            str(registry),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out, dtype={"customer_id": str})
    credit = pd.read_csv(exports / "credit.csv", dtype={"customer_id": str})
    assert scores["customer_id"].tolist() == credit["customer_id"].tolist()
    assert list(scores.columns[:4]) == ["customer_id", "as_of", "pd", "score"]
    assert {"reason_1_code", "reason_1_label", "reason_3_code", "model_id"} <= set(scores)
    assert set(scores["model_id"]) == {f"{algorithm}@1"}
    assert scores["pd"].between(0, 1).all()
    # Higher score, lower PD: the scale runs the right way.
    assert scores["pd"].corr(scores["score"], method="spearman") < -0.9
    card = json.loads((registry / algorithm / "1" / MODEL_CARD).read_text(encoding="utf-8"))
    assert card["metrics"]["holdout"]["auc"] > 0.7
    assert set(card["reference"]["features"]) == set(card["candidate_features"])
    assert card["training"]["input_files_sha256"]["credit.csv"]


def test_scores_are_byte_identical_across_runs(
    runner: CliRunner, exports: Path, registry: Path, tmp_path: Path
) -> None:
    paths = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for path in paths:
        result = runner.invoke(
            app,
            [
                "score",
                str(exports),
                "--model",
                "logistic@1",
                "--models-dir",
                str(registry),
                "--out",
                str(path),
            ],
        )
        assert result.exit_code == 0
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_same_seed_same_metrics(runner: CliRunner, exports: Path, tmp_path: Path) -> None:
    cards = []
    for _ in range(2):
        result = runner.invoke(
            app,
            [
                "train",
                str(exports),
                "--labels",
                str(exports / "labels.csv"),
                "--models-dir",
                str(tmp_path),
                "--name",
                "again",
            ],
        )
        assert result.exit_code == 0, result.output
    for version in (1, 2):
        card = json.loads((tmp_path / "again" / str(version) / MODEL_CARD).read_text())
        cards.append(card)
    assert cards[0]["metrics"] == cards[1]["metrics"]
    assert cards[0]["model"] == cards[1]["model"]


def test_tampered_model_is_refused_with_exit_2(
    runner: CliRunner, exports: Path, registry: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(registry / "logistic" / "1", copy)
    artifact = copy / MODEL_FILE
    data = bytearray(artifact.read_bytes())
    data[100] ^= 0xFF
    artifact.write_bytes(bytes(data))
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["score", str(exports), "--model", str(copy), "--out", str(out)])
    assert result.exit_code == 2
    assert "model.joblib: SHA-256 check failed" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


def test_models_list_show_and_evaluate(runner: CliRunner, exports: Path, registry: Path) -> None:
    listed = runner.invoke(app, ["models", "list", "--models-dir", str(registry)])
    assert listed.exit_code == 0
    assert "logistic@1" in listed.stdout and "tree@1" in listed.stdout
    shown = runner.invoke(app, ["models", "show", "tree", "--models-dir", str(registry), "--json"])
    assert json.loads(shown.stdout)["model_id"] == "tree@1"
    evaluated = runner.invoke(
        app,
        [
            "evaluate",
            "logistic@1",
            str(exports),
            "--labels",
            str(exports / "labels.csv"),
            "--models-dir",
            str(registry),
        ],
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "AUC" in evaluated.stdout and "training hold-out" in evaluated.stdout


def test_unknown_model_and_bad_algorithm(
    runner: CliRunner, exports: Path, registry: Path, tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "score",
            str(exports),
            "--model",
            "nope",
            "--models-dir",
            str(registry),
            "--out",
            str(tmp_path / "s.csv"),
        ],
    )
    assert result.exit_code == 2
    assert "no model named 'nope'" in result.stderr
    result = runner.invoke(
        app,
        [
            "train",
            str(exports),
            "--labels",
            str(exports / "labels.csv"),
            "--algorithm",
            "forest",
            "--models-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert "--algorithm must be one of logistic, tree; got 'forest'" in result.stderr


def test_single_customer_scoring_matches_batch(exports: Path, registry: Path) -> None:
    from custrisk.modeling import open_model, prepare_features, score_customer, score_features
    from custrisk.modeling.pipeline import model_indicator_config

    model = open_model("logistic@1", registry)
    features = prepare_features(exports, indicator_config=model_indicator_config(model))
    batch = score_features(model, features.X.iloc[:20], as_of=features.as_of)
    for i in range(20):
        row = features.X.iloc[i].to_dict()
        one = score_customer(model, row)
        assert one["score"] == batch["score"].iloc[i]
        assert one["pd"] == pytest.approx(batch["pd"].iloc[i], abs=1e-6)


def test_score_writes_masked_details_and_run_facts(
    runner: CliRunner, exports: Path, registry: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.parquet"
    result = runner.invoke(
        app,
        [
            "score",
            str(exports),
            "--model",
            "logistic@1",
            "--models-dir",
            str(registry),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    details = pd.read_parquet(tmp_path / "scores.details.parquet")
    run = json.loads((tmp_path / "scores.run.json").read_text(encoding="utf-8"))
    credit = pd.read_csv(exports / "credit.csv", dtype=str)
    assert len(details) == len(credit)
    assert details["phone_masked"].str.fullmatch(r"1\d\d\*{4}\d{4}").all()
    assert not set(credit["phone"]) & set(details["phone_masked"])
    assert (details["name_masked"].str.len() == 3).all()
    assert run["model_id"] == "logistic@1" and run["customers"] == len(credit)
    assert "ind__utilisation" in details and run["indicators"]["utilisation"]["zh"]
