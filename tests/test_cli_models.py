"""`custrisk train`, `score`, `evaluate` and `models` end to end on generated exports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import custrisk
from custrisk.cli import app
from custrisk.registry import MODEL_CARD, MODEL_FILE, SIGNING_KEY_ENV

KEY = "test-signing-key"


@pytest.fixture(scope="module")
def exports(export_3000: Path) -> Path:
    return export_3000


@pytest.fixture(scope="module")
def registry(models_3000: Path) -> Path:
    return models_3000


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
    paths = [tmp_path / "a" / "scores.csv", tmp_path / "b" / "scores.csv"]  # (a run a folder)
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


def test_same_seed_same_metrics(
    runner: CliRunner, exports: Path, registry: Path, tmp_path: Path
) -> None:
    """Training again on the same exports with the same config (its seed) gives the
    model and metrics of the first training: the registry's logistic@1, trained on
    these exports (the default algorithm) by the session's fixture."""
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
    first = json.loads((registry / "logistic" / "1" / MODEL_CARD).read_text())
    again = json.loads((tmp_path / "again" / "1" / MODEL_CARD).read_text())
    assert again["algorithm"] == first["algorithm"] == "logistic"
    assert again["seed"] == first["seed"]
    assert again["metrics"] == first["metrics"]
    assert again["model"] == first["model"]


@pytest.fixture(scope="module")
def signed_registry(tmp_path_factory: pytest.TempPathFactory, registry: Path) -> Path:
    """logistic@1 saved again with a signing key (no second training)."""
    from custrisk.registry import save_model
    from custrisk.scoring import open_model

    models = tmp_path_factory.mktemp("signed")
    loaded = open_model("logistic@1", registry)
    generated = {"format_version", "model_id", "name", "version", "created_at", "libraries"}
    card = {k: v for k, v in loaded.card.items() if k not in {*generated, "artifact", "files"}}
    extra = {name: data.decode("utf-8") for name, data in loaded.files.items()}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SIGNING_KEY_ENV, KEY)
        save_model(loaded.model, card, name="logistic", models=models, extra_files=extra)
    return models


def _copy_model(registry: Path, tmp_path: Path, target: str = "logistic/1") -> Path:
    """A copy of registry's logistic@1 at models/TARGET; returns the models folder."""
    models = tmp_path / "models"
    shutil.copytree(registry / "logistic" / "1", models / target)
    return models


def _score(runner: CliRunner, exports: Path, models: Path, out: Path, *options: str, **env: str):
    return runner.invoke(
        app,
        ["score", str(exports), "--model", "logistic", "--models-dir", str(models)]
        + ["--out", str(out), *options],
        env={SIGNING_KEY_ENV: None, "CUSTRISK_REQUIRE_SIGNED": None, **env},
    )


def test_tampered_model_is_refused_with_exit_2(
    runner: CliRunner, exports: Path, registry: Path, tmp_path: Path
) -> None:
    copy = _copy_model(registry, tmp_path) / "logistic" / "1"
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
    # --format json: the same figures on stdout alone, for a CI job to keep
    args = ["evaluate", "logistic@1", str(exports), "--labels", str(exports / "labels.csv")]
    as_json = runner.invoke(app, [*args, "--models-dir", str(registry), "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    result = json.loads(as_json.stdout)
    assert result["model_id"] == "logistic@1" and 0.5 < result["metrics"]["auc"] <= 1
    assert f"{result['metrics']['auc']:.3f}" in evaluated.stdout  # the text's AUC
    wrong = runner.invoke(app, [*args, "--models-dir", str(registry), "--format", "xml"])
    assert wrong.exit_code == 2 and "--format must be one of text, json" in wrong.output


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
    from custrisk.scoring import (
        model_indicator_config,
        open_model,
        prepare_features,
        score_customer,
        score_features,
    )

    model = open_model("logistic@1", registry)
    features = prepare_features(exports, indicator_config=model_indicator_config(model))
    batch = score_features(model, features.X.iloc[:20], as_of=features.as_of)
    for i in range(20):
        row = features.X.iloc[i].to_dict()
        one = score_customer(model, row)
        assert one["score"] == batch["score"].iloc[i]
        assert one["pd"] == pytest.approx(batch["pd"].iloc[i], abs=1e-6)


def test_score_customer_takes_a_model_name_and_names_wrong_values(
    exports: Path, registry: Path
) -> None:
    from custrisk.errors import DataError, UsageError
    from custrisk.scoring import (
        model_indicator_config,
        open_model,
        prepare_features,
        score_customer,
    )

    model = open_model("logistic@1", registry)
    features = prepare_features(exports, indicator_config=model_indicator_config(model))
    row = features.X.iloc[0]
    by_name = score_customer("logistic@1", row, models_dir=registry)  # a Series, a name
    assert by_name == score_customer(model, row.to_dict())
    with pytest.raises(UsageError, match="values must be a dict .*; got list"):
        score_customer(model, [1, 2])
    typo = {"utilisaton": 0.5}
    with pytest.raises(DataError, match="keys the model does not use: utilisaton"):
        score_customer(model, typo)


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


def test_an_edited_indicator_expression_in_the_model_folder_is_refused(
    runner: CliRunner, exports: Path, registry: Path, tmp_path: Path
) -> None:
    models = _copy_model(registry, tmp_path)
    config = models / "logistic" / "1" / "indicators.yaml"
    text = config.read_text(encoding="utf-8")
    assert "expr: outstanding_balance / credit_limit\n" in text
    config.write_text(
        text.replace(
            "expr: outstanding_balance / credit_limit\n",
            "expr: outstanding_balance / credit_limit / 10\n",
        ),
        encoding="utf-8",
    )
    out = tmp_path / "scores.csv"
    result = _score(runner, exports, models, out)
    assert result.exit_code == 2, result.output
    assert "indicators.yaml: SHA-256 check failed" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()
    # a failed check is exit 1, as models show's (score refusing the model is 2)
    checked = runner.invoke(app, ["models", "verify", "logistic", "--models-dir", str(models)])
    assert checked.exit_code == 1, checked.output
    assert "indicators.yaml: SHA-256 check failed" in checked.stderr
    shown = runner.invoke(app, ["models", "show", "logistic", "--models-dir", str(models)])
    assert shown.exit_code == checked.exit_code
    missing = runner.invoke(app, ["models", "verify", "nosuch", "--models-dir", str(models)])
    assert missing.exit_code == 2, missing.output


def test_models_verify_passes_a_clean_model(runner: CliRunner, registry: Path) -> None:
    result = runner.invoke(app, ["models", "verify", "tree@1", "--models-dir", str(registry)])
    assert result.exit_code == 0, result.output
    assert "OK tree@1: the card and its 2 files match (unsigned" in result.stdout


def test_scoring_uses_the_indicator_config_that_was_verified(
    registry: Path, tmp_path: Path
) -> None:
    from custrisk.scoring import model_indicator_config, open_model

    models = _copy_model(registry, tmp_path)
    loaded = open_model("logistic", models)
    config = models / "logistic" / "1" / "indicators.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("/ credit_limit\n", "/ credit_limit / 10\n"), encoding="utf-8")
    utilisation = model_indicator_config(loaded)["utilisation"]
    assert utilisation.expression is not None
    assert utilisation.expression.text == "outstanding_balance / credit_limit"


@pytest.mark.parametrize(
    "command",
    [
        ["score", "{exports}", "--model", "logistic", "--out", "{tmp}/s.csv"],
        ["evaluate", "logistic", "{exports}", "--labels", "{exports}/labels.csv"],
        ["drift", "{exports}", "--model", "logistic"],
        ["compare", "logistic", "tree", "{exports}", "--labels", "{exports}/labels.csv"],
        ["models", "verify", "logistic"],
    ],
    ids=lambda c: c[0] if c[0] != "models" else "models-verify",
)
@pytest.mark.parametrize("how", ["option", "environment"])
def test_unsigned_models_are_refused_when_signed_models_are_required(
    runner: CliRunner,
    exports: Path,
    registry: Path,
    tmp_path: Path,
    command: list[str],
    how: str,
) -> None:
    args = [a.format(exports=exports, tmp=tmp_path) for a in command]
    args += ["--models-dir", str(registry)]
    if how == "option":
        args.append("--require-signed")
    env = {"CUSTRISK_REQUIRE_SIGNED": "1" if how == "environment" else None}
    result = runner.invoke(app, args, env={SIGNING_KEY_ENV: None, **env})
    # (models verify found what a check looks for: 1; the others refuse the model: 2)
    assert result.exit_code == (1 if command[0] == "models" else 2), result.output
    said = " ".join(result.stderr.split())
    assert "the model is not signed, and signed models are required" in said
    assert "train it again with CUSTRISK_SIGNING_KEY set" in said
    assert not (tmp_path / "s.csv").exists()


def test_a_signed_model_without_the_key_is_refused_unless_allowed_unverified(
    runner: CliRunner, exports: Path, signed_registry: Path, tmp_path: Path
) -> None:
    refused = _score(runner, exports, signed_registry, tmp_path / "a.csv")
    assert refused.exit_code == 2, refused.output
    assert "is signed but CUSTRISK_SIGNING_KEY is not set" in refused.stderr
    assert "--allow-unverified" in refused.stderr
    assert not (tmp_path / "a.csv").exists()
    unverified = _score(runner, exports, signed_registry, tmp_path / "b.csv", "--allow-unverified")
    assert unverified.exit_code == 0, unverified.output
    assert "UNVERIFIED MODEL" in unverified.stderr
    checked = runner.invoke(
        app,
        ["models", "verify", "logistic", "--models-dir", str(signed_registry), "--require-signed"],
        env={SIGNING_KEY_ENV: KEY},
    )
    assert checked.exit_code == 0, checked.output
    assert "signature verified with CUSTRISK_SIGNING_KEY" in checked.stdout


def _row(listing: str, model_id: str) -> str:
    """The first line of ``model_id``'s row in a ``models list`` table."""
    return next(line for line in listing.splitlines() if line.startswith(f"│ {model_id} "))


def test_models_list_and_show_flag_a_changed_model_file(
    runner: CliRunner, registry: Path, tmp_path: Path
) -> None:
    models = _copy_model(registry, tmp_path)
    shutil.copytree(registry / "tree" / "1", models / "tree" / "1")
    artifact = models / "logistic" / "1" / MODEL_FILE
    data = bytearray(artifact.read_bytes())
    data[100] ^= 0xFF
    artifact.write_bytes(bytes(data))
    env = {SIGNING_KEY_ENV: None, "CUSTRISK_REQUIRE_SIGNED": None}

    listed = runner.invoke(app, ["models", "list", "--models-dir", str(models)], env=env)
    assert listed.exit_code == 0, listed.output
    assert "FAILED: model.joblib: SHA-256 check" in _row(listed.stdout, "logistic@1")
    assert "unsigned" in _row(listed.stdout, "tree@1")
    assert "FAILED their check and would be refused by score: logistic@1;" in listed.stderr

    shown = runner.invoke(app, ["models", "show", "logistic", "--models-dir", str(models)], env=env)
    assert shown.exit_code == 1, shown.output
    warning = " ".join(shown.stderr.split())
    assert warning.startswith(
        "Warning: model logistic@1 FAILED its check: model.joblib: SHA-256 check failed"
    )
    files = {line.split()[1]: line for line in shown.stdout.splitlines() if "…" in line}
    assert "SHA-256 check failed" in files["model.joblib"]
    assert files["indicators.yaml"].rstrip(" │").endswith("ok")
    assert "Check: FAILED: model.joblib" in shown.stdout
    as_json = runner.invoke(
        app, ["models", "show", "logistic", "--models-dir", str(models), "--json"], env=env
    )
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["model_id"] == "logistic@1"  # stdout stays JSON
    assert "FAILED its check: model.joblib" in as_json.stderr

    sound = runner.invoke(app, ["models", "show", "tree", "--models-dir", str(models)], env=env)
    assert sound.exit_code == 0, sound.output
    assert "Check: unsigned: 2 files match the card's hashes" in sound.stdout
    assert "Warning:" not in sound.output


def test_models_list_and_show_flag_an_edited_signed_card(
    runner: CliRunner, signed_registry: Path, tmp_path: Path
) -> None:
    models = _copy_model(signed_registry, tmp_path)
    card = models / "logistic" / "1" / MODEL_CARD
    edited = json.loads(card.read_text(encoding="utf-8"))
    edited["metrics"]["holdout"]["auc"] = 0.99  # a better model than it is
    card.write_text(json.dumps(edited, ensure_ascii=False, indent=2), encoding="utf-8")
    args = ["--models-dir", str(models)]

    listed = runner.invoke(app, ["models", "list", *args], env={SIGNING_KEY_ENV: KEY})
    assert listed.exit_code == 0, listed.output
    row = _row(listed.stdout, "logistic@1")
    assert "0.990" in row and "FAILED: model.json: signature check" in row
    shown = runner.invoke(app, ["models", "show", "logistic", *args], env={SIGNING_KEY_ENV: KEY})
    assert shown.exit_code == 1, shown.output
    assert "FAILED its check: model.json: signature check failed: the HMAC does not match" in (
        " ".join(shown.stderr.split())
    )
    # without the key the signature cannot be checked, and the list says so
    unkeyed = runner.invoke(app, ["models", "list", *args], env={SIGNING_KEY_ENV: None})
    assert "signature not checked" in _row(unkeyed.stdout, "logistic@1")


def test_models_show_passes_a_signed_model_checked_with_its_key(
    runner: CliRunner, signed_registry: Path
) -> None:
    shown = runner.invoke(
        app,
        ["models", "show", "logistic", "--models-dir", str(signed_registry)],
        env={SIGNING_KEY_ENV: KEY},
    )
    assert shown.exit_code == 0, shown.output
    assert "Check: ok: signature verified with CUSTRISK_SIGNING_KEY" in shown.stdout


def test_version_1_copied_into_a_folder_named_2_is_refused(
    runner: CliRunner, exports: Path, signed_registry: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(signed_registry / "logistic" / "1", models / "logistic" / "1")
    shutil.copytree(signed_registry / "logistic" / "1", models / "logistic" / "2")
    out = tmp_path / "scores.csv"
    result = _score(runner, exports, models, out, **{SIGNING_KEY_ENV: KEY})
    assert result.exit_code == 2, result.output
    assert "the card is model logistic@1 but its folder is logistic/2" in result.stderr
    assert not out.exists()


def test_a_second_train_of_the_same_name_is_refused_while_the_first_runs(
    runner: CliRunner, exports: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from custrisk.registry import lock_model_name\n"
            f"with lock_model_name('logistic', {str(models)!r}):\n"
            "    print('ready', flush=True)\n"
            "    sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(custrisk.__file__).parents[1])},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        result = runner.invoke(
            app,
            ["train", str(exports), "--labels", str(exports / "labels.csv")]
            + ["--models-dir", str(models)],
        )
    finally:
        holder.communicate("")
    assert result.exit_code == 2, result.output
    assert (
        f"model 'logistic' in {models} is being trained by another process (pid {holder.pid}, "
        "host " in " ".join(result.stderr.split())
    )
    assert "Traceback" not in result.output
    assert not (models / "logistic" / "1").exists()


def test_a_second_run_into_a_folder_holding_another_is_refused_before_scoring(
    runner: CliRunner, exports: Path, registry: Path, tmp_path: Path
) -> None:
    """alerts.csv and followups.csv have one name per folder: nov.csv written beside
    oct.csv would overwrite oct's and leave that run unreadable. Refused, naming the
    folder to write to; the same run written again is not."""
    args = ["score", str(exports), "--model", "logistic@1", "--models-dir", str(registry)]
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "oct.csv")]).exit_code == 0
    alerts = (tmp_path / "alerts.csv").read_bytes()
    refused = runner.invoke(app, [*args, "--out", str(tmp_path / "nov.csv")])
    assert refused.exit_code == 2
    said = " ".join(refused.output.split())
    assert "holds another run (oct, oct.run.json)" in said and "--out" in said
    assert not (tmp_path / "nov.csv").exists()
    assert (tmp_path / "alerts.csv").read_bytes() == alerts
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "oct.csv")]).exit_code == 0


def test_models_show_and_list_of_a_card_edited_into_another_shape(
    runner: CliRunner, tmp_path: Path
) -> None:
    """A hand-edited unsigned card (metrics made null) crashed list and show (exit 3)."""
    from custrisk.registry import save_model

    ref = save_model({"w": 1}, {"algorithm": "logistic"}, name="demo", models=tmp_path)
    card = json.loads((ref.path / MODEL_CARD).read_text(encoding="utf-8"))
    (ref.path / MODEL_CARD).write_text(json.dumps({**card, "metrics": None}), encoding="utf-8")
    shown = runner.invoke(app, ["models", "show", ref.model_id, "--models-dir", str(tmp_path)])
    assert shown.exit_code == 1, shown.output
    assert "the card's metrics is null, not a table" in " ".join(shown.stderr.split())
    listed = runner.invoke(app, ["models", "list", "--models-dir", str(tmp_path)])
    assert listed.exit_code == 0 and "FAILED" in listed.output


def test_labels_of_one_outcome_say_both_are_needed_and_how(
    runner: CliRunner, tmp_path: Path
) -> None:
    """A tiny lender with no bad yet got 'a model needs goods and bads' and no way out."""
    from custrisk.sample import generate_sample_data

    data = tmp_path / "tiny"
    generate_sample_data(data, customers=30, seed=5)
    labels = pd.read_csv(data / "labels.csv", dtype={"customer_id": str})
    labels["bad"] = 0
    labels.to_csv(tmp_path / "none_bad.csv", index=False)
    result = runner.invoke(
        app,
        [
            "train",
            str(data),
            "--labels",
            str(tmp_path / "none_bad.csv"),
            "--models-dir",
            str(tmp_path / "m"),
        ],
    )
    said = " ".join(result.output.split())
    assert result.exit_code == 2, said
    assert "the labels of the 30 labelled customers hold only bad=0" in said
    assert "label the customers who went bad as 1" in said and "Traceback" not in said
