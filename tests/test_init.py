"""``custrisk init``: configs proposed for data in its own layout work unedited."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.config.sources import load_sources_config
from custrisk.data import load_workspace
from custrisk.data.headers import HEADER_DICTIONARY, canonical_name
from custrisk.data.infer import infer_table
from custrisk.scoring.table import table_configs
from tests._support import strip_zeros

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"

#: sample file -> (its name in Chinese, {English header: Chinese header}).
CHINESE = {
    "credit.csv": (
        "客户信息.csv",
        {
            "customer_id": "客户编号",
            "name": "客户名称",
            "phone": "联系电话",
            "id_number": "身份证号",
            "region": "所属区域",
            "industry": "所属行业",
            "customer_since": "开户日期",
            "bureau_score": "征信评分",
            "bureau_score_3m_ago": "三个月前征信评分",
            "annual_income": "年收入",
            "credit_limit": "授信额度",
            "outstanding_balance": "贷款余额",
            "overdue_amount": "逾期金额",
            "max_days_past_due_12m": "近12个月最大逾期天数",
            "num_credit_lines": "信贷账户数",
        },
    ),
    "transactions.csv": (
        "交易流水.csv",
        {
            "txn_id": "交易流水号",
            "customer_id": "客户ID",
            "txn_date": "交易日期",
            "amount": "交易金额",
            "txn_type": "交易类型",
            "channel": "交易渠道",
            "due_date": "到期日",
            "paid_date": "实际还款日期",
        },
    ),
    "behaviour.csv": (
        "客户行为.csv",
        {
            "event_id": "事件编号",
            "customer_id": "客户 编号",  # a space: matched on the normalised header
            "event_date": "跟进日期",
            "event_type": "事件类型",
            "channel": "联系渠道",
            "response_hours": "响应时长",
            "resolved": "是否解决",
            "satisfaction": "满意度",
        },
    ),
    "labels.csv": (
        "标签.csv",
        {
            "customer_id": "客户编号",
            "bad": "是否违约",
            "bad_date": "违约日期",
            "churned": "是否流失",
            "churn_date": "流失日期",
            "escalated": "是否升级",
            "escalation_date": "升级日期",
        },
    ),
}


def _invoke(*args: object, code: int | tuple[int, ...] = 0) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    codes = code if isinstance(code, tuple) else (code,)
    assert result.exit_code in codes, (result.exit_code, result.output)
    return result.output


def _chinese_copy(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, (chinese, headers) in CHINESE.items():
        text = (SAMPLE / name).read_text(encoding="utf-8")
        head, rest = text.split("\n", 1)
        renamed = ",".join(headers[h] for h in head.split(","))
        (folder / chinese).write_text(renamed + "\n" + rest, encoding="utf-8")
    (folder / "ground_truth.csv").write_text(
        (SAMPLE / "ground_truth.csv").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return folder


@pytest.fixture(scope="module")
def zh(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sample data with Chinese file names and headers, and its proposed config."""
    root = tmp_path_factory.mktemp("init")
    data = _chinese_copy(root / "zh")
    configs = root / "configs"
    output = _invoke("init", data, "--out", configs)
    return {"root": root, "data": data, "configs": configs, "output": Path(output)}


def _counts(data: Path, out: Path, *config: object) -> dict[str, tuple[int, int]]:
    text = _invoke("validate", data, "--out", out, "--format", "json", *config)
    report = json.loads(text)
    return {k: (v["rows_in"], v["rows_kept"]) for k, v in report["sources"].items()}


def test_chinese_exports_validate_and_compute_as_the_originals(zh: dict[str, Path]) -> None:
    sources = zh["configs"] / "sources.yaml"
    ours = _counts(zh["data"], zh["root"] / "v1", "--config", sources)
    packaged = _counts(SAMPLE, zh["root"] / "v2")
    assert ours == packaged
    assert set(ours) == {"credit", "transactions", "behaviour"}
    _invoke("indicators", zh["data"], "--sources", sources, "--out", zh["root"] / "i1.csv")
    _invoke("indicators", SAMPLE, "--out", zh["root"] / "i2.csv")
    mine = pd.read_csv(zh["root"] / "i1.csv", dtype=str)
    original = pd.read_csv(zh["root"] / "i2.csv", dtype=str)
    assert len(mine) == len(original) == packaged["credit"][1]
    pd.testing.assert_frame_equal(mine, original)


def test_the_proposal_is_commented_and_flags_personal_data(zh: dict[str, Path]) -> None:
    path = zh["configs"] / "sources.yaml"
    config = load_sources_config(path)
    credit = config.sources["credit"]
    assert credit.file == "客户信息.csv"
    assert credit.rename["客户编号"] == "customer_id"
    assert {c.name for c in credit.columns if c.pii} == {"name", "phone", "id_number"}
    assert credit.column("id_number").check == "cn_id_number"
    assert config.sources["behaviour"].rename["客户 编号"] == "customer_id"
    assert config.sources["transactions"].customer_key == "customer_id"
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):  # every column line follows its comment
        if line.startswith("      ") and not line.startswith("      #") and "{type:" in line:
            assert lines[i - 1].lstrip().startswith("# "), line
    assert any("客户编号: recognised as customer_id" in line for line in lines)
    output = str(zh["output"])
    assert "标签.csv" in output and "--labels" in output  # labels recognised, not a source
    assert "custrisk validate" in output and "custrisk train" in output


def test_the_proposal_blanks_a_bad_value_of_every_optional_column(zh: dict[str, Path]) -> None:
    config = load_sources_config(zh["configs"] / "sources.yaml")
    for source in config.sources.values():
        for col in source.columns:
            assert col.on_invalid == ("reject" if col.required else "blank"), col.name
    credit = config.sources["credit"]
    assert {c.name for c in credit.columns if c.required} == {"customer_id", "credit_limit"}


def test_a_proposed_config_keeps_a_customer_whose_optional_value_is_bad(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "客户.csv").write_text(
        "客户编号,联系电话,所属行业,备注,授信额度\n"
        "C1,13812345678,制造业,老客户,100\n"
        'C2,+86 13912345678,"=HYPERLINK(""x"")",=cmd,200\n',
        encoding="utf-8",
    )
    out = tmp_path / "configs"
    _invoke("init", data, "--out", out)
    counts = _counts(data, tmp_path / "v", "--config", out / "sources.yaml")
    assert counts == {"credit": (2, 2)}
    rejects = pd.read_csv(tmp_path / "v" / "rejects.csv", dtype=str)
    assert set(rejects["action"]) == {"repaired"}


def test_an_existing_config_is_not_overwritten_without_force(zh: dict[str, Path]) -> None:
    path = zh["configs"] / "sources.yaml"
    before = path.read_text(encoding="utf-8")
    path.write_text(before + "# my edit\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["init", str(zh["data"]), "--out", str(zh["configs"])])
    assert result.exit_code == 2
    assert "--force" in result.output
    assert path.read_text(encoding="utf-8").endswith("# my edit\n")
    _invoke("init", zh["data"], "--out", zh["configs"], "--force")
    assert path.read_text(encoding="utf-8") == before


def test_a_flat_table_gets_the_flat_layout(tmp_path: Path) -> None:
    data = tmp_path / "table"
    data.mkdir()
    frame = pd.read_csv(SAMPLE / "credit.csv", dtype=str).drop(columns=["customer_id"])
    labels = pd.read_csv(SAMPLE / "labels.csv", dtype=str)
    frame["违约"] = labels["bad"]
    frame["民族"] = ["汉族" if i % 3 else "回族" for i in range(len(frame))]
    frame.to_csv(data / "features.csv", index=False)
    out = tmp_path / "configs"
    output = _invoke("init", data / "features.csv", "--out", out, "--target", "违约")
    # 民族's line says why it is left out; it is not also 'not recognised'
    assert "a protected attribute" in output and "Not recognised" not in output
    schema = infer_table(data / "features.csv", target="违约")
    expected = table_configs(schema)
    sources = (out / "sources.yaml").read_text(encoding="utf-8")
    assert sources.endswith(expected.sources_text)  # the flat layout, under comments
    assert (out / "indicators.yaml").read_text(encoding="utf-8") == expected.indicators_text
    config = load_sources_config(out / "sources.yaml")
    assert config.sources["credit"].row_number == "customer_id"
    assert "custrisk train" in output and "--target 违约" in output
    counts = _counts(data, tmp_path / "v", "--config", out / "sources.yaml")
    assert counts["credit"][0] == len(frame)
    # the columns the layout leaves out on purpose are the source's ignore: list, not
    # warned about every month; a column new to the table still is
    ignored = {c.header for c in schema.columns if c.role == "ignored"}
    assert "民族" in ignored and config.sources["credit"].left_out == ignored
    validated = _invoke("validate", data / "features.csv", "--config", out / "sources.yaml")
    assert "not in the sources config" not in validated
    frame.assign(新字段="x").to_csv(data / "features.csv", index=False)
    validated = _invoke("validate", data / "features.csv", "--config", out / "sources.yaml")
    assert "not in the sources config, ignored: 新字段\n" in validated
    frame.to_csv(data / "features.csv", index=False)
    # without --target, the column named as the outcome is pointed out, not silently a feature
    output = _invoke("init", data / "features.csv", "--out", tmp_path / "again")
    assert "违约 looks like the outcome" in output
    assert "--target 违约" in output
    assert "looks like the outcome" not in _invoke(
        "init", data / "features.csv", "--out", tmp_path / "third", "--target", "违约"
    )


def test_a_folder_holding_one_table_with_its_outcome_points_to_the_flat_layout(
    tmp_path: Path,
) -> None:
    """A folder whose one file has the customers' outcome (是否违约) and no labels file:
    the next commands asked for LABELS.csv the analyst does not have; they name the
    table's own --target too."""
    data = tmp_path / "exports"
    data.mkdir()
    rows = [
        f"C{i:03d},客户{i},{10000 + i},{90000 + i},华东,{'是' if i % 7 == 0 else '否'}"
        for i in range(60)
    ]
    header = "客户编号,客户名称,授信额度,年收入,地区,是否违约\n"
    (data / "台账.csv").write_text(header + "\n".join(rows) + "\n", "utf-8")
    output = " ".join(_invoke("init", data, "--out", tmp_path / "cfg").split())
    assert "--labels LABELS.csv" in output
    assert f"custrisk init {data / '台账.csv'} --target 是否违约" in output


HOSTILE = {
    "客户编号": ["C1", "C2", "C3"],
    "授信额度": ["10", "20", "30"],
    "=cmd|'/c calc'!A1": ["a", "b", "c"],
    "bad\nname # x: {y}\n  evil: 1": ["1", "2", "3"],
    "金额": ["1", "2", "3"],
    "金 额": ["4", "5", "6"],
    "x" * 3000: ["1", "1", "2"],
    "\u2028sep\rcr": ["q", "w", "e"],
    "备用字段": ["13812345678", "13912345678", "13712345678"],
}


def test_hostile_headers_give_a_safe_yaml(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table(HOSTILE), data / "h.parquet")
    out = tmp_path / "configs"
    output = _invoke("init", data, "--out", out)
    text = (out / "sources.yaml").read_text(encoding="utf-8")
    parsed = yaml.safe_load(text)
    rename = parsed["sources"]["credit"]["rename"]
    long = "x" * 3000
    assert set(rename) == set(HOSTILE) - {long}  # every header exactly, none injected
    assert "evil" not in parsed["sources"]["credit"]
    assert rename["金额"] == "amount" and rename["金 额"] != "amount"  # one file column each
    assert text.splitlines() == text.split("\n")[:-1]  # no raw CR or line separator
    for line in text.splitlines():  # no header text breaks out of a comment or a line
        assert not line.lstrip().startswith(("evil", "name #"))
    columns = parsed["sources"]["credit"]["columns"]
    assert columns[rename["备用字段"]] == {  # phones by value
        "type": "string",
        "pii": True,
        "on_invalid": "blank",
    }
    assert "3,000 characters: left out" in output
    _invoke(
        "validate", data, "--config", out / "sources.yaml", "--out", tmp_path / "v", code=(0, 1)
    )


def _two_files(data: Path, kinds: tuple[str, str], *, date: bool = True) -> None:
    data.mkdir()
    (data / "客户.csv").write_text("客户编号,授信额度\nC1,100\nC2,200\n", encoding="utf-8")
    header = (
        "订单号,客户编号,订单日期,订单金额,交易类型"
        if date
        else "订单号,客户编号,订单金额,交易类型"
    )
    day = ("2025-01-02,", "2025-01-03,") if date else ("", "")
    (data / "流水.csv").write_text(
        f"{header}\nT1,C1,{day[0]}10.5,{kinds[0]}\nT2,C2,{day[1]}20,{kinds[1]}\n",
        encoding="utf-8",
    )


def test_values_outside_a_packaged_list_drop_the_list_not_the_rows(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _two_files(data, ("批发", "零售"))
    out = tmp_path / "configs"
    _invoke("init", data, "--out", out)
    config = load_sources_config(out / "sources.yaml")
    txn = config.sources["transactions"]
    assert txn.column("txn_type").allowed is None
    assert "allowed list left out" in (out / "sources.yaml").read_text(encoding="utf-8")
    counts = _counts(data, tmp_path / "v", "--config", out / "sources.yaml")
    assert counts == {"credit": (2, 2), "transactions": (2, 2)}


def test_chinese_values_of_a_packaged_list_are_recoded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _two_files(data, ("订单", "回款"))
    out = tmp_path / "configs"
    _invoke("init", data, "--out", out)
    text = (out / "sources.yaml").read_text(encoding="utf-8")
    assert "the file's values recoded (回款 = payment, 订单 = order)" in text
    txn = load_sources_config(out / "sources.yaml").sources["transactions"]
    column = txn.column("txn_type")
    assert column.allowed == ("order", "payment", "refund", "chargeback")
    assert {("订单", "order"), ("回款", "payment"), ("拒付", "chargeback")} <= set(column.recode)
    assert txn.min_rows == 1  # a transactions file of no rows is refused, not all zeros
    ws = load_workspace(data, config=load_sources_config(out / "sources.yaml"))
    assert ws.frames["transactions"]["txn_type"].astype(str).tolist() == ["order", "payment"]


def test_traditional_chinese_values_of_a_packaged_list_are_recoded(tmp_path: Path) -> None:
    """訂單 and 還款 (a Hong Kong or Taiwan export's) are recoded as 订单 and 还款 are;
    a simplified export's recode holds no traditional entries."""
    data = tmp_path / "data"
    _two_files(data, ("訂單", "還款"))
    out = tmp_path / "configs"
    _invoke("init", data, "--out", out)
    column = load_sources_config(out / "sources.yaml").sources["transactions"].column("txn_type")
    assert {("訂單", "order"), ("還款", "payment"), ("订单", "order")} <= set(column.recode)
    ws = load_workspace(data, config=load_sources_config(out / "sources.yaml"))
    assert ws.frames["transactions"]["txn_type"].astype(str).tolist() == ["order", "payment"]
    _two_files(tmp_path / "simplified", ("订单", "回款"))
    _invoke("init", tmp_path / "simplified", "--out", out, "--force")
    column = load_sources_config(out / "sources.yaml").sources["transactions"].column("txn_type")
    assert not any(value == "訂單" for value, _ in column.recode)


def test_a_required_column_without_a_header_is_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _two_files(data, ("订单", "回款"), date=False)
    out = tmp_path / "configs"
    output = _invoke("init", data, "--out", out)
    assert "Missing (the packaged config requires them" in output
    assert "流水.csv: txn_date (transactions)" in output
    assert "# no header found for txn_date (required by the packaged config)" in (
        out / "sources.yaml"
    ).read_text(encoding="utf-8")


@pytest.mark.parametrize("lost", ["transactions", "credit"])
def test_ids_that_lost_their_zeros_in_one_file_get_zero_pad(
    tmp_path: Path, export_200: Path, lost: str
) -> None:
    """One export's customer ids without the leading zeros the other's have (42 against
    0000000042): the proposal pads that file's customer id column, and validates clean."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("credit.csv", "transactions.csv"):
        shutil.copy(export_200 / name, data / name)
    strip_zeros(data / f"{lost}.csv")
    out = tmp_path / "configs"
    output = _invoke("init", data, "--out", out)
    assert "customer ids padded to 10 digits" in " ".join(output.split())
    config = load_sources_config(out / "sources.yaml")
    padded = {name: spec.column("customer_id").zero_pad for name, spec in config.sources.items()}
    # (behaviour: no file, declared as packaged)
    assert padded == {"credit": None, "transactions": None, "behaviour": None, lost: 10}
    counts = _counts(data, tmp_path / "v", "--config", out / "sources.yaml")
    assert counts["transactions"][0] == counts["transactions"][1] > 1000


def test_a_folder_without_a_customer_table_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.csv").write_text("foo,bar\n1,2\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["init", str(data), "--out", str(tmp_path / "c")])
    assert result.exit_code == 2
    assert "customer table" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "c").exists()


def test_the_header_dictionary_matches_normalised_headers() -> None:
    assert len(HEADER_DICTIONARY) >= 60
    assert canonical_name("客户 编号：") == "customer_id"
    assert canonical_name("Customer-ID") == "customer_id"
    assert canonical_name("ＣＲＥＤＩＴ　ＬＩＭＩＴ") == "credit_limit"
    assert canonical_name("证件号码") == "id_number"
    assert canonical_name("订单日期") == "txn_date"
    assert canonical_name("投诉") == "complaint_count"
    assert canonical_name("备注") is None


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("所属地区", "region"),
        ("实还日期", "paid_date"),
        ("近12个月最长逾期天数", "max_days_past_due_12m"),
        ("服务单号", "event_id"),
        ("发生日期", "event_date"),
        ("接触渠道", "channel"),
        ("已用额度", "outstanding_balance"),  # beside 授信额度 in a limit's table
        ("已用授信额度（元）", "outstanding_balance"),
    ],
)
def test_headers_of_a_new_users_service_export_are_recognised(header: str, name: str) -> None:
    # Headers of a hand-made Chinese export that init left unrecognised before.
    assert canonical_name(header) == name


def test_a_proposed_config_trains_with_the_labels_it_found_and_what_the_data_lacks(
    zh: dict[str, Path], tmp_path: Path
) -> None:
    """No behaviour export and no balance column (贷款余额): init's next commands work as
    printed. The outcomes file it found (标签.csv, 是否违约) is named in them and its
    headers go into the proposed labels section; the behaviour source and the balance
    are declared as the packaged config has them, so the indicators over them are left
    out and said, not refused (the packaged indicators named a source the config lacked)."""
    data = tmp_path / "data"
    shutil.copytree(zh["data"], data)
    (data / "客户行为.csv").unlink()
    credit = pd.read_csv(data / "客户信息.csv", dtype=str, keep_default_na=False)
    credit.drop(columns=["贷款余额"]).to_csv(data / "客户信息.csv", index=False)
    configs = tmp_path / "configs"
    output = " ".join(_invoke("init", data, "--out", configs).split())
    sources = configs / "sources.yaml"
    assert f"custrisk train {data} --sources {sources} --labels {data / '标签.csv'}" in output
    proposed = yaml.safe_load(sources.read_text(encoding="utf-8"))
    assert proposed["labels"]["rename"]["是否违约"] == "bad"
    assert proposed["sources"]["behaviour"]["required"] is False
    assert "outstanding_balance" in proposed["sources"]["credit"]["columns"]
    trained = " ".join(
        _invoke(
            "train", data, "--sources", sources, "--labels", data / "标签.csv",
            "--models-dir", tmp_path / "m",
        ).split()
    )  # fmt: skip
    assert "Trained logistic on" in trained
    assert "utilisation (credit has no column outstanding_balance)" in trained
    assert "complaints_90d (source 'behaviour' is not in the workspace)" in trained


def test_the_labels_custrisk_prints_for_a_column_are_read_back_as_that_column() -> None:
    """An export made from custrisk's own reports (未偿余额, 合作起始日, 近12月最长逾期天数)
    maps back onto the columns they label."""
    from custrisk.config import default_config_path

    sources = yaml.safe_load(default_config_path("sources.yaml").read_text(encoding="utf-8"))
    columns = {c for spec in sources["sources"].values() for c in spec["columns"]}
    reports = yaml.safe_load(default_config_path("reports.yaml").read_text(encoding="utf-8"))
    indicators = yaml.safe_load(default_config_path("indicators.yaml").read_text(encoding="utf-8"))[
        "indicators"
    ]
    labels = list((reports.get("texts") or {}).items())
    labels += [(code, spec["label"]) for code, spec in indicators.items()]
    checked = 0
    for name, label in labels:
        # (平均…: a portfolio mean the reports show under the column's key, no header)
        if name in columns and isinstance(label, dict) and not label["zh"].startswith("平均"):
            assert canonical_name(label["zh"]) == name, (name, label["zh"])
            checked += 1
    assert checked >= 10


def test_a_workbook_of_several_sheets_is_proposed_sheet_by_sheet_and_trains(
    export_200: Path, tmp_path: Path
) -> None:
    """客户 and 交易 on two sheets of one workbook (a hidden notes sheet first): each
    visible sheet is proposed as its own table (FILE.xlsx#SHEET), and the proposal
    trains (the model card hashed 'FILE.xlsx#SHEET' as a file name, which failed)."""
    import openpyxl

    data = tmp_path / "data"
    data.mkdir()
    book = openpyxl.Workbook()
    notes = book.active
    notes.title, notes["A1"], notes.sheet_state = "说明", "导出说明", "hidden"
    for title, name, headers in (
        ("客户", "credit.csv", {"customer_id": "客户编号", "credit_limit": "授信额度"}),
        ("交易", "transactions.csv", CHINESE["transactions.csv"][1]),
    ):
        frame = pd.read_csv(export_200 / name, dtype=str, keep_default_na=False)
        frame = frame.loc[:, list(headers)].rename(columns=headers)
        sheet = book.create_sheet(title)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            sheet.append(list(row))
    book.save(data / "台账.xlsx")
    labels = pd.read_csv(export_200 / "labels.csv", dtype=str)[["customer_id", "bad"]]
    labels.set_axis(["客户编号", "是否违约"], axis=1).to_csv(data / "标签.csv", index=False)
    configs = tmp_path / "configs"
    output = " ".join(_invoke("init", data, "--out", configs).split())
    assert "台账.xlsx#客户 │ credit" in output and "台账.xlsx#交易 │ transactions" in output
    assert "说明" not in output  # hidden: not a table
    proposed = yaml.safe_load((configs / "sources.yaml").read_text(encoding="utf-8"))
    assert proposed["sources"]["transactions"]["file"] == "台账.xlsx#交易"
    trained = _invoke(
        "train", data, "--sources", configs / "sources.yaml", "--labels", data / "标签.csv",
        "--models-dir", tmp_path / "m",
    )  # fmt: skip
    assert "Trained logistic on 200 labelled customers" in " ".join(trained.split())


def test_an_amount_in_ten_thousands_is_read_with_its_scale(
    export_200: Path, tmp_path: Path
) -> None:
    """年收入(万元) is taken as annual_income with ``scale: 10000`` (custrisk reads 元: as it
    is, a limit rule would read 12.5 for 125,000), and validating the proposal reads the
    values in 元."""
    data = tmp_path / "data"
    data.mkdir()
    credit = pd.read_csv(export_200 / "credit.csv", dtype=str, keep_default_na=False)
    in_yuan = pd.to_numeric(credit["annual_income"])
    credit["annual_income"] = (in_yuan / 10_000).map(lambda v: f"{v:.6f}")
    credit = credit.rename(columns={"annual_income": "年收入(万元)"})
    credit.to_csv(data / "credit.csv", index=False)
    output = " ".join(_invoke("init", data, "--out", tmp_path / "c").split())
    assert "年收入(万元)" not in output.partition("not recognised")[2]
    proposed = yaml.safe_load((tmp_path / "c" / "sources.yaml").read_text(encoding="utf-8"))
    assert proposed["sources"]["credit"]["rename"]["年收入(万元)"] == "annual_income"
    column = proposed["sources"]["credit"]["columns"]["annual_income"]
    assert (column["type"], column["scale"]) == ("float", 10000)
    workspace = load_workspace(data, config=tmp_path / "c" / "sources.yaml", sources=("credit",))
    read = workspace.frames["credit"]["annual_income"].to_numpy(dtype=float)
    assert np.allclose(read, in_yuan.to_numpy(), rtol=1e-9, atol=1e-3)


def test_exports_with_custrisks_own_headers_get_a_labels_section_without_rename(
    export_200: Path, tmp_path: Path
) -> None:
    """labels.csv headed customer_id,bad,...: nothing to rename (an empty rename made the
    proposal fail its own parse-back check, exit 3)."""
    output = " ".join(_invoke("init", export_200, "--out", tmp_path / "c").split())
    assert f"--labels {export_200 / 'labels.csv'}" in output
    proposed = yaml.safe_load((tmp_path / "c" / "sources.yaml").read_text(encoding="utf-8"))
    assert "rename" not in proposed["labels"] and "bad" in proposed["labels"]["columns"]


@pytest.mark.parametrize(("delimiter", "written"), [("\t", '"\\t"'), (";", ";")])
def test_an_export_with_another_delimiter_gets_it_in_the_proposal(
    tmp_path: Path, delimiter: str, written: str
) -> None:
    """A tab-separated (Excel's text export) or semicolon export: the proposal names its
    delimiter, so validate reads its rows instead of one column."""
    data = tmp_path / "exports"
    shutil.copytree(SAMPLE, data)
    txns = pd.read_csv(SAMPLE / "transactions.csv", dtype=str, keep_default_na=False)
    txns.to_csv(data / "transactions.csv", sep=delimiter, index=False)
    _invoke("init", data, "--out", tmp_path / "configs")
    text = (tmp_path / "configs" / "sources.yaml").read_text(encoding="utf-8")
    assert f"delimiter: {written}" in text
    counts = _counts(data, tmp_path / "v", "--config", tmp_path / "configs" / "sources.yaml")
    assert counts["transactions"] == (len(txns), len(txns))


def test_exports_with_the_year_last_in_their_dates_are_read_in_their_order(
    tmp_path: Path,
) -> None:
    """Transactions dated 17/05/2023 (or 5/17/2023, as an American Excel saves them) get
    that layout in the proposal's date_formats, and validate as the ISO export does. Two
    exports writing the two orders get neither, and a comment saying why."""
    folder = tmp_path / "exports"
    shutil.copytree(SAMPLE, folder, ignore=shutil.ignore_patterns("*.md"))
    txns = pd.read_csv(folder / "transactions.csv", dtype=str, keep_default_na=False)
    dates = pd.to_datetime(txns["txn_date"])
    txns["txn_date"] = dates.dt.strftime("%d/%m/%Y")
    txns.to_csv(folder / "transactions.csv", index=False)
    _invoke("init", folder, "--out", tmp_path / "day")
    text = (tmp_path / "day" / "sources.yaml").read_text()
    assert "transactions.csv: dates with the year last, day first (17/05/2023)" in text
    workspace = load_workspace(folder, config=tmp_path / "day" / "sources.yaml")
    assert not len(workspace.rejects)
    assert workspace.frames["transactions"]["txn_date"].tolist() == dates.tolist()

    txns["txn_date"] = [f"{d.month}/{d.day}/{d.year}" for d in dates]
    txns.to_csv(folder / "transactions.csv", index=False)
    _invoke("init", folder, "--out", tmp_path / "month")
    workspace = load_workspace(folder, config=tmp_path / "month" / "sources.yaml")
    assert workspace.frames["transactions"]["txn_date"].tolist() == dates.tolist()

    credit = pd.read_csv(folder / "credit.csv", dtype=str, keep_default_na=False)
    credit["customer_since"] = pd.to_datetime(credit["customer_since"]).dt.strftime("%d/%m/%Y")
    credit.to_csv(folder / "credit.csv", index=False)
    _invoke("init", folder, "--out", tmp_path / "both")
    config = load_sources_config(tmp_path / "both" / "sources.yaml")
    assert not any(f.endswith("%Y") for f in config.date_formats)
    assert "one config reads one order, so neither is read" in (
        (tmp_path / "both" / "sources.yaml").read_text()
    )


def test_an_export_of_days_written_with_their_unit_gets_the_unit(tmp_path: Path) -> None:
    """近12月最长逾期天数 written 30天 (a Chinese sheet's way): the proposal reads it with
    ``unit: 天`` and validates clean, the days as numbers."""
    folder = tmp_path / "exports"
    shutil.copytree(SAMPLE, folder, ignore=shutil.ignore_patterns("*.md"))
    credit = pd.read_csv(folder / "credit.csv", dtype=str, keep_default_na=False)
    days = credit["max_days_past_due_12m"].copy()
    credit["max_days_past_due_12m"] = [f"{d}天" if d else d for d in days]
    credit.to_csv(folder / "credit.csv", index=False)
    _invoke("init", folder, "--out", tmp_path / "cfg")
    config = load_sources_config(tmp_path / "cfg" / "sources.yaml")
    column = config.sources["credit"].column("max_days_past_due_12m")
    assert column.unit == "天"
    workspace = load_workspace(folder, config=tmp_path / "cfg" / "sources.yaml")
    read = workspace.frames["credit"].set_index("customer_id")["max_days_past_due_12m"]
    expected = pd.to_numeric(days.replace("", None)).set_axis(credit["customer_id"])
    assert read.astype("Float64").tolist() == expected.astype("Float64").tolist()


def test_a_big5_export_beside_utf8_ones_gets_its_own_encoding(tmp_path: Path) -> None:
    """A Hong Kong branch's customer table in Big5 among UTF-8 exports: --encoding big5
    would apply to every file, so the folder could not be read in one command. init
    proposes encoding: big5 on that source; validate then reads each file in its own
    encoding (traditional headers and values right, not GBK's other characters)."""
    data = tmp_path / "data"
    data.mkdir()
    rows = "".join(f"C{i:03d},陳大文{i},臺北,{1000 + i}\n" for i in range(40))
    (data / "客戶.csv").write_bytes(("客戶編號,客戶名稱,所屬區域,授信額度\n" + rows).encode("big5"))
    txns = "".join(f"T{i},C{i:03d},2025-01-02,10.5,订单\n" for i in range(40))
    (data / "流水.csv").write_text("订单号,客户编号,订单日期,订单金额,交易类型\n" + txns, "utf-8")
    out = tmp_path / "configs"
    output = _invoke("init", data, "--out", out)
    assert "read as Big5" in output
    config = load_sources_config(out / "sources.yaml")
    assert config.sources["credit"].encoding == "big5"
    assert config.sources["transactions"].encoding is None  # detected, as before
    ws = load_workspace(data, config=config)
    assert ws.frames["credit"]["region"].astype(str).tolist() == ["臺北"] * 40
    assert len(ws.frames["transactions"]) == 40  # every row linked to a Big5 customer id
    # The source's encoding is over --encoding (which applies to the others)
    assert _counts(data, tmp_path / "v", "--config", out / "sources.yaml", "--encoding", "utf-8")[
        "credit"
    ] == (40, 40)
    # An encoding Python does not know is named with its key
    text = (
        (out / "sources.yaml")
        .read_text(encoding="utf-8")
        .replace("encoding: big5", "encoding: big6")
    )
    (out / "bad.yaml").write_text(text, encoding="utf-8")
    said = _invoke("validate", data, "--config", out / "bad.yaml", code=2)
    assert "sources.credit.encoding': unknown encoding 'big6'" in said


def test_a_folder_of_one_table_with_its_outcome_is_named_as_that_table(tmp_path: Path) -> None:
    from custrisk.data.propose import propose_sources

    (tmp_path / "data.csv").write_text(
        "客户编号,姓名,授信额度,逾期天数,年龄,月收入,是否违约\n"
        "C1,张三,10000,0,30,5000,0\nC2,李四,20000,5,41,8000,1\n",
        encoding="utf-8",
    )
    proposal = propose_sources(tmp_path)
    assert proposal.labels_file is None
    assert proposal.table_with_outcome == ("data.csv", "是否违约")
