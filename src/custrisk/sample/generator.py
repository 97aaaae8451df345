"""Synthetic but realistic monthly exports: credit, transactions, behaviour, labels.

One latent risk per customer drives every observable field, each through its own
independent noise, so that combining the observed signals recovers most of the risk
(a good scorecard comes close to the generator's own ``true_pd``). Everything is drawn
from seeded numpy generators keyed by (seed, stream, chunk), so the same arguments give
byte-identical files whatever the machine, thread count or wall clock.

Transactions and behaviour events are generated and written one date range at a time
(a calendar month, split further for very large portfolios), so memory stays bounded
and each file is sorted by date. CSV text is built column-wise with pyarrow compute
kernels and written through :mod:`custrisk.io.atomic`.

``dirty=True`` injects realistic faults into the written files (never into the frames
returned by :func:`generate_frames`) and lists each one in ``faults.csv``.
"""

from __future__ import annotations

import calendar
import logging
import math
import numbers
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.errors import UsageError
from custrisk.io.atomic import atomic_open, ensure_dir

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_AS_OF",
    "ENCODINGS",
    "FAULT_KINDS",
    "SampleFrames",
    "SampleSummary",
    "generate_frames",
    "generate_sample_data",
    "resolve_as_of",
    "validate_options",
]

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

_NULL = -1  # missing value of a non-negative integer column
_NULL_DAY = np.iinfo(np.int32).min  # missing value of a date column (days since epoch)
_EPOCH = date(1970, 1, 1)


# --------------------------------------------------------------------------------------
# Public results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleSummary:
    """What :func:`generate_sample_data` wrote.

    Attributes
    ----------
    out_dir : Path
        The folder the files were written to.
    paths : Mapping[str, Path]
        File name (e.g. ``"credit.csv"``) to the path written, in writing order.
    rows : Mapping[str, int]
        File name to its number of data rows (header excluded, injected faulty rows
        included).
    customers : int
        Customers in the portfolio (rows of ``labels.csv``).
    bad_rate : float
        Share of customers with ``bad == 1``.
    as_of : date
        The export date used (see :func:`resolve_as_of`).
    seed, drift, encoding
        The seed, drift and (normalised) encoding used.
    faults : Mapping[str, int]
        Fault kind to the number injected; empty unless ``dirty=True``.
    """

    out_dir: Path
    paths: Mapping[str, Path]
    rows: Mapping[str, int]
    customers: int
    bad_rate: float
    as_of: date
    seed: int
    drift: float
    encoding: str
    faults: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("paths", "rows", "faults"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @property
    def n_faults(self) -> int:
        """Total number of injected faults (lines of ``faults.csv``)."""
        return sum(self.faults.values())


@dataclass(frozen=True)
class SampleFrames:
    """The clean tables, in memory, exactly as :func:`generate_sample_data` writes them.

    Identifiers, names and categories are strings; dates are ``datetime64[s]``; money
    is float with 2 decimals; integer columns with missing values are ``Int64`` and
    ``resolved`` is ``boolean``.
    """

    credit: pd.DataFrame
    transactions: pd.DataFrame
    behaviour: pd.DataFrame
    labels: pd.DataFrame
    ground_truth: pd.DataFrame
    as_of: date

    def tables(self) -> dict[str, pd.DataFrame]:
        """File name to frame, in the order the files are written."""
        return {
            CREDIT_FILE: self.credit,
            LABELS_FILE: self.labels,
            GROUND_TRUTH_FILE: self.ground_truth,
            TRANSACTIONS_FILE: self.transactions,
            BEHAVIOUR_FILE: self.behaviour,
        }


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Params:
    customers: int
    months: int
    as_of: date
    seed: int
    drift: float
    encoding: str


def resolve_as_of(as_of: date | None, drift: float) -> date:
    """The export date used when the caller gives ``as_of`` (or not).

    An explicit ``as_of`` is always used as given. Without one, a clean export is for
    2026-10-31 and a drifted export (``drift > 0``) stands for the following month's
    export, so its date is the last day of the next month, 2026-11-30.
    """
    if as_of is not None:
        return as_of
    if drift > 0:
        return _month_end(_add_months(DEFAULT_AS_OF, 1))
    return DEFAULT_AS_OF


def validate_options(
    *,
    customers: Any = 500,
    months: Any = 12,
    as_of: Any = None,
    seed: Any = 42,
    drift: Any = 0.0,
    encoding: Any = "utf-8",
    option_names: Mapping[str, str] | None = None,
) -> None:
    """Raise :class:`~custrisk.errors.UsageError` naming the first bad option.

    ``option_names`` maps a parameter to the name shown in the message (the CLI passes
    ``{"customers": "--customers", ...}``).
    """
    names = dict(option_names or {})

    def bad(param: str, value: Any, allowed: str) -> UsageError:
        label = names.get(param, f"'{param}'")
        return UsageError(f"{label} must be {allowed}; got {value!r}")

    if not _is_int(customers) or not 1 <= customers <= MAX_CUSTOMERS:
        raise bad("customers", customers, f"an integer from 1 to {MAX_CUSTOMERS}")
    if not _is_int(months) or not 1 <= months <= MAX_MONTHS:
        raise bad("months", months, f"an integer from 1 to {MAX_MONTHS}")
    if as_of is not None and (
        not isinstance(as_of, date) or not MIN_AS_OF <= _as_date(as_of) <= MAX_AS_OF
    ):
        raise bad("as_of", as_of, f"a date (YYYY-MM-DD) from {MIN_AS_OF} to {MAX_AS_OF}")
    if not _is_int(seed) or not 0 <= seed < 2**63:
        raise bad("seed", seed, "an integer from 0 to 2**63 - 1")
    if (
        isinstance(drift, bool)
        or not isinstance(drift, numbers.Real)
        or not math.isfinite(float(drift))
        or not 0 <= float(drift) <= MAX_DRIFT
    ):
        raise bad("drift", drift, f"a number from 0 to {MAX_DRIFT:g} (standard deviations of risk)")
    if _normalise_encoding(encoding) not in ENCODINGS:
        raise bad("encoding", encoding, "one of " + ", ".join(ENCODINGS))


def _as_date(value: date) -> date:
    # a datetime is a date too; compare and compute on its date part
    return date(value.year, value.month, value.day)


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _normalise_encoding(encoding: Any) -> str | None:
    if not isinstance(encoding, str):
        return None
    text = encoding.strip().lower().replace("_", "-")
    return {"utf8": "utf-8"}.get(text, text)


def _params(
    customers: int, months: int, as_of: date | None, seed: int, drift: float, encoding: str
) -> _Params:
    validate_options(
        customers=customers,
        months=months,
        as_of=as_of,
        seed=seed,
        drift=drift,
        encoding=encoding,
    )
    return _Params(
        customers=int(customers),
        months=int(months),
        as_of=resolve_as_of(None if as_of is None else _as_date(as_of), float(drift)),
        seed=int(seed),
        drift=float(drift),
        encoding=str(_normalise_encoding(encoding)),
    )


# --------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------


def generate_frames(
    *,
    customers: int = 500,
    months: int = 12,
    as_of: date | None = None,
    seed: int = 42,
    drift: float = 0.0,
) -> SampleFrames:
    """Generate the clean sample tables in memory, without writing anything.

    Takes the same arguments as :func:`generate_sample_data` and returns the same
    content that function writes in its clean mode.

    Returns
    -------
    SampleFrames
        credit, transactions, behaviour, labels and ground_truth frames.
    """
    params = _params(customers, months, as_of, seed, drift, "utf-8")
    portfolio = _make_portfolio(params)
    credit = _credit_chunk(params, portfolio)
    txn_chunks = list(_transaction_chunks(params, portfolio))
    event_chunks = list(_behaviour_chunks(params, portfolio))
    return SampleFrames(
        credit=_to_frame(_CREDIT_COLUMNS, [credit]),
        transactions=_to_frame(_TXN_COLUMNS, txn_chunks),
        behaviour=_to_frame(_EVENT_COLUMNS, event_chunks),
        labels=_to_frame(_LABEL_COLUMNS, [_label_chunk(portfolio)]),
        ground_truth=_to_frame(_TRUTH_COLUMNS, [_truth_chunk(portfolio)]),
        as_of=params.as_of,
    )


def generate_sample_data(
    out_dir: str | Path,
    *,
    customers: int = 500,
    months: int = 12,
    as_of: date | None = None,
    seed: int = 42,
    drift: float = 0.0,
    dirty: bool = False,
    encoding: str = "utf-8",
) -> SampleSummary:
    """Write a synthetic monthly export into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into; created if missing. Existing files of the same names are
        replaced atomically; a stale ``faults.csv`` is removed by a clean run.
    customers : int
        Number of customers (one ``credit.csv`` row each), 1 to 20,000,000.
    months : int
        Months of transactions and behaviour events before ``as_of``, 1 to 120.
    as_of : date, optional
        Export date: nothing happens after it. Default 2026-10-31, or 2026-11-30 when
        ``drift > 0`` (see :func:`resolve_as_of`).
    seed : int
        Seed of every random draw; the same arguments give byte-identical files.
    drift : float
        Distribution shift, 0 to 5: the latent risk mean moves up by ``drift``
        standard deviations, and incomes, bureau scores, utilisation, trade frequency
        and complaints shift beyond what that alone implies.
    dirty : bool
        Inject realistic faults into the written files and list them in ``faults.csv``.
    encoding : {"utf-8", "gbk"}
        Text encoding of the files (UTF-8 without BOM, or GBK).

    Returns
    -------
    SampleSummary
        Paths, row counts, bad rate, the ``as_of`` used and the faults injected.

    Raises
    ------
    UsageError
        A parameter is out of range, or ``out_dir`` is an existing file.
    """
    params = _params(customers, months, as_of, seed, drift, encoding)
    dirty = bool(dirty)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: the output folder is an existing file; give a folder path")
    ensure_dir(out)

    portfolio = _make_portfolio(params)
    files = [CREDIT_FILE, LABELS_FILE, GROUND_TRUTH_FILE, TRANSACTIONS_FILE, BEHAVIOUR_FILE]
    if dirty:
        files.append(FAULTS_FILE)
    faults: list[_FaultRecord] = []
    rows: dict[str, int] = {}
    with ExitStack() as stack:
        handles = {name: stack.enter_context(atomic_open(out / name, "wb")) for name in files}
        n_windows = len(_windows(params))
        jobs: list[tuple[str, tuple[_Column, ...], Iterator[dict[str, Any]], int]] = [
            (CREDIT_FILE, _CREDIT_COLUMNS, iter([_credit_chunk(params, portfolio)]), 1),
            (LABELS_FILE, _LABEL_COLUMNS, iter([_label_chunk(portfolio)]), 1),
            (GROUND_TRUTH_FILE, _TRUTH_COLUMNS, iter([_truth_chunk(portfolio)]), 1),
            (TRANSACTIONS_FILE, _TXN_COLUMNS, _transaction_chunks(params, portfolio), n_windows),
            (BEHAVIOUR_FILE, _EVENT_COLUMNS, _behaviour_chunks(params, portfolio), n_windows),
        ]
        for name, columns, chunks, n_chunks in jobs:
            writer = _CsvWriter(handles[name], columns, params.encoding)
            for index, chunk in enumerate(chunks):
                cells = _format_chunk(columns, chunk)
                if dirty and name in _FAULT_PLANS:
                    position = (index, n_chunks)
                    cells, records = _inject_faults(name, cells, chunk, params, position)
                    faults.extend(r.at_line(writer.rows + 2) for r in records)
                writer.write(cells)
            rows[name] = writer.rows
        if dirty:
            _write_faults(handles[FAULTS_FILE], faults, params.encoding)
            rows[FAULTS_FILE] = len(faults)
    if not dirty:
        stale = out / FAULTS_FILE
        if stale.exists():
            stale.unlink()
            logger.info("removed %s left by an earlier dirty run", stale)

    summary = SampleSummary(
        out_dir=out,
        paths={name: out / name for name in files},
        rows=rows,
        customers=params.customers,
        bad_rate=float(portfolio.bad.mean()),
        as_of=params.as_of,
        seed=params.seed,
        drift=params.drift,
        encoding=params.encoding,
        faults=dict(sorted(Counter(f.fault for f in faults).items())),
    )
    logger.info(
        "wrote %d customers to %s (bad rate %.3f, as of %s, %d faults)",
        summary.customers,
        out,
        summary.bad_rate,
        summary.as_of,
        summary.n_faults,
    )
    return summary


# --------------------------------------------------------------------------------------
# Dates and random streams
# --------------------------------------------------------------------------------------


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _days(day: date) -> int:
    return (day - _EPOCH).days


@dataclass(frozen=True)
class _Window:
    """A date range of activity, inclusive, as days since 1970-01-01."""

    first: int
    last: int
    recent: bool

    @property
    def days(self) -> int:
        return self.last - self.first + 1


def _windows(params: _Params) -> list[_Window]:
    """Month-long ranges ending at as_of, oldest first, split for large portfolios."""
    parts = max(1, math.ceil(params.customers / _CUSTOMERS_PER_CHUNK))
    windows = []
    for back in range(params.months, 0, -1):
        first = _days(_add_months(params.as_of, -back)) + 1
        last = _days(_add_months(params.as_of, -back + 1))
        bounds = np.linspace(first, last + 1, parts + 1).round().astype(np.int64)
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            if hi > lo:
                windows.append(_Window(int(lo), int(hi) - 1, back <= _RECENT_MONTHS))
    return windows


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# --------------------------------------------------------------------------------------
# The portfolio: latent risk and per-customer behaviour
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Portfolio:
    """Per-customer arrays (index = customer number - 1)."""

    risk: np.ndarray
    true_pd: np.ndarray
    bad: np.ndarray
    region: np.ndarray
    industry: np.ndarray
    # transactions
    txn_rate: np.ndarray  # expected transactions per month
    recent_factor: np.ndarray  # activity multiplier in the last 3 months
    txn_type_cum: np.ndarray  # cumulative probabilities of order, payment, refund
    log_amount: np.ndarray
    txn_channel: np.ndarray
    payment_term: np.ndarray
    late_logit: np.ndarray
    late_scale: np.ndarray
    never_pay: np.ndarray
    # behaviour
    event_rate: np.ndarray
    event_type_cum: np.ndarray  # cumulative probabilities of contact, complaint, follow_up
    event_channel: np.ndarray
    log_response: np.ndarray
    resolve_logit: np.ndarray
    satisfaction_mean: np.ndarray
    # credit inputs shared with transactions
    log_income: np.ndarray


def _centred(effects: Sequence[float], shares: Sequence[float]) -> np.ndarray:
    values = np.asarray(effects, dtype=np.float64)
    return values - float(np.dot(values, shares))


def _make_portfolio(params: _Params) -> _Portfolio:
    rng = _rng(params.seed, _STREAM_PORTFOLIO)
    n = params.customers
    drift = params.drift

    region = rng.choice(len(REGIONS), size=n, p=_REGION_SHARE).astype(np.int8)
    industry = rng.choice(len(INDUSTRIES), size=n, p=_INDUSTRY_SHARE).astype(np.int8)
    risk = (
        0.95 * rng.standard_normal(n)
        + _centred(_REGION_RISK, _REGION_SHARE)[region]
        + _centred(_INDUSTRY_RISK, _INDUSTRY_SHARE)[industry]
        + drift
    )
    logit = _PD_INTERCEPT + _PD_SLOPE * risk + _PD_TAIL * np.maximum(risk - 1.0, 0.0) ** 2
    true_pd = _sigmoid(logit)
    bad = (rng.random(n) < true_pd).astype(np.int8)

    def noise() -> np.ndarray:
        return rng.standard_normal(n)

    log_income = np.log(180_000.0) - 0.3 * risk - 0.5 * drift + 0.45 * noise()

    # Trade: frequency varies a lot by customer; risky customers trade less lately.
    spread = 0.7
    txn_rate = _TXNS_PER_MONTH * np.exp(spread * noise() - spread**2 / 2 - 0.6 * drift)
    recent_factor = np.exp(-0.40 * (risk - drift) - 0.08 - 0.35 * noise())
    p_refund = np.minimum(0.035 * np.exp(0.35 * risk + 0.40 * noise()), 0.15)
    p_chargeback = np.minimum(0.008 * np.exp(0.70 * risk + 0.40 * noise()), 0.10)
    p_payment = np.clip(0.38 * np.exp(-0.12 * risk + 0.10 * noise()), 0.2, 0.5)
    p_order = 1.0 - p_payment - p_refund - p_chargeback
    txn_type_cum = np.cumsum(np.stack([p_order, p_payment, p_refund], axis=1), axis=1)
    log_amount = np.log(3_000.0) + 0.4 * (log_income - np.log(180_000.0)) + 0.5 * noise()
    txn_channel = rng.choice(len(TXN_CHANNELS), size=n, p=_TXN_CHANNEL_SHARE).astype(np.int8)
    payment_term = rng.choice(_PAYMENT_TERMS, size=n, p=_PAYMENT_TERM_SHARE).astype(np.int16)
    late_logit = -1.5 + 1.1 * risk + 0.3 * noise()
    late_scale = np.exp(2.2 + 0.4 * risk + 0.3 * noise())
    never_pay = _sigmoid(-5.0 + 1.3 * risk + 0.5 * noise())

    # Service: complaints up and follow-ups down with risk.
    event_rate = _EVENTS_PER_MONTH * np.exp(0.6 * noise() - 0.18)
    p_complaint = 0.10 * np.exp(0.45 * risk + 0.5 * drift + 0.35 * noise())
    p_follow_up = 0.22 * np.exp(-0.30 * risk + 0.30 * noise())
    p_feedback = np.full(n, 0.18)
    scale = np.minimum(1.0, 0.9 / (p_complaint + p_follow_up + p_feedback))
    p_complaint, p_follow_up, p_feedback = (
        p * scale for p in (p_complaint, p_follow_up, p_feedback)
    )
    p_contact = 1.0 - p_complaint - p_follow_up - p_feedback
    event_type_cum = np.cumsum(np.stack([p_contact, p_complaint, p_follow_up], axis=1), axis=1)
    event_channel = rng.choice(len(EVENT_CHANNELS), size=n, p=_EVENT_CHANNEL_SHARE).astype(np.int8)
    log_response = np.log(6.0) + 0.20 * risk + 0.30 * noise()
    resolve_logit = 1.5 - 0.70 * risk + 0.50 * noise()
    satisfaction_mean = 3.9 - 0.45 * risk + 0.40 * noise()

    return _Portfolio(
        risk=risk,
        true_pd=true_pd,
        bad=bad,
        region=region,
        industry=industry,
        txn_rate=txn_rate,
        recent_factor=recent_factor,
        txn_type_cum=txn_type_cum,
        log_amount=log_amount,
        txn_channel=txn_channel,
        payment_term=payment_term,
        late_logit=late_logit,
        late_scale=late_scale,
        never_pay=never_pay,
        event_rate=event_rate,
        event_type_cum=event_type_cum,
        event_channel=event_channel,
        log_response=log_response,
        resolve_logit=resolve_logit,
        satisfaction_mean=satisfaction_mean,
        log_income=log_income,
    )


# --------------------------------------------------------------------------------------
# Tables (typed chunks: numpy arrays, or pyarrow strings for text)
# --------------------------------------------------------------------------------------


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


_CREDIT_COLUMNS = (
    _Column("customer_id", "customer_id"),
    _Column("name", "text"),
    _Column("phone", "text"),
    _Column("id_number", "text"),
    _Column("region", "category", REGIONS),
    _Column("industry", "category", INDUSTRIES),
    _Column("customer_since", "date"),
    _Column("bureau_score", "int"),
    _Column("bureau_score_3m_ago", "int"),
    _Column("annual_income", "money"),
    _Column("credit_limit", "money"),
    _Column("outstanding_balance", "money"),
    _Column("overdue_amount", "money"),
    _Column("max_days_past_due_12m", "int"),
    _Column("num_credit_lines", "int"),
)
_TXN_COLUMNS = (
    _Column("txn_id", "txn_id"),
    _Column("customer_id", "customer_id"),
    _Column("txn_date", "date"),
    _Column("amount", "money"),
    _Column("txn_type", "category", TXN_TYPES),
    _Column("channel", "category", TXN_CHANNELS),
    _Column("due_date", "date"),
    _Column("paid_date", "date"),
)
_EVENT_COLUMNS = (
    _Column("event_id", "event_id"),
    _Column("customer_id", "customer_id"),
    _Column("event_date", "date"),
    _Column("event_type", "category", EVENT_TYPES),
    _Column("channel", "category", EVENT_CHANNELS),
    _Column("response_hours", "tenths"),
    _Column("resolved", "bool"),
    _Column("satisfaction", "int"),
)
_LABEL_COLUMNS = (_Column("customer_id", "customer_id"), _Column("bad", "int"))
_TRUTH_COLUMNS = (_Column("customer_id", "customer_id"), _Column("true_pd", "prob"))


def _credit_chunk(params: _Params, portfolio: _Portfolio) -> dict[str, Any]:
    rng = _rng(params.seed, _STREAM_CREDIT)
    n = params.customers
    risk = portfolio.risk
    drift = params.drift
    as_of = _days(params.as_of)

    def noise() -> np.ndarray:
        return rng.standard_normal(n)

    # Identity: age 22-65, sex from the id sequence digit, birth place in the region.
    age_years = 22.0 + 43.0 * rng.beta(2.0, 2.5, size=n)
    birth = as_of - np.round(age_years * 365.25).astype(np.int64)
    sequence = rng.integers(0, 1000, size=n)
    male = sequence % 2 == 1
    code_index = rng.random(n)
    region_code = np.empty(n, dtype=np.int64)
    for index, codes in enumerate(_REGION_CODES):
        here = portfolio.region == index
        region_code[here] = np.asarray(codes)[(code_index[here] * len(codes)).astype(np.int64)]
    id_number = _id_numbers(region_code, birth, sequence)
    name = _names(rng, male)
    prefix = np.asarray(_PHONE_PREFIXES, dtype=np.int64)[
        rng.integers(0, len(_PHONE_PREFIXES), size=n)
    ]
    phone = pa.array(prefix * 100_000_000 + rng.integers(0, 100_000_000, size=n)).cast(pa.string())

    # Relationship: longer tenure for safer customers, never before age 18.
    tenure_years = np.exp(np.log(3.5) - 0.15 * risk + 0.6 * noise())
    oldest = (as_of - _days(_FIRST_CUSTOMER_SINCE)) / 365.25 - 0.01
    tenure_years = np.minimum(tenure_years, np.minimum(age_years - 18.0, oldest))
    customer_since = as_of - np.round(tenure_years * 365.25).astype(np.int64)

    # Bureau: lower and falling for risky customers; ~5 % have no bureau record.
    bureau = np.clip(np.round(660 - 55 * risk - 40 * drift + 24 * noise()), 300, 900)
    change = np.round(10.0 * risk + 25.0 * drift + 9.0 * noise())
    bureau_3m = np.clip(bureau + change, 300, 900)
    no_record = rng.random(n) < _sigmoid(-3.0 + 0.3 * risk)
    bureau = np.where(no_record, _NULL, bureau).astype(np.int64)
    bureau_3m = np.where(no_record, _NULL, bureau_3m).astype(np.int64)

    # Exposure: limit from income, utilisation and arrears driven by risk.
    income_cents = np.round(np.exp(portfolio.log_income) * 100).astype(np.int64)
    limit_yuan = np.exp(portfolio.log_income) * 0.30 * np.exp(-0.15 * risk + 0.35 * noise())
    limit_cents = np.maximum(np.round(limit_yuan / 1000.0), 5) * 100_000
    utilisation = 1.15 * _sigmoid(-0.7 + 1.0 * risk + 0.6 * drift + 0.4 * noise())
    outstanding = np.round(limit_cents * utilisation).astype(np.int64)
    has_overdue = rng.random(n) < _sigmoid(-2.4 + 1.2 * risk + 0.6 * noise())
    overdue_share = rng.beta(1.2, 5.0, size=n)
    overdue = np.where(has_overdue, np.floor(outstanding * overdue_share), 0).astype(np.int64)
    has_dpd = rng.random(n) < _sigmoid(-1.4 + 1.4 * risk + 0.4 * noise())
    dpd_days = np.clip(np.round(np.exp(2.3 + 0.6 * risk + 0.5 * noise())), 1, 366)
    max_dpd = np.where(has_dpd, dpd_days, 0)
    max_dpd = np.where((overdue > 0) & (max_dpd == 0), 1 + rng.integers(0, 30, size=n), max_dpd)
    lines = 1 + rng.poisson(np.exp(0.8 + 0.18 * risk + 0.3 * noise()))

    return {
        "customer_id": np.arange(1, n + 1, dtype=np.int64),
        "name": name,
        "phone": phone,
        "id_number": id_number,
        "region": portfolio.region,
        "industry": portfolio.industry,
        "customer_since": customer_since.astype(np.int32),
        "bureau_score": bureau,
        "bureau_score_3m_ago": bureau_3m,
        "annual_income": income_cents,
        "credit_limit": limit_cents.astype(np.int64),
        "outstanding_balance": outstanding,
        "overdue_amount": overdue,
        "max_days_past_due_12m": max_dpd.astype(np.int64),
        "num_credit_lines": np.minimum(lines, 200).astype(np.int64),
    }


def _id_numbers(region_code: np.ndarray, birth: np.ndarray, sequence: np.ndarray) -> pa.Array:
    """18-digit resident ids with a GB 11643-1999 (ISO 7064 MOD 11-2) check digit."""
    day = birth.astype("datetime64[D]")
    month = day.astype("datetime64[M]")
    year = month.astype("datetime64[Y]")
    yyyymmdd = (
        (year.astype(np.int64) + 1970) * 10000
        + ((month - year).astype(np.int64) + 1) * 100
        + (day - month).astype(np.int64)
        + 1
    )
    body = region_code * 10**11 + yyyymmdd * 1000 + sequence
    digits = (body[:, None] // 10 ** np.arange(16, -1, -1, dtype=np.int64)) % 10
    check = (digits @ _ID_WEIGHTS) % 11
    check_chars = pa.array(list(_ID_CHECK_CHARS)).take(pa.array(check))
    return pc.binary_join_element_wise(pa.array(body).cast(pa.string()), check_chars, "")


def _names(rng: np.random.Generator, male: np.ndarray) -> pa.Array:
    n = len(male)
    surnames = pa.array(list(_SURNAMES))
    ranks = np.arange(1, len(_SURNAMES) + 1, dtype=np.float64)
    weights = 1.0 / ranks**0.8
    surname = surnames.take(pa.array(rng.choice(len(_SURNAMES), size=n, p=weights / weights.sum())))
    pool = pa.array(list(_GIVEN_MALE + _GIVEN_FEMALE))
    n_male = len(_GIVEN_MALE)
    n_female = len(_GIVEN_FEMALE)

    def given() -> pa.Array:
        pick = np.where(
            male, rng.integers(0, n_male, size=n), n_male + rng.integers(0, n_female, size=n)
        )
        return pool.take(pa.array(pick))

    first, second = given(), given()
    two = rng.random(n) < 0.7
    second = pc.if_else(pa.array(two), second, pa.scalar(""))
    return pc.binary_join_element_wise(surname, first, second, "")


def _label_chunk(portfolio: _Portfolio) -> dict[str, Any]:
    n = len(portfolio.bad)
    return {
        "customer_id": np.arange(1, n + 1, dtype=np.int64),
        "bad": portfolio.bad.astype(np.int64),
    }


def _truth_chunk(portfolio: _Portfolio) -> dict[str, Any]:
    n = len(portfolio.true_pd)
    return {"customer_id": np.arange(1, n + 1, dtype=np.int64), "true_pd": portfolio.true_pd}


def _draw_categories(rng: np.random.Generator, cum: np.ndarray) -> np.ndarray:
    """One category per row from per-row cumulative probabilities (last one implicit)."""
    return (rng.random(len(cum))[:, None] >= cum).sum(axis=1).astype(np.int8)


def _transaction_chunks(params: _Params, portfolio: _Portfolio) -> Iterator[dict[str, Any]]:
    """Transactions one date range at a time, sorted by date then customer."""
    as_of = _days(params.as_of)
    next_id = 1
    for index, window in enumerate(_windows(params)):
        rng = _rng(params.seed, _STREAM_TRANSACTIONS, index)
        expected = portfolio.txn_rate * (window.days / _DAYS_PER_MONTH)
        if window.recent:
            expected = expected * portfolio.recent_factor
        counts = rng.poisson(expected)
        customer = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        day = window.first + rng.integers(0, window.days, size=len(customer))
        order = np.lexsort((customer, day))
        customer, day = customer[order], day[order]
        size = len(customer)

        txn_type = _draw_categories(rng, portfolio.txn_type_cum[customer])
        type_scale = np.array([1.0, 1.05, 0.35, 0.6])[txn_type]
        log_amount = portfolio.log_amount[customer] + 0.7 * rng.standard_normal(size)
        amount = np.maximum(np.round(np.exp(log_amount) * type_scale * 100), 1).astype(np.int64)
        usual = rng.random(size) < 0.7
        other_channel = rng.choice(len(TXN_CHANNELS), size=size, p=_TXN_CHANNEL_SHARE)
        channel = np.where(usual, portfolio.txn_channel[customer], other_channel).astype(np.int8)

        is_order = txn_type == 0
        usual_term = rng.random(size) < 0.8
        other_term = rng.choice(_PAYMENT_TERMS, size=size, p=_PAYMENT_TERM_SHARE)
        term = np.where(usual_term, portfolio.payment_term[customer], other_term)
        due = day + term
        late = rng.random(size) < _sigmoid(portfolio.late_logit[customer])
        days_late = 1 + np.floor(rng.exponential(1.0, size) * portfolio.late_scale[customer])
        days_early = np.floor(rng.random(size) * term * 0.9)
        paid = due + np.where(late, np.minimum(days_late, 400), -days_early).astype(np.int64)
        unpaid = (rng.random(size) < portfolio.never_pay[customer]) | (paid > as_of)

        yield {
            "txn_id": np.arange(next_id, next_id + size, dtype=np.int64),
            "customer_id": customer + 1,
            "txn_date": day.astype(np.int32),
            "amount": amount,
            "txn_type": txn_type,
            "channel": channel,
            "due_date": np.where(is_order, due, _NULL_DAY).astype(np.int32),
            "paid_date": np.where(is_order & ~unpaid, paid, _NULL_DAY).astype(np.int32),
        }
        next_id += size


def _behaviour_chunks(params: _Params, portfolio: _Portfolio) -> Iterator[dict[str, Any]]:
    """Service events one date range at a time, sorted by date then customer."""
    next_id = 1
    for index, window in enumerate(_windows(params)):
        rng = _rng(params.seed, _STREAM_BEHAVIOUR, index)
        counts = rng.poisson(portfolio.event_rate * (window.days / _DAYS_PER_MONTH))
        customer = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        day = window.first + rng.integers(0, window.days, size=len(customer))
        order = np.lexsort((customer, day))
        customer, day = customer[order], day[order]
        size = len(customer)

        event_type = _draw_categories(rng, portfolio.event_type_cum[customer])
        usual = rng.random(size) < 0.6
        other_channel = rng.choice(len(EVENT_CHANNELS), size=size, p=_EVENT_CHANNEL_SHARE)
        channel = np.where(usual, portfolio.event_channel[customer], other_channel).astype(np.int8)
        hours = np.exp(portfolio.log_response[customer] + 1.0 * rng.standard_normal(size))
        tenths = np.minimum(np.round(hours * 10), 87_600).astype(np.int64)
        resolved = rng.random(size) < _sigmoid(portfolio.resolve_logit[customer])
        satisfaction = np.clip(
            np.round(portfolio.satisfaction_mean[customer] + 0.8 * rng.standard_normal(size)), 1, 5
        )
        yield {
            "event_id": np.arange(next_id, next_id + size, dtype=np.int64),
            "customer_id": customer + 1,
            "event_date": day.astype(np.int32),
            "event_type": event_type,
            "channel": channel,
            "response_hours": tenths,
            "resolved": np.where(event_type == 1, resolved, -1).astype(np.int8),
            "satisfaction": np.where(event_type == 3, satisfaction, _NULL).astype(np.int64),
        }
        next_id += size


# --------------------------------------------------------------------------------------
# Typed chunks -> frames
# --------------------------------------------------------------------------------------


def _to_frame(columns: Sequence[_Column], chunks: Sequence[dict[str, Any]]) -> pd.DataFrame:
    data: dict[str, Any] = {}
    for column in columns:
        parts = [chunk[column.name] for chunk in chunks]
        if column.kind == "text":
            values = pa.chunked_array(parts, type=pa.string()).to_pandas()
            data[column.name] = values.astype("str")
            continue
        array = np.concatenate(parts) if parts else np.array([], dtype=np.int64)
        data[column.name] = _to_series(column, array)
    return pd.DataFrame(data)


def _to_series(column: _Column, array: np.ndarray) -> pd.Series:
    kind = column.kind
    if kind in ("customer_id", "txn_id", "event_id", "category"):
        return pd.Series(_format_column(column, array).to_pandas(), dtype="str")
    if kind == "int":
        integers = pd.array(array, dtype="Int64")
        integers[array == _NULL] = pd.NA
        return pd.Series(integers)
    if kind == "money":
        return pd.Series(array / 100.0)
    if kind == "tenths":
        return pd.Series(array / 10.0)
    if kind == "date":
        days = np.where(array == _NULL_DAY, 0, array).astype("datetime64[D]")
        dates = np.where(array == _NULL_DAY, np.datetime64("NaT"), days)
        return pd.Series(dates.astype("datetime64[s]"))
    if kind == "bool":
        flags = pd.array(array == 1, dtype="boolean")
        flags[array < 0] = pd.NA
        return pd.Series(flags)
    if kind == "prob":
        return pd.Series(np.round(array, 6))
    raise AssertionError(f"unknown column kind {kind!r}")


# --------------------------------------------------------------------------------------
# Typed chunks -> CSV text
# --------------------------------------------------------------------------------------

_ID_FORMATS = {"customer_id": ("", 10), "txn_id": ("T", 12), "event_id": ("E", 12)}


def _format_ids(kind: str, numbers: np.ndarray) -> pa.Array:
    prefix, width = _ID_FORMATS[kind]
    text = pc.utf8_lpad(pa.array(numbers, pa.int64()).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, text, "") if prefix else text


def _format_fixed(scaled: np.ndarray, decimals: int) -> pa.Array:
    """Non-negative integers in units of 10**-decimals, as fixed-point text."""
    whole, fraction = np.divmod(scaled, 10**decimals)
    return pc.binary_join_element_wise(
        pa.array(whole).cast(pa.string()),
        pc.utf8_lpad(pa.array(fraction).cast(pa.string()), width=decimals, padding="0"),
        ".",
    )


def _format_column(column: _Column, values: Any) -> pa.Array:
    kind = column.kind
    if kind in _ID_FORMATS:
        return _format_ids(kind, values)
    if kind == "text":
        return values
    if kind == "category":
        return pa.array(column.categories).take(pa.array(values))
    if kind == "int":
        text = pa.array(values, mask=values == _NULL).cast(pa.string())
        return pc.fill_null(text, "")
    if kind == "money":
        return _format_fixed(values, 2)
    if kind == "tenths":
        return _format_fixed(values, 1)
    if kind == "date":
        text = pa.array(values, type=pa.date32(), mask=values == _NULL_DAY).cast(pa.string())
        return pc.fill_null(text, "")
    if kind == "bool":
        return pa.array(["", "false", "true"]).take(pa.array(values.astype(np.int64) + 1))
    if kind == "prob":
        return _format_fixed(np.round(values * 1e6).astype(np.int64), 6)
    raise AssertionError(f"unknown column kind {kind!r}")


def _format_chunk(columns: Sequence[_Column], chunk: Mapping[str, Any]) -> dict[str, pa.Array]:
    """Column name to its CSV cells (already CSV-escaped; none need quoting)."""
    return {column.name: _format_column(column, chunk[column.name]) for column in columns}


def _csv_cell(text: str) -> str:
    """Quote a cell only when CSV needs it (RFC 4180)."""
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


class _CsvWriter:
    """Writes a header and then rows of pre-escaped cells; counts data rows."""

    def __init__(self, handle: IO[bytes], columns: Sequence[_Column], encoding: str) -> None:
        self._handle = handle
        self._encoding = encoding
        self.rows = 0
        self._write_bytes(",".join(column.name for column in columns).encode() + b"\n")

    def write(self, cells: Mapping[str, pa.Array]) -> None:
        arrays = list(cells.values())
        size = len(arrays[0]) if arrays else 0
        for start in range(0, size, _ROWS_PER_WRITE):
            part = [array.slice(start, _ROWS_PER_WRITE) for array in arrays]
            line = pc.binary_join_element_wise(*part, ",")
            line = pc.binary_join_element_wise(line, "", "\n")
            self._write_bytes(_string_bytes(line))
        self.rows += size

    def _write_bytes(self, data: bytes | pa.Buffer) -> None:
        if self._encoding != "utf-8":
            raw = data.to_pybytes() if isinstance(data, pa.Buffer) else data
            if not raw.isascii():
                data = raw.decode("utf-8").encode(self._encoding)
        self._handle.write(data)


def _string_bytes(array: pa.Array) -> pa.Buffer:
    """The concatenated UTF-8 bytes of a string array without nulls."""
    assert pa.types.is_string(array.type) and array.null_count == 0
    if len(array) == 0:
        return pa.py_buffer(b"")
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)
    start = int(offsets[array.offset])
    stop = int(offsets[array.offset + len(array)])
    return array.buffers()[2].slice(start, stop - start)


# --------------------------------------------------------------------------------------
# Fault injection (dirty mode)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FaultRecord:
    file: str
    line: int  # 0-based row in its chunk until at_line() makes it a physical line
    column: str
    fault: str
    expected_action: str

    def at_line(self, first_line: int) -> _FaultRecord:
        return _FaultRecord(
            self.file, first_line + self.line, self.column, self.fault, self.expected_action
        )


@dataclass
class _Insert:
    after: int  # inserted right after this original row
    cells: dict[str, str]
    column: str
    fault: str
    action: str


class _Editor:
    """Collects cell edits and inserted rows for one chunk, each fault on its own row."""

    def __init__(self, file: str, cells: dict[str, pa.Array], rng: np.random.Generator) -> None:
        self.file = file
        self.cells = cells
        self.rng = rng
        self.size = len(next(iter(cells.values())))
        self.taken = np.zeros(self.size, dtype=bool)
        # row -> (column, raw text, column reported, fault, expected action)
        self.edits: dict[int, tuple[str, str, str, str, str]] = {}
        self.inserts: list[_Insert] = []

    def pick(self, count: int, eligible: np.ndarray | None = None) -> list[int]:
        """Up to ``count`` untouched rows (among ``eligible``), now reserved."""
        free = ~self.taken if eligible is None else eligible & ~self.taken
        candidates = np.flatnonzero(free)
        count = min(count, len(candidates))
        if count == 0:
            return []
        rows = np.sort(self.rng.choice(candidates, size=count, replace=False))
        self.taken[rows] = True
        return [int(row) for row in rows]

    def value(self, row: int, column: str) -> str:
        return str(self.cells[column][row].as_py())

    def row(self, row: int) -> dict[str, str]:
        return {name: str(array[row].as_py()) for name, array in self.cells.items()}

    def edit(
        self,
        row: int,
        column: str,
        raw: str,
        fault: str,
        action: str = "dropped",
        *,
        report_column: str | None = None,
    ) -> None:
        """Replace one cell with ``raw`` (CSV text, already quoted if it needs to be)."""
        reported = column if report_column is None else report_column
        self.edits[row] = (column, raw, reported, fault, action)

    def insert(self, after_at_least: int, cells: dict[str, str], column: str, fault: str) -> None:
        after = int(self.rng.integers(after_at_least, self.size))
        self.inserts.append(_Insert(after, cells, column, fault, "dropped"))

    def build(self) -> tuple[dict[str, pa.Array], list[_FaultRecord]]:
        names = list(self.cells)
        edited = {}
        for name in names:
            rows = [row for row, edit in self.edits.items() if edit[0] == name]
            array = self.cells[name]
            if rows:
                positions = np.arange(self.size)
                positions[rows] = self.size + np.arange(len(rows))
                extra = pa.array([self.edits[row][1] for row in rows], pa.string())
                array = pa.concat_arrays([array, extra]).take(pa.array(positions))
            extra_rows = pa.array([insert.cells[name] for insert in self.inserts], pa.string())
            edited[name] = pa.concat_arrays([array, extra_rows])
        # Final order: originals in order, each insert right after its anchor row.
        anchor = np.concatenate(
            [np.arange(self.size), np.array([i.after for i in self.inserts], dtype=np.int64)]
        )
        tie = np.concatenate([np.zeros(self.size), np.arange(1, len(self.inserts) + 1)])
        order = np.lexsort((tie, anchor))
        take = pa.array(order)
        result = {name: array.take(take) for name, array in edited.items()}
        position = np.empty(len(order), dtype=np.int64)
        position[order] = np.arange(len(order))
        records = [
            _FaultRecord(self.file, int(position[row]), column, fault, action)
            for row, (_column, _raw, column, fault, action) in self.edits.items()
        ]
        records += [
            _FaultRecord(self.file, int(position[self.size + k]), i.column, i.fault, i.action)
            for k, i in enumerate(self.inserts)
        ]
        return result, sorted(records, key=lambda r: r.line)


_MALFORMED_NUMBERS = ("12,3a4", "N/A", "--", "1.2.3", "12O0.50")
_FORMULAS = ('=HYPERLINK("http://x")', "=1+2", "@SUM(A1:A9)", "+cmd|' /C calc'!A0")
_PADDINGS = (("  ", " "), ("\t", ""), ("", "\t"), (" ", ""), ("", "  "))


def _fault_count(rows: int) -> int:
    return max(2, math.ceil(rows / _FAULT_EVERY))


def _cycle(options: Sequence[str], index: int) -> str:
    return options[index % len(options)]


def _unknown_customer(rng: np.random.Generator) -> str:
    # Above any real customer number (at most MAX_CUSTOMERS) and any spare credit row.
    return f"{int(rng.integers(9_000_000_000, 10_000_000_000)):010d}"


def _impossible_date(valid: str, index: int) -> str:
    year = valid[:4] if len(valid) >= 4 and valid[:4].isdigit() else "2025"
    return _cycle((f"{year}-02-30", f"{year}-13-01", f"{year}-04-31", f"{year}-00-10"), index)


def _faults_per_chunk(name: str, params: _Params, index: int, chunks: int) -> int:
    """How many faults of each kind go into chunk ``index`` of ``chunks`` of ``name``.

    The file gets one per ``_FAULT_EVERY`` expected rows and at least 2, spread evenly
    over its chunks (credit is a single chunk).
    """
    per_customer = {
        CREDIT_FILE: 1.0,
        TRANSACTIONS_FILE: _TXNS_PER_MONTH * params.months,
        BEHAVIOUR_FILE: _EVENTS_PER_MONTH * params.months,
    }[name]
    total = _fault_count(round(params.customers * per_customer))
    return (index + 1) * total // chunks - index * total // chunks


def _inject_faults(
    name: str,
    cells: dict[str, pa.Array],
    chunk: Mapping[str, Any],
    params: _Params,
    position: tuple[int, int],
) -> tuple[dict[str, pa.Array], list[_FaultRecord]]:
    """Faults for chunk ``position = (index, chunks)`` of file ``name``.

    Returns the edited cells and one record per fault (rows counted from 0 in this
    chunk). Faults are drawn from their own random stream, so a dirty export holds the
    same data as a clean one apart from the faults.
    """
    index, chunks = position
    size = len(next(iter(cells.values())))
    count = _faults_per_chunk(name, params, index, chunks)
    if size == 0 or count == 0:
        return cells, []
    rng = _rng(params.seed, _STREAM_FAULTS, _FAULT_PLAN_ORDER.index(name), index)
    editor = _Editor(name, cells, rng)
    _FAULT_PLANS[name](editor, chunk, count, params)
    return editor.build()


def _padded(editor: _Editor, row: int, column: str) -> str:
    before, after = _PADDINGS[int(editor.rng.integers(0, len(_PADDINGS)))]
    return before + editor.value(row, column) + after


def _common_faults(editor: _Editor, count: int, key: str) -> None:
    """Faults shared by transactions and behaviour (rows of a customer's activity)."""
    rng = editor.rng
    for row in editor.pick(count):  # exact duplicates: a later copy of an untouched row
        editor.insert(row, editor.row(row), key, "duplicate_row")
    for row in editor.pick(count):
        column = (key, "customer_id")[int(rng.integers(0, 2))]
        editor.edit(row, column, _padded(editor, row, column), "whitespace_id", "repaired")
    for row in editor.pick(count):
        editor.edit(row, "customer_id", _unknown_customer(rng), "orphan")
    last = list(editor.cells)[-1]
    for row in editor.pick(count):
        raw = editor.value(row, last) + ",note"
        editor.edit(row, last, raw, "too_many_fields", report_column="")
    for row in editor.pick(count):
        editor.edit(row, "customer_id", "", "blank_required")


def _transaction_faults(
    editor: _Editor, chunk: Mapping[str, Any], count: int, params: _Params
) -> None:
    _common_faults(editor, count, "txn_id")
    not_order = np.asarray(chunk["txn_type"]) != 0
    # Dates go wrong only on rows without due/paid dates, so no date check is involved.
    for row in editor.pick(count, not_order):
        editor.edit(row, "txn_date", "", "blank_required")
    for i, row in enumerate(editor.pick(count, not_order)):
        raw = _impossible_date(editor.value(row, "txn_date"), i)
        editor.edit(row, "txn_date", raw, "impossible_date")
    for row in editor.pick(count):
        editor.edit(row, "amount", "", "blank_required")
    for i, row in enumerate(editor.pick(count)):
        editor.edit(row, "amount", _csv_cell(_cycle(_MALFORMED_NUMBERS, i)), "malformed_number")
    for row in editor.pick(count):
        editor.edit(row, "amount", "-" + editor.value(row, "amount"), "negative_amount")
    paid = np.asarray(chunk["paid_date"]) != _NULL_DAY
    for row in editor.pick(count, paid):
        txn_day = int(chunk["txn_date"][row])
        early = txn_day - int(editor.rng.integers(1, 21))
        editor.edit(row, "paid_date", _date_text(early), "paid_before_txn")


def _behaviour_faults(
    editor: _Editor, chunk: Mapping[str, Any], count: int, params: _Params
) -> None:
    _common_faults(editor, count, "event_id")
    for row in editor.pick(count):
        editor.edit(row, "event_date", "", "blank_required")
    for i, row in enumerate(editor.pick(count)):
        raw = _impossible_date(editor.value(row, "event_date"), i)
        editor.edit(row, "event_date", raw, "impossible_date")


def _credit_faults(editor: _Editor, chunk: Mapping[str, Any], count: int, params: _Params) -> None:
    """Credit faults. A dropped credit row would orphan all of that customer's activity
    (a second, unlisted fault), so faults that drop a row go on spare rows for customer
    numbers beyond the portfolio; only the repairable fault touches real customers."""
    rng = editor.rng
    spare_id = params.customers + 1

    def spare(template: int) -> dict[str, str]:
        nonlocal spare_id
        cells = editor.row(template)
        cells["customer_id"] = f"{spare_id:010d}"
        spare_id += 1
        return cells

    for row in editor.pick(count):
        editor.insert(row, editor.row(row), "customer_id", "duplicate_row")
    for row in editor.pick(count if editor.size > 1 else 0):
        template = int(rng.integers(0, editor.size - 1))
        template += template >= row  # any other customer's details
        cells = editor.row(template)
        cells["customer_id"] = editor.value(row, "customer_id")
        editor.insert(row, cells, "customer_id", "duplicate_key")
    for row in editor.pick(count):
        raw = _padded(editor, row, "customer_id")
        editor.edit(row, "customer_id", raw, "whitespace_id", "repaired")
    anchors = rng.integers(0, editor.size, size=3 * count)
    for i in range(count):
        cells = spare(int(anchors[i]))
        cells["customer_id"] = ""
        editor.insert(0, cells, "customer_id", "blank_required")
    for i in range(count):
        cells = spare(int(anchors[count + i]))
        cells["credit_limit"] = _csv_cell(_cycle(_MALFORMED_NUMBERS, i))
        editor.insert(0, cells, "credit_limit", "malformed_number")
    for i in range(count):
        cells = spare(int(anchors[2 * count + i]))
        cells["name"] = _csv_cell(_cycle(_FORMULAS, i))
        editor.insert(0, cells, "name", "formula_injection")


_FAULT_PLANS = {
    CREDIT_FILE: _credit_faults,
    TRANSACTIONS_FILE: _transaction_faults,
    BEHAVIOUR_FILE: _behaviour_faults,
}
_FAULT_PLAN_ORDER = tuple(_FAULT_PLANS)


def _date_text(days: int) -> str:
    return str(np.datetime64(days, "D"))


def _write_faults(handle: IO[bytes], faults: Sequence[_FaultRecord], encoding: str) -> None:
    lines = ["file,line,column,fault,expected_action"]
    for f in sorted(faults, key=lambda f: (_FAULT_PLAN_ORDER.index(f.file), f.line)):
        lines.append(f"{f.file},{f.line},{f.column},{f.fault},{f.expected_action}")
    handle.write(("\n".join(lines) + "\n").encode(encoding))
