"""A synthetic CRM export of the 简道云 CRM kind: one workbook per form, Chinese headers.

The customers, contracts, collections, follow-ups and tickets are the sample portfolio of
:func:`custrisk.sample.generate_frames` (one latent risk per customer drives them all)
seen through a CRM: each order is a contract (合同) with one planned collection
(回款计划: due date, amount, amount collected, status) and, once paid, a collection record
(回款记录: planned and actual dates); contacts and follow-ups are follow-up records
(跟进记录); complaints and feedback are service tickets (工单). The customer table has no
bureau score, balance or arrears: a CRM knows none of them, so the risk shows only in
the collections and the service history. ``labels.csv`` holds the outcomes
(``customer_id,bad``) for training, as the CSV sample does.

Workbooks are written with xlsxwriter the way a CRM exports them: one sheet named after
the form, a header row, dates and times as Excel dates, amounts as numbers, text as
text; the same arguments give byte-identical files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

from custrisk.errors import UsageError
from custrisk.io.atomic import atomic_path, ensure_dir
from custrisk.sample._base import LABELS_FILE
from custrisk.sample.generator import generate_frames

#: The workbooks of a CRM export, in the order they are written (file name -> sheet).
CUSTOMERS_FILE = "客户.xlsx"
FOLLOW_UPS_FILE = "跟进记录.xlsx"
CONTRACTS_FILE = "合同.xlsx"
PLANS_FILE = "回款计划.xlsx"
COLLECTIONS_FILE = "回款记录.xlsx"
TICKETS_FILE = "工单.xlsx"
CRM_FILES = (
    CUSTOMERS_FILE,
    FOLLOW_UPS_FILE,
    CONTRACTS_FILE,
    PLANS_FILE,
    COLLECTIONS_FILE,
    TICKETS_FILE,
)

_CITIES = {
    "华东": ("上海", "杭州", "南京", "苏州", "宁波", "合肥"),
    "华北": ("北京", "天津", "石家庄", "太原", "济南"),
    "华南": ("广州", "深圳", "东莞", "佛山", "厦门"),
    "华中": ("武汉", "长沙", "郑州", "南昌"),
    "西南": ("成都", "重庆", "昆明", "贵阳"),
    "西北": ("西安", "兰州", "银川"),
    "东北": ("沈阳", "大连", "长春", "哈尔滨"),
}
_BRANDS = (
    "恒达", "鑫源", "华泰", "宏远", "金诚", "瑞丰", "远航", "博通", "天成", "嘉禾",
    "盛世", "永信", "中联", "汇通", "德润", "锦程", "新力", "优品", "安达", "景明",
)  # fmt: skip
_SUFFIXES = ("贸易有限公司", "科技有限公司", "实业有限公司", "商贸有限公司", "制造有限公司")
_LEAD_SOURCES = ("官网", "展会", "转介绍", "电话营销", "渠道合作")
_LEAD_SHARE = (0.25, 0.2, 0.25, 0.15, 0.15)
_OWNERS = ("王磊", "李娜", "张伟", "刘洋", "陈静", "杨帆", "赵敏", "黄涛")
_FOLLOW_UP_CHANNELS = {
    "phone": "电话",
    "email": "邮件",
    "social": "微信",
    "online_chat": "在线沟通",
    "visit": "上门拜访",
}
_FOLLOW_UP_NOTES = (
    "沟通近期采购计划",
    "确认合同执行进度",
    "催收到期货款",
    "回访产品使用情况",
    "介绍新产品方案",
    "了解客户经营状况",
)
_FEEDBACK_TYPES = ("咨询", "售后", "建议")
_PAY_METHODS = ("银行转账", "承兑汇票", "现金")
_PAY_METHOD_SHARE = (0.8, 0.15, 0.05)


@dataclass(frozen=True)
class CrmSummary:
    """What :func:`generate_crm_data` wrote."""

    out_dir: Path
    paths: dict[str, Path]
    rows: dict[str, int]
    customers: int
    bad_rate: float
    as_of: date


def crm_frames(
    *,
    customers: int = 500,
    months: int = 12,
    as_of: date | None = None,
    seed: int = 42,
    drift: float = 0.0,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, date]:
    """The CRM workbooks' tables (file name -> frame, Chinese headers), the labels
    (``customer_id, bad``) and the export date."""
    frames = generate_frames(
        customers=customers, months=months, as_of=as_of, seed=seed, drift=drift
    )
    rng = np.random.default_rng([seed, 7_011])
    export_day = pd.Timestamp(frames.as_of)
    credit = frames.credit
    n = len(credit)
    number = credit["customer_id"].astype(str).str.lstrip("0").astype(np.int64).to_numpy()
    ids = pd.Series([f"KH{i:06d}" for i in number], dtype=object)
    id_of = dict(zip(credit["customer_id"].astype(str), ids, strict=True))
    region = credit["region"].astype(str).to_numpy()
    city = np.array(
        [
            _CITIES[r][k % len(_CITIES[r])]
            for r, k in zip(region, rng.integers(0, 60, n), strict=True)
        ]
    )
    company = np.char.add(
        np.char.add(city, np.asarray(_BRANDS)[rng.integers(0, len(_BRANDS), n)]),
        np.asarray(_SUFFIXES)[rng.integers(0, len(_SUFFIXES), n)],
    )
    names = pd.Series(company, dtype=object)
    name_of = dict(zip(ids, names, strict=True))
    owner = np.asarray(_OWNERS)[rng.integers(0, len(_OWNERS), n)]
    owner_of = dict(zip(ids, owner, strict=True))
    customers_frame = pd.DataFrame(
        {
            "客户编号": ids,
            "客户名称": names,
            "联系人": credit["name"].astype(str).to_numpy(dtype=object),
            "联系电话": credit["phone"].astype(str).to_numpy(dtype=object),
            "客户类型": "企业客户",
            "所属行业": credit["industry"].astype(str).to_numpy(dtype=object),
            "所在地区": region.astype(object),
            "客户来源": np.asarray(_LEAD_SOURCES, dtype=object)[
                rng.choice(len(_LEAD_SOURCES), size=n, p=_LEAD_SHARE)
            ],
            "年营业额(元)": credit["annual_income"].to_numpy(),
            "信用额度(元)": credit["credit_limit"].to_numpy(),
            "负责人": owner.astype(object),
            "创建时间": _with_time(credit["customer_since"], rng),
        }
    )

    txn = frames.transactions
    orders = txn[txn["txn_type"] == "order"].reset_index(drop=True)
    customer = orders["customer_id"].astype(str).map(id_of)
    serial = np.arange(1, len(orders) + 1)
    contract_id = pd.Series([f"HT{i:07d}" for i in serial], dtype=object)
    paid = orders["paid_date"]
    due = orders["due_date"]
    is_paid = paid.notna().to_numpy()
    running = (due > export_day).to_numpy() | ~is_paid
    contracts = pd.DataFrame(
        {
            "合同编号": contract_id,
            "客户编号": customer,
            "客户名称": customer.map(name_of),
            "签订日期": orders["txn_date"],
            "合同金额(元)": orders["amount"].to_numpy(),
            "合同状态": np.where(running, "执行中", "已完成").astype(object),
            "负责人": customer.map(owner_of),
        }
    )
    # Unpaid plans: some were collected in part.
    partial = ~is_paid & (rng.random(len(orders)) < 0.3)
    share = np.round(rng.uniform(0.2, 0.8, len(orders)), 2)
    amount = orders["amount"].to_numpy()
    collected = np.where(is_paid, amount, np.where(partial, np.round(amount * share, 2), 0.0))
    status = np.where(is_paid, "已回款", np.where(partial, "部分回款", "未回款")).astype(object)
    plans = pd.DataFrame(
        {
            "计划编号": pd.Series([f"JH{i:07d}" for i in serial], dtype=object),
            "客户编号": customer,
            "客户名称": customer.map(name_of),
            "合同编号": contract_id,
            "期次": "第1期",
            "计划回款日期": due,
            "计划回款金额(元)": amount,
            "已回款金额(元)": collected,
            "回款状态": status,
            "创建时间": _with_time(orders["txn_date"], rng),
        }
    )
    paid_rows = np.flatnonzero(is_paid)
    collections = pd.DataFrame(
        {
            "回款编号": pd.Series([f"HK{i:07d}" for i in serial[paid_rows]], dtype=object),
            "客户编号": customer.iloc[paid_rows].to_numpy(),
            "客户名称": customer.iloc[paid_rows].map(name_of).to_numpy(),
            "合同编号": contract_id.iloc[paid_rows].to_numpy(),
            "计划回款日期": due.iloc[paid_rows].to_numpy(),
            "回款日期": paid.iloc[paid_rows].to_numpy(),
            "回款金额(元)": amount[paid_rows],
            "回款方式": np.asarray(_PAY_METHODS, dtype=object)[
                rng.choice(len(_PAY_METHODS), size=len(paid_rows), p=_PAY_METHOD_SHARE)
            ],
        }
    ).sort_values(["回款日期", "回款编号"], kind="stable", ignore_index=True)

    events = frames.behaviour
    customer = events["customer_id"].astype(str).map(id_of)
    kind = events["event_type"].astype(str).to_numpy()
    follow = np.flatnonzero(np.isin(kind, ("contact", "follow_up")))
    follow_ups = pd.DataFrame(
        {
            "跟进编号": pd.Series([f"GJ{i:07d}" for i in range(1, len(follow) + 1)], dtype=object),
            "客户编号": customer.iloc[follow].to_numpy(),
            "客户名称": customer.iloc[follow].map(name_of).to_numpy(),
            "跟进时间": _with_time(events["event_date"].iloc[follow], rng),
            "跟进方式": events["channel"]
            .iloc[follow]
            .astype(str)
            .map(_FOLLOW_UP_CHANNELS)
            .to_numpy(),
            "跟进内容": np.asarray(_FOLLOW_UP_NOTES, dtype=object)[
                rng.integers(0, len(_FOLLOW_UP_NOTES), len(follow))
            ],
            "跟进人": customer.iloc[follow].map(owner_of).to_numpy(),
        }
    )
    ticket = np.flatnonzero(np.isin(kind, ("complaint", "feedback")))
    complaint = kind[ticket] == "complaint"
    resolved = events["resolved"].iloc[ticket].fillna(True).to_numpy(dtype=bool)
    satisfaction = (
        events["satisfaction"]
        .iloc[ticket]
        .astype("Float64")
        .to_numpy(dtype=np.float64, na_value=np.nan)
    )
    tickets = pd.DataFrame(
        {
            "工单编号": pd.Series([f"GD{i:07d}" for i in range(1, len(ticket) + 1)], dtype=object),
            "客户编号": customer.iloc[ticket].to_numpy(),
            "客户名称": customer.iloc[ticket].map(name_of).to_numpy(),
            "工单类型": np.where(
                complaint,
                "投诉",
                np.asarray(_FEEDBACK_TYPES, dtype=object)[
                    rng.integers(0, len(_FEEDBACK_TYPES), len(ticket))
                ],
            ).astype(object),
            "提交时间": _with_time(events["event_date"].iloc[ticket], rng),
            "处理状态": np.where(complaint & ~resolved, "处理中", "已解决").astype(object),
            "响应时长(小时)": events["response_hours"].iloc[ticket].to_numpy(),
            "满意度": satisfaction,
        }
    )
    labels = pd.DataFrame(
        {
            "customer_id": frames.labels["customer_id"].astype(str).map(id_of),
            "bad": frames.labels["bad"].astype(np.int64),
        }
    )
    tables = {
        CUSTOMERS_FILE: customers_frame,
        FOLLOW_UPS_FILE: follow_ups,
        CONTRACTS_FILE: contracts,
        PLANS_FILE: plans,
        COLLECTIONS_FILE: collections,
        TICKETS_FILE: tickets,
    }
    return tables, labels, frames.as_of


def generate_crm_data(
    out_dir: str | Path,
    *,
    customers: int = 500,
    months: int = 12,
    as_of: date | None = None,
    seed: int = 42,
    drift: float = 0.0,
) -> CrmSummary:
    """Write a CRM export (six workbooks with Chinese headers) and ``labels.csv`` into
    ``out_dir``; the options are those of :func:`custrisk.sample.generate_sample_data`."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: the output folder is an existing file; give a folder path")
    tables, labels, export_day = crm_frames(
        customers=customers, months=months, as_of=as_of, seed=seed, drift=drift
    )
    ensure_dir(out)
    paths: dict[str, Path] = {}
    rows: dict[str, int] = {}
    for name, frame in tables.items():
        paths[name] = _write_sheet(out / name, Path(name).stem, frame)
        rows[name] = len(frame)
    with atomic_path(out / LABELS_FILE) as tmp:
        labels.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
    paths[LABELS_FILE], rows[LABELS_FILE] = out / LABELS_FILE, len(labels)
    return CrmSummary(
        out_dir=out,
        paths=paths,
        rows=rows,
        customers=len(labels),
        bad_rate=float(labels["bad"].mean()),
        as_of=export_day,
    )


def _with_time(days: pd.Series, rng: np.random.Generator) -> pd.Series:
    """Dates with a time of day in office hours (a CRM stamps records when they are made)."""
    seconds = rng.integers(8 * 3600, 19 * 3600, len(days))
    stamped = pd.to_datetime(days.to_numpy()) + pd.to_timedelta(seconds, unit="s")
    return pd.Series(stamped)


def _write_sheet(path: Path, sheet: str, frame: pd.DataFrame) -> Path:
    """One sheet: header, then each value as its kind (text, number, date, date-time)."""
    with atomic_path(path) as tmp:
        book = xlsxwriter.Workbook(str(tmp), {"constant_memory": True, "strings_to_numbers": False})
        book.set_properties({"created": dt.datetime(2000, 1, 1)})
        bold = book.add_format({"bold": True})
        day = book.add_format({"num_format": "yyyy-mm-dd"})
        stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        money = book.add_format({"num_format": "#,##0.00"})
        ws = book.add_worksheet(sheet)
        ws.freeze_panes(1, 0)
        for c, header in enumerate(frame.columns):
            ws.write_string(0, c, str(header), bold)
            ws.set_column(c, c, 14)
        columns = [_cells(frame[c]) for c in frame.columns]
        kinds = [_kind(frame[c]) for c in frame.columns]
        fmts = [
            stamp if k == "stamp" else day if k == "date" else money if "元" in str(h) else None
            for k, h in zip(kinds, frame.columns, strict=True)
        ]
        for r in range(len(frame)):
            for c, (values, kind, fmt) in enumerate(zip(columns, kinds, fmts, strict=True)):
                value = values[r]
                if value is None:
                    continue
                if kind in ("date", "stamp"):
                    ws.write_datetime(r + 1, c, value, fmt)
                elif kind == "number":
                    ws.write_number(r + 1, c, value, fmt)
                else:
                    ws.write_string(r + 1, c, value)
        book.close()
    return path


def _kind(values: pd.Series) -> str:
    if pd.api.types.is_datetime64_any_dtype(values):
        times = values.dropna()
        return "stamp" if len(times) and (times != times.dt.normalize()).any() else "date"
    if pd.api.types.is_numeric_dtype(values):
        return "number"
    return "text"


def _cells(values: pd.Series) -> Sequence[object]:
    kind = _kind(values)
    if kind in ("date", "stamp"):
        return [None if pd.isna(v) else v.to_pydatetime() for v in values]
    if kind == "number":
        return [None if pd.isna(v) else float(v) for v in values.to_numpy(dtype=np.float64)]
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]
