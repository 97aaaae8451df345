"""Champion/challenger: the paired bootstrap, the recommendation rule, `custrisk compare`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.errors import ConfigError, DataError
from custrisk.monitoring import CompareConfig, compare_predictions, paired_bootstrap_auc
from custrisk.monitoring.compare import _Ranks, _resample_counts, recommend

CONFIG = CompareConfig(bootstrap=500, seed=3, confidence=0.95, min_auc_gain=0.01)


def _toy(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bad flags, a weak model's PD and a strong model's PD (with ties)."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(2 * risk - 2.5)))).astype(int)
    weak = np.round(risk + rng.normal(scale=1.5, size=n), 1)
    strong = np.round(risk + rng.normal(scale=0.3, size=n), 1)
    return y, weak, strong


# --------------------------------------------------------------------- bootstrap


@settings(max_examples=50, deadline=None)
@given(
    st.integers(4, 40).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda y: 0 < sum(y) < n),
            st.lists(st.integers(0, 5), min_size=n, max_size=n),  # scores with ties
            st.integers(0, 2**32 - 1),
        )
    )
)
def test_weighted_rank_auc_equals_sklearn_on_the_resample(
    case: tuple[list[int], list[int], int],
) -> None:
    labels, values, seed = case
    y = np.array(labels)
    scores = np.array(values, dtype=float)
    bads, goods = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rng = np.random.default_rng(seed)
    weight_bad = _resample_counts(rng, bads.size, 3)
    weight_good = _resample_counts(rng, goods.size, 3)
    got = _Ranks.of(scores, bads, goods).auc(weight_bad, weight_good)
    for row in range(3):
        weights = np.zeros(y.size)
        weights[bads] = weight_bad[row]
        weights[goods] = weight_good[row]
        assert weight_bad[row].sum() == bads.size  # stratified: bad count kept
        assert got[row] == pytest.approx(roc_auc_score(y, scores, sample_weight=weights))


def test_bootstrap_is_deterministic_with_a_seed_and_centred() -> None:
    y, weak, strong = _toy()
    first = paired_bootstrap_auc(y, [weak, strong], n_bootstrap=300, seed=7)
    again = paired_bootstrap_auc(y, [weak, strong], n_bootstrap=300, seed=7)
    other = paired_bootstrap_auc(y, [weak, strong], n_bootstrap=300, seed=8)
    assert first.shape == (300, 2)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first[:, 0].mean() == pytest.approx(roc_auc_score(y, weak), abs=0.01)
    assert first[:, 1].mean() == pytest.approx(roc_auc_score(y, strong), abs=0.01)


def test_bootstrap_rejects_bad_parameters() -> None:
    y, weak, strong = _toy(200)
    with pytest.raises(ConfigError, match="'n_bootstrap' parameter .* Got 0 instead"):
        paired_bootstrap_auc(y, [weak], n_bootstrap=0)
    with pytest.raises(DataError, match="scores\\[0\\] has 3 values but y has 200"):
        paired_bootstrap_auc(y, [[0.1, 0.2, 0.3]])
    with pytest.raises(DataError, match="needs goods and bads"):
        paired_bootstrap_auc(np.zeros(200), [weak])


# ---------------------------------------------------------------- recommendation


@pytest.mark.parametrize(
    ("diff", "low", "high", "expected", "reason"),
    [
        (0.05, 0.03, 0.07, "replace", "lies wholly above the minimum gain 0.0100"),
        (-0.05, -0.07, -0.03, "keep", "the challenger is worse"),
        (0.005, -0.01, 0.02, "keep", "is not above the minimum gain"),
        (0.0, 0.0, 0.0, "keep", "is not above the minimum gain"),
        (0.02, -0.005, 0.045, "inconclusive", "collect more labelled data"),
        (0.02, 0.005, 0.035, "inconclusive", "reaches below it"),
    ],
)
def test_recommendation_rule(
    diff: float, low: float, high: float, expected: str, reason: str
) -> None:
    got, why = recommend(diff, low, high, 0.01, 0.95)
    assert got == expected
    assert reason in why
    assert "95% CI [" in why


def test_clear_winner_is_replaced_and_loser_kept() -> None:
    y, weak, strong = _toy()
    better = compare_predictions(y, weak, strong, config=CONFIG)
    assert better.recommendation == "replace"
    assert better.ci_low > 0.01 and better.ci_low <= better.auc_difference <= better.ci_high
    worse = compare_predictions(y, strong, weak, config=CONFIG)
    assert worse.recommendation == "keep" and worse.ci_high < 0
    assert "worse" in worse.reason
    assert better.champion["auc"] == pytest.approx(roc_auc_score(y, weak))
    assert better.champion["gini"] == pytest.approx(2 * better.champion["auc"] - 1)


def test_same_model_is_kept_with_a_zero_interval() -> None:
    y, weak, _ = _toy()
    result = compare_predictions(y, weak, weak, config=CONFIG)
    assert (result.auc_difference, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
    assert result.recommendation == "keep"


def test_to_dict_is_plain_json() -> None:
    y, weak, strong = _toy()
    data = json.loads(
        json.dumps(compare_predictions(y, weak, strong, config=CONFIG).to_dict(), allow_nan=False)
    )
    assert data["format"] == "custrisk.compare/1"
    assert set(data["champion"]["metrics"]) == {
        "n",
        "n_bad",
        "bad_rate",
        "auc",
        "ks",
        "gini",
        "brier",
    }
    assert data["auc_difference"]["bootstrap"] == 500 and data["auc_difference"]["seed"] == 3
    assert data["recommendation"] in ("replace", "keep", "inconclusive")


# --------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def registry(export_3000: Path, export_3000_other: Path, models_3000: Path) -> dict[str, Path]:
    return {"train": export_3000, "new": export_3000_other, "models": models_3000}


def _compare(registry: dict[str, Path], *args: str) -> object:
    return CliRunner().invoke(
        app,
        [
            "compare",
            "logistic",
            "tree",
            str(registry["new"]),
            "--labels",
            str(registry["new"] / "labels.csv"),
            "--models-dir",
            str(registry["models"]),
            *args,
        ],
    )


def test_compare_prints_metrics_interval_and_verdict(registry: dict[str, Path]) -> None:
    result = _compare(registry, "--bootstrap", "400", "--seed", "1")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "champion logistic@1" in out and "challenger tree@1" in out
    for metric in ("AUC", "KS", "Gini", "Brier", "bad rate"):
        assert metric in out
    assert "AUC difference (challenger - champion):" in out
    assert "95% CI [" in out and "400 paired bootstrap resamples, seed 1" in out
    assert any(f"Recommendation: {r}" in out for r in ("REPLACE", "KEEP", "INCONCLUSIVE"))


def test_compare_out_writes_the_json_and_prints_the_table(
    registry: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "compare.json"
    result = _compare(registry, "--bootstrap", "50", "--out", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["format"] == "custrisk.compare/1" and data["auc_difference"]["bootstrap"] == 50
    assert data["champion"]["model_trust"] == data["challenger"]["model_trust"] == "unsigned"
    assert "Recommendation: " in result.stdout and f"Wrote {out}" in result.stdout
    result = _compare(registry, "--out", str(tmp_path))
    assert result.exit_code == 2 and "is a folder" in result.stderr


def test_compare_json_is_deterministic_with_a_seed(registry: dict[str, Path]) -> None:
    first = _compare(registry, "--format", "json", "--bootstrap", "300", "--seed", "5")
    again = _compare(registry, "--format", "json", "--bootstrap", "300", "--seed", "5")
    assert first.exit_code == 0, first.output
    assert first.stdout == again.stdout
    data = json.loads(first.stdout)
    diff = data["auc_difference"]
    assert diff["ci_low"] <= diff["estimate"] <= diff["ci_high"]
    assert diff["estimate"] == pytest.approx(
        data["challenger"]["metrics"]["auc"] - data["champion"]["metrics"]["auc"]
    )
    assert data["champion"]["metrics"]["n"] == 3000
    assert data["recommendation"] in ("replace", "keep", "inconclusive")
    assert data["reason"] and data["warning"] is None  # 3,000 customers: enough


def test_compare_on_a_handful_of_labels_says_it_is_too_thin(
    registry: dict[str, Path], tmp_path: Path
) -> None:
    """Fewer bads or goods than drift.yaml's minimum.bads (30 of each): the verdict comes
    with a warning instead of reading as a finding. The rule is drift's and evaluate's:
    bads and goods, not rows (200 customers were thin to compare and 120 goods enough)."""
    lines = (registry["new"] / "labels.csv").read_text(encoding="utf-8").splitlines()
    bads = [line for line in lines[1:] if line.split(",")[1] == "1"]
    goods = [line for line in lines[1:] if line.split(",")[1] == "0"]
    said = {}
    for name, rows in (("thin", bads[:100] + goods[:20]), ("enough", bads[:40] + goods[:160])):
        labels = tmp_path / f"{name}.csv"
        labels.write_text("\n".join([lines[0], *rows]) + "\n", encoding="utf-8")
        result = CliRunner().invoke(
            app,
            [
                "compare", "logistic", "tree", str(registry["new"]), "--labels", str(labels),
                "--models-dir", str(registry["models"]), "--bootstrap", "200",
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        said[name] = " ".join(result.output.split())
    assert (
        "Warning: 100 bads and 20 goods labelled, fewer than drift.yaml's minimum.bads "
        "(30 of each): the AUCs and their difference are too uncertain to act on either way"
    ) in said["thin"]
    assert "Warning" not in said["enough"]


def test_compare_on_the_training_outcomes_says_it_is_in_sample(
    registry: dict[str, Path], tmp_path: Path
) -> None:
    """The labels both models were trained on (a copy, found by its bytes): metrics that
    flatter them, so the verdict comes with a warning."""
    copied = tmp_path / "outcomes.csv"
    copied.write_bytes((registry["train"] / "labels.csv").read_bytes())
    result = CliRunner().invoke(
        app,
        [
            "compare", "logistic", "tree", str(registry["train"]), "--labels", str(copied),
            "--models-dir", str(registry["models"]), "--bootstrap", "200", "--format", "json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    warning = json.loads(result.stdout)["warning"]
    assert warning.startswith("outcomes.csv: the outcomes logistic@1 and tree@1 were trained on")
    assert "in-sample" in warning
    evaluated = CliRunner().invoke(
        app,
        [
            "evaluate", "logistic", str(registry["train"]), "--labels", str(copied),
            "--models-dir", str(registry["models"]),
        ],
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    assert "Warning: outcomes.csv: the outcomes logistic@1 was trained on" in " ".join(
        evaluated.output.split()
    )


def test_compare_min_gain_option_changes_the_rule(registry: dict[str, Path]) -> None:
    result = _compare(registry, "--format", "json", "--bootstrap", "200", "--min-gain", "0.5")
    data = json.loads(result.stdout)
    assert data["min_gain"] == 0.5
    assert data["recommendation"] == "keep"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bootstrap", "0"], "--bootstrap must be at least 1; got 0"),
        (["--format", "junit"], "--format must be one of text, json; got 'junit'"),
        (["--min-gain", "-1"], "--min-gain must be 0 or more"),
    ],
)
def test_compare_usage_errors(registry: dict[str, Path], args: list[str], message: str) -> None:
    result = _compare(registry, *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_compare_of_a_model_with_itself_is_refused(registry: dict[str, Path]) -> None:
    """``logistic`` is logistic@1's latest version: comparing them (or its folder) would
    always say keep with a zero interval, so it is a usage error naming the model."""
    for champion, challenger in (
        ("logistic", "logistic@1"),
        ("logistic@1", str(registry["models"] / "logistic" / "1")),
    ):
        result = CliRunner().invoke(
            app,
            [
                "compare", champion, challenger, str(registry["new"]),
                "--labels", str(registry["new"] / "labels.csv"),
                "--models-dir", str(registry["models"]),
            ],
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        said = " ".join(result.stderr.split())
        assert "the champion and the challenger are the same model (logistic@1" in said
        assert "name two different versions as NAME@VERSION" in said


def test_two_models_of_the_same_id_are_told_apart_by_their_folders(
    registry: dict[str, Path], tmp_path: Path
) -> None:
    """Two registries each with a logistic@1 (another team's, a copy from another
    machine): the table and the JSON named both sides logistic@1."""
    other = tmp_path / "other" / "logistic" / "1"
    shutil.copytree(registry["models"] / "tree" / "1", other)
    card = json.loads((other / "model.json").read_text(encoding="utf-8"))
    card.update(name="logistic", model_id="logistic@1")  # (unsigned: the card is not hashed)
    (other / "model.json").write_text(json.dumps(card), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "compare", str(registry["models"] / "logistic" / "1"), str(other),
            str(registry["new"]), "--labels", str(registry["new"] / "labels.csv"),
            "--bootstrap", "100", "--format", "json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["champion"]["model_id"] == f"logistic@1 ({registry['models'] / 'logistic' / '1'})"
    assert data["challenger"]["model_id"] == f"logistic@1 ({other})"
