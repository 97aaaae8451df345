"""`custrisk drift` end to end: train on one month, check others; exit codes and outputs."""

from __future__ import annotations

import json
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from custrisk.cli import app

AS_OF = "2026-10-31"


def _sample(out: Path, *args: str) -> Path:
    result = CliRunner().invoke(app, ["sample-data", str(out), *args])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def data(
    tmp_path_factory: pytest.TempPathFactory,
    export_3000: Path,
    export_3000_other: Path,
    models_3000: Path,
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("drift")
    folders = {
        "train": export_3000,
        "same": export_3000_other,
        "drifted": _sample(
            root / "drifted", "--customers", "3000", "--seed", "3", "--drift", "1.0"
        ),
        "small": _sample(root / "small", "--customers", "200", "--seed", "4", "--as-of", AS_OF),
    }
    return {**folders, "models": models_3000}


def _drift(data: dict[str, Path], which: str, *args: str) -> object:
    return CliRunner().invoke(
        app,
        [
            "drift",
            str(data[which]),
            "--model",
            "logistic",
            "--models-dir",
            str(data["models"]),
            *args,
        ],
    )


def test_same_distribution_is_stable_and_exits_0(data: dict[str, Path]) -> None:
    result = _drift(data, "same")
    assert result.exit_code == 0, result.output
    assert "Drift of logistic@1" in result.stdout
    assert "Overall: STABLE" in result.stdout
    assert "psi:score" in result.stdout and "csi:bureau_score" in result.stdout
    assert result.stderr == ""


def test_same_distribution_json_values_are_small(data: dict[str, Path]) -> None:
    result = _drift(data, "same", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "stable"
    assert report["as_of"] == AS_OF
    # the record says how the model was checked (no signing key here: its hashes only)
    assert report["model_trust"] == "unsigned"
    # the packaged thresholds, named by their place in the package (a CI log says which
    # applied; where custrisk is installed made two machines' reports differ)
    assert report["config_file"] == "custrisk:defaults/configs/drift.yaml"
    score = next(s for s in report["statistics"] if s["id"] == "psi:score")
    assert score["value"] < 0.05
    assert max(s["value"] for s in report["statistics"]) < 0.10


def test_drifted_data_alerts_and_exits_1(data: dict[str, Path]) -> None:
    result = _drift(data, "drifted", "--format", "json")
    assert result.exit_code == 1, result.output
    assert "Error: drift check failed (--fail-on alert)" in result.stderr
    report = json.loads(result.stdout)
    verdicts = {s["id"]: s["verdict"] for s in report["statistics"]}
    for shifted in ("csi:bureau_score", "csi:utilisation", "csi:payment_capacity", "psi:score"):
        assert verdicts[shifted] == "alert", shifted
    assert verdicts["csi:region"] == "stable"
    assert report["verdict"] == "alert" and report["failed"] is True
    labels = {s["id"]: s.get("label") for s in report["statistics"]}
    assert labels["csi:region"] == "地区"  # the card's label, for people


def test_drifted_table_is_sorted_worst_first(data: dict[str, Path]) -> None:
    result = _drift(data, "drifted")
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("│")]
    verdicts = [
        next(v for v in ("alert", "warn", "insufficient", "stable") if f" {v} " in line)
        for line in lines
    ]
    rank = {"stable": 0, "warn": 1, "insufficient": 2, "alert": 3}
    assert [rank[v] for v in verdicts] == sorted((rank[v] for v in verdicts), reverse=True)
    assert "Overall: ALERT" in result.stdout


def test_fail_on_never_and_warn(data: dict[str, Path]) -> None:
    failed = _drift(data, "drifted")
    assert "to report without failing, pass --fail-on never" in " ".join(failed.stderr.split())
    assert _drift(data, "drifted", "--fail-on", "never").exit_code == 0
    assert _drift(data, "same", "--fail-on", "warn").exit_code == 0


def test_performance_decay_with_labels(data: dict[str, Path]) -> None:
    labels = data["drifted"] / "labels.csv"
    result = _drift(data, "drifted", "--labels", str(labels), "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    by_id = {s["id"]: s for s in report["statistics"]}
    auc = by_id["auc"]
    assert auc["metric"] == "auc_drop"
    assert auc["value"] == pytest.approx(auc["reference"] - auc["current"])
    assert auc["value"] > 0.02  # the drifted month ranks customers worse
    assert auc["verdict"] in ("warn", "alert")
    assert by_id["bad_rate"]["verdict"] == "alert"  # 8.5% at training, about 25% now
    assert by_id["calibration"]["calibration"]
    assert report["data"]["labelled"] == 3000
    # The table names the statistic a drop and says which way the AUC went.
    table = _drift(data, "drifted", "--labels", str(labels)).stdout
    row = next(line for line in table.splitlines() if "auc drop" in line)
    assert f"{auc['current']:.3f} vs hold-out {auc['reference']:.3f} (lower)" in row
    assert f"{auc['value']:+.4f}" in row


def test_labels_on_same_distribution_keep_performance_stable(data: dict[str, Path]) -> None:
    labels = data["same"] / "labels.csv"
    result = _drift(data, "same", "--labels", str(labels))
    assert result.exit_code == 0, result.output
    assert "Calibration by PD decile" in result.stdout
    assert "auc drop" in result.stdout and "3,000 labelled" in result.stdout


def test_junit_on_stdout_parses(data: dict[str, Path]) -> None:
    result = _drift(data, "drifted", "--format", "junit")
    assert result.exit_code == 1
    root = ET.fromstring(result.stdout)
    (suite,) = root.findall("testsuite")
    names = [c.get("name") for c in suite.findall("testcase")]
    assert names[:2] == ["psi:score", "psi:pd"]
    assert "csi:bureau_score" in names  # an exports model's codes are its test names
    failed = {c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None}
    assert {"psi:score", "csi:bureau_score", "csi:utilisation"} <= failed
    assert int(suite.get("failures")) == len(failed)
    found = suite.find("properties")
    assert found is not None
    props = {p.get("name"): p.get("value") for p in found}
    assert props["model_trust"] == "unsigned"


def test_out_writes_the_format_atomically_and_still_prints_the_table(
    data: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "reports" / "drift.xml"
    result = _drift(data, "drifted", "--format", "junit", "--out", str(out))
    assert result.exit_code == 1
    assert "Overall: ALERT" in result.stdout and f"Wrote {out}" in result.stdout
    ET.parse(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]
    text_out = tmp_path / "drift.txt"
    assert _drift(data, "same", "--out", str(text_out)).exit_code == 0
    assert "Overall: STABLE" in text_out.read_text(encoding="utf-8")
    # without --format, a .json or .xml name asks for that format
    json_out, xml_out = tmp_path / "drift.json", tmp_path / "drift.xml"
    assert _drift(data, "same", "--out", str(json_out)).exit_code == 0
    assert json.loads(json_out.read_text(encoding="utf-8"))["verdict"] == "stable"
    assert _drift(data, "same", "--out", str(xml_out)).exit_code == 0
    ET.parse(xml_out)


def test_too_few_rows_is_insufficient(data: dict[str, Path]) -> None:
    result = _drift(data, "small", "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert {s["verdict"] for s in report["statistics"]} == {"insufficient"}
    assert report["verdict"] == "insufficient"
    assert "200 rows in the new data, below minimum.rows 400" in report["statistics"][0]["message"]
    # the way out of too little data is more data or --allow-insufficient, not --fail-on
    said = " ".join(result.stderr.split())
    assert "too little data to judge" in said and "--allow-insufficient" in said
    # a small portfolio is told the minimum and how to lower it
    assert "minimum: rows 400" in said and "lower minimum.rows" in said and "--config" in said
    assert "what moved most" not in said
    allowed = _drift(data, "small", "--allow-insufficient", "--format", "junit")
    assert allowed.exit_code == 0
    assert "too little data" in allowed.stderr
    root = ET.fromstring(allowed.stdout)
    assert all(c.find("skipped") is not None for c in root.iter("testcase"))


def test_config_file_sets_thresholds(data: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "drift.yaml"
    config.write_text("minimum: {rows: 100}\ncsi: {scope: model}\n", encoding="utf-8")
    result = _drift(data, "small", "--config", str(config), "--format", "json")
    report = json.loads(result.stdout)
    assert report["thresholds"]["min_rows"] == 100
    assert "insufficient" not in {s["verdict"] for s in report["statistics"]}
    assert not any(s.get("in_model") is False for s in report["statistics"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "--format must be one of text, json, junit; got 'xml'"),
        (["--fail-on", "sometimes"], "--fail-on must be one of alert, warn, never"),
        (["--as-of", "31/10/2026"], "--as-of '31/10/2026' is not a date"),
        (["--config", "nowhere.yaml"], "nowhere.yaml: config file not found"),
        (
            ["--format", "junit", "--out", "."],
            "--out . is a folder: it takes the file to write; e.g. --out drift.xml",
        ),
        (  # (was written as a file named not_made_yet)
            ["--out", "not_made_yet/"],
            "--out not_made_yet/ is a folder: it takes the file to write; e.g. --out "
            "not_made_yet/drift.txt",
        ),
        (  # (was the table's text in a file Excel refuses to open)
            ["--out", "drift.xlsx"],
            "--out drift.xlsx: drift writes text, JSON (.json) or JUnit XML (.xml), not a "
            ".xlsx file; name it drift.txt, .json or .xml",
        ),
    ],
)
def test_usage_errors_exit_2(data: dict[str, Path], args: list[str], message: str) -> None:
    result = _drift(data, "same", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_unknown_model_and_foreign_labels_exit_2(data: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["drift", str(data["same"]), "-m", "nosuch", "--models-dir", str(data["models"])]
    )
    assert result.exit_code == 2
    assert "no model named 'nosuch'" in result.stderr
    labels = tmp_path / "labels.csv"
    labels.write_text("customer_id,bad\nZZZ1,0\nZZZ2,1\n", encoding="utf-8")
    result = _drift(data, "same", "--labels", str(labels))
    assert result.exit_code == 2
    assert "none of the 2 labelled customers" in result.stderr


def _dated_before(data: dict[str, Path], path: Path, most: int) -> Path:
    """The labels of the "same" month with the first ``most`` bad outcomes dated
    2026-10-15, before the export's as-of date."""
    lines = (data["same"] / "labels.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    bad, bad_date = header.index("bad"), header.index("bad_date")
    moved = 0
    for i, line in enumerate(lines[1:], start=1):
        cells = line.split(",")
        if cells[bad] == "1" and moved < most:
            cells[bad_date] = "2026-10-15"
            lines[i] = ",".join(cells)
            moved += 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_labels_of_an_earlier_export_exit_2(data: dict[str, Path], tmp_path: Path) -> None:
    """Last month's labels against this month's export: most bad outcomes are dated
    before the export's as-of date, so they were known when it was taken. Measured on
    them, drift (and evaluate, and train) would mix months silently; all refuse, naming
    the file. A few such outcomes (customers already bad then) are left out, said."""
    few = _dated_before(data, tmp_path / "few.csv", 3)
    result = _drift(data, "same", "--labels", str(few))
    assert result.exit_code in (0, 1), result.output
    said = " ".join(result.output.split())
    assert "few.csv: 3 of the " in said and "already bad then, left out" in said
    labels = _dated_before(data, tmp_path / "september.csv", 10**6)
    result = _drift(data, "same", "--labels", str(labels))
    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.split())
    assert "september.csv: " in said and "(the earliest 2026-10-15)" in said
    assert f"bad_date on or before the data's as-of date {AS_OF}" in said
    assert "the labels of an earlier export" in said and "Traceback" not in result.output
    evaluated = CliRunner().invoke(
        app,
        [
            "evaluate", "logistic", str(data["same"]), "--labels", str(labels),
            "--models-dir", str(data["models"]),
        ],
    )  # fmt: skip
    assert evaluated.exit_code == 2, evaluated.output
    assert "the labels of an earlier export" in " ".join(evaluated.stderr.split())
    trained = CliRunner().invoke(
        app,
        [
            "train", str(data["same"]), "--labels", str(labels),
            "--models-dir", str(tmp_path / "models"),
        ],
    )  # fmt: skip
    assert trained.exit_code == 2, trained.output
    assert "the labels of an earlier export" in " ".join(trained.stderr.split())
    assert not (tmp_path / "models" / "logistic" / "1").exists()


def test_a_column_the_export_now_writes_with_a_unit_is_said_not_only_drift(
    data: dict[str, Path], tmp_path: Path
) -> None:
    """bureau_score exported as '712分' was read as all missing: drift said alert
    ('missing: 4.6% -> 100.0%') and nothing about why; validate warned, drift did not."""
    import shutil

    import pandas as pd

    folder = tmp_path / "units"
    shutil.copytree(data["same"], folder)
    credit = pd.read_csv(folder / "credit.csv", dtype=str, keep_default_na=False)
    credit["bureau_score"] = credit["bureau_score"] + "分"
    credit.to_csv(folder / "credit.csv", index=False)
    out = tmp_path / "drift.json"
    result = CliRunner().invoke(
        app,
        ["drift", str(folder), "--model", "logistic", "--models-dir", str(data["models"]),
         "--out", str(out), "--fail-on", "never"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert "Warning: credit: column bureau_score: " in said and "are not numbers" in said
    facts = json.loads(out.read_text(encoding="utf-8"))["data"]
    assert facts["rows_repaired_in_exports"] > 0
    assert any("column bureau_score" in w for w in facts["warnings_in_exports"])


def test_evaluate_on_too_few_labels_says_so(data: dict[str, Path]) -> None:
    """200 labelled customers: drift calls that insufficient and compare warns; evaluate
    printed an AUC next to the hold-out's as if it meant something."""
    result = CliRunner().invoke(
        app,
        [
            "evaluate", "logistic", str(data["small"]), "--labels",
            str(data["small"] / "labels.csv"), "--models-dir", str(data["models"]),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert (
        "Warning: 16 bads and 184 goods labelled, fewer than drift.yaml's minimum.bads "
        "(30 of each): the metrics are too uncertain to act on either way"
    ) in said


def test_evaluate_out_writes_the_json_result_and_nothing_when_it_fails(
    data: dict[str, Path], tmp_path: Path
) -> None:
    """A CI job keeps evaluate's result with --out, as drift's: a versioned JSON that
    says how the model was checked, and no file (not an empty one) when the step fails."""
    args = ["evaluate", "logistic", str(data["small"]), "--models-dir", str(data["models"])]
    out = tmp_path / "results" / "evaluate.json"
    labels = str(data["small"] / "labels.csv")
    result = CliRunner().invoke(app, [*args, "--labels", labels, "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["format"] == "custrisk.evaluate/1" and written["model_id"] == "logistic@1"
    assert written["model_trust"] == "unsigned" and written["metrics"]["n"] == 200
    assert f"Wrote {out}" in result.stdout and "Model logistic@1 on 200" in result.stdout
    missing = tmp_path / "failed.json"
    result = CliRunner().invoke(
        app, [*args, "--labels", str(tmp_path / "none.csv"), "--out", str(missing)]
    )
    assert result.exit_code == 2 and not missing.exists()
    result = CliRunner().invoke(app, [*args, "--labels", labels, "--out", str(tmp_path / "e.xml")])
    assert result.exit_code == 2
    assert "evaluate writes its result as JSON; name it" in " ".join(result.stderr.split())


def test_evaluate_judges_the_labels_by_the_drift_config_given(
    data: dict[str, Path], tmp_path: Path
) -> None:
    """The minimum is drift.yaml's: a team that sets minimum.bads for its drift gate
    gets the same judgement from evaluate (which always read the packaged file)."""
    config = tmp_path / "team-drift.yaml"
    config.write_text("minimum: {bads: 10}\n", encoding="utf-8")
    args = [
        "evaluate", "logistic", str(data["small"]), "--labels",
        str(data["small"] / "labels.csv"), "--models-dir", str(data["models"]),
    ]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "too uncertain" not in result.output
    config.write_text("minimum: {bads: 20}\n", encoding="utf-8")
    result = CliRunner().invoke(app, [*args, "--config", str(config)])
    said = " ".join(result.output.split())
    assert "16 bads and 184 goods labelled, fewer than team-drift.yaml's minimum.bads (20" in said


def test_ctrl_c_names_the_out_file_it_did_not_write(
    export_200: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    import custrisk.engine.choice
    from custrisk.io.stop import Stopped

    def stopped(*args: object, **kwargs: object) -> None:
        raise Stopped(signal.SIGINT)

    monkeypatch.setattr(custrisk.engine.choice, "check_data_drift_on", stopped)
    out = tmp_path / "drift.json"
    result = CliRunner().invoke(
        app, ["drift", str(export_200), "--model", "logistic", "--out", str(out)]
    )
    assert result.exit_code == 130, result.output
    assert " ".join(result.stderr.split()) == (
        f"Stopped: SIGINT during custrisk drift; {out} not written (an earlier file there "
        "is left as it was)"
    )
    assert not out.exists()
