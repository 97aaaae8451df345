"""A dictionary of the column headers of common CRM, ERP and core-banking exports
(Chinese and English) and the canonical custrisk name each one means.

``custrisk init`` matches a file's headers on their normalised form
(:func:`normalise_header`: NFKC, case-folded, spaces and punctuation removed), so that
``客户 编号``, ``客户编号：`` and ``Customer-ID`` all find their entry. The canonical names
are those of the packaged sources config (``customer_id``, ``credit_limit``, ``txn_date``,
...) plus a few that exports often carry (``email``, ``address``, ``complaint_count``)
and ``bad``, the outcome column of a labels file, with the other outcomes a labels file
may hold for ``custrisk backtest`` (``churned``, ``escalated`` and the outcome dates).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from types import MappingProxyType

from custrisk.config.columns import TRADITIONAL_TO_SIMPLIFIED
from custrisk.io.excel import HEADER_JOIN

#: The source a canonical name that is not in the packaged sources config belongs to.
EXTRA_SOURCES = MappingProxyType(
    {
        "email": "credit",
        "address": "credit",
        "contact_person": "credit",
        "complaint_count": "credit",
        "bad": "labels",
        "label_date": "labels",
        "bad_date": "labels",
        "churned": "labels",
        "churn_date": "labels",
        "escalated": "labels",
        "escalation_date": "labels",
    }
)

#: canonical name -> headers that mean it (any spelling; matched normalised).
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "customer_id": (
        "customer_id",
        "customer id",
        "customer no",
        "customer number",
        "customer code",
        "cust_id",
        "cust no",
        "client_id",
        "client no",
        "client code",
        "account_id",
        "member_id",
        "borrower_id",
        "客户编号",
        "客户ID",
        "客户代码",
        "客户号",
        "客户编码",
        "客户账号",
        "用户ID",
        "用户编号",
        "会员编号",
        "借款人编号",
        "客户唯一标识",
    ),
    "name": (
        "name",
        "customer name",
        "client name",
        "full name",
        "company name",
        "客户名称",
        "客户名",
        "客户姓名",
        "姓名",
        "名称",
        "公司名称",
        "企业名称",
        "借款人姓名",
    ),
    "phone": (
        "phone",
        "mobile",
        "telephone",
        "tel",
        "phone number",
        "mobile number",
        "cell phone",
        "联系电话",
        "手机",
        "手机号",
        "手机号码",
        "电话",
        "电话号码",
        "联系方式",
        "移动电话",
    ),
    "id_number": (
        "id_number",
        "id number",
        "id card",
        "id card number",
        "national id",
        "identity number",
        "身份证号",
        "身份证号码",
        "身份证",
        "证件号码",
        "证件号",
        "身份证件号码",
    ),
    "email": ("email", "e-mail", "email address", "邮箱", "电子邮箱", "电子邮件", "邮件地址"),
    "address": ("address", "地址", "联系地址", "住址", "通讯地址", "家庭住址", "注册地址"),
    "contact_person": ("contact", "contact person", "联系人", "联系人姓名"),
    "region": (
        "region",
        "area",
        "province",
        "地区",
        "区域",
        "所属区域",
        "所在地区",
        "省份",
        "大区",
        "所属地区",
        "所在区域",
        "归属地区",
        "客户地区",
    ),
    "industry": ("industry", "sector", "行业", "所属行业", "行业类别", "行业分类"),
    "customer_since": (
        "customer_since",
        "customer since",
        "open date",
        "account open date",
        "onboard date",
        "开户日期",
        "建档日期",
        "首次合作日期",
        "客户创建时间",
        "创建日期",
        "合作开始日期",
        "合作起始日",  # as custrisk's reports label it
        "入网日期",
    ),
    "bureau_score": (
        "bureau_score",
        "credit score",
        "bureau score",
        "fico",
        "征信评分",
        "信用评分",
        "征信分",
        "信用分",
    ),
    "bureau_score_3m_ago": (
        "bureau_score_3m_ago",
        "credit score 3m ago",
        "三个月前征信评分",
        "3个月前征信评分",
        "三个月前信用评分",
    ),
    "annual_income": (
        "annual_income",
        "annual income",
        "income",
        "yearly income",
        "年收入",
        "年营业收入",
        "年营收",
        "年营业额",
        "年销售额",
        "收入",
    ),
    "credit_limit": (
        "credit_limit",
        "credit limit",
        "credit line",
        "limit",
        "approved limit",
        "授信额度",
        "信用额度",
        "额度",
        "授信金额",
        "核定额度",
    ),
    "outstanding_balance": (
        "outstanding_balance",
        "outstanding balance",
        "balance",
        "loan balance",
        "outstanding",
        "未结余额",
        "未偿余额",  # as custrisk's reports label it
        "贷款余额",
        "余额",
        "欠款余额",
        "用信余额",
        "应收余额",
        # the drawn part of a credit line, as a limit's table beside 授信额度 says it
        "已用额度",
        "已用授信",
        "已用授信额度",
        "已使用额度",
        "用信金额",
        "used limit",
        "used credit",
        "credit used",
    ),
    "overdue_amount": (
        "overdue_amount",
        "overdue amount",
        "past due amount",
        "amount overdue",
        "逾期金额",
        "逾期余额",
        "逾期欠款",
        "逾期本金",
    ),
    "max_days_past_due_12m": (
        "max_days_past_due_12m",
        "max dpd 12m",
        "max days past due",
        "近12个月最大逾期天数",
        "最大逾期天数",
        "历史最大逾期天数",
        "近12个月最长逾期天数",
        "近12月最长逾期天数",  # as custrisk's indicators label it
        "近12月最大逾期天数",
        "最长逾期天数",
        "近一年最长逾期天数",
        "近一年最大逾期天数",
    ),
    "num_credit_lines": (
        "num_credit_lines",
        "credit lines",
        "number of credit lines",
        "信贷账户数",
        "授信笔数",
        "贷款笔数",
        "信用账户数",
    ),
    "complaint_count": ("complaints", "complaint count", "投诉", "投诉次数", "投诉数"),
    "txn_id": (
        "txn_id",
        "transaction id",
        "transaction no",
        "order id",
        "order no",
        "invoice no",
        "交易编号",
        "交易流水号",
        "流水号",
        "订单编号",
        "订单号",
        "单据编号",
        "交易ID",
    ),
    "txn_date": (
        "txn_date",
        "transaction date",
        "order date",
        "trade date",
        "posting date",
        "交易日期",
        "订单日期",
        "交易时间",
        "下单日期",
        "记账日期",
        "单据日期",
        "签订日期",
        "签约日期",
        "合同日期",
    ),
    "amount": (
        "amount",
        "transaction amount",
        "order amount",
        "value",
        "金额",
        "交易金额",
        "订单金额",
        "发生额",
        "合同金额",
        "回款金额",
    ),
    "txn_type": (
        "txn_type",
        "transaction type",
        "type of transaction",
        "交易类型",
        "业务类型",
        "单据类型",
    ),
    "channel": (
        "channel",
        "渠道",
        "交易渠道",
        "联系渠道",
        "来源渠道",
        "跟进方式",
        "联系方式渠道",
        "接触渠道",
        "服务渠道",
        "沟通渠道",
        "沟通方式",
    ),
    "due_date": (
        "due_date",
        "due date",
        "payment due date",
        "到期日",
        "到期日期",
        "应还日期",
        "应付日期",
        "计划回款日期",
    ),
    "paid_date": (
        "paid_date",
        "paid date",
        "payment date",
        "settlement date",
        "还款日期",
        "实际还款日期",
        "付款日期",
        "实际回款日期",
        "回款日期",
        "实还日期",
        "实际付款日期",
        "还款时间",
        "回款时间",
    ),
    "event_id": (
        "event_id",
        "event id",
        "record id",
        "ticket id",
        "事件编号",
        "记录编号",
        "工单编号",
        "跟进记录编号",
        "服务单号",
        "工单号",
        "服务编号",
        "服务记录编号",
        "投诉单号",
        "记录ID",
    ),
    "event_date": (
        "event_date",
        "event date",
        "contact date",
        "follow up date",
        "事件日期",
        "跟进日期",
        "跟进时间",
        "联系日期",
        "投诉日期",
        "工单日期",
        "提交时间",
        "工单时间",
        "发生日期",
        "发生时间",
        "服务日期",
        "服务时间",
        "记录日期",
        "记录时间",
    ),
    "event_type": (
        "event_type",
        "event type",
        "interaction type",
        "事件类型",
        "跟进类型",
        "联系类型",
        "互动类型",
        "投诉类型",
    ),
    "response_hours": (
        "response_hours",
        "response hours",
        "response time",
        "响应时长",
        "响应小时数",
        "响应时间(小时)",
        "处理时长",
    ),
    "resolved": ("resolved", "is resolved", "是否解决", "已解决", "是否已解决", "处理结果"),
    "satisfaction": ("satisfaction", "satisfaction score", "满意度", "满意度评分", "客户满意度"),
    "bad": (
        "bad",
        "default",
        "defaulted",
        "is_default",
        "label",
        "target",
        "违约",
        "是否违约",
        "违约标志",
        "坏客户",
        "标签",
        "是否坏账",
    ),
    "label_date": ("label_date", "label date", "标签日期"),
    "bad_date": ("bad_date", "default_date", "default date", "违约日期"),
    "churned": ("churned", "churn", "is_churned", "流失", "是否流失", "已流失"),
    "churn_date": ("churn_date", "churn date", "流失日期"),
    "escalated": ("escalated", "escalation", "is_escalated", "升级", "是否升级", "投诉升级"),
    "escalation_date": ("escalation_date", "escalation date", "升级日期"),
}

_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def normalise_header(header: str) -> str:
    """What a header is looked up on: NFKC (full-width to half-width), case-folded, spaces
    and punctuation removed, traditional characters as simplified (``客户 编号：``,
    ``客戶編號`` and ``Customer-ID`` → ``客户编号``, ``customerid``)."""
    text = unicodedata.normalize("NFKC", header).casefold().translate(TRADITIONAL_TO_SIMPLIFIED)
    return _PUNCT.sub("", text)


def _build() -> MappingProxyType[str, str]:
    table: dict[str, str] = {}
    for canonical, headers in _SYNONYMS.items():
        for header in (canonical, *headers):
            key = normalise_header(header)
            if table.setdefault(key, canonical) != canonical:
                raise AssertionError(f"{header!r} means both {table[key]} and {canonical}")
    return MappingProxyType(table)


#: normalised header -> canonical name.
HEADER_DICTIONARY = _build()


#: A unit after a header that does not change what it means: 信用额度(元), 响应时长（小时）.
#: 万元 is not among them: it scales the values.
_UNIT = re.compile(r"\s*[(（](?:元|人民币|rmb|cny|小时|天|日|次|笔|个)[)）]\s*$", re.IGNORECASE)


#: Units after an amount's header that scale its values into 元 (``年收入(万元)``,
#: ``授信额度/万``), by the unit's text.
UNIT_SCALES: MappingProxyType[str, int] = MappingProxyType(
    {
        "千": 1_000,
        "千元": 1_000,
        "万": 10_000,
        "万元": 10_000,
        "百万": 1_000_000,
        "百万元": 1_000_000,
        "亿": 100_000_000,
        "亿元": 100_000_000,
    }
)
_SCALED_UNIT = re.compile(
    r"\s*(?:[(（]\s*(?P<bracketed>百万元?|千元?|万元?|亿元?)\s*[)）]|[/／]\s*(?P<after>百万元?|千元?|万元?|亿元?))"
    r"\s*$"
)
#: The canonical columns that are amounts of money, which a unit scales.
AMOUNTS = frozenset(
    {"annual_income", "credit_limit", "outstanding_balance", "overdue_amount", "amount"}
)
#: Headers of a monthly income: read as ``annual_income``, twelve times the value.
_MONTHLY_INCOME = frozenset(
    normalise_header(h)
    for h in (
        "月收入",
        "月均收入",
        "月薪",
        "月工资",
        "税后月收入",
        "个人月收入",
        "monthly income",
        "monthly_income",
        "income per month",
    )
)


@dataclass(frozen=True)
class ScaledField:
    """An amount column whose values need a factor to be the canonical column's (in 元,
    a year's income): ``年收入(万元)`` is ``annual_income`` times 10,000."""

    name: str
    scale: int
    #: what the factor is, for the terminal and config comments
    why: str


def scaled_field(header: str) -> ScaledField | None:
    """The canonical amount a header means once its values are multiplied (``年收入(万元)``:
    ``annual_income`` × 10,000; ``月收入``: ``annual_income`` × 12; ``月收入(千元)``:
    × 12,000), or ``None`` when the header is not such an amount."""
    unit = _SCALED_UNIT.search(header)
    factor, base, whys = 1, header, []
    if unit is not None:
        text = unit.group("bracketed") or unit.group("after")
        factor, base = UNIT_SCALES[text], header[: unit.start()]
        whys.append(f"in {text}")
    elif _UNIT.search(header):
        base = _UNIT.sub("", header)
    key = normalise_header(base)
    if key in _MONTHLY_INCOME:
        return ScaledField("annual_income", factor * 12, ", ".join([*whys, "monthly"]))
    name = HEADER_DICTIONARY.get(key)
    if unit is None or name not in AMOUNTS:
        lower = lower_header(header)
        return scaled_field(lower) if lower is not None else None
    assert name is not None
    return ScaledField(name, factor, whys[0])


def scaled_name(header: str) -> str | None:
    """The canonical name a header in 万元 (``年收入(万元)``) or of a monthly income means
    once scaled (:func:`scaled_field`), or ``None``."""
    found = scaled_field(header)
    return found.name if found is not None else None


def chinese_header(name: str) -> str | None:
    """The first Chinese header the dictionary knows for a canonical name (``年收入`` for
    ``annual_income``), to tell a user what to call a column; ``None`` when it has none."""
    return next(
        (h for h in _SYNONYMS.get(name, ()) if any("\u4e00" <= ch <= "\u9fff" for ch in h)),
        None,
    )


def canonical_name(header: str) -> str | None:
    """The canonical name a header means, or ``None`` when the dictionary does not know it.
    A unit in brackets at the end (``(元)``, ``（小时）``) is looked past."""
    found = HEADER_DICTIONARY.get(normalise_header(header))
    if found is None and _UNIT.search(header):
        found = HEADER_DICTIONARY.get(normalise_header(_UNIT.sub("", header)))
    lower = lower_header(header)
    if found is None and lower is not None:
        found = canonical_name(lower)
    return found


def lower_header(header: str) -> str | None:
    """The lower of a sheet's two header rows in a header the reader made of both
    (``基本信息/客户编号``: ``客户编号``), or ``None``."""
    if HEADER_JOIN not in header:
        return None
    lower = header.rsplit(HEADER_JOIN, 1)[1].strip()
    return lower or None


#: The values Chinese exports give the categories custrisk counts, by canonical column:
#: ``custrisk init`` proposes them as the column's ``recode`` (订单 -> order) when a
#: file's values are among them (in simplified or traditional characters: 訂單), so that
#: the indicators that count orders, payments, complaints, ... find them.
VALUE_RECODES: MappingProxyType[str, MappingProxyType[str, str]] = MappingProxyType(
    {
        "txn_type": MappingProxyType(
            {
                "订单": "order",
                "销售订单": "order",
                "下单": "order",
                "销售": "order",
                "回款": "payment",
                "付款": "payment",
                "还款": "payment",
                "收款": "payment",
                "退款": "refund",
                "退货": "refund",
                "拒付": "chargeback",
                "退单": "chargeback",
                "撤单": "chargeback",
            }
        ),
        "event_type": MappingProxyType(
            {
                "联系": "contact",
                "咨询": "contact",
                "来电": "contact",
                "投诉": "complaint",
                "回访": "follow_up",
                "跟进": "follow_up",
                "反馈": "feedback",
                "评价": "feedback",
            }
        ),
        "channel": MappingProxyType(
            {
                "电话": "phone",
                "邮件": "email",
                "电子邮件": "email",
                "微信": "social",
                "社交媒体": "social",
                "在线客服": "online_chat",
                "在线": "online_chat",
                "上门": "visit",
                "拜访": "visit",
                "面谈": "visit",
            }
        ),
    }
)
