"""`custrisk score` with the credit policy and early warnings, end to end."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner, Result

from custrisk.cli import app
from custrisk.config import default_config_path
from custrisk.policy import CHANGE_COLUMNS, POLICY_COLUMNS, load_policy
from custrisk.results import ALERT_COLUMNS


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """This month's export and next month's (drifted, same customers)."""
    root = tmp_path_factory.mktemp("exports")
    for name, extra in (("oct", []), ("nov", ["--drift", "0.5"])):
        result = CliRunner().invoke(
            app,
            ["sample-data", str(root / name), "--customers", "800", "--seed", "3", *extra],
        )
        assert result.exit_code == 0, result.output
    return {"oct": root / "oct", "nov": root / "nov"}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, exports: dict[str, Path]) -> Path:
    folder = tmp_path_factory.mktemp("models")
    data = exports["oct"]
    result = CliRunner().invoke(
        app,
        ["train", str(data), "--labels", str(data / "labels.csv"), "--models-dir", str(folder)],
    )
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(scope="module")
def october(
    tmp_path_factory: pytest.TempPathFactory, exports: dict[str, Path], models: Path
) -> Path:
    """October scored with the default policy and rules."""
    out = tmp_path_factory.mktemp("october") / "scores.csv"
    result = score(exports["oct"], models, out)
    assert result.exit_code == 0, result.output
    return out


def score(data: Path, models: Path, out: Path, *extra: str) -> Result:
    args = ["score", str(data), "-m", "logistic", "--models-dir", str(models), "-o", str(out)]
    return CliRunner().invoke(app, [*args, *extra])


def test_library_calls_name_the_argument_given_a_dataframe_not_a_path(
    exports: dict[str, Path], models: Path
) -> None:
    import custrisk

    table = pd.read_csv(exports["oct"] / "credit.csv", dtype={"customer_id": str})
    with pytest.raises(custrisk.UsageError, match="exports must be a path .* DataFrame.*to_csv"):
        custrisk.score_portfolio(table, "logistic", models_dir=models)
    with pytest.raises(custrisk.UsageError, match="previous must be a path .*; got int"):
        custrisk.score_portfolio(exports["oct"], "logistic", models_dir=models, previous=10)
    with pytest.raises(custrisk.UsageError, match="data_dir must be a path .*; got NoneType"):
        custrisk.load_workspace(None)
    with pytest.raises(custrisk.UsageError, match="run must be a path .*; got a pandas DataFrame"):
        custrisk.read_run(table)
    with pytest.raises(custrisk.UsageError, match="model must be a path .*; got int"):
        custrisk.open_model(1, models)
    assert custrisk.open_model(Path("logistic@1"), models).model_id == "logistic@1"
    # '' was the current folder (Path('')); a path-like giving bytes, a TypeError
    with pytest.raises(custrisk.UsageError, match=r"data_dir is empty \(''\)"):
        custrisk.load_workspace("")

    class BytesPath:
        def __fspath__(self) -> bytes:
            return bytes(exports["oct"])

    with pytest.raises(custrisk.UsageError, match="whose __fspath__.. gives bytes, not str"):
        custrisk.load_workspace(BytesPath())  # type: ignore[arg-type]
    labels = pd.read_csv(exports["oct"] / "labels.csv", dtype={"customer_id": str})
    with pytest.raises(custrisk.UsageError, match="labels must be a path .* DataFrame"):
        custrisk.train_model(exports["oct"], labels, name="x", models_dir=models)
    with pytest.raises(custrisk.UsageError, match="labels must be a path .* DataFrame"):
        custrisk.load_labels(labels)
    with pytest.raises(custrisk.UsageError, match="table must be a path .* DataFrame"):
        custrisk.train_table(table, "bad", models_dir=models)
    with pytest.raises(custrisk.UsageError, match="the drift.yaml config must be a path"):
        custrisk.load_drift_config({"psi": {}})
    with pytest.raises(custrisk.ConfigError, match="<indicators dict>, key 'indicators'"):
        custrisk.load_indicator_config({"indicators": []})


def test_results_print_in_a_notebook_as_sizes_without_customer_data(
    exports: dict[str, Path], models: Path
) -> None:
    import custrisk

    workspace = custrisk.load_workspace(exports["oct"])
    run = custrisk.score_portfolio(exports["oct"], "logistic", models_dir=models)
    names = workspace.frames["credit"]["name"].dropna().astype(str).tolist()
    for shown in (repr(workspace), repr(run), repr(run.extras["model"])):
        assert len(shown) < 1000, shown
        assert not any(name in shown for name in names[:50]), shown
    assert "frames={'credit': 800 x " in repr(workspace)
    assert "scores=<DataFrame 800 rows x " in repr(run)


def test_scores_carry_grades_limits_and_alerts(october: Path) -> None:
    scores = pd.read_csv(october, dtype={"customer_id": str, "alert_level": str})
    columns = list(scores.columns)
    assert columns[:4] == ["customer_id", "as_of", "pd", "score"]
    assert columns[4:12] == list(POLICY_COLUMNS)
    assert columns[12] == "reason_1_code"
    # a calibrated model on 800 customers (8.5% bad) gives few or no PDs below 0.5% (A)
    assert set(scores["grade"]) >= {"B", "C", "D", "E"}
    assert set(scores["grade"]) <= {"A", "B", "C", "D", "E"}
    policy = load_policy()
    for code, group in scores.groupby("grade"):
        grade = policy.grade(str(code))
        assert group["score"].between(grade.min_score, grade.max_score).all()
        assert (group["recommended_limit"] >= 0).all()
        if grade.limit.cap is not None:
            assert (group["recommended_limit"] <= grade.limit.cap).all()
    risky = scores[scores["grade"] == "E"]
    assert (risky["recommended_limit"] <= risky["current_limit"]).all()
    assert set(scores["alert_level"].dropna()) == {"red", "orange", "yellow"}

    alerts = pd.read_csv(october.with_name("alerts.csv"), dtype=str)
    assert list(alerts.columns) == list(ALERT_COLUMNS)
    assert set(alerts["level"]) == {"red", "orange", "yellow"}
    assert alerts["actions_zh"].str.len().gt(0).all()
    ranks = alerts["level"].map({"red": 0, "orange": 1, "yellow": 2})
    assert ranks.is_monotonic_increasing
    first = alerts.groupby("customer_id")["code"].agg(";".join)
    listed = scores.set_index("customer_id")["alert_codes"].dropna()
    assert first.reindex(listed.index).tolist() == listed.tolist()

    facts = json.loads(october.with_name("scores.run.json").read_text(encoding="utf-8"))
    assert [g["code"] for g in facts["policy"]["grades"]] == ["A", "B", "C", "D", "E"]
    assert facts["policy"]["grades"][0]["actions_zh"]
    assert facts["policy"]["grades"][0]["review_frequency"] == "annual"
    assert sum(v["customers"] for v in facts["policy"]["distribution"].values()) == len(scores)
    assert facts["alerts"]["by_level"]["red"] == int((alerts["level"] == "red").sum())
    assert facts["files"]["alerts"]["file"] == "alerts.csv"
    assert "migration" not in facts


def _with_credit_edits(source: Path, folder: Path, edits: dict[int, dict[str, str]]) -> Path:
    """A copy of an export with cells of credit.csv replaced ({line: {column: text}})."""
    shutil.copytree(source, folder)
    path = folder / "credit.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    for line, cells in edits.items():
        for column, text in cells.items():
            rows[line - 1][rows[0].index(column)] = text
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return folder


def test_a_bad_optional_credit_value_leaves_its_customer_scored(
    tmp_path: Path, exports: dict[str, Path], models: Path
) -> None:
    data = _with_credit_edits(
        exports["oct"],
        tmp_path / "data",
        {
            2: {"phone": "+86 1381234"},
            3: {"industry": '=HYPERLINK("x")'},
            4: {"customer_since": "2100-01-01"},
            5: {"annual_income": "约12万"},
        },
    )
    out = tmp_path / "run" / "scores.csv"
    result = score(data, models, out)
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 800
    rejects = pd.read_csv(out.parent / "scores.rejects.csv", dtype=str)
    assert set(rejects["action"]) == {"repaired"}
    assert set(rejects["rule"]) == {
        "cn_phone",
        "formula",
        "implausible_date",
        "invalid_number",
    }
    said = " ".join(result.stderr.split())
    assert "Note: 4 input rows were repaired while cleaning (none rejected); see" in said
    assert "not scored" not in said and "Warning" not in said


def test_customers_whose_credit_rows_were_rejected_are_counted_in_a_warning(
    tmp_path: Path, exports: dict[str, Path], models: Path
) -> None:
    data = _with_credit_edits(
        exports["oct"], tmp_path / "data", {3: {"credit_limit": ""}, 6: {"credit_limit": "x"}}
    )
    out = tmp_path / "run" / "scores.csv"
    result = score(data, models, out)
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 798
    said = " ".join(result.stderr.split())
    assert (
        "Warning: 2 customers of credit.csv are not scored: their rows were rejected "
        f"(see {out.parent / 'scores.rejects.csv'})"
    ) in said
    rejects = pd.read_csv(out.parent / "scores.rejects.csv", dtype=str)
    linked = rejects[rejects["source"] != "credit"]
    assert len(linked) > 0 and set(linked["rule"]) == {"customer_rejected"}
    assert set(linked["message"]) == {
        "the customer's credit row was rejected (credit.csv line 3: missing_required)",
        "the customer's credit row was rejected (credit.csv line 6: invalid_number)",
    }


def test_the_last_lines_name_every_file_written_and_what_it_holds(
    tmp_path: Path, exports: dict[str, Path], models: Path
) -> None:
    """Not only the scores and alerts: the follow-up plan, the details, the rejects and
    the run's facts are found from the command's output, not by listing the folder."""
    data = _with_credit_edits(exports["oct"], tmp_path / "data", {3: {"credit_limit": "x"}})
    out = tmp_path / "run" / "scores.csv"
    result = score(data, models, out)
    assert result.exit_code == 0, result.output
    written = result.stdout.split("Wrote:\n", 1)[1].splitlines()
    named = [line.split()[0] for line in written]
    folder = out.parent
    assert named == [
        str(folder / name)
        for name in (
            "scores.csv",
            "alerts.csv",
            "followups.csv",
            "scores.rejects.csv",
            "scores.details.parquet",
            "scores.run.json",
        )
    ]
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == sorted(
        Path(name).name for name in named
    )
    facts = json.loads((folder / "scores.run.json").read_text(encoding="utf-8"))
    assert written[0].endswith("PD, score, grade, limit and reasons of 799 customers")
    assert written[1].endswith(f"{len(pd.read_csv(folder / 'alerts.csv')):,} alerts")
    assert f" {facts['rows_rejected']} input rows rejected while cleaning" in written[3]


def test_ctrl_c_of_a_score_in_parts_names_the_folder_it_did_not_write(
    tmp_path: Path, exports: dict[str, Path], models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    import custrisk.engine.choice
    from custrisk.io.stop import Stopped

    def stopped(*args: object, **kwargs: object) -> None:
        raise Stopped(signal.SIGINT)

    monkeypatch.setattr(custrisk.engine.choice, "score_portfolio_on", stopped)
    out = tmp_path / "scores.csv"
    for parts, named in (
        ("--parts", f"{tmp_path / 'scores.parquet'}/"),
        ("--no-parts", str(out)),
        (None, f"{out} (or, in parts, {tmp_path / 'scores.parquet'}/)"),
    ):
        extra = ["--engine", "dask", *([parts] if parts else [])]
        result = score(exports["oct"], models, out, *extra)
        assert result.exit_code == 130, result.output
        assert " ".join(result.stderr.split()) == (
            f"Stopped: SIGINT during custrisk score; {named} not written (an earlier file "
            "there is left as it was)"
        )


def test_same_inputs_give_identical_files(
    october: Path, exports: dict[str, Path], models: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.csv"
    assert score(exports["oct"], models, out).exit_code == 0
    assert out.read_bytes() == october.read_bytes()
    assert (tmp_path / "alerts.csv").read_bytes() == october.with_name("alerts.csv").read_bytes()


@pytest.mark.parametrize(("level", "code"), [("never", 0), ("red", 1), ("yellow", 1)])
def test_fail_on_levels(
    exports: dict[str, Path], models: Path, tmp_path: Path, level: str, code: int
) -> None:
    out = tmp_path / "scores.csv"
    result = score(exports["oct"], models, out, "--fail-on", level)
    assert result.exit_code == code, result.output
    assert out.exists() and (tmp_path / "alerts.csv").exists()  # written before failing
    if code:
        assert f"alerts at level {level} or above" in result.stderr


def test_fail_on_counts_only_levels_at_or_above(
    exports: dict[str, Path], models: Path, tmp_path: Path
) -> None:
    rules = yaml.safe_load(default_config_path("alerts.yaml").read_text(encoding="utf-8"))
    rules["rules"] = {"CR03": rules["rules"]["CR03"]}  # yellow only
    path = tmp_path / "yellow.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "scores.csv"
    assert (
        score(exports["oct"], models, out, "--alerts", str(path), "--fail-on", "orange").exit_code
        == 0
    )
    result = score(exports["oct"], models, out, "--alerts", str(path), "--fail-on", "yellow")
    assert result.exit_code == 1
    assert "alerts at level yellow or above (yellow " in result.stderr


def test_previous_run_gives_changes_and_migration(
    october: Path, exports: dict[str, Path], models: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.parquet"
    result = score(exports["nov"], models, out, "--previous", str(october))
    assert result.exit_code == 0, result.output
    assert "Grade migration" in result.stdout
    scores = pd.read_parquet(out)
    assert list(scores.columns[12:18]) == list(CHANGE_COLUMNS)
    assert (scores["score_change"] == scores["score"] - scores["prev_score"]).all()
    facts = json.loads(out.with_name("scores.run.json").read_text(encoding="utf-8"))
    migration = facts["migration"]
    assert migration["rows"] == ["A", "B", "C", "D", "E", "new"]
    assert migration["columns"] == ["A", "B", "C", "D", "E", "departed"]
    assert sum(map(sum, migration["counts"])) == len(scores)
    assert migration["previous_as_of"] == "2026-10-31"
    assert migration["downgraded"] > migration["upgraded"]  # the drifted month is riskier
    for row, counts in zip(migration["rates"], migration["counts"], strict=True):
        if sum(counts):
            assert sum(row) == pytest.approx(1.0, abs=1e-3)
    alerts = pd.read_csv(out.with_name("alerts.csv"), dtype=str)
    downgraded = scores.loc[scores["grade_change"] >= 2, "customer_id"]
    assert set(alerts.loc[alerts["code"] == "GR01", "customer_id"]) == set(downgraded)
    assert "GR01" not in facts["alerts"]["skipped_rules"]


def test_overlapping_bands_are_refused_naming_both(
    exports: dict[str, Path], models: Path, tmp_path: Path
) -> None:
    policy = yaml.safe_load(default_config_path("policy.yaml").read_text(encoding="utf-8"))
    policy["grades"]["C"]["min_score"] = 560  # C [560, 600) overlaps D [530, 565)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "scores.csv"
    result = score(exports["oct"], models, out, "--policy", str(path))
    assert result.exit_code == 2
    assert (
        f"{path}, key 'grades': bands D [530, 565) and C [560, 600) overlap on [560, 565); "
        "a score may fall in one band only: set grades.C.min_score to 565 or "
        "grades.D.max_score to 560" in result.stderr
    )
    assert "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--fail-on", "purple"], "--fail-on must be one of red, orange, yellow, never"),
        (["--previous", "nope.csv"], "previous scores file not found"),
    ],
)
def test_usage_errors(
    exports: dict[str, Path], models: Path, tmp_path: Path, args: list[str], pattern: str
) -> None:
    result = score(exports["oct"], models, tmp_path / "s.csv", *args)
    assert result.exit_code == 2
    assert pattern in result.stderr


def test_a_folder_as_out_is_refused_in_one_line(
    exports: dict[str, Path], models: Path, tmp_path: Path
) -> None:
    # (was "cannot tell the output format from the extension '(none)'", the / dropped)
    args = ["score", str(exports["oct"]), "-m", "logistic", "--models-dir", str(models)]
    result = CliRunner().invoke(app, [*args, "-o", f"{tmp_path}/"])
    assert result.exit_code == 2
    assert (
        f"--out {tmp_path}/ is a folder: it takes the file to write; e.g. --out "
        f"{tmp_path}/scores.csv" in result.stderr
    )


def test_unknown_name_in_an_alert_rule_is_a_config_error(
    exports: dict[str, Path], models: Path, tmp_path: Path
) -> None:
    path = tmp_path / "alerts.yaml"
    rule = {
        "level": "red",
        "condition": "utilization > 0.9",
        "message": {"zh": "x", "en": "x"},
        "actions": {"zh": ["x"], "en": ["x"]},
        "owner": "risk_officer",
        "response_hours": 24,
    }
    path.write_text(yaml.safe_dump({"rules": {"X1": rule}}), encoding="utf-8")
    result = score(exports["oct"], models, tmp_path / "s.csv", "--alerts", str(path))
    assert result.exit_code == 2
    assert "key 'rules.X1.condition': unknown name 'utilization'" in result.stderr
    assert "did you mean 'utilisation'?" in result.stderr


def test_the_grade_table_keeps_its_figures_whole_in_a_narrow_terminal(
    exports: dict[str, Path], models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rich cut a column's figures short ("31,7" for 31,743k) when the table did not fit
    monkeypatch.setenv("COLUMNS", "60")
    result = score(exports["oct"], models, tmp_path / "scores.csv")
    assert result.exit_code == 0, result.output
    limits = json.loads((tmp_path / "scores.run.json").read_text(encoding="utf-8"))["policy"][
        "limits"
    ]
    total = next(line for line in result.output.splitlines() if line.lstrip().startswith("total"))
    for key in ("current_total", "recommended_total"):
        assert f"{limits[key] / 10_000:,.0f}万" in total.split()  # (zh, the default)


def test_the_grade_table_counts_limits_in_wan_in_chinese_and_in_k_in_english(
    exports: dict[str, Path], models: Path, tmp_path: Path
) -> None:
    """A Chinese run's table said 31,743k where everything else Chinese says 万."""
    for lang, unit, divisor in (("zh", "万", 10_000), ("en", "k", 1000)):
        out = tmp_path / lang / "scores.csv"
        result = score(exports["oct"], models, out, "--lang", lang)
        assert result.exit_code == 0, result.output
        facts = json.loads(out.with_name("scores.run.json").read_text(encoding="utf-8"))
        limits = facts["policy"]["limits"]
        lines = result.output.splitlines()
        total = next(line for line in lines if line.lstrip().startswith("total")).split()
        assert total[-3:] == [
            f"{limits['current_total'] / divisor:,.0f}{unit}",
            f"{limits['recommended_total'] / divisor:,.0f}{unit}",
            f"{limits['change_total'] / divisor:+,.0f}{unit}",
        ]
        other = "k" if lang == "zh" else "万"
        assert not any(cell.endswith(other) for line in lines for cell in line.split())
        # the alert table named the levels in Chinese in an English run too; in English a
        # level is its colour alone (it said "red high"), in Chinese its colour as the PDFs
        # name it (it said "red 高")
        level = next(line for line in lines if line.lstrip().startswith("red")).split()
        assert level[1] == "红色" if lang == "zh" else level[1].isdigit()


def test_output_to_a_log_is_wide_enough_for_the_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    # a file or a pipe (cron, CI) has no width: rich's 80 columns wrapped or cut tables
    from custrisk.cli._console import LOG_WIDTH, _CliConsole

    monkeypatch.delenv("COLUMNS", raising=False)
    assert _CliConsole(file=io.StringIO()).width >= LOG_WIDTH
    monkeypatch.setenv("COLUMNS", "90")
    assert _CliConsole(file=io.StringIO()).width == 90  # a width asked for is kept
