"""End to end: ``custrisk validate``, ``indicators`` and ``score`` against a pyarrow read.

Usage::

    .venv/bin/python benchmarks/bench_e2e.py [--customers 200000] [--train 20000]
                                             [--data DIR] [--models-dir DIR]
                                             [--inputs csv,parquet] [--steps ...]
                                             [--repeat N] [--profile score] [--audit]

Generates CUSTOMERS customers of exports (CSV), or reuses the exports in ``--data DIR``
(read only: nothing is written there), and trains a scorecard on TRAIN other generated
customers (same generator, another seed), or reuses the ``logistic`` model in
``--models-dir DIR``. ``--customers 1000000`` is the 1M run (about 2 GB of CSV; the
temporary folder needs room for it and its Parquet copy). Then, for each input format,
runs each step as its own process, exactly as a user types it, and measures its wall
time and peak memory (``wait4``'s maximum resident set of that process alone):

* ``read``        the baseline: ``pyarrow.csv.read_csv`` of the three export files, or
                  ``pyarrow.parquet.read_table`` of their Parquet copies;
* ``startup``     ``custrisk --version`` (the interpreter and the CLI's imports);
* ``validate``    ``custrisk validate DATA --out DIR``;
* ``indicators``  ``custrisk indicators DATA --out indicators.csv``;
* ``score``       ``custrisk score DATA -m logistic -o run/scores.csv`` (CSV out).

Parquet inputs are the same exports written once as Parquet (``credit.parquet``, ...)
with the column types the packaged sources config declares (ids and categories as
text, dates as timestamps, numbers, booleans), read through a copy of that config whose
``file:`` entries name the Parquet files (``--sources``).

The steps run with ``CUSTRISK_AUDIT=off``; ``--audit`` runs them audited instead, as an
installation with an audit key does (a key and log of their own in the temporary
folder): each audit line hashes the command's inputs and outputs.

Each step's time and peak memory are printed with their ratios to the read's of the
same format (memory also to the input's size on disk). The issue's targets: ``score``
within 3x the read, ``validate`` and ``indicators`` within 2.5x, peak memory under 3x
the input size. ``--profile STEP`` also runs that step once (CSV input) under cProfile
and prints the 25 costliest functions (cumulative). The machine's load average is
printed with the figures: times on a busy machine are not comparable to a quiet one's.
The read is run once untimed before the steps (a warm-up), and custrisk's modules are
compiled to bytecode (as an installed package has them); take ``--repeat 2`` or more
for figures to quote: each step's best run counts. ``system`` is the best run's kernel
CPU time (page faults: docs/performance.md, seventh and eleventh rounds); ``user`` the
least user CPU time of the runs, with its ratio to the read's: on a virtual machine
whose host backs memory on first touch, the steadiest measure of the work done.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

NAMES = ("credit", "transactions", "behaviour")
FILES = tuple(f"{name}.csv" for name in NAMES)
STEPS = ("read", "startup", "validate", "indicators", "score")
TARGETS = {"validate": 2.5, "indicators": 2.5, "score": 3.0}
READ = {
    "csv": "import sys, pyarrow.csv as c\nfor name in sys.argv[1:]:\n    c.read_csv(name)\n",
    "parquet": (
        "import sys, pyarrow.parquet as p\nfor name in sys.argv[1:]:\n    p.read_table(name)\n"
    ),
}


def run(argv: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, float, float, float]:
    """Wall seconds, peak RSS (MB), system CPU seconds (the kernel's share: mostly
    zeroing fresh pages, which on a virtual machine is where the host backs them, and
    as noisy as the host) and user CPU seconds (the steadiest figure: the work itself)
    of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
    if process.returncode not in ok:
        raise SystemExit(f"{' '.join(argv)} exited {process.returncode}:\n{stderr[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, usage.ru_stime, usage.ru_utime


def best(
    argv: list[str], repeat: int, ok: tuple[int, ...] = (0,)
) -> tuple[float, float, float, float]:
    """The fastest run's time, the largest peak of all runs, the fastest run's system
    time and the least user time of all runs."""
    runs = [run(argv, ok) for _ in range(repeat)]
    fastest = min(runs, key=lambda r: r[0])
    return fastest[0], max(r[1] for r in runs), fastest[2], min(r[3] for r in runs)


def in_child(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` run in a new interpreter. A process started by ``fork`` counts
    the pages of its parent in its peak RSS (Linux keeps the peak across ``exec``), so the
    steps' peaks would include whatever generating or converting the data left in this
    one; this process stays small."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


COMPILE = (
    "import compileall, os, custrisk; "
    "compileall.compile_dir(os.path.dirname(custrisk.__file__), quiet=1)"
)


def generate(data: Path, customers: int, seed: int) -> None:
    from custrisk.sample import generate_sample_data

    generate_sample_data(data, customers=customers, seed=seed)


def train(folder: Path, customers: int, models: Path) -> None:
    from custrisk.scoring import train_model

    generate(folder, customers, 12)  # other customers than the scored ones (seed 11)
    train_model(folder, folder / "labels.csv", algorithm="logistic", models_dir=models)


def write_parquet(data: Path, out: Path) -> Path:
    """The exports of ``data`` as Parquet files in ``out`` (typed as the packaged sources
    config declares), and a sources config that reads them; returns that config's path."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from custrisk.config.sources import load_sources_config
    from custrisk.data.clean_columns import ARROW_TYPES

    config = load_sources_config(None)
    out.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        spec = config.sources[name]
        types = {c.name: ARROW_TYPES.get(c.type, pa.string()) for c in spec.columns}
        table = pacsv.read_csv(
            data / f"{name}.csv",
            convert_options=pacsv.ConvertOptions(
                column_types=types, strings_can_be_null=False, timestamp_parsers=["%Y-%m-%d"]
            ),
        )
        pq.write_table(table, out / f"{name}.parquet")
        del table
    text = Path(config.path).read_text(encoding="utf-8")
    for name in NAMES:
        text = re.sub(rf"file: {name}\.csv\b", f"file: {name}.parquet", text)
    sources = out / "sources_parquet.yaml"
    sources.write_text(text, encoding="utf-8")
    return sources


def commands(
    python: str, data: Path, models: Path, out: Path, kind: str, sources: Path | None
) -> dict[str, tuple[list[str], tuple[int, ...]]]:
    cli = [python, "-m", "custrisk", "-q"]
    files = [str(data / f"{name}.{kind}") for name in NAMES]
    given = ["--sources", str(sources)] if sources is not None else []
    return {
        "read": ([python, "-c", READ[kind], *files], (0,)),
        "startup": ([*cli, "--version"], (0,)),
        "validate": (
            [*cli, "validate", str(data), "--out", str(out / "validation"), *given],
            (0, 1),
        ),
        "indicators": (
            [*cli, "indicators", str(data), "--out", str(out / "indicators.csv"), *given],
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
                str(out / "run" / "scores.csv"),
                *given,
            ],
            (0, 1),
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--train", type=int, default=20_000)
    parser.add_argument("--data", type=Path, help="reuse these exports (CSV; read only)")
    parser.add_argument("--models-dir", type=Path, help="reuse the logistic model in here")
    parser.add_argument(
        "--inputs", default="csv,parquet", help="input formats, comma-separated: csv, parquet"
    )
    parser.add_argument(
        "--steps", default=",".join(STEPS), help=f"steps, comma-separated: {', '.join(STEPS)}"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per step (best time)")
    parser.add_argument("--profile", choices=["validate", "indicators", "score"])
    parser.add_argument(
        "--audit",
        action="store_true",
        help="run the steps audited (a key and log of their own), as an installation "
        "with an audit key runs them; without it, CUSTRISK_AUDIT=off",
    )
    args = parser.parse_args(argv)
    kinds = [k for k in args.inputs.split(",") if k]
    steps = ["read", *(s for s in args.steps.split(",") if s and s != "read")]
    if not set(kinds) <= set(READ) or not set(steps) <= set(STEPS):
        parser.error(f"--inputs takes csv, parquet; --steps takes {', '.join(STEPS)}")

    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench_e2e_") as tmp:
        root = Path(tmp)
        # The steps inherit this environment: audited or not by the option, never by
        # whatever key file the machine's user happens to have
        os.environ["CUSTRISK_AUDIT"] = "off"
        if args.audit:
            os.environ.update(
                CUSTRISK_AUDIT="on",
                CUSTRISK_KEYFILE=str(root / "keys.json"),
                CUSTRISK_AUDIT_LOG=str(root / "audit.log"),
            )
            run([python, "-m", "custrisk", "keys", "new", "--purpose", "audit"])
        data = args.data or root / "exports"
        if args.data is None:
            in_child(generate, data, args.customers, 11)
        models = args.models_dir or root / "models"
        if args.models_dir is None and ({"score"} & set(steps) or args.profile == "score"):
            in_child(train, root / "train", args.train, models)
        customers = sum(1 for _ in (data / "credit.csv").open("rb")) - 1
        for kind in kinds:
            sources = None
            inputs = data
            if kind == "parquet":
                inputs = root / "parquet"
                sources = in_child(write_parquet, data, inputs)
            size_mb = sum((inputs / f"{n}.{kind}").stat().st_size for n in NAMES) / 2**20
            out = root / f"out_{kind}"
            table = commands(python, inputs, models, out, kind, sources)
            results = {}
            loads = []
            # One read first, not timed: on a virtual machine the first process to take
            # memory after a pause pays for the host backing it again (seen as 6.0 against
            # 11.2 s for the same read at 1,000,000 customers), and the baseline would be
            # the slow one.
            run(*table["read"])
            # custrisk's modules compiled once, as an installed package has them: where
            # PYTHONDONTWRITEBYTECODE is set (container images) an editable install
            # otherwise compiles all of them in every command (0.2 s of each step here)
            run([python, "-c", COMPILE], (0,))
            for name in steps:
                loads.append(os.getloadavg()[0])
                results[name] = best(table[name][0], args.repeat, table[name][1])
            read_s, read_mb, _, read_user = results["read"]
            print(
                f"{customers:,} customers, {size_mb:,.0f} MB of {kind.upper()} (3 files); "
                f"load average {min(loads):.1f}-{max(loads):.1f} (1 min) during the run; "
                f"audit {'on' if args.audit else 'off'}"
            )
            print(
                f"{'step':<11} {'time':>8} {'vs read':>8} {'target':>7} {'system':>7} "
                f"{'user':>7} {'vs read':>8} {'peak RSS':>9} {'vs read':>8} {'vs input':>9}"
            )
            for name, (seconds, mb, system, user) in results.items():
                target = f"{TARGETS[name]:.1f}x" if name in TARGETS else ""
                print(
                    f"{name:<11} {seconds:7.2f}s {seconds / read_s:7.2f}x {target:>7} "
                    f"{system:6.2f}s {user:6.2f}s {user / read_user:7.2f}x "
                    f"{mb:8,.0f}M {mb / read_mb:7.2f}x {mb / size_mb:8.2f}x"
                )
            print()
        if args.profile:
            argv_, ok = commands(python, data, models, root / "out_profile", "csv", None)[
                args.profile
            ]
            profile = root / "profile.out"
            run([python, "-m", "cProfile", "-o", str(profile), *argv_[1:]], ok)
            import pstats

            pstats.Stats(str(profile)).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
