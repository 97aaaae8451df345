"""Credit policy: loading and validation, grades, limits and their guards, migration."""

from __future__ import annotations

import copy
import datetime as dt
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custrisk.errors import ConfigError, DataError, UsageError
from custrisk.indicators import load_indicator_config
from custrisk.policy import (
    CHANGE_COLUMNS,
    POLICY_COLUMNS,
    Policy,
    apply_policy,
    assign_grades,
    load_alert_rules,
    load_policy,
    migration_matrix,
    parse_policy,
)

INDICATORS = load_indicator_config()
POLICY = load_policy(indicators=INDICATORS)
GRADE = {
    "label": {"zh": "级", "en": "grade"},
    "review_frequency": "monthly",
    "actions": {"zh": ["复核"], "en": ["review"]},
    "limit": {"freeze": "current"},
}


def policy_data(bands: dict[str, tuple[float, float]], **top: Any) -> dict[str, Any]:
    """A minimal policy whose grades have the given bands."""
    grades = {
        code: {**copy.deepcopy(GRADE), "min_score": lo, "max_score": hi}
        for code, (lo, hi) in bands.items()
    }
    return {"version": 1, "score_range": {"min": 0, "max": 1000}, "grades": grades, **top}


def parse(data: dict[str, Any]) -> Policy:
    return parse_policy(data, indicators=INDICATORS, file="p.yaml")


def frames(
    scores: list[float],
    *,
    current: list[float] | None = None,
    income: list[float] | None = None,
    overdue: list[float] | None = None,
    as_of: str = "2026-10-31",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A scores table and a details table with the credit fields limit rules read."""
    n = len(scores)
    ids = [f"C{i:04d}" for i in range(n)]
    table = pd.DataFrame(
        {"customer_id": ids, "as_of": as_of, "pd": 0.05, "score": scores, "model_id": "m@1"}
    )
    details = pd.DataFrame(
        {
            "customer_id": ids,
            "credit_limit": current if current is not None else [50_000.0] * n,
            "annual_income": income if income is not None else [200_000.0] * n,
            "outstanding_balance": [10_000.0] * n,
            "overdue_amount": overdue if overdue is not None else [0.0] * n,
        }
    )
    return table, details


# -- the default policy --------------------------------------------------------------------


def test_default_policy_has_five_grades_covering_the_range() -> None:
    assert POLICY.codes == ("A", "B", "C", "D", "E")
    assert [g.rank for g in POLICY.grades] == [1, 2, 3, 4, 5]
    assert POLICY.grade("A").label_zh == "优质客户"
    assert POLICY.grade("E").label_zh == "高风险客户"
    assert (POLICY.score_min, POLICY.score_max) == (0, 1000)
    assert POLICY.grades[-1].min_score == 0 and POLICY.grades[0].max_score == 1000
    for better, worse in zip(POLICY.grades, POLICY.grades[1:], strict=False):
        assert worse.max_score == better.min_score
    assert POLICY.grade("A").band == "[640, 1000]"
    assert POLICY.riskiest.limit.freeze == "zero"
    assert not POLICY.riskiest.limit.allow_increase
    for grade in POLICY.grades:
        assert grade.actions_zh and grade.actions_en
        assert grade.review_frequency in ("monthly", "quarterly", "semiannual", "annual")
    facts = POLICY.to_dict()
    assert facts["grades"][0]["review_frequency_zh"] == "每年"
    assert facts["grades"][0]["limit"]["rule"] == "max(credit_limit, annual_income * multiplier)"


def test_scores_at_band_edges_and_outside_the_range() -> None:
    grades = assign_grades([-5, 0, 529, 530, 564, 565, 599, 600, 639, 640, 1000, 1200], POLICY)
    assert grades.tolist() == ["E", "E", "E", "D", "D", "C", "C", "B", "B", "A", "A", "A"]
    with pytest.raises(DataError, match="1 scores are missing"):
        assign_grades([600, np.nan], POLICY)


# -- band validation -----------------------------------------------------------------------


BANDS_OK = {"A": (650, 1000), "B": (600, 650), "C": (0, 600)}


@pytest.mark.parametrize(
    ("bands", "pattern"),
    [
        (
            {"A": (700, 1000), "C": (640, 700), "B": (600, 650), "D": (0, 600)},
            r"^p\.yaml, key 'grades': bands B \[600, 650\) and C \[640, 700\) overlap on "
            r"\[640, 650\); a score may fall in one band only: set grades\.C\.min_score to "
            r"650 or grades\.B\.max_score to 640$",
        ),
        (
            {"A": (650, 1000), "B": (600, 640), "C": (0, 600)},
            r"^p\.yaml, key 'grades': bands B \[600, 640\) and A \[650, 1000\) leave a gap: "
            r"scores \[640, 650\) get no grade; set grades\.A\.min_score to 640 or "
            r"grades\.B\.max_score to 650$",
        ),
        (
            {"A": (650, 1000), "B": (600, 650), "C": (300, 600)},
            r"^p\.yaml, key 'grades': the bands do not cover the score range \[0, 1000\]: "
            r"scores \[0, 300\) get no grade; set grades\.C\.min_score to 0$",
        ),
        (
            {"A": (650, 950), "B": (600, 650), "C": (0, 600)},
            r"the bands do not cover the score range \[0, 1000\]: scores \[950, 1000\] get no "
            r"grade; set grades\.A\.max_score to 1000$",
        ),
        (
            {"A": (650, 1200), "B": (600, 650), "C": (0, 600)},
            r"band A \[650, 1200\) reaches beyond the score range \[0, 1000\]; set "
            r"grades\.A\.max_score to 1000 or widen score_range",
        ),
        (
            {"A": (650, 1000), "B": (650, 600), "C": (0, 600)},
            r"key 'grades\.B': band B \[650, 600\) is empty; min_score must be below max_score",
        ),
    ],
    ids=["overlap", "gap", "bottom-uncovered", "top-uncovered", "beyond-range", "empty"],
)
def test_band_errors_name_the_bands_and_the_fix(
    bands: dict[str, tuple[float, float]], pattern: str
) -> None:
    with pytest.raises(ConfigError, match=pattern):
        parse(policy_data(bands))


def test_custom_score_range_and_band_order_come_from_the_bands() -> None:
    data = policy_data(
        {"low": (300, 500), "high": (500, 850)}, score_range={"min": 300, "max": 850}
    )
    policy = parse(data)
    assert policy.codes == ("high", "low")
    assert policy.riskiest.code == "low"
    assert assign_grades([100, 499.5, 500, 900], policy).tolist() == ["low", "low", "high", "high"]


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (
            {"rule": "annual_incom * multiplier", "params": {"multiplier": 0.3}},
            r"key 'grades\.A\.limit\.rule': unknown name 'annual_incom' at column 1 of "
            r"\"annual_incom \* multiplier\"; did you mean 'annual_income'\?",
        ),
        (
            {"rule": "utilisation > 0.5"},
            r"key 'grades\.A\.limit\.rule': the rule gives a condition, not a number",
        ),
        (
            {"rule": "credit_limit", "freeze": "zero"},
            r"key 'grades\.A\.limit': give exactly one of 'rule' \(an expression\) and 'freeze'",
        ),
        ({"freeze": "half"}, r"key 'grades\.A\.limit\.freeze': 'half' is not allowed"),
        (
            {"rule": "credit_limit * score", "params": {"score": 2}},
            r"key 'grades\.A\.limit\.params\.score': parameter 'score' would hide the data name",
        ),
        (
            {"rule": "grade_cap", "params": {}},
            r"key 'grades\.A\.limit\.rule': unknown name 'grade_cap'",
        ),
        (
            {"rule": "__import__('os')"},
            r"key 'grades\.A\.limit\.rule': name '__import__' is not allowed",
        ),
    ],
)
def test_limit_rule_errors(change: dict[str, Any], pattern: str) -> None:
    data = policy_data(BANDS_OK)
    data["grades"]["A"]["limit"] = change
    with pytest.raises(ConfigError, match=pattern):
        parse(data)


def test_the_riskiest_grade_cannot_allow_increases() -> None:
    data = policy_data(BANDS_OK)
    data["grades"]["C"]["limit"] = {"rule": "credit_limit * 2", "allow_increase": True}
    with pytest.raises(
        ConfigError,
        match=r"key 'grades\.C\.limit\.allow_increase': the riskiest grade C can never get a "
        r"limit increase; remove allow_increase or set it to false",
    ):
        parse(data)


def test_other_config_errors() -> None:
    data = policy_data(BANDS_OK)
    data["grades"]["A"]["review_frequency"] = "daily"
    with pytest.raises(ConfigError, match=r"grades\.A\.review_frequency': 'daily' is not allowed"):
        parse(data)
    data = policy_data(BANDS_OK)
    data["grades"]["A"]["colour"] = "gold"
    with pytest.raises(ConfigError, match=r"key 'grades\.A\.colour': unknown key"):
        parse(data)
    with pytest.raises(ConfigError, match="at least two grade codes"):
        parse(policy_data({"A": (0, 1000)}))
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found") as missing:
        load_policy("nope.yaml")
    # read for --policy (score, serve, backtest): the hint names no option it was not given
    assert "--config" not in missing.value.one_line()


def test_a_notebook_passes_the_policy_and_the_alert_rules_as_dicts() -> None:
    data = policy_data(BANDS_OK)
    assert load_policy(data, indicators=INDICATORS).codes == parse(data).codes
    data["grdes"] = data.pop("grades")
    with pytest.raises(ConfigError, match=r"<policy dict>, key 'grdes': unknown key; did you mean"):
        load_policy(data, indicators=INDICATORS)
    with pytest.raises(ConfigError, match=r"<alerts dict>, key 'rulez'"):
        load_alert_rules({"rulez": {}})
    with pytest.raises(UsageError, match=r"policy must be a path .*; got a pandas DataFrame"):
        load_policy(pd.DataFrame())  # type: ignore[arg-type]


def test_a_misspelt_band_key_and_an_amount_in_the_wrong_unit_say_the_fix() -> None:
    """A policy typed by hand: ``min_scor`` is named (not "min_score is missing"), an
    amount written ``50万`` gets the plain number, and a cap below the rounding step (30
    meant as 30万) is refused instead of capping every limit of the grade at 30."""
    data = policy_data(BANDS_OK)
    data["grades"]["A"]["min_scor"] = data["grades"]["A"].pop("min_score")
    with pytest.raises(
        ConfigError, match=r"key 'grades\.A\.min_scor': unknown key; did you mean 'min_score'\?"
    ):
        parse(data)
    data = policy_data(BANDS_OK, limits={"rounding": 1000})
    data["grades"]["A"]["limit"] = {"rule": "credit_limit", "cap": "50万"}
    with pytest.raises(
        ConfigError,
        match=r"key 'grades\.A\.limit\.cap': expected a number, got '50万'; .* e\.g\. 500000$",
    ):
        parse(data)
    data["grades"]["A"]["limit"]["cap"] = 30
    with pytest.raises(
        ConfigError,
        match=r"key 'grades\.A\.limit\.cap': cap 30 is below limits\.rounding 1000, so no "
        r"limit of grade A could be more than 30; .*write e\.g\. 300000 for 30万",
    ):
        parse(data)
    data["grades"]["A"]["limit"]["cap"] = 0  # no credit at all is a cap a policy may set
    assert parse(data).grade("A").limit.cap == 0


def test_caps_in_wan_are_refused_whatever_the_rounding() -> None:
    """Caps typed in 万 with no rounding (or a rounding of 0.1, meant as 0.1万) slipped
    past the check against the rounding step: every limit of the grade capped at 50."""
    data = policy_data(BANDS_OK, limits={"rounding": 0})
    data["grades"]["A"]["limit"] = {"rule": "credit_limit", "cap": 50}
    with pytest.raises(
        ConfigError,
        match=r"key 'grades\.A\.limit\.cap': cap 50 is below 1000, so no limit of grade A "
        r"could be more than 50; .*write e\.g\. 500000 for 50万",
    ):
        parse(data)
    data["limits"]["rounding"] = 0.1
    with pytest.raises(
        ConfigError,
        match=r"key 'limits\.rounding': rounding 0\.1 is a fraction of the currency unit; "
        r".*write e\.g\. 1000 for 0\.1万, or 0 for no rounding",
    ):
        parse(data)
    data["limits"]["rounding"] = 0
    data["grades"]["A"]["limit"]["cap"] = 1000
    assert parse(data).grade("A").limit.cap == 1000


def test_the_run_facts_name_a_relative_policy_file_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--policy mypol.yaml`` was recorded as ``mypol.yaml``: a back-test started in
    another folder then said the run's policy "is not there any more"."""
    (tmp_path / "mypol.yaml").write_bytes(Path(POLICY.path).read_bytes())
    monkeypatch.chdir(tmp_path)
    policy = load_policy("mypol.yaml", indicators=INDICATORS)
    assert policy.path == "mypol.yaml"  # messages keep the name as typed
    assert policy.to_dict()["file"] == str(tmp_path / "mypol.yaml")


@pytest.mark.parametrize(
    ("share", "said"),
    [
        (50, r"50 is read as a share of the current limit, \+5000 %"),
        ("50%", "expected a share, got '50%'"),
    ],
)
def test_a_review_share_written_as_a_percentage_is_refused(share: object, said: str) -> None:
    """``review_increase_share: 50`` (meant as 50 %) flagged only increases above
    +5000 %: no limit was ever sent for review; refused naming 0.5."""
    data = policy_data(BANDS_OK, limits={"review_increase_share": share})
    with pytest.raises(
        ConfigError, match=rf"key 'limits\.review_increase_share': {said}; write 0\.5 for 50 %"
    ):
        parse(data)
    data["limits"]["review_increase_share"] = 2  # flag increases above +200 %: allowed
    assert parse(data).review_increase_share == 2


def test_a_policy_on_another_score_scale_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    """``score_range: {min: 0, max: 100}`` against scores of about 580: every customer
    got grade A and its limit, silently; refused when most scores lie outside the range
    (a few outliers still get the best or riskiest grade)."""
    policy = parse(
        policy_data(
            {"A": (80, 100), "B": (50, 80), "C": (0, 50)}, score_range={"min": 0, "max": 100}
        )
    )
    table, details = frames([578.0] * 20)
    with pytest.raises(
        ConfigError,
        match=r"p\.yaml, key 'score_range': 20 of 20 scores \(from 578 to 578\) lie outside "
        r"score_range \[0, 100\]",
    ):
        apply_policy(table, details, policy)
    table, details = frames([578.0] * 10 + [60.0] * 10)  # half outside: outliers
    with caplog.at_level("WARNING", logger="custrisk.policy.apply"):
        assert apply_policy(table, details, policy).scores["grade"].tolist()[:10] == ["A"] * 10
    # graded, but not silently
    assert "10 of 20 scores (from 578 to 578) lie outside score_range [0, 100]" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="custrisk.policy.apply"):
        apply_policy(*frames([60.0] * 3), policy)
    assert "outside score_range" not in caplog.text


def test_a_back_test_reads_a_policy_with_the_names_of_the_runs_details() -> None:
    """A policy that custrisk score took for a CRM-profile model (a rule reading its
    ``days_past_due``) was refused by ``backtest --policy``/``--target-bad-rate`` as an
    unknown name: they loaded it with the packaged indicators. The run's details give
    the names instead."""
    from custrisk.expr import ExprType
    from custrisk.policy import details_names

    details = pd.DataFrame(
        {
            "customer_id": ["C1"],
            "name_masked": ["张*"],
            "credit_limit": [1000.0],
            "ind__days_past_due": [12.0],
            "ind__lead_source": ["web"],
        }
    )
    names = details_names(details)
    assert names["days_past_due"] is ExprType.NUMBER
    assert names["lead_source"] is ExprType.STRING
    assert names["credit_limit"] is ExprType.NUMBER and names["score"] is ExprType.NUMBER
    assert "name_masked" not in names and "annual_income" not in names
    data = policy_data(BANDS_OK)
    data["grades"]["B"]["limit"] = {"rule": "credit_limit - days_past_due * 100"}
    with pytest.raises(ConfigError, match="unknown name 'days_past_due'"):
        parse(data)
    policy = parse_policy(data, file="p.yaml", names=names)
    assert policy.grade("B").limit.rule is not None


def test_lettered_grades_whose_bands_rank_them_otherwise_are_warned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """B and C swapped bands, with the default decisions (which follow the bands): the
    riskier scores silently got B's label and limit rule; now said. Letters in either
    order (A best or E best) and codes that are not single letters are not."""
    with caplog.at_level("WARNING", logger="custrisk"):
        parse(policy_data({"A": (640, 1000), "B": (565, 600), "C": (600, 640), "D": (0, 565)}))
    assert (
        "p.yaml: the score bands rank the grades A, C, B, D (best first), not in letter order"
        in caplog.text
    )
    caplog.clear()
    with caplog.at_level("WARNING", logger="custrisk"):
        parse(policy_data({"C": (640, 1000), "B": (565, 640), "A": (0, 565)}))
        parse(policy_data({"AA": (640, 1000), "A": (565, 640), "B": (0, 565)}))
    assert "letter order" not in caplog.text


def test_decisions_that_do_not_follow_the_bands_are_refused() -> None:
    """Two grades' bands swapped by hand (B below C): B's ``approve`` would go to riskier
    scores than C's ``review``; refused naming both grades and the band order."""
    data = policy_data(
        {"A": (640, 1000), "B": (565, 600), "C": (600, 640), "D": (0, 565)},
        decision={"grades": {"A": "approve", "B": "approve", "C": "review"}},
    )
    with pytest.raises(
        ConfigError,
        match=r"key 'decision\.grades\.B': grade B \(approve\) has a band below grade C "
        r"\(review\): .*rank the grades A, C, B, D \(best first\)",
    ):
        parse(data)
    data["decision"]["grades"] = {"C": "approve", "B": "review"}  # fixed the other way
    assert parse(data).decision("B") == "review"


# -- limits ------------------------------------------------------------------------------


def test_apply_policy_without_details_names_the_argument() -> None:
    table, _ = frames([700, 500])
    with pytest.raises(UsageError, match="details must be a pandas DataFrame; got NoneType"):
        apply_policy(table, None, POLICY)  # type: ignore[arg-type]


def test_limits_follow_each_grade_rule_and_guards() -> None:
    # A 700, B 620, C 580, D 550, E 500; current 50k, income 200k
    table, details = frames([700, 620, 580, 550, 500], overdue=[0, 0, 0, 5_000, 0])
    result = apply_policy(table, details, POLICY)
    scores = result.scores
    assert scores["grade"].tolist() == ["A", "B", "C", "D", "E"]
    # A: max(50k, 0.45 * 200k) = 90k (+80 %: review); B: max(50k, 70k) = 70k (+40 %)
    # C: min(55k, 60k) = 55k; D: min(50k, 0.2 * 200k - 5k) = 35k; E: frozen to 0
    assert scores["recommended_limit"].tolist() == [90_000, 70_000, 55_000, 35_000, 0]
    assert scores["limit_change"].tolist() == [40_000, 20_000, 5_000, -15_000, -50_000]
    assert scores["review_flag"].tolist() == [True, False, False, False, False]
    assert scores["grade_label"].tolist()[0] == "优质客户"
    english = apply_policy(table, details, POLICY, lang="en").scores
    assert english["grade_label"].tolist()[-1] == "High risk"


def test_columns_follow_the_score_and_inputs_are_not_mutated() -> None:
    table, details = frames([700, 500])
    table["reason_1_code"] = ["x", "y"]
    before = (table.copy(), details.copy())
    result = apply_policy(table, details, POLICY)
    pd.testing.assert_frame_equal(table, before[0])
    pd.testing.assert_frame_equal(details, before[1])
    columns = list(result.scores.columns)
    assert columns == [
        "customer_id",
        "as_of",
        "pd",
        "score",
        *POLICY_COLUMNS,
        "model_id",
        "reason_1_code",
    ]
    again = apply_policy(result.scores, details, POLICY)  # idempotent on its own output
    pd.testing.assert_frame_equal(again.scores, result.scores)


def test_rounding_is_down_but_never_cuts_a_kept_limit() -> None:
    # A keeps 38,500 (rule max(current, 0.45 * 70,001) = 38,500.45 -> kept, not 38,000)
    # B: max(10,000, 0.35 * 100,001) = 35,000.35 -> 35,000
    table, details = frames([700, 620], current=[38_500, 10_000], income=[70_001, 100_001])
    recommended = apply_policy(table, details, POLICY).scores["recommended_limit"]
    assert recommended.tolist() == [38_500, 35_000]


def test_a_rule_without_a_value_keeps_the_current_limit_and_asks_for_review() -> None:
    table, details = frames([580, 700], current=[40_000, 20_000], income=[np.nan, np.nan])
    result = apply_policy(table, details, POLICY)
    assert result.scores["recommended_limit"].tolist() == [40_000, 20_000]
    assert result.scores["review_flag"].tolist() == [True, True]
    assert result.summary["policy"]["limits"]["rule_not_computed"] == 2


@pytest.mark.parametrize(
    ("rule", "rounding", "seen"),
    [
        (
            "annual_income * 0.45 / 10000",
            1000,
            r"every limit it gives the 20 customers of grade A rounds down to 0 \(the "
            r"largest 9\.00, limits\.rounding 1000\)",
        ),
        (
            "annual_income * 0.45 / 10000",
            0,
            r"the limits it gives the 20 customers of grade A have a median of 9\.00, "
            r"55,556 times below the cap 500000",
        ),
        (
            "annual_income / 1000000",
            0,
            r"every limit it gives the 20 customers of grade A is below 1 \(the largest 0\.2\)",
        ),
        (
            "annual_income * 0.45 * 10000",
            1000,
            r"the limits it gives the 20 customers of grade A have a median of 900,000,000, "
            r"1,800 times the cap 500000: every one would be the cap",
        ),
    ],
)
def test_a_limit_rule_on_another_scale_is_refused(rule: str, rounding: int, seen: str) -> None:
    """A rule written for amounts in 万 (or multiplied by 10000 where it should divide)
    gave every customer a limit of 0, or the cap, silently."""
    data = policy_data({"A": (600, 1000), "B": (0, 600)}, limits={"rounding": rounding})
    data["grades"]["A"]["limit"] = {"rule": rule, "cap": 500_000}
    table, details = frames([700.0] * 20)
    with pytest.raises(
        ConfigError,
        match=rf"p\.yaml, key 'grades\.A\.limit\.rule': limit rule '{re.escape(rule)}': "
        rf"{seen}; .*a / 10000 or \* 10000 too many",
    ):
        apply_policy(table, details, parse(data))


def test_a_small_grade_of_a_small_portfolio_is_judged_on_every_customer() -> None:
    """A tiny lender's grade of 10 customers got limits of 0 silently: fewer than the
    20 a grade is judged on; the rule's scale is judged on the whole portfolio."""
    data = policy_data({"A": (600, 1000), "B": (0, 600)}, limits={"rounding": 1000})
    data["grades"]["A"]["limit"] = {"rule": "annual_income * 0.45 / 10000", "cap": 500_000}
    table, details = frames([700.0] * 10 + [500.0] * 30)
    with pytest.raises(
        ConfigError,
        match=r"every limit it gives the 40 customers of the portfolio \(grade A has 10, "
        r"fewer than the 20 it is judged on alone\) rounds down to 0",
    ):
        apply_policy(table, details, parse(data))


def test_small_limits_of_a_few_customers_or_of_a_rule_that_cuts_are_not_judged() -> None:
    data = policy_data({"A": (600, 1000), "B": (0, 600)}, limits={"rounding": 1000})
    data["grades"]["A"]["limit"] = {"rule": "annual_income * 0.45 / 10000", "cap": 500_000}
    table, details = frames([700.0] * 19)  # 19 customers in all: not judged
    limits = apply_policy(table, details, parse(data)).scores["recommended_limit"]
    assert limits.max() == 0
    # income less arrears: most customers of the grade get 0, a choice of the policy
    data["grades"]["A"]["limit"] = {"rule": "annual_income * 0.1 - overdue_amount"}
    overdue = [30_000.0] * 15 + [0.0] * 10
    table, details = frames([700.0] * 25, income=[200_500.0] * 25, overdue=overdue)
    limits = apply_policy(table, details, parse(data)).scores["recommended_limit"]
    assert sorted(set(limits)) == [0, 20_000]


def test_freeze_current_keeps_the_limit_within_the_cap() -> None:
    data = policy_data({"A": (600, 1000), "B": (0, 600)})
    data["grades"]["B"]["limit"] = {"freeze": "current", "cap": 30_000}
    policy = parse(data)
    table, details = frames([500, 500, 500], current=[20_000, 45_000, np.nan])
    scores = apply_policy(table, details, policy).scores
    # no current limit: nothing to keep, so no limit (not a limit of 0)
    assert scores["recommended_limit"].iloc[:2].tolist() == [20_000, 30_000]
    assert pd.isna(scores["recommended_limit"].iloc[2])


LIMIT_CASES = st.lists(
    st.tuples(
        st.integers(300, 900),
        st.one_of(st.none(), st.floats(0, 2e6, allow_nan=False)),
        st.one_of(st.none(), st.floats(0, 1e7, allow_nan=False)),
        st.floats(0, 2e5, allow_nan=False),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LIMIT_CASES)
def test_limits_stay_within_the_policy(cases: list[tuple[int, Any, Any, float]]) -> None:
    scores = [c[0] for c in cases]
    current = [np.nan if c[1] is None else c[1] for c in cases]
    income = [np.nan if c[2] is None else c[2] for c in cases]
    table, details = frames(scores, current=current, income=income, overdue=[c[3] for c in cases])
    try:
        result = apply_policy(table, details, POLICY).scores
    except ConfigError as exc:  # 20 customers of a grade all given limits below 1 (or 0)
        assert "limit rule" in str(exc) and ("below 1" in str(exc) or "to 0" in str(exc))
        return
    recommended = result["recommended_limit"].to_numpy()
    base = np.nan_to_num(np.asarray(current, dtype=float), nan=0.0)
    assert (recommended >= 0).all()
    for grade_code, value, held in zip(result["grade"], recommended, base, strict=True):
        grade = POLICY.grade(grade_code)
        if grade.limit.cap is not None:
            assert value <= grade.limit.cap
        if not grade.limit.allow_increase:
            assert value <= held  # the riskiest grade (and D) never gets an increase
    riskiest = result["grade"] == POLICY.riskiest.code
    assert (recommended[riskiest.to_numpy()] <= base[riskiest.to_numpy()]).all()
    flagged = recommended > base * (1 + POLICY.review_increase_share)
    assert (result["review_flag"].to_numpy() >= flagged).all()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 999), min_size=1, max_size=5, unique=True),
    st.lists(st.floats(-100, 1100, allow_nan=False), min_size=2, max_size=40),
)
def test_a_higher_score_never_gets_a_worse_grade(cuts: list[int], scores: list[float]) -> None:
    edges = [0, *sorted(cuts), 1000]
    codes = [f"G{i}" for i in range(len(edges) - 1)]
    policy = parse(
        policy_data({c: (lo, hi) for c, lo, hi in zip(codes, edges, edges[1:], strict=False)})
    )
    ordered = sorted(scores)
    ranks = [policy.grade(g).rank for g in assign_grades(ordered, policy)]
    assert all(later <= earlier for earlier, later in zip(ranks, ranks[1:], strict=False))
    default_ranks = [POLICY.grade(g).rank for g in assign_grades(ordered, POLICY)]
    assert default_ranks == sorted(default_ranks, reverse=True)


# -- previous run and migration --------------------------------------------------------------


def test_migration_matrix_of_two_tiny_runs() -> None:
    prev = pd.DataFrame({"customer_id": ["1", "2", "3", "4"], "grade": ["A", "B", "C", "E"]})
    curr = pd.DataFrame({"customer_id": ["1", "2", "3", "5"], "grade": ["A", "D", "B", "C"]})
    migration = migration_matrix(prev, curr, ["A", "B", "C", "D", "E"])
    counts = migration.counts
    assert list(counts.index) == ["A", "B", "C", "D", "E", "new"]
    assert list(counts.columns) == ["A", "B", "C", "D", "E", "departed"]
    assert counts.loc["A", "A"] == 1 and counts.loc["B", "D"] == 1 and counts.loc["C", "B"] == 1
    assert counts.loc["E", "departed"] == 1 and counts.loc["new", "C"] == 1
    assert int(counts.to_numpy().sum()) == 5
    assert migration.rates.loc["B", "D"] == 1.0
    assert np.isnan(migration.rates.loc["D", "A"])  # nobody was in D
    facts = migration.to_dict()
    assert (facts["stayed"], facts["upgraded"], facts["downgraded"]) == (1, 1, 1)
    assert (facts["new"], facts["departed"]) == (1, 1)
    assert facts["rates"][3] == [None] * 6
    assert facts["counts"][1] == [0, 0, 0, 1, 0, 0]


def test_migration_keeps_grades_unknown_to_the_policy() -> None:
    prev = pd.Series(["X", "A"], index=["1", "2"])
    curr = pd.Series(["A", "A"], index=["1", "2"])
    migration = migration_matrix(prev, curr, ["A", "B"])
    assert list(migration.counts.index) == ["A", "B", "X", "new"]
    assert migration.counts.loc["X", "A"] == 1
    with pytest.raises(DataError, match="customer '1' more than once"):
        migration_matrix(pd.Series(["A", "B"], index=["1", "1"]), curr)


def test_a_previous_run_dated_after_this_one_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    table, details = frames([700, 550, 600])
    as_of = str(table["as_of"].iloc[0])
    later = (dt.date.fromisoformat(as_of) + dt.timedelta(days=30)).isoformat()
    previous = pd.DataFrame(
        {"customer_id": ["C0000"], "as_of": later, "score": [720.0], "grade": ["A"]}
    )
    with pytest.raises(
        DataError,
        match=rf"^the previous run is as of {later}, after this run's as-of date \({as_of}\): "
        r"its alerts, grades and limits would be compared backwards; give the run of an "
        r"earlier month as the previous run \(the two may be swapped\)$",
    ):
        apply_policy(table, details, POLICY, previous=previous)
    # The same month scored again against its first run: compared, with a warning.
    with caplog.at_level("WARNING", logger="custrisk.policy.apply"):
        result = apply_policy(table, details, POLICY, previous=previous.assign(as_of=as_of))
    assert result.summary["migration"]["previous_as_of"] == as_of
    assert f"the previous run is as of {as_of}, the as-of date of this run too" in caplog.text


def test_changes_against_a_previous_run() -> None:
    table, details = frames([700, 550, 600])
    previous = pd.DataFrame(
        {
            "customer_id": ["C0000", "C0001", "C9999"],
            "as_of": "2026-09-30",
            "score": [720.0, 640.0, 500.0],
            "grade": ["A", "B", "E"],
            "recommended_limit": [80_000.0, 60_000.0, 0.0],
        }
    )
    result = apply_policy(table, details, POLICY, previous=previous)
    scores = result.scores
    assert list(scores.columns[12:18]) == list(CHANGE_COLUMNS)
    assert scores["prev_score"].tolist()[:2] == [720, 640]
    assert scores["prev_score"].isna().tolist() == [False, False, True]
    assert scores["score_change"].tolist()[:2] == [-20, -90]
    assert scores["prev_grade"].tolist()[:2] == ["A", "B"]
    assert scores["grade_change"].tolist()[:2] == [0, 2]  # B -> D: two notches down
    assert scores["recommended_limit_change"].tolist()[0] == 90_000 - 80_000
    facts = result.summary["migration"]
    assert facts["previous_as_of"] == "2026-09-30"
    assert (facts["new"], facts["departed"], facts["downgraded"]) == (1, 1, 1)
    assert result.migration is not None and result.migration.counts.loc["B", "D"] == 1


def test_a_previous_run_without_grades_is_graded_with_the_policy() -> None:
    table, details = frames([700])
    previous = pd.DataFrame({"customer_id": ["C0000"], "score": [520]})
    scores = apply_policy(table, details, POLICY, previous=previous).scores
    assert scores["prev_grade"].tolist() == ["E"]
    assert scores["grade_change"].tolist() == [-4]
    assert scores["prev_recommended_limit"].isna().all()


def test_scores_table_problems_are_data_errors() -> None:
    table, details = frames([700, 600])
    with pytest.raises(DataError, match=re.escape("lacks the column(s) score")):
        apply_policy(table.drop(columns="score"), details, POLICY)
    twice = pd.concat([table, table])
    with pytest.raises(DataError, match="holds customer 'C0000' twice"):
        apply_policy(twice, details, POLICY)
    mixed = table.assign(as_of=["2026-10-31", "2026-09-30"])
    with pytest.raises(DataError, match="one as-of date, found 2"):
        apply_policy(mixed, details, POLICY)


@pytest.mark.parametrize(
    "ids",
    [["C0000", "C0001", "C0001"], ["C0002", "C0001", "C0001"], ["C0001", "C0000", "C0001"]],
    ids=["rising", "falling", "unordered"],
)
def test_a_repeated_customer_is_found_however_the_ids_are_ordered(ids: list[str]) -> None:
    # ids that rise or fall strictly are distinct without hashing them; one repeated
    # next to itself breaks the order, and is found
    table, details = frames([700, 600, 650])
    with pytest.raises(DataError, match=f"holds customer '{ids[2]}' twice"):
        apply_policy(table.assign(customer_id=ids), details, POLICY)
    distinct = sorted(set(ids)) + ["C0009"]
    for order in (distinct, distinct[::-1]):
        grades = apply_policy(table.assign(customer_id=order[:3]), details, POLICY).scores
        assert grades["customer_id"].tolist() == order[:3]
