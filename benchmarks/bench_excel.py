"""Benchmark reading a large workbook: custrisk's reader and its peers against a CSV read.

Usage::

    .venv/bin/python benchmarks/bench_excel.py [ROWS]

Writes a transactions-like table of ROWS rows (default 1,000,000; 8 columns: text ids,
dates, amounts, categories) once as CSV and once as .xlsx (xlsxwriter, constant memory),
then reads it, in the same process, with:

* baseline: ``pyarrow.csv.read_csv`` of the CSV (type inference, no checks);
* ``custrisk.io.readers.read_raw`` of the workbook (limits and error-cell scan, header
  detection, cells to Arrow columns as the cleaner wants them);
* python-calamine alone (``to_python``: the cells as Python values);
* ``pandas.read_excel`` with the calamine engine;
* openpyxl in read-only mode (iterating the values), the usual pure-Python reader.

Each is run once (a workbook of a million rows takes seconds, not milliseconds, and the
machine may be shared); prints seconds, rows per second and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import xlsxwriter
from python_calamine import CalamineWorkbook

from custrisk.io.readers import read_raw

COLUMNS = ("txn_id", "customer_id", "txn_date", "amount", "txn_type", "channel", "due_date", "paid")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(func: Callable[[], Any]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def make_table(rows: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-01-01")
    txn_date = start + rng.integers(0, 365, rows).astype("timedelta64[D]")
    return pd.DataFrame(
        {
            "txn_id": [f"T{i:012d}" for i in range(rows)],
            "customer_id": [f"{i:010d}" for i in rng.integers(1, rows // 20 + 2, rows)],
            "txn_date": txn_date,
            "amount": np.round(rng.lognormal(7, 1.2, rows), 2),
            "txn_type": rng.choice(["payment", "order", "refund"], rows),
            "channel": rng.choice(["online", "agent", "branch"], rows),
            "due_date": txn_date + np.timedelta64(30, "D"),
            "paid": rng.integers(0, 2, rows),
        }
    )


def write_workbook(frame: pd.DataFrame, path: Path) -> None:
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("transactions")
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, COLUMNS)
    epoch = dt.datetime(1899, 12, 30)
    columns = [frame[c].tolist() for c in COLUMNS]
    dates = {2, 6}
    for r, cells in enumerate(zip(*columns, strict=True), start=1):
        for c, value in enumerate(cells):
            if c in dates:
                sheet.write_number(r, c, (value - epoch).days, date)
            elif isinstance(value, str):
                sheet.write_string(r, c, value)
            else:
                sheet.write_number(r, c, value)
    book.close()


def calamine_cells(path: Path) -> int:
    with CalamineWorkbook.from_path(str(path)) as book:
        return len(book.get_sheet_by_index(0).to_python())


def openpyxl_cells(path: Path) -> int:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    count = sum(1 for _ in book.worksheets[0].iter_rows(values_only=True))
    book.close()
    return count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, nargs="?", default=1_000_000)
    parser.add_argument("--skip-openpyxl", action="store_true", help="openpyxl takes minutes")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_excel_") as tmp:
        folder = Path(tmp)
        frame = make_table(args.rows)
        csv_path, xlsx_path = folder / "transactions.csv", folder / "transactions.xlsx"
        frame.to_csv(csv_path, index=False)
        start = time.perf_counter()
        write_workbook(frame, xlsx_path)
        write_seconds = time.perf_counter() - start
        del frame
        print(f"rows             {args.rows:,} x {len(COLUMNS)} columns")
        print(
            f"workbook         {xlsx_path.stat().st_size / 1e6:,.1f} MB (written in "
            f"{write_seconds:.1f} s); CSV {csv_path.stat().st_size / 1e6:,.1f} MB"
        )
        baseline = timed(lambda: pacsv.read_csv(csv_path))
        print(
            f"{'pyarrow CSV read':28s} {baseline:8.2f} s  "
            f"{args.rows / baseline:12,.0f} rows/s     1.0x"
        )
        declared = {c: c for c in COLUMNS}
        readers: list[tuple[str, Callable[[], Any]]] = [
            (
                "custrisk read_raw (xlsx)",
                lambda: read_raw(
                    xlsx_path, columns=declared, date_columns=["txn_date", "due_date"]
                ),
            ),
            ("python-calamine to_python", lambda: calamine_cells(xlsx_path)),
            ("pandas read_excel calamine", lambda: pd.read_excel(xlsx_path, engine="calamine")),
        ]
        if not args.skip_openpyxl:
            readers.append(("openpyxl read-only", lambda: openpyxl_cells(xlsx_path)))
        for name, func in readers:
            seconds = timed(func)
            print(
                f"{name:28s} {seconds:8.2f} s  {args.rows / seconds:12,.0f} rows/s  "
                f"{seconds / baseline:6.1f}x the CSV read"
            )
        print(f"peak memory      {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
