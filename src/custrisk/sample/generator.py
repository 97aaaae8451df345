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
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.errors import UsageError
from custrisk.io.atomic import atomic_open, ensure_dir
from custrisk.sample._base import (
    _CUSTOMERS_PER_CHUNK,
    _DAYS_PER_MONTH,
    _EPOCH,
    _EVENT_CHANNEL_SHARE,
    _EVENTS_PER_MONTH,
    _FIRST_CUSTOMER_SINCE,
    _GIVEN_FEMALE,
    _GIVEN_MALE,
    _ID_CHECK_CHARS,
    _ID_WEIGHTS,
    _INDUSTRY_RISK,
    _INDUSTRY_SHARE,
    _NULL,
    _NULL_DAY,
    _PAYMENT_TERM_SHARE,
    _PAYMENT_TERMS,
    _PD_INTERCEPT,
    _PD_SLOPE,
    _PD_TAIL,
    _PHONE_PREFIXES,
    _RECENT_MONTHS,
    _REGION_CODES,
    _REGION_RISK,
    _REGION_SHARE,
    _STREAM_BEHAVIOUR,
    _STREAM_CREDIT,
    _STREAM_OUTCOMES,
    _STREAM_PORTFOLIO,
    _STREAM_TRANSACTIONS,
    _SURNAMES,
    _TXN_CHANNEL_SHARE,
    _TXNS_PER_MONTH,
    BEHAVIOUR_FILE,
    CREDIT_FILE,
    DEFAULT_AS_OF,
    ENCODINGS,
    EVENT_CHANNELS,
    EVENT_TYPES,
    FAULT_KINDS,
    FAULTS_FILE,
    GROUND_TRUTH_FILE,
    INDUSTRIES,
    LABELS_FILE,
    MAX_AS_OF,
    MAX_CUSTOMERS,
    MAX_DRIFT,
    MAX_MONTHS,
    MIN_AS_OF,
    REGIONS,
    TRANSACTIONS_FILE,
    TXN_CHANNELS,
    TXN_TYPES,
    _Column,
    _Params,
    _rng,
)
from custrisk.sample._csv import _CsvWriter, _format_chunk, _to_frame
from custrisk.sample.faults import _FAULT_PLANS, _FaultRecord, _inject_faults, _write_faults

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
        labels=_to_frame(_LABEL_COLUMNS, [_label_chunk(params, portfolio)]),
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
            (LABELS_FILE, _LABEL_COLUMNS, iter([_label_chunk(params, portfolio)]), 1),
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
_LABEL_COLUMNS = (
    _Column("customer_id", "customer_id"),
    _Column("bad", "int"),
    _Column("bad_date", "date"),
    _Column("churned", "int"),
    _Column("churn_date", "date"),
    _Column("escalated", "int"),
    _Column("escalation_date", "date"),
)
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


#: Days after the as-of date an outcome can happen (the labels' 12 months).
_OUTCOME_DAYS = 365


def _label_chunk(params: _Params, portfolio: _Portfolio) -> dict[str, Any]:
    """The outcomes of the 12 months after the export. ``bad`` is the portfolio's own draw;
    the rest come from a stream of their own, so that adding them changed nothing else:
    when a bad went bad (sooner the riskier), churn (after trade collapses in the last
    months) and escalation (complaints that stay unresolved), each dated."""
    rng = _rng(params.seed, _STREAM_OUTCOMES)
    n = len(portfolio.bad)
    as_of = _days(params.as_of)
    risk = portfolio.risk

    def dates(happened: np.ndarray, speed: np.ndarray) -> np.ndarray:
        # a higher speed moves the outcome towards the as-of date
        wait = 1 + np.floor((_OUTCOME_DAYS - 1) * rng.random(n) ** np.exp(speed))
        return np.where(happened, as_of + wait, _NULL_DAY).astype(np.int32)

    bad = portfolio.bad.astype(bool)
    bad_date = dates(bad, 0.35 * risk)
    collapse = -np.log(portfolio.recent_factor)  # > 0: trade fell in the last months
    churned = rng.random(n) < _sigmoid(-3.1 + 1.8 * collapse + 0.3 * rng.standard_normal(n))
    churn_date = dates(churned, 0.5 * collapse)
    complaints = portfolio.event_rate * np.diff(portfolio.event_type_cum[:, :2], axis=1)[:, 0]
    unresolved = 12.0 * complaints * _sigmoid(-portfolio.resolve_logit)
    escalated = rng.random(n) < 1.0 - np.exp(-0.35 * unresolved)
    escalation_date = dates(escalated, 0.2 * risk)
    return {
        "customer_id": np.arange(1, n + 1, dtype=np.int64),
        "bad": portfolio.bad.astype(np.int64),
        "bad_date": bad_date,
        "churned": churned.astype(np.int64),
        "churn_date": churn_date,
        "escalated": escalated.astype(np.int64),
        "escalation_date": escalation_date,
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
