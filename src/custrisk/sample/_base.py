"""What every part of the generator shares: limits, file names, random streams, the
parameters of a run and the column kinds of its tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

DEFAULT_AS_OF = date(2026, 10, 31)
ENCODINGS = ("utf-8", "gbk")
MAX_CUSTOMERS = 20_000_000
MAX_MONTHS = 120
MAX_DRIFT = 5.0
# Every date written stays after 2000-01-01 (the sources.yaml minimum) even 10 years back.
MIN_AS_OF = date(2011, 1, 1)
MAX_AS_OF = date(2099, 12, 31)
_FIRST_CUSTOMER_SINCE = date(1980, 1, 1)

CREDIT_FILE = "credit.csv"
TRANSACTIONS_FILE = "transactions.csv"
BEHAVIOUR_FILE = "behaviour.csv"
LABELS_FILE = "labels.csv"
GROUND_TRUTH_FILE = "ground_truth.csv"
FAULTS_FILE = "faults.csv"

FAULT_KINDS = (
    "duplicate_row",
    "duplicate_key",
    "blank_required",
    "malformed_number",
    "negative_amount",
    "impossible_date",
    "whitespace_id",
    "too_many_fields",
    "orphan",
    "formula_injection",
    "paid_before_txn",
)

# --------------------------------------------------------------------------------------
# Vocabulary (every character is in GB2312, hence GBK-encodable)
# --------------------------------------------------------------------------------------

REGIONS = ("华东", "华北", "华南", "华中", "西南", "西北", "东北")
_REGION_SHARE = (0.30, 0.17, 0.18, 0.12, 0.11, 0.06, 0.06)
_REGION_RISK = (-0.10, 0.00, -0.05, 0.05, 0.10, 0.20, 0.25)
# Real county-level administrative codes (GB/T 2260) inside each region.
_REGION_CODES = (
    (310101, 310104, 320102, 320106, 330102, 330106, 340102, 350102, 370102, 370202),
    (110101, 110105, 110108, 120101, 120103, 130102, 140105, 150102),
    (440103, 440106, 440304, 440305, 450102, 460105, 440604),
    (420102, 420106, 430102, 430104, 410105, 410102, 360102),
    (510104, 510107, 500103, 500106, 530102, 520102, 540102),
    (610102, 610113, 620102, 630102, 640104, 650102),
    (210102, 210202, 220102, 220104, 230102, 230103),
)

INDUSTRIES = (
    "制造业",
    "批发零售",
    "建筑业",
    "信息技术",
    "餐饮住宿",
    "交通运输",
    "农林牧渔",
    "房地产",
    "教育培训",
    "医疗健康",
)
_INDUSTRY_SHARE = (0.20, 0.22, 0.09, 0.10, 0.10, 0.08, 0.06, 0.05, 0.05, 0.05)
_INDUSTRY_RISK = (0.00, 0.05, 0.30, -0.20, 0.25, 0.10, 0.15, 0.35, 0.05, -0.25)

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN_MALE = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林阳峰建国志文博晨亮成东海"
_GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀英慧玲婷雪琳颖洁倩莉兰梅红燕萍晶欣悦佳怡雨露月琴蓉瑶璐"
_PHONE_PREFIXES = (
    *range(130, 140),
    145,
    147,
    *range(150, 154),
    *range(155, 160),
    166,
    170,
    173,
    175,
    176,
    177,
    178,
    *range(180, 190),
    191,
    193,
    195,
    198,
    199,
)

TXN_TYPES = ("order", "payment", "refund", "chargeback")
TXN_CHANNELS = ("online", "mobile", "store", "agent")
_TXN_CHANNEL_SHARE = (0.35, 0.33, 0.22, 0.10)
_PAYMENT_TERMS = (30, 45, 60)
_PAYMENT_TERM_SHARE = (0.5, 0.3, 0.2)
EVENT_TYPES = ("contact", "complaint", "follow_up", "feedback")
EVENT_CHANNELS = ("phone", "email", "social", "online_chat", "visit")
_EVENT_CHANNEL_SHARE = (0.35, 0.15, 0.10, 0.30, 0.10)

_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ID_CHECK_CHARS = "10X98765432"

# --------------------------------------------------------------------------------------
# Model constants (the latent risk and how each observable reflects it)
# --------------------------------------------------------------------------------------

_PD_INTERCEPT = -3.1
_PD_SLOPE = 1.45
_PD_TAIL = 0.25  # extra log-odds per squared unit of risk above 1: a convex tail
_TXNS_PER_MONTH = 2.0
_EVENTS_PER_MONTH = 0.5
_RECENT_MONTHS = 3
_DAYS_PER_MONTH = 365.25 / 12
# Above this many customers, each month of transactions is written in several date
# ranges so that a chunk holds at most about this many customers' month of activity.
_CUSTOMERS_PER_CHUNK = 1_000_000
_ROWS_PER_WRITE = 500_000
_FAULT_EVERY = 4_000  # one fault of each kind per this many rows (at least 2)

# Independent random streams, so adding a field to one file never changes another.
_STREAM_PORTFOLIO = 1
_STREAM_CREDIT = 2
_STREAM_TRANSACTIONS = 3
_STREAM_BEHAVIOUR = 4
_STREAM_FAULTS = 5
_STREAM_OUTCOMES = 6  # churn, escalation and outcome dates: drawn apart from the rest

_NULL = -1  # missing value of a non-negative integer column
_NULL_DAY = np.iinfo(np.int32).min  # missing value of a date column (days since epoch)
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class _Params:
    customers: int
    months: int
    as_of: date
    seed: int
    drift: float
    encoding: str


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


@dataclass(frozen=True)
class _Column:
    """One output column.

    kind: ``customer_id`` / ``txn_id`` / ``event_id`` (int64 numbers), ``text``
    (pyarrow strings), ``category`` (int codes into ``categories``), ``int`` (int64,
    -1 = missing), ``money`` (int64 cents), ``date`` (int32 days, min = missing),
    ``tenths`` (int64 tenths), ``bool`` (int8: -1 missing, 0, 1), ``prob`` (float64).
    """

    name: str
    kind: str
    categories: tuple[str, ...] = ()
