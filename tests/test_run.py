"""``custrisk run``: the month's batch from one RUN.yaml -- a complete run folder, a no-op
second call, a refused concurrent run, kill -9 at several points then a resume giving the
same bytes, the previous month found, exit codes and one-line errors."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import custrisk
from custrisk.batch.checks import check_as_of
from custrisk.batch.layout import apply_retention
from custrisk.cli import app
from custrisk.errors import DataError
from custrisk.sample import generate_sample_data
from tests._support import cut_off

SRC = Path(custrisk.__file__).resolve().parents[1]
PERIOD, NEXT = "2026-10", "2026-11"
REPORTS_ON, REPORTS_OFF = "reports:\n  enabled: true", "reports:\n  enabled: false"


def _digests(folder: Path, root: Path | None = None) -> dict[str, str]:
    """SHA-256 of every output file of a run folder (not its log, facts or locks); with
    ``root``, of the bytes with that folder's path in them replaced by a placeholder
    (the validation report names the exports folder)."""

    def content(path: Path) -> bytes:
        data = path.read_bytes()
        return data if root is None else data.replace(str(root).encode(), b"<root>")

    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(content(p)).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and not p.name.startswith(".")
        and p.relative_to(folder).as_posix() not in ("run.json", "log.jsonl")
    }


@pytest.fixture(scope="module")
def next_month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Next month's exports of the same customers (as of 2026-11-30)."""
    folder = tmp_path_factory.mktemp("export_200_next")
    generate_sample_data(folder, customers=200, seed=1, as_of=dt.date(2026, 11, 30))
    return folder


@pytest.fixture(scope="module")
def make_root(
    tmp_path_factory: pytest.TempPathFactory, export_200: Path, models_200: Path, next_month: Path
) -> Callable[..., Path]:
    """A fresh folder laid out as RUN.yaml of ``custrisk run --init`` expects: exports of
    two months, the model registry, and the RUN.yaml written by --init, unedited; with
    ``reports=False``, its one edit turns the reports stage off (for tests of the runs
    folder's state across months, locks and notifications, to which the PDFs, two
    thirds of a run's time, add nothing)."""

    def make(*, reports: bool = True) -> Path:
        root = tmp_path_factory.mktemp("batch")
        shutil.copytree(export_200, root / "exports" / PERIOD)
        shutil.copytree(next_month, root / "exports" / NEXT)
        (root / "models").symlink_to(models_200)
        result = CliRunner().invoke(app, ["run", "--init", str(root / "run.yaml")])
        assert result.exit_code == 0, result.output
        if not reports:
            config = root / "run.yaml"
            text = config.read_text(encoding="utf-8")
            assert REPORTS_ON in text
            config.write_text(text.replace(REPORTS_ON, REPORTS_OFF), encoding="utf-8")
        return root

    return make


def _run(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["run", str(root / "run.yaml"), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


#: A time of the month's first run, for the schedule of notifications that failed.
T0 = dt.datetime(2026, 12, 2, 6, 0, tzinfo=dt.UTC)


def _run_at(root: Path, now: dt.datetime, period: str = PERIOD) -> tuple[int, str]:
    """``custrisk run`` of ``period`` at the time ``now`` (the run's clock, never slept):
    its exit code and summary line."""
    from custrisk.batch import load_run_config, run_batch

    outcome = run_batch(load_run_config(root / "run.yaml"), period, now=now)
    return outcome.exit_code, outcome.summary()


@pytest.fixture(scope="module")
def clean_run(make_root: Callable[[], Path]) -> tuple[Path, int, str, str]:
    """One uninterrupted run of 2026-10 with the --init config."""
    root = make_root()
    return root, *_run(root, "--period", PERIOD)


def test_the_init_config_builds_a_complete_run_folder(
    clean_run: tuple[Path, int, str, str],
) -> None:
    root, code, out, err = clean_run
    folder = root / "runs" / PERIOD
    # 200 customers are fewer than drift.yaml's minimum of 400 rows: the drift gate
    # fails on insufficient data (allow_insufficient: false), so the exit code is 1.
    assert code == 1, err
    assert out.count("\n") == 1 and out.startswith(f"custrisk run {PERIOD}: GATE FAILED: drift")
    assert "\x1b[" not in out + err  # no colours when not on a terminal
    assert "drift: 34 statistics with too little data to judge (" in err
    assert ": 200 rows in the new data, below minimum.rows 400" in err
    assert "allow_insufficient: true lets them pass" in err
    assert "drift.config with a lower minimum.rows" in err  # the way for a small portfolio
    facts = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert set(facts["stages"]) == {"validate", "score", "drift", "evaluate", "reports", "notify"}
    assert facts["stages"]["score"]["rows"]["customers"] == 200
    assert facts["stages"]["evaluate"]["status"] == "skipped"  # no 2026-09 labels
    # ... and the summary says so, naming the key and the file looked for
    labels = root / "exports" / "2026-09" / "labels.csv"
    assert f"no evaluation: evaluate.labels {labels} not found (month 2026-09," in out
    assert facts["stages"]["notify"]["status"] == "skipped"
    reports = facts["stages"]["reports"]["rows"]
    red = facts["stages"]["score"]["rows"]["alerts_red"]
    assert (
        reports["documents"]
        == reports["rendered"]
        == 1 + sum(1 for p in (folder / "reports").glob("customer_*.pdf"))
    )
    assert facts["outputs"] == _digests(folder)  # every output hashed, nothing else
    assert {"reports/portfolio.pdf", "scores.csv", "alerts.csv", "drift.json"} <= set(
        facts["outputs"]
    )
    assert "validation/validation_report.json" in facts["outputs"]
    assert (
        facts["inputs"]["exports/credit.csv"]
        == hashlib.sha256((root / "exports" / PERIOD / "credit.csv").read_bytes()).hexdigest()
    )
    assert (
        facts["configs"]["run"]["sha256"]
        == hashlib.sha256((root / "run.yaml").read_bytes()).hexdigest()
    )
    assert facts["versions"]["custrisk"] == custrisk.__version__
    assert all(isinstance(s["seconds"], float) for s in facts["stages"].values())
    assert red >= 1
    assert not (root / "runs" / f".staging-{PERIOD}").exists()
    events = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events][-2:] == ["published", "finished"]
    assert oct(folder.stat().st_mode & 0o777) == "0o700"


def test_a_second_call_does_nothing(
    clean_run: tuple[Path, int, str, str],
) -> None:
    root, _, _, _ = clean_run
    folder = root / "runs" / PERIOD
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*.pdf")}
    run_id = json.loads((folder / "run.json").read_text())["run_id"]
    code, out, _ = _run(root, "--period", PERIOD)
    assert code == 0
    assert f"nothing to do (run {run_id} is up to date)" in out
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*.pdf")} == before


def test_kill_9_at_several_points_then_resume_gives_the_same_bytes(
    clean_run: tuple[Path, int, str, str], make_root: Callable[[], Path]
) -> None:
    reference_root = clean_run[0]
    reference = reference_root / "runs" / PERIOD
    root = make_root()
    runs = root / "runs"
    env = {**os.environ, "PYTHONPATH": str(SRC), "CUSTRISK_TEST_PAUSE_FILE": str(root / "pid")}
    for n, point in enumerate(("before:score", "during:reports", "before:publish")):
        marker = root / "pid"
        marker.unlink(missing_ok=True)
        with (root / "stderr").open("wb") as errors:
            proc = subprocess.Popen(
                [sys.executable, "-m", "custrisk", "run", str(root / "run.yaml")]
                + ["--period", PERIOD],
                env={**env, "CUSTRISK_TEST_PAUSE_AT": point},
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )
        try:
            deadline = time.monotonic() + 120
            while not marker.is_file() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert marker.is_file(), (root / "stderr").read_text()
            assert int(marker.read_text()) == proc.pid
            if n == 0:  # while it holds the lock, a second run is refused by name
                code, _, err = _run(root, "--period", PERIOD)
                assert code == 2
                assert f"is in use by another custrisk process (pid {proc.pid}, host" in err
                assert "since 20" in err
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        assert not (runs / PERIOD).exists()  # only a finished run is moved into place
        assert (runs / f".staging-{PERIOD}").is_dir()
    code, out, err = _run(root, "--period", PERIOD)
    assert code == 1, err  # the same drift gate as the clean run
    assert _digests(runs / PERIOD, root) == _digests(reference, reference_root)
    facts = json.loads((runs / PERIOD / "run.json").read_text())
    assert facts["outputs"] == _digests(runs / PERIOD)
    log = (runs / PERIOD / "log.jsonl").read_text()
    assert log.count('"event": "start"') == 4
    assert "took over the lock of a run that died (pid" in log
    done_earlier = [json.loads(x) for x in log.splitlines() if '"done earlier"' in x]
    assert [e["stage"] for e in done_earlier][:2] == ["validate", "validate"]


def test_the_next_month_finds_the_previous_run_and_evaluates_matured_labels(
    make_root: Callable[..., Path],
) -> None:
    root = make_root(reports=False)
    assert _run(root, "--period", PERIOD)[0] == 1  # the drift gate of 200 customers
    code, out, err = _run(root)  # no --period: the latest month in exports/
    assert out.startswith(f"custrisk run {NEXT}:"), err
    assert code == 1  # the same too-small-for-drift gate
    folder = root / "runs" / NEXT
    facts = json.loads((folder / "run.json").read_text())
    previous = json.loads((root / "runs" / PERIOD / "run.json").read_text())
    assert facts["previous"] == {"period": PERIOD, "run_id": previous["run_id"]}
    scores_facts = json.loads((folder / "scores.run.json").read_text())
    assert scores_facts["migration"]["previous_file"] == str(root / "runs" / PERIOD / "scores.csv")
    assert facts["stages"]["evaluate"]["status"] == "ok"
    assert f"evaluation {PERIOD} AUC 0." in out
    # 200 customers hold fewer than 30 bads: the one line says not to act on the AUC
    assert "too few labels to act on: see evaluation.json)" in out
    assert facts["stages"]["evaluate"]["rows"]["too_few"] is True
    evaluation = json.loads((folder / "evaluation.json").read_text())
    assert evaluation["period"] == PERIOD and evaluation["labelled"] > 0
    assert 0.5 < evaluation["metrics"]["auc"] <= 1.0


def test_retention_keeps_the_latest_periods(tmp_path: Path) -> None:
    for period in ("2026-07", "2026-08", "2026-09", "2026-10"):
        (tmp_path / period).mkdir()
        (tmp_path / period / "run.json").write_text("{}")
    (tmp_path / ".staging-2026-06").mkdir()
    assert apply_retention(tmp_path, 2, "2026-10") == ["2026-07", "2026-08"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".staging-2026-06", "2026-09", "2026-10"]
    assert apply_retention(tmp_path, 0, "2026-10") == []


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("model: logistic", "modle: logistic"), r"run\.yaml, key 'modle': unknown key"),
        (("exports/{period}\n", "exports/latest\n"), r"key 'exports': .* has no \{period\}"),
        (("customers: with_alerts", "customers: some"), r"key 'reports\.customers': 'some'"),
        (("keep: 24", "keep: -1"), r"key 'retention\.keep': must be at least 0"),
        (("keep: 24", "keep: 1"), r"key 'retention\.keep': 1 would remove the run .*keep: 2"),
        (("fail_on: never", "fail_on: purple"), r"key 'fail_on': 'purple' is not allowed"),
        (
            ("fail_on: never", "fail_on: no"),
            r"key 'fail_on': expected a text, got false \(an unquoted yes/no, on/off or "
            r"true/false is a boolean in YAML\); allowed values: red, orange, yellow, never",
        ),
        (
            ("# encoding: gbk ", "encoding: gbkk #"),
            r"key 'encoding': unknown encoding 'gbkk'; utf-8, gbk or gb18030",
        ),
        (
            ("max_customer_drop: 0.5", "max_customer_drop: 1.5"),
            r"key 'checks\.max_customer_drop': must be a share from 0 to 1, got 1\.5",
        ),
        (
            ("max_rows_drop: 0.5", "max_rows_drop: -0.1"),
            r"key 'checks\.max_rows_drop': must be a share from 0 to 1, got -0\.1",
        ),
        (
            ("as_of_days_after: 7", "as_of_days_after: -1"),
            r"key 'checks\.as_of_days_after': must be at least 0",
        ),
        (
            ("# policy: configs/policy.yaml ", "policy: configs/policy.yaml #"),
            r"run\.yaml, key 'policy': 'configs/policy\.yaml' is not a file .*relative to",
        ),
        (
            ("  # templates: report_templates/", "  templates: report_templates/"),
            r"key 'reports\.templates': 'report_templates/' is not a folder",
        ),
        (
            (
                "retention:\n",
                "notifications:\n  channels:\n    wecom: {url_env: U, port: 1}\nretention:\n",
            ),
            r"/run\.yaml, key 'notifications\.channels\.wecom\.port': unknown key",
        ),
        (
            (
                "retention:\n",
                "notifications:\n  channels:\n    wecom: {url_env: U, owners: [collection]}\nretention:\n",
            ),
            r"key 'notifications\.channels\.wecom\.owners\[0\]': 'collection' is not the owner "
            r"of any alert rule .*owners: account_manager, collections,",
        ),
    ],
)
def test_a_bad_run_config_is_one_line_naming_the_key(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    runner = CliRunner()
    config = tmp_path / "run.yaml"
    assert runner.invoke(app, ["run", "--init", str(config)]).exit_code == 0
    config.write_text(config.read_text().replace(*edit, 1))
    result = runner.invoke(app, ["run", str(config), "--period", PERIOD])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert __import__("re").search(message, result.stderr), result.stderr


def test_init_without_a_file_writes_run_yaml_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["run", "--init"])
    assert result.exit_code == 0 and result.stdout.startswith("Wrote run.yaml;"), result.output
    assert (tmp_path / "run.yaml").is_file()


def test_init_writes_the_language_asked_for(tmp_path: Path) -> None:
    """An English user had to edit lang: zh in the RUN.yaml --init wrote."""
    from custrisk.batch import load_run_config

    runner = CliRunner()
    config = tmp_path / "run.yaml"
    result = runner.invoke(app, ["run", "--init", str(config), "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert load_run_config(config).lang == "en"
    assert "\nlang: en                            # labels" in config.read_text()
    fr = runner.invoke(app, ["run", "--init", str(tmp_path / "fr.yaml"), "--lang", "fr"])
    assert fr.exit_code == 2 and "--lang must be one of zh, en; got 'fr'" in fr.stderr
    alone = runner.invoke(app, ["run", str(config), "--lang", "en"])
    assert alone.exit_code == 2 and "--lang goes with --init only" in alone.stderr


def test_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    config = tmp_path / "run.yaml"
    assert runner.invoke(app, ["run", "--init", str(config)]).exit_code == 0
    again = runner.invoke(app, ["run", "--init", str(config)])
    assert again.exit_code == 2 and "already exists" in again.stderr
    bad = runner.invoke(app, ["run", str(config), "--period", "2026-13"])
    assert bad.exit_code == 2 and "--period '2026-13' is not a month" in bad.stderr
    year_0 = runner.invoke(app, ["run", str(config), "--period", "0000-01"])  # (a traceback)
    assert year_0.exit_code == 2 and "is not a month; write it as YYYY-MM (a year 1900" in (
        year_0.stderr
    )
    (tmp_path / "exports" / "9999-12").mkdir(parents=True)  # (year 10000 next: a traceback)
    far = runner.invoke(app, ["run", str(config)])
    assert far.exit_code == 2 and "no exports match" in far.stderr, far.output
    missing = runner.invoke(app, ["run", str(config), "--period", PERIOD])
    assert missing.exit_code == 2
    assert f"exports/{PERIOD}: the exports of the period are not there" in missing.stderr
    latest = runner.invoke(app, ["run", str(config)])
    assert latest.exit_code == 2 and "no exports match" in latest.stderr
    (tmp_path / "exports" / PERIOD).mkdir(parents=True)  # the exports, but no model trained
    untrained = runner.invoke(app, ["run", str(config), "--period", PERIOD])
    assert untrained.exit_code == 2
    assert f"key 'models_dir': '{tmp_path / 'models'}' is not a folder" in untrained.stderr


def test_a_month_folder_that_is_no_run_is_refused_not_replaced(tmp_path: Path) -> None:
    """runs/2026-10 written by hand or by ``custrisk score --out runs/2026-10/scores.csv``
    (the README's step-by-step) used to be deleted without a word when the run was
    published in its place."""
    runner = CliRunner()
    config = tmp_path / "run.yaml"
    assert runner.invoke(app, ["run", "--init", str(config)]).exit_code == 0
    (tmp_path / "exports" / PERIOD).mkdir(parents=True)
    month = tmp_path / "runs" / PERIOD
    month.mkdir(parents=True)
    (month / "scores.csv").write_text("mine\n", encoding="utf-8")
    (month / ".custrisk.lock").touch()
    result = runner.invoke(app, ["run", str(config), "--period", PERIOD])
    assert result.exit_code == 2
    err = " ".join(result.stderr.split())
    assert f"{month} is no run of custrisk run (no run.json) but holds scores.csv" in err
    assert "move them elsewhere" in err
    assert (month / "scores.csv").read_text(encoding="utf-8") == "mine\n"


def test_force_and_changed_inputs_run_the_month_again(make_root: Callable[[], Path]) -> None:
    root = make_root()
    config = root / "run.yaml"
    config.write_text(
        config.read_text().replace("reports:\n  enabled: true", "reports:\n  enabled: false")
    )
    folder = root / "runs" / PERIOD
    assert _run(root, "--period", PERIOD)[0] == 1
    first = json.loads((folder / "run.json").read_text())
    assert first["stages"]["reports"]["status"] == "skipped"
    code, out, _ = _run(root, "--period", PERIOD, "--force")
    assert code == 1 and "nothing to do" not in out
    forced = json.loads((folder / "run.json").read_text())
    assert forced["outputs"] == first["outputs"] and forced["run_id"] == first["run_id"]
    assert (folder / "log.jsonl").read_text().count('"event": "start"') == 1  # a new folder
    # settings that change no output (report workers, months kept): the month is up to
    # date, its digests are not sent again
    tuned = config.read_text().replace("# workers: 2", "workers: 3").replace("keep: 24", "keep: 6")
    assert tuned != config.read_text()
    config.write_text(tuned)
    code, out, _ = _run(root, "--period", PERIOD)
    assert code == 0 and "nothing to do" in out, out
    (root / "exports" / PERIOD / "notes.txt").write_text("a file that came with the export")
    code, out, _ = _run(root, "--period", PERIOD)
    assert code == 1 and "nothing to do" not in out
    changed = json.loads((folder / "run.json").read_text())
    assert "exports/notes.txt" in changed["inputs"]
    assert (
        f"inputs or configs changed since run {first['run_id']}"
        in (folder / "log.jsonl").read_text()
    )
    assert sorted(p.name for p in (root / "runs").iterdir() if not p.name.endswith(".lock")) == [
        PERIOD
    ]


def test_a_pandas_run_reads_each_export_file_once_and_drifts_as_drift_does(
    make_root: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """validate reads and cleans the month's exports, score takes them over and drift
    takes score's features: each file read again was the month read again (most of a
    batch's time). Drift's report is the one ``check_data_drift`` makes reading them."""
    from custrisk.batch.layout import write_json
    from custrisk.data import workspace
    from custrisk.scoring import check_data_drift

    real, read = workspace.read_part, []

    def reading(*args: object, **kwargs: object) -> object:
        read.append(Path(str(args[2])).name)  # (spec, part, path, ...)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(workspace, "read_part", reading)
    root = make_root(reports=False)
    code, _, err = _run(root, "--period", PERIOD)
    assert code == 1, err  # (the drift gate: 200 customers are too few)
    assert sorted(read) == ["behaviour.csv", "credit.csv", "transactions.csv"]
    report = check_data_drift(
        "logistic", root / "exports" / PERIOD, models_dir=root / "models", fail_on="alert"
    )
    write_json(root / "drift.json", report.to_dict())
    drift = (root / "runs" / PERIOD / "drift.json").read_bytes()
    assert drift == (root / "drift.json").read_bytes()


def test_a_month_run_in_english_is_read_back_in_english(make_root: Callable[..., Path]) -> None:
    """RUN.yaml's lang: en reached the scores and reports but not drift.json's labels,
    and custrisk alerts on the month's folder spoke Chinese unless told --lang en."""
    root = make_root(reports=False)
    config = root / "run.yaml"
    text = config.read_text(encoding="utf-8")
    assert "\nlang: zh " in text
    config.write_text(text.replace("\nlang: zh ", "\nlang: en "), encoding="utf-8")
    code, _, err = _run(root, "--period", PERIOD)
    assert code == 1, err  # (the drift gate: 200 customers are too few)
    month = root / "runs" / PERIOD
    assert json.loads((month / "scores.run.json").read_text(encoding="utf-8"))["lang"] == "en"
    drift = json.loads((month / "drift.json").read_text(encoding="utf-8"))
    labels = "".join(s.get("label") or "" for s in drift["statistics"])
    assert "Credit utilisation" in labels and not any("\u4e00" <= ch <= "\u9fff" for ch in labels)
    said = CliRunner().invoke(app, ["alerts", str(month), "--level", "red"])
    assert said.exit_code == 0 and "Handling actions:" in said.stdout, said.output


def test_a_stage_that_fails_on_bad_input_exits_2_and_keeps_its_staging_folder(
    make_root: Callable[[], Path],
) -> None:
    root = make_root()
    credit = root / "exports" / PERIOD / "credit.csv"
    lines = credit.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].split(",")
    column = header.index("customer_id")
    drop = lambda line: ",".join(f for i, f in enumerate(line.split(",")) if i != column)  # noqa: E731
    credit.write_text("".join(drop(line) for line in lines), encoding="utf-8")
    code, out, err = _run(root, "--period", PERIOD)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "credit.csv" in err and "customer_id" in err
    runs = root / "runs"
    assert not (runs / PERIOD).exists()
    log = [
        json.loads(x) for x in (runs / f".staging-{PERIOD}" / "log.jsonl").read_text().splitlines()
    ]
    assert log[-1]["event"] == "stage_failed" and log[-1]["stage"] == "validate"


def test_a_full_disk_during_a_stage_names_the_stage_and_the_folder_and_resumes(
    make_root: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write refused for want of room (pyarrow's error names no file) is one line naming
    the stage, the staging folder and how to go on, not a bare "No space left on device",
    and the run resumes at that stage once there is room."""
    import errno

    from custrisk.batch import run as batch_run

    def full(_ctx: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    root = make_root(reports=False)
    monkeypatch.setitem(batch_run.RUNNERS, "score", full)
    code, out, err = _run(root, "--period", PERIOD)
    staging = root / "runs" / f".staging-{PERIOD}"
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert f"{staging}: stage score of {PERIOD}: No space left on device; stages validate " in err
    assert "free space on that disk (or make it writable) and run the same command " in err
    assert "again to resume at score" in err
    log = [json.loads(x) for x in (staging / "log.jsonl").read_text().splitlines()]
    assert log[-1]["event"] == "stage_failed" and "No space" in log[-1]["error"]
    monkeypatch.undo()
    code, out, err = _run(root, "--period", PERIOD)
    assert code in (0, 1) and "resumed at score" in out, err


@pytest.mark.parametrize(
    ("code", "said", "hint"),
    [
        ("EFBIG", "File too large", "raise the file size limit of the job (ulimit -f "),
        ("EACCES", "Permission denied", "check the path and its permissions and run the same"),
    ],
)
def test_a_write_the_system_refuses_in_a_stage_is_said_and_logged_as_a_failed_stage(
    make_root: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, code: str, said: str, hint: str
) -> None:
    """Past the file size limit (a cron job's `ulimit -f`) or a folder it may not write: the
    line names the stage, the staging folder and the way out (not "File too large; check
    the path and its permissions" with neither), and log.jsonl ends with stage_failed."""
    import errno

    from custrisk.batch import run as batch_run

    def refused(_ctx: object) -> None:
        number = getattr(errno, code)
        raise OSError(number, os.strerror(number))

    root = make_root(reports=False)
    monkeypatch.setitem(batch_run.RUNNERS, "score", refused)
    code_, out, err = _run(root, "--period", PERIOD)
    staging = root / "runs" / f".staging-{PERIOD}"
    assert code_ == 2 and out == "" and err.count("\n") == 1, err
    assert f"{staging}: stage score of {PERIOD}: {said}; stages validate kept; {hint}" in err
    assert err.rstrip().endswith("run the same command again to resume at score"), err
    log = [json.loads(x) for x in (staging / "log.jsonl").read_text().splitlines()]
    assert log[-1]["event"] == "stage_failed" and said in log[-1]["error"]


def _refused(root: Path, period: str, *words: str) -> str:
    """Run ``period``; assert it stopped with exit 2 and one line holding ``words``, and
    that nothing was published. The error line."""
    code, out, err = _run(root, "--period", period)
    assert code == 2 and out == "", out + err
    assert err.count("\n") == 1 and "Traceback" not in err
    for word in words:
        assert word in err, err
    assert not (root / "runs" / period).exists()
    return err


def test_a_cut_export_stops_the_run_before_anything_is_published(
    make_root: Callable[[], Path],
) -> None:
    root = make_root()
    line = cut_off(root / "exports" / PERIOD / "transactions.csv")
    _refused(root, PERIOD, f"transactions.csv:{line}: ", "cut off", "export")


def test_last_months_exports_left_in_the_folder_are_refused(
    make_root: Callable[[], Path],
) -> None:
    root = make_root()
    shutil.rmtree(root / "exports" / NEXT)
    shutil.copytree(root / "exports" / PERIOD, root / "exports" / NEXT)  # as of 2026-10-31
    err = _refused(root, NEXT, NEXT, "as-of date 2026-10-31", "2026-11-01 to 2026-12-07")
    assert "checks.as_of_days_after" in err
    log = (root / "runs" / f".staging-{NEXT}" / "log.jsonl").read_text().splitlines()
    assert json.loads(log[-1])["event"] == "stage_failed"


def test_older_exports_after_a_finished_month_are_refused_as_not_the_months(
    clean_run: tuple[Path, int, str, str], tmp_path: Path
) -> None:
    """A month's folder holding exports older than the previous month's run: said as
    the month's as-of check says it (the folder's files are not the month's), not as a
    previous run given the wrong way round."""
    root = tmp_path / "root"
    shutil.copytree(clean_run[0], root, symlinks=True)  # 2026-10 run
    shutil.rmtree(root / "exports" / NEXT)
    september = dt.date(2026, 9, 30)
    generate_sample_data(root / "exports" / NEXT, customers=200, seed=1, as_of=september)
    err = _refused(root, NEXT, NEXT, "as-of date 2026-09-30", "2026-11-01 to 2026-12-07")
    assert "seems to hold 2026-09's files" in err
    assert "compared backwards" not in err


def test_exports_of_a_later_month_are_refused(make_root: Callable[[], Path]) -> None:
    root = make_root()
    shutil.rmtree(root / "exports" / PERIOD)
    shutil.copytree(root / "exports" / NEXT, root / "exports" / PERIOD)  # as of 2026-11-30
    _refused(root, PERIOD, PERIOD, "as-of date 2026-11-30", "2026-10-01 to 2026-11-07")


@pytest.mark.parametrize(
    ("as_of", "accepted"),
    [
        ("2026-10-01", True),
        ("2026-10-31", True),
        ("2026-11-01", True),  # the export taken on the 1st of the next month
        ("2026-11-07", True),
        ("2026-11-08", False),
        ("2026-09-30", False),
        ("2099-10-31", False),
    ],
)
def test_the_as_of_window_is_the_month_and_a_week_after(as_of: str, accepted: bool) -> None:
    if accepted:
        check_as_of(PERIOD, dt.date.fromisoformat(as_of), days_after=7, exports=Path("e"))
    else:
        with pytest.raises(DataError, match=rf"custrisk run {PERIOD}: .*as-of date {as_of}"):
            check_as_of(PERIOD, dt.date.fromisoformat(as_of), days_after=7, exports=Path("e"))


def test_data_read_by_queries_outside_the_month_is_told_about_the_queries_not_a_folder() -> None:
    """A month read from a database was told 'exports/2026-11 seems to hold 2026-10's
    files; put 2026-11's exports there', of a folder that does not exist."""
    from custrisk.batch.checks import check_customer_drop, check_rows_drop

    exports = Path("exports/2026-11")
    for as_of, said in (
        ("2026-10-31", "the queries return 2026-10's rows"),
        ("2026-12-31", "rows of a later month"),
    ):
        with pytest.raises(DataError) as caught:
            check_as_of(
                NEXT, dt.date.fromisoformat(as_of), days_after=7, exports=exports, queried=True
            )
        assert said in str(caught.value) and "their WHERE" in str(caught.value)
        assert str(exports) not in str(caught.value)
    with pytest.raises(
        DataError, match="the queries' rows look partial; check the credit query's WHERE"
    ):
        check_customer_drop(
            NEXT,
            10,
            previous_period=PERIOD,
            previous_customers=200,
            max_drop=0.5,
            exports=exports,
            queried=True,
        )
    with pytest.raises(DataError, match="the query of source transactions has 900 rows .*partial"):
        check_rows_drop(
            NEXT,
            {"transactions": (900, ["postgresql+psycopg://crm/transactions"])},
            customers=200,
            previous_period=PERIOD,
            previous_rows={"transactions": 2000},
            previous_customers=200,
            max_drop=0.5,
            queried=True,
        )


def test_a_flat_table_dated_before_its_month_is_told_how_to_date_itself(tmp_path: Path) -> None:
    """A table whose latest date (开户日期) is years before the month: the way out is a
    column of the date it was taken, not another --period (custrisk run has no --as-of)."""
    table = tmp_path / "客户清单.xlsx"
    table.touch()
    with pytest.raises(DataError) as caught:
        check_as_of(PERIOD, dt.date(2024, 2, 8), days_after=7, exports=table)
    said = caught.value.one_line()
    assert "the table's as-of date 2024-02-08 (its latest date) is before the period" in said
    assert "数据日期" in said and "2026-10-31" in said and "--period" not in said


def test_a_month_with_far_fewer_customers_stops_before_publishing(
    make_root: Callable[[], Path], clean_run: tuple[Path, int, str, str]
) -> None:
    root = make_root()
    shutil.copytree(clean_run[0] / "runs" / PERIOD, root / "runs" / PERIOD)  # 200 customers
    kept = {f"{i:010d}" for i in range(1, 81)}  # a partial export: 80 customers, whole
    for path in (root / "exports" / NEXT).glob("*.csv"):
        header, *rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
        column = header.split(",").index("customer_id")
        path.write_text(
            header + "".join(r for r in rows if r.split(",")[column] in kept), encoding="utf-8"
        )
    _refused(root, NEXT, "80 customers", "200", "60%", "checks.max_customer_drop: 0.5")
    config = root / "run.yaml"
    text = config.read_text().replace("max_customer_drop: 0.5", "max_customer_drop: 0.7")
    config.write_text(text.replace("reports:\n  enabled: true", "reports:\n  enabled: false"))
    code, out, err = _run(root, "--period", NEXT)  # a drop that is real, allowed for
    assert code in (0, 1) and out.startswith(f"custrisk run {NEXT}:"), err
    facts = json.loads((root / "runs" / NEXT / "run.json").read_text())
    assert facts["stages"]["score"]["rows"]["customers"] == 80


def test_an_export_cut_at_a_line_end_stops_the_month_before_publishing(
    make_root: Callable[..., Path], clean_run: tuple[Path, int, str, str]
) -> None:
    """transactions.csv copied while it was still being written, cut at a line end: its
    bytes are those of a whole file and every customer is still in credit.csv, so neither
    the cut-file check nor the customers' catch it; scored, the month would file (and
    send) alerts from a third of the transactions. Its rows against the previous run's
    refuse it, and max_rows_drop lets a real drop through."""
    root = make_root(reports=False)
    shutil.copytree(clean_run[0] / "runs" / PERIOD, root / "runs" / PERIOD)
    export = root / "exports" / NEXT / "transactions.csv"
    lines = export.read_text(encoding="utf-8").splitlines(keepends=True)
    before = json.loads(
        (root / "runs" / PERIOD / "validation" / "validation_report.json").read_text()
    )
    previous = before["sources"]["transactions"]["rows_in"]
    kept = len(lines) // 3
    export.write_text("".join(lines[: kept + 1]), encoding="utf-8")  # the header and a third
    _refused(
        root,
        NEXT,
        f"{export} (source transactions) has {kept:,} rows against {previous:,} in the run "
        f"of {PERIOD}, a drop of ",
        "more than checks.max_rows_drop: 0.5 allows: the export looks partial",
        "wait for the export to finish, copy it again and run again",
    )
    config = root / "run.yaml"
    config.write_text(config.read_text().replace("max_rows_drop: 0.5", "max_rows_drop: 1"))
    code, out, err = _run(root, "--period", NEXT)  # a drop that is real, allowed for
    assert code in (0, 1) and out.startswith(f"custrisk run {NEXT}:"), err
    published = root / "runs" / NEXT / "validation" / "validation_report.json"
    assert json.loads(published.read_text())["sources"]["transactions"]["rows_in"] == kept


@pytest.mark.parametrize("scope", ["period", "all"])
def test_a_run_of_another_period_is_refused_while_one_holds_the_runs_folder(
    make_root: Callable[[], Path], scope: str
) -> None:
    from custrisk.io.lock import exclusive_lock

    root = make_root()
    config = root / "run.yaml"
    config.write_text(config.read_text().replace("lock: period", f"lock: {scope}"))
    with exclusive_lock(root / "runs" / ".custrisk-run.lock"):  # as a run of 2026-10 would
        code, out, err = _run(root, "--period", NEXT)
    assert code == 2 and out == ""
    held = "the runs folder (one run at a time, of any month) is in use by another custrisk"
    assert f"{held} process (pid {os.getpid()}" in err
    assert "wait for it to finish;" in err and "another folder" not in err
    assert not (root / "runs" / f".staging-{NEXT}").exists()


def test_notifications_reach_a_real_smtp_server_and_webhook_without_personal_data(
    make_root: Callable[[], Path], export_200: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import email
    import email.policy

    import pandas as pd

    from tests._inbox import local_inbox

    root = make_root()
    with local_inbox() as inbox:
        monkeypatch.setenv("TEST_WECOM_URL", f"{inbox.http_url}/wecom")
        config = root / "run.yaml"
        config.write_text(
            config.read_text(encoding="utf-8") + "\nnotifications:\n"
            "  min_level: orange\n"
            "  channels:\n"
            "    mail:\n"
            "      type: smtp\n"
            "      host: 127.0.0.1\n"
            f"      port: {inbox.smtp_port}\n"
            "      security: none\n"
            "      from: risk@example.com\n"
            "      attach_portfolio: true\n"
            "      to: {default: [risk@example.com]}\n"
            "    wecom: {type: wecom, url_env: TEST_WECOM_URL}\n",
            encoding="utf-8",
        )
        code, out, err = _run(root, "--period", PERIOD)
        mails, posts = list(inbox.mails), list(inbox.posts)
    assert code == 1, err  # the drift gate of 200 customers, as in the clean run
    facts = json.loads((root / "runs" / PERIOD / "run.json").read_text(encoding="utf-8"))
    stage = facts["stages"]["notify"]
    assert stage["status"] == "ok" and stage["rows"]["failed"] == 0, stage
    assert stage["rows"]["deliveries"] == len(mails) + len(posts) >= 2
    assert mails and posts and posts[0][0] == "/wecom"
    message = email.message_from_bytes(mails[0], policy=email.policy.default)
    assert [a.get_filename() for a in message.iter_attachments()] == ["portfolio.pdf"]
    credit = pd.read_csv(export_200 / "credit.csv", dtype=str)
    sent = b"".join(mails).decode("utf-8", "replace") + json.dumps(posts, ensure_ascii=False)
    # reports are linked where they are once the run is in place, not in its staging folder
    assert str(root / "runs" / PERIOD / "reports" / "customer_") in sent
    assert ".staging" not in sent
    for column in ("name", "phone", "id_number"):
        leaked = [v for v in credit[column].dropna() if len(v) > 2 and v in sent]
        assert not leaked, f"{column} in clear in a notification: {leaked[:3]}"


def test_a_webhook_delivery_carries_the_run_id_of_run_json(
    make_root: Callable[[], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receiver matches a delivery to its run: the webhook's run_id is run.json's,
    which is the scoring run's (scores.run.json), one id."""
    from tests._inbox import local_inbox

    root = make_root()
    config = root / "run.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "reports:\n  enabled: true", "reports:\n  enabled: false"
        )
        + "\nnotifications:\n"
        "  channels:\n"
        "    hook: {type: webhook, url_env: TEST_HOOK_URL, secret_env: TEST_HOOK_SECRET}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("TEST_HOOK_SECRET", "s3cret")
    with local_inbox() as inbox:
        monkeypatch.setenv("TEST_HOOK_URL", f"{inbox.http_url}/hook")
        code, out, err = _run(root, "--period", PERIOD)
        posts = list(inbox.posts)
    assert code in (0, 1), out + err
    folder = root / "runs" / PERIOD
    facts = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    scoring = json.loads((folder / "scores.run.json").read_text(encoding="utf-8"))
    assert posts and all(path == "/hook" for path, _ in posts)
    assert {body["run_id"] for _, body in posts} == {facts["run_id"]} == {scoring["run_id"]}
    assert facts["stages"]["score"]["rows"]["run_id"] == facts["run_id"]


#: A notifications section's e-mail channel to the local inbox (SMTP_PORT: its port).
_MAIL_CHANNEL = (
    "    mail:\n"
    "      type: smtp\n"
    "      host: 127.0.0.1\n"
    "      port: SMTP_PORT\n"
    "      security: none\n"
    "      from: risk@example.com\n"
    "      attach_portfolio: false\n"
    "      to: {default: [risk@example.com]}\n"
)


def _notifications(root: Path, channels: str, *, fail_on_error: bool = False) -> Path:
    """RUN.yaml of ``root`` with a notifications section whose sends are tried once:
    ``channels`` (YAML lines under ``channels:``), failing the run when a send fails if
    ``fail_on_error``."""
    config = root / "run.yaml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + "\nnotifications:\n"
        + ("  fail_on_error: true\n" if fail_on_error else "")
        + "  retry: {attempts: 1, timeout_seconds: 2}\n  channels:\n"
        + channels,
        encoding="utf-8",
    )
    return config


def _failing_notifications(root: Path, channel: str) -> Path:
    """:func:`_notifications` failing the run: the e-mail channel to the local inbox and
    ``channel`` (one YAML line)."""
    return _notifications(root, _MAIL_CHANNEL + f"    {channel}\n", fail_on_error=True)


def test_a_run_again_resends_only_the_notifications_that_failed(
    make_root: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook was down during the monthly run: a cron tick before its next attempt
    sends nothing and says when; the one after finds the results up to date and sends
    that message only (the e-mail went through already), and run.json's notify stage and
    gate say it was delivered."""
    from tests._inbox import free_port, local_inbox

    root = make_root(reports=False)
    config = _failing_notifications(root, "wecom: {type: wecom, url_env: TEST_WECOM_URL}")
    folder = root / "runs" / PERIOD
    hour = dt.timedelta(hours=1)
    with local_inbox() as inbox:
        config.write_text(config.read_text().replace("SMTP_PORT", str(inbox.smtp_port)))
        monkeypatch.setenv("TEST_WECOM_URL", f"http://127.0.0.1:{free_port()}/wecom")  # down
        code, out = _run_at(root, T0)
        assert code == 1 and "1 notification failed (fail_on_error" in out, out
        assert "1 failed (next attempt from 2026-12-02 06:55 UTC)" in out, out
        mails = len(inbox.mails)
        assert mails >= 1 and not inbox.posts
        monkeypatch.setenv("TEST_WECOM_URL", f"{inbox.http_url}/wecom")  # back up
        code, out = _run_at(root, T0 + hour / 2)  # the next tick: not yet
        assert code == 0 and "re-sent" not in out and not inbox.posts, out
        assert "next attempt from 2026-12-02 06:55 UTC" in out, out
        code, out = _run_at(root, T0 + hour)
        assert code == 0, out
        assert "nothing to do" in out
        assert "re-sent 1 failed notification: 1 delivered, 0 still failing" in out
        assert len(inbox.posts) == 1 and len(inbox.mails) == mails  # the mail is not repeated
        facts = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        stage = facts["stages"]["notify"]
        assert stage["rows"] == {"deliveries": mails + 1, "failed": 0}
        assert "gate" not in stage
        assert not any("notification" in g for g in facts["gate"]["failures"])
        sent = json.loads((folder / "notifications.json").read_text(encoding="utf-8"))
        assert all(d["ok"] and "resend" not in d for d in sent["deliveries"])  # reset
        code, out = _run_at(root, T0 + 2 * hour)  # nothing failed: nothing re-sent
        assert code == 0 and "re-sent" not in out and len(inbox.posts) == 1


def test_a_failing_channel_is_retried_ever_later_then_given_up_with_the_command_to_send_it(
    make_root: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A webhook that stays unreachable is not tried at every cron tick: after each
    failure the wait grows (1 h, 2 h, ... a day), the summary says when the next attempt
    is, and past a week the batch gives up in a line naming the channel and the command
    that sends it by hand; that command tries at once, the channel alone."""
    from tests._inbox import free_port, local_inbox

    root = make_root(reports=False)
    config = _notifications(root, "    hook: {type: webhook, url_env: TEST_DOWN_HOOK_URL}\n")
    folder = root / "runs" / PERIOD
    monkeypatch.setenv("TEST_DOWN_HOOK_URL", f"http://127.0.0.1:{free_port()}/hook")
    hour, minute = dt.timedelta(hours=1), dt.timedelta(minutes=1)

    def schedule() -> dict[str, object]:
        sent = json.loads((folder / "notifications.json").read_text(encoding="utf-8"))
        [delivery] = sent["deliveries"]
        assert not delivery["ok"]
        return dict(delivery["resend"])

    _run_at(root, T0 + dt.timedelta(seconds=40))  # (recorded after the tick that sent)
    assert schedule()["next_attempt"] == (T0 + hour - 5 * minute).isoformat()
    code, out = _run_at(root, T0 + hour - 6 * minute)
    assert "re-sent" not in out and schedule()["failures"] == 1, out
    code, out = _run_at(root, T0 + hour)  # the next hourly tick
    assert "re-sent 1 failed notification: 0 delivered, 1 still failing" in out, out
    assert "next attempt from 2026-12-02 08:55 UTC" in out  # 2 h after the second failure
    assert schedule()["failures"] == 2
    code, out = _run_at(root, T0 + dt.timedelta(days=7))  # the next wait ends past a week
    assert "re-sent 1 failed notification: 0 delivered, 1 still failing; gave up " in out
    assert "of channel hook (failed in 3 runs since 2026-12-02 06:00 UTC)" in out, out
    assert f"send by hand: custrisk notify {folder} -c {config} --channel hook" in out
    assert schedule()["gave_up"] is True
    log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    assert [e["channels"] for e in log if e["event"] == "notify_gave_up"] == [["hook"]]
    code, out = _run_at(root, T0 + dt.timedelta(days=30))
    assert code == 0 and "re-sent" not in out and "1 given up" in out, out
    assert schedule()["failures"] == 3
    with local_inbox() as inbox:  # by hand: at once, whatever the schedule
        monkeypatch.setenv("TEST_DOWN_HOOK_URL", f"{inbox.http_url}/hook")
        result = CliRunner().invoke(
            app, ["notify", str(folder), "-c", str(config), "--channel", "hook"]
        )
        assert result.exit_code == 0 and len(inbox.posts) == 1, result.output
        result = CliRunner().invoke(
            app, ["notify", str(folder), "-c", str(config), "--channel", "mail"]
        )
        assert result.exit_code == 2 and "its channels: hook" in result.output, result.output


def _notify_by_hand(folder: Path, config: Path, *more: str) -> tuple[int, str]:
    """``custrisk notify FOLDER -c RUN.yaml --channel hook``: exit code and output."""
    result = CliRunner().invoke(
        app, ["notify", str(folder), "-c", str(config), "--channel", "hook", *more]
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, " ".join(result.output.split())


def test_a_new_month_names_the_month_befores_undelivered_notifications_and_the_command(
    make_root: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook was down at October's run; November's exports arrive before it came
    back: November's first run says, once, that October's message is no longer re-sent
    by the batch and the command that sends it; October's schedule is left as it was,
    and that command sends it and records it, so October's run sends it no more."""
    from tests._inbox import free_port, local_inbox

    root = make_root(reports=False)
    config = _notifications(root, "    hook: {type: webhook, url_env: TEST_LEFT_HOOK_URL}\n")
    october, november = root / "runs" / PERIOD, root / "runs" / NEXT
    monkeypatch.setenv("TEST_LEFT_HOOK_URL", f"http://127.0.0.1:{free_port()}/hook")
    _run_at(root, T0)
    before = (october / "notifications.json").read_bytes()
    code, out = _run_at(root, T0 + dt.timedelta(minutes=30), NEXT)
    command = f"custrisk notify {october} -c {config} --channel hook"
    said = (
        f"1 notification of {PERIOD} not delivered (1 waiting for a retry; channel hook), "
        f"no longer re-sent now that {NEXT} has run; send by hand: {command}"
    )
    assert said in out, out
    log = [json.loads(line) for line in (november / "log.jsonl").read_text().splitlines()]
    [left] = [e for e in log if e["event"] == "notify_left_behind"]
    assert (
        left["period"] == NEXT
        and left["month"] == PERIOD
        and left["messages"] == 1
        and left["command"] == command
    )
    assert (october / "notifications.json").read_bytes() == before  # not re-sent, not edited
    code, out = _run_at(root, T0 + dt.timedelta(hours=2), NEXT)  # said once
    assert f"of {PERIOD} not delivered" not in out, out
    with local_inbox() as inbox:
        monkeypatch.setenv("TEST_LEFT_HOOK_URL", f"{inbox.http_url}/hook")
        code, out = _notify_by_hand(october, config)
        assert code == 0 and len(inbox.posts) == 1, out
        assert f"recorded 1 delivery in {october / 'notifications.json'}" in out
        code, out = _run_at(root, T0 + dt.timedelta(hours=3))  # October by hand: up to date
        assert "re-sent" not in out and len(inbox.posts) == 1, out
    sent = json.loads((october / "notifications.json").read_text(encoding="utf-8"))
    [delivery] = sent["deliveries"]
    assert delivery["ok"] and delivery["sent_by_hand"] and "resend" not in delivery
    facts = json.loads((october / "run.json").read_text(encoding="utf-8"))
    assert facts["stages"]["notify"]["rows"] == {"deliveries": 1, "failed": 0}


def test_a_send_by_hand_sends_only_what_was_not_delivered_unless_again(
    make_root: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook failed at the month's run, the e-mails went through: custrisk notify
    on the month's folder without --channel sends the webhook alone, each e-mail named
    as skipped with the command that sends it again (--again, which does); a damaged
    notifications.json is one line naming it and that command, which sets it aside and
    records every message anew."""
    from tests._inbox import free_port, local_inbox

    root = make_root(reports=False)
    config = _failing_notifications(root, "hook: {type: webhook, url_env: TEST_AGAIN_URL}")
    folder = root / "runs" / PERIOD
    record = folder / "notifications.json"

    def notify(*more: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["notify", str(folder), "-c", str(config), *more])
        assert result.exception is None or isinstance(result.exception, SystemExit)
        return result.exit_code, " ".join(result.output.split())

    with local_inbox() as inbox:
        config.write_text(config.read_text().replace("SMTP_PORT", str(inbox.smtp_port)))
        monkeypatch.setenv("TEST_AGAIN_URL", f"http://127.0.0.1:{free_port()}/hook")  # down
        _run_at(root, T0)
        mails = len(inbox.mails)
        monkeypatch.setenv("TEST_AGAIN_URL", f"{inbox.http_url}/hook")  # back up
        code, out = notify("--dry-run")
        assert code == 0 and "skip mail -> owner" in out and not inbox.posts, out
        code, out = notify()
        assert code == 0 and len(inbox.posts) == 1 and len(inbox.mails) == mails, out
        assert "ok hook -> webhook 127.0.0.1: " in out and "1 attempt" in out, out
        assert out.count("delivered before, not sent again") == mails, out
        again = f"custrisk notify {folder} -c {config} --again"
        assert f"{mails} messages delivered before (recorded in {record}) not sent " in out
        assert f"to send them again: {again}" in out, out
        code, out = notify("--channel", "hook")  # nothing left to send
        assert code == 0 and len(inbox.posts) == 1, out
        assert (
            f"to send it again: custrisk notify {folder} -c {config} --channel hook --again" in out
        )
        code, out = notify("--again")
        assert code == 0 and len(inbox.posts) == 2 and len(inbox.mails) == 2 * mails, out
        record.write_text(record.read_text(encoding="utf-8")[:200], encoding="utf-8")
        for more in ((), ("--channel", "hook"), ("--dry-run",)):
            code, out = notify(*more)
            assert code == 2 and out.startswith(f"Error: {record}: the record of the month's "), out
            assert out.endswith(f"(the damaged file is set aside): {again}"), out
            assert "not valid JSON" in out and "remove the run folder" not in out, out
        assert len(inbox.posts) == 2
        damaged = record.read_bytes()
        code, out = notify("--again")
        assert code == 0 and len(inbox.posts) == 3 and len(inbox.mails) == 3 * mails, out
        [aside] = folder.glob("notifications.json.damaged-*")
        assert aside.read_bytes() == damaged and f"was set aside as {aside}" in out, out
    sent = json.loads(record.read_text(encoding="utf-8"))
    assert len(sent["deliveries"]) == mails + 1 and all(d["ok"] for d in sent["deliveries"])
    facts = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert facts["stages"]["notify"]["rows"] == {"deliveries": mails + 1, "failed": 0}


@pytest.mark.parametrize(
    ("text", "wrong"),
    [
        ('{"deliveries": [', "not valid JSON (Expecting value: line 1 column 17"),
        ("[1, 2]", "a JSON list, not an object"),
        ('{"deliveries": 5}', "its 'deliveries' is not a list of objects"),
        ('{"deliveries": [1]}', "its 'deliveries' is not a list of objects"),
        # (a RecursionError and its traceback)
        ('{"deliveries": ' + "[" * 100_000 + "]" * 100_000 + "}", "not valid JSON (nested too"),
    ],
)
def test_a_damaged_notifications_record_is_named_with_what_is_wrong(
    tmp_path: Path, text: str, wrong: str
) -> None:
    from custrisk.batch.sent import read_record

    path = tmp_path / "notifications.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_record(path, "custrisk notify X -c run.yaml --again")
    said = str(caught.value)
    assert said.startswith(f"{path}: the record of the month's notifications is damaged: {wrong}")
    assert said.endswith("(the damaged file is set aside): custrisk notify X -c run.yaml --again")


def test_a_notifications_record_too_large_is_damaged_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 200 MB notifications.json was read whole into memory; over the limit it is
    named damaged, and the batch's lenient reading finds no deliveries in it."""
    from custrisk.batch import _notify
    from custrisk.batch.sent import read_record

    monkeypatch.setattr(_notify, "MAX_RECORD_BYTES", 64)
    path = tmp_path / "notifications.json"
    path.write_text(json.dumps({"deliveries": [{"ok": True}] * 20}), encoding="utf-8")
    with pytest.raises(DataError, match="damaged: not valid JSON \\(over 0 MiB"):
        read_record(path, "custrisk notify X --again")
    assert _notify.recorded(path) == []


def test_the_line_of_a_month_left_behind_counts_each_state_and_quotes_its_command(
    tmp_path: Path,
) -> None:
    """Given up and waiting messages of two channels, one delivered since: counted by
    state, one command for both channels, its paths quoted for the shell."""
    from custrisk.batch._notify import record_failure
    from custrisk.batch.sent import left_behind

    folder = tmp_path / "my runs" / PERIOD
    folder.mkdir(parents=True)
    hook = {"channel": "hook", "type": "webhook", "target": "webhook h", "ok": False}
    mail = {"channel": "mail", "type": "smtp", "target": "owner a (1 recipient)", "ok": False}
    given_up = record_failure(hook, {"resend": {"first_failed": "2026-11-01T00:00:00+00:00"}}, T0)
    assert given_up["resend"]["gave_up"]
    deliveries = [given_up, record_failure(mail, None, T0), {**mail, "target": "b", "ok": True}]
    deliveries += [{**mail, "target": "b"}]  # a failure of a message delivered since
    (folder / "notifications.json").write_text(json.dumps({"deliveries": deliveries}))
    left = left_behind(folder, NEXT, tmp_path / "run.yaml")
    assert left is not None
    assert left["line"].startswith(
        f"2 notifications of {PERIOD} not delivered (1 given up, 1 waiting for a retry; "
        f"channels hook, mail), no longer re-sent now that {NEXT} has run; send by hand: "
    )
    assert left["command"] == (
        f"custrisk notify '{folder}' -c {tmp_path / 'run.yaml'} --channel hook --channel mail"
    )
    (folder / "notifications.json").write_text(json.dumps({"deliveries": deliveries[2:3]}))
    assert left_behind(folder, NEXT, tmp_path / "run.yaml") is None
    assert left_behind(None, NEXT, tmp_path / "run.yaml") is None


def test_the_line_of_messages_given_up_names_one_command_for_all_their_channels(
    tmp_path: Path,
) -> None:
    from custrisk.batch._notify import given_up_line, record_failure

    first = {"resend": {"first_failed": "2026-11-01T00:00:00+00:00", "failures": 4}}
    failed = [
        record_failure({"channel": name, "type": "webhook", "ok": False}, first, T0)
        for name in ("hook", "my mail")
    ]
    folder = tmp_path / PERIOD
    line = given_up_line(failed, folder, tmp_path / "run.yaml")
    assert line == (
        "gave up re-sending 2 notifications of channels hook, my mail (failed in 5 runs "
        f"since 2026-11-01 00:00 UTC); send by hand: custrisk notify {folder} -c "
        f"{tmp_path / 'run.yaml'} --channel hook --channel 'my mail'"
    )


def test_a_channel_that_failed_whole_is_delivered_by_hand_once_none_of_its_messages_fail() -> None:
    """An e-mail channel whose messages could not be built at the run (a password
    variable unset) is one failure of the channel; sent by hand, one message per owner:
    the failure goes once every message was delivered, and stays while one failed."""
    from custrisk.batch.sent import merged_by_hand, undelivered

    whole = {"channel": "mail", "type": "smtp", "target": "smtp", "ok": False}
    hook = {"channel": "hook", "type": "webhook", "target": "webhook h", "ok": True}
    owner = {"channel": "mail", "type": "smtp", "target": "owner a (1 recipient)", "ok": True}
    other = {**owner, "target": "owner b (2 recipients)"}
    merged = merged_by_hand([hook, whole], [owner, other], T0)
    assert [d["target"] for d in merged] == ["webhook h", *(d["target"] for d in (owner, other))]
    assert all(d["sent_by_hand"] == T0.isoformat() for d in merged[1:]) and not undelivered(merged)
    merged = merged_by_hand([hook, whole], [owner, {**other, "ok": False}], T0)
    assert undelivered(merged) == [whole]  # (the failed one is not recorded)
    assert [d["target"] for d in merged] == ["webhook h", "smtp", owner["target"]]


def test_a_message_sent_by_hand_is_recorded_and_not_sent_again_by_the_batch(
    make_root: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """custrisk notify on the month's folder while the batch waits to re-send a failed
    webhook: a hand send that fails too leaves the schedule as it was; one refused while
    the batch holds the runs folder's lock sends nothing; one delivered is recorded in
    notifications.json and run.json (the gate lifted), and the batch's next attempt
    sends nothing."""
    from custrisk.io.lock import exclusive_lock
    from tests._inbox import free_port, local_inbox

    root = make_root(reports=False)
    config = _failing_notifications(root, "hook: {type: webhook, url_env: TEST_HAND_URL}")
    folder = root / "runs" / PERIOD
    record = folder / "notifications.json"
    with local_inbox() as inbox:
        config.write_text(config.read_text().replace("SMTP_PORT", str(inbox.smtp_port)))
        monkeypatch.setenv("TEST_HAND_URL", f"http://127.0.0.1:{free_port()}/hook")  # down
        code, out = _run_at(root, T0)
        assert code == 1 and "1 failed" in out, out
        mails, before = len(inbox.mails), record.read_bytes()
        code, out = _notify_by_hand(folder, config)  # still down
        assert code == 1 and "recorded" not in out, out
        waiting = "(custrisk run tries again from 2026-12-02 06:55 UTC)"
        assert f"Note: 1 message still undelivered in {record} {waiting}" in out, out
        assert record.read_bytes() == before  # the schedule as it was
        monkeypatch.setenv("TEST_HAND_URL", f"{inbox.http_url}/hook")  # back up
        with exclusive_lock(root / "runs" / ".custrisk-run.lock"):  # as custrisk run would
            code, out = _notify_by_hand(folder, config)
        assert code == 2 and "is in use by another custrisk process" in out, out
        assert "wait for custrisk run to finish, then send again" in out and not inbox.posts
        code, out = _notify_by_hand(folder, config)
        assert code == 0 and len(inbox.posts) == 1, out
        assert "custrisk run does not send it again" in out
        code, out = _run_at(root, T0 + dt.timedelta(hours=1))  # the batch's next attempt
        assert code == 0 and "re-sent" not in out, out
        assert len(inbox.posts) == 1 and len(inbox.mails) == mails
    sent = json.loads(record.read_text(encoding="utf-8"))
    assert all(d["ok"] for d in sent["deliveries"]) and len(sent["deliveries"]) == mails + 1
    facts = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert facts["stages"]["notify"]["rows"] == {"deliveries": mails + 1, "failed": 0}
    assert "gate" not in facts["stages"]["notify"]
    assert not any("notification" in g for g in facts["gate"]["failures"])
    assert facts["outputs"]["notifications.json"] == hashlib.sha256(record.read_bytes()).hexdigest()


def test_the_resend_schedule_doubles_from_an_hour_to_a_day_and_ends_after_a_week() -> None:
    from custrisk.batch._notify import due, record_failure

    delivery: dict[str, object] = {"channel": "hook", "ok": False}
    now, waits = T0, []
    while True:
        delivery = record_failure(delivery, delivery if "resend" in delivery else None, now)
        if delivery["resend"].get("gave_up"):  # type: ignore[attr-defined]
            break
        after = dt.datetime.fromisoformat(delivery["resend"]["next_attempt"])  # type: ignore[index]
        assert not due(delivery, after - dt.timedelta(seconds=1)) and due(delivery, after)
        waits.append((after - now + dt.timedelta(minutes=5)) / dt.timedelta(hours=1))
        now = after
    assert waits == [1, 2, 4, 8, 16, 24, 24, 24, 24, 24]
    assert now - T0 <= dt.timedelta(days=7) and not due(delivery, T0 + dt.timedelta(days=99))


def test_a_damaged_notifications_record_sends_as_a_first_run_would(tmp_path: Path) -> None:
    """The run a month run again replaces has a notifications.json cut or edited by
    hand: its deliveries count as none (every digest is sent), never a traceback."""
    from custrisk.batch._notify import delivered_contents, recorded

    path = tmp_path / "notifications.json"
    good = {"channel": "hook", "ok": True, "content_sha256": "ab"}
    for text in ('{"deliveries": [', "[1, 2]", '{"deliveries": {"a": 1}}', "\xff"):
        path.write_text(text, encoding="latin-1")
        assert recorded(path) == []
    path.write_text(json.dumps({"deliveries": [good, "x", {"channel": "a", "ok": False}]}))
    assert delivered_contents(recorded(path)) == {("hook", "ab")}
    assert recorded(tmp_path / "absent.json") == []


def test_a_damaged_notifications_record_stops_the_next_tick_with_the_way_out(
    make_root: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """cron's next tick on a month whose notifications.json was damaged: one line naming
    the file and the send that records everything anew, not "run the period again"."""
    root = make_root(reports=False)
    _notifications(root, "    hook: {type: webhook, url_env: TEST_DAMAGED_HOOK_URL}\n")
    monkeypatch.delenv("TEST_DAMAGED_HOOK_URL", raising=False)
    _run_at(root, T0)
    record = root / "runs" / PERIOD / "notifications.json"
    record.write_text('{"deliveries": 5}', encoding="utf-8")
    with pytest.raises(DataError) as caught:  # (the CLI: one line, exit 2)
        _run_at(root, T0 + dt.timedelta(hours=1))
    said = caught.value.one_line()
    assert "notifications.json" in said and "'deliveries' is not a list of objects" in said
    assert f"custrisk notify {record.parent} -c {root / 'run.yaml'} --again" in said
    assert "run the period again" not in said


def test_a_webhook_whose_url_was_unset_or_moved_is_resent_once_then_never_again(
    make_root: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """cron ran without the variable holding the webhook's URL, then the URL was set (or
    pointed at another host): the next run sends the message once, and the failure of
    the earlier URL does not stay in notifications.json to have it sent at every run."""
    from tests._inbox import free_port, local_inbox

    root = make_root(reports=False)
    _notifications(root, "    hook: {type: webhook, url_env: TEST_MOVED_HOOK_URL}\n")
    folder = root / "runs" / PERIOD
    hour = dt.timedelta(hours=1)
    monkeypatch.delenv("TEST_MOVED_HOOK_URL", raising=False)
    code, out = _run_at(root, T0)
    assert "1 failed" in out, out
    monkeypatch.setenv("TEST_MOVED_HOOK_URL", f"http://localhost:{free_port()}/hook")  # down
    code, out = _run_at(root, T0 + hour)
    assert "re-sent 1 failed notification: 0 delivered, 1 still failing" in out, out
    with local_inbox() as inbox:
        monkeypatch.setenv("TEST_MOVED_HOOK_URL", f"{inbox.http_url}/hook")  # another host
        code, out = _run_at(root, T0 + 3 * hour)
        assert "re-sent 1 failed notification: 1 delivered, 0 still failing" in out, out
        code, out = _run_at(root, T0 + 4 * hour)
        assert "re-sent" not in out, out
        assert len(inbox.posts) == 1
    sent = json.loads((folder / "notifications.json").read_text(encoding="utf-8"))
    assert [d["ok"] for d in sent["deliveries"]] == [True]
    facts = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert facts["stages"]["notify"]["rows"] == {"deliveries": 1, "failed": 0}


def test_a_month_run_again_sends_only_the_digests_whose_content_changed(
    make_root: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edit of RUN.yaml that runs the month again (the drift gate) leaves every digest
    as it was: none is sent again, and the summary and the log say how many were
    unchanged (a digest that changed is sent: tests/test_notify.py)."""
    from tests._inbox import local_inbox

    root = make_root(reports=False)
    config = root / "run.yaml"
    folder = root / "runs" / PERIOD
    with local_inbox() as inbox:
        monkeypatch.setenv("TEST_WECOM_URL", f"{inbox.http_url}/wecom")
        mail = _MAIL_CHANNEL.replace("SMTP_PORT", str(inbox.smtp_port))
        config.write_text(
            config.read_text(encoding="utf-8")
            + "\nnotifications:\n  channels:\n"
            + mail
            + "    wecom: {type: wecom, url_env: TEST_WECOM_URL}\n",
            encoding="utf-8",
        )
        _run_at(root, T0)
        sent = len(inbox.mails) + len(inbox.posts)
        assert inbox.mails and inbox.posts
        text = config.read_text(encoding="utf-8")
        assert "  fail_on: alert" in text
        config.write_text(text.replace("  fail_on: alert", "  fail_on: never"), encoding="utf-8")
        code, out = _run_at(root, T0)
        assert "inputs or configs changed" in (folder / "log.jsonl").read_text(), out
        assert len(inbox.mails) + len(inbox.posts) == sent, out  # nothing sent again
        said = f"0 delivered, 0 failed, {sent} unchanged since sent (not sent again)"
        assert f"notifications {said}" in out, out
        log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
        [done] = [e for e in log if e["event"] == "stage_done" and e["stage"] == "notify"]
        assert done["detail"] == said and done["rows"]["unchanged"] == sent


def test_encrypt_true_leaves_no_customer_value_in_clear_and_needs_the_key(
    make_root: Callable[[], Path], export_200: Path, tmp_path: Path
) -> None:
    import base64

    import pandas as pd

    from custrisk.privacy import mask_id_number, mask_name, mask_phone
    from custrisk.protect import ENCRYPTION, new_key

    root = make_root()
    config = root / "run.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "\nencrypt: true\n", encoding="utf-8")
    key = new_key(ENCRYPTION)
    env = {
        "CUSTRISK_KEY": f"{key.id}:{base64.b64encode(key.secret).decode()}",
        "CUSTRISK_KEYFILE": str(tmp_path / "no-keyfile.json"),
    }
    runner = CliRunner()
    without = runner.invoke(
        app, ["run", str(config), "--period", PERIOD], env={**env, "CUSTRISK_KEY": ""}
    )
    assert without.exit_code == 2, without.output
    assert len(without.stderr.strip().splitlines()) == 1 and "key" in without.stderr
    assert not (root / "runs" / PERIOD).exists()
    result = runner.invoke(app, ["run", str(config), "--period", PERIOD], env=env)
    assert result.exit_code == 1, result.output  # the drift gate of 200 customers
    folder = root / "runs" / PERIOD
    credit = pd.read_csv(export_200 / "credit.csv", dtype=str)
    values: set[str] = set()
    for column, mask in (("name", mask_name), ("phone", mask_phone), ("id_number", mask_id_number)):
        raw = credit[column].dropna()
        values |= set(raw) | set(mask(raw))
    values = {v for v in values if len(v.encode("utf-8")) >= 5}
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert any(p.name == "scores.csv.enc" for p in files)
    assert any(p.suffix == ".enc" and p.parent.name == "reports" for p in files)
    for path in files:
        data = path.read_bytes()
        leaked = [v for v in values if v.encode("utf-8") in data]
        assert not leaked, f"{path.relative_to(folder)} holds {leaked[:3]} in clear"
    again = runner.invoke(app, ["run", str(config), "--period", PERIOD], env=env)
    assert again.exit_code == 0 and "nothing to do" in again.stdout, again.output
    alerts = runner.invoke(app, ["alerts", str(folder / "scores.csv"), "--level", "red"], env=env)
    assert alerts.exit_code == 0, alerts.output
    locked = runner.invoke(
        app, ["alerts", str(folder / "scores.csv")], env={**env, "CUSTRISK_KEY": ""}
    )
    assert locked.exit_code == 2 and key.id in locked.output, locked.output


# -- the state of a runs folder across months: one run at a time, the month before, a
# removed previous run, a moved folder ---------------------------------------------------


@pytest.fixture(scope="module")
def third_month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The exports of the same customers as of 2026-12-31."""
    folder = tmp_path_factory.mktemp("export_200_third")
    generate_sample_data(folder, customers=200, seed=1, as_of=dt.date(2026, 12, 31))
    return folder


class _Paused:
    """``custrisk run`` of ``period`` in another process, stopped at ``point`` (holding
    the lock) until killed."""

    def __init__(self, root: Path, period: str, point: str) -> None:
        marker = root / "pid"
        marker.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": str(SRC), "CUSTRISK_TEST_PAUSE_FILE": str(marker)}
        with (root / "stderr").open("wb") as errors:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "custrisk", "run", str(root / "run.yaml")]
                + ["--period", period],
                env={**env, "CUSTRISK_TEST_PAUSE_AT": point},
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )
        deadline = time.monotonic() + 120
        while not marker.is_file() and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if not marker.is_file():
            self.kill()
            raise AssertionError((root / "stderr").read_text())

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


def _facts(root: Path, period: str) -> dict[str, object]:
    return json.loads((root / "runs" / period / "run.json").read_text(encoding="utf-8"))


def test_two_months_of_one_runs_folder_never_run_at_once_and_in_order(
    make_root: Callable[..., Path],
) -> None:
    """Both months started together: the later one neither runs beside the earlier (the
    lock is the runs folder's) nor without it once that one was killed."""
    root = make_root(reports=False)
    paused = _Paused(root, PERIOD, "before:score")
    try:
        code, out, err = _run(root, "--period", NEXT)
        assert code == 2 and out == ""
        assert f"is in use by another custrisk process (pid {paused.proc.pid}, host" in err
        assert not (root / "runs" / f".staging-{NEXT}").exists()
    finally:
        paused.kill()
    code, out, err = _run(root, "--period", NEXT)  # the month before was killed midway
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert f"the run of {PERIOD}, the month before {NEXT}, did not finish" in err
    assert f"custrisk run run.yaml --period {PERIOD}" in err
    assert not (root / "runs" / NEXT).exists()
    assert _run(root, "--period", PERIOD)[0] == 1, "resumed; the drift gate of 200 customers"
    assert _run(root, "--period", NEXT)[0] == 1
    previous = _facts(root, NEXT)["previous"]
    assert previous == {"period": PERIOD, "run_id": _facts(root, PERIOD)["run_id"]}


def test_the_first_month_of_a_runs_folder_runs_without_a_previous_run_and_says_so(
    make_root: Callable[..., Path],
) -> None:
    root = make_root(reports=False)  # exports of 2026-10 are there, but no run at all yet
    code, out, err = _run(root, "--period", NEXT)
    assert code == 1, err  # the drift gate of 200 customers
    assert _facts(root, NEXT)["previous"] is None
    log = (root / "runs" / NEXT / "log.jsonl").read_text(encoding="utf-8")
    assert f"no run before {NEXT} in runs: the first month, compared with no earlier run" in log


def test_a_month_after_a_gap_is_refused_while_the_missing_month_can_be_run(
    make_root: Callable[..., Path], third_month: Path
) -> None:
    root = make_root(reports=False)
    shutil.copytree(third_month, root / "exports" / "2026-12")
    assert _run(root, "--period", PERIOD)[0] == 1
    code, out, err = _run(root, "--period", "2026-12")
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert f"no run of {NEXT}, the month before 2026-12" in err
    assert f"custrisk run run.yaml --period {NEXT}" in err
    assert not (root / "runs" / "2026-12").exists()
    # the month never came (no exports): the run compares with the latest earlier one
    (root / "exports" / NEXT).rename(root / f"missing-{NEXT}")
    code, out, err = _run(root, "--period", "2026-12")
    assert code == 1, err
    previous = _facts(root, "2026-12")["previous"]
    assert previous == {"period": PERIOD, "run_id": _facts(root, PERIOD)["run_id"]}
    log = (root / "runs" / "2026-12" / "log.jsonl").read_text(encoding="utf-8")
    assert f"no run of {NEXT} (nor its exports): compared with the run of {PERIOD}" in log


def test_a_month_whose_previous_run_retention_removed_is_still_up_to_date(
    make_root: Callable[..., Path],
) -> None:
    """Retention removes the run the oldest kept month was compared with: rerunning that
    month is a no-op, not a new run without migration and a second digest."""
    root = make_root(reports=False)
    assert _run(root, "--period", PERIOD)[0] == 1
    assert _run(root, "--period", NEXT)[0] == 1
    before = _facts(root, NEXT)
    assert apply_retention(root / "runs", 1, NEXT) == [PERIOD]
    code, out, err = _run(root, "--period", NEXT)
    assert code == 0, err
    assert f"nothing to do (run {before['run_id']} is up to date)" in out
    assert _facts(root, NEXT) == before


def test_a_forget_leaves_the_later_months_up_to_date(make_root: Callable[..., Path]) -> None:
    """custrisk forget gives every month's run a new run id: the month after, compared
    with the run as published, stays up to date rather than being scored again from its
    exports (which may still hold the customer) with its digests sent again."""
    root = make_root(reports=False)
    assert _run(root, "--period", PERIOD)[0] == 1
    assert _run(root, "--period", NEXT)[0] == 1
    published = _facts(root, PERIOD)["run_id"]
    scores = (root / "runs" / NEXT / "scores.csv").read_text(encoding="utf-8").splitlines()
    customer = scores[1].split(",")[0].lstrip("\ufeff")
    result = CliRunner().invoke(app, ["forget", customer, "--runs", str(root / "runs")])
    assert result.exit_code == 0, result.output
    facts = _facts(root, PERIOD)
    assert facts["run_id"] != published and facts["published_run_id"] == published
    code, out, err = _run(root, "--period", NEXT)
    assert code == 0, err
    assert "nothing to do" in out
    assert customer not in (root / "runs" / NEXT / "scores.csv").read_text(encoding="utf-8")


def test_a_month_after_a_model_change_says_its_grade_changes_compare_two_models(
    tmp_path: Path,
) -> None:
    """A new model version promoted since the month before: the summary line says that the
    grade changes (GR01 firing for the new model's other grades) compare two models."""
    from custrisk.batch.layout import previous_model_differs
    from custrisk.batch.run import DONE, BatchOutcome

    before = tmp_path / "2026-09"
    before.mkdir()
    (before / "run.json").write_text(json.dumps({"model": {"model_id": "retail@1"}}))
    said = previous_model_differs(before, "retail@2")
    assert said == (
        "model retail@2, 2026-09 scored by retail@1: grade changes and their alerts "
        "compare the two models"
    )
    assert previous_model_differs(before, "retail@1") is None
    assert previous_model_differs(None, "retail@2") is None
    facts = {"previous": {"period": "2026-09"}, "stages": {"score": {"rows": {"customers": 9}}}}
    line = BatchOutcome("2026-10", tmp_path, DONE, facts, other_model=said).summary()
    assert f"customers 9, {said}; " in line


def test_a_runs_folder_backed_up_and_restored_elsewhere_is_up_to_date(
    make_root: Callable[..., Path], models_200: Path, tmp_path: Path
) -> None:
    """A moved install: the backup of runs/ and models/ restored under another path, the
    RUN.yaml and exports copied beside them; the next run does nothing (and sends
    nothing again)."""
    # (up to date is decided on the run's fingerprint, before any stage: the reports
    # stage adds files to back up, not to the decision)
    root = make_root(reports=False)
    assert _run(root, "--period", PERIOD)[0] == 1
    run_id = _facts(root, PERIOD)["run_id"]
    env = {"CUSTRISK_KEYFILE": str(tmp_path / "no-keys.json"), "CUSTRISK_KEY": ""}
    runner = CliRunner()
    args = ["backup", "--out", str(tmp_path / "backups"), "--runs", str(root / "runs")]
    result = runner.invoke(app, [*args, "--models", str(models_200)], env=env)
    assert result.exit_code == 0, result.output
    (archive,) = (tmp_path / "backups").glob("*.tar.gz")
    moved = tmp_path / "elsewhere"
    result = runner.invoke(app, ["restore", str(archive), "--to", str(moved)], env=env)
    assert result.exit_code == 0, result.output
    shutil.copytree(root / "exports", moved / "exports")
    shutil.copy2(root / "run.yaml", moved / "run.yaml")
    root.rename(root.with_name(f"{root.name}-gone"))  # nothing read from the old place
    code, out, err = _run(moved, "--period", PERIOD)
    assert code == 0, out + err
    assert f"nothing to do (run {run_id} is up to date)" in out


def test_an_edited_notifications_section_sends_what_was_not_delivered_not_the_month(
    make_root: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A channel added to RUN.yaml after the month ran: the month stays up to date (it
    ran again whole, and every recipient got the digest a second time); the new
    channel's message is sent, the e-mail is not repeated, and an edit every delivery
    already meets sends nothing."""
    from tests._inbox import local_inbox

    root = make_root(reports=False)
    config = root / "run.yaml"
    mail = "\nnotifications:\n  channels:\n" + _MAIL_CHANNEL
    folder = root / "runs" / PERIOD
    with local_inbox() as inbox:
        monkeypatch.setenv("TEST_WECOM_URL", f"{inbox.http_url}/wecom")
        base = config.read_text(encoding="utf-8")
        config.write_text(base + mail.replace("SMTP_PORT", str(inbox.smtp_port)))
        code, out, err = _run(root, "--period", PERIOD)
        assert code in (0, 1), out + err
        run_id = json.loads((folder / "run.json").read_text(encoding="utf-8"))["run_id"]
        mails = len(inbox.mails)
        assert mails >= 1 and not inbox.posts
        added = "    wecom: {type: wecom, url_env: TEST_WECOM_URL}\n"
        config.write_text(config.read_text(encoding="utf-8") + added)
        code, out, err = _run(root, "--period", PERIOD)
        assert "nothing to do" in out, out + err
        assert "notifications edited since the run: sent 1 not delivered before " in out
        assert len(inbox.posts) == 1 and len(inbox.mails) == mails
        facts = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        assert facts["run_id"] == run_id
        assert facts["stages"]["notify"]["rows"] == {"deliveries": mails + 1, "failed": 0}
        sent = json.loads((folder / "notifications.json").read_text(encoding="utf-8"))
        assert [d["channel"] for d in sent["deliveries"]].count("wecom") == 1
        code, out, _ = _run(root, "--period", PERIOD)  # delivered: nothing sent again
        assert "nothing to do" in out and "sent" not in out
        config.write_text(config.read_text(encoding="utf-8") + "  min_level: red\n")
        code, out, _ = _run(root, "--period", PERIOD)  # the same messages' targets
        assert "nothing to do" in out and "sent" not in out
        assert len(inbox.posts) == 1 and len(inbox.mails) == mails


def test_audit_trace_vouches_for_a_monthly_run_its_reruns_and_a_forget(
    make_root: Callable[..., Path], tmp_path: Path
) -> None:
    """custrisk run records its published folder's files in its audit line (the rerun
    that only appends to run.log, and forget's rewrite of run.json, theirs): trace
    vouches for every file of the month after each of them."""
    from custrisk.protect.keys import AUDIT, new_key

    key = new_key(AUDIT)
    env = {
        "CUSTRISK_AUDIT": "on",
        "CUSTRISK_AUDIT_LOG": str(tmp_path / "audit.log"),
        "CUSTRISK_AUDIT_KEY": f"{key.id}:{base64.b64encode(key.secret).decode('ascii')}",
        "CUSTRISK_KEYFILE": str(tmp_path / "no-keys.json"),
        "CUSTRISK_KEY": "",
    }
    root = make_root(reports=False)
    folder = root / "runs" / PERIOD
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, [*args], env=env)
        return result.exit_code, " ".join(result.output.split())

    assert run("run", str(root / "run.yaml"), "--period", PERIOD)[0] in (0, 1)
    code, said = run("audit", "trace", str(folder / "run.json"), str(folder))
    assert code == 0, said
    assert f"{PERIOD}/run.json: as custrisk wrote it: line 1 (custrisk run," in said
    assert f"{PERIOD}: " in said and " file(s) as custrisk wrote them (line 1)" in said
    assert run("run", str(root / "run.yaml"), "--period", PERIOD)[0] == 0  # nothing to do
    code, said = run("audit", "trace", *(str(folder / n) for n in ("log.jsonl", "scores.csv")))
    assert code == 0 and f"{PERIOD}/log.jsonl: as custrisk wrote it: line 3 (custrisk run," in said
    assert f"{PERIOD}/scores.csv: as custrisk wrote it: line 1 (custrisk run," in said
    assert run("audit", "trace", str(folder))[0] == 0
    scores = (folder / "scores.csv").read_text(encoding="utf-8").splitlines()
    customer = scores[1].split(",")[0].lstrip("\ufeff")
    assert run("forget", customer, "--runs", str(root / "runs"))[0] == 0
    code, said = run("audit", "trace", str(folder / "run.json"), str(folder))
    assert code == 0, said
    assert f"{PERIOD}/run.json: as custrisk wrote it: line 6 (custrisk forget," in said


def test_a_runs_gates_count_reports_and_notifications_in_the_right_number() -> None:
    from custrisk.batch.stages import notify_gate, reports_gate

    assert reports_gate(1) == "1 report failed (see reports/manifest.csv)"
    assert reports_gate(2).startswith("2 reports failed (see ")
    assert notify_gate(1).startswith("1 notification failed (fail_on_error; see ")
    assert notify_gate(1200).startswith("1,200 notifications failed (")


def test_the_reports_history_leaves_out_a_previous_run_of_the_same_date(tmp_path: Path) -> None:
    """report refuses a --history run of the run's own as-of date: the month's reports
    leave such a previous run out instead of failing the stage."""
    from types import SimpleNamespace

    from custrisk.batch.stages import report_history

    previous = tmp_path / "2026-10"
    previous.mkdir()
    (previous / "run.json").write_text(
        json.dumps({"stages": {"score": {"rows": {"as_of": "2026-11-03"}}}}), encoding="utf-8"
    )
    ctx = SimpleNamespace(previous=previous)
    assert report_history(ctx, "2026-11-03") == []  # type: ignore[arg-type]
    assert report_history(ctx, "2026-11-30") == [previous / "scores.csv"]  # type: ignore[arg-type]
    assert report_history(SimpleNamespace(previous=None), "2026-11-30") == []  # type: ignore[arg-type]


def test_a_run_whose_sources_read_a_database_is_never_up_to_date(tmp_path: Path) -> None:
    """No file hash covers a query's rows: a rerun after the database changed used to say
    'nothing to do' and keep the stale month."""
    from custrisk.batch.config import load_run_config

    config = tmp_path / "run.yaml"
    assert CliRunner().invoke(app, ["run", "--init", str(config)]).exit_code == 0
    assert load_run_config(config).database_sources() == []
    packaged = (SRC.parent / "configs" / "sources.yaml").read_text(encoding="utf-8")
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        packaged.replace(
            "    file: credit.csv\n", "    query: SELECT * FROM credit\n    url: env:CRM_DB_URL\n"
        ),
        encoding="utf-8",
    )
    config.write_text(
        config.read_text().replace("# sources: configs/sources.yaml", "sources: sources.yaml")
    )
    assert load_run_config(config).database_sources() == ["credit"]
    # nor can a month's outcomes be measured against a database as it is now
    from types import SimpleNamespace

    from custrisk.batch.stages import evaluate

    matured = tmp_path / "exports" / "2026-09"
    matured.mkdir(parents=True)
    (matured / "labels.csv").write_text("customer_id,bad\n1,0\n", encoding="utf-8")
    context = SimpleNamespace(config=load_run_config(config), period=PERIOD)
    skipped = evaluate(context)  # type: ignore[arg-type]
    assert skipped.rows == {"period": "2026-09", "missing": "exports"}
    assert "credit read a database as it is now, not as it was in 2026-09" in skipped.detail


def test_a_run_whose_sources_are_all_queries_needs_no_exports_folder(
    make_root: Callable[..., Path], export_200: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It used to stop on 'no exports match exports/{period}', and with --period on 'the
    exports of the period are not there', for a folder nothing would read."""
    import sqlite3

    import pandas as pd

    root = make_root(reports=False)
    shutil.rmtree(root / "exports")
    packaged = (SRC.parent / "configs" / "sources.yaml").read_text(encoding="utf-8")
    with sqlite3.connect(root / "crm.db") as database:
        for name in ("credit", "transactions", "behaviour"):
            frame = pd.read_csv(export_200 / f"{name}.csv", dtype=str, keep_default_na=False)
            frame.replace("", None).to_sql(name, database, index=False)
            packaged = packaged.replace(
                f"    file: {name}.csv\n", f"    query: SELECT * FROM {name}\n    url: env:CRM_DB\n"
            )
    database.close()
    # the run's month, bound to the query's parameters (no rows of another month)
    packaged = packaged.replace(
        "SELECT * FROM credit\n",
        f"SELECT * FROM credit WHERE :period = '{PERIOD}' AND :period_end > '{PERIOD}-27'\n",
    )
    (root / "sources.yaml").write_text(packaged, encoding="utf-8")
    config = root / "run.yaml"
    config.write_text(
        config.read_text().replace("# sources: configs/sources.yaml", "sources: sources.yaml")
    )
    monkeypatch.setenv("CRM_DB", f"sqlite:///{root / 'crm.db'}")
    code, out, err = _run(root)  # no folder to tell the month from
    assert code == 2 and "every source of" in err and "is a database query" in err, err
    assert "--period YYYY-MM" in err and "no exports folder is needed" in err
    code, out, err = _run(root, "--period", PERIOD)
    assert code == 1, err  # (published: only the drift gate, on 200 customers, as above)
    assert out.startswith(f"custrisk run {PERIOD}: GATE FAILED: drift"), out
    assert "customers 200" in out and "exports" not in err
    # no evaluation, for the reason no labels file put in place would change
    assert "no evaluation: source(s) credit, transactions, behaviour read a database" in out
    assert (root / "runs" / PERIOD / "run.json").is_file() and not (root / "exports").exists()
    # the run facts name the queries and the month they were bound to (they said neither)
    facts = json.loads((root / "runs" / PERIOD / "run.json").read_text(encoding="utf-8"))
    query = f"SELECT * FROM credit WHERE :period = '{PERIOD}' AND :period_end > '{PERIOD}-27'"
    assert facts["queries"]["credit"] == {
        "query_sha256": hashlib.sha256(query.encode()).hexdigest(),
        "url": "env:CRM_DB",
        "parameters": {"period": PERIOD, "period_end": f"{PERIOD}-31"},
    }
    assert facts["queries"]["transactions"]["parameters"] == {}  # (names no month)
    scored = json.loads((root / "runs" / PERIOD / "scores.run.json").read_text(encoding="utf-8"))
    assert scored["queries"] == facts["queries"]
