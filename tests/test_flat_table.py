"""Flat tables: one file with a row per customer trains and scores with no YAML."""

from __future__ import annotations

import json
import logging
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.config.sources import load_sources_config
from custrisk.data.infer import infer_table
from custrisk.data.infer_columns import plausible_range
from custrisk.errors import DataError, UsageError
from custrisk.policy import load_alert_rules, load_policy
from custrisk.scoring.table import table_configs, table_fields_hint, target_coding

NAMES = ["张伟", "王芳", "李娜", "刘洋"]
CONTACT_HEADER = "紧急联系人13812345678"
NOTE_HEADER = "说明13812345678"


def _table(n: int, seed: int, *, with_target: bool = True) -> pd.DataFrame:
    """Customers whose outcome depends on utilisation, late payments and region."""
    rng = np.random.default_rng(seed)
    util = rng.uniform(0, 1.2, n).round(3)
    late = rng.poisson(1.0, n)
    region = rng.choice(["华东", "华南", "华北", "东北"], n)
    income = rng.lognormal(9, 0.5, n).round(0)
    z = -2.2 + 2.0 * util + 0.5 * late + 0.6 * (region == "东北") - 0.00004 * income
    bad = rng.uniform(size=n) < 1 / (1 + np.exp(-z))
    frame = pd.DataFrame(
        {
            "姓名": rng.choice(NAMES, n),
            "手机号": [f"139{rng.integers(10**7, 10**8)}" for _ in range(n)],
            "月收入(元)": income,
            "额度使用率": util,
            "地区": region,
            "开户日期": (
                pd.Timestamp("2026-06-30") - pd.to_timedelta(rng.integers(30, 2000, n), unit="D")
            ).strftime("%Y-%m-%d"),
            "近12月逾期次数": late,
            "备注": [f"客户备注 {i}" for i in range(n)],
        }
    )
    frame.loc[rng.choice(n, n // 20, replace=False), "月收入(元)"] = np.nan
    if with_target:
        frame["违约"] = np.where(bad, "是", "否")
    return frame


def _invoke(*args: object, code: int = 0) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def flat(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A training table, next month's table (no outcome) and the model trained on it."""
    root = tmp_path_factory.mktemp("flat")
    train, later = root / "train.csv", root / "next.csv"
    for frame, path in (
        (_table(1500, seed=1), train),
        (_table(400, seed=2, with_target=False), later),
    ):
        frame[CONTACT_HEADER] = frame["手机号"]  # (a header holding a phone number)
        frame[NOTE_HEADER] = [f"第{i}条说明" for i in range(len(frame))]  # (free text)
        frame.to_csv(path, index=False)
    output = _invoke("train", train, "--target", "违约", "--models-dir", root / "models")
    scored = root / "run" / "scores.csv"
    score_output = _invoke(
        "score", later, "-m", "logistic", "--models-dir", root / "models", "-o", scored
    )
    return {
        "root": root,
        "train": train,
        "next": later,
        "model": root / "models" / "logistic" / "1",
        "scores": scored,
        "train_output": Path(root / "train.out"),
        "_train_text": output,  # type: ignore[dict-item]
        "_score_text": score_output,  # type: ignore[dict-item]
    }


def test_the_layout_is_inferred_from_headers_and_values(tmp_path: Path) -> None:
    frame = _table(300, seed=3)
    frame.insert(0, "客户编号", [f"{i:06d}" for i in range(300)])
    frame["常数"] = "同一个值"
    frame["标记"] = ["VIP" if i % 10 == 0 else "" for i in range(300)]
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    schema = infer_table(path, target="违约")
    kinds = {c.header: (c.role, c.type) for c in schema.columns}
    assert schema.id_column == "客户编号"
    assert kinds["客户编号"] == ("id", "id")  # leading zeros: an id, never a number
    assert kinds["姓名"][0] == "pii" and kinds["手机号"][0] == "pii"
    # a month's income: the customer's annual_income, its values × 12 (scale)
    assert kinds["月收入(元)"] == ("feature", "float")
    income = schema.column("月收入(元)")
    assert (income.name, income.scale) == ("annual_income", 12)
    assert kinds["额度使用率"] == ("feature", "float")
    assert kinds["地区"] == ("feature", "category")
    assert kinds["开户日期"] == ("feature", "date")
    assert kinds["备注"][0] == "ignored"  # free text
    assert kinds["常数"][0] == "ignored"
    assert schema.column("常数").reason == "one value in every row (同一个值)"
    # one value where filled, blank elsewhere: said so, not "in every row"
    assert schema.column("标记").reason == "one value (VIP) in 30 of 300 rows, blank in the others"
    assert kinds["违约"][0] == "target"


def test_a_ratio_written_as_percentages_is_shown_as_percents(tmp_path: Path) -> None:
    """额度使用率 written 16.3% is read as 0.163; its indicator's unit says so, so that
    the customer report shows 16.3% again, not 0.16."""
    frame = _table(200, seed=4)
    frame["额度使用率"] = (frame["额度使用率"] * 100).map(lambda v: f"{v:.1f}%")
    frame["近12月逾期次数"] = frame["近12月逾期次数"] / 2  # plain numbers with decimals
    frame.to_csv(tmp_path / "t.csv", index=False)
    schema = infer_table(tmp_path / "t.csv", target="违约")
    util = schema.column("额度使用率")
    assert (util.type, util.percent) == ("float", True)
    assert "percentages (e.g. " in util.reason
    assert not schema.column("近12月逾期次数").percent
    assert not schema.column("月收入(元)").percent
    assert schema.to_dict()["columns"][3]["percent"] is True  # (the model card's table)
    indicators = yaml.safe_load(table_configs(schema).indicators_text)["indicators"]
    assert indicators[util.name]["unit"] == "share"
    assert "unit" not in indicators[schema.column("近12月逾期次数").name]


@pytest.mark.parametrize("header", ["Utilisation %", "额度使用率(%)", "使用率％", "util pct"])
def test_percentage_points_under_a_percent_header_are_read_as_fractions(
    tmp_path: Path, header: str
) -> None:
    """``Utilisation %`` holding 42.7 for 42.7 % is read as 0.427 (``scale: 0.01``) and
    shown as percents; read as 42.7, a rule on utilisation (above 90 %) saw 4,270 % and
    flagged nearly every customer. Fractions under the same header (0.427) and points
    under a header naming no percent are read as written."""
    frame = _table(200, seed=4)
    util = frame.pop("额度使用率")
    frame[header] = (util * 100).round(1)
    frame["share %"] = util  # (fractions already)
    frame["逾期天数"] = (util * 100).round(0).astype(int)  # (no percent in its header)
    frame.to_csv(tmp_path / "t.csv", index=False)
    schema = infer_table(tmp_path / "t.csv", target="违约")
    points = schema.column(header)
    assert (points.type, points.scale, points.percent_points) == ("float", 0.01, True)
    assert "percentage points (" in points.reason
    for other in ("share %", "逾期天数"):
        assert (schema.column(other).scale, schema.column(other).percent_points) == (None, False)
    configs = table_configs(schema)
    columns = yaml.safe_load(configs.sources_text)["sources"]["credit"]["columns"]
    assert columns[points.name]["scale"] == 0.01
    indicator = yaml.safe_load(configs.indicators_text)["indicators"][points.name]
    assert (indicator["unit"], indicator["label"]["en"]) == ("share", header)


def test_percentage_points_mostly_zero_are_read_as_fractions(tmp_path: Path) -> None:
    """``逾期率(%)`` in points where most customers have 0 (never late): 0 says nothing of
    a scale, as the policy's share check has it, so the points are still read as
    fractions (read as 12.5, the policy refused the run and told to name the percent in
    the header, which it already did)."""
    frame = _table(200, seed=4)
    util = frame.pop("额度使用率")
    frame["逾期率(%)"] = ((util * 100).round(1)).where(frame.index % 10 < 3, 0.0)
    frame.to_csv(tmp_path / "t.csv", index=False)
    points = infer_table(tmp_path / "t.csv", target="违约").column("逾期率(%)")
    assert (points.scale, points.percent_points) == (0.01, True)


def test_a_rule_on_utilisation_reads_a_percent_column_as_a_share(tmp_path: Path) -> None:
    """A table whose ``Utilisation %`` (percentage points) became the feature
    ``utilisation`` that alert rule CR03 reads (above 0.9): only the customers above
    90 % are flagged, shown as 95%, not 9500%."""
    frame = _table(300, seed=7)
    frame["Utilisation %"] = (frame.pop("额度使用率") * 100).round(1)
    frame.to_csv(tmp_path / "t.csv", index=False)
    _invoke("train", tmp_path / "t.csv", "--target", "违约", "--models-dir", tmp_path)
    frame.drop(columns="违约").to_csv(tmp_path / "next.csv", index=False)
    _invoke("score", tmp_path / "next.csv", "-m", "logistic", "--models-dir", tmp_path,
            "-o", tmp_path / "out" / "s.csv")  # fmt: skip
    alerts = pd.read_csv(tmp_path / "out" / "alerts.csv", dtype=str)
    flagged = alerts.loc[alerts["code"] == "CR03"]
    assert len(flagged) == int((frame["Utilisation %"] > 90).sum()) > 0
    shown = flagged["message_en"].str.extract(r"is (\d+)%")[0].astype(int)
    assert shown.between(90, 120).all(), flagged["message_en"].head().tolist()


def test_amounts_in_yuan_are_shown_as_money(tmp_path: Path) -> None:
    """月收入(元) (read as annual_income × 12), 授信额度(万元) (× 10,000) and 消费金额/元
    are amounts in 元: their indicators' unit is CNY, shown ¥369,264 as the exports'
    are; 贷款额(万元) (not scaled: still in 万) and a count are not."""
    frame = _table(200, seed=4)[["月收入(元)", "近12月逾期次数", "违约"]]
    frame["授信额度(万元)"] = frame["近12月逾期次数"] + 5.0
    frame["消费金额/元"] = frame["月收入(元)"] / 3
    frame["贷款额(万元)"] = frame["近12月逾期次数"] * 2.5
    frame.to_csv(tmp_path / "t.csv", index=False)
    schema = infer_table(tmp_path / "t.csv", target="违约")
    indicators = yaml.safe_load(table_configs(schema).indicators_text)["indicators"]
    units = {v["label"]["zh"]: v.get("unit") for v in indicators.values()}
    assert units == {
        "月收入(元) × 12": "CNY",
        "近12月逾期次数": None,
        "授信额度(万元) × 10,000": "CNY",
        "消费金额/元": "CNY",
        "贷款额(万元)": None,
    }


def test_a_bare_number_among_percentages_is_refused_not_read_as_a_huge_ratio(
    tmp_path: Path,
) -> None:
    """额度使用率 written 16.3% in most rows: a 39.2 without % there (39.2% or 3,920%?)
    is blanked and listed with the fix, not scored as a utilisation of 39.2; 0 is 0%."""
    frame = _table(300, seed=4)
    frame["额度使用率"] = (frame["额度使用率"] * 100).map(lambda v: f"{v:.1f}%")
    frame.loc[[5, 6], "额度使用率"] = ["39.2", "0"]
    frame.to_csv(tmp_path / "t.csv", index=False)
    schema = infer_table(tmp_path / "t.csv", target="违约")
    util = schema.column("额度使用率")
    sources = yaml.safe_load(table_configs(schema).sources_text)
    assert sources["sources"]["credit"]["columns"][util.name]["percent"] is True
    output = _invoke("train", tmp_path / "t.csv", "--target", "违约", "--models-dir", tmp_path)
    assert "1 had a value blanked" in " ".join(output.split())
    rejects = pd.read_csv(tmp_path / "logistic" / "1" / "training_rejects.csv", dtype=str)
    assert rejects[["rule", "value"]].values.tolist() == [["invalid_number", "39.2"]]
    assert "write 39.2% (or 3920% if 39.2 is the fraction)" in rejects["message"].iloc[0]
    # next month's table written without any % (read typed, as numbers): all refused, said
    frame["额度使用率"] = frame["额度使用率"].str.rstrip("%").astype(float)
    frame.drop(columns="违约").to_csv(tmp_path / "next.csv", index=False)
    output = _invoke("score", tmp_path / "next.csv", "-m", "logistic", "--models-dir", tmp_path,
                     "-o", tmp_path / "out" / "s.csv")  # fmt: skip
    assert (
        "299 of 300 rows are not numbers (e.g. '113.2'); the column is written as percent" in output
    )


def test_a_phone_column_with_an_innocent_header_is_still_personal_data(tmp_path: Path) -> None:
    frame = pd.DataFrame({"c1": [f"1380000{i:04d}" for i in range(50)], "x": range(50)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    schema = infer_table(tmp_path / "t.csv")
    assert schema.column("c1").role == "pii"
    assert schema.column("c1").reason == "mobile phone numbers"


def test_personal_data_in_a_header_is_masked_in_the_layout_and_its_names(
    tmp_path: Path,
) -> None:
    """A feature headed 客户经理wang.li@bank.cn评分 was named wang_li_bank_cn: the
    e-mail's local part in every code of the model folder, the details and the reasons."""
    frame = pd.DataFrame(
        {
            "客户经理wang.li@bank.cn评分": [i % 7 for i in range(60)],
            "核验人110105199001011234": [i % 5 for i in range(60)],
            "违约": [i % 2 for i in range(60)],
        }
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    schema = infer_table(tmp_path / "t.csv", target="违约")
    configs = table_configs(schema)
    text = json.dumps(schema.to_dict(), ensure_ascii=False) + configs.sources_text
    text += configs.indicators_text
    for clear in ("wang.li", "wang_li", "110105199001011234", "19900101"):
        assert clear not in text, clear
    assert [c.role for c in schema.columns] == ["feature", "feature", "target"]
    assert schema.columns[1].header == "核验人110***********1234"


def test_two_headers_alike_once_their_personal_data_is_masked_are_refused(
    tmp_path: Path,
) -> None:
    frame = pd.DataFrame({"联系人13812345678": ["a"] * 5, "联系人13899995678": ["b"] * 5})
    frame["x"] = range(5)
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"columns 1 and 2 are both headed '联系人138\*{4}5678'"):
        infer_table(tmp_path / "t.csv")


def test_people_named_by_role_and_contacts_inside_notes_are_personal_data(
    tmp_path: Path,
) -> None:
    """A few names under 法人代表 or 经办人 (or a note holding a phone number) would be a
    category feature whose values the model's bins keep: they are personal data."""
    rng = np.random.default_rng(5)
    n = 200
    people = ["胡晶", "李露", "张伟", "王芳", "刘洋"]
    frame = pd.DataFrame(
        {
            "法人代表": rng.choice(people, n),
            "经办人": rng.choice(people, n),
            "借款人": rng.choice(people, n),
            "借款人年龄": rng.integers(20, 60, n),
            "备注": rng.choice(["正常", "客户胡晶电话18061678208", "催收中"], n),
            "渠道": rng.choice(["线上", "线下"], n),
        }
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    schema = infer_table(tmp_path / "t.csv")
    for header in ("法人代表", "经办人", "借款人"):
        assert schema.column(header).role == "pii", header
    assert schema.column("备注").role == "pii"
    assert schema.column("备注").reason == "text holding phone numbers, e-mails or id numbers"
    assert schema.column("借款人年龄").role == "feature"  # the word names a person only alone
    assert schema.column("渠道").role == "feature"


def test_a_column_that_is_the_outcome_is_left_out_and_a_near_one_is_flagged(
    tmp_path: Path,
) -> None:
    """违约标志 (the outcome again, as 0/1) and 催收状态 (a status set after default) tell
    bads from goods perfectly: left out, said, kept in the card; a strong but imperfect
    column is kept with a warning."""
    frame = _table(1200, seed=4)
    bad = frame["违约"] == "是"
    frame["违约标志"] = bad.astype(int)
    frame["催收状态"] = np.where(bad, "催收中", "无")
    rng = np.random.default_rng(4)
    flip = rng.random(len(frame)) < 0.04  # right for 96 customers in 100
    frame["近似"] = np.where(bad ^ flip, 1.0, 0.0) + rng.random(len(frame)) * 0.1
    path = tmp_path / "leak.csv"
    frame.to_csv(path, index=False)
    output = _invoke("train", path, "--target", "违约", "--models-dir", tmp_path / "m")
    said = " ".join(output.split())
    card = json.loads((tmp_path / "m" / "logistic" / "1" / "model.json").read_text("utf-8"))
    names = {c["header"]: c["name"] for c in card["table"]["columns"]}
    leaking = card["features_leaking"]
    assert set(leaking) == {names["违约标志"], names["催收状态"]}
    assert all("AUC 1.000" in why for why in leaking.values())
    assert not set(leaking) & set(card["features"]) and not set(leaking) & set(
        card["candidate_features"]
    )
    assert "Warning: Left out as a likely target leak (2):" in said and "催收状态" in said
    assert list(card["features_suspect"]) == [names["近似"]]
    assert "Kept, but suspiciously strong (1):" in said


def test_an_id_column_with_a_few_repeated_ids_stays_the_id_and_repeats_are_rejected(
    tmp_path: Path,
) -> None:
    """50 of 1,000 rows repeat an earlier 客户编号 (an export appended twice in part): the
    column is still the id, the repeats are rejected with their reason and said; the
    customers are not silently renumbered by line with the repeats trained twice."""
    frame = _table(1000, seed=6)
    frame.insert(0, "客户编号", [f"{i:06d}" for i in range(1000)])
    frame.loc[frame.index[-50:], "客户编号"] = frame["客户编号"].iloc[:50].to_numpy()
    path = tmp_path / "dup.csv"
    frame.to_csv(path, index=False)
    # and 7 utilisations no number: blanked, trained on so, and said (not only in a file)
    unread = frame.astype({"额度使用率": object})
    unread.loc[unread.index[100:107], "额度使用率"] = "待核实"
    unread.to_csv(tmp_path / "unread.csv", index=False)
    said = " ".join(_invoke("train", tmp_path / "unread.csv", "--target", "违约",
                            "--models-dir", tmp_path / "m2").split())  # fmt: skip
    assert "50 were rejected while cleaning and not trained on and 7 had a value blanked" in said
    schema = infer_table(path, target="违约")
    assert schema.id_column == "客户编号"
    assert "50 rows repeat an id or have none" in schema.column("客户编号").reason
    output = _invoke("train", path, "--target", "违约", "--models-dir", tmp_path / "m")
    said = " ".join(output.split())
    assert "Warning: of the input rows, 50 were rejected while cleaning and not trained" in said
    folder = tmp_path / "m" / "logistic" / "1"
    card = json.loads((folder / "model.json").read_text("utf-8"))
    assert card["training"]["rows"] == 950
    rejects = pd.read_csv(folder / "training_rejects.csv", dtype=str)
    assert len(rejects) == 50 and set(rejects["rule"]) == {"duplicate_key"}
    # named with --id-column, the same column is taken the same way
    named = infer_table(path, target="违约", id_column="客户编号")
    assert named.column("客户编号").reason == schema.column("客户编号").reason
    # past a tenth of the rows, it is no id: refused, with the count
    frame.loc[frame.index[-150:], "客户编号"] = frame["客户编号"].iloc[:150].to_numpy()
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="150 of the first 1,000 rows repeat an id or have none"):
        infer_table(path, target="违约", id_column="客户编号")


def test_an_impossible_age_or_a_negative_income_is_blanked_and_listed_when_scoring(
    tmp_path: Path,
) -> None:
    """The header says what a number measures: an age lies between 16 and 100, an income
    or a count is never negative (when the training values respect it). Next month's 200
    or -1 as an age is an entry error: blanked as an export's out-of-range value would
    be, listed in the rejects, never scored as the oldest customer there is."""
    frame = _table(800, seed=8)
    rng = np.random.default_rng(8)
    frame.insert(0, "年龄", rng.integers(20, 66, len(frame)))
    frame["温度"] = rng.normal(0, 5, len(frame)).round(1)  # says nothing of its range
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    schema = infer_table(path, target="违约")
    age, income = schema.column("年龄"), schema.column("月收入(元)")
    assert (age.lower, age.upper) == (16, 100) and "an age: 16 to 100" in age.reason
    assert (income.lower, income.upper) == (0, None)
    assert (schema.column("温度").lower, schema.column("温度").upper) == (None, None)
    _invoke("train", path, "--target", "违约", "--models-dir", tmp_path / "m")
    later = frame.drop(columns=["违约"]).head(4).copy()
    later["年龄"] = [200, 30, -1, 45]
    later["月收入(元)"] = [5000, -300, 8000, 9000]
    later.to_csv(tmp_path / "next.csv", index=False)
    out = tmp_path / "run" / "scores.csv"
    _invoke(
        "score", tmp_path / "next.csv", "-m", "logistic", "--models-dir", tmp_path / "m", "-o", out
    )
    rejects = pd.read_csv(out.parent / "scores.rejects.csv", dtype=str)
    listed = zip(
        rejects["line"], rejects["header"], rejects["value"], rejects["action"], strict=True
    )
    assert sorted(listed) == [  # named by the table's header, not custrisk's col<N>
        ("2", "年龄", "200", "repaired"),
        ("3", "月收入(元)", "-300", "repaired"),  # as written, not read back as -300.0
        ("4", "年龄", "-1", "repaired"),
    ]
    assert len(pd.read_csv(out)) == 4  # each customer scored, the bad value as a blank


def test_a_few_entry_errors_in_training_keep_the_range_the_header_implies(
    tmp_path: Path,
) -> None:
    """One -5年 among the years of service (or an age of -5) took the range off the
    column: -5 then passed as a value in training and every month after. A few (1%)
    are blanked while cleaning, said in the layout; more leave the column rangeless."""
    frame = _table(400, seed=16)
    rng = np.random.default_rng(16)
    frame["年龄"] = rng.integers(20, 66, len(frame))
    frame.loc[3, "年龄"] = -5
    frame["工作年限"] = rng.integers(0, 30, len(frame))
    frame.loc[5, "工作年限"] = -5
    frame["欠款"] = rng.integers(0, 9000, len(frame)) - (np.arange(len(frame)) % 10 == 0) * 9999
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    schema = infer_table(path, target="违约")
    age, years, owed = schema.column("年龄"), schema.column("工作年限"), schema.column("欠款")
    assert (age.lower, age.upper) == (16, 100)
    assert "an age: 16 to 100 (1 value outside: blanked while cleaning)" in age.reason
    assert (years.lower, years.upper) == (0, None) and "never negative (1 value" in years.reason
    assert (owed.lower, owed.upper) == (None, None)  # a tenth negative: no entry errors


@pytest.mark.parametrize(
    "header,expected",
    [
        ("负债", (0, None)),
        ("负债总额(元)", (0, None)),
        ("贷款余额", (0, None)),
        ("欠款", (0, None)),
        ("债务", (0, None)),
        ("Total Debt", (0, None)),
        ("liabilities", (0, None)),
        ("净利润", (None, None)),  # may be a loss
    ],
)
def test_debts_and_amounts_owed_are_never_negative(header: str, expected: tuple) -> None:
    """负债 (and 欠款, 债务) is an amount: next month's -5000 there is an entry error."""
    low, high, _ = plausible_range(header, "float", "feature", ["1200.5", "0", "88000"])
    assert (low, high) == expected


def test_a_stray_european_decimal_does_not_widen_a_range(tmp_path: Path) -> None:
    """-0,500 among an income's values is malformed (cleaning rejects it), not -500: it
    does not take away the income's lower bound of 0."""
    frame = _table(800, seed=8).astype({"月收入(元)": object})
    frame.loc[5, "月收入(元)"] = "-0,500"
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    income = infer_table(path, target="违约").column("月收入(元)")
    assert (income.type, income.lower, income.upper) == ("float", 0, None)


def test_a_number_column_with_none_written_as_a_word_is_still_a_number(tmp_path: Path) -> None:
    frame = _table(300, seed=9)
    income = frame["月收入(元)"].astype("object")
    income.iloc[::8] = "无"  # 38 of 300 rows: too many for a 95% share of numbers
    income.iloc[1::8] = "—"
    frame["月收入(元)"] = income
    frame.to_csv(tmp_path / "t.csv", index=False)
    column = infer_table(tmp_path / "t.csv", target="违约").column("月收入(元)")
    assert (column.role, column.type) == ("feature", "float")  # (× 12: annual_income)


def test_train_prints_the_inference_and_saves_it_in_the_card(flat: dict) -> None:
    text = flat["_train_text"]
    assert "额度使用率" in text and "feature, float" in text
    assert "no id column" in text
    card = json.loads((flat["model"] / "model.json").read_text(encoding="utf-8"))
    table = card["table"]
    assert table["target"] == "违约" and table["target_bad_value"] == "是"
    roles = {c["header"]: c["role"] for c in table["columns"]}
    assert roles["姓名"] == "pii" and roles["备注"] == "ignored"
    # directions learnt from the data: utilisation and late payments are riskier when high
    labels = {meta["zh"]: meta["direction"] for meta in card["feature_labels"].values()}
    assert labels["额度使用率"] == "higher_is_riskier"
    assert labels["近12月逾期次数"] == "higher_is_riskier"
    assert card["metrics"]["holdout"]["auc"] > 0.6


def test_train_ends_with_the_score_command_that_runs_as_printed(flat: dict) -> None:
    text = flat["_train_text"]
    command = text.split("Next:\n", 1)[1].strip()
    words = shlex.split(command)
    assert words[:2] == ["custrisk", "score"] and "logistic@1" in words
    words[words.index("--out") + 1] = str(flat["root"] / "next_run" / "scores.csv")
    _invoke(*words[1:])
    assert (flat["root"] / "next_run" / "scores.csv").exists()


def test_scoring_next_months_table_uses_line_numbers_as_ids(flat: dict) -> None:
    scores = pd.read_csv(flat["scores"], dtype={"customer_id": str}, encoding="utf-8-sig")
    assert len(scores) == 400
    assert scores["customer_id"].tolist()[:3] == ["2", "3", "4"]  # header on line 1
    assert "line number" in flat["_score_text"]
    assert set(scores["reason_1_label"].dropna()) <= {
        "月收入(元) × 12",
        "额度使用率",
        "地区",
        "开户日期(距今天数)",
        "近12月逾期次数",
    }
    facts = json.loads(flat["scores"].with_name("scores.run.json").read_text(encoding="utf-8"))
    assert "line number" in facts["customer_id"]
    # the directions the model card learnt, not the indicators' none (the reports flag by them)
    directions = {v["zh"]: v["direction"] for v in facts["indicators"].values()}
    assert directions["近12月逾期次数"] == "higher_is_riskier"
    assert directions["月收入(元) × 12"] == "higher_is_safer"
    # the month to score has no outcome column: nothing to warn about
    assert "missing" not in flat["_score_text"]


def test_an_as_of_date_months_after_the_tables_dates_is_not_warned_about(
    flat: dict, tmp_path: Path
) -> None:
    """--as-of, as the layout says to date a table by (its latest 开户日期 is not the
    month's end): a flat table has no event windows for the month to fill, so no
    'the customers' most recent windows hold no events' warning."""
    out = tmp_path / "scores.csv"
    args = ("score", flat["next"], "-m", "logistic", "--models-dir", flat["root"] / "models")
    output = _invoke(*args, "-o", out, "--as-of", "2026-12-31")
    assert "as of 2026-12-31" in output and "windows hold no events" not in output


def test_a_table_named_for_a_later_month_than_its_dates_warns_to_pass_as_of(
    flat: dict, tmp_path: Path
) -> None:
    """A table without a snapshot date is aged at its latest 开户日期: named for a month
    long after that, the user is told the month its name says and the --as-of to give;
    given it, nothing to say."""
    named = tmp_path / "客户清单_2027-03.csv"
    named.write_bytes(flat["next"].read_bytes())
    args = ("score", named, "-m", "logistic", "--models-dir", flat["root"] / "models")
    output = " ".join(_invoke(*args, "-o", tmp_path / "a" / "scores.csv").split())
    assert "the name says 2027-03" in output and "pass --as-of 2027-03-31" in output
    output = _invoke(*args, "-o", tmp_path / "b" / "scores.csv", "--as-of", "2027-03-31")
    assert "name says" not in output


def test_a_table_without_dates_is_as_of_the_end_of_the_month_its_name_gives(
    tmp_path: Path,
) -> None:
    """It was as of today, with a warning, whatever its name said: a November table
    scored in December was dated December. Named for a month, it is as of that month's
    end, said in a note naming --as-of; --as-of given, nothing to say."""
    named = tmp_path / "客户清单_2026-11.csv"
    _table(300, seed=3).drop(columns=["开户日期"]).to_csv(named, index=False)
    args = ("train", named, "--target", "违约", "--models-dir", tmp_path / "models")
    output = " ".join(_invoke(*args).split())
    assert "as of 2026-11-30" in output and "Warning: no event dates" not in output
    assert "Note: 客户清单_2026-11.csv has no dates; the as-of date is 2026-11-30" in output
    assert "pass --as-of to take another" in output
    output = _invoke(*args, "--name", "given", "--as-of", "2026-11-15")
    assert "as of 2026-11-15" in output and "has no dates" not in output


def test_columns_missing_from_the_table_to_score_are_named_by_their_headers(
    flat: dict, tmp_path: Path
) -> None:
    later = pd.read_csv(flat["next"], dtype=str)
    no_name, no_region = tmp_path / "no_name.csv", tmp_path / "no_region[7].csv"
    later.drop(columns=["姓名"]).to_csv(no_name, index=False)
    later.drop(columns=["地区"]).to_csv(no_region, index=False)
    # personal data the model does not score with: said, and scored
    output = _invoke("score", no_name, "-m", flat["model"], "-o", tmp_path / "a" / "scores.csv")
    warning = next(line for line in output.splitlines() if "missing" in line)
    assert "file header '姓名'" in warning
    assert "违约" not in warning  # the outcome is never expected in a month to score
    # a feature: refused, naming the header the user knows
    output = _invoke(
        "score", no_region, "-m", flat["model"], "-o", tmp_path / "b" / "scores.csv", code=2
    )
    assert "column(s) this table does not have: '地区'" in output
    assert "custrisk models show logistic@1" in output
    assert "no_region[7].csv: model" in output  # the file, not its folder
    assert not (tmp_path / "b" / "scores.csv").exists()


def test_no_personal_data_of_the_table_reaches_outputs_or_the_model(flat: dict) -> None:
    phones = set(pd.read_csv(flat["next"], dtype=str)["手机号"])
    folders = [flat["scores"].parent, flat["model"]]
    for folder in folders:
        for path in folder.iterdir():
            if path.suffix in (".csv", ".json", ".yaml"):
                text = path.read_text(encoding="utf-8-sig")
                assert not any(p in text for p in list(phones)[:50]), path
                assert not any(name in text for name in NAMES), path
                assert "13812345678" not in text, path  # the phone in a header too
    # the header is kept masked, and next month's identical header is still that column
    sources = (flat["model"] / "sources.yaml").read_text(encoding="utf-8")
    assert "紧急联系人138****5678" in sources
    assert "说明138****5678" in sources  # ignored, and no warning about it either:
    for said in (flat["_train_text"], flat["_score_text"]):
        assert "13812345678" not in said and "not in the sources config" not in said


def test_packaged_policy_and_alerts_skip_what_the_table_lacks(flat: dict) -> None:
    facts = json.loads(flat["scores"].with_name("scores.run.json").read_text(encoding="utf-8"))
    skipped = facts["alerts"]["skipped_rules"]
    assert "CR03" in skipped and "does not have" in skipped["CR03"]
    assert facts["policy"]["skipped_limit_rules"]
    scores = pd.read_csv(flat["scores"], encoding="utf-8-sig")
    assert scores["grade"].notna().all()  # grades from the score alone
    # no current limit and no rule that can run: no limit (the riskiest grade freezes at 0)
    assert scores.loc[scores["grade"] != "E", "recommended_limit"].isna().all()
    assert (scores.loc[scores["grade"] == "E", "recommended_limit"] == 0).all()
    said = " ".join(flat["_score_text"].split())
    # said once, from the run's facts, not also as the loaders' log warnings
    lacking = [line for line in flat["_score_text"].splitlines() if "rules not evaluated" in line]
    assert len(lacking) == 1 and "CR03" in lacking[0] and "skipped, the data lacks" not in said
    assert "Rule GR01 not evaluated: needs a previous run" in said  # what to do about it
    # the grades whose rules lack the same columns said together, once
    assert said.count("the limit rules of grades A, B, C read credit_limit") == 1
    # and what to call the table's columns for them to apply
    assert "Columns headed 授信额度 (credit_limit)" in said
    assert "skipped, those grades keep the current limit" not in said
    # no current limit in a table: dashes, not sums of nothing that read as limits of 0k
    grades = flat["_score_text"].split("Grades and limits")[1].split("Limits:")[0]
    rows = {line.split()[0]: line.split() for line in grades.splitlines() if line.strip()}
    assert rows["A"][-3:] == ["—", "—", "—"] and rows["total"][-3:] == ["—", "0万", "—"]
    assert rows["E"][-3:] == ["—", "0万", "—"]  # the riskiest grade's rule: a limit of 0
    assert "no customer has a current limit" in said


def test_the_headers_hint_names_the_english_header_first_in_english(tmp_path: Path) -> None:
    """score --lang en told an English user to head the column 授信额度 (credit_limit)."""
    table = tmp_path / "t.csv"
    table.write_text("customer_id,age\n1,30\n", encoding="utf-8")
    lacking = frozenset({"credit_limit", "overdue_amount"})
    zh, en = (table_fields_hint(table, lacking, lang) for lang in ("zh", "en"))
    assert "Columns headed 授信额度 (credit_limit), 逾期金额 (overdue_amount) are" in zh
    assert "Columns headed credit_limit (or 授信额度), overdue_amount (or 逾期金额) are" in en
    assert table_fields_hint(tmp_path, lacking, "en") == ""  # exports: no hint


def test_strict_refuses_rules_over_missing_columns(flat: dict) -> None:
    output = _invoke(
        "score",
        flat["next"],
        "-m",
        "logistic",
        "--models-dir",
        flat["root"] / "models",
        "-o",
        flat["root"] / "strict" / "scores.csv",
        "--strict",
        code=2,
    )
    assert "which this data does not have" in output


def test_a_typo_in_a_rule_is_still_an_error_not_a_skip(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        "version: 1\nrules:\n  X1:\n    level: red\n    condition: utilisaton > 0.9\n"
        "    message: {zh: a, en: a}\n    actions: {zh: [a], en: [a]}\n"
        "    owner: risk\n    response_hours: 24\n",
        encoding="utf-8",
    )
    with pytest.raises(Exception, match="utilisaton"):
        load_alert_rules(rules)
    load_policy()  # the packaged policy loads as before on the packaged indicators


def test_evaluate_takes_the_outcomes_from_the_tables_target_column(flat: dict) -> None:
    holdout = flat["root"] / "holdout.csv"
    _table(500, seed=9).to_csv(holdout, index=False)
    output = _invoke("evaluate", "logistic", holdout, "--models-dir", flat["root"] / "models")
    assert "on 500 labelled customers" in output
    assert "in-sample" not in output
    # the training table itself: its outcomes are the ones the model learnt
    output = _invoke("evaluate", "logistic", flat["train"], "--models-dir", flat["root"] / "models")
    assert "train.csv: the outcomes logistic@1 was trained on" in " ".join(output.split())


def test_folder_and_table_mix_ups_are_clear_errors(flat: dict, tmp_path: Path) -> None:
    output = _invoke(
        "score",
        flat["root"],
        "-m",
        "logistic",
        "--models-dir",
        flat["root"] / "models",
        "-o",
        tmp_path / "s.csv",
        code=2,
    )
    assert "trained on a flat table" in output and "Traceback" not in output
    assert "not the folder" in output
    # a mistyped file is said not to exist (it was called a folder), in drift as in score
    models = flat["root"] / "models"
    output = _invoke(
        "drift", tmp_path / "nxt.csv", "-m", "logistic", "--models-dir", models, code=2
    )
    said = " ".join(output.split())
    assert "nxt.csv does not exist" in said and "not the folder" not in said
    output = _invoke("train", flat["train"], "--models-dir", tmp_path / "m", code=2)
    assert "--target" in output
    output = _invoke(
        "train", flat["train"], "--target", "没有这列", "--models-dir", tmp_path / "m", code=2
    )
    assert "没有这列" in output and "the table has" in output


def test_a_table_with_a_header_and_no_rows_is_not_called_a_credit_table(
    flat: dict, tmp_path: Path
) -> None:
    empty = tmp_path / "next.csv"
    empty.write_text(flat["next"].read_text(encoding="utf-8").splitlines()[0] + "\n")
    models = flat["root"] / "models"
    output = _invoke("drift", empty, "-m", "logistic", "--models-dir", models, code=2)
    said = " ".join(output.split())
    assert "has a header but no data rows; export the table again with its rows" in said
    assert "credit" not in said


def test_parquet_table_with_an_id_column(tmp_path: Path) -> None:
    frame = _table(800, seed=4)
    frame.insert(0, "customer_id", [f"C{i:05d}" for i in range(800)])
    frame["违约"] = (frame["违约"] == "是").astype(int)
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    _invoke("train", tmp_path / "t.parquet", "--target", "违约", "--models-dir", tmp_path / "m")
    _invoke(
        "score",
        tmp_path / "t.parquet",
        "-m",
        "logistic",
        "--models-dir",
        tmp_path / "m",
        "-o",
        tmp_path / "run" / "s.csv",
    )
    scores = pd.read_csv(tmp_path / "run" / "s.csv", encoding="utf-8-sig")
    assert scores["customer_id"].iloc[0] == "C00000"


@pytest.mark.parametrize(
    ("values", "bad_value", "expected", "bad"),
    [
        (["0", "1", None, "1"], None, [0, 1, np.nan, 1], "1"),
        (["否", "是", "是"], None, [0, 1, 1], "是"),
        (["正常", "违约"], None, [0, 1], "违约"),
        (["A", "B", "B"], "b", [0, 1, 1], "b"),
        (["×", "√", None, "√"], None, [0, 1, np.nan, 1], "√"),  # a sheet's check marks
    ],
)
def test_target_coding(values: list, bad_value: str | None, expected: list, bad: str) -> None:
    coded, bad_text = target_coding(pd.Series(values, dtype="str"), "t", bad_value)
    np.testing.assert_array_equal(coded, np.array(expected, dtype=float))
    assert bad_text == bad


@pytest.mark.parametrize(
    ("values", "message"),
    [(["A", "B"], "cannot tell which value"), (["1", "2", "3"], "3 distinct")],
)
def test_target_coding_refuses_what_it_cannot_read(values: list, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        target_coding(pd.Series(values, dtype="str"), "t", None)


def test_a_workbook_with_chinese_headers_trains_and_scores_to_a_workbook(tmp_path: Path) -> None:
    """The issue's example: features.xlsx --target 违约, then next_month.xlsx to scores.xlsx,
    no YAML, categorical text, missing values and no id column."""
    _table(900, seed=5).to_excel(tmp_path / "features.xlsx", index=False)
    _table(150, seed=6, with_target=False).to_excel(tmp_path / "next_month.xlsx", index=False)
    models = tmp_path / "models"
    _invoke("train", tmp_path / "features.xlsx", "--target", "违约", "--models-dir", models)
    out = tmp_path / "run" / "scores.xlsx"
    _invoke(
        "score", tmp_path / "next_month.xlsx", "-m", "logistic", "--models-dir", models, "-o", out
    )
    sheet = pd.read_excel(out, sheet_name=0, dtype={"customer_id": str}, engine="calamine")
    assert len(sheet) == 150
    assert sheet["customer_id"].iloc[0] == "2"  # the sheet's row number: header on row 1
    assert sheet["grade"].notna().all() and sheet["score"].between(300, 900).all()


def _with_notes_sheet(frame: pd.DataFrame, path: Path) -> None:
    """A workbook whose first sheet is a cover note, the table on the second."""
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"本表为11月客户数据导出": ["导出人：风控部"]}).to_excel(
            writer, sheet_name="说明", index=False
        )
        frame.to_excel(writer, sheet_name="客户", index=False)


def test_a_table_on_a_workbooks_second_sheet_is_found_and_kept(tmp_path: Path) -> None:
    """A cover sheet (说明) before the data: the sheet with the outcome column is the
    table; the model reads next month's workbook on the sheet of that name."""
    _with_notes_sheet(_table(900, seed=5), tmp_path / "features.xlsx")
    _with_notes_sheet(_table(150, seed=6, with_target=False), tmp_path / "next.xlsx")
    models = tmp_path / "models"
    output = _invoke(
        "train", tmp_path / "features.xlsx", "--target", "违约", "--models-dir", models
    )
    assert "Layout of features.xlsx, sheet '客户'" in output
    out = tmp_path / "run" / "scores.csv"
    _invoke("score", tmp_path / "next.xlsx", "-m", "logistic", "--models-dir", models, "-o", out)
    assert len(pd.read_csv(out, encoding="utf-8-sig")) == 150
    # a workbook whose sheets all lack the outcome: the sheets are named
    output = _invoke(
        "train", tmp_path / "next.xlsx", "--target", "违约", "--models-dir", models, code=2
    )
    assert "is not a column of next.xlsx, sheet '客户'" in output
    assert "the workbook's sheets: 说明, 客户" in " ".join(output.split())
    # next month's sheet named for its month: the sheet holding the layout's headers is
    # read, said; or the one named as FILE.xlsx#SHEET (it was 'next.xlsx#10月 does not
    # exist'); a workbook with no such sheet is refused naming its sheets
    with pd.ExcelWriter(tmp_path / "oct.xlsx") as writer:
        pd.DataFrame({"说明": ["10月客户"]}).to_excel(writer, sheet_name="说明", index=False)
        _table(120, seed=7, with_target=False).to_excel(writer, sheet_name="10月", index=False)
    scoring = ("-m", "logistic", "--models-dir", models, "-o", out)
    output = " ".join(_invoke("score", tmp_path / "oct.xlsx", *scoring).split())
    assert "has no sheet '客户', which the layout was read on: its sheet '10月' is read" in output
    named = f"{tmp_path / 'oct.xlsx'}#10月"
    _invoke("score", named, *scoring)
    assert len(pd.read_csv(out, encoding="utf-8-sig")) == 120
    config = tmp_path / "cfg" / "sources.yaml"
    _invoke("init", tmp_path / "features.xlsx", "--target", "违约", "--out", config.parent)
    output = _invoke("validate", named, "--config", config, "--out", tmp_path / "v")
    assert "Validation of " in output and "10月" in output
    # a workbook of one sheet (saved again as Sheet1): that sheet, said
    _table(80, seed=8, with_target=False).to_excel(tmp_path / "nov.xlsx", index=False)
    output = " ".join(_invoke("score", tmp_path / "nov.xlsx", *scoring).split())
    assert "its sheet 'Sheet1' is read" in output
    assert len(pd.read_csv(out, encoding="utf-8-sig")) == 80
    with pd.ExcelWriter(tmp_path / "dec.xlsx") as writer:
        for sheet in ("说明", "汇总"):
            pd.DataFrame({"项目": ["户数"], "数值": [80]}).to_excel(writer, sheet_name=sheet)
    output = _invoke("score", tmp_path / "dec.xlsx", *scoring, code=2)
    assert "no sheet '客户'" in output and "FILE.xlsx#SHEET" in " ".join(output.split())


def test_a_workbook_and_sheet_named_with_a_phone_are_kept_masked(tmp_path: Path) -> None:
    """王小明_13812345678.xlsx, sheet 客户13812345678: both names were kept in clear in the
    model card (and its input hashes' keys), the model's configs, the validation report,
    the run's facts and the lines printed. Kept masked, the sheet is still found by its
    masked name next month, and the printed command still finds the file (a wildcard)."""

    def book(frame: pd.DataFrame, path: Path) -> None:
        with pd.ExcelWriter(path) as writer:
            pd.DataFrame({"说明": ["导出"]}).to_excel(writer, sheet_name="说明", index=False)
            frame.to_excel(writer, sheet_name="客户13812345678", index=False)

    train, later = tmp_path / "王小明_13812345678.xlsx", tmp_path / "李四_13912345678.xlsx"
    book(_table(400, seed=5), train)
    book(_table(100, seed=6, with_target=False), later)
    models = tmp_path / "models"
    said = _invoke("train", train, "--target", "违约", "--models-dir", models)
    assert "Layout of 王小明_138****5678.xlsx, sheet '客户138****5678'" in said
    assert f"custrisk score {tmp_path}/王小明_138****5678.xlsx --model" in said
    out = tmp_path / "run" / "scores.csv"
    said += _invoke("score", later, "-m", "logistic", "--models-dir", models, "-o", out)
    assert "has no sheet" not in said and len(pd.read_csv(out, encoding="utf-8-sig")) == 100
    config = tmp_path / "cfg"
    said += _invoke("init", train, "--target", "违约", "--out", config)
    said += _invoke("validate", later, "--config", config / "sources.yaml", "--out", tmp_path / "v")
    written = [p for p in tmp_path.rglob("*") if p.suffix in (".json", ".yaml", ".csv")]
    assert any(p.name == "validation_report.json" for p in written)
    for text in [said] + [p.read_text(encoding="utf-8-sig") for p in written]:
        assert "12345678" not in text
    card = json.loads((models / "logistic" / "1" / "model.json").read_text(encoding="utf-8"))
    assert card["table"]["sheet"] == "客户138****5678"
    # two sheets alike once masked: neither is taken for the other
    from custrisk.io.excel import named_sheet

    assert named_sheet(["客户13812345678", "客户13899995678"], "客户138****5678") is None


def test_a_model_trained_on_a_csv_scores_a_workbook_on_the_sheet_of_its_table(
    flat: dict, tmp_path: Path
) -> None:
    """Trained on the CSV, next month's table came as the workbook, a cover sheet (说明)
    first: it was read on 说明, 'has a header but no data rows'. The sheet whose top
    rows hold the layout's headers is read."""
    _with_notes_sheet(_table(150, seed=6, with_target=False), tmp_path / "next.xlsx")
    out = tmp_path / "scores.csv"
    models = flat["root"] / "models"
    _invoke("score", tmp_path / "next.xlsx", "-m", "logistic", "--models-dir", models, "-o", out)
    assert len(pd.read_csv(out, encoding="utf-8-sig")) == 150


def test_a_gbk_table_with_yen_percent_and_chinese_dates_trains_as_the_plain_one(
    tmp_path: Path,
) -> None:
    """A finance export's forms (￥1,234.00, 88.1%, 2024年03月05日, GBK, CRLF) are
    inferred as the numbers and dates they are, and give the plain table's model."""
    plain = _table(900, seed=7)
    dressed = plain.copy()
    dressed["月收入(元)"] = dressed["月收入(元)"].map(lambda v: "" if v != v else f"￥{v:,.2f}")
    dressed["额度使用率"] = (dressed["额度使用率"] * 100).map(lambda v: f"{v:.1f}%")
    dressed["开户日期"] = pd.to_datetime(dressed["开户日期"]).dt.strftime("%Y年%m月%d日")
    plain.to_csv(tmp_path / "plain.csv", index=False)
    dressed.to_csv(tmp_path / "dressed.csv", index=False, encoding="gbk", lineterminator="\r\n")
    runs, layouts = {}, {}
    for name in ("plain", "dressed"):
        models = tmp_path / f"models_{name}"
        output = _invoke(
            "train", tmp_path / f"{name}.csv", "--target", "违约", "--models-dir", models
        )
        layouts[name] = [line.split()[:3] for line in output.splitlines()[1:10]]
        out = tmp_path / name / "scores.csv"
        _invoke(
            "score", tmp_path / f"{name}.csv", "-m", "logistic", "--models-dir", models, "-o", out
        )
        assert not out.with_name("scores.rejects.csv").exists()  # nothing listed as repaired
        runs[name] = pd.read_csv(out, encoding="utf-8-sig")
    assert layouts["dressed"] == layouts["plain"]
    # the points table shows the percentages' bins in percents, as the table holds them
    points = {
        name: pd.read_csv(tmp_path / f"models_{name}" / "logistic" / "1" / "points.csv")
        for name in ("plain", "dressed")
    }
    util = {
        n: p.loc[p["label_zh"] == "额度使用率", "bin_label"].tolist() for n, p in points.items()
    }
    assert util["plain"] and "%" not in "".join(util["plain"])
    assert (
        util["dressed"][1]
        == "["
        + ", ".join(
            f"{float(edge) * 100:.10g}%" for edge in util["plain"][1].strip("[)").split(", ")
        )
        + ")"
    )
    assert ["额度使用率", "feature,", "float"] in layouts["dressed"]
    assert ["开户日期", "feature,", "date"] in layouts["dressed"]
    pd.testing.assert_series_equal(runs["plain"]["pd"], runs["dressed"]["pd"])


def test_drift_names_a_tables_features_by_their_headers(flat: dict) -> None:
    import xml.etree.ElementTree as ET

    card = json.loads((flat["model"] / "model.json").read_text(encoding="utf-8"))
    code = next(c["name"] for c in card["table"]["columns"] if c["header"] == "额度使用率")
    assert code.startswith("col")  # what a tool keys on; no person knows it
    args = ["drift", flat["next"], "-m", "logistic", "--models-dir", flat["root"] / "models"]
    args += ["--fail-on", "never"]
    runner = CliRunner()

    text = _invoke(*args)
    assert f"csi:{code} 额度使用率" in text
    as_json = runner.invoke(app, [str(a) for a in [*args, "--format", "json"]])
    assert as_json.exit_code == 0, as_json.output
    stats = {s["id"]: s for s in json.loads(as_json.stdout)["statistics"]}
    assert stats[f"csi:{code}"]["label"] == "额度使用率"
    assert stats[f"csi:{code}"]["name"] == code  # ids stay the codes
    assert "label" not in stats["psi:score"]
    junit = runner.invoke(app, [str(a) for a in [*args, "--format", "junit"]])
    assert junit.exit_code == 0, junit.output
    cases = {c.get("name"): c for c in ET.fromstring(junit.stdout).iter("testcase")}
    case = cases[f"csi:{code} 额度使用率"]
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["id"] == f"csi:{code}" and props["label"] == "额度使用率"


def test_columns_that_are_customer_fields_are_read_as_an_exports_are(
    flat: dict, tmp_path: Path
) -> None:
    card = json.loads((flat["model"] / "model.json").read_text(encoding="utf-8"))
    names = {c["header"]: c["name"] for c in card["table"]["columns"]}
    assert names["姓名"] == "name" and names["地区"] == "region"
    assert names["开户日期"] == "customer_since"
    assert names["月收入(元)"] == "annual_income"  # a month's income, × 12
    details = pd.read_parquet(flat["scores"].with_name("scores.details.parquet"))
    assert {"name_masked", "phone_masked", "region", "customer_since"} <= set(details.columns)
    assert "name" not in details.columns and "phone" not in details.columns
    assert details["phone_masked"].str.contains(r"\*\*\*\*", regex=True).all()
    # a credit limit and an annual income: the grades' limit rules apply
    table = _table(600, seed=3)
    table["授信额度"] = np.random.default_rng(3).choice([50000, 100000, 200000], len(table))
    table["年收入"] = (table["月收入(元)"] * 12).round(0)
    path = tmp_path / "limits.csv"
    table.to_csv(path, index=False)
    _invoke("train", path, "--target", "违约", "--models-dir", tmp_path / "models")
    card = json.loads((tmp_path / "models" / "logistic" / "1" / "model.json").read_text("utf-8"))
    names = {c["header"]: c["name"] for c in card["table"]["columns"]}
    assert names["年收入"] == "annual_income"  # named as it is: before a month's × 12
    assert names["月收入(元)"].startswith("col")
    scores_path = tmp_path / "run" / "scores.csv"
    output = _invoke(
        "score", path, "-m", "logistic", "--models-dir", tmp_path / "models", "-o", scores_path
    )
    notes = [line for line in output.splitlines() if "limit rule" in line]
    assert not any("credit_limit" in n or "annual_income" in n for n in notes), notes
    scores = pd.read_csv(scores_path, encoding="utf-8-sig")
    assert scores["current_limit"].isin([50000, 100000, 200000]).all()
    # a grade no customer is in: dashes, not a current limit of 0k and a change of +0k
    grades = output.split("Grades and limits")[1].split("Limits:")[0].splitlines()
    rows = {cells[0]: cells for cells in map(str.split, grades) if cells and cells[0] in "ABCDE"}
    empty = [g for g, cells in rows.items() if cells[-5] == "0"]
    assert empty and all(rows[g][-3:] == ["—", "—", "—"] for g in empty)
    assert scores["recommended_limit"].notna().any()


def test_a_record_scored_today_is_not_checked_as_a_months_export(
    flat: dict, caplog: pytest.LogCaptureFixture
) -> None:
    """The service scores a new customer as of today: an account opened years ago, or
    dated tomorrow by another clock, is the customer's own date, not a month's export
    gone stale or a mistyped --as-of (which warned on every request, or refused it)."""
    import datetime as dt

    from custrisk import open_model
    from custrisk.scoring.records import RecordScorer

    scorer = RecordScorer(open_model(flat["model"], predict_only=True))
    record = _table(1, seed=4, with_target=False).drop(columns=["备注"]).iloc[0].to_dict()
    today = dt.date(2026, 12, 6)
    by_name = RecordScorer(str(flat["model"]))  # a notebook names the model, as elsewhere
    assert (
        by_name.score([record], ids=["N1"], as_of=today).decisions[0]["score"]
        == (scorer.score([record], ids=["N1"], as_of=today).decisions[0]["score"])
    )
    for opened in ("2019-05-01", "2026-12-07"):
        caplog.clear()
        batch = scorer.score([{**record, "开户日期": opened}], ids=["N1"], as_of=today)
        assert 300 <= batch.decisions[0]["score"] <= 900
        assert not [r for r in caplog.records if "as-of" in r.getMessage()]


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_semicolon_or_tab_separated_table_trains_and_scores(
    tmp_path: Path, delimiter: str
) -> None:
    """A table exported with semicolons (European settings) or tabs (Excel's text
    export): its delimiter is found from the header, saved with the layout, and next
    month's file of that layout is read with it."""
    _table(600, seed=8).to_csv(tmp_path / "train.txt", sep=delimiter, index=False)
    _table(50, seed=9, with_target=False).to_csv(tmp_path / "next.txt", sep=delimiter, index=False)
    models = tmp_path / "models"
    output = _invoke("train", tmp_path / "train.txt", "--target", "违约", "--models-dir", models)
    assert "额度使用率" in output and "feature, float" in output
    out = tmp_path / "run" / "scores.csv"
    _invoke("score", tmp_path / "next.txt", "-m", "logistic", "--models-dir", models, "-o", out)
    assert len(pd.read_csv(out, encoding="utf-8-sig")) == 50


def test_train_without_target_names_the_column_that_looks_like_the_outcome(
    tmp_path: Path,
) -> None:
    table = tmp_path / "customers.csv"
    _table(300, seed=10).rename(columns={"违约": "是否违约"}).to_csv(table, index=False)
    output = _invoke("train", table, "--models-dir", tmp_path / "models", code=2)
    assert "--target 是否违约" in output


def test_an_application_date_is_the_as_of_date_not_a_feature(tmp_path: Path) -> None:
    """Applications taken over a year: how long ago one was taken says how long its
    outcome had to mature (and is 0 for every applicant scored on the day), so the
    application date dates the table and ages the other dates; it is no feature."""
    frame = _table(900, seed=11)
    rng = np.random.default_rng(11)
    applied = pd.Timestamp("2026-06-30") - pd.to_timedelta(rng.integers(0, 365, 900), unit="D")
    frame["申请时间"] = applied.strftime("%Y-%m-%dT%H:%M:%S")  # ISO, as a system exports
    frame.to_csv(tmp_path / "apps.csv", index=False)
    models = tmp_path / "models"
    output = _invoke("train", tmp_path / "apps.csv", "--target", "违约", "--models-dir", models)
    assert "申请时间        as-of date" in output
    assert "dates are aged at the latest date of 申请时间" in output
    card = json.loads((models / "logistic" / "1" / "model.json").read_text(encoding="utf-8"))
    name = next(c["name"] for c in card["table"]["columns"] if c["header"] == "申请时间")
    assert not [f for f in card["candidate_features"] if f.startswith(name)]
    assert "customer_since_days" in card["candidate_features"]  # 开户日期 stays a feature
    assert card["training"]["as_of"] == applied.max().strftime("%Y-%m-%d")


def test_the_outcomes_dates_beside_the_target_are_no_features(tmp_path: Path) -> None:
    """A table of customers and their labels file merged (docs/api.md did): 违约日期 and
    流失日期 are known only after the fact. As features they leaked the outcome, and their
    future dates dated the table a year ahead."""
    frame = _table(200, seed=13)
    later = (pd.Timestamp("2026-07-01") + pd.to_timedelta(frame.index, unit="D")).strftime(
        "%Y-%m-%d"
    )
    frame["违约日期"] = np.where(frame["违约"] == "是", later, "")
    frame["流失日期"] = np.where(frame.index % 7 == 0, later, "")
    frame.to_csv(tmp_path / "t.csv", index=False)
    schema = infer_table(tmp_path / "t.csv", target="违约")
    for header in ("违约日期", "流失日期"):
        column = schema.column(header)
        assert column.role == "ignored", column
        assert "known after the fact" in column.reason
    assert schema.column("开户日期").role == "feature"
    # without --target a two-valued 违约 is still found as the outcome to name
    assert infer_table(tmp_path / "t.csv").outcome_guess == "违约"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_snapshot_date_the_same_in_every_row_is_the_as_of_date(
    tmp_path: Path, suffix: str
) -> None:
    """A month's snapshot has one 数据日期 in every row. It used to be ignored as "one
    value in every row", so the table was dated by 开户日期 and `custrisk run` refused
    every month as not the period's."""
    frame = _table(200, seed=12)
    frame["数据日期"] = "2026-09-30"
    path = tmp_path / f"snapshot{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:  # a workbook's date cells
        frame["数据日期"] = pd.Timestamp("2026-09-30")
        frame.to_excel(path, index=False)
    column = infer_table(path, target="违约").column("数据日期")
    assert (column.role, column.type) == ("as_of", "date")


def test_a_snapshot_date_far_after_today_is_warned_of(tmp_path: Path) -> None:
    """数据日期 2100-01-31 in every row (a placeholder) passes every test of the data's
    own dates and became the as-of date without a word: every 开户日期 aged 74 years."""
    frame = _table(300, seed=14)
    frame["数据日期"] = "2100-01-31"
    path = tmp_path / "snapshot.csv"
    frame.to_csv(path, index=False)
    output = _invoke("train", path, "--target", "违约", "--models-dir", tmp_path / "m")
    said = " ".join(output.split())
    assert "the as-of date 2100-01-31, the latest date in the data, is after today" in said
    named = tmp_path / "客户_2099-12.csv"  # no dates: the month its name gives, as far
    frame.drop(columns=["数据日期", "开户日期"]).to_csv(named, index=False)
    output = _invoke("train", named, "--target", "违约", "--models-dir", tmp_path / "m2")
    said = " ".join(output.split())
    assert "2099-12-31, the end of the month its name gives, is after today" in said


def test_the_follow_up_plan_of_a_table_shows_blanks_not_nan(flat: dict) -> None:
    """A table has no alerts or preferred channels: the columns are blank on the
    terminal, as in followups.csv."""
    output = _invoke("followups", flat["scores"], "--limit", "5")
    assert "从未回访" in output  # (never followed up: the run's language, zh)
    assert "nan" not in output.split()
    output = _invoke("followups", flat["scores"], "--limit", "5", "--lang", "en")
    assert "never followed up" in output
    assert "nan" not in output.split()


def test_an_amount_in_wan_yuan_and_a_monthly_income_give_limits_in_yuan(tmp_path: Path) -> None:
    """授信额度(万元) is the credit limit × 10,000 and 月收入(元) the annual income × 12:
    the grades' limit rules read both in 元 (as they were, 5 would be a limit of 5 元)."""
    table = _table(600, seed=5)
    table["授信额度(万元)"] = np.random.default_rng(5).choice([5, 10, 20], len(table))
    path = tmp_path / "limits.csv"
    table.to_csv(path, index=False)
    output = _invoke("train", path, "--target", "违约", "--models-dir", tmp_path / "models")
    said = " ".join(output.split())
    assert "credit_limit = value × 10,000" in said and "annual_income = value × 12" in said
    scores_path = tmp_path / "run" / "scores.csv"
    output = _invoke(
        "score", path, "-m", "logistic", "--models-dir", tmp_path / "models", "-o", scores_path
    )
    assert not [line for line in output.splitlines() if "annual_income, credit_limit" in line]
    scores = pd.read_csv(scores_path, encoding="utf-8-sig")
    assert scores["current_limit"].isin([50_000, 100_000, 200_000]).all()
    details = pd.read_parquet(scores_path.with_name("scores.details.parquet"))
    income = pd.to_numeric(table["月收入(元)"]).to_numpy()
    assert np.allclose(details["annual_income"].to_numpy(), income * 12, equal_nan=True)


def test_a_column_of_months_is_a_date_of_the_months_first_day(tmp_path: Path) -> None:
    """开户年月 2019-05 (or 2019年5月) is a date, its feature the age in days of the month's
    first day: as text it was a category of months, one bin each. A dotted date
    (2024.03.15) is a date too: it was ignored as free text."""
    table = _table(300, seed=6)
    months = np.random.default_rng(6).choice(["2019-05", "2021-11", "2023-02"], len(table))
    table["开户年月"] = months
    table["入职年月"] = [f"{2015 + i % 8}年{1 + i % 12}月" for i in range(len(table))]
    table["放款日期"] = [f"2024.{1 + i % 12:02d}.{1 + i % 28:02d}" for i in range(len(table))]
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    schema = infer_table(path, target="违约")
    opened, hired = schema.column("开户年月"), schema.column("入职年月")
    assert (opened.role, opened.type) == ("feature", "date")
    assert (hired.role, hired.type) == ("feature", "date")
    assert schema.column("放款日期").type == "date"  # (dotted: 2024.03.15)
    _invoke("train", path, "--target", "违约", "--models-dir", tmp_path / "m")
    from custrisk import load_workspace

    workspace = load_workspace(
        path.parent, config=tmp_path / "m" / "logistic" / "1" / "sources.yaml"
    )
    read = workspace.frames["credit"][opened.name].dt.strftime("%Y-%m-%d")
    assert read.tolist() == [f"{m}-01" for m in months]
    assert workspace.frames["credit"][hired.name].iloc[13] == pd.Timestamp(
        "2020-02-01"
    )  # 2020年2月


def test_protected_attributes_are_never_features_however_predictive(tmp_path: Path) -> None:
    """民族, 宗教信仰, 血型 and 健康状况 are left out (征信业管理条例 第十四条 forbids collecting
    religion, blood type and illness; ethnicity is a ground of discrimination), even
    when they would predict the outcome; the layout says why."""
    table = _table(600, seed=7)
    bad = table["违约"] == "是"
    table["民族"] = np.where(bad, "甲族", "乙族")  # as predictive as can be
    table["宗教信仰"] = np.where(bad, "有", "无")
    table["Blood Type"] = np.where(bad, "A", "O")
    table["健康状况"] = np.where(bad, "一般", "良好")
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    output = _invoke("train", path, "--target", "违约", "--models-dir", tmp_path / "m")
    said = " ".join(output.split())
    for header, what in [
        ("民族", "ethnicity"),
        ("宗教信仰", "religion"),
        ("Blood Type", "genes or biometrics"),
        ("健康状况", "health"),
    ]:
        assert f"{header} ignored a protected attribute ({what})" in said, header
    card = json.loads((tmp_path / "m" / "logistic" / "1" / "model.json").read_text("utf-8"))
    used = {meta["zh"] for meta in card["feature_labels"].values()}
    assert not used & {"民族", "宗教信仰", "Blood Type", "健康状况"}
    sources = load_sources_config(tmp_path / "m" / "logistic" / "1" / "sources.yaml")
    spec = sources.sources["credit"]
    read = {*spec.rename, *spec.column_names}
    assert not read & {"民族", "健康状况"}  # not even read: left out on purpose
    assert {"民族", "健康状况"} <= spec.left_out
    # nor said, every month, to be a column the config lacks (a new column still is)
    table.drop(columns=["违约"]).assign(新列="x").head(50).to_csv(path, index=False)
    scored = tmp_path / "run" / "scores.csv"
    output = _invoke("score", path, "-m", "logistic", "--models-dir", tmp_path / "m", "-o", scored)
    said = " ".join(output.split())
    assert "not in the sources config, ignored: 新列" in said and "民族" not in said


def test_the_monthly_run_on_a_table_prints_its_summary_and_not_the_skipped_rules(
    flat: dict, tmp_path: Path
) -> None:
    """``custrisk run`` with ``exports: tables/apps_{period}.csv``: a month of one table
    runs; the rules this data cannot evaluate are in the run's facts and the score stage's
    detail, not warned about in every month's cron mail (it had nine lines of them)."""
    import shutil

    tables = tmp_path / "tables"
    tables.mkdir()
    shutil.copy(flat["next"], tables / "apps_2026-05.csv")
    config = tmp_path / "run.yaml"
    _invoke("run", "--init", config)
    text = config.read_text(encoding="utf-8")
    lines = [
        "exports: tables/apps_{period}.csv"
        if line.startswith("exports:")
        else f"model: {flat['model']}"
        if line.startswith("model:")
        else line
        for line in text.replace("portfolio: true", "portfolio: false", 1).splitlines()
    ]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(config), "--period", "2026-05"])
    said = result.stdout + result.stderr
    assert result.exit_code in (0, 1), said  # (1: a gate of the month, e.g. drift)
    assert said.startswith("custrisk run 2026-05: ") and "customers 400" in said, said
    assert "rules skipped" not in said and "Warning:" not in said, said
    facts = json.loads((tmp_path / "runs" / "2026-05" / "run.json").read_text("utf-8"))
    detail = facts["stages"]["score"]["detail"]
    assert "alert rules and" in detail and "limit rules skipped (why: scores.run.json)" in detail


def test_a_model_trained_before_on_a_protected_attribute_is_said_when_it_scores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model trained by a custrisk that still took 民族 as a feature keeps its layout;
    scoring with it says so, with the fix (train again)."""
    table = _table(600, seed=8)
    bad = (table["违约"] == "是").to_numpy()
    noise = np.random.default_rng(8).uniform(size=len(table)) < 0.3
    table["民族"] = np.where(bad ^ noise, "甲族", "乙族")  # predictive, not the outcome
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    with monkeypatch.context() as older:  # the inference of an earlier version
        older.setattr("custrisk.data.infer_columns.protected_attribute", lambda header: None)
        _invoke("train", path, "--target", "违约", "--models-dir", tmp_path / "m")
    result = CliRunner().invoke(
        app,
        ["score", str(path), "-m", "logistic", "--models-dir", str(tmp_path / "m"),
         "-o", str(tmp_path / "run" / "scores.csv")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "scores on a protected attribute" in said and "民族 (ethnicity)" in said
    assert "custrisk train TABLE" in said


def test_dates_with_the_year_last_are_read_in_the_order_the_table_shows(
    tmp_path: Path,
) -> None:
    """17/05/2023 (day first, as Europe writes) and 5/17/2023 14:30 (month first, as an
    American Excel saves a CSV) are dates: they were free text. A value over 12 tells the
    order; a column that cannot tell takes its table's; a table that cannot tell, or tells
    both, leaves the columns out rather than put every date from the 13th in the wrong
    month."""
    table = _table(300, seed=7)
    opened = pd.to_datetime(table["开户日期"])
    table["开户日期"] = opened.dt.strftime("%d/%m/%Y")
    reviewed = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(300) % 12 * 31, unit="D")
    table["复核日期"] = reviewed.strftime("%d-%m-%Y")  # every day up to 12: unclear alone
    path = tmp_path / "eu.csv"
    table.to_csv(path, index=False)
    schema = infer_table(path, target="违约")
    for header in ("开户日期", "复核日期"):
        assert (schema.column(header).role, schema.column(header).type) == ("feature", "date")
    assert "day first (17/05/2023)" in schema.column("开户日期").reason
    _invoke("train", path, "--target", "违约", "--models-dir", tmp_path / "m")
    from custrisk import load_workspace

    workspace = load_workspace(
        path.parent, config=tmp_path / "m" / "logistic" / "1" / "sources.yaml"
    )
    frame = workspace.frames["credit"]
    assert frame[schema.column("开户日期").name].tolist() == opened.tolist()
    assert frame[schema.column("复核日期").name].tolist() == list(reviewed)

    us = _table(200, seed=8)
    stamps = pd.to_datetime(us["开户日期"]) + pd.Timedelta(hours=14, minutes=30)
    us["开户日期"] = [f"{t.month}/{t.day}/{t.year} {t:%H:%M}" for t in stamps]
    us.to_csv(path, index=False)
    column = infer_table(path, target="违约").column("开户日期")
    assert (column.type, column.role) == ("date", "feature")
    assert "month first" in column.reason

    unclear = _table(200, seed=9)
    unclear["开户日期"] = [f"{1 + i % 12:02d}/{1 + i % 7:02d}/2024" for i in range(200)]
    unclear.to_csv(path, index=False)
    column = infer_table(path, target="违约").column("开户日期")
    assert column.role == "ignored"
    assert "cannot be told apart (01/01/2024" in column.reason and "YYYY-MM-DD" in column.reason

    both = _table(200, seed=10)
    both["开户日期"] = [f"{13 + i % 15}/{1 + i % 12}/2024" for i in range(200)]
    both["放款日期"] = [f"{1 + i % 12}/{13 + i % 15}/2024" for i in range(200)]
    both.to_csv(path, index=False)
    schema = infer_table(path, target="违约")
    for header in ("开户日期", "放款日期"):
        assert schema.column(header).role == "ignored"
        assert "day first in column '开户日期' and the month first" in schema.column(header).reason


def test_a_table_without_a_feature_says_why_each_column_is_none(tmp_path: Path) -> None:
    """The error named "the column list above", which train never printed: it stops
    before the layout. It now says, in its one line, what each column was taken for."""
    n = 60
    table = pd.DataFrame(
        {
            "客户编号": [f"C{i:04d}" for i in range(n)],
            "手机号": [f"139{10_000_000 + i}" for i in range(n)],
            "备注": [f"客户备注 {i}" for i in range(n)],
            "违约": ["是", "否", "否"] * (n // 3),
        }
    )
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    said = _invoke("train", path, "--target", "违约", "--models-dir", tmp_path / "m", code=2)
    assert "column list above" not in said
    said = " ".join(said.split())
    assert "客户编号: id; 手机号: the header names personal data; 备注: text with 60" in said
    assert "违约: target" in said


def test_serving_an_unsigned_model_says_how_to_sign_it_or_try_it(
    flat: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """serve requires a signed model by default: the error named an environment variable
    and an option the user had not set, and a key that cannot sign a trained model."""
    monkeypatch.delenv("CUSTRISK_SIGNING_KEY", raising=False)
    monkeypatch.delenv("CUSTRISK_REQUIRE_SIGNED", raising=False)
    result = CliRunner().invoke(app, ["serve", "--model", str(flat["model"]), "--port", "0"])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "the model is not signed, and signed models are required (custrisk serve" in said
    assert "custrisk serve --allow-unsigned serves an unsigned model for a trial" in said


def test_row_numbers_are_neither_the_id_nor_a_feature(tmp_path: Path) -> None:
    """序号 took the id from 客户编号 (both unique), and No. or a pandas index saved as
    Unnamed: 0 became a whole-number feature: in a table sorted by its outcome, a perfect
    and meaningless one. A table with no other id keeps 序号 as its id."""
    table = _table(300, seed=11).sort_values("违约", kind="stable").reset_index(drop=True)
    table.insert(0, "序号", np.arange(1, 301))
    table.insert(1, "客户编号", [f"C{i:05d}" for i in range(300)])
    table["No."] = np.delete(np.arange(1, 306), [10, 50, 51, 200, 299])  # rows deleted
    table.index = table.index.rename("Unnamed: 0")  # read and saved again by pandas
    path = tmp_path / "t.csv"
    table.to_csv(path)
    schema = infer_table(path, target="违约")
    assert schema.id_column == "客户编号"
    for header in ("序号", "No.", "Unnamed: 0"):
        assert schema.column(header).role == "ignored"
        assert schema.column(header).reason.startswith("row numbers (1, 2, 3, ...")
    # a number column that merely starts low is a feature
    assert schema.column("近12月逾期次数").role == "feature"

    # a report's totals row under the table: 序号 blank there, and still no id
    totals = table.astype("object")
    totals.loc[len(totals)] = {"客户编号": "合计"}
    totals.to_csv(path, index=False)
    schema = infer_table(path, target="违约")
    assert schema.id_column == "客户编号" and schema.column("序号").role == "ignored"

    # 合计 and the report's note in 序号 itself (its first column), and a row copied twice
    # repeating its number: 序号 was a feature, and the drift check's first alert
    copied = [
        table.iloc[:40],
        table.iloc[[39]],
        table.iloc[40:90],
        table.iloc[[7]],
        table.iloc[90:],
    ]
    report = pd.concat(copied, ignore_index=True).astype("object")
    report.loc[len(report)] = {"序号": "合计", "近12月逾期次数": 123}
    report.loc[len(report)] = {"序号": "制表人：王会计"}
    report.to_csv(path, index=False)
    schema = infer_table(path, target="违约")
    assert schema.id_column == "客户编号"
    assert schema.column("序号").reason.startswith("row numbers (1, 2, 3, ...")
    report.loc[len(report)] = {"序号": "12"}  # a number after them: not a report's label
    report.to_csv(path, index=False)
    assert infer_table(path, target="违约").column("序号").role == "feature"

    table.drop(columns=["客户编号"]).to_csv(path, index=False)
    assert infer_table(path, target="违约").id_column == "序号"


def test_a_corporate_table_is_identified_by_its_credit_code_and_grouped_rows_numbered(
    tmp_path: Path,
) -> None:
    """A company list: 统一社会信用代码 was free text, and 序号 (its numbering going on
    under each region's caption and 小计 row) took the id. The credit code is the id, 序号
    row numbers; outcomes not known yet (blank) are said by the target's name."""
    table = _table(300, seed=21).drop(columns=["姓名", "手机号"]).astype("object")
    table.insert(0, "序号", range(1, 301))
    table.insert(1, "统一社会信用代码", [f"91310000MA1{i:07d}" for i in range(300)])
    table.loc[:9, "违约"] = None
    rows = table.to_dict("records")
    caption = dict.fromkeys(table.columns)
    report = [
        {**caption, "序号": "华东区"},
        *rows[:150],
        {**caption, "序号": "小计", "近12月逾期次数": 9},
        {**caption, "序号": "华南区"},
        *rows[150:],
        {**caption, "序号": "合计"},
    ]
    path = tmp_path / "企业客户.csv"
    pd.DataFrame(report).to_csv(path, index=False)
    schema = infer_table(path, target="违约")
    assert schema.id_column == "统一社会信用代码"
    assert schema.column("序号").reason.startswith("row numbers (1, 2, 3, ...")
    said = schema.column("统一社会信用代码").reason
    assert "4 rows are the report's own (totals, notes, captions)" in said
    assert "repeat an id" not in said  # (skipped, none rejected)
    output = _invoke("train", path, "--target", "违约", "--models-dir", tmp_path / "m")
    said = " ".join(output.split())
    assert "Warning: 10 customers have no 违约 value (blank: an outcome not known yet?)" in said
    assert "labels name unknown customers" not in said


def test_features_headed_by_calendar_months_are_said_to_tie_the_model_to_them(
    tmp_path: Path,
) -> None:
    """A year laid out a column per month (2026年1月, ...): trained on, the model could
    not score next month's table (headed 2026年2月 ...), which only the scoring said."""
    table = _table(200, seed=6)
    for month in range(1, 4):
        table[f"2026年{month}月"] = np.random.default_rng(month).integers(0, 9000, 200)
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    said = " ".join(infer_table(path, target="违约").summary_lines())
    assert "(features headed by calendar months, 2026年1月 ... 2026年3月: a later" in said
    table.drop(columns=["2026年2月", "2026年3月"]).to_csv(path, index=False)
    assert "calendar months" not in " ".join(infer_table(path, target="违约").summary_lines())


def test_an_age_in_several_spellings_of_its_unit_is_one_unit(tmp_path: Path) -> None:
    """41岁, 41周岁 and 41歲 are one unit, an age: the column was left out as "numbers
    written in several units (周岁, 岁, 歲)" and a sheet lost its ages. One value in
    another unit (3年 among months) is left for cleaning to reject."""
    table = _table(300, seed=13)
    ages = np.random.default_rng(13).integers(20, 65, 300)
    table["年龄"] = [f"{a}{('岁', '周岁', '歲')[i % 3]}" for i, a in enumerate(ages)]
    # one 3年 among months left the column out too: now it alone is rejected
    table["贷款期限"] = ["3年", "36個月", "36个月", *(["12"] * 297)]
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    schema = infer_table(path, target="违约")
    age, term = schema.column("年龄"), schema.column("贷款期限")
    assert (age.type, age.role, age.unit) == ("int", "feature", "岁")
    assert (term.type, term.role, term.unit) == ("int", "feature", "个月")


def test_a_huge_header_is_cut_in_the_layout_not_padding_every_line(tmp_path: Path) -> None:
    """A header of 20,000 characters padded every line of init's layout (and of the
    config's comments) to its width: each line was 20,000 characters."""
    table = _table(100, seed=15)
    table["x" * 20_000] = "A"
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    lines = infer_table(path, target="违约").summary_lines()
    assert max(len(line) for line in lines) < 300
    assert any(line.startswith("x" * 39 + "…") for line in lines)


def test_numbers_written_with_a_unit_are_numbers(tmp_path: Path) -> None:
    """38岁, 12个月 and 3次 (as a Chinese sheet writes ages, terms and counts) are numbers
    read without their unit: they were categories or free text. A column mixing 年 and
    个月 is left out with the fix: read as plain numbers it would mix years and months."""
    table = _table(300, seed=12)
    rng = np.random.default_rng(12)
    ages, terms = rng.integers(20, 65, 300), rng.choice([12, 24, 36], 300)
    table["年龄"] = [f"{a}岁" for a in ages]
    table["贷款期限"] = [f"{t} 个月" for t in terms]
    table["近12月逾期次数"] = [f"{n}次" for n in table["近12月逾期次数"]]
    table["工作年限"] = [f"{1 + i % 9}年" if i % 2 else f"{1 + i % 11}个月" for i in range(300)]
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    schema = infer_table(path, target="违约")
    age, term = schema.column("年龄"), schema.column("贷款期限")
    assert (age.type, age.role, age.unit) == ("int", "feature", "岁")
    assert "written with the unit 岁 (e.g. " in age.reason and "an age: 16 to 100" in age.reason
    assert (term.type, term.unit) == ("int", "个月")
    assert schema.column("近12月逾期次数").unit == "次"
    mixed = schema.column("工作年限")
    assert mixed.role == "ignored" and "several units (个月, 年)" in mixed.reason
    _invoke("train", path, "--target", "违约", "--models-dir", tmp_path / "m")
    from custrisk import load_workspace

    workspace = load_workspace(
        path.parent, config=tmp_path / "m" / "logistic" / "1" / "sources.yaml"
    )
    frame = workspace.frames["credit"]
    assert frame[age.name].tolist() == ages.tolist()
    assert frame[term.name].tolist() == terms.tolist()
    assert not len(workspace.rejects)
    # a new customer scored by the service: with the unit or without, the same score
    from custrisk import open_model
    from custrisk.scoring.records import RecordScorer

    scorer = RecordScorer(open_model(tmp_path / "m" / "logistic" / "1", predict_only=True))
    fields = {f.header: f.to_dict() for f in scorer.fields}
    assert fields["年龄"]["unit"] == "岁" and fields["贷款期限"]["unit"] == "个月"
    record = table.drop(columns=["违约", "备注", "工作年限"]).iloc[0].to_dict()
    plain = {**record, "年龄": int(ages[0]), "贷款期限": int(terms[0])}
    scored = scorer.score([record, plain], ids=["N1", "N2"]).decisions
    assert scored[0]["pd"] == scored[1]["pd"] and "repaired" not in scored[0]
    # a value in another unit is said so; true, with no number at all, is just not one
    odd = [{**record, "年龄": True}, {**record, "年龄": "28个月"}]
    said = [r[0]["problem"] for r in scorer.score(odd, ids=["N3", "N4"]).repaired]
    assert said[0] == "not a number; replaced by blank (on_invalid: blank)", said
    assert said[1].startswith("not a number in 岁 or 周岁, "), said


def test_an_age_written_with_its_unit_in_some_rows_only_is_a_number(tmp_path: Path) -> None:
    """41岁 in a quarter of the rows, 41 in the others (typed by hand in a shared sheet):
    the age is a number read without its unit; it was free text, left out of the model."""
    table = _table(400, seed=14)
    ages = np.random.default_rng(14).integers(20, 65, 400)
    table["年龄"] = [f"{a}岁" if i % 4 == 0 else str(a) for i, a in enumerate(ages)]
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    age = infer_table(path, target="违约").column("年龄")
    assert (age.type, age.role, age.unit) == ("int", "feature", "岁")


def test_a_count_written_with_the_unit_its_header_names_is_read_as_the_number(
    flat: dict[str, Path], tmp_path: Path
) -> None:
    """A model trained on plain counts (近12月逾期次数: 2) declares no unit; next month's
    3次 (and a request's) is read as 3 because the header says it counts 次, listed as
    a repair, where it was blanked as not a number. 2笔 stays refused, naming 次."""
    from custrisk import load_workspace, open_model
    from custrisk.scoring.records import RecordScorer

    table = _table(6, seed=5, with_target=False)
    table["近12月逾期次数"] = ["2次", "2", "2 次", "2笔", "3次", "3"]
    table.to_csv(tmp_path / "train.csv", index=False)  # (the name the layout reads)
    config = flat["model"] / "sources.yaml"
    name = load_sources_config(config).sources["credit"].rename["近12月逾期次数"]
    workspace = load_workspace(tmp_path, config=config)
    column = workspace.frames["credit"][name].tolist()
    assert column[:3] == [2, 2, 2] and pd.isna(column[3]) and column[4:] == [3, 3]
    rejects = workspace.rejects.set_index("value")
    assert rejects.loc["2次", "action"] == "repaired"
    assert "its unit, 次, is the one its header names" in rejects.loc["2次", "message"]
    assert rejects.loc["2笔", "rule"] == "invalid_number"
    assert rejects.loc["2笔", "message"].startswith("not a number in 次, the unit its header")

    scorer = RecordScorer(open_model(flat["model"], predict_only=True))
    assert {f.header: f.unit for f in scorer.fields}["近12月逾期次数"] == "次"
    record = table.drop(columns=["备注"]).iloc[0].to_dict()
    batch = scorer.score(
        [{**record, "近12月逾期次数": n} for n in ("3次", 3, "3笔")], ids=["N1", "N2", "N3"]
    )
    with_unit, plain, other = batch.decisions
    assert with_unit["pd"] == plain["pd"] != other["pd"]
    assert [r["value"] for r in batch.repaired[0]] == ["3次"] and not batch.repaired[1]
    assert "not a number in 次" in batch.repaired[2][0]["problem"]


def test_a_sheet_with_two_header_rows_is_named_by_its_lower_headers(tmp_path: Path) -> None:
    """基本信息 and 财务信息 merged over the headers make 基本信息/客户编号, ...: --target
    违约 names 结果/违约 (it was "not a column"), and 财务信息/月收入 is the monthly
    income it is (annual_income × 12), as 月收入 alone would be."""
    import xlsxwriter

    path = tmp_path / "t.xlsx"
    rng = np.random.default_rng(13)
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("客户")
    sheet.merge_range(0, 0, 0, 1, "基本信息")
    sheet.merge_range(0, 2, 0, 3, "财务信息")
    sheet.write(0, 4, "结果")
    sheet.write_row(1, 0, ["客户编号", "年龄", "月收入", "额度使用率", "违约"])
    for i in range(200):
        used = float(rng.uniform(0, 1.2))
        row = [f"C{i:04d}", int(rng.integers(20, 60)), float(rng.integers(3000, 20000))]
        sheet.write_row(
            2 + i, 0, [*row, round(used, 3), "是" if rng.uniform() < used / 2 else "否"]
        )
    book.close()
    schema = infer_table(path, target="违约")
    assert schema.target == "结果/违约" and schema.id_column == "基本信息/客户编号"
    income = schema.column("财务信息/月收入")
    assert (income.name, income.scale) == ("annual_income", 12)
    with pytest.raises(UsageError, match="'额度' is not a column"):
        infer_table(path, target="额度")


def test_a_traditional_chinese_table_in_big5_reads_as_a_simplified_one(tmp_path: Path) -> None:
    """A Hong Kong or Taiwan export: Big5, traditional headers (客戶編號, 客戶名稱,
    月收入, 年齡 written 35歲), a 合計 row and a 製表人 note. It was read as GBK into the
    wrong characters; with --encoding big5 the headers mean what their simplified forms
    do: the id, personal data, the monthly income, an age with its unit."""
    rng = np.random.default_rng(14)
    rows = [
        f"C{i:04d},陳大文,{rng.integers(3000, 30000)},{rng.integers(20, 60)}歲,"
        f"{rng.uniform(0, 1.2):.3f},{'是' if i % 3 == 0 else '否'}"
        for i in range(120)
    ]
    text = "\n".join(["客戶編號,客戶名稱,月收入,年齡,額度使用率,違約", *rows])
    path = tmp_path / "t.csv"
    path.write_bytes((text + "\n合計,,,,,\n製表人：王五,,,,,\n").encode("big5"))
    with pytest.raises(DataError, match="looks like Big5"):
        infer_table(path, target="違約")
    schema = infer_table(path, target="違約", encoding="big5")
    assert schema.id_column == "客戶編號"
    assert schema.column("客戶名稱").role == "pii"
    income, age = schema.column("月收入"), schema.column("年齡")
    assert (income.name, income.scale) == ("annual_income", 12)
    assert (age.type, age.unit) == ("int", "歲")
    _invoke("train", path, "--target", "違約", "--encoding", "big5", "--models-dir", tmp_path / "m")
    from custrisk import load_workspace

    workspace = load_workspace(
        path.parent, config=tmp_path / "m" / "logistic" / "1" / "sources.yaml", encoding="big5"
    )
    assert sorted(set(workspace.rejects["rule"])) == ["note_row", "total_row"]
    assert len(workspace.frames["credit"]) == 120


def test_a_european_table_with_decimal_commas_reads_its_numbers(tmp_path: Path) -> None:
    """0,614 and 1.234,56 in a semicolon-separated export are 0.614 and 1234.56 (the
    table's source gets ``decimal: ','``): they were text, and the table had no
    feature. A value with two commas stays malformed, never another number."""
    rng = np.random.default_rng(15)
    util = rng.uniform(0, 1.2, 300).round(3)
    income = rng.uniform(1000, 90000, 300).round(2)
    rate = rng.uniform(0, 30, 300).round(1)
    late = rng.poisson(1, 300)

    def eu(x: float, places: int) -> str:
        return f"{x:,.{places}f}".replace(",", " ").replace(".", ",").replace(" ", ".")

    lines = ["Kunde;Auslastung;Einkommen;Zinssatz;Verzug;Ausfall"]
    lines += [
        f"K{i:04d};{eu(u, 3)};{eu(m, 2)};{eu(r, 1)}%;{n};{'ja' if u > 0.8 else 'nein'}"
        for i, (u, m, r, n) in enumerate(zip(util, income, rate, late, strict=True))
    ]
    lines[5] = lines[5].replace(f";{eu(income[4], 2)};", ";1,234,567;")  # two commas
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    schema = infer_table(path, target="Ausfall")
    assert schema.decimal == "," and schema.delimiter == ";"
    for header in ("Auslastung", "Einkommen", "Zinssatz"):
        assert (schema.column(header).type, schema.column(header).role) == ("float", "feature")
    _invoke(
        "train", path, "--target", "Ausfall", "--bad-value", "ja", "--models-dir", tmp_path / "m"
    )
    config = tmp_path / "m" / "logistic" / "1" / "sources.yaml"
    assert "decimal: ','" in config.read_text(encoding="utf-8")
    from custrisk import load_workspace

    frame = load_workspace(path.parent, config=config).frames["credit"]
    assert frame[schema.column("Auslastung").name].tolist() == util.tolist()
    read = frame[schema.column("Einkommen").name]
    assert pd.isna(read.iloc[4]) and read.drop(index=4).tolist() == np.delete(income, 4).tolist()
    assert frame[schema.column("Zinssatz").name].round(4).tolist() == (rate / 100).round(4).tolist()

    # a comma-separated table's 1,234 is a thousand and more, as ever
    plain = tmp_path / "plain" / "t.csv"
    plain.parent.mkdir()
    plain.write_text("id,amount,bad\n" + "".join(f'C{i},"1,{i:03d}",{i % 2}\n' for i in range(50)))
    assert infer_table(plain, target="bad").decimal == "."


def test_the_loaders_say_the_skipped_rules_in_one_line_each(
    flat: dict, caplog: pytest.LogCaptureFixture
) -> None:
    """Where the loaders' warnings are shown (custrisk serve's start, a library call), the
    limit rules are grouped by what they lack and the alert rules listed by code, one
    line each, not one clause per rule folded over a screen."""
    from custrisk.scoring import score_portfolio

    with caplog.at_level(logging.WARNING, logger="custrisk"):
        score_portfolio(flat["next"], "logistic", models_dir=flat["root"] / "models")
    said = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    limits, alerts = (
        next(m for m in said if m.startswith(kind)) for kind in ("4 limit", "9 alert")
    )
    assert limits.count("credit_limit") == 1  # grades A, B and C together, once
    assert "the limit rules of grades A, B, C read credit_limit" in limits
    assert alerts.endswith("TX01, TX02, CP01, CP02, CR01, CR02, CR04, CR03, RL01")
    assert "which this data does not have" not in alerts and "and 9 more" in alerts


def test_a_date_column_written_with_dashes_for_none_is_still_dates(tmp_path: Path) -> None:
    """最近还款日期 with — for the customers who never paid (two rows in five): a date
    column whose blanks are dashes, not free text left out of the model."""
    rng = np.random.default_rng(4)
    frame = _table(400, seed=4)
    frame["最近还款日期"] = [
        "—" if rng.uniform() < 0.4 else f"2024-0{rng.integers(1, 9)}-1{rng.integers(0, 9)}"
        for _ in range(len(frame))
    ]
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    column = infer_table(path, target="违约").column("最近还款日期")
    assert (column.type, column.role) == ("date", "feature")


def test_ids_written_as_excel_text_literals_are_the_id(tmp_path: Path) -> None:
    """A table whose ids are ="K00001" (to keep them text in Excel): the id column, read as
    K00001, not free text that looks like formulas."""
    frame = _table(300, seed=5)
    frame.insert(0, "客户编号", [f'="K{i:05d}"' for i in range(len(frame))])
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    schema = infer_table(path, target="违约")
    assert schema.id_column == "客户编号"
    _invoke("train", path, "--target", "违约", "--models-dir", tmp_path / "m")
    out = tmp_path / "run" / "scores.csv"
    _invoke("score", path, "-m", "logistic", "--models-dir", tmp_path / "m", "-o", out)
    scores = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    assert scores["customer_id"].head(2).tolist() == ["K00000", "K00001"]
    assert len(scores) == len(frame)  # none rejected as a formula


#: A Hong Kong or Taiwan lender's spelling of the flat fixture's headers and regions.
_TRADITIONAL = {
    "手机号": "手機號",
    "额度使用率": "額度使用率",
    "地区": "地區",
    "开户日期": "開戶日期",
    "近12月逾期次数": "近12月逾期次數",
    "备注": "備註",
    "华东": "華東",
    "华南": "華南",
    "华北": "華北",
    "东北": "東北",
}


def test_a_table_in_traditional_characters_scores_as_its_simplified_twin(flat: dict) -> None:
    """Headers and categories written in traditional characters (地區, 華南): the headers
    matched only in part, and 華南 was scored silently as a region the model had never
    seen. Now each is read as the model's (華南 as 华南), listed as a repair; the rejects
    name the column by the header the file has."""
    frame = pd.read_csv(flat["next"], dtype=str, keep_default_na=False)
    frame = frame.rename(columns=lambda h: _TRADITIONAL.get(h, h)).replace(_TRADITIONAL)
    table = flat["root"] / "traditional.csv"
    frame.to_csv(table, index=False)
    scored = flat["root"] / "traditional" / "scores.csv"
    _invoke("score", table, "-m", "logistic", "--models-dir", flat["root"] / "models", "-o", scored)
    ours = pd.read_csv(scored, dtype={"customer_id": str}, encoding="utf-8-sig")
    theirs = pd.read_csv(flat["scores"], dtype={"customer_id": str}, encoding="utf-8-sig")
    assert ours["score"].tolist() == theirs["score"].tolist()
    assert ours["pd"].tolist() == theirs["pd"].tolist()
    rejects = pd.read_csv(scored.with_name("scores.rejects.csv"), encoding="utf-8-sig")
    regions = rejects[rejects["column"] == "region"]
    assert len(regions) == 400 and set(regions["rule"]) == {"normalised"}
    assert set(regions["header"]) == {"地區"}  # as the file heads it (was the model's 地区)
    assert set(regions["value"]) == {"華東", "華南", "華北", "東北"}
    assert regions["message"].str.contains("category the model knows").all()
    south = regions[regions["value"] == "華南"]["message"]
    assert south.str.startswith("read as '华南'").all()


def test_a_trees_categories_are_known_as_a_scorecards_are(flat: dict) -> None:
    """A tree keeps its categories as codes (with its "(other)" and "(missing)" groups),
    not as bins: its model read 華南 as a region never seen where a scorecard read 华南."""
    import dataclasses

    from custrisk.scoring.features import open_model
    from custrisk.scoring.table import model_table_config

    model = open_model("logistic", flat["root"] / "models")
    codes = {"region": {"华南": 0, "东北": 1, "(other)": 2, "(missing)": 3}}
    tree = dataclasses.replace(model, card={**model.card, "model": {"category_codes": codes}})
    region = model_table_config(tree).sources["credit"].column("region")
    assert region.known_values == ("华南", "东北")
    fitted = model_table_config(model).sources["credit"].column("region")
    assert sorted(fitted.known_values) == ["东北", "华东", "华北", "华南"]


_ROWS_ONLY = """version: 1
sources:
  credit:
    file: t.csv
    key: customer_id
    row_number: customer_id
    rename: {收入: income, 地区: region, 违约: bad}
    columns:
      customer_id: {type: id}
      income: {type: float}
      region: {type: category}
      bad: {type: string}
"""


def test_a_row_copied_in_a_table_without_an_id_is_rejected_naming_the_earlier_line(
    tmp_path: Path,
) -> None:
    """Without an id column each row's line is its id, so a row pasted twice was trained
    and scored as two customers, silently. A copy is rejected as duplicate_row naming the
    line it repeats; a table whose few coarse columns repeat in most rows is kept whole
    and said (its repeats are customers alike, not copies)."""
    from custrisk import load_workspace

    frame = pd.DataFrame(
        {"收入": [float(1000 + i) for i in range(40)], "地区": ["华东", "华南"] * 20}
    )
    frame["违约"] = "否"
    copied = pd.concat([frame, frame.iloc[[3, 3, 7]]], ignore_index=True)
    (tmp_path / "t.csv").write_text(copied.to_csv(index=False), encoding="utf-8")
    (tmp_path / "s.yaml").write_text(_ROWS_ONLY, encoding="utf-8")
    workspace = load_workspace(tmp_path / "t.csv", config=tmp_path / "s.yaml")
    assert len(workspace.frames["credit"]) == 40
    rejects = workspace.rejects
    assert rejects["rule"].tolist() == ["duplicate_row"] * 3
    assert rejects["line"].tolist() == [42, 43, 44]
    assert "(line 5)" in rejects["message"].iloc[0] and "(line 9)" in rejects["message"].iloc[2]
    assert "add an id column" in rejects["message"].iloc[0]
    assert workspace.report.customers_rejected == 0  # (each copy's customer is kept)
    coarse = pd.DataFrame({"收入": [1.0, 2.0] * 20, "地区": ["华东"] * 40, "违约": "否"})
    (tmp_path / "t.csv").write_text(coarse.to_csv(index=False), encoding="utf-8")
    workspace = load_workspace(tmp_path / "t.csv", config=tmp_path / "s.yaml")
    assert len(workspace.frames["credit"]) == 40 and not len(workspace.rejects)
    (said,) = workspace.report.sources["credit"].warnings
    assert "38 of 40 rows repeat an earlier row in every column" in said


def test_a_column_of_foreign_currency_amounts_is_said_so_not_called_free_text(
    tmp_path: Path,
) -> None:
    """年收入 written 'USD 114372' in every row was ignored as "free text": it is not read
    (never converted), and the layout says why and the fix."""
    frame = _table(60, seed=3)
    frame["年收入"] = [f"USD {1000 + i}" for i in range(60)]
    frame.loc[5, "年收入"] = "2000"  # (plain numbers among them)
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    income = infer_table(path, target="违约").column("年收入")
    assert income.role == "ignored"
    assert income.reason.startswith("amounts in a foreign currency (USD, e.g. 'USD 1000')")
    assert income.reason.endswith("convert them to 元 in the table to use them")


def test_train_says_what_cleaning_warned_of(tmp_path: Path) -> None:
    """A table whose rows repeat each other too often to be copies (no id column): train
    says so, as score and validate do, rather than training on them in silence; and one
    rejected row is said in the singular."""
    frame = _table(400, seed=12)
    frame = pd.concat([frame, frame.iloc[:60]], ignore_index=True)  # 60 of 460 repeat
    frame.loc[300, "开户日期"] = "2026-06-31"  # no such day (a row not copied)
    frame.to_csv(tmp_path / "t.csv", index=False)
    output = _invoke("train", tmp_path / "t.csv", "--target", "违约", "--models-dir", tmp_path)
    said = " ".join(output.split())
    assert "Warning: credit: 60 of 460 rows repeat an earlier row in every column" in said
    assert "1 had a value blanked or corrected and was trained so" in said


def test_compare_reads_a_flat_table_once_for_two_models_of_its_layout(flat: dict) -> None:
    models = flat["root"] / "models"
    _invoke("train", flat["train"], "--target", "违约", "-a", "tree", "--models-dir", models)
    holdout = flat["root"] / "compare.csv"
    _table(500, seed=11).to_csv(holdout, index=False)
    result = CliRunner().invoke(
        app, ["-v", "compare", "logistic", "tree", str(holdout), "--models-dir", str(models)]
    )
    assert result.exit_code == 0, result.output
    # one read (and one of each of its warnings), not one per model
    assert result.output.count("rows in") == 1, result.output


def test_a_region_the_model_never_saw_is_scored_with_a_note_saying_so(
    flat: dict, tmp_path: Path
) -> None:
    later = pd.read_csv(flat["next"], dtype=str)
    later.loc[:99, "地区"] = "西南"  # a region opened after training
    path = tmp_path / "new_region.csv"
    later.to_csv(path, index=False)
    scored = tmp_path / "run" / "scores.csv"
    output = _invoke("score", path, "-m", flat["model"], "-o", scored)
    note = next(line for line in output.splitlines() if "never saw" in line)
    assert note.startswith("Note: 地区: 100 customers have values the model never saw (西南): ")
    assert "scored as" in note
    facts = json.loads(scored.with_name("scores.run.json").read_text(encoding="utf-8"))
    (fact,) = facts["unseen_categories"].values()
    assert (fact["customers"], fact["values"]) == (100, ["西南"])
    # a month of the regions the model knows says nothing of the kind
    assert "never saw" not in flat["_score_text"]
    assert "unseen_categories" not in json.loads(
        flat["scores"].with_name("scores.run.json").read_text(encoding="utf-8")
    )


@pytest.mark.parametrize("header", ["年收入(万元)", "annual_income（万元）"])
def test_an_income_header_in_wan_yuan_is_read_as_the_models_income_scaled(
    flat: dict, tmp_path: Path, header: str
) -> None:
    """The model read 月收入(元) as annual_income × 12; next month's table writes the
    year's income in 万元 under another header: the same customers score the same."""
    later = pd.read_csv(flat["next"], dtype=str)
    monthly = pd.to_numeric(later.pop("月收入(元)"))
    later[header] = monthly * 12 / 10_000
    path = tmp_path / "wan.csv"
    later.to_csv(path, index=False)
    scored = tmp_path / "run" / "scores.csv"
    output = _invoke("score", path, "-m", flat["model"], "-o", scored)
    assert f"Note: wan.csv: column '{header}' read as the model's '月收入(元)'" in output
    assert "× 10,000" in output
    assert "missing" not in output and "ignored" not in output
    before = pd.read_csv(flat["scores"], encoding="utf-8-sig")
    after = pd.read_csv(scored, encoding="utf-8-sig")
    assert after["score"].tolist() == before["score"].tolist()
    assert after["recommended_limit"].equals(before["recommended_limit"])
    assert after["pd"].tolist() == before["pd"].tolist()
