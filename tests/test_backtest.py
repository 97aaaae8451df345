"""custrisk backtest: grades, alert rules and policies against the outcomes observed after
a run (issue 17)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.data import load_labels
from custrisk.errors import ConfigError, UsageError
from custrisk.policy import load_policy
from custrisk.results import FACTS_DIGESTS, ScoringRun, facts_digests
from custrisk.review.alerts import alert_effectiveness, flagged_rules, suggest_threshold
from custrisk.review.backtest import Outcomes, backtest_grades, join_outcomes
from custrisk.review.output import Review, review_context
from custrisk.review.run import backtest_and_write, backtest_folder, backtest_run
from custrisk.review.whatif import holdout_mask, parse_targets, propose_cutoffs
from custrisk.sample import generate_sample_data
from tests._layout import boxes, broken_header_words, page_text, text_outside_cells, with_class

TARGETS = "A=1%,B=3%,C=8%,D=20%"


def _invoke(*args: object, code: int = 0) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def later_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A model trained on one export, a run scoring another portfolio, and the outcomes
    of that portfolio in the 12 months after the run (labels.csv)."""
    root = tmp_path_factory.mktemp("backtest")
    train, month = root / "train", root / "month"
    generate_sample_data(train, customers=1000, seed=21)
    generate_sample_data(month, customers=2500, seed=22)
    _invoke("train", train, "--labels", train / "labels.csv", "--models-dir", root / "models")
    scores = root / "run" / "scores.csv"
    _invoke("score", month, "-m", "logistic", "--models-dir", root / "models", "-o", scores)
    return scores, month / "labels.csv"


@pytest.fixture(scope="module")
def review_console(
    later_run: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """The review folder of the later run and what the console showed."""
    scores, labels = later_run
    out = tmp_path_factory.mktemp("review")
    output = _invoke(
        "backtest",
        scores,
        "--outcomes",
        labels,
        "--target-bad-rate",
        TARGETS,
        "--out",
        out,
        "--lang",
        "en",
    )
    return out, output


@pytest.fixture(scope="module")
def reviewed(review_console: tuple[Path, str]) -> Path:
    return review_console[0]


def test_the_back_test_is_written_beside_the_run_unless_out_is_given(tmp_path: Path) -> None:
    """backtest/ in a run's folder, or beside its scores or facts file; --out wins."""
    folder = tmp_path / "run"
    folder.mkdir()
    assert backtest_folder(folder) == folder / "backtest"
    assert backtest_folder(folder / "scores.parquet") == folder / "backtest"
    assert backtest_folder(folder, tmp_path / "bt") == tmp_path / "bt"


def test_the_one_call_writes_the_review_and_gives_what_a_summary_shows_as_plain_rows(
    later_run: tuple[Path, Path], reviewed: Path, tmp_path: Path
) -> None:
    """custrisk backtest turned the review's frames into rows itself: the library's one
    call writes the review and gives its grades, alerts, moves and cut-offs as plain
    Python values, the rows the files hold."""
    scores, labels = later_run
    policy = reviewed / "proposed_policy.yaml"
    done = backtest_and_write(
        scores, labels, out=tmp_path, pdf=False, targets=TARGETS, policy=policy, outcome="bad"
    )
    assert done.folder == tmp_path and all(p.parent == tmp_path for p in done.written.values())
    grades = pd.read_csv(tmp_path / "backtest_grades.csv", encoding="utf-8-sig")
    assert [r["grade"] for r in done.grades] == grades["grade"].tolist()
    values = [v for rows in (done.grades, done.cutoffs or []) for r in rows for v in r.values()]
    assert {type(v) for v in values} <= {str, int, float, bool, type(None)}
    assert [r["grade"] for r in done.cutoffs or []] == grades["grade"].tolist()[:-1]
    assert set(done.moves or {}) == {"moved up", "stayed", "moved down"}
    assert [a.outcome for a in done.alerts] == ["bad"]
    assert done.alerts[0].facts == done.review.alerts_by_outcome["bad"].facts


def test_bad_rates_rise_grade_by_grade_on_the_later_outcomes(reviewed: Path) -> None:
    grades = pd.read_csv(reviewed / "backtest_grades.csv", encoding="utf-8-sig")
    assert grades["grade"].tolist() == ["A", "B", "C", "D", "E"]
    populated = grades[grades["customers"] > 0]
    assert populated["bad_rate"].is_monotonic_increasing
    assert grades["customers"].sum() == 2500
    assert (grades["bads"] <= grades["customers"]).all()
    facts = json.loads((reviewed / "backtest.json").read_text(encoding="utf-8"))
    assert facts["grades"]["monotone"] is True and facts["grades"]["inversions"] == []
    # grades order customers by risk far better than chance, a little worse than the score
    assert 0.4 < facts["grades"]["gini_grades"] <= facts["grades"]["gini_score"] + 0.02
    # a calibrated model: expected and observed loss agree within a third
    assert 0.67 < facts["grades"]["observed_loss"] / facts["grades"]["expected_loss"] < 1.5


def test_proposed_cut_offs_meet_the_targets_on_the_hold_out(
    review_console: tuple[Path, str],
) -> None:
    reviewed = review_console[0]
    cutoffs = pd.read_csv(reviewed / "proposed_cutoffs.csv", encoding="utf-8-sig")
    targets = parse_targets(TARGETS, ("A", "B", "C", "D", "E"))
    assert cutoffs["customers_holdout"].sum() > 500
    for row in cutoffs.to_dict("records")[:-1]:
        assert row["customers_holdout"] > 0
        assert row["bad_rate_holdout"] <= targets[row["grade"]], row
        assert row["met"]
    assert pd.isna(cutoffs["met"].iloc[-1])  # the riskiest grade has no target to meet
    assert "every target met on the hold-out" in review_console[1]
    # bands are contiguous, best grade on top
    assert (
        cutoffs["min_score"].iloc[:-1].to_numpy() == cutoffs["max_score"].iloc[1:].to_numpy()
    ).all()
    policy = load_policy(reviewed / "proposed_policy.yaml")  # validates as written
    assert [g.min_score for g in policy.grades] == cutoffs["min_score"].tolist()
    assert "review before use" in (reviewed / "proposed_policy.yaml").read_text(encoding="utf-8")


def test_the_proposed_policy_header_says_which_bands_met_their_target(reviewed: Path) -> None:
    """The reviewer of proposed_policy.yaml reads met or MISSED per band (not two
    percentages to compare by eye), and the best band closes with ] as it holds the top
    of the score range."""
    text = (reviewed / "proposed_policy.yaml").read_text(encoding="utf-8")
    bands = [line for line in text.splitlines() if line.startswith("#   ")]
    cutoffs = pd.read_csv(reviewed / "proposed_cutoffs.csv", encoding="utf-8-sig")
    assert len(bands) == len(cutoffs)
    assert re.match(r"#   \S+ \[\d+, \d+\]:", bands[0]) and "): " in bands[1]
    for line, met in zip(bands, cutoffs["met"], strict=True):
        said = re.search(r": (met|MISSED)\b", line)
        if pd.isna(met):
            assert said is None, line
        else:
            assert said and said[1] == ("met" if met else "MISSED"), line


def test_the_what_if_limits_line_gives_amounts_in_the_languages_unit() -> None:
    """The what-if's limit totals were bare numbers (25,948,000 → 25,948,000 (+0)): they
    now read as the score summary's, in k for en and 万 for zh, the change signed."""
    from custrisk.cli.backtest import _limits_what_if

    totals = pd.DataFrame(
        {
            "policy": ["current", "new"],
            "approved": [442, 430],
            "approval_rate": [0.884, 0.86],
            "recommended_limits": [25_948_000.0, 24_448_000.0],
            "expected_loss_on_limits": [459_576.0, 431_000.0],
        }
    )
    en = _limits_what_if(totals, "en")
    assert "recommended limits 25,948k → 24,448k (-1,500k)" in en, en
    assert "expected loss on them 460k → 431k (-29k)" in en, en
    zh = _limits_what_if(totals, "zh")
    assert "recommended limits 2,595万 → 2,445万 (-150万)" in zh, zh


def test_the_what_if_compares_the_proposed_policy_on_the_same_customers(
    later_run: tuple[Path, Path], reviewed: Path, tmp_path: Path
) -> None:
    scores, labels = later_run
    output = _invoke(
        "backtest",
        scores,
        "--outcomes",
        labels,
        "--policy",
        reviewed / "proposed_policy.yaml",
        "--out",
        tmp_path,
        "--no-pdf",
    )
    moves = pd.read_csv(tmp_path / "policy_moves.csv", encoding="utf-8-sig").set_index("move")
    swap = pd.read_csv(tmp_path / "policy_swap.csv", encoding="utf-8-sig").set_index(
        "current_grade"
    )
    assert moves["customers"].sum() == swap.to_numpy().sum() == 2500
    upgraded = sum(
        swap.loc[old, new]
        for old in swap.index
        for new in swap.columns
        if new < old  # grade letters: A is best
    )
    assert moves.loc["moved up", "customers"] == upgraded
    if moves.loc["moved up", "customers"] and moves.loc["moved down", "customers"]:
        assert moves.loc["moved down", "bad_rate"] > moves.loc["moved up", "bad_rate"]
    totals = pd.read_csv(tmp_path / "policy_totals.csv", encoding="utf-8-sig")
    assert totals["policy"].tolist() == ["current", "new"]
    # the console gives the limits' before/after too, not only the grade moves
    cur, new = totals.set_index("policy").loc["current"], totals.set_index("policy").loc["new"]
    said = " ".join(output.split())
    assert (
        f"What-if limits: approved (limit above 0) {int(cur['approved']):,} → "
        f"{int(new['approved']):,} " in said
    )
    # in 万 (the default language is zh), as the score summary says them (were bare numbers)
    assert (
        f"recommended limits {cur['recommended_limits'] / 1e4:,.0f}万 → "
        f"{new['recommended_limits'] / 1e4:,.0f}万 (" in said
    )
    assert f"expected loss on them {cur['expected_loss_on_limits'] / 1e4:,.0f}万 → " in said
    # "exposure" here was the summed limits (the outstanding balance everywhere else):
    # kept under the old names for scripts for one release, not in the workbook
    assert totals["exposure"].tolist() == totals["recommended_limits"].tolist()
    assert totals["expected_loss"].tolist() == totals["expected_loss_on_limits"].tolist()
    sheet = pd.read_excel(tmp_path / "backtest.xlsx", "policy_totals", engine="openpyxl")
    assert "recommended_limits" in sheet and "exposure" not in sheet
    assert not (tmp_path / "backtest.pdf").exists()


def test_a_policy_of_fewer_grades_moves_only_the_customers_whose_band_changed(
    later_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """The packaged policy without E (D reaches down to 0): A to D keep their bands, so
    their customers stay; E's customers go to D, a better grade: moved up, not down."""
    scores, labels = later_run
    data = yaml.safe_load(Path(load_policy().path).read_text(encoding="utf-8"))
    del data["grades"]["E"], data["decision"]["grades"]["E"]
    data["grades"]["D"]["min_score"] = 0
    four = tmp_path / "four.yaml"
    four.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "review"
    output = _invoke(
        "backtest", scores, "--outcomes", labels, "--policy", four, "--out", out, "--lang", "zh"
    )
    current = pd.read_csv(out / "policy_grades.csv", encoding="utf-8-sig").set_index("grade")
    was_e = int(current.loc["E", "customers_current"])
    assert was_e > 0
    moves = pd.read_csv(out / "policy_moves.csv", encoding="utf-8-sig").set_index("move")
    assert moves.loc["moved up", "customers"] == was_e
    assert moves.loc["moved down", "customers"] == 0
    assert moves.loc["stayed", "customers"] == 2500 - was_e
    assert f"moved up {was_e:,} " in output and "moved down 0 " in output
    # the bad rates by grade under the new policy, to check they still rise
    new = current[current["customers_new"] > 0]
    assert new.index.tolist() == ["A", "B", "C", "D"]
    assert new["customers_new"].sum() == 2500
    assert new["bad_rate_new"].is_monotonic_increasing
    assert current.loc["D", "bad_rate_new"] > current.loc["D", "bad_rate_current"]
    facts = json.loads((out / "backtest.json").read_text(encoding="utf-8"))["what_if"]
    assert facts["moved_up"] == was_e and facts["moved_down"] == 0
    assert facts["new_monotone"] is True
    assert [g["grade"] for g in facts["grades"]] == ["A", "B", "C", "D", "E"]
    import openpyxl

    book = openpyxl.load_workbook(out / "backtest.xlsx", read_only=True)
    assert "policy_grades" in book.sheetnames
    book.close()
    import pypdf

    # the Chinese PDF says the moves, policies and verdicts in Chinese (the CSVs keep
    # the English words tools match on)
    text = "".join(page.extract_text() for page in pypdf.PdfReader(out / "backtest.pdf").pages)
    assert all(word in text for word in ("上调", "不变", "下调", "现行策略", "新策略"))
    for english in ("moved up", "moved down", "stayed", "over-predicted", "not evaluated"):
        assert english not in text, english


def test_moves_between_other_grades_are_judged_by_the_grades_mean_pd(
    later_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """E split into Y [510, 530), Z [400, 510) and an empty F [0, 400): Z's band has its
    middle above E's (E reaches down to 0), yet it holds the riskiest of E's customers.
    By band middles E to Z was a move up; by the grades' mean PD it is a move down, and
    the output says what up and down mean."""
    scores, labels = later_run
    data = yaml.safe_load(Path(load_policy().path).read_text(encoding="utf-8"))
    e = data["grades"].pop("E")
    data["grades"]["Y"] = {**e, "min_score": 510, "max_score": 530}
    data["grades"]["Z"] = {**e, "min_score": 400, "max_score": 510}
    data["grades"]["F"] = {**e, "min_score": 0, "max_score": 400}
    decisions = data["decision"]["grades"]
    del decisions["E"]
    decisions.update(Y="decline", Z="decline", F="decline")
    split = tmp_path / "split.yaml"
    split.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "review"
    output = _invoke(
        "backtest", scores, "--outcomes", labels, "--policy", split, "--out", out, "--no-pdf"
    )
    grades = pd.read_csv(out / "policy_grades.csv", encoding="utf-8-sig").set_index("grade")
    swap = pd.read_csv(out / "policy_swap.csv", encoding="utf-8-sig").set_index("current_grade")
    assert swap.loc["E", "Y"] > 0 and swap.loc["E", "Z"] > 0
    # by hand from the CSV: Y holds less risky customers than E did, Z riskier ones
    assert grades.loc["Y", "mean_pd_new"] < grades.loc["E", "mean_pd_current"]
    assert grades.loc["Z", "mean_pd_new"] > grades.loc["E", "mean_pd_current"]
    moves = pd.read_csv(out / "policy_moves.csv", encoding="utf-8-sig").set_index("move")
    assert moves.loc["moved up", "customers"] == swap.loc["E", "Y"]
    assert moves.loc["moved down", "customers"] == swap.loc["E", "Z"]
    assert moves.loc["stayed", "customers"] == 2500 - swap.loc["E"].sum()
    said = " ".join(output.split())
    assert "up/down is to a grade whose customers have a lower/higher mean PD" in said
    facts = json.loads((out / "backtest.json").read_text(encoding="utf-8"))["what_if"]
    assert facts["moves_by"] == "mean PD of the grades"


def test_the_alert_table_covers_every_packaged_rule(reviewed: Path) -> None:
    table = pd.read_csv(reviewed / "alert_effectiveness.csv", encoding="utf-8-sig")
    packaged = {"TX01", "TX02", "CP01", "CP02", "CR01", "CR02", "CR03", "CR04", "RL01", "GR01"}
    assert set(table["code"]) == packaged
    gr01 = table.set_index("code").loc["GR01"]
    # the run could not evaluate it (no --previous): said so, not "never fires"
    assert gr01["fired"] == 0 and gr01["flags"] == "not evaluated"
    fired = table[table["fired"] > 0]
    assert ((fired["precision"] >= 0) & (fired["precision"] <= 1)).all()
    facts = json.loads((reviewed / "backtest.json").read_text(encoding="utf-8"))["alerts"]
    assert facts["alerted_share"] <= 0.15 and facts["red_share"] <= 0.02
    assert facts["red_precision"] > 3 * facts["bad_rate"]


def test_a_rule_not_evaluated_says_why_in_one_clause(review_console: tuple[Path, str]) -> None:
    """It said "not evaluated (needs a previous run (--previous))": nested brackets, and
    an option backtest does not have."""
    said = " ".join(review_console[1].split())
    assert "GR01 red: not evaluated; needs a previous run (custrisk score --previous)" in said


def test_the_review_is_a_workbook_and_a_pdf(reviewed: Path) -> None:
    import openpyxl
    import pypdf

    book = openpyxl.load_workbook(reviewed / "backtest.xlsx", read_only=True)
    assert book.sheetnames == [
        "backtest_grades",
        "alert_effectiveness",
        "alert_effectiveness_churned",
        "alert_effectiveness_escalated",
        "proposed_cutoffs",
    ]
    book.close()
    # every number in the format of its meaning (lift was 7.352941176470588)
    sheet = openpyxl.load_workbook(reviewed / "backtest.xlsx")["alert_effectiveness"]
    header = [cell.value for cell in sheet[1]]
    formats = {name: sheet.cell(2, i + 1).number_format for i, name in enumerate(header)}
    assert formats["lift"] == "#,##0.00" and formats["fired"] == "#,##0", formats
    assert formats["precision"] == "0.00%" and formats["unique_bads"] == "#,##0", formats
    reader = pypdf.PdfReader(reviewed / "backtest.pdf")
    text = "".join(page.extract_text() for page in reader.pages)
    for words in (
        "Grades against outcomes",
        "Alert rule effectiveness · against going bad",
        "Alert rule effectiveness · against churned",
        "Alert rule effectiveness · against escalated",
        "Proposed score cut-offs",
    ):
        assert words in " ".join(text.split()), words
    assert "Bad rates rise grade by grade" in text


def test_the_pdf_lays_out_the_grade_table_and_the_cut_offs_cleanly(
    later_run: tuple[Path, Path],
) -> None:
    """English headers wrap inside their cells without splitting words, the chart's
    grade letters stay clear of the table below it, and a score band is in points
    (``[645, 1000)``, never ``1,000``)."""
    from custrisk.report import load_report_config
    from custrisk.review.output import review_layout

    scores, labels = later_run
    review = backtest_run(scores, labels, targets=TARGETS)
    bands = [r["band"] for r in review_context(review, "en")["cutoffs"]]
    assert all(re.fullmatch(r"\[\d+, \d+[)\]]", band) for band in bands), bands
    assert bands[0].endswith(", 1000]") and all(b.endswith(")") for b in bands[1:])
    document = review_layout(review, load_report_config(), lang="en")
    assert text_outside_cells(document, ("th", "td")) == []
    assert broken_header_words(document) == []
    chart = with_class(document, "gradechart")[0]  # the block (then its lines)
    table = next(
        b for b in boxes(document) if b.element_tag == "table" and b.position_y > chart.position_y
    )
    chart_bottom = chart.content_box_y() + chart.height
    assert table.border_box_y() - chart_bottom >= 2 * 96 / 25.4  # at least 2 mm apart
    text = page_text(document)
    assert "1,000)" not in text and "1,000]" not in text and ", 1000]" in text


def test_the_chinese_pdf_says_levels_and_verdicts_in_chinese_and_names_each_rule_above_the_share(
    later_run: tuple[Path, Path],
) -> None:
    """A manager reading the zh PDF sees 红色/橙色/黄色 (not red/orange/yellow) and
    Chinese verdicts; every rule that fires above --max-alert-share is named with its
    suggested condition or why there is none, and the chart's bars take the legend's
    two colours."""
    from custrisk.report import load_report_config
    from custrisk.review.alerts import over_share
    from custrisk.review.output import _review_html, _say, grade_chart

    scores, labels = later_run
    config = load_report_config()
    packaged = Path(load_policy().path)
    review = backtest_run(
        scores, labels, max_alert_share=0.01, outcome="bad", policy=packaged, targets=TARGETS
    )
    ctx = review_context(review, "zh", config=config)
    html = _review_html(review, config, "zh")[1]
    assert "现行评级 \\ 新评级" in html  # which axis of the swap table is which
    # the what-if totals are recommended limits, not the grade table's 敞口 (balances)
    assert "建议额度合计</th>" in html and "授信客户违约率</th>" in html
    # the cut-offs' customers are the hold-out's, beside its bad rate, not the fit's
    assert "拟合样本违约率</th>" in html and "留出样本客户数</th>" in html
    assert ">red<" not in html and ">orange<" not in html
    # amounts in the report config's currency and units, as the portfolio report (were
    # bare numbers: 422,829)
    amounts = [ctx["expected_loss"], ctx["observed_loss"]]
    amounts += [g[k] for g in ctx["grades"] for k in ("exposure", "expected_loss")]
    amounts += [
        t[k] for t in ctx["whatif"]["totals"] for k in ("recommended_limits", "expected_loss")
    ]
    assert all(a.startswith("¥") for a in amounts), amounts
    assert any(a.endswith("万") for a in amounts), amounts
    section = ctx["alerts"]
    assert {r["level_label"] for r in section["rows"]} <= {"红色", "橙色", "黄色"}
    over = over_share(review.alerts_by_outcome["bad"])
    assert over and [s["code"] for s in section["suggestions"]] == [r["code"] for r in over]
    for s in section["suggestions"]:
        assert s["then"].startswith("调整后触发") if s["condition"] else "人工复核" in s["then"]
    for verdict in ("ok", "under-predicted", "over-predicted", "too few", "no customers"):
        assert not _say(verdict, "zh").isascii(), verdict
    wide = review_context(backtest_run(scores, labels, max_alert_share=1.0, outcome="bad"), "en")
    assert wide["alerts"]["suggestions"] == []
    assert "at most 100%" in wide["alerts"]["suggested_none"]
    chart = str(grade_chart(ctx["grades"], style=config.style, labels=ctx["L"]))
    bars = set(re.findall(r'<rect[^>]*fill="(#[0-9a-fA-F]{6})"', chart))
    assert bars <= {config.style["accent"], config.style["primary"]}, bars
    # axis letters, percentages and legend print at 7 pt or more (were 4.9-5.3 pt)
    sizes = [float(v) for v in re.findall(r'<text [^>]*font-size="([\d.]+)"', chart)]
    assert sizes and min(sizes) * 0.75 >= 7, sizes


# -- the statistics on small hand-made portfolios ------------------------------------------


def _outcomes(grades: list[str], pds: list[float], bads: list[int]) -> Outcomes:
    n = len(grades)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(n)],
            "as_of": "2026-10-31",
            "pd": pds,
            "score": [600 - 10 * "ABCDE".index(g) for g in grades],
            "grade": grades,
            "current_limit": 10_000.0,
            "outstanding_balance": 5_000.0,
            "bad": bads,
        }
    )
    return Outcomes(frame, 0, 0)


GRADES = [{"code": c, "rank": i + 1} for i, c in enumerate("ABCDE")]


def test_a_grade_whose_pd_is_far_below_its_bad_rate_fails_the_binomial_test() -> None:
    # B: 100 customers at PD 1 % with 10 bads (p ~ 7e-8); C: 100 at 5 % with 5 bads
    grades = ["B"] * 100 + ["C"] * 100
    bads = [1] * 10 + [0] * 90 + [1] * 5 + [0] * 95
    result = backtest_grades(_outcomes(grades, [0.01] * 100 + [0.05] * 100, bads), GRADES, lgd=0.5)
    table = result.table.set_index("grade")
    assert table.loc["B", "calibration"] == "under-predicted"
    assert table.loc["B", "p_value"] < 1e-6
    assert table.loc["C", "calibration"] == "ok"
    assert table.loc["A", "calibration"] == "no customers"
    assert table.loc["B", "observed_loss"] == pytest.approx(10 * 5_000 * 0.5)
    assert table.loc["B", "expected_loss"] == pytest.approx(100 * 0.01 * 5_000 * 0.5)
    assert table.loc["B", "utilisation"] == pytest.approx(0.5)
    # B (10 %) is worse than C (5 %): an inversion
    assert not result.monotone and result.inversions == [("B", "C")]
    assert result.facts["exposure_is"] == "outstanding_balance"


def test_without_balances_the_exposure_is_the_limit_and_the_note_says_so() -> None:
    outcomes = _outcomes(["B"] * 10, [0.01] * 10, [1] + [0] * 9)
    outcomes.frame["outstanding_balance"] = np.nan
    result = backtest_grades(outcomes, GRADES, lgd=0.5)
    assert result.table.set_index("grade").loc["B", "exposure"] == 10 * 10_000
    assert result.facts["exposure_is"] == "current_limit"
    note = review_context(Review(result), "en")["note"]
    assert "exposure (the current limit: the run has no outstanding balances)" in note
    assert "outstanding balance)" in review_context(Review(_grades_only()), "en")["note"]


def _grades_only() -> Any:
    return backtest_grades(_outcomes(["B"] * 10, [0.01] * 10, [1] + [0] * 9), GRADES)


def test_gini_of_a_perfect_grade_ordering_is_one() -> None:
    grades = ["A"] * 50 + ["E"] * 50
    result = backtest_grades(
        _outcomes(grades, [0.01] * 50 + [0.9] * 50, [0] * 50 + [1] * 50), GRADES
    )
    assert result.gini_grades == pytest.approx(1.0)


def test_rule_effectiveness_counts_precision_recall_overlap_and_flags() -> None:
    n = 10
    outcomes = _outcomes(["C"] * n, [0.05] * n, [1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    ids = outcomes.frame["customer_id"].tolist()

    def alerts(code: str, level: str, rows: list[int]) -> pd.DataFrame:
        return pd.DataFrame({"customer_id": [ids[i] for i in rows], "code": code, "level": level})

    frame = pd.concat(
        [
            alerts("R1", "red", [0, 1, 3]),  # 2 of 3 bad
            alerts("O1", "orange", [0, 3]),  # its bad is also red: adds nothing
            alerts("Y1", "yellow", list(range(3, 10))),  # 7 of 10 customers, no bad
        ]
    )
    rules = [
        {"code": "R1", "level": "red", "condition": "x > 1"},
        {"code": "O1", "level": "orange", "condition": "x > 2"},
        {"code": "Y1", "level": "yellow", "condition": "x > 3"},
        {"code": "Z1", "level": "yellow", "condition": "x > 4"},
    ]
    review = alert_effectiveness(outcomes, frame, rules, pd.DataFrame(), list("ABCDE"))
    table = review.table.set_index("code")
    assert table.loc["R1", "precision"] == pytest.approx(2 / 3)
    assert table.loc["R1", "recall"] == pytest.approx(2 / 3)
    assert table.loc["R1", "lift"] == pytest.approx((2 / 3) / 0.3)
    assert table.loc["R1", "overlap"] == pytest.approx(2 / 3)  # customers 0 and 3
    assert table.loc["R1", "unique_bads"] == 1 and table.loc["R1", "flags"] == ""
    assert "adds nothing" in table.loc["O1", "flags"]
    assert "fires on most" in table.loc["Y1", "flags"]
    assert "no better than chance" in table.loc["Y1", "flags"]
    assert table.loc["Z1", "fired"] == 0 and table.loc["Z1", "flags"] == "never fires"
    skipped = alert_effectiveness(
        outcomes, frame, rules, pd.DataFrame(), list("ABCDE"), skipped={"Z1": "needs x"}
    )
    assert skipped.table.set_index("code").loc["Z1", "flags"] == "not evaluated"
    assert skipped.facts["not_evaluated"] == {"Z1": "needs x"}
    flagged = {r["code"]: r["not_evaluated"] for r in flagged_rules(skipped)}
    assert flagged == {"O1": None, "Y1": None, "Z1": "needs x"}
    assert review.facts["customers_red"] == 3 and review.facts["red_recall"] == pytest.approx(2 / 3)
    assert review.facts["alerted_share"] == pytest.approx(0.9)  # all but customer 2


@pytest.mark.parametrize(
    ("condition", "column"),
    [
        ("utilisation > 0.5", "utilisation"),
        ("trend < 0.6 and orders >= 1", "trend"),
        ("change <= -10", "change"),
    ],
)
def test_a_suggested_threshold_is_the_loosest_that_meets_the_share(
    condition: str, column: str
) -> None:
    rng = np.random.default_rng(3)
    n = 400
    values = pd.DataFrame(
        {
            "utilisation": rng.uniform(0, 1, n).round(3),
            "trend": rng.uniform(0, 2, n).round(3),
            "orders": rng.integers(0, 5, n).astype(float),
            "change": rng.normal(-5, 20, n).round(),
        }
    )
    text, mask = suggest_threshold(condition, values, 0.05) or ("", np.array([]))
    assert text and text != condition
    assert mask.sum() <= 0.05 * n
    # one step looser (the next value in the data) would fire on more than 5 %
    number = float(text.split()[2])
    column_values = np.sort(values[column].unique())
    looser_side = (
        column_values[column_values < number]
        if ">" in text.split()[1]
        else column_values[column_values > number]
    )
    looser = looser_side.max() if ">" in text.split()[1] else looser_side.min()
    loose_text = text.replace(text.split()[2], f"{looser:.6g}", 1)
    loose = suggest_threshold(loose_text, values, 1.0)
    assert loose is not None and loose[1].sum() > 0.05 * n


def test_cut_offs_from_a_known_bad_rate_curve() -> None:
    # bad rate falls with the score: 40 % below 500, 10 % to 550, 2 % to 600, 0 % above
    scores = np.repeat([450, 520, 580, 650], 500).astype(float)
    rates = np.repeat([0.4, 0.1, 0.02, 0.0], 500)
    rng = np.random.default_rng(0)
    bad = (rng.random(2000) < rates).astype(float)
    policy = load_policy()
    targets = parse_targets("A=0.5%,B=3%,C=12%,D=30%", policy.codes)
    proposal = propose_cutoffs(pd.Series(scores), pd.Series(bad), policy, targets)
    bands = proposal.bands
    assert bands["A"][0] == 650  # only the 0 % customers
    assert bands["B"][0] == 580  # 2 % meets 3 %
    assert bands["C"][0] == 520  # 10 % meets 12 %
    assert bands["D"] == (520, 520) or bands["D"][1] == 520
    assert bands["E"][0] == 0


def test_a_band_without_hold_out_customers_or_a_reachable_target_is_not_called_met() -> None:
    # the curve of the test above; only customers scored 450 or 650 are held out, so B
    # (from 580) and C (from 520) have none, and no score reaches D's 30 %
    scores = np.repeat([450, 520, 580, 650], 500).astype(float)
    rng = np.random.default_rng(0)
    bad = (rng.random(2000) < np.repeat([0.4, 0.1, 0.02, 0.0], 500)).astype(float)
    held = np.isin(scores, [450, 650]) & (np.arange(2000) % 3 == 0)
    policy = load_policy()
    targets = parse_targets("A=0.5%,B=3%,C=12%,D=30%", policy.codes)
    proposal = propose_cutoffs(pd.Series(scores), pd.Series(bad), policy, targets, holdout=held)
    table = proposal.table.set_index("grade")
    assert table.loc["A", "met"] is True and table.loc["A", "customers_holdout"] > 30
    for code in ("B", "C"):
        assert table.loc[code, "customers_holdout"] == 0
        assert table.loc[code, "met"] is None
        assert table.loc[code, "note"] == "no hold-out customers: not judged"
    assert table.loc["D", "met"] is False
    assert table.loc["D", "note"].startswith("target not reachable")
    held = proposal.by_grade("customers_holdout")
    assert list(held) == list(table.index) and held["B"] == held["C"] == 0
    assert table.loc["E", "met"] is None  # no target
    facts = proposal.facts
    assert facts["all_met"] is False
    assert facts["not_judged"] == ["B", "C"] and facts["not_reachable"] == ["D"]
    assert facts["missed"] == [] and facts["few_holdout"] == []


def test_unreachable_targets_are_said_not_met_on_the_console_csv_and_pdf(
    later_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """Targets too low for any score: the console names the bands that did not meet
    theirs rather than saying every target was met, and the CSV, workbook and PDF agree;
    a band judged on a handful of hold-out customers gets a warning."""
    scores, labels = later_run
    targets = "A=0.1%,B=0.2%,C=0.3%,D=0.4%"
    output = _invoke(
        "backtest",
        scores,
        "--outcomes",
        labels,
        "--target-bad-rate",
        targets,
        "--holdout",
        "5%",
        "--out",
        tmp_path,
        "--no-pdf",
    )
    cutoffs = pd.read_csv(tmp_path / "proposed_cutoffs.csv", encoding="utf-8-sig")
    cutoffs = cutoffs.set_index("grade")
    unreachable = cutoffs.index[cutoffs["note"].fillna("").str.startswith("target not")]
    assert len(unreachable) > 0
    assert not cutoffs.loc[unreachable, "met"].astype(bool).any()
    assert pd.isna(cutoffs.loc["E", "met"])  # no target: not judged
    assert "every target met" not in output
    assert "target not reachable (one-point bands): " + ", ".join(unreachable) in output
    few = cutoffs[
        cutoffs["target"].notna()
        & ~cutoffs.index.isin(unreachable)
        & (cutoffs["customers_holdout"] < 30)
    ]
    assert len(few) > 0
    assert "judged on fewer than 30 hold-out customers" in " ".join(output.split())
    for code in few.index:
        assert (
            f"only {cutoffs.loc[code, 'customers_holdout']} hold-out" in cutoffs.loc[code, "note"]
        )
    import openpyxl

    book = openpyxl.load_workbook(tmp_path / "backtest.xlsx", read_only=True)
    rows = list(book["proposed_cutoffs"].values)
    book.close()
    met = {row[0]: row[rows[0].index("met")] for row in rows[1:]}
    assert all(met[code] is False for code in unreachable) and met["E"] is None
    review = backtest_run(scores, labels, targets=targets, holdout=0.05)
    verdicts = {r["grade"]: r["met"] for r in review_context(review, "en")["cutoffs"]}
    assert all(verdicts[code] == "✗" for code in unreachable) and verdicts["E"] == "—"


def test_a_hold_out_is_stable_and_near_its_share() -> None:
    ids = pd.Series([f"{i:010d}" for i in range(5000)])
    mask = holdout_mask(ids, 0.3)
    assert 0.27 < mask.mean() < 0.33
    assert (holdout_mask(ids, 0.3) == mask).all()


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target-bad-rate", "A=1%,B=2%"], "missing: C, D"),
        (["--target-bad-rate", "A:1%"], "cannot read 'A:1%'"),
        (
            ["--target-bad-rate", "Z=1%,A=1%,B=2%,C=3%,D=4%"],
            "'Z' is not a grade of the run's policy policy.yaml; grades: A, B, C, D, E (the "
            "cut-offs are proposed for the policy the run was scored with, not for --policy)",
        ),
        (
            ["--target-bad-rate", "A=5%,B=2%,C=6%,D=6%"],
            "targets must rise from the best grade to the riskiest; B=2% is not above A=5%; "
            "D=6% is not above C=6%",
        ),
        (["--max-alert-share", "lots"], "--max-alert-share must be a share"),
        (["--holdout", "150%"], "--holdout must be a share"),
        # a percentage typed without % names both ways to write it
        (["--max-alert-share", "5"], "write 5% or 0.05 for 5 percent"),
        (["--lgd", "45"], "write 45% or 0.45 for 45 percent"),
        (["--target-bad-rate", "A=1,B=3,C=8,D=20"], "write A=1% or A=0.01 for 1 percent"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    later_run: tuple[Path, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    scores, labels = later_run
    result = CliRunner().invoke(
        app, ["backtest", str(scores), "--outcomes", str(labels), "-o", str(tmp_path), *args]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_outcomes_without_a_bad_column_exit_2(later_run: tuple[Path, Path], tmp_path: Path) -> None:
    scores, _labels = later_run
    bad = tmp_path / "outcomes.csv"
    bad.write_text("customer_id,went_bad\n0000000001,1\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["backtest", str(scores), "--outcomes", str(bad)])
    assert result.exit_code == 2 and "bad" in result.output
    assert "Traceback" not in result.output


def test_outcomes_written_as_words_are_read_and_bad_rows_are_named(
    later_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """是/否 (or Y/N, yes/no) read as 1/0, the same review as the numbers give; a row
    that is neither is left out with a warning saying why, never silently."""
    scores, labels = later_run
    frame = pd.read_csv(labels, dtype=str)
    words = frame.assign(bad=frame["bad"].map({"1": "是", "0": "否"}))
    words.loc[words.index[:3], "bad"] = "2"
    (tmp_path / "words.csv").write_text(words.to_csv(index=False), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "backtest",
            str(scores),
            "--outcomes",
            str(tmp_path / "words.csv"),
            "-o",
            str(tmp_path / "w"),
            "--no-pdf",
        ],
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert (
        "Warning: 3 outcome rows were rejected and not judged "
        "(bad: outside the allowed range 0 to 1: 3 rows, e.g. '2')"
    ) in said
    facts = json.loads((tmp_path / "w" / "backtest.json").read_text(encoding="utf-8"))
    numbers = frame.iloc[3:]
    (tmp_path / "numbers.csv").write_text(numbers.to_csv(index=False), encoding="utf-8")
    _invoke(
        "backtest", scores, "--outcomes", tmp_path / "numbers.csv", "-o", tmp_path / "n", "--no-pdf"
    )
    same = json.loads((tmp_path / "n" / "backtest.json").read_text(encoding="utf-8"))
    assert facts["grades"]["table"] == same["grades"]["table"]
    assert facts["outcome_rows_rejected"] == 3


def test_outcomes_none_of_which_is_usable_say_why_not_that_no_id_matches(
    later_run: tuple[Path, Path], tmp_path: Path
) -> None:
    scores, labels = later_run
    frame = pd.read_csv(labels, dtype=str)
    bad = tmp_path / "bad.csv"
    bad.write_text(frame.assign(bad="maybe").to_csv(index=False), encoding="utf-8")
    result = CliRunner().invoke(app, ["backtest", str(scores), "--outcomes", str(bad)])
    said = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert f"no usable label: every one of the {len(frame):,} label rows was rejected" in said
    assert "bad: not a number" in said and "'maybe'" in said and "in common" not in said


def test_inverted_grades_fail_when_asked(later_run: tuple[Path, Path], tmp_path: Path) -> None:
    scores, labels = later_run
    frame = pd.read_csv(scores, dtype={"customer_id": str}, encoding="utf-8-sig")
    outcomes = tmp_path / "inverted.csv"
    inverted = (frame["grade"].isin(["A", "B"])).astype(int)
    pd.DataFrame({"customer_id": frame["customer_id"], "bad": inverted}).to_csv(
        outcomes, index=False
    )
    output = _invoke(
        "backtest",
        scores,
        "--outcomes",
        outcomes,
        "-o",
        tmp_path / "out",
        "--no-pdf",
        "--fail-on-inversion",
        code=1,
    )
    assert "do NOT rise" in output


def test_a_tiny_portfolio_is_warned_its_verdicts_are_noise(
    later_run: tuple[Path, Path], review_console: tuple[Path, str], tmp_path: Path
) -> None:
    scores, _ = later_run
    frame = pd.read_csv(scores, dtype={"customer_id": str}, encoding="utf-8-sig").head(60)
    outcomes = tmp_path / "tiny.csv"
    bad = [1] * 6 + [0] * 54
    pd.DataFrame({"customer_id": frame["customer_id"], "bad": bad}).to_csv(outcomes, index=False)
    output = _invoke("backtest", scores, "--outcomes", outcomes, "-o", tmp_path / "o", "--no-pdf")
    said = " ".join(output.split())
    assert "6 bads and 54 goods judged, fewer than drift.yaml's minimum.bads (30 of each)" in said
    assert "too uncertain to act on" in said
    assert "too uncertain" not in review_console[1]  # 2,500 customers: no warning


def test_join_keeps_only_customers_with_outcomes() -> None:
    scores = pd.DataFrame(
        {
            "customer_id": ["1", "2", "3"],
            "as_of": "2026-10-31",
            "pd": 0.1,
            "score": 560,
            "grade": "D",
        }
    )
    run = ScoringRun(scores, pd.DataFrame({"customer_id": ["1", "2", "3"]}), pd.DataFrame(), {})
    joined = join_outcomes(run, pd.DataFrame({"customer_id": ["2", "3", "9"], "bad": [1, 0, 1]}))
    assert joined.frame["customer_id"].tolist() == ["2", "3"]
    assert (joined.unmatched, joined.extra) == (1, 1)


def _backtest_said(scores: Path, outcomes: Path, out: Path) -> tuple[str, dict]:
    """What ``backtest`` said (one line of words) and its backtest.json."""
    result = CliRunner().invoke(
        app, ["backtest", str(scores), "--outcomes", str(outcomes), "-o", str(out), "--no-pdf"]
    )
    assert result.exit_code == 0, result.output
    facts = json.loads((out / "backtest.json").read_text(encoding="utf-8"))
    return " ".join(result.output.split()), facts


def test_a_bad_optional_outcome_is_unknown_and_the_bad_outcome_is_kept(
    later_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """`churned` written 未知 (unknown) in 30 rows and one impossible `bad_date`: those
    values are blanked and said, and every customer's bad outcome is still judged."""
    scores, labels = later_run
    frame = pd.read_csv(labels, dtype=str, keep_default_na=False)
    frame["churned"] = np.where(frame.index < 30, "未知", "0")
    frame.loc[40, "bad_date"] = "2026-13-45"
    path = tmp_path / "outcomes.csv"
    frame.to_csv(path, index=False)
    said, facts = _backtest_said(scores, path, tmp_path / "out")
    assert "Note: 31 outcome values were not valid and read as unknown" in said
    assert "churned: not true/false" in said and "rejected" not in said
    assert facts["outcome_rows_rejected"] == 0 and facts["outcome_values_blanked"] == 31
    assert facts["grades"]["customers"] == len(frame)


def test_one_unmatched_customer_and_one_stray_outcome_are_said_in_the_singular(
    later_run: tuple[Path, Path], tmp_path: Path
) -> None:
    scores, labels = later_run
    frame = pd.read_csv(labels, dtype=str, keep_default_na=False)
    frame.loc[0, "customer_id"] = "NOT-A-CUSTOMER"  # one customer without, one stray
    path = tmp_path / "one_off.csv"
    frame.to_csv(path, index=False)
    said, _facts = _backtest_said(scores, path, tmp_path / "out")
    assert f"1 of the run's {len(frame):,} customers has no outcome" in said
    assert "1 outcome is of a customer not in the run" in said


def test_outcomes_of_other_customers_and_lost_zeros_are_said(
    later_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """A third of the outcome ids lost their leading zeros on the way through Excel: the
    back-test judges the rest, and says so, naming the cause; with every id so, no
    customer matches and the error names it."""
    scores, labels = later_run
    frame = pd.read_csv(labels, dtype=str, keep_default_na=False)
    stripped = frame["customer_id"].str.lstrip("0")
    some = frame.assign(customer_id=frame["customer_id"].where(frame.index % 3 != 0, stripped))
    path = tmp_path / "some.csv"
    some.to_csv(path, index=False)
    said, facts = _backtest_said(scores, path, tmp_path / "out")
    lost = int((frame.index % 3 == 0).sum())
    assert f"{lost:,} outcomes are of customers not in the run" in said
    assert f"{lost:,} of those outcome ids lost their leading zeros" in said
    assert facts["grades"]["extra_outcomes_lost_zeros"] == lost
    frame.assign(customer_id=stripped).to_csv(path, index=False)
    result = CliRunner().invoke(app, ["backtest", str(scores), "--outcomes", str(path)])
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "no customer_id in common" in said and "lost their leading zeros (" in said


# -- other outcomes: churned, escalated, any (issue 17 item 3) --------------------------


def test_the_later_run_is_judged_against_every_outcome_the_labels_hold(
    later_run: tuple[Path, Path], review_console: tuple[Path, str]
) -> None:
    scores, labels_file = later_run
    out, output = review_console
    labels = pd.read_csv(labels_file, dtype={"customer_id": str})
    alerts = pd.read_csv(scores.parent / "alerts.csv", dtype={"customer_id": str})
    as_of = pd.Timestamp(pd.read_csv(scores, nrows=1)["as_of"].iloc[0])
    facts = json.loads((out / "backtest.json").read_text(encoding="utf-8"))
    assert list(facts["alerts_by_outcome"]) == ["bad", "churned", "escalated"]
    for kind, date in (("churned", "churn_date"), ("escalated", "escalation_date")):
        table = pd.read_csv(out / f"alert_effectiveness_{kind}.csv", encoding="utf-8-sig")
        assert set(table["code"]) == set(
            pd.read_csv(out / "alert_effectiveness.csv", encoding="utf-8-sig")["code"]
        )
        outcome = labels.set_index("customer_id")[kind]
        total = int(outcome.sum())
        assert facts["alerts_by_outcome"][kind]["positives"] == total
        for row in table[table["fired"] > 0].to_dict("records"):
            who = set(
                alerts[(alerts["code"] == row["code"]) & (alerts["level"] == row["level"])][
                    "customer_id"
                ]
            )
            hit = [c for c in who if outcome[c] == 1]
            assert row["fired"] == len(who) and row[kind] == len(hit)
            assert row["precision"] == pytest.approx(len(hit) / len(who))
            assert row["recall"] == pytest.approx(len(hit) / total)
            if hit:  # median days from the run's as-of date to the outcome
                dates = pd.to_datetime(labels.set_index("customer_id").loc[hit, date])
                assert row["lead_days"] == pytest.approx((dates - as_of).dt.days.median())
        assert f"Alerts against {kind}:" in output
    # complaints foretell escalation better than chance
    escalated = pd.read_csv(out / "alert_effectiveness_escalated.csv", encoding="utf-8-sig")
    complaints = escalated[escalated["code"].str.startswith("CP") & (escalated["fired"] > 0)]
    assert (complaints["lift"] > 1).any()


def test_rule_effectiveness_against_churn_escalation_and_any_by_hand() -> None:
    ids = [str(i) for i in range(8)]
    scores = pd.DataFrame(
        {"customer_id": ids, "as_of": "2026-10-31", "pd": 0.1, "score": 560, "grade": "C"}
    )
    run = ScoringRun(scores, pd.DataFrame({"customer_id": ids}), pd.DataFrame(), {})
    outcomes = pd.DataFrame(
        {
            "customer_id": ids,
            "bad": [1, 0, 0, 0, 0, 0, 0, 0],
            "label_date": ["2026-11-10", *[""] * 7],
            "churned": ["true", "false", "1", "0", "", "0", "是", "0"],  # customer 4 unknown
            "churn_date": ["2026-11-30", "", "2026-12-10", "", "", "", "2027-01-09", ""],
            "escalated": [0, 1, 0, 0, 0, 0, 0, 1],
            "escalation_date": ["", "2026-11-05", *[""] * 5, "2027-02-01"],
        }
    )
    joined = join_outcomes(run, outcomes)
    assert joined.kinds == ("bad", "churned", "escalated")
    alerts = pd.DataFrame(
        {
            "customer_id": ["0", "1", "2", "2", "3", "4", "6"],
            "code": ["R1", "R1", "R1", "Y1", "Y1", "Y1", "Y1"],
            "level": ["red", "red", "red", "yellow", "yellow", "yellow", "yellow"],
        }
    )
    rules = [{"code": "R1", "level": "red"}, {"code": "Y1", "level": "yellow"}]

    def judge(kind: str) -> tuple[pd.DataFrame, dict[str, object]]:
        review = alert_effectiveness(
            joined, alerts, rules, pd.DataFrame(), list("ABCDE"), as_of="2026-10-31", outcome=kind
        )
        assert review.outcome == kind
        return review.table.set_index("code"), review.facts

    # churned: {0, 2, 6} of the 7 customers whose churn is known
    table, facts = judge("churned")
    assert facts["customers"] == 7 and facts["positives"] == 3
    assert table.loc["R1", "churned"] == 2 and table.loc["R1", "fired"] == 3
    assert table.loc["R1", "precision"] == pytest.approx(2 / 3)
    assert table.loc["R1", "recall"] == pytest.approx(2 / 3)
    assert table.loc["R1", "lead_days"] == pytest.approx(35)  # 30 and 40 days
    assert table.loc["Y1", "fired"] == 3  # customer 4 is left out: churn unknown
    assert table.loc["Y1", "share"] == pytest.approx(3 / 7)
    assert table.loc["Y1", "lead_days"] == pytest.approx(55)  # 40 and 70 days
    assert table.loc["R1", "unique_churned"] == 1  # customer 0; 2 is also yellow
    # escalated: {1, 7}
    table, facts = judge("escalated")
    assert table.loc["R1", "precision"] == pytest.approx(1 / 3)
    assert table.loc["R1", "recall"] == pytest.approx(1 / 2)
    assert table.loc["R1", "lead_days"] == pytest.approx(5)
    assert table.loc["Y1", "escalated"] == 0 and "no better than chance" in table.loc["Y1", "flags"]
    # any: {0, 1, 2, 6, 7}; customer 4 unknown (churn blank, nothing else happened)
    table, facts = judge("any")
    assert facts["customers"] == 7 and facts["positives"] == 5
    assert table.loc["R1", "precision"] == pytest.approx(1.0)
    assert table.loc["R1", "recall"] == pytest.approx(3 / 5)
    assert table.loc["R1", "lead_days"] == pytest.approx(10)  # earliest dates: 10, 5, 40
    assert table.loc["Y1", "precision"] == pytest.approx(2 / 3)
    # bad, as before: the label_date gives its lead time
    table, facts = judge("bad")
    assert facts["bads"] == 1 and table.loc["R1", "bads"] == 1
    assert table.loc["R1", "lead_days"] == pytest.approx(10)


def test_outcome_columns_read_with_chinese_headers(tmp_path: Path) -> None:
    path = tmp_path / "outcomes.csv"
    path.write_text(
        "客户编号,违约,违约日期,流失,流失日期,升级,升级日期\n"  # every header in Chinese
        "1,是,2026-12-01,是,2027-01-01,否,\n"
        "2,否,,否,,true,2026-11-20\n",
        encoding="gbk",
    )
    labels, rejects = load_labels(path)
    assert rejects.empty
    run = ScoringRun(
        pd.DataFrame({"customer_id": ["1", "2"], "pd": 0.1, "score": 500, "grade": "C"}),
        pd.DataFrame({"customer_id": ["1", "2"]}),
        pd.DataFrame(),
        {},
    )
    joined = join_outcomes(run, labels)
    assert joined.kinds == ("bad", "churned", "escalated")
    frame = joined.frame.set_index("customer_id")
    assert frame["bad"].tolist() == [1, 0]
    assert frame["churned"].tolist() == [1, 0] and frame["escalated"].tolist() == [0, 1]
    assert frame.loc["1", "bad_date"] == pd.Timestamp("2026-12-01")
    assert frame.loc["2", "escalation_date"] == pd.Timestamp("2026-11-20")


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        ("churned", "--outcome churned: the outcomes have no 'churned' column"),
        ("escalated", "--outcome escalated: the outcomes have no 'escalated' column"),
        ("lost", "--outcome must be bad, churned, escalated, any"),
    ],
)
def test_an_outcome_the_file_lacks_exits_2_with_one_line(
    later_run: tuple[Path, Path], tmp_path: Path, outcome: str, message: str
) -> None:
    scores, labels = later_run
    only_bad = tmp_path / "only_bad.csv"
    pd.read_csv(labels, dtype=str).loc[:, ["customer_id", "bad"]].to_csv(only_bad, index=False)
    result = CliRunner().invoke(
        app,
        [
            "backtest",
            str(scores),
            "--outcomes",
            str(only_bad),
            "--outcome",
            outcome,
            "-o",
            str(tmp_path / "out"),
            "--no-pdf",
        ],
    )
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_one_outcome_when_asked(later_run: tuple[Path, Path], tmp_path: Path) -> None:
    scores, labels = later_run
    output = _invoke(
        "backtest", scores, "--outcomes", labels, "--outcome", "any", "-o", tmp_path, "--no-pdf"
    )
    assert "Alerts against any:" in output and "against churned" not in output
    assert sorted(p.name for p in tmp_path.glob("alert_effectiveness*.csv")) == [
        "alert_effectiveness_any.csv"
    ]
    table = pd.read_csv(tmp_path / "alert_effectiveness_any.csv", encoding="utf-8-sig")
    outcomes = pd.read_csv(labels)
    either = (outcomes[["bad", "churned", "escalated"]] == 1).any(axis=1)
    fired = table[table["fired"] > 0]
    assert (fired["recall"] * either.sum()).round().astype(int).tolist() == fired[
        "outcomes"
    ].tolist()


def test_an_outcome_by_the_readmes_word_and_targets_typed_in_chinese(
    later_run: tuple[Path, Path], tmp_path: Path
) -> None:
    scores, labels = later_run
    output = _invoke(
        "backtest", scores, "--outcomes", labels, "--outcome", "churn", "-o", tmp_path, "--no-pdf"
    )
    assert "Alerts against churned:" in output
    # a Chinese input method's ％, ， and ＝ read as their ASCII forms
    typed = parse_targets("A＝0.5％，B=2%，C=６%、D=18%", ["A", "B", "C", "D", "E"])
    assert typed == parse_targets("A=0.5%,B=2%,C=6%,D=18%", ["A", "B", "C", "D", "E"])
    # grades in either case, as custrisk report --grade reads them
    assert typed == parse_targets("a=0.5%,b=2%,c=6%,d=18%", ["A", "B", "C", "D", "E"])


def _write_facts(path: Path, facts: dict[str, Any]) -> None:
    """Run facts as custrisk score writes them (their fields' digests recomputed): a run
    scored with the policy file they name."""
    facts[FACTS_DIGESTS] = facts_digests(facts)
    path.write_text(json.dumps(facts), encoding="utf-8")


def test_cut_offs_are_not_proposed_from_a_policy_the_run_was_not_scored_with(
    later_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """The run's policy file moved away, or edited since: the proposed policy would have
    started from the packaged one (or another version), its limits and caps silently
    different; refused with the file named."""
    scores, labels = later_run
    run = tmp_path / "run"
    shutil.copytree(scores.parent, run)
    facts_file = run / "scores.run.json"
    facts = json.loads(facts_file.read_text(encoding="utf-8"))
    targets = ["--target-bad-rate", "A=0.5%,B=2%,C=6%,D=18%", "--no-pdf", "-o", tmp_path / "o"]
    facts["policy"]["file"] = str(tmp_path / "gone.yaml")
    _write_facts(facts_file, facts)  # as if scored with a policy file since moved away
    result = CliRunner().invoke(
        app, ["backtest", str(run), "--outcomes", str(labels), *map(str, targets)]
    )
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "gone.yaml: the policy the run was scored with is not there any more" in said
    edited = tmp_path / "edited.yaml"
    text = Path(load_policy().path).read_text(encoding="utf-8")
    edited.write_text(
        text.replace("min_score: 640", "min_score: 650").replace(
            "max_score: 640", "max_score: 650"
        ),
        encoding="utf-8",
    )
    facts["policy"]["file"] = str(edited)
    _write_facts(facts_file, facts)
    result = CliRunner().invoke(
        app, ["backtest", str(run), "--outcomes", str(labels), *map(str, targets)]
    )
    assert result.exit_code == 2
    assert "the policy file changed since the run was scored" in " ".join(result.output.split())
    # the same bands, another cap: the proposal would carry a limit never back-tested
    edited.write_text(text.replace("cap: 500000", "cap: 400000"), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["backtest", str(run), "--outcomes", str(labels), *map(str, targets)]
    )
    assert result.exit_code == 2
    assert "(grades.A.limit differ from the run's)" in " ".join(result.output.split())


def test_the_packaged_policy_is_named_by_its_place_in_the_package_and_read_back(
    later_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """The run facts named the packaged policy by where custrisk was installed: two
    installs' runs of the same month differed. An older run's install path still reads."""
    scores, labels = later_run
    facts = json.loads((scores.parent / "scores.run.json").read_text(encoding="utf-8"))
    assert facts["policy"]["file"] == "custrisk:defaults/configs/policy.yaml"
    assert facts["alerts"]["rules_file"] == "custrisk:defaults/configs/alerts.yaml"
    run = tmp_path / "run"
    shutil.copytree(scores.parent, run)
    facts["policy"]["file"] = str(Path(load_policy().path).resolve())  # (as written before)
    _write_facts(run / "scores.run.json", facts)
    targets = ["--target-bad-rate", "A=0.5%,B=2%,C=6%,D=18%", "--no-pdf", "-o", tmp_path / "o"]
    result = CliRunner().invoke(
        app, ["backtest", str(run), "--outcomes", str(labels), *map(str, targets)]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "proposed_policy.yaml").is_file()


def test_outcomes_dated_before_the_run_are_warned(
    later_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """Bad dates before the run's as-of date: those customers were bad when scored, and
    the alerts' lead times on them come out negative; said, with the count."""
    scores, labels = later_run
    frame = pd.read_csv(labels, dtype=str, keep_default_na=False)
    bad = frame["bad"] == "1"
    frame.loc[bad, "bad_date"] = "2020-01-15"
    path = tmp_path / "early.csv"
    frame.to_csv(path, index=False)
    said, facts = _backtest_said(scores, path, tmp_path / "out")
    assert "outcomes dated before the run's as-of date" in said
    assert f"bad_date: {int(bad.sum()):,}" in said
    assert facts["outcomes_dated_before_run"] == {"bad_date": int(bad.sum())}


def test_a_bad_policy_or_target_stops_before_the_outcomes_are_read(
    later_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """A typo in --policy or --target-bad-rate is a config error said at once, before
    the outcomes are read and every table computed (here: outcomes not even there)."""
    scores, _ = later_run
    bad = tmp_path / "bad.yaml"
    text = Path(load_policy().path).read_text(encoding="utf-8")
    bad.write_text(text.replace("annual_income * multiplier", "annual_incme * multiplier", 1))
    with pytest.raises(ConfigError, match=r"unknown name 'annual_incme'"):
        backtest_run(scores, tmp_path / "no_outcomes.csv", policy=bad)
    with pytest.raises(UsageError, match=r"missing: C, D"):
        backtest_run(scores, tmp_path / "no_outcomes.csv", targets="A=1%,B=3%")
