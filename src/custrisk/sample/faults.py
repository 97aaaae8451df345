"""Realistic faults injected into written exports (``--dirty``), each listed in
``faults.csv``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pyarrow as pa

from custrisk.sample._base import (
    _EVENTS_PER_MONTH,
    _FAULT_EVERY,
    _NULL_DAY,
    _STREAM_FAULTS,
    _TXNS_PER_MONTH,
    BEHAVIOUR_FILE,
    CREDIT_FILE,
    TRANSACTIONS_FILE,
    _Params,
    _rng,
)
from custrisk.sample._csv import _csv_cell

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
    """Credit faults. A dropped credit row would leave all of that customer's activity
    without its customer (a second, unlisted fault), so faults that drop a row go on
    spare rows for customer numbers beyond the portfolio; only the repairable faults
    touch real customers (padded ids; formulas in the name, which the packaged config
    blanks as an optional column)."""
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
    anchors = rng.integers(0, editor.size, size=2 * count)
    for i in range(count):
        cells = spare(int(anchors[i]))
        cells["customer_id"] = ""
        editor.insert(0, cells, "customer_id", "blank_required")
    for i in range(count):
        cells = spare(int(anchors[count + i]))
        cells["credit_limit"] = _csv_cell(_cycle(_MALFORMED_NUMBERS, i))
        editor.insert(0, cells, "credit_limit", "malformed_number")
    for i, row in enumerate(editor.pick(count)):
        raw = _csv_cell(_cycle(_FORMULAS, i))
        editor.edit(row, "name", raw, "formula_injection", "repaired")


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
