"""Speed and memory of the indicator step at scale, against reading the CSVs alone.

Generates N customers (about 24 transactions and 6 service events each) as CSV in a temp
folder, then runs each measurement in a fresh process so that its peak memory is its
own:

* ``read``     -- pyarrow.csv reads the three files (the baseline);
* ``compute``  -- the same read, conversion to pandas with the loader's dtypes, and
  ``compute_indicators`` with the default config (the cost of the indicator step);
* ``pipeline`` -- ``custrisk.data.load_workspace`` (read + validate + clean) and
  ``compute_indicators``: what ``custrisk indicators`` does.

Usage::

    .venv/bin/python benchmarks/bench_indicators.py --customers 100000
    .venv/bin/python benchmarks/bench_indicators.py --customers 1000000 --skip-pipeline

Goal for 1M customers: ``compute`` within 3x the ``read`` time, peak memory < 8 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

FILES = ("credit.csv", "transactions.csv", "behaviour.csv")
TEXT_COLUMNS = ("customer_id", "txn_id", "event_id", "phone", "id_number", "name")
GOAL_RATIO = 3.0
GOAL_MEMORY_GB = 8.0


# -- data --------------------------------------------------------------------------------------


def generate(out_dir: Path, customers: int, seed: int) -> str:
    """Write credit/transactions/behaviour CSVs; returns how they were made."""
    try:
        from custrisk.sample import generate_sample_data
    except ImportError:
        _generate_simple(out_dir, customers, seed)
        return "simple numpy generator (custrisk.sample not available)"
    generate_sample_data(out_dir, customers=customers, seed=seed)
    return "custrisk.sample.generate_sample_data"


def _generate_simple(out_dir: Path, customers: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    as_of = np.datetime64("2026-10-31")
    ids = np.char.add("C", np.char.zfill(np.arange(customers).astype(str), 9))
    credit = pa.table(
        {
            "customer_id": ids,
            "region": rng.choice(["华东", "华北", "华南", "西南"], customers),
            "industry": rng.choice(["制造业", "批发零售", "建筑"], customers),
            "customer_since": as_of - rng.integers(30, 4000, customers).astype("timedelta64[D]"),
            "bureau_score": rng.integers(300, 900, customers),
            "bureau_score_3m_ago": rng.integers(300, 900, customers),
            "annual_income": np.round(rng.gamma(2, 100_000, customers), 2),
            "credit_limit": np.round(rng.gamma(2, 30_000, customers), -3),
            "outstanding_balance": np.round(rng.gamma(2, 10_000, customers), 2),
            "overdue_amount": np.round(rng.gamma(1, 500, customers), 2),
            "max_days_past_due_12m": rng.integers(0, 120, customers),
        }
    )
    pacsv.write_csv(credit, out_dir / "credit.csv")
    m = customers * 24
    txn_date = as_of - rng.integers(0, 365, m).astype("timedelta64[D]")
    due = txn_date + np.timedelta64(30, "D")
    paid = due + rng.integers(-10, 30, m).astype("timedelta64[D]")
    transactions = pa.table(
        {
            "txn_id": np.char.add("T", np.arange(m).astype(str)),
            "customer_id": ids[rng.integers(0, customers, m)],
            "txn_date": txn_date,
            "amount": np.round(rng.gamma(2, 1_000, m), 2),
            "txn_type": rng.choice(
                ["order", "payment", "refund", "chargeback"], m, p=[0.6, 0.35, 0.04, 0.01]
            ),
            "channel": rng.choice(["online", "agent", "branch"], m),
            "due_date": due,
            "paid_date": pa.array(paid, mask=rng.random(m) < 0.2),
        }
    )
    pacsv.write_csv(transactions, out_dir / "transactions.csv")
    k = customers * 6
    behaviour = pa.table(
        {
            "event_id": np.char.add("E", np.arange(k).astype(str)),
            "customer_id": ids[rng.integers(0, customers, k)],
            "event_date": as_of - rng.integers(0, 365, k).astype("timedelta64[D]"),
            "event_type": rng.choice(["contact", "complaint", "follow_up", "feedback"], k),
            "channel": rng.choice(["phone", "email", "visit"], k),
            "response_hours": np.round(rng.gamma(2, 5, k), 1),
            "resolved": pa.array(rng.random(k) < 0.7, mask=rng.random(k) < 0.5),
            "satisfaction": pa.array(rng.integers(1, 6, k), mask=rng.random(k) < 0.6),
        }
    )
    pacsv.write_csv(behaviour, out_dir / "behaviour.csv")


# -- phases (each in its own process) -----------------------------------------------------------


def _convert_options() -> pacsv.ConvertOptions:
    return pacsv.ConvertOptions(
        column_types={name: pa.string() for name in TEXT_COLUMNS}, strings_can_be_null=True
    )


def read_tables(data_dir: Path) -> dict[str, pa.Table]:
    return {
        name.removesuffix(".csv"): pacsv.read_csv(
            data_dir / name, convert_options=_convert_options()
        )
        for name in FILES
    }


def _to_frames(tables: dict[str, pa.Table]) -> dict[str, Any]:
    import pandas as pd

    mapper = {pa.bool_(): pd.BooleanDtype(), pa.int64(): pd.Int64Dtype()}.get
    frames = {}
    for name in list(tables):
        table = tables.pop(name)  # freed while converted: lower peak memory
        frames[name] = table.to_pandas(
            date_as_object=False, types_mapper=mapper, self_destruct=True, split_blocks=True
        )
        del table
    return frames


def phase(name: str, data_dir: Path) -> dict[str, Any]:
    """Run one measurement; returns timings in seconds."""
    timings: dict[str, Any] = {}
    start = time.perf_counter()
    if name == "read":
        tables = read_tables(data_dir)
        timings["read"] = time.perf_counter() - start
        timings["rows"] = sum(t.num_rows for t in tables.values())
    elif name == "compute":
        from custrisk.indicators import compute_indicators, load_indicator_config

        tables = read_tables(data_dir)
        timings["read"] = time.perf_counter() - start
        t = time.perf_counter()
        frames = _to_frames(tables)
        del tables
        timings["to_pandas"] = time.perf_counter() - t
        t = time.perf_counter()
        result = compute_indicators(frames, load_indicator_config())
        timings["indicators"] = time.perf_counter() - t
        timings["rows"] = sum(len(f) for f in frames.values())
        timings["customers"] = len(result.frame)
    else:
        from custrisk.data import load_workspace
        from custrisk.indicators import compute_indicators, load_indicator_config

        workspace = load_workspace(data_dir)
        timings["load_workspace"] = time.perf_counter() - start
        t = time.perf_counter()
        result = compute_indicators(workspace.frames, load_indicator_config())
        timings["indicators"] = time.perf_counter() - t
        timings["rows"] = sum(len(f) for f in workspace.frames.values())
        timings["customers"] = len(result.frame)
    timings["total"] = time.perf_counter() - start
    return timings


def _run_phase(name: str, data_dir: Path, traced: bool) -> dict[str, Any]:
    if traced:
        tracemalloc.start()
    timings = phase(name, data_dir)
    if traced:
        timings["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    timings["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    timings["arrow_peak_mb"] = (pa.default_memory_pool().max_memory() or 0) / 2**20
    return timings


def _spawn(name: str, data_dir: Path, traced: bool) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", name, "--data-dir", str(data_dir)]
    if traced:
        cmd.append("--tracemalloc")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- main ---------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return float(np.median(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each phase, interleaved; medians are reported",
    )
    parser.add_argument("--data-dir", type=Path, help="reuse this folder instead of generating")
    parser.add_argument("--keep", action="store_true", help="keep the generated folder")
    parser.add_argument(
        "--skip-pipeline", action="store_true", help="skip the load_workspace + indicators run"
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also trace Python/NumPy allocations (slower; Arrow not traced)",
    )
    parser.add_argument("--phase", choices=("read", "compute", "pipeline"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        print(json.dumps(_run_phase(args.phase, args.data_dir, args.tracemalloc)))
        return

    temp = None
    data_dir = args.data_dir
    if data_dir is None:
        temp = Path(tempfile.mkdtemp(prefix="custrisk-bench-"))
        data_dir = temp / "data"
        t = time.perf_counter()
        how = generate(data_dir, args.customers, args.seed)
        print(
            f"generated {args.customers:,} customers with {how} in "
            f"{time.perf_counter() - t:.1f} s into {data_dir}"
        )
    size = sum((data_dir / f).stat().st_size for f in FILES) / 2**20
    phases = ["read", "compute"] + ([] if args.skip_pipeline else ["pipeline"])
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in phases}
    try:
        for _ in range(max(1, args.repeat)):  # interleaved, so that machine noise hits all
            for name in phases:
                runs[name].append(_spawn(name, data_dir, args.tracemalloc))
    finally:
        if temp is not None and not args.keep:
            shutil.rmtree(temp, ignore_errors=True)

    rows = runs["read"][0]["rows"]
    base = _median([r["total"] for r in runs["read"]])
    print(
        f"\ninput: {rows:,} rows in {size:,.0f} MiB of CSV ({data_dir}); "
        f"{len(runs['read'])} interleaved runs per phase, medians"
    )
    print(
        f"{'phase':<10}{'seconds':>9}{'(min)':>8}{'rows/s':>13}{'x read':>8}{'peak RSS':>11}"
        f"{'arrow peak':>12}  details"
    )
    for name, results in runs.items():
        total = _median([r["total"] for r in results])
        fastest = min(r["total"] for r in results)
        peak = max(r["maxrss_mb"] for r in results)
        arrow = max(r["arrow_peak_mb"] for r in results)
        details = ", ".join(
            f"{k} {_median([r[k] for r in results]):.2f}s"
            for k in ("read", "to_pandas", "indicators", "load_workspace")
            if k in results[0]
        )
        if "tracemalloc_peak_mb" in results[0]:
            traced = max(r["tracemalloc_peak_mb"] for r in results)
            details += f", tracemalloc peak {traced:,.0f} MiB"
        print(
            f"{name:<10}{total:>9.2f}{fastest:>8.2f}{rows / total:>13,.0f}{total / base:>8.2f}"
            f"{peak:>9,.0f}Mi{arrow:>10,.0f}Mi  {details}"
        )
    compute = _median([r["total"] for r in runs["compute"]])
    ratio = compute / base
    peak_gb = max(r["maxrss_mb"] for r in runs["compute"]) / 1024
    verdict = "met" if ratio <= GOAL_RATIO and peak_gb < GOAL_MEMORY_GB else "NOT met"
    print(
        f"\ngoal (read + indicators <= {GOAL_RATIO:g}x read, peak < {GOAL_MEMORY_GB:g} GB): "
        f"{verdict} -- {ratio:.2f}x, {peak_gb:.2f} GB"
    )


if __name__ == "__main__":
    main()
