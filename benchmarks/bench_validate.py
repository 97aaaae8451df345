"""Benchmark loading + validating + cleaning exports against a bare pyarrow read.

Usage::

    .venv/bin/python benchmarks/bench_validate.py [CUSTOMERS] [--dirty]

Generates an export of CUSTOMERS customers (default 100,000; about 24 transactions and
6 events each) into a temporary folder, then, in the same process:

* baseline: ``pyarrow.csv.read_csv`` of the three files (type inference, no checks);
* ours: ``custrisk.data.load_workspace`` (encoding detection, every rule, typed frames).

Each is run twice and the faster run counts (the first warms the page cache). Prints
seconds, rows per second, the ratio ours / baseline and the peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import pyarrow.csv as pacsv

from custrisk.data import load_workspace
from custrisk.sample import generate_sample_data

FILES = ("credit.csv", "transactions.csv", "behaviour.csv")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_of(runs: int, func) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("customers", type=int, nargs="?", default=100_000)
    parser.add_argument("--dirty", action="store_true", help="inject faults as well")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_validate_") as tmp:
        folder = Path(tmp)
        summary = generate_sample_data(folder, customers=args.customers, dirty=args.dirty)
        rows = sum(summary.rows[name] for name in FILES)
        baseline = best_of(2, lambda: [pacsv.read_csv(folder / name) for name in FILES])
        ours = best_of(2, lambda: load_workspace(folder))
        print(f"customers        {args.customers:,}{' (dirty)' if args.dirty else ''}")
        print(f"rows             {rows:,}")
        print(f"pyarrow read     {baseline:8.2f} s  {rows / baseline:12,.0f} rows/s")
        print(f"load_workspace   {ours:8.2f} s  {rows / ours:12,.0f} rows/s")
        print(f"ratio            {ours / baseline:8.2f} x the bare read")
        print(f"peak memory      {peak_rss_mb():8,.0f} MB")


if __name__ == "__main__":
    main()
