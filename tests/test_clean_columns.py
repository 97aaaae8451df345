"""A source's columns are cleaned two at a time: results and errors come in column order,
whichever column finishes first, and the workspace is the one cleaned a column at a time."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from custrisk.config.columns import ColumnSpec
from custrisk.data import clean, load_workspace
from custrisk.data.clean import _in_two_threads
from custrisk.data.issues import Issues

COLUMNS = [(ColumnSpec(name=f"c{i}", type="float"), Issues(1)) for i in range(6)]


def test_results_come_in_column_order_when_a_later_column_finishes_first() -> None:
    second_done = threading.Event()

    def clean(col: ColumnSpec, issues: Issues) -> pd.Series:
        if col.name == "c0":  # the first column waits for the second to finish
            assert second_done.wait(10)
        if col.name == "c1":
            second_done.set()
        return pd.Series([col.name])

    results = _in_two_threads(clean, COLUMNS)
    assert [r.iloc[0] for r in results] == [f"c{i}" for i in range(6)]


def test_the_first_column_s_error_is_raised_not_a_later_one_s() -> None:
    later_failed = threading.Event()

    def clean(col: ColumnSpec, issues: Issues) -> pd.Series:
        if col.name == "c0":
            assert later_failed.wait(10)
            raise ValueError("c0 failed")
        if col.name == "c1":
            later_failed.set()
            raise KeyError("c1 failed")
        return pd.Series([col.name])

    with pytest.raises(ValueError, match="c0 failed"):
        _in_two_threads(clean, COLUMNS)


def test_a_dirty_export_cleaned_in_threads_equals_one_column_at_a_time(
    dirty_300: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clean, "_THREADS_FROM", 1 << 62)
    serial = load_workspace(dirty_300)
    started: list[str] = []
    threaded = clean._in_two_threads

    def counted(function: Any, columns: Any) -> list[pd.Series]:
        started.append("threads")
        return threaded(function, columns)

    monkeypatch.setattr(clean, "_THREADS_FROM", 0)
    monkeypatch.setattr(clean, "_in_two_threads", counted)
    threads = load_workspace(dirty_300)
    assert len(started) == len(serial.frames)  # every source went through the threads
    for name, frame in serial.frames.items():
        pd.testing.assert_frame_equal(threads.frames[name], frame, check_exact=True)
    pd.testing.assert_frame_equal(threads.rejects, serial.rejects, check_exact=True)
    assert len(serial.rejects) > 20  # the export's faults were found (the same ones)
    assert threads.report.to_dict() == serial.report.to_dict()
