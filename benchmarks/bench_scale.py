"""``custrisk score`` on the pandas engine against the Dask engine (issue 16).

Usage::

    .venv/bin/python benchmarks/bench_scale.py [--customers 20000] [--train 3000]
                                               [--buckets 4] [--scheduler tcp://HOST:8786]

Generates CUSTOMERS customers of exports (CSV), trains a scorecard on TRAIN other
generated customers, then runs ``custrisk score`` as its own process with
``--engine pandas`` (the baseline) and ``--engine dask`` (a LocalCluster of 2 worker
processes started by the command, or ``--scheduler``), and prints each one's wall time,
customers per second, the peak memory of its largest process (``wait4``: the command and
the workers it waited for) and the ratio to the pandas engine measured in the same run.
The two runs' files are compared byte for byte (they must be equal).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall time (s) and peak resident memory (bytes) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        assert proc.stderr is not None
        sys.exit(f"failed: {' '.join(args)}\n{proc.stderr.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--train", type=int, default=3_000)
    parser.add_argument("--buckets", type=int, default=4)
    parser.add_argument("--scheduler", default=None)
    options = parser.parse_args()

    from custrisk.sample import generate_sample_data

    env = dict(os.environ, CUSTRISK_AUDIT="off")
    cli = [sys.executable, "-m", "custrisk"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data, train, models = root / "data", root / "train", root / "models"
        generate_sample_data(data, customers=options.customers, seed=1)
        generate_sample_data(train, customers=options.train, seed=2)
        subprocess.run(
            [*cli, "train", str(train), "--labels", str(train / "labels.csv")]
            + ["--models-dir", str(models)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        common = [*cli, "score", str(data), "-m", "logistic", "--models-dir", str(models)]
        dask = ["--engine", "dask", "--buckets", str(options.buckets)]
        if options.scheduler:
            dask += ["--scheduler", options.scheduler]
        runs = {
            "pandas": [*common, "-o", str(root / "pandas" / "scores.csv")],
            "dask": [*common, "-o", str(root / "dask" / "scores.csv"), *dask],
        }
        measured = {name: _run(args, env) for name, args in runs.items()}
        for name in sorted(p.name for p in (root / "pandas").iterdir()):
            same = (root / "pandas" / name).read_bytes() == (root / "dask" / name).read_bytes()
            if name.endswith(".csv") and not same:
                sys.exit(f"{name} differs between the engines")
    base_time, base_memory = measured["pandas"]
    print(f"{options.customers:,} customers, dask: {options.buckets} buckets")
    print(f"{'engine':8} {'time s':>8} {'cust/s':>10} {'peak MB':>9} {'x time':>7} {'x mem':>6}")
    for name, (elapsed, memory) in measured.items():
        print(
            f"{name:8} {elapsed:8.2f} {options.customers / elapsed:10,.0f} "
            f"{memory / 2**20:9.0f} {elapsed / base_time:7.2f} {memory / base_memory:6.2f}"
        )
    print("files equal between the engines: yes")


if __name__ == "__main__":
    main()
