"""Model features and the data they come from: --sources is honoured by train, score and
evaluate; a feature the data cannot give fails instead of training or scoring on blanks
(issue 10, items 5 and 6)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner, Result

from custrisk.cli import app
from custrisk.config import default_config_path
from custrisk.sample import generate_sample_data
from custrisk.scoring import prepare_features


def _invoke(*args: str) -> Result:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    generate_sample_data(folder, customers=300, seed=11)
    return folder


@pytest.fixture(scope="module")
def fast_model_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = yaml.safe_load(default_config_path("model.yaml").read_text(encoding="utf-8"))
    config["validation"]["cv_folds"] = 0
    path = tmp_path_factory.mktemp("configs") / "model.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, export: Path, fast_model_config: Path) -> Path:
    folder = tmp_path_factory.mktemp("models")
    result = _invoke(
        "train",
        export,
        "--labels",
        export / "labels.csv",
        "-c",
        fast_model_config,
        "--models-dir",
        folder,
    )
    assert result.exit_code == 0, result.output
    return folder


def _without_column(export: Path, target: Path, column: str) -> Path:
    shutil.copytree(export, target)
    credit = pd.read_csv(target / "credit.csv", dtype=str, keep_default_na=False)
    credit.drop(columns=[column]).to_csv(target / "credit.csv", index=False)
    return target


def _card(models: Path) -> dict:
    return json.loads((models / "logistic" / "1" / "model.json").read_text(encoding="utf-8"))


def test_scoring_data_that_lacks_a_model_feature_fails(
    export: Path, models: Path, tmp_path: Path
) -> None:
    card = _card(models)
    assert "bureau_score" in card["features"]
    data = _without_column(export, tmp_path / "data", "bureau_score")
    out = tmp_path / "scores.csv"
    result = _invoke("score", data, "-m", "logistic", "--models-dir", models, "-o", out)
    assert result.exit_code == 2, result.output
    assert "needs feature(s) this data cannot give: bureau_score: credit has no column" in (
        result.stderr
    )
    assert not out.exists()


def test_a_feature_the_model_config_names_fails_training_when_the_data_lacks_it(
    export: Path, fast_model_config: Path, tmp_path: Path
) -> None:
    config = yaml.safe_load(fast_model_config.read_text(encoding="utf-8"))
    config["features"]["include"] = ["bureau_score", "utilisation", "region"]
    model_config = tmp_path / "model.yaml"
    model_config.write_text(yaml.safe_dump(config), encoding="utf-8")
    data = _without_column(export, tmp_path / "data", "bureau_score")
    result = _invoke(
        "train",
        data,
        "--labels",
        data / "labels.csv",
        "-c",
        model_config,
        "--models-dir",
        tmp_path / "models",
    )
    assert result.exit_code == 2, result.output
    assert "names feature(s) this data cannot give: bureau_score" in result.stderr
    assert not (tmp_path / "models").exists()


def test_features_left_out_for_want_of_data_are_reported(
    export: Path, fast_model_config: Path, tmp_path: Path
) -> None:
    data = _without_column(export, tmp_path / "data", "bureau_score")
    models = tmp_path / "models"
    result = _invoke(
        "train",
        data,
        "--labels",
        data / "labels.csv",
        "-c",
        fast_model_config,
        "--models-dir",
        models,
    )
    assert result.exit_code == 0, result.output
    assert "Left out, not in this data (2): bureau_score (credit has no column" in result.stderr
    card = _card(models)
    assert set(card["features_left_out"]) == {"bureau_score", "bureau_score_change_3m"}
    assert "bureau_score" not in card["features"]


def test_train_score_and_evaluate_check_indicators_against_the_given_sources(
    export: Path, fast_model_config: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(export, data)
    credit = pd.read_csv(data / "credit.csv", dtype=str, keep_default_na=False)
    levels = np.array(["本科", "硕士", "大专", "高中"])
    credit["education"] = levels[np.arange(len(credit)) % len(levels)]
    credit.to_csv(data / "credit.csv", index=False)
    sources = yaml.safe_load(default_config_path("sources.yaml").read_text(encoding="utf-8"))
    sources["sources"]["credit"]["columns"]["education"] = {"type": "category"}
    sources_path = tmp_path / "sources.yaml"
    sources_path.write_text(yaml.safe_dump(sources, allow_unicode=True), encoding="utf-8")
    indicators = yaml.safe_load(default_config_path("indicators.yaml").read_text("utf-8"))
    indicators["indicators"]["education"] = {
        "label": {"zh": "学历", "en": "Education"},
        "direction": "none",
        "missing": "keep",
        "field": "education",
    }
    indicators_path = tmp_path / "indicators.yaml"
    indicators_path.write_text(yaml.safe_dump(indicators, allow_unicode=True), "utf-8")
    models = tmp_path / "models"
    result = _invoke(
        "train",
        data,
        "--labels",
        data / "labels.csv",
        "-c",
        fast_model_config,
        "--models-dir",
        models,
        "--sources",
        sources_path,
        "--indicators",
        indicators_path,
    )
    assert result.exit_code == 0, result.output
    card = _card(models)
    assert "education" in card["candidate_features"]
    out = tmp_path / "scores.csv"
    common = ["--models-dir", models, "--sources", sources_path]
    result = _invoke("score", data, "-m", "logistic", "-o", out, *common)
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 300
    result = _invoke("evaluate", "logistic", data, "--labels", data / "labels.csv", *common)
    assert result.exit_code == 0, result.output


def test_an_indicator_whose_column_is_missing_is_unavailable_not_blank(
    export: Path, tmp_path: Path
) -> None:
    data = _without_column(export, tmp_path / "data", "bureau_score")
    features = prepare_features(data)
    assert features.unavailable["bureau_score"] == "credit has no column bureau_score"
    assert "bureau_score_change_3m" in features.unavailable
    assert "bureau_score" in features.workspace.frames["credit"]  # still blank for reports


def test_labels_written_as_words_train_the_model_the_numbers_train(
    export: Path, models: Path, fast_model_config: Path, tmp_path: Path
) -> None:
    """A labels file exported as 是/否 (a CRM's yes/no field) gives the model the 0/1 file
    gives; a label neither 1/0 nor such a word is left out with a warning saying why."""
    labels = pd.read_csv(export / "labels.csv", dtype=str, keep_default_na=False)
    words = labels.assign(bad=labels["bad"].map({"1": "是", "0": "否"}))
    words.loc[words.index[0], "bad"] = "待核实"  # (不详, like 未知, is a blank)
    path = tmp_path / "labels_words.csv"
    words.to_csv(path, index=False)
    args = ["train", export, "--labels", path, "-c", fast_model_config]
    result = _invoke(*args, "--models-dir", tmp_path / "m")
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert (
        "Warning: 1 label row was rejected and not trained on "
        "(bad: not a number: 1 row, e.g. '待核实')"
    ) in said
    numbers = labels.iloc[1:]
    numbers.to_csv(tmp_path / "labels_numbers.csv", index=False)
    args = ["train", export, "--labels", tmp_path / "labels_numbers.csv", "-c", fast_model_config]
    assert _invoke(*args, "--models-dir", tmp_path / "n").exit_code == 0
    from_words, from_numbers = _card(tmp_path / "m"), _card(tmp_path / "n")
    assert from_words["training"]["label_rows_rejected"] == 1
    assert from_words["training"]["bads"] == from_numbers["training"]["bads"] > 0
    assert from_words["model"] == from_numbers["model"]


def test_labels_none_of_which_is_usable_are_named_as_such(export: Path, tmp_path: Path) -> None:
    labels = pd.read_csv(export / "labels.csv", dtype=str, keep_default_na=False)
    path = tmp_path / "labels.csv"
    labels.assign(bad="unknown").to_csv(path, index=False)
    result = _invoke("train", export, "--labels", path, "--models-dir", tmp_path / "m")
    said = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert f"every one of the {len(labels):,} label rows was rejected" in said
    assert "none of the label ids" not in said


def test_labels_with_a_handful_of_bads_are_refused_not_an_internal_error(
    export: Path, tmp_path: Path
) -> None:
    """Five labelled customers (a pilot's first outcomes): exit 2 saying how many of
    each there are and how many are needed, not scikit-learn's split error (exit 3)."""
    labels = pd.read_csv(export / "labels.csv", dtype=str, keep_default_na=False)
    path = tmp_path / "labels.csv"
    labels.head(5).assign(bad=["1", "0", "1", "0", "1"]).to_csv(path, index=False)
    result = _invoke("train", export, "--labels", path, "--models-dir", tmp_path / "m")
    said = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert (
        "too few labelled customers to train on: 3 bads and 2 goods labelled, fewer than "
        "the 10 of each the hold-out and 5-fold cross-validation need"
    ) in said


def test_evaluate_says_what_its_figures_leave_out(
    export: Path, models: Path, tmp_path: Path
) -> None:
    """Blank and repeated labels are left out of evaluate's figures, and it says so as
    train does; its band table is of the new data, not the training hold-out."""
    labels = pd.read_csv(export / "labels.csv", dtype=str, keep_default_na=False)
    labels.loc[:19, "bad"] = ""
    repeated = labels.iloc[30:40].assign(bad=lambda f: np.where(f["bad"] == "1", "0", "1"))
    path = tmp_path / "labels.csv"
    pd.concat([labels, repeated]).to_csv(path, index=False)
    result = _invoke("evaluate", "logistic", export, "--labels", path, "--models-dir", models)
    said = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert f"on {len(labels) - 20:,} labelled customers" in said
    assert "Warning: 20 customers have no label" in said
    assert "30 label rows were rejected and not measured on" in said
    assert "By score band (new data)" in said and "(hold-out)" not in said


def test_a_hold_out_of_few_bads_is_said_to_give_rough_figures(
    export: Path, fast_model_config: Path, tmp_path: Path
) -> None:
    """300 customers: the hold-out holds a handful of bads, fewer than the minimum drift
    judges a model on, so its AUC and KS (which drift compares months with) are rough."""
    args = ["train", export, "--labels", export / "labels.csv", "-c", fast_model_config]
    result = _invoke(*args, "--models-dir", tmp_path / "m")
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    bads = int(_card(tmp_path / "m")["metrics"]["holdout"]["n_bad"])
    assert f"{bads} bads and " in said and "in the hold-out, fewer than drift.yaml's" in said
    assert "the hold-out's AUC and KS are rough" in said


@pytest.mark.parametrize(
    ("table", "options", "message"),
    [
        (True, {}, r"is one table: name its outcome column with --target.*--target 是否违约"),
        (True, {"target": "是否违约", "labels": "l.csv"}, r"--labels does not apply to a flat"),
        (False, {"labels": "l.csv", "target": "bad"}, r"--target applies to a flat table"),
        (False, {}, r"--labels is required with a folder of exports"),
    ],
)
def test_train_options_that_do_not_fit_the_input_are_refused(
    tmp_path: Path, table: bool, options: dict[str, str], message: str
) -> None:
    from custrisk.errors import UsageError
    from custrisk.scoring.train import check_training_options

    data = tmp_path / "table.csv" if table else tmp_path
    if table:
        data.write_text("客户编号,年龄,是否违约\nC1,30,0\nC2,41,1\n", encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        check_training_options(data, **options)


def test_train_options_that_fit_say_which_input_it_is(tmp_path: Path) -> None:
    from custrisk.scoring.train import check_training_options

    table = tmp_path / "table.csv"
    table.write_text("id,x,bad\n1,2,0\n", encoding="utf-8")
    assert check_training_options(table, target="bad") is True
    assert check_training_options(tmp_path, labels=tmp_path / "labels.csv") is False
