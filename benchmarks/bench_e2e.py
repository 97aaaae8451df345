"""End to end: ``custrisk validate``, ``indicators`` and ``score`` against a pyarrow read.

Usage::

    .venv/bin/python benchmarks/bench_e2e.py [--customers 200000] [--train 20000]
                                             [--profile score]

Generates CUSTOMERS customers of exports (CSV), trains a scorecard on TRAIN other
generated customers (same generator, another seed), then runs each step as its own
process, exactly as a user types it, and measures its wall time and peak memory
(``wait4``'s maximum resident set of that process alone):

* ``read``        pyarrow.csv.read_csv of the three export files (the baseline);
* ``startup``     ``custrisk --version`` (the interpreter and the CLI's imports);
* ``validate``    ``custrisk validate DATA --out DIR``;
* ``indicators``  ``custrisk indicators DATA --out indicators.csv``;
* ``score``       ``custrisk score DATA -m logistic -o run/scores.csv`` (CSV out).

Each step's time and peak memory are printed with their ratios to the read's (memory
also to the input's size on disk). The issue's targets: ``score`` within 3x the read,
``validate`` and ``indicators`` within 2.5x, peak memory under 3x the input size.
``--profile STEP`` also runs that step once under cProfile and prints the 25 costliest
functions (cumulative).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES = ("credit.csv", "transactions.csv", "behaviour.csv")
TARGETS = {"validate": 2.5, "indicators": 2.5, "score": 3.0}
READ = "import sys, pyarrow.csv as c\nfor name in sys.argv[1:]:\n    c.read_csv(name)\n"


def run(argv: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
    if process.returncode not in ok:
        raise SystemExit(f"{' '.join(argv)} exited {process.returncode}:\n{stderr[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def best(argv: list[str], repeat: int, ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    runs = [run(argv, ok) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--train", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per step (best time)")
    parser.add_argument("--profile", choices=["validate", "indicators", "score"])
    args = parser.parse_args(argv)
    from custrisk.sample import generate_sample_data
    from custrisk.scoring import train_model

    python = sys.executable
    cli = [python, "-m", "custrisk", "-q"]
    with tempfile.TemporaryDirectory(prefix="bench_e2e_") as tmp:
        root = Path(tmp)
        data, train_data, models = root / "exports", root / "train", root / "models"
        generate_sample_data(data, customers=args.customers, seed=11)
        generate_sample_data(train_data, customers=args.train, seed=12)
        train_model(train_data, train_data / "labels.csv", algorithm="logistic", models_dir=models)
        size_mb = sum((data / f).stat().st_size for f in FILES) / 2**20
        steps: dict[str, tuple[list[str], tuple[int, ...]]] = {
            "read": ([python, "-c", READ, *(str(data / f) for f in FILES)], (0,)),
            "startup": ([*cli, "--version"], (0,)),
            "validate": ([*cli, "validate", str(data), "--out", str(root / "validation")], (0, 1)),
            "indicators": (
                [*cli, "indicators", str(data), "--out", str(root / "indicators.csv")],
                (0, 1),
            ),
            "score": (
                [
                    *cli,
                    "score",
                    str(data),
                    "-m",
                    "logistic",
                    "--models-dir",
                    str(models),
                    "-o",
                    str(root / "run" / "scores.csv"),
                ],
                (0, 1),
            ),
        }
        results = {name: best(argv_, args.repeat, ok) for name, (argv_, ok) in steps.items()}
        read_s, read_mb = results["read"]
        print(f"{args.customers:,} customers, {size_mb:,.0f} MB of CSV (3 files)")
        print(
            f"{'step':<11} {'time':>8} {'vs read':>8} {'target':>7} {'peak RSS':>9} "
            f"{'vs read':>8} {'vs input':>9}"
        )
        for name, (seconds, mb) in results.items():
            target = f"{TARGETS[name]:.1f}x" if name in TARGETS else ""
            print(
                f"{name:<11} {seconds:7.2f}s {seconds / read_s:7.2f}x {target:>7} "
                f"{mb:8,.0f}M {mb / read_mb:7.2f}x {mb / size_mb:8.2f}x"
            )
        if args.profile:
            argv_, ok = steps[args.profile]
            out = root / "profile.out"
            profiled = [python, "-m", "cProfile", "-o", str(out), *argv_[1:]]
            run(profiled, ok)
            import pstats

            pstats.Stats(str(out)).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
