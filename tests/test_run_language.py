"""A run remembers its language: scored in English (``score --lang en``), every command
reading it back (alerts, followups, report, backtest, notify) speaks English without
``--lang en`` typed again; ``--lang`` still wins; a Chinese run and a run written before
the language was recorded stay Chinese."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.policy import load_policy
from custrisk.report import batch
from custrisk.results import FACTS_DIGESTS, LANG_FACT, facts_digests, read_language, read_run
from custrisk.vocab import LEVEL_LABELS, level_named


def _invoke(*args: object, code: int = 0) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.stdout


def _cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.fixture(scope="module")
def runs(
    export_200: Path, models_200: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The scores files of the same month scored in English (``en``) and in Chinese
    (``zh``), and the English run as a version before this one wrote it: its facts
    without the language (``old``)."""
    root = tmp_path_factory.mktemp("languages")
    found = {}
    for lang in ("en", "zh"):
        out = root / lang / "scores.csv"
        _invoke("score", export_200, "-m", "logistic", "--models-dir", models_200, "-o", out,
                *(["--lang", "en"] if lang == "en" else []))  # fmt: skip
        found[lang] = out
    shutil.copytree(root / "en", root / "old")
    facts_path = root / "old" / "scores.run.json"
    facts = json.loads(facts_path.read_text(encoding="utf-8"))
    del facts[LANG_FACT]
    facts[FACTS_DIGESTS] = facts_digests(facts)  # (as that version wrote them: consistent)
    facts_path.write_text(json.dumps(facts, ensure_ascii=False, indent=2), encoding="utf-8")
    found["old"] = root / "old" / "scores.csv"
    return found


def test_the_run_facts_record_the_language_it_was_scored_in(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    assert json.loads(runs["en"].with_name("scores.run.json").read_text())[LANG_FACT] == "en"
    assert read_run(runs["en"], parts=()).lang == "en"
    assert read_run(runs["zh"], parts=()).lang == "zh"
    assert read_run(runs["old"], parts=()).lang == "zh"  # written before: Chinese, as then
    en = runs["en"]
    for path in (en, en.parent, en.with_name("scores.run.json"), en.with_name("alerts.csv")):
        assert read_language(path) == "en", path
    # an alerts CSV away from its run (custrisk alerts --out) has no language of its own
    alone = tmp_path / "alerts.csv"
    shutil.copy(en.with_name("alerts.csv"), alone)
    assert read_language(alone) == "zh"
    # and the English table really is English: the grade labels follow the language
    assert not _cjk("".join(read_run(en, parts=("scores",)).scores["grade_label"]))


def test_alerts_speak_the_runs_language_unless_lang_says_otherwise(
    runs: dict[str, Path],
) -> None:
    english = _invoke("alerts", runs["en"].parent, "--level", "red")
    assert "Handling actions:" in english and "days past due" in english
    assert not _cjk(english)
    # alerts.csv of the run, named directly, is the run's too
    direct = _invoke("alerts", runs["en"].with_name("alerts.csv"), "--level", "red")
    assert direct.partition("\n")[2] == english.partition("\n")[2]  # (but the title)
    for said in (
        _invoke("alerts", runs["zh"], "--level", "red"),
        _invoke("alerts", runs["en"], "--level", "red", "--lang", "zh"),
        _invoke("alerts", runs["old"], "--level", "red"),
    ):
        assert "处理措施" in said and "red 红色" in said and "Handling actions:" not in said


def test_followups_speak_the_runs_language_unless_lang_says_otherwise(
    runs: dict[str, Path],
) -> None:
    english = _invoke("followups", runs["en"], "--limit", "1")
    assert "risk officer (risk_officer): " in english and "风控专员" not in english
    for said in (
        _invoke("followups", runs["zh"], "--limit", "1"),
        _invoke("followups", runs["en"], "--limit", "1", "--lang", "zh"),
        _invoke("followups", runs["old"], "--limit", "1"),
    ):
        assert "risk_officer 风控专员: " in said


@pytest.fixture
def rendered_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The language each report batch was rendered in (nothing rendered: the
    language's effect on the PDFs is the report tests')."""
    languages: list[str] = []

    def render(job: batch._Job, *args: object) -> Iterator[batch.ReportResult]:
        languages.append(job.lang)
        yield from ()

    monkeypatch.setattr(batch, "_results", render)
    yield languages


def test_reports_are_rendered_in_the_runs_language_unless_lang_says_otherwise(
    runs: dict[str, Path], rendered_in: list[str], tmp_path: Path
) -> None:
    for run, more, lang in (("en", [], "en"), ("en", ["--lang", "zh"], "zh"), ("old", [], "zh")):
        _invoke("report", runs[run], "--out", tmp_path / f"{run}{lang}", "--portfolio-only", *more)
        assert rendered_in[-1] == lang, (run, more)
    # the library's one call the same way
    batch.render_reports(runs["en"], tmp_path / "lib", portfolio=True, customer_reports=False)
    assert rendered_in[-1] == "en"


def test_backtest_speaks_the_runs_language_unless_lang_says_otherwise(
    runs: dict[str, Path], export_200: Path, tmp_path: Path
) -> None:
    """The what-if line counts limits as the run's language does: k or 万."""
    policy = load_policy().path
    labels = export_200 / "labels.csv"
    common = ["--outcomes", labels, "--policy", policy, "--no-pdf"]

    def what_if(run: str, *more: str) -> str:
        said = _invoke("backtest", runs[run], *common, "--out", tmp_path / run, *more)
        return next(line for line in said.splitlines() if line.startswith("What-if limits"))

    assert "k →" in what_if("en") and "万" not in what_if("en")
    for line in (what_if("en", "--lang", "zh"), what_if("old")):
        assert "万 →" in line


def test_notify_digests_speak_the_runs_language_unless_told_otherwise(
    runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_HOOK", "http://127.0.0.1:9/hook")
    config = tmp_path / "notify.yaml"
    config.write_text(yaml.safe_dump({"channels": {"wecom": {"url_env": "T_HOOK"}}}))

    def digest(run: str, *more: str) -> str:
        return _invoke("notify", runs[run], "-c", config, "--dry-run", *more)

    english = digest("en")
    assert "Customer risk alerts" in english and "客户风险预警" not in english
    for said in (digest("zh"), digest("en", "--lang", "zh"), digest("old")):
        assert "客户风险预警" in said
    # a notify config's own lang: wins over the run's
    config.write_text(yaml.safe_dump({"lang": "zh", "channels": {"wecom": {"url_env": "T_HOOK"}}}))
    assert "客户风险预警" in digest("en")


def test_drift_labels_follow_lang(export_200: Path, models_200: Path) -> None:
    def labels(*more: str) -> list[str]:
        said = _invoke("drift", export_200, "-m", "logistic", "--models-dir", models_200,
                       "-f", "json", "--fail-on", "never", *more)  # fmt: skip
        report = json.loads(said)
        return [s["label"] for s in report["statistics"] if s.get("label")]

    english, chinese = labels("--lang", "en"), labels()
    assert english and not _cjk("".join(english)) and "Credit utilisation" in english
    assert chinese and all(_cjk(label) for label in chinese)
    assert (
        "--lang must be one of zh, en; got 'fr'"
        in CliRunner()
        .invoke(app, ["drift", str(export_200), "-m", "logistic", "--lang", "fr"])
        .output
    )


def test_an_alert_level_has_one_english_name_its_colour() -> None:
    """The terminal said high/medium/low, the PDFs Red/Orange/Yellow."""
    for level, labels in LEVEL_LABELS.items():
        assert labels["en"] == level
    from custrisk.report.config import load_report_config

    for code, label in load_report_config().alert_levels.items():
        assert label.label("en").lower() == code  # the PDFs: the same name, capitalised
    # the words of earlier versions still select a level
    assert [level_named(n) for n in ("high", "Medium", "low")] == ["red", "orange", "yellow"]


def test_an_alert_level_has_one_chinese_name_its_colour_as_in_the_pdfs() -> None:
    """The terminal, alerts.csv's level_zh and the digest said 高/中/低, the PDFs
    红色/橙色/黄色."""
    from custrisk.report.config import load_report_config

    pdfs = {code: label.label("zh") for code, label in load_report_config().alert_levels.items()}
    assert {level: labels["zh"] for level, labels in LEVEL_LABELS.items()} == pdfs
    assert pdfs == {"red": "红色", "orange": "橙色", "yellow": "黄色"}
    # the names of earlier versions still select a level (--level 高)
    assert [level_named(n) for n in ("高", "中", "低")] == ["red", "orange", "yellow"]


def test_score_previous_speaks_the_previous_runs_language_unless_lang_says_otherwise(
    runs: dict[str, Path], export_200: Path, models_200: Path, tmp_path: Path
) -> None:
    """A month scored against an English month is English without --lang en typed
    again; --lang wins; a previous run of an earlier version (no language) gives zh."""

    def scored(name: str, previous: str, *more: str) -> tuple[str, str]:
        out = tmp_path / name / "scores.csv"
        said = _invoke("score", export_200, "-m", "logistic", "--models-dir", models_200,
                       "-o", out, "--previous", runs[previous], *more)  # fmt: skip
        return read_language(out), said

    lang, said = scored("after_en", "en")
    assert lang == "en" and "Prime" in said  # the grade table's labels too
    assert scored("told_zh", "en", "--lang", "zh")[0] == "zh"
    assert scored("after_old", "old")[0] == "zh"
