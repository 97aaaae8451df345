"""Scoring lets go of what it no longer reads, with the same results (issue 11 item 3)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from custrisk.data import load_workspace
from custrisk.indicators import columns_read, default_config_path, parse_indicator_config
from custrisk.review.followups import preferred_channels
from custrisk.scoring import score_data
from custrisk.scoring.features import open_model, prepare_features


def test_columns_read_expand_derived_columns_and_leave_out_the_key() -> None:
    config = parse_indicator_config(
        yaml.safe_load(default_config_path().read_text(encoding="utf-8"))
    )
    read = columns_read(config, "transactions")
    # days_late and paid_late are made of paid_date and due_date
    assert {"customer_id", "txn_date", "amount", "txn_type", "paid_date", "due_date"} <= read
    assert not {"txn_id", "days_late", "paid_late"} & read
    assert "event_id" not in columns_read(config, "behaviour")


def test_features_without_keys_are_the_features_with_them(dirty_300: Path) -> None:
    want = prepare_features(dirty_300)
    got = prepare_features(dirty_300, keys=False)
    pd.testing.assert_frame_equal(got.X, want.X)
    pd.testing.assert_frame_equal(got.workspace.rejects, want.workspace.rejects)
    for name, frame in want.workspace.frames.items():
        key = want.workspace.config.sources[name].key
        dropped = [key] if name != "credit" else []
        pd.testing.assert_frame_equal(got.workspace.frames[name], frame.drop(columns=dropped))
    assert "txn_id" not in got.workspace.frames["transactions"]
    assert "customer_id" in got.workspace.frames["credit"]


def test_a_key_an_indicator_reads_is_kept(dirty_300: Path) -> None:
    data = yaml.safe_load(default_config_path().read_text(encoding="utf-8"))
    data["indicators"]["transactions_seen"] = {
        "label": {"zh": "交易数", "en": "Transactions"},
        "direction": "none",
        "source": "transactions",
        "agg": "nunique",
        "column": "txn_id",
    }
    config = parse_indicator_config(data)
    want = prepare_features(dirty_300, indicator_config=config)
    got = prepare_features(dirty_300, indicator_config=config, keys=False)
    assert "txn_id" in got.workspace.frames["transactions"]
    assert "event_id" not in got.workspace.frames["behaviour"]
    pd.testing.assert_frame_equal(got.X, want.X)
    assert got.X["transactions_seen"].notna().all()


def test_scoring_keeps_the_customer_table_and_the_preferred_channels(
    dirty_300: Path, models_200: Path
) -> None:
    model = open_model("logistic", models_200)
    result = score_data(dirty_300, model)
    assert list(result.features.workspace.frames) == ["credit"]
    assert result.channels is not None
    behaviour = load_workspace(dirty_300).frames["behaviour"]
    pd.testing.assert_series_equal(
        result.channels, preferred_channels(behaviour, result.features.as_of)
    )
