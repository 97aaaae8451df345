"""A share on the wrong scale (percentage points read as fractions) stops the run naming
the rule, the share and the fix, rather than alerting on nearly every customer; over-limit
customers (a utilisation above 1) do not trip it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.data.infer import infer_table
from custrisk.errors import ConfigError
from custrisk.indicators import load_indicator_config, parse_indicator_config
from custrisk.policy import (
    apply_policy,
    load_alert_rules,
    load_policy,
    parse_alert_rules,
    parse_policy,
)
from custrisk.policy._names import share_names
from custrisk.scoring.table import table_configs

INDICATORS = load_indicator_config()
POLICY = load_policy(indicators=INDICATORS)
RULES = load_alert_rules(indicators=INDICATORS, policy=POLICY)


def _frames(
    utilisation: list[float], **indicators: list[float]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores (grade B, no limit rule fires on the rest) and details for one customer
    per utilisation value."""
    n = len(utilisation)
    ids = [f"C{i:04d}" for i in range(n)]
    scores = pd.DataFrame(
        {"customer_id": ids, "as_of": "2026-10-31", "pd": 0.01, "score": 620, "model_id": "m@1"}
    )
    details = pd.DataFrame(
        {
            "customer_id": ids,
            "credit_limit": 50_000.0,
            "annual_income": 200_000.0,
            "outstanding_balance": 10_000.0,
            "overdue_amount": 0.0,
        }
    )
    for indicator in INDICATORS.indicators:  # (every indicator the rules read: blank)
        if indicator.output:
            details[f"ind__{indicator.code}"] = pd.Series(
                np.nan, index=details.index, dtype=str if indicator.categorical else float
            )
    details["ind__utilisation"] = utilisation
    for name, values in indicators.items():
        details[f"ind__{name}"] = values
    return scores, details


def _points(n: int, seed: int = 0) -> list[float]:
    return list(np.random.default_rng(seed).uniform(5, 99, n).round(1))


def test_a_share_in_percentage_points_stops_naming_the_rule_and_the_fix() -> None:
    scores, details = _frames(_points(40))
    with pytest.raises(ConfigError) as caught:
        apply_policy(scores, details, POLICY, RULES)
    text = caught.value.one_line()
    assert "alerts.yaml, key 'rules.CR03.condition': reads 'utilisation' as a share" in text
    assert "40 of the 40 customers with a value above 0 have one above 1.5" in text
    median = float(np.median(_points(40)))
    assert f"(median {median:,.4g}, read as {median:,.0%})" in text
    # the packaged utilisation is computed (balance / limit): the fix is in its inputs
    assert "but its values are no fractions" in text
    assert "check the scales of what utilisation is computed from" in text
    assert "\n" not in text


@pytest.mark.parametrize(("over", "stops"), [(45, False), (55, True)])
def test_over_limit_customers_do_not_trip_it_unless_they_are_most(over: int, stops: bool) -> None:
    """Customers over their limit (utilisation 1.6 to 3: above 1.5) are a share of the
    portfolio: while they are fewer than half of those with a value, CR03 fires on them
    and on the others above 90 %; a majority above 1.5 is percentage points."""
    rng = np.random.default_rng(1)
    values = [*rng.uniform(1.6, 3.0, over).round(2), *rng.uniform(0.2, 0.95, 100 - over).round(2)]
    scores, details = _frames(values)
    if stops:
        with pytest.raises(ConfigError, match=r"55 of the 100 customers .* above 1\.5"):
            apply_policy(scores, details, POLICY, RULES)
        return
    alerts = apply_policy(scores, details, POLICY, RULES).alerts
    flagged = set(alerts.loc[alerts["code"] == "CR03", "customer_id"])
    assert flagged == set(details.loc[details["ind__utilisation"] > 0.9, "customer_id"])
    assert len(flagged) > over


def test_zeros_and_blanks_say_nothing_and_a_handful_is_not_judged() -> None:
    # points among many unused limits (0) and blanks: judged on the values above 0
    values = [0.0] * 200 + [np.nan] * 50 + _points(20)
    with pytest.raises(ConfigError, match=r"20 of the 20 customers with a value above 0"):
        apply_policy(*_frames(values), POLICY, RULES)
    # 19 values above 0: too few to judge a scale
    alerts = apply_policy(*_frames([0.0] * 200 + _points(19)), POLICY, RULES).alerts
    assert (alerts["code"] == "CR03").sum() == 19


def test_a_rule_the_run_skips_does_not_judge_what_it_reads() -> None:
    """TX02 reads refund_rate_12m; skipped (the data lacks it), its points are not read."""
    rates = _points(30)
    scores, details = _frames([0.3] * 30, refund_rate_12m=rates)
    with pytest.raises(ConfigError, match=r"rules\.TX02\.condition': reads 'refund_rate_12m'"):
        apply_policy(scores, details, POLICY, RULES)
    result = apply_policy(scores, details, POLICY, RULES, unavailable=["refund_rate_12m"])
    assert "TX02" in result.summary["alerts"]["skipped_rules"]


def test_a_new_when_reading_a_share_the_details_lack_is_not_judged() -> None:
    """A ``new_when`` may read a name the details lack (the previous run's value then):
    the share check raised KeyError on it, a traceback where the alerts used to come."""
    rule = {
        "level": "red",
        "condition": "overdue_amount > 0",
        "new_when": "utilisation > 0.95",
        "message": {"zh": "逾期", "en": "overdue"},
        "actions": {"zh": ["催收"], "en": ["collect"]},
        "owner": "collections",
        "response_hours": 24,
    }
    rules = parse_alert_rules({"rules": {"X01": rule}}, indicators=INDICATORS, policy=POLICY)
    scores, details = _frames([0.5] * 30)
    details = details.drop(columns="ind__utilisation").assign(overdue_amount=100.0)
    assert apply_policy(scores, details, POLICY, rules).alerts["code"].tolist() == ["X01"] * 30


def test_a_limit_rule_reading_a_share_is_judged_too() -> None:
    data = yaml.safe_load(Path(POLICY.path).read_text(encoding="utf-8"))
    data["grades"]["B"]["limit"]["rule"] = "credit_limit * (1.5 - utilisation)"
    policy = parse_policy(data, indicators=INDICATORS, file="p.yaml")
    with pytest.raises(ConfigError, match=r"p\.yaml, key 'grades\.B\.limit\.rule': reads 'util"):
        apply_policy(*_frames(_points(30)), policy)
    limits = apply_policy(*_frames([0.5] * 30), policy).scores["recommended_limit"]
    assert (limits == 50_000).all()


def test_which_indicators_are_shares() -> None:
    """The unit share, or no unit on a name the packaged config knows as a share (a flat
    table's utilisation of a model trained before percent columns were scaled); each with
    the column it is read from as written."""
    common = {"label": {"zh": "x", "en": "x"}, "direction": "none", "missing": "keep"}
    indicators = {
        "utilisation": {"field": "utilisation"},  # (no unit: the packaged one's)
        "paid_share": {"field": "paid", "unit": "share"},
        "overdue_ratio": {"field": "overdue", "unit": "ratio"},  # (said otherwise)
        "late_count": {"field": "late"},
        "half": {"expr": "paid_share / 2", "unit": "share"},
    }
    data = {"version": 1, "indicators": {k: {**common, **v} for k, v in indicators.items()}}
    columns = dict.fromkeys(("utilisation", "paid", "overdue", "late"), "float")
    config = parse_indicator_config(data, sources={"credit": {"customer_id": "id", **columns}})
    assert share_names(config) == {"utilisation": "utilisation", "paid_share": "paid", "half": None}
    assert {"utilisation", "refund_rate_12m"} <= share_names(None).keys()
    assert "trade_amount_trend" not in share_names(None)  # (a ratio: 2 is twice as much)
    assert "payment_coverage_12m" not in share_names(None)  # (a coverage: 1.44 times)


SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


@pytest.mark.parametrize("profile", ["default", "crm"])
def test_no_packaged_share_is_mostly_above_one_on_the_sample_data(
    profile: str, tmp_path: Path
) -> None:
    """Every packaged indicator with the unit share lies in [0, 1] but for a few
    customers (over their limit, collecting earlier months' plans): far from the half
    above 1.5 that stops a run reading it. A coverage (payments against the balance,
    median 1.44 on the sample) called a share would stop `score` under any user rule on
    it for a portfolio paying a little more."""
    from custrisk.config.profiles import PROFILES
    from custrisk.sample.crm import generate_crm_data

    if profile == "crm":
        data = tmp_path / "crm"
        generate_crm_data(data, customers=300, seed=11)
        crm = PROFILES["crm"]
        config = load_indicator_config(crm.config("indicators.yaml"), sources=crm.sources)
    else:
        data, config = SAMPLE, INDICATORS
    out = tmp_path / "indicators.csv"
    result = CliRunner().invoke(app, ["indicators", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    shares = [i.code for i in config.indicators if i.unit == "share" and i.output]
    assert len(shares) >= 5
    for code in shares:
        values = table[code].to_numpy(dtype=float)
        judged = values[values > 0]
        assert len(judged) >= 40, code  # (enough customers with a value to judge)
        above = int((judged > 1.5).sum())
        assert above <= 0.05 * len(judged), (code, above, len(judged), np.median(judged))


def test_a_coverage_a_models_older_config_calls_a_share_names_the_retraining() -> None:
    """A model trained before payment_coverage_12m was a ratio keeps its unit share: a
    rule reading it on a portfolio covering its balance 1.9 times stops with the
    retraining as the fix; with the packaged config the rule fires as written."""
    data = yaml.safe_load(Path(INDICATORS.path).read_text(encoding="utf-8"))
    data["indicators"]["payment_coverage_12m"]["unit"] = "share"
    older = parse_indicator_config(data, file="models/logistic/1/indicators.yaml")
    rule = {
        "level": "yellow",
        "condition": "payment_coverage_12m < 0.5",
        "message": {"zh": "还款覆盖不足", "en": "payments below half the balance"},
        "actions": {"zh": ["联系客户"], "en": ["call"]},
        "owner": "account_manager",
        "response_hours": 72,
    }
    coverage = [*np.linspace(1.6, 3.0, 30), *np.linspace(0.1, 0.4, 10)]
    scores, details = _frames([0.5] * 40, payment_coverage_12m=coverage)
    rules = parse_alert_rules({"rules": {"PC01": rule}}, indicators=older, file="a.yaml")
    with pytest.raises(ConfigError) as caught:
        apply_policy(scores, details, POLICY, rules)
    text = caught.value.one_line()
    assert "a.yaml, key 'rules.PC01.condition': reads 'payment_coverage_12m' as a share" in text
    assert "the packaged indicators config gives payment_coverage_12m the unit ratio" in text
    assert "retrain the model (custrisk train DATA --labels LABELS)" in text
    rules = parse_alert_rules({"rules": {"PC01": rule}}, indicators=INDICATORS)
    alerts = apply_policy(scores, details, POLICY, rules).alerts
    assert (alerts["code"] == "PC01").sum() == 10


def test_a_flat_tables_utilisation_in_points_names_its_column(tmp_path: Path) -> None:
    """A flat table whose ``utilisation`` column holds percentage points (its header
    names no percent, so the layout reads it as written): the packaged CR03 reads it as
    a share, and the run stops with the column to scale or the header to rename."""
    rng = np.random.default_rng(2)
    n = 60
    frame = pd.DataFrame(
        {
            "客户编号": [f"K{i:03d}" for i in range(n)],
            "utilisation": rng.uniform(5, 110, n).round(1),
            "逾期次数": rng.poisson(1.0, n),
            "违约": rng.choice(["是", "否"], n),
        }
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    schema = infer_table(tmp_path / "t.csv", target="违约")
    assert schema.column("utilisation").scale is None  # (no percent in the header)
    configs = table_configs(schema)
    sources = yaml.safe_load(configs.sources_text)["sources"]["credit"]["columns"]
    indicators = parse_indicator_config(
        yaml.safe_load(configs.indicators_text),
        sources={"credit": {c: s["type"] for c, s in sources.items()}},
    )
    rules = load_alert_rules(indicators=indicators, policy=POLICY)
    assert "CR03" in rules.codes
    scores, details = _frames(list(frame["utilisation"]))
    with pytest.raises(ConfigError) as caught:
        apply_policy(scores, details, POLICY, rules)
    text = caught.value.one_line()
    assert "reads 'utilisation' as a share (0.9 is 90 %), but the data gives percentage" in text
    assert "scale: 0.01 under columns: utilisation in the sources config" in text
    assert "header naming the percent ('utilisation %')" in text


# -- the command line -------------------------------------------------------------------


def _invoke(*args: object) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


_INDICATORS = """\
version: 1
indicators:
  utilisation:
    label: {zh: 额度使用率, en: Credit utilisation}
    unit: share
    direction: higher_is_riskier
    missing: keep
    field: utilisation
  late_count:
    label: {zh: 逾期次数, en: Late payments}
    unit: payments
    direction: higher_is_riskier
    missing: keep
    field: late_count
"""


def _sources(scale: str) -> str:
    return f"""\
version: 1
sources:
  credit:
    file: credit.csv
    required: true
    key: customer_id
    rename: {{客户编号: customer_id, 额度使用率(%): utilisation, 逾期次数: late_count}}
    columns:
      customer_id: {{type: id, required: true}}
      utilisation: {{type: float, on_invalid: blank{scale}}}
      late_count: {{type: int, on_invalid: blank}}
"""


def test_a_hand_written_config_reading_points_as_utilisation_stops_the_score(
    tmp_path: Path,
) -> None:
    """An export's 额度使用率(%) (42.7 for 42.7 %) read as utilisation by a sources config
    written by hand without ``scale: 0.01``: score stops (exit 2) with one line and
    writes nothing, where it flagged nearly every customer 'utilisation 4270%'; with the
    scale, CR03 flags those above 90 %."""
    rng = np.random.default_rng(3)
    n = 300
    util = rng.uniform(0, 1.2, n)
    late = rng.poisson(1.0, n)
    bad = rng.uniform(size=n) < 1 / (1 + np.exp(-(-2.2 + 2 * util + 0.5 * late)))
    ids = [f"C{i:04d}" for i in range(n)]
    credit = pd.DataFrame(
        {"客户编号": ids, "额度使用率(%)": (util * 100).round(1), "逾期次数": late}
    )
    credit.to_csv(tmp_path / "credit.csv", index=False)
    labels = pd.DataFrame({"customer_id": ids, "bad": bad.astype(int)})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    (tmp_path / "indicators.yaml").write_text(_INDICATORS, encoding="utf-8")
    (tmp_path / "fractions.yaml").write_text(_sources(", scale: 0.01"), encoding="utf-8")
    (tmp_path / "points.yaml").write_text(_sources(""), encoding="utf-8")
    models = tmp_path / "models"
    common = ["--as-of", "2026-10-31", "--models-dir", models]
    trained = _invoke(
        "train", tmp_path, "--labels", tmp_path / "labels.csv", "--sources",
        tmp_path / "fractions.yaml", "--indicators", tmp_path / "indicators.yaml", *common,
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output

    out = tmp_path / "points" / "scores.csv"
    scored = _invoke("score", tmp_path, "--sources", tmp_path / "points.yaml", "-m", "logistic",
                     "-o", out, *common)  # fmt: skip
    assert scored.exit_code == 2, scored.output
    error = [line for line in scored.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "Traceback" not in scored.output
    assert "key 'rules.CR03.condition': reads 'utilisation' as a share" in error[0]
    assert "scale: 0.01 under columns: utilisation in the sources config" in error[0]
    assert not out.parent.exists() or not any(out.parent.iterdir())

    out = tmp_path / "fractions" / "scores.csv"
    scored = _invoke("score", tmp_path, "--sources", tmp_path / "fractions.yaml", "-m",
                     "logistic", "-o", out, *common)  # fmt: skip
    assert scored.exit_code == 0, scored.output
    alerts = pd.read_csv(out.parent / "alerts.csv", dtype=str)
    flagged = alerts.loc[alerts["code"] == "CR03", "customer_id"]
    assert set(flagged) == set(credit.loc[credit["额度使用率(%)"] > 90, "客户编号"])


def test_an_export_with_customers_over_their_limit_is_scored(
    tmp_path: Path, export_200: Path, models_200: Path
) -> None:
    """40 % of the customers owe 1.6 to 3 times their limit (a utilisation legitimately
    above 1.5): the run goes on, and CR03 flags them with what they owe."""
    data = tmp_path / "exports"
    shutil.copytree(export_200, data)
    credit = pd.read_csv(data / "credit.csv", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(4)
    limit = credit["credit_limit"].astype(float)
    over = (rng.uniform(size=len(credit)) < 0.4) & (limit > 0)
    balance = credit["outstanding_balance"].astype(float)
    balance[over] = (limit[over] * rng.uniform(1.6, 3.0, int(over.sum()))).round(2)
    credit["outstanding_balance"] = balance.map("{:.2f}".format)
    credit.to_csv(data / "credit.csv", index=False)
    out = tmp_path / "run" / "scores.csv"
    scored = _invoke("score", data, "-m", "logistic", "--models-dir", models_200, "-o", out)
    assert scored.exit_code == 0, scored.output
    details = pd.read_parquet(out.parent / "scores.details.parquet")
    utilisation = details.set_index("customer_id")["ind__utilisation"]
    assert (utilisation > 1.5).sum() >= 0.3 * len(utilisation)
    alerts = pd.read_csv(out.parent / "alerts.csv", dtype=str)
    flagged = set(alerts.loc[alerts["code"] == "CR03", "customer_id"])
    assert flagged == set(utilisation.index[utilisation > 0.9])
