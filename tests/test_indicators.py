"""Indicators from YAML: aggregations, windows, filters, expressions, missing values, errors."""

from __future__ import annotations

import datetime as dt
import functools
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrisk.config import default_config_path
from custrisk.errors import ConfigError, DataError, UsageError
from custrisk.indicators import (
    IndicatorConfig,
    compute_indicators,
    load_indicator_config,
    parse_indicator_config,
    summarize_indicators,
    write_indicators,
)
from custrisk.indicators.as_of import named_period

AS_OF = dt.date(2024, 6, 30)
NAN = float("nan")
MONTHS_90D = 90 / (365.25 / 12)


def _dates(*values: str | None, unit: str = "s") -> pd.Series:
    return pd.Series(pd.to_datetime(list(values))).astype(f"datetime64[{unit}]")


def _text(*values: str | None) -> pd.Series:
    return pd.Series(list(values), dtype="str")


def make_frames(unit: str = "s") -> dict[str, pd.DataFrame]:
    """Three customers: A trades, B trades twice on one day, C never trades."""
    credit = pd.DataFrame(
        {
            "customer_id": _text("A", "B", "C"),
            "region": _text("华东", None, "华北"),
            "industry": _text("制造业", "零售", "零售"),
            "customer_since": _dates("2020-06-30", "2024-01-01", None, unit=unit),
            "bureau_score": pd.Series([700, None, 650], dtype="Int64"),
            "bureau_score_3m_ago": pd.Series([720, 600, 640], dtype="Int64"),
            "annual_income": [100_000.0, NAN, 50_000.0],
            "credit_limit": [10_000.0, 0.0, 5_000.0],
            "outstanding_balance": [4_999.0, 0.0, 5_000.0],
            "overdue_amount": [0.0, 0.0, 1_000.0],
            "max_days_past_due_12m": pd.Series([0, 5, None], dtype="Int64"),
        }
    ).set_axis([10, 20, 30])  # not a RangeIndex on purpose
    transactions = pd.DataFrame(
        {
            "txn_id": _text(*(f"t{i}" for i in range(1, 11))),
            "customer_id": _text("A", "A", "A", "A", "A", "A", "A", "B", "B", "Z"),
            "txn_date": _dates(
                "2024-06-30",  # t1 on the as-of date: inside every window
                "2024-06-01",  # t2
                "2024-05-31",  # t3 just outside 30d (windows exclude their start)
                "2024-03-31",  # t4 inside 3m, outside 90d
                "2023-07-01",  # t5 inside 12m
                "2023-06-30",  # t6 just outside 12m
                "2024-07-05",  # t7 after the as-of date: never counted
                "2024-06-15",  # t8
                "2024-06-15",  # t9 same day as t8
                "2024-06-01",  # t10 unknown customer Z: ignored
                unit=unit,
            ),
            "amount": [100.0, 200.0, 50.0, 500.0, 30.0, 1000.0, 999.0, 10.0, 30.0, 5.0],
            "txn_type": _text(
                "order",
                "order",
                "order",
                "payment",
                "refund",
                "order",
                "order",
                "order",
                "order",
                "order",
            ),
            "channel": _text("app", "web", None, "web", "web", "web", "app", "web", "app", "web"),
            "due_date": _dates(
                "2024-07-30",
                "2024-06-15",
                "2024-06-10",
                None,
                None,
                "2023-07-30",
                None,
                "2024-06-20",
                "2024-07-15",
                None,
                unit=unit,
            ),
            "paid_date": _dates(
                None,
                "2024-06-20",
                "2024-06-05",
                None,
                None,
                "2023-08-04",
                None,
                "2024-07-01",
                None,
                None,
                unit=unit,
            ),
        }
    )
    behaviour = pd.DataFrame(
        {
            "event_id": _text("e1", "e2", "e3", "e4"),
            "customer_id": _text("A", "A", "C", "A"),
            "event_date": _dates("2024-06-20", "2024-02-01", "2024-06-01", "2023-01-01", unit=unit),
            "event_type": _text("complaint", "contact", "contact", "follow_up"),
            "channel": _text("phone", "email", None, "visit"),
            "response_hours": [10.0, NAN, 4.0, 1.0],
            "resolved": pd.Series([False, None, None, None], dtype="boolean"),
            "satisfaction": pd.Series([2, 4, None, None], dtype="Int64"),
        }
    )
    return {"credit": credit, "transactions": transactions, "behaviour": behaviour}


SOURCES = {
    "transactions": {
        "date": "txn_date",
        "derived": {"days_late": "max(paid_date - due_date, 0)"},
    },
    "behaviour": {"date": "event_date"},
}


def spec(**settings_: Any) -> dict[str, Any]:
    return {"label": {"zh": "指标", "en": "Indicator"}, "direction": "none", **settings_}


def txn(**settings_: Any) -> dict[str, Any]:
    return spec(source="transactions", **settings_)


def config(**indicators: dict[str, Any]) -> IndicatorConfig:
    return parse_indicator_config(
        {"version": 1, "sources": SOURCES, "indicators": indicators}, file="test.yaml"
    )


def compute(
    cfg: IndicatorConfig,
    frames: dict[str, pd.DataFrame] | None = None,
    as_of: dt.date | None = AS_OF,
) -> pd.DataFrame:
    result = compute_indicators(frames if frames is not None else make_frames(), cfg, as_of=as_of)
    return result.frame


def column(cfg: IndicatorConfig, code: str, **kwargs: Any) -> list[float]:
    return compute(cfg, **kwargs)[code].tolist()


def same(actual: list[Any], expected: list[Any]) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float))


# -- aggregations ----------------------------------------------------------------------------

ORDERS = "txn_type == 'order'"


@pytest.mark.parametrize(
    "settings_,expected",
    [
        ({"agg": "count", "filter": ORDERS}, [4, 2, 0]),
        ({"agg": "count"}, [6, 2, 0]),
        ({"agg": "count", "column": "channel"}, [5, 2, 0]),
        ({"agg": "count", "column": "paid_date"}, [3, 1, 0]),
        ({"agg": "sum", "column": "amount", "filter": ORDERS}, [1350, 40, 0]),
        ({"agg": "mean", "column": "amount", "filter": ORDERS}, [337.5, 20, NAN]),
        ({"agg": "median", "column": "amount", "filter": ORDERS}, [150, 20, NAN]),
        ({"agg": "max", "column": "amount", "filter": ORDERS}, [1000, 30, NAN]),
        ({"agg": "min", "column": "amount", "filter": ORDERS}, [50, 10, NAN]),
        (
            {"agg": "std", "column": "amount", "filter": ORDERS},
            [np.std([100, 200, 50, 1000], ddof=1), np.std([10, 30], ddof=1), NAN],
        ),
        ({"agg": "nunique", "column": "txn_type"}, [3, 1, 0]),
        ({"agg": "nunique", "column": "amount", "filter": ORDERS}, [4, 2, 0]),
        ({"agg": "first", "column": "amount"}, [1000, 10, NAN]),  # B: tie -> smallest
        ({"agg": "last", "column": "amount"}, [100, 30, NAN]),  # B: tie -> largest
        ({"agg": "days_since", "filter": ORDERS}, [0, 15, NAN]),
        ({"agg": "days_since", "filter": ORDERS, "which": "earliest"}, [366, 15, NAN]),
        ({"agg": "days_since", "column": "paid_date"}, [10, -1, NAN]),
        (
            {"agg": "mean", "column": "days_late", "filter": f"{ORDERS} and not isnull(days_late)"},
            [(5 + 0 + 5) / 3, 11, NAN],
        ),
    ],
)
def test_each_aggregation(settings_: dict[str, Any], expected: list[float]) -> None:
    same(column(config(x=txn(**settings_)), "x"), expected)


def test_first_and_last_of_text() -> None:
    cfg = config(
        first_channel=txn(agg="first", column="channel"),
        last_channel=txn(agg="last", column="channel"),
    )
    frame = compute(cfg)
    # A: earliest t6 'web', latest t1 'app'; B: two rows on one day -> 'app' first, 'web' last
    assert frame["first_channel"].tolist()[:2] == ["web", "app"]
    assert frame["last_channel"].tolist()[:2] == ["app", "web"]
    assert pd.isna(frame["last_channel"].iloc[2])
    assert frame["last_channel"].dtype == "str"


@pytest.mark.parametrize(
    "window,offset,expected",
    [
        ("30d", None, [2, 2, 0]),  # t1, t2 (t3 on the excluded start day)
        ("31d", None, [3, 2, 0]),
        ("90d", None, [3, 2, 0]),
        ("92d", None, [4, 2, 0]),  # t4 on 2024-03-31
        ("3m", None, [4, 2, 0]),  # 2024-03-30 < d <= 2024-06-30
        ("12m", None, [5, 2, 0]),  # t5, not t6
        ("1y", None, [5, 2, 0]),
        ("all", None, [6, 2, 0]),  # never t7 (after the as-of date)
        ("3m", "3m", [0, 0, 0]),  # 2023-12-30 < d <= 2024-03-30: adjacent to 3m, no t4
        ("9m", "3m", [1, 0, 0]),  # 2023-06-30 < d <= 2024-03-30: t5
    ],
)
def test_windows_end_at_the_as_of_date(
    window: str, offset: str | None, expected: list[float]
) -> None:
    settings_: dict[str, Any] = {"agg": "count", "window": window}
    if offset:
        settings_["offset"] = offset
    same(column(config(x=txn(**settings_)), "x"), expected)


def test_per_month_divides_by_the_window_length_in_months() -> None:
    cfg = config(
        orders_pm_90d=txn(agg="count", window="90d", filter=ORDERS, per_month=True),
        amount_pm_3m=txn(agg="sum", column="amount", window="3m", filter=ORDERS, per_month=True),
        amount_pm_1y=txn(agg="sum", column="amount", window="1y", per_month=True),
    )
    frame = compute(cfg)
    same(frame["orders_pm_90d"].tolist(), [3 / MONTHS_90D, 2 / MONTHS_90D, 0])
    same(frame["amount_pm_3m"].tolist(), [350 / 3, 40 / 3, 0])
    same(frame["amount_pm_1y"].tolist(), [880 / 12, 40 / 12, 0])


def test_filter_may_use_as_of_and_dates() -> None:
    cfg = config(x=txn(agg="count", filter="as_of - txn_date <= 1 and txn_date >= '2024-06-30'"))
    same(column(cfg, "x"), [1, 0, 0])


def test_derived_row_columns_chain() -> None:
    cfg = parse_indicator_config(
        {
            "sources": {
                "transactions": {
                    "date": "txn_date",
                    "derived": {"late": "paid_date - due_date", "very_late": "late > 7"},
                }
            },
            "indicators": {"x": txn(agg="sum", column="very_late")},
        }
    )
    same(column(cfg, "x"), [0, 1, 0])  # A: 5, -5 and 5 days late; B: 11


# -- expressions, fields, categories ------------------------------------------------------------


def test_expressions_over_indicators_and_credit_fields() -> None:
    cfg = config(
        capacity=spec(expr="annual_income / (outstanding_balance + 1)"),
        utilisation=spec(expr="outstanding_balance / credit_limit"),
        change=spec(expr="bureau_score - bureau_score_3m_ago"),
        tenure=spec(expr="(as_of - customer_since) / 30.4375"),
        orders=txn(agg="count", filter=ORDERS),
        big=spec(expr="where(orders > 3, 'many', 'few')"),
    )
    frame = compute(cfg)
    same(frame["capacity"].tolist(), [20.0, NAN, 50_000 / 5_001])
    same(frame["utilisation"].tolist(), [0.4999, NAN, 1.0])  # 0 / 0 is missing, not inf
    same(frame["change"].tolist(), [-20, NAN, 10])
    same(frame["tenure"].tolist(), [1461 / 30.4375, 181 / 30.4375, NAN])
    assert frame["big"].tolist() == ["many", "few", "few"]


def test_fields_pass_credit_columns_through() -> None:
    cfg = config(region=spec(field="region"), score=spec(field="bureau_score"))
    frame = compute(cfg)
    assert frame["region"].dtype == "str"
    assert frame["region"].tolist()[::2] == ["华东", "华北"] and pd.isna(frame["region"][1])
    same(frame["score"].tolist(), [700, NAN, 650])
    assert frame["score"].dtype == np.float64


# -- missing values ------------------------------------------------------------------------------


def test_missing_policies() -> None:
    cfg = config(
        kept=txn(agg="mean", column="amount", missing="keep"),
        filled=txn(agg="mean", column="amount", missing={"fill": -1}),
        region=spec(field="region", missing={"fill": "unknown"}),
        rate=spec(expr="kept / filled"),
    )
    frame = compute(cfg)
    assert np.isnan(frame["kept"][2])
    assert frame["filled"][2] == -1
    assert frame["region"].tolist() == ["华东", "unknown", "华北"]
    assert frame["rate"][2] != frame["rate"][2]  # NaN / -1: the filled value is what is used


def test_absent_source_is_reported_and_never_zero() -> None:
    frames = make_frames()
    del frames["behaviour"]
    cfg = config(
        complaints=spec(source="behaviour", agg="count", missing={"fill": 0}),
        rate=spec(expr="complaints / 2"),
        orders=txn(agg="count"),
    )
    result = compute_indicators(frames, cfg, as_of=AS_OF)
    assert result.unavailable == {
        "complaints": "source 'behaviour' is not in the workspace",
        "rate": "it uses the unavailable indicator complaints",
    }
    assert result.frame["complaints"].isna().all() and result.frame["rate"].isna().all()
    same(result.frame["orders"].tolist(), [6, 2, 0])


def test_absent_column_is_reported() -> None:
    frames = make_frames()
    frames["transactions"] = frames["transactions"].drop(columns=["paid_date"])
    frames["credit"] = frames["credit"].drop(columns=["annual_income"])
    cfg = config(
        late=txn(agg="mean", column="days_late"),
        capacity=spec(expr="annual_income / 2"),
        orders=txn(agg="count"),
    )
    result = compute_indicators(frames, cfg, as_of=AS_OF)
    assert result.unavailable == {
        "late": "transactions has no column paid_date",
        "capacity": "credit has no column annual_income",
    }


# -- rows, order, purity ---------------------------------------------------------------------------


def test_one_row_per_credit_customer_in_credit_order() -> None:
    frames = make_frames()
    frames["credit"] = frames["credit"].iloc[[2, 0, 1]]
    frame = compute(config(orders=txn(agg="count")), frames)
    assert frame["customer_id"].tolist() == ["C", "A", "B"]
    assert list(frame.columns) == ["customer_id", "orders"]
    assert isinstance(frame.index, pd.RangeIndex)
    same(frame["orders"].tolist(), [0, 6, 2])


def test_output_false_is_computed_but_not_written() -> None:
    cfg = config(orders=txn(agg="count", output=False), double=spec(expr="orders * 2"))
    frame = compute(cfg)
    assert list(frame.columns) == ["customer_id", "double"]
    same(frame["double"].tolist(), [12, 4, 0])


def test_inputs_are_not_mutated() -> None:
    frames = make_frames()
    copies = {name: frame.copy(deep=True) for name, frame in frames.items()}
    compute(load_indicator_config(), frames)
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(frame, copies[name])


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_date_units_do_not_matter(unit: str) -> None:
    expected = compute(load_indicator_config(), make_frames("s"))
    pd.testing.assert_frame_equal(compute(load_indicator_config(), make_frames(unit)), expected)


def test_categorical_customer_ids_give_the_same_result() -> None:
    frames = make_frames()
    expected = compute(load_indicator_config(), frames)
    for name in ("transactions", "behaviour"):
        frame = frames[name].copy()
        frame["customer_id"] = frame["customer_id"].astype("category")
        frames[name] = frame
    pd.testing.assert_frame_equal(compute(load_indicator_config(), frames), expected)


def test_category_columns_as_the_cleaner_gives_them_give_the_same_result() -> None:
    # filters such as txn_type == 'order' compare a category column's categories
    frames = dict(_random_frames())
    expected = _random_expected()
    for name, columns in {
        "transactions": ("txn_type", "channel"),
        "behaviour": ("event_type", "channel"),
    }.items():
        frame = frames[name].copy()
        for column in columns:
            frame[column] = frame[column].astype("category")
            assert frame[column].cat.categories.dtype == "str"
        frames[name] = frame
    pd.testing.assert_frame_equal(compute(load_indicator_config(), frames, as_of=None), expected)


@functools.cache
def _random_frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(7)
    n, m, k = 40, 400, 120
    ids = np.array([f"C{i:03d}" for i in range(n)])
    day0 = np.datetime64("2023-01-01")
    credit = pd.DataFrame(
        {
            "customer_id": pd.Series(ids, dtype="str"),
            "region": pd.Series(rng.choice(["华东", "华北", None], n), dtype="str"),
            "industry": pd.Series(rng.choice(["零售", "制造业"], n), dtype="str"),
            "customer_since": pd.Series(day0 - rng.integers(0, 2000, n).astype("timedelta64[D]")),
            "bureau_score": pd.Series(rng.integers(300, 900, n), dtype="Int64"),
            "bureau_score_3m_ago": pd.Series(rng.integers(300, 900, n), dtype="Int64"),
            "annual_income": rng.gamma(2, 50_000, n),
            "credit_limit": rng.choice([0.0, 10_000.0, 50_000.0], n),
            "outstanding_balance": rng.gamma(2, 5_000, n),
            "overdue_amount": rng.choice([0.0, 100.0], n),
            "max_days_past_due_12m": pd.Series(rng.integers(0, 90, n), dtype="Int64"),
        }
    )
    txn_date = day0 + rng.integers(0, 540, m).astype("timedelta64[D]")
    due = txn_date + np.timedelta64(30, "D")
    paid = due + rng.integers(-10, 40, m).astype("timedelta64[D]")
    paid = np.where(rng.random(m) < 0.2, np.datetime64("NaT"), paid)
    transactions = pd.DataFrame(
        {
            "txn_id": pd.Series([f"T{i}" for i in range(m)], dtype="str"),
            "customer_id": pd.Series(rng.choice(np.append(ids, "ORPHAN"), m), dtype="str"),
            "txn_date": pd.Series(txn_date).astype("datetime64[s]"),
            "amount": np.round(rng.gamma(2, 500, m), 2),
            "txn_type": pd.Series(
                rng.choice(
                    ["order", "payment", "refund", "chargeback"], m, p=[0.6, 0.3, 0.07, 0.03]
                ),
                dtype="str",
            ),
            "channel": pd.Series(rng.choice(["app", "web", None], m), dtype="str"),
            "due_date": pd.Series(due).astype("datetime64[s]"),
            "paid_date": pd.Series(paid).astype("datetime64[s]"),
        }
    )
    behaviour = pd.DataFrame(
        {
            "event_id": pd.Series([f"E{i}" for i in range(k)], dtype="str"),
            "customer_id": pd.Series(rng.choice(ids, k), dtype="str"),
            "event_date": pd.Series(day0 + rng.integers(0, 540, k).astype("timedelta64[D]")),
            "event_type": pd.Series(
                rng.choice(["contact", "complaint", "follow_up", "feedback"], k), dtype="str"
            ),
            "channel": pd.Series(rng.choice(["phone", "email"], k), dtype="str"),
            "response_hours": rng.gamma(2, 5, k),
            "resolved": pd.Series(rng.choice([True, False, None], k), dtype="boolean"),
            "satisfaction": pd.Series(rng.choice([1, 3, 5, None], k), dtype="Int64"),
        }
    )
    return {"credit": credit, "transactions": transactions, "behaviour": behaviour}


@functools.cache
def _random_expected() -> pd.DataFrame:
    return compute(load_indicator_config(), _random_frames(), as_of=None)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_shuffling_rows_changes_nothing(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shuffled = {
        name: frame.iloc[rng.permutation(len(frame))] for name, frame in _random_frames().items()
    }
    frame = compute(load_indicator_config(), shuffled, as_of=None)
    frame = frame.sort_values("customer_id").reset_index(drop=True)
    expected = _random_expected().sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(frame, expected, check_exact=False, rtol=1e-12)


# -- the default config -----------------------------------------------------------------------------


def test_default_config_on_hand_made_frames() -> None:
    cfg = load_indicator_config()
    result = compute_indicators(make_frames(), cfg, as_of=AS_OF)
    frame = result.frame.set_index("customer_id")
    assert result.unavailable == {}
    expected = {
        "orders_per_month_90d": [3 / MONTHS_90D, 2 / MONTHS_90D, 0],
        "order_amount_pm_3m": [350 / 3, 40 / 3, 0],
        "order_amount_pm_prev_9m": [0, 0, 0],
        "days_since_last_order": [0, 15, NAN],
        "avg_payment_delay_days": [2.5, 11, NAN],  # A: t2 5, t3 0 (t6 outside 12m)
        "max_payment_delay_days": [5, 11, NAN],
        "late_payment_share": [0.5, 1, NAN],
        "utilisation": [0.4999, NAN, 1.0],
        "overdue_ratio": [0, 0, 0.2],
        "complaints_90d": [1, 0, 0],
        "complaints_180d": [1, 0, 0],
        "contacts_180d": [2, 0, 1],
        "complaint_rate_180d": [0.5, NAN, 0],
        "avg_response_hours_180d": [10, NAN, 4],
        "unresolved_complaints": [1, 0, 0],
        "avg_satisfaction_180d": [3, NAN, NAN],
        "days_since_last_follow_up": [546, NAN, NAN],
        "payments_12m": [500, 0, 0],
        "refund_rate_12m": [1 / 3, 0, NAN],
        "chargeback_rate_12m": [0, 0, NAN],
        "bureau_score_change_3m": [-20, NAN, 10],
        "max_days_past_due_12m": [0, 5, NAN],
    }
    for code, values in expected.items():
        same(frame[code].tolist(), values)
    assert np.isnan(frame["trade_amount_trend"]).all()  # nothing in the 9 months before
    assert frame["industry"].tolist() == ["制造业", "零售", "零售"]


def test_default_config_covers_the_issue() -> None:
    cfg = load_indicator_config()
    for code in (
        "payment_capacity",
        "orders_per_month_90d",
        "trade_amount_trend",
        "days_since_last_order",
        "avg_payment_delay_days",
        "max_payment_delay_days",
        "late_payment_share",
        "utilisation",
        "overdue_ratio",
        "max_days_past_due_12m",
        "bureau_score",
        "bureau_score_change_3m",
        "complaints_90d",
        "complaints_180d",
        "complaint_rate_180d",
        "avg_response_hours_180d",
        "unresolved_complaints",
        "avg_satisfaction_180d",
        "days_since_last_follow_up",
        "tenure_months",
        "refund_rate_12m",
        "chargeback_rate_12m",
        "region",
        "industry",
    ):
        indicator = cfg[code]
        assert indicator.label_zh and indicator.label_en and indicator.description
    assert cfg["region"].categorical and cfg["region"].direction == "none"
    assert cfg["complaint_rate_180d"].direction == "higher_is_riskier"


# -- as-of date ---------------------------------------------------------------------------------------


def test_as_of_defaults_to_the_latest_event_date() -> None:
    frames = make_frames()
    result = compute_indicators(frames, config(x=txn(agg="count")))
    assert (result.as_of, result.as_of_origin) == (dt.date(2024, 7, 5), "data")


def test_as_of_from_config_then_argument() -> None:
    cfg = parse_indicator_config(
        {"as_of": "2024-06-30", "sources": SOURCES, "indicators": {"x": txn(agg="count")}}
    )
    result = compute_indicators(make_frames(), cfg)
    assert (result.as_of, result.as_of_origin) == (AS_OF, "config")
    result = compute_indicators(make_frames(), cfg, as_of="2024-07-31")
    assert (result.as_of, result.as_of_origin) == (dt.date(2024, 7, 31), "argument")
    same(result.frame["x"].tolist(), [7, 2, 0])


WINDOWED = {"x_90d": txn(agg="count", window="90d"), "x_12m": txn(agg="count", window="12m")}


def test_an_as_of_date_before_every_event_is_refused() -> None:
    # The earliest event is behaviour's 2023-01-01: no event would be before the date.
    with pytest.raises(
        DataError,
        match=r"^--as-of 2022-12-31 is before every event date of the data \(the earliest "
        r"is 2023-01-01, behaviour.event_date\): no event would count; give the date of "
        r"the export, or leave --as-of out to take 2024-07-05 from the data$",
    ):
        compute_indicators(make_frames(), config(**WINDOWED), as_of="2022-12-31")
    result = compute_indicators(make_frames(), config(**WINDOWED), as_of="2023-01-01")
    assert result.as_of == dt.date(2023, 1, 1)


def test_an_as_of_date_beyond_every_window_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    # The latest event is 2024-07-05; a 12m window ending 2025-07-05 starts after it
    # (a window leaves out its first day).
    with pytest.raises(DataError, match=r"^--as-of 2025-07-05 is 365 days after the latest") as err:
        compute_indicators(make_frames(), config(**WINDOWED), as_of="2025-07-05")
    assert "(2024-07-05, transactions.txn_date): every window of the indicators would be " in (
        str(err.value)
    )
    cfg = parse_indicator_config(
        {"as_of": "2026-01-31", "sources": SOURCES, "indicators": WINDOWED}
    )
    with pytest.raises(DataError, match=r"^as_of in the indicator config 2026-01-31 is 575 "):
        compute_indicators(make_frames(), cfg)
    # One day less: the 12m window holds the last event; a gap of a month and more warns.
    with caplog.at_level("WARNING", logger="custrisk.indicators.as_of"):
        result = compute_indicators(make_frames(), config(**WINDOWED), as_of="2025-07-04")
    assert result.frame["x_12m"].tolist() == [1, 0, 0]
    assert [m for r in caplog.records if "latest event" in (m := r.getMessage())] == [
        "--as-of 2025-07-04 is 364 days after the latest event date of the data (2024-07-05, "
        "transactions.txn_date): the customers' most recent windows hold no events; check "
        "that the month was exported"
    ]


def test_an_as_of_date_a_month_after_the_data_is_taken_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="custrisk.indicators.as_of"):
        compute_indicators(make_frames(), config(**WINDOWED), as_of="2024-08-05")  # 31 days
    assert "latest event" not in caplog.text
    # Indicators over all time never leave every window empty: a warning only.
    with caplog.at_level("WARNING", logger="custrisk.indicators.as_of"):
        result = compute_indicators(make_frames(), config(x=txn(agg="count")), as_of="2030-01-01")
    assert result.frame["x"].tolist() == [7, 2, 0]
    assert "--as-of 2030-01-01 is 2006 days after the latest event date" in caplog.text


def test_credit_only_workspace_uses_today() -> None:
    frames = {"credit": make_frames()["credit"]}
    result = compute_indicators(frames, config(x=spec(field="bureau_score")))
    assert result.as_of_origin == "today" and result.as_of == dt.date.today()


# -- data errors --------------------------------------------------------------------------------------


def test_data_errors() -> None:
    cfg = config(x=txn(agg="count"))
    with pytest.raises(DataError, match=r"^the workspace has no 'credit' table; the credit table"):
        compute_indicators({"transactions": make_frames()["transactions"]}, cfg)
    credit = make_frames()["credit"]
    with pytest.raises(UsageError, match=r"^frames must be a dict .*; got a DataFrame; pass work"):
        compute_indicators(credit, cfg)  # type: ignore[arg-type]
    doubled = pd.concat([credit, credit.iloc[[0]]])
    with pytest.raises(DataError, match=r"^credit column 'customer_id': customer_id repeats: A; "):
        compute_indicators({"credit": doubled}, cfg)
    in_order = pd.concat([credit.iloc[[0]], credit])  # A, A, B, C: in order, and A twice
    with pytest.raises(DataError, match=r"^credit column 'customer_id': customer_id repeats: A; "):
        compute_indicators({"credit": in_order}, cfg)


# -- config errors -------------------------------------------------------------------------------------


def test_a_column_the_users_sources_config_lacks_is_fixed_in_that_file(tmp_path: Path) -> None:
    packaged = default_config_path("sources.yaml").read_text(encoding="utf-8")
    assert "      event_date: {type: date" in packaged
    mine = tmp_path / "my_sources.yaml"
    mine.write_text(
        "\n".join(line for line in packaged.splitlines() if "event_date: {" not in line),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_indicator_config(sources=mine)
    message = str(err.value)
    assert "key 'sources.behaviour.date': source 'behaviour' has no column 'event_date'" in message
    assert (
        f"declare it in {mine} (rename: {{HEADER: event_date}} and a column event_date) "
        "under sources.behaviour" in message
    )
    # A mapping of columns (no file of the user's) gets no such pointer.
    with pytest.raises(ConfigError) as err:
        load_indicator_config(sources={"credit": {"customer_id": "id"}, "behaviour": {}})
    assert "declare it in" not in str(err.value)


BASE = """\
version: 1
sources:
  transactions:
    date: txn_date
    derived:
      days_late: max(paid_date - due_date, 0)
indicators:
"""

LABEL = "    label: {zh: 指标, en: Indicator}\n    direction: none\n"

CONFIG_ERRORS = {
    "unknown_source": (
        "  x:\n" + LABEL + "    source: trades\n    agg: count\n",
        r"key 'indicators\.x\.source': unknown source 'trades'; known sources: behaviour, "
        r"credit, transactions$",
    ),
    "unknown_column": (
        "  x:\n" + LABEL + "    source: transactions\n    agg: sum\n    column: amout\n",
        r"key 'indicators\.x\.column': source 'transactions' has no column 'amout'; did you mean "
        r"'amount'\? columns of transactions: amount, channel, customer_id, days_late, "
        r"due_date, paid_date, txn_date, txn_id, txn_type$",
    ),
    "unknown_function": (
        "  x:\n" + LABEL + "    expr: system(annual_income)\n",
        r"key 'indicators\.x\.expr': unknown function 'system' at column 1 of "
        r"\"system\(annual_income\)\"; allowed functions: abs, clip, coalesce, exp, isin, "
        r"isnull, log, log1p, max, min, safe_div, sqrt, where$",
    ),
    "unknown_name": (
        "  x:\n" + LABEL + "    expr: annual_incme / 2\n",
        r"key 'indicators\.x\.expr': unknown name 'annual_incme' at column 1 of "
        r"\"annual_incme / 2\"; did you mean 'annual_income'\? known names: ",
    ),
    "injection": (
        "  x:\n" + LABEL + "    expr: __import__('os').system('id')\n",
        r"key 'indicators\.x\.expr': name '__import__' is not allowed at column 1 of "
        r"\"__import__\('os'\)\.system\('id'\)\"; names may not start with '_'$",
    ),
    "injection_in_filter": (
        "  x:\n" + LABEL + "    source: transactions\n    agg: count\n"
        "    filter: ().__class__.__bases__\n",
        r"key 'indicators\.x\.filter': unexpected character '\.' at column 3 of "
        r"\"\(\)\.__class__\.__bases__\"; attribute access is not allowed$",
    ),
    "cycle": (
        "  a:\n" + LABEL + "    expr: b + 1\n  b:\n" + LABEL + "    expr: c * 2\n"
        "  c:\n" + LABEL + "    expr: a\n",
        r"key 'indicators\.a\.expr': cycle between indicators: a -> b -> c -> a; remove one of "
        r"the references$",
    ),
    "self_reference": (
        "  annual_income:\n" + LABEL + "    expr: annual_income / 12\n",
        r"key 'indicators\.annual_income\.expr': cycle between indicators: annual_income -> "
        r"annual_income; 'annual_income' is also a credit column, but indicator codes come "
        r"first in expressions; rename the indicator or use field: annual_income$",
    ),
    "bad_window": (
        "  x:\n" + LABEL + "    source: transactions\n    agg: count\n    window: 3w\n",
        r"key 'indicators\.x\.window': bad window '3w'; use a number followed by d \(days\), m "
        r"\(months\) or y \(years\), e\.g\. 90d or 12m, or all$",
    ),
    "zero_window": (
        "  x:\n" + LABEL + "    source: transactions\n    agg: count\n    window: 0d\n",
        r"key 'indicators\.x\.window': bad window '0d'",
    ),
    "duplicate_code": (
        "  x:\n" + LABEL + "    expr: '1'\n  x:\n" + LABEL + "    expr: '2'\n",
        r":12, key 'indicators\.x': duplicate indicator code 'x' \(lines 8 and 12\); each key may "
        r"appear only once; rename or remove one of them$",
    ),
    "bad_direction": (
        "  x:\n    label: {zh: 指标, en: Indicator}\n    direction: up\n    expr: '1'\n",
        r"key 'indicators\.x\.direction': 'up' is not allowed; allowed values: "
        r"higher_is_riskier, higher_is_safer, none$",
    ),
    "category_with_direction": (
        "  x:\n    label: {zh: 地区, en: Region}\n    direction: higher_is_riskier\n"
        "    field: region\n",
        r"key 'indicators\.x\.direction': 'higher_is_riskier' does not apply to the categorical "
        r"indicator 'x'; categories have no order; use none$",
    ),
    "missing_label": (
        "  x:\n    direction: none\n    expr: '1'\n",
        r"key 'indicators\.x\.label': required key is missing$",
    ),
    "missing_en_label": (
        "  x:\n    label: {zh: 指标}\n    direction: none\n    expr: '1'\n",
        r"key 'indicators\.x\.label\.en': required key is missing$",
    ),
    "two_kinds": (
        "  x:\n" + LABEL + "    expr: '1'\n    field: region\n",
        r"key 'indicators\.x': an indicator needs exactly one of agg, expr or field \(found "
        r"expr, field\)",
    ),
    "unknown_key": (
        "  x:\n" + LABEL + "    expr: '1'\n    windw: 90d\n",
        r"key 'indicators\.x\.windw': unknown key; allowed keys: label, unit, description, "
        r"direction, missing, output, expr$",
    ),
    "filter_not_condition": (
        "  x:\n" + LABEL + "    source: transactions\n    agg: count\n    filter: amount * 2\n",
        r"key 'indicators\.x\.filter': the filter must be a condition \(true/false\), got number",
    ),
    "per_month_all": (
        "  x:\n" + LABEL + "    source: transactions\n    agg: count\n    per_month: true\n",
        r"key 'indicators\.x\.per_month': per_month needs a window of fixed length, not 'all'",
    ),
    "window_without_date": (
        "  x:\n" + LABEL + "    source: behaviour\n    agg: count\n    window: 90d\n",
        r"key 'indicators\.x\.window': window '90d' needs a date column, and source 'behaviour' "
        r"has none set; set sources\.behaviour\.date in the indicator config$",
    ),
    "sum_of_text": (
        "  x:\n" + LABEL + "    source: transactions\n    agg: sum\n    column: channel\n",
        r"key 'indicators\.x\.column': agg 'sum' needs a numeric column; 'channel' is text",
    ),
    "max_of_date": (
        "  x:\n" + LABEL + "    source: transactions\n    agg: max\n    column: txn_date\n",
        r"key 'indicators\.x\.column': agg 'max' cannot use the date column 'txn_date'; use "
        r"agg: days_since",
    ),
    "unknown_agg": (
        "  x:\n" + LABEL + "    source: transactions\n    agg: average\n    column: amount\n",
        r"key 'indicators\.x\.agg': 'average' is not allowed; allowed values: count, sum, mean, "
        r"median, min, max, std, nunique, first, last, days_since$",
    ),
    "type_error": (
        "  x:\n" + LABEL + "    expr: region + 1\n",
        r"key 'indicators\.x\.expr': '\+' cannot add text and number at column 8",
    ),
    "date_result": (
        "  x:\n" + LABEL + "    expr: customer_since\n",
        r"key 'indicators\.x\.expr': the expression gives a date; an indicator is a number, a "
        r"condition or a category; subtract dates to get days",
    ),
    "bad_code": (
        "  Orders-90d:\n" + LABEL + "    expr: '1'\n",
        r"key 'indicators\.Orders-90d': indicator code 'Orders-90d' is not snake_case",
    ),
    "reserved_code": (
        "  as_of:\n" + LABEL + "    expr: '1'\n",
        r"key 'indicators\.as_of': indicator code 'as_of' is a reserved word",
    ),
    "python_word_code": (
        "  lambda:\n" + LABEL + "    expr: '1'\n",
        r"key 'indicators\.lambda': indicator code 'lambda' cannot be used in expressions",
    ),
    "bad_fill": (
        "  x:\n" + LABEL + "    missing: {fill: none}\n    expr: '1'\n",
        r"key 'indicators\.x\.missing\.fill': a numeric indicator is filled with a number, got "
        r"'none'",
    ),
    "bad_missing": (
        "  x:\n" + LABEL + "    missing: drop\n    expr: '1'\n",
        r"key 'indicators\.x\.missing': expected keep or \{fill: value\}, got 'drop'",
    ),
}


@pytest.mark.parametrize("case", sorted(CONFIG_ERRORS))
def test_config_errors_name_file_key_and_token(tmp_path: Path, case: str) -> None:
    text, pattern = CONFIG_ERRORS[case]
    path = tmp_path / "indicators.yaml"
    path.write_text(BASE + text, encoding="utf-8")
    prefix = r"^" + re.escape(str(path)) + ("" if pattern.startswith(":") else ", ")
    with pytest.raises(ConfigError, match=prefix + pattern) as info:
        load_indicator_config(path)
    assert info.value.exit_code == 2


def test_injection_in_a_derived_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "indicators.yaml"
    path.write_text(
        "sources:\n  transactions:\n    derived:\n      evil: \"eval('1')\"\n"
        "indicators:\n  x:\n" + LABEL + "    expr: '1'\n",
        encoding="utf-8",
    )
    with pytest.raises(
        ConfigError,
        match=re.escape(
            f"{path}, key 'sources.transactions.derived.evil': unknown function 'eval' at column 1"
        ),
    ):
        load_indicator_config(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_indicator_config(tmp_path / "nope.yaml")


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("indicators:\n  x: [1, 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml:3:1: invalid YAML"):
        load_indicator_config(path)


# -- config objects, transformer, output ------------------------------------------------------------


def test_config_is_frozen_and_ordered() -> None:
    cfg = load_indicator_config()
    with pytest.raises(AttributeError):
        cfg.as_of = AS_OF  # type: ignore[misc]
    order = cfg.order
    for indicator in cfg.indicators:
        for dep in indicator.depends_on:
            assert order.index(dep) < order.index(indicator.code)
    assert cfg.output_codes == cfg.codes


def test_transformer_follows_the_sklearn_contract() -> None:
    from sklearn.base import clone

    from custrisk.indicators import IndicatorTransformer

    frames = make_frames()
    step = IndicatorTransformer(as_of=AS_OF)
    assert step.get_params() == {"config": None, "as_of": AS_OF}
    out = step.fit(frames).transform(frames)
    expected = compute(load_indicator_config(), frames).set_index("customer_id")
    pd.testing.assert_frame_equal(out, expected)
    assert list(step.get_feature_names_out()) == list(expected.columns)
    again = pickle.loads(pickle.dumps(step))
    pd.testing.assert_frame_equal(again.transform(frames), expected)
    assert clone(step).get_params() == step.get_params()


def test_summary_is_plain_data() -> None:
    cfg = config(orders=txn(agg="count"), region=spec(field="region"))
    result = compute_indicators(make_frames(), cfg, as_of=AS_OF)
    summary = summarize_indicators(result, cfg).set_index("indicator")
    assert summary.loc["orders", ["count", "min", "median", "max"]].tolist() == [3, 0, 2, 6]
    assert summary.loc["region", "distinct"] == 2
    assert summary.loc["region", "missing_share"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("name", ["out.csv", "out.parquet"])
def test_write_csv_and_parquet(tmp_path: Path, name: str) -> None:
    frame = compute(config(orders=txn(agg="count"), region=spec(field="region")))
    path = write_indicators(frame, tmp_path / name)
    back = (
        pd.read_csv(path, dtype={"customer_id": "str"})
        if name.endswith("csv")
        else (pd.read_parquet(path))
    )
    assert back["customer_id"].tolist() == ["A", "B", "C"]
    same(back["orders"].tolist(), [6, 2, 0])
    assert (path.stat().st_mode & 0o777) == 0o600


def test_write_refuses_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(
        UsageError,
        match=r"cannot tell the output format from the extension "
        r"'\.ods'; name the file with one of \.csv, \.parquet",
    ):
        write_indicators(pd.DataFrame({"a": [1]}), tmp_path / "out.ods")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("name", "period"),
    [
        ("客户清单_2026-11.xlsx", ("2026-11-01", "2026-11-30")),
        ("2024年2月客户.csv", ("2024-02-01", "2024-02-29")),
        ("export_20261130.csv", ("2026-11-30", "2026-11-30")),
        ("customers_202611.csv", ("2026-11-01", "2026-11-30")),
        ("book.xlsx#2026年3月", ("2026-03-01", "2026-03-31")),
        ("2026-11_2026-11-30", None),  # two that differ: no guess
        ("2025-01_to_2025-12.csv", None),
        ("2026-02-30.csv", None),  # no such day
        ("id_120261130.csv", None),  # part of a longer number
        ("d200", None),
    ],
)
def test_the_month_an_exports_name_gives(name: str, period: tuple[str, str] | None) -> None:
    found = named_period(name)
    assert (None if found is None else tuple(d.isoformat() for d in found)) == period
