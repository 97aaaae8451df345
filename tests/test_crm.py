"""The CRM profile end to end: ``sample-data --format crm`` writes 简道云-style workbooks,
the profile is chosen by the folder's files (or ``--sources crm``), and the workbooks go
through validate, train, score, alerts and report; ``custrisk init`` proposes configs
that work unedited; several workbooks stack into one source with rejects naming each
workbook and row."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from custrisk.cli import app
from custrisk.config.sources import load_sources_config
from custrisk.data import load_workspace
from custrisk.errors import ConfigError, DataError
from custrisk.io.readers import read_raw
from custrisk.sample.crm import CRM_FILES, crm_frames, generate_crm_data

CUSTOMERS = 400
PROFILE_NOTE = "CRM (简道云-style exports) profile"


def _run(*args: object, code: int | tuple[int, ...] = 0) -> Result:
    result = CliRunner().invoke(app, [str(a) for a in args])
    codes = code if isinstance(code, tuple) else (code,)
    assert result.exit_code in codes, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    return result


@pytest.fixture(scope="session")
def crm(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small CRM export, a model trained on it with the detected profile, and a run."""
    root = tmp_path_factory.mktemp("crm")
    data = root / "export"
    _run("sample-data", data, "--format", "crm", "--customers", CUSTOMERS, "--seed", 11)
    models = root / "models"
    train = _run("train", data, "--labels", data / "labels.csv", "--models-dir", models)
    assert PROFILE_NOTE in train.stdout
    scores = root / "run" / "scores.csv"
    score = _run("score", data, "--model", "logistic", "--models-dir", models, "--out", scores)
    assert PROFILE_NOTE in score.stdout
    return {"root": root, "data": data, "models": models, "scores": scores}


def _card(models: Path) -> dict[str, Any]:
    cards = sorted(models.glob("logistic/*/model.json"))
    return json.loads(cards[-1].read_text(encoding="utf-8"))


def test_sample_is_a_set_of_crm_workbooks_with_chinese_headers(crm: dict[str, Path]) -> None:
    data = crm["data"]
    assert sorted(p.name for p in data.glob("*.xlsx")) == sorted(CRM_FILES)
    customers = read_raw(data / "客户.xlsx")
    assert {"客户编号", "客户名称", "联系电话", "信用额度(元)"} <= set(customers.header)
    plans = read_raw(data / "回款计划.xlsx")
    assert {"计划回款日期", "计划回款金额(元)", "已回款金额(元)", "回款状态"} <= set(plans.header)
    records = read_raw(data / "回款记录.xlsx")
    assert {"计划回款日期", "回款日期", "回款金额(元)"} <= set(records.header)
    labels = pd.read_csv(data / "labels.csv", dtype=str)
    assert list(labels.columns) == ["customer_id", "bad"]
    ids = set(customers.table.column("客户编号").to_pylist())
    assert set(labels["customer_id"]) == ids
    assert 0 < labels["bad"].astype(int).mean() < 0.5


def test_sample_is_seeded(tmp_path: Path) -> None:
    first = generate_crm_data(tmp_path / "a", customers=30, seed=5)
    second = generate_crm_data(tmp_path / "b", customers=30, seed=5)
    other = generate_crm_data(tmp_path / "c", customers=30, seed=6)
    for name in (*CRM_FILES, "labels.csv"):
        assert (first.out_dir / name).read_bytes() == (second.out_dir / name).read_bytes(), name
    assert (first.out_dir / "合同.xlsx").read_bytes() != (other.out_dir / "合同.xlsx").read_bytes()


def test_profile_is_detected_and_the_export_validates(crm: dict[str, Path]) -> None:
    out = crm["root"] / "validation"
    result = _run("validate", crm["data"], "--out", out)
    assert PROFILE_NOTE in result.stdout and "客户*.xlsx" in result.stdout
    report = json.loads((out / "validation_report.json").read_text(encoding="utf-8"))
    assert report["status"] == "clean"
    files = {s: [Path(f).name for f in v["files"]] for s, v in report["sources"].items()}
    assert files == {
        "credit": ["客户.xlsx"],
        "transactions": ["合同.xlsx", "回款计划.xlsx", "回款记录.xlsx"],
        "behaviour": ["跟进记录.xlsx", "工单.xlsx"],
    }
    frames = load_workspace(crm["data"], config=load_sources_config(_profile_sources())).frames
    rows = {name: len(read_raw(crm["data"] / name).table) for name in CRM_FILES}
    kinds = frames["transactions"]["txn_type"].value_counts()
    assert kinds["contract"] == rows["合同.xlsx"]
    assert kinds["plan"] == rows["回款计划.xlsx"]
    assert kinds["payment"] == rows["回款记录.xlsx"]
    assert len(frames["behaviour"]) == rows["跟进记录.xlsx"] + rows["工单.xlsx"]


def test_workbooks_named_in_other_letters_are_read_and_said(
    crm: dict[str, Path], tmp_path: Path
) -> None:
    """合同.XLSX (a Windows copy: its file system ignores case) matches 合同*.xlsx as a
    Windows one would; it was an absent part, its contracts missing from every score."""
    data = tmp_path / "export"
    shutil.copytree(crm["data"], data)
    (data / "合同.xlsx").rename(data / "合同.XLSX")
    config = load_sources_config(_profile_sources())
    want = load_workspace(crm["data"], config=config)
    got = load_workspace(data, config=config)
    report = got.report.sources["transactions"]
    assert [Path(f).name for f in report.files] == ["合同.XLSX", "回款计划.xlsx", "回款记录.xlsx"]
    assert report.warnings == (
        "no file matches 合同*.xlsx as written: read 合同.XLSX, named in other letters",
    )
    assert len(got.frames["transactions"]) == len(want.frames["transactions"])
    # the customers' workbook so named too: the profile is still found by it
    (data / "客户.xlsx").rename(data / "客户.XLSX")
    result = _run("validate", data, "--out", tmp_path / "validation")
    assert PROFILE_NOTE in result.stdout
    said = " ".join(result.stderr.split())
    assert "credit: no file matches 客户*.xlsx as written: read 客户.XLSX" in said


def test_a_customer_workbook_of_another_layout_is_not_taken_for_a_crm_export(
    tmp_path: Path,
) -> None:
    # 客户.xlsx named like the CRM's but with custrisk's own headers, beside a
    # transactions.csv: the CRM profile would read the workbook and ignore the CSV.
    data = tmp_path / "mine"
    data.mkdir()
    pd.DataFrame({"customer_id": ["0001", "0002"], "credit_limit": [1000.0, 2000.0]}).to_excel(
        data / "客户.xlsx", index=False
    )
    (data / "transactions.csv").write_text(
        "txn_id,customer_id,txn_date,amount,txn_type\nT1,0001,2026-10-01,10,order\n",
        encoding="utf-8",
    )
    result = _run("validate", data, code=2)
    assert PROFILE_NOTE not in result.output
    assert f"'custrisk init {data} --out DIR' proposes a sources config" in " ".join(
        result.output.split()
    )
    init = _run("init", data, "--out", tmp_path / "configs")
    assert PROFILE_NOTE not in init.output and "transactions" in init.output
    # The CRM's own customers workbook is still recognised by its header.
    crm_like = tmp_path / "crm_like"
    crm_like.mkdir()
    pd.DataFrame({"客户编号": ["0001"], "客户名称": ["甲"]}).to_excel(
        crm_like / "客户.xlsx", index=False
    )
    assert PROFILE_NOTE in _run("validate", crm_like, code=(0, 1, 2)).output


def _profile_sources() -> Path:
    from custrisk.config.profiles import PROFILES

    return PROFILES["crm"].sources


def test_profile_by_name_keeps_json_output_clean(crm: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "renamed"
    shutil.copytree(crm["data"], copy)
    (copy / "客户.xlsx").rename(copy / "客户_2026-10.xlsx")  # still found by the glob
    result = _run("validate", copy, "--sources", "crm", "--format", "json", "--out", tmp_path / "v")
    assert json.loads(result.stdout)["status"] == "clean"
    assert PROFILE_NOTE in result.stderr


def test_model_learns_from_the_crm_data(crm: dict[str, Path]) -> None:
    card = _card(crm["models"])
    assert card["metrics"]["holdout"]["auc"] > 0.65
    used = set(card["features"])
    collection = {
        "avg_collection_delay_days",
        "max_collection_delay_days",
        "late_collection_share",
        "days_past_due",
        "overdue_amount",
        "overdue_plans",
        "overdue_ratio",
    }
    assert used & collection, used


def test_score_alerts_and_report(crm: dict[str, Path], tmp_path: Path) -> None:
    scores = pd.read_csv(crm["scores"], dtype={"customer_id": str})
    assert len(scores) == CUSTOMERS
    assert scores["grade"].notna().all()
    alerts = pd.read_csv(crm["scores"].with_name("alerts.csv"), dtype={"customer_id": str})
    indicators = _indicators(crm, tmp_path)
    # CR02 fires exactly for customers with a plan more than 30 days overdue
    late = set(indicators.index[(indicators["days_past_due"] > 30)])
    assert late and set(alerts.loc[alerts["code"] == "CR02", "customer_id"]) == late
    listed = _run("alerts", crm["scores"], "--level", "red")
    assert "CR02" in listed.output

    customer = sorted(late)[0]
    out = tmp_path / "reports"
    _run("report", crm["scores"], "--out", out, "--customers", customer, "--no-portfolio")
    pdf = out / f"customer_{customer}.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")

    from custrisk.report import (
        build_customer_context,
        build_portfolio_context,
        load_report_config,
        load_report_inputs,
    )

    context = build_customer_context(
        load_report_inputs(crm["scores"]), customer, config=load_report_config(), lang="zh"
    )
    overdue = indicators.loc[customer, "overdue_amount"]
    assert overdue > 0
    assert context["exposure"]["overdue_text"] == f"¥{overdue:,.0f}"
    assert "*" in context["customer"]["name"]  # 客户名称 is masked
    shown = {i["code"]: i["value_text"] for i in context["indicators"]}
    assert shown["days_past_due"] == f"{int(indicators.loc[customer, 'days_past_due'])}天"
    portfolio = build_portfolio_context(
        load_report_inputs(crm["scores"]), config=load_report_config(), lang="zh"
    )
    complaint_rate = indicators["complaint_rate_12m"].mean()
    assert portfolio["service"]["total"]["complaint_rate_text"] == f"{complaint_rate:.2%}"


def _indicators(crm: dict[str, Path], tmp_path: Path) -> pd.DataFrame:
    out = tmp_path / "indicators.csv"
    _run("indicators", crm["data"], "--out", out)
    return pd.read_csv(out, dtype={"customer_id": str}).set_index("customer_id")


def test_init_proposes_configs_that_work_unedited(crm: dict[str, Path], tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    output = _run("init", crm["data"], "--out", configs).output
    assert "CRM" in output
    # The next commands name the folder's own outcomes file, to paste as they are
    assert f"--labels {crm['data'] / 'labels.csv'}" in output
    sources, indicators, alerts = (
        configs / "sources.yaml",
        configs / "indicators.yaml",
        configs / "alerts.yaml",
    )
    _run("validate", crm["data"], "--config", sources, "--out", tmp_path / "v")
    models = tmp_path / "models"
    data = crm["data"]
    _run(
        "train", data, "--sources", sources, "--indicators", indicators,
        "--labels", data / "labels.csv", "--models-dir", models, "--name", "mine",
    )  # fmt: skip
    _run(
        "score", data, "--sources", sources, "--alerts", alerts, "--model", "mine",
        "--models-dir", models, "--out", tmp_path / "run" / "scores.csv",
    )  # fmt: skip
    assert len(pd.read_csv(tmp_path / "run" / "scores.csv")) == CUSTOMERS
    # Proposed from the headers alone, the config validates the same workbooks too
    generic = tmp_path / "generic"
    _run("init", data, "--out", generic, "--no-profile")
    _run("validate", data, "--config", generic / "sources.yaml", "--out", tmp_path / "v2")


def test_stacked_workbooks_reject_rows_naming_file_and_line(tmp_path: Path) -> None:
    from custrisk.sample.crm import _write_sheet

    tables, labels, _ = crm_frames(customers=40, seed=3)
    data = tmp_path / "export"
    data.mkdir()
    records = tables["回款记录.xlsx"].astype({"回款金额(元)": object})
    records.loc[4, "回款金额(元)"] = "一千元"
    tables["回款记录.xlsx"] = records
    for name, frame in tables.items():
        _write_sheet(data / name, Path(name).stem, frame)
    labels.to_csv(data / "labels.csv", index=False)
    out = tmp_path / "v"
    _run("validate", data, "--out", out, code=1)
    rejects = pd.read_csv(out / "rejects.csv", dtype=str)
    row = rejects.iloc[0]
    assert (row["source"], row["file"], row["line"], row["column"]) == (
        "transactions",
        "回款记录.xlsx",
        "6",  # the fifth data row, under the header
        "amount",
    )
    # the column as this workbook heads it (回款计划 heads its amount 计划回款金额(元))
    assert row["header"] == "回款金额(元)"
    assert len(rejects) == 1


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            "    file: a.csv\n    files: [{file: b.csv}]\n",
            "a source has either file: (with sheet:), files: or query:, not two of them",
        ),
        ("    files: []\n", "expected a list of {file, rename, values}"),
        (
            "    files: [{file: b.csv, values: {kind: x}}]\n",
            "key 'sources.transactions.files[0].values.kind': is not a declared column",
        ),
        (
            "    files: [{file: b.csv, rename: {类型: txn_type}, values: {txn_type: x}}]\n",
            "is also read from the file (rename)",
        ),
    ],
)
def test_files_config_errors_name_the_key(tmp_path: Path, files: str, message: str) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        "version: 1\nsources:\n  credit:\n    file: c.csv\n    key: customer_id\n"
        "    columns: {customer_id: {type: id}}\n"
        "  transactions:\n    key: txn_id\n    customer_key: customer_id\n"
        + files
        + "    columns:\n"
        "      txn_id: {type: id}\n      customer_id: {type: id}\n"
        "      txn_type: {type: category}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_sources_config(path)
    assert message in str(caught.value)
    assert str(path) in caught.value.one_line()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "sap"], "--format must be one of csv, crm, application; got 'sap'"),
        (["--format", "crm", "--dirty"], "--dirty applies to --format csv only"),
        (["--format", "crm", "--encoding", "gbk"], "--encoding applies to --format csv only"),
    ],
)
def test_sample_format_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = _run("sample-data", tmp_path / "out", *args, code=2)
    assert message in result.output
    assert not (tmp_path / "out").exists()


#: The credit source of the stacked-files tests: c.csv with its two Chinese headers.
_CREDIT_C = """  credit:
    file: c.csv
    key: customer_id
    rename: {编号: customer_id, 额度: credit_limit}
    columns:
      customer_id: {type: id, required: true}
      credit_limit: {type: float}
"""


def test_files_stack_csv_exports_with_their_own_headers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "c.csv").write_text("编号,额度\nA1,1000\nA2,2000\n", encoding="utf-8")
    # dates typed in one file, with a time of day (text) in the other; a txn_type column
    # in the file is replaced by the entry's value
    (data / "orders.csv").write_text(
        "单号,客户,日期,金额,txn_type\nO1,A1,2026-01-05,10,refund\nO2,A2,2026-02-01,20,x\n",
        encoding="utf-8",
    )
    (data / "pay.csv").write_text(
        "流水号,客户,到账时间,到账金额\nP1,A1,2026-01-20 10:05:00,10\n", encoding="utf-8"
    )
    config = tmp_path / "sources.yaml"
    config.write_text(
        """version: 1
defaults:
  date_formats: ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S"]
sources:
"""
        + _CREDIT_C
        + """  transactions:
    key: txn_id
    customer_key: customer_id
    rename: {客户: customer_id}
    files:
      - {file: orders.csv, rename: {单号: txn_id, 日期: txn_date, 金额: amount},
         values: {txn_type: order}}
      - {file: pay.csv, rename: {流水号: txn_id, 到账时间: txn_date, 到账金额: amount},
         values: {txn_type: payment}}
    columns:
      txn_id: {type: id, required: true}
      customer_id: {type: id, required: true}
      txn_date: {type: date, required: true}
      amount: {type: float}
      txn_type: {type: category, allowed: [order, payment]}
      channel: {type: category}
""",
        encoding="utf-8",
    )
    workspace = load_workspace(data, config=config)
    frame = workspace.frames["transactions"]
    assert frame["txn_id"].tolist() == ["O1", "O2", "P1"]
    assert frame["txn_type"].astype(str).tolist() == ["order", "order", "payment"]
    assert frame["txn_date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2026-01-05",
        "2026-02-01",
        "2026-01-20",
    ]
    assert workspace.report.rows_rejected == 0
    assert workspace.missing_columns["transactions"] == ("channel",)
    warnings = workspace.report.sources["transactions"].warnings
    assert any("channel" in w for w in warnings)


def test_a_files_entry_reads_its_files_in_its_own_encoding(tmp_path: Path) -> None:
    """One of a source's exports in Big5 (a Hong Kong branch's), the others UTF-8: the
    entry's encoding: big5 reads its traditional headers and values, the others stay
    detected. Without it, the Big5 headers read as other characters and match nothing."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "c.csv").write_text("编号,额度\nA1,1000\nA2,2000\n", encoding="utf-8")
    (data / "orders.csv").write_text("单号,客户,金额\nO1,A1,10\n", encoding="utf-8")
    (data / "hk.csv").write_bytes("單號,customer_id,金額,備註\nH1,A2,30,臺灣\n".encode("big5"))
    text = (
        """version: 1
sources:
"""
        + _CREDIT_C
        + """  transactions:
    key: txn_id
    customer_key: customer_id
    files:
      - {file: orders.csv, rename: {单号: txn_id, 客户: customer_id, 金额: amount}}
      - {file: hk.csv, rename: {單號: txn_id, 金額: amount, 備註: note}, encoding: big5}
    columns:
      txn_id: {type: id, required: true}
      customer_id: {type: id, required: true}
      amount: {type: float}
      note: {type: string}
"""
    )
    config = tmp_path / "sources.yaml"
    config.write_text(text, encoding="utf-8")
    frame = load_workspace(data, config=config).frames["transactions"]
    assert frame["txn_id"].tolist() == ["O1", "H1"]
    assert frame["amount"].tolist() == [10.0, 30.0] and frame["note"].iloc[1] == "臺灣"
    config.write_text(text.replace(", encoding: big5", ""), encoding="utf-8")
    with pytest.raises(DataError, match="missing required column"):
        load_workspace(data, config=config)


LAYOUT_FIX = "pass exports of the model's layout, or --sources with a config that maps"


@pytest.mark.parametrize(
    "command",
    [
        ["score", "{data}", "--model", "logistic", "--out", "{tmp}/s.csv"],
        ["drift", "{data}", "--model", "logistic"],
        ["evaluate", "logistic", "{data}", "--labels", "{data}/labels.csv"],
        ["compare", "logistic", "logistic", "{data}", "--labels", "{data}/labels.csv"],
    ],
    ids=lambda command: command[0],
)
def test_a_crm_model_on_csv_exports_is_told_the_layouts_differ(
    crm: dict[str, Path], export_200: Path, tmp_path: Path, command: list[str]
) -> None:
    args = [a.format(data=export_200, tmp=tmp_path) for a in command]
    result = _run(*args, "--models-dir", crm["models"], code=2)
    message = " ".join(result.stderr.split())
    assert (
        "was trained on CRM exports (客户.xlsx, 合同.xlsx, 回款计划.xlsx, …); "
        f"{export_200} holds CSV exports (credit.csv), another layout" in message
    )
    assert LAYOUT_FIX in message
    assert "indicators.yaml" not in message  # the model's own config is not blamed
    assert not (tmp_path / "s.csv").exists()


def test_a_csv_model_on_crm_exports_is_told_the_layouts_differ(
    crm: dict[str, Path], models_200: Path
) -> None:
    result = _run("drift", crm["data"], "--model", "logistic", "--models-dir", models_200, code=2)
    message = " ".join(result.stderr.split())
    assert "was trained on CSV exports (credit.csv, transactions.csv, behaviour.csv); " in message
    assert f"{crm['data']} holds CRM exports (客户.xlsx), another layout" in message


def test_a_sources_config_of_the_users_own_is_trusted_to_map_the_layout(
    crm: dict[str, Path], export_200: Path, tmp_path: Path
) -> None:
    sources = tmp_path / "mine.yaml"
    shutil.copy(_profile_sources(), sources)
    result = _run(
        "drift", export_200, "--model", "logistic", "--models-dir", crm["models"],
        "--sources", sources, code=2,
    )  # fmt: skip
    assert "another layout" not in result.stderr  # the config's own errors are told instead
