"""Benchmark PDF report rendering: reports per second, batch against one process per report.

Usage::

    .venv/bin/python benchmarks/bench_report.py [--customers 2000] [--reports 400]
        [--workers 2] [--naive 16]

1. Generates CUSTOMERS customers of sample exports, trains the logistic scorecard and
   scores them (the real pipeline: scores, details, run facts, alerts).
2. For zh and en, renders REPORTS customer reports with ``render_reports`` on WORKERS
   worker processes (spawn, one compiled template set, stylesheet, font configuration
   and compact CJK font per worker; ``--force``, no portfolio), and reports the rate
   over the wall time of the whole call (pool start included) and the mean time per
   document inside a worker.
3. The naive way: NAIVE reports, each rendered by its own ``custrisk report ...
   --customers ID --workers 0`` process (WORKERS of them at a time, so both use the same
   cores), and prints the batch's speed-up over it.

Other work on the machine slows both; the load average is printed to judge the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from custrisk.report.batch import render_reports
from custrisk.report.inputs import read_scores
from custrisk.report.render import harfbuzz_subset_available
from custrisk.sample import generate_sample_data
from custrisk.scoring import score_portfolio, train_model


def prepare(folder: Path, customers: int) -> Path:
    """Sample exports -> model -> scores (with policy and alerts); returns the scores path."""
    data = folder / "exports"
    generate_sample_data(data, customers=customers, seed=11)
    train_model(data, data / "labels.csv", models_dir=folder / "models")
    scores = folder / "run" / "scores.csv"
    score_portfolio(data, "logistic", models_dir=folder / "models").write(scores)
    return scores


def batch(scores: Path, out: Path, ids: list[str], lang: str, workers: int) -> dict[str, float]:
    start = time.perf_counter()
    result = render_reports(
        scores, out, customers=ids, lang=lang, workers=workers, portfolio=False, force=True
    )
    seconds = time.perf_counter() - start
    if result.failed:
        raise SystemExit(f"{len(result.failed)} reports failed: {result.failed[0].error}")
    sizes = [(out / r.file).stat().st_size for r in result.results]
    return {
        "rate": len(ids) / seconds,
        "seconds": seconds,
        "per_doc_ms": 1000 * statistics.mean(r.seconds for r in result.results),
        "size_kb": statistics.median(sizes) / 1024,
        "two_pages": sum(r.pages == 2 for r in result.results) / len(result.results),
    }


def naive(scores: Path, out: Path, ids: list[str], lang: str, workers: int) -> float:
    """Reports per second when every report is its own ``custrisk report`` process."""

    def one(customer: str) -> None:
        subprocess.run(  # noqa: S603 - our own CLI
            [
                sys.executable,
                "-m",
                "custrisk",
                "-q",
                "report",
                str(scores),
                "--out",
                str(out),
                "--customers",
                customer,
                "--workers",
                "0",
                "--no-portfolio",
                "--force",
                "--lang",
                lang,
            ],
            check=True,
            capture_output=True,
        )

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, ids))
    return len(ids) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--reports", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--naive", type=int, default=16)
    args = parser.parse_args(argv)
    print(
        f"cpus {os.cpu_count()}, workers {args.workers}, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, harfbuzz-subset "
        f"{'yes' if harfbuzz_subset_available() else 'NO (slow fontTools subsetting)'}"
    )
    with tempfile.TemporaryDirectory(prefix="bench_report_") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        scores = prepare(folder, args.customers)
        print(
            f"prepared {args.customers:,} scored customers in {time.perf_counter() - start:.1f} s"
        )
        ids = read_scores(scores)["customer_id"].tolist()
        for lang in ("zh", "en"):
            chosen = ids[: args.reports]
            result = batch(scores, folder / f"out_{lang}", chosen, lang, args.workers)
            slow = naive(scores, folder / f"naive_{lang}", ids[-args.naive :], lang, args.workers)
            print(
                f"{lang}: {result['rate']:5.1f} reports/s on {args.workers} workers "
                f"({len(chosen)} reports in {result['seconds']:.1f} s, pool start included; "
                f"{result['per_doc_ms']:.0f} ms per report in a worker; median PDF "
                f"{result['size_kb']:.0f} kB, {result['two_pages']:.0%} two pages) | naive, one "
                f"process per report: {slow:4.2f} reports/s | batch / naive = "
                f"{result['rate'] / slow:4.1f}x"
            )


if __name__ == "__main__":
    main()
