"""The seeded draws behind the sample tables: the date windows, the portfolio (one latent
risk per customer that drives every observable field, each through its own independent
noise, so that combining the observed signals recovers most of the risk and a good
scorecard comes close to the generator's own ``true_pd``), and each table's columns and
typed chunks. Everything is drawn from seeded numpy generators keyed by (seed, stream,
chunk), so the same arguments give byte-identical files whatever the machine, thread
count or wall clock; transactions and behaviour events come one date range at a time (a
calendar month, split further for very large portfolios), so memory stays bounded and
each file is sorted by date.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
    EVENT_CHANNELS,
    EVENT_TYPES,
    INDUSTRIES,
    REGIONS,
    TXN_CHANNELS,
    TXN_TYPES,
    _Column,
    _Params,
    _rng,
)

# --------------------------------------------------------------------------------------
# Dates and random streams
# --------------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def month_end(day: date) -> date:
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


def windows(params: _Params) -> list[_Window]:
    """Month-long ranges ending at as_of, oldest first, split for large portfolios."""
    parts = max(1, math.ceil(params.customers / _CUSTOMERS_PER_CHUNK))
    windows = []
    for back in range(params.months, 0, -1):
        first = _days(add_months(params.as_of, -back)) + 1
        last = _days(add_months(params.as_of, -back + 1))
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


def make_portfolio(params: _Params) -> _Portfolio:
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


CREDIT_COLUMNS = (
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
TXN_COLUMNS = (
    _Column("txn_id", "txn_id"),
    _Column("customer_id", "customer_id"),
    _Column("txn_date", "date"),
    _Column("amount", "money"),
    _Column("txn_type", "category", TXN_TYPES),
    _Column("channel", "category", TXN_CHANNELS),
    _Column("due_date", "date"),
    _Column("paid_date", "date"),
)
EVENT_COLUMNS = (
    _Column("event_id", "event_id"),
    _Column("customer_id", "customer_id"),
    _Column("event_date", "date"),
    _Column("event_type", "category", EVENT_TYPES),
    _Column("channel", "category", EVENT_CHANNELS),
    _Column("response_hours", "tenths"),
    _Column("resolved", "bool"),
    _Column("satisfaction", "int"),
)
LABEL_COLUMNS = (
    _Column("customer_id", "customer_id"),
    _Column("bad", "int"),
    _Column("bad_date", "date"),
    _Column("churned", "int"),
    _Column("churn_date", "date"),
    _Column("escalated", "int"),
    _Column("escalation_date", "date"),
)
TRUTH_COLUMNS = (_Column("customer_id", "customer_id"), _Column("true_pd", "prob"))


def credit_chunk(params: _Params, portfolio: _Portfolio) -> dict[str, Any]:
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


def label_chunk(params: _Params, portfolio: _Portfolio) -> dict[str, Any]:
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


def truth_chunk(portfolio: _Portfolio) -> dict[str, Any]:
    n = len(portfolio.true_pd)
    return {"customer_id": np.arange(1, n + 1, dtype=np.int64), "true_pd": portfolio.true_pd}


def _draw_categories(rng: np.random.Generator, cum: np.ndarray) -> np.ndarray:
    """One category per row from per-row cumulative probabilities (last one implicit)."""
    return (rng.random(len(cum))[:, None] >= cum).sum(axis=1).astype(np.int8)


def transaction_chunks(params: _Params, portfolio: _Portfolio) -> Iterator[dict[str, Any]]:
    """Transactions one date range at a time, sorted by date then customer."""
    as_of = _days(params.as_of)
    next_id = 1
    for index, window in enumerate(windows(params)):
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


def behaviour_chunks(params: _Params, portfolio: _Portfolio) -> Iterator[dict[str, Any]]:
    """Service events one date range at a time, sorted by date then customer."""
    next_id = 1
    for index, window in enumerate(windows(params)):
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
