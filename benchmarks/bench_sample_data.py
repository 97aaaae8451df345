"""Benchmark `custrisk sample-data`: time, throughput and peak memory at scale.

Usage::

    .venv/bin/python benchmarks/bench_sample_data.py [CUSTOMERS] [--dirty] [--no-baseline]

Writes a sample export of CUSTOMERS customers (default 100,000) into a temporary folder
and prints the seconds, rows written per second and the peak resident memory of that
run. Then, in the same process, it builds the same clean tables in memory with
``generate_frames`` and writes them with ``pyarrow.csv.write_csv`` alone (no generation,
no formatting of our own): the baseline. The ratio is our full run (generate + format +
write) over that baseline write time.

Peak memory is ``ru_maxrss``, a high-water mark for the whole process, so it is read
right after our run, before the baseline builds its in-memory frames.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from custrisk.sample import generate_frames, generate_sample_data


def peak_rss_mb() -> float:
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / scale / 1024


def folder_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.iterdir()) / 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("customers", type=int, nargs="?", default=100_000)
    parser.add_argument("--dirty", action="store_true", help="inject faults as well")
    parser.add_argument("--no-baseline", action="store_true", help="skip the pyarrow baseline")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_sample_") as tmp:
        ours_dir = Path(tmp) / "ours"
        start = time.perf_counter()
        summary = generate_sample_data(ours_dir, customers=args.customers, dirty=args.dirty)
        ours = time.perf_counter() - start
        peak = peak_rss_mb()
        rows = sum(summary.rows.values())
        size = folder_mb(ours_dir)
        print(f"customers          {args.customers:,}{' (dirty)' if args.dirty else ''}")
        for name, count in summary.rows.items():
            print(f"  {name:<17}{count:>14,} rows")
        print(f"rows written       {rows:,} ({size:,.0f} MB)")
        print(f"bad rate           {summary.bad_rate:.2%}")
        print(f"seconds            {ours:.2f}")
        print(f"rows/s             {rows / ours:,.0f}")
        print(f"peak memory        {peak:,.0f} MB (ru_maxrss after the run)")
        if args.no_baseline:
            return

        start = time.perf_counter()
        frames = generate_frames(customers=args.customers)
        in_memory = time.perf_counter() - start
        base_dir = Path(tmp) / "baseline"
        base_dir.mkdir()
        tables = {
            name: pa.Table.from_pandas(df, preserve_index=False)
            for name, df in frames.tables().items()
        }
        del frames
        start = time.perf_counter()
        for name, table in tables.items():
            pacsv.write_csv(table, base_dir / name)
        baseline = time.perf_counter() - start
        print(f"generate_frames    {in_memory:.2f} s (in memory, not part of the ratio)")
        base_size = folder_mb(base_dir)
        print(f"pyarrow baseline   {baseline:.2f} s to write the same tables ({base_size:,.0f} MB)")
        print(f"ratio              {ours / baseline:.2f}x (our generate+write / pyarrow write)")
        print(f"peak memory total  {peak_rss_mb():,.0f} MB (including the in-memory baseline)")


if __name__ == "__main__":
    main()
