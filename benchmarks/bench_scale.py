"""``custrisk score`` on the pandas engine against the Dask engine, over a series of sizes
(issue 16).

Usage::

    .venv/bin/python benchmarks/bench_scale.py [--series 200000 500000 1000000]
        [--customers 20000] [--train 3000] [--buckets N] [--files-per-source 1]
        [--memory-limit 1.5GB] [--scheduler tcp://HOST:8786] [--data-root DIR]
        [--plot docs/scale.png]

For each size (``--series``, or the one ``--customers``) it generates that many customers
of exports (CSV, seed 1), trains a scorecard on TRAIN other generated customers, then
runs ``custrisk score`` as its own process with ``--engine pandas`` (the baseline) and
``--engine dask`` (a LocalCluster of 2 worker processes started by the command, with
``--memory-limit`` each, or ``--scheduler``). The two runs' files are compared byte for
byte (they must be equal).

``--files-per-source N`` cuts each source's file into N files at line boundaries (each
with the header: ``transactions-0.csv`` ...) and scores them through a sources config
that reads ``transactions-*.csv``, as a partitioned export would be read: the Dask engine
reads each file as one partition, so a worker holds one part, not the whole source. Both
engines read the same files.

``--data-root DIR`` keeps the generated exports, their parts and the trained model in
DIR and reuses them in later runs (generation is slow at a million customers), and
appends each figure to ``DIR/results.jsonl``; without it everything lives in a
temporary folder. The growth and the plot then cover every size measured with the
same options in this run or earlier ones (``--engines pandas`` adds a size for one
engine only).

Printed per size and engine: wall time, customers/s, transaction rows/s, the peak
resident memory of the command's own process (the client) and of its largest child (a
worker of the local cluster; ``getrusage``), the largest process of the whole run
(``wait4``), the 1-minute load average before and after (the machine is often shared:
read ratios, not seconds), and the ratios to the pandas engine. Then how time grows
between consecutive sizes: the ratio of times over the ratio of sizes (1.0 is linear).
``--plot FILE`` draws time and peak memory per process against customers (matplotlib,
a dev dependency).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

#: The sources of the generated exports (their files in the packaged sources config).
SOURCES = ("credit", "transactions", "behaviour")

# Runs the CLI in this process and writes its own peak memory and its largest waited-for
# child's (the local cluster's workers are its children) to the file named first.
_MEASURED_CLI = """
import json, resource, sys
out = sys.argv.pop(1)
sys.argv[0] = "custrisk"
try:
    # custrisk finds libc once (ctypes.util.find_library runs ldconfig); do it now, while
    # this process is small: a child started from a large process reports its size
    from custrisk.io.memory import _libc
    _libc()
    from custrisk.cli import main
    main()
finally:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    with open(out, "w") as f:
        json.dump({"client": own, "children": kids}, f)
"""


@dataclass
class Measure:
    customers: int
    engine: str
    seconds: float
    client: int  # peak RSS of the command's process, bytes
    worker: int  # peak RSS of its largest child (a local worker), bytes; 0 if none
    largest: int  # peak RSS of the largest process of the run (wait4), bytes
    load_before: float
    load_after: float


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[0]


def _run(args: list[str], env: dict[str, str], scratch: Path) -> tuple[float, int, int, int]:
    """Wall time (s), the client's peak, the largest child's peak and the largest
    process's peak (bytes) of one ``custrisk`` command."""
    memory = scratch / "rusage.json"
    argv = [sys.executable, "-c", _MEASURED_CLI, str(memory), *args]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    # read stderr while waiting: a chatty command must not block on a full pipe
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: custrisk {' '.join(args)}\n{err.decode()[-2000:]}")
    peaks = json.loads(memory.read_text())
    return elapsed, peaks["client"], peaks["children"], usage.ru_maxrss * 1024


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 24):
            count += chunk.count(b"\n")
    return count


def _split(source: Path, folder: Path, parts: int) -> None:
    """``source`` cut into ``parts`` files at line boundaries, each with the header."""
    size = source.stat().st_size
    with source.open("rb") as f:
        header = f.readline()
        body = size - len(header)
        for i in range(parts):
            end = len(header) + body * (i + 1) // parts
            with (folder / f"{source.stem}-{i}.csv").open("wb") as out:
                out.write(header)
                while f.tell() < end:
                    out.write(f.read(min(1 << 24, end - f.tell())))
                if i < parts - 1:
                    out.write(f.readline())  # up to the end of the line cut


def _generated(root: Path, name: str, customers: int, seed: int) -> Path:
    """Exports of ``customers`` customers in ``root / name``, generated once."""
    from custrisk.sample import generate_sample_data

    folder = root / name
    marker = folder / ".generated"
    if not marker.exists():
        started = time.perf_counter()
        generate_sample_data(folder, customers=customers, seed=seed)
        marker.write_text(f"customers={customers} seed={seed}\n")
        print(f"generated {customers:,} customers in {time.perf_counter() - started:.0f} s")
    return folder


def _parts(data: Path, parts: int) -> tuple[Path, Path | None]:
    """The folder to score and its sources config: ``data`` itself for one file per
    source, else its sources cut into ``parts`` files each (made once)."""
    if parts == 1:
        return data, None
    import custrisk

    folder = data / f"parts-{parts}"
    config = folder / "sources.yaml"
    if not config.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        for name in SOURCES:
            _split(data / f"{name}.csv", folder, parts)
        packaged = Path(custrisk.__file__).parent / "defaults" / "configs" / "sources.yaml"
        text = packaged.read_text(encoding="utf-8")
        for name in SOURCES:
            if f"file: {name}.csv" not in text:
                sys.exit(f"the packaged sources config has no 'file: {name}.csv' to replace")
            text = text.replace(f"file: {name}.csv", f"file: {name}-*.csv")
        config.write_text(text, encoding="utf-8")  # last: marks the parts complete
    return folder, config


def _transaction_rows(data: Path) -> int:
    counted = data / ".transaction_rows"
    if not counted.exists():
        counted.write_text(str(_count_lines(data / "transactions.csv") - 1))
    return int(counted.read_text())


def _model(root: Path, train: int, env: dict[str, str]) -> Path:
    models = root / f"models-train-{train}"
    if not (models / ".trained").exists():
        data = _generated(root, f"train-{train}", train, seed=2)
        shutil.rmtree(models, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "custrisk", "train", str(data)]
            + ["--labels", str(data / "labels.csv"), "--models-dir", str(models)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (models / ".trained").write_text("")
    return models


# a point's value written beside it: above and left of it, or below and right
_NOTE: dict[str, Any] = {"textcoords": "offset points", "fontsize": 8}
_ABOVE: dict[str, Any] = {**_NOTE, "xytext": (-6, 6), "ha": "right", "va": "bottom"}
_BELOW: dict[str, Any] = {**_NOTE, "xytext": (6, -6), "ha": "left", "va": "top"}


def _plot(
    measures: list[Measure],
    path: Path,
    title: str,
    memory_limit: str | None,
    rows_per_customer: float,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    def of(engine: str) -> list[Measure]:
        return [m for m in measures if m.engine == engine]

    pandas, dask = of("pandas"), of("dask")
    thousands = FuncFormatter(lambda x, _: f"{x / 1000:,.0f}k" if x < 1e6 else f"{x / 1e6:g}M")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)
    for m_list, label, style in ((pandas, "pandas engine", "o-"), (dask, "dask engine", "s-")):
        left.plot([m.customers for m in m_list], [m.seconds for m in m_list], style, label=label)
        for m in m_list:
            left.annotate(f"{m.seconds:.0f} s", (m.customers, m.seconds), **_ABOVE)
    left.set_title("Wall time of custrisk score")
    left.set_ylabel("wall time (s)")
    lines = (
        (pandas, "client", "pandas engine (one process)", "o-", _BELOW),
        (dask, "client", "dask engine: client process", "s--", _BELOW),
        (dask, "worker", "dask engine: largest worker", "s-", _ABOVE),
    )
    for m_list, attr, label, style, note in lines:
        xs = [m.customers for m in m_list]
        ys = [getattr(m, attr) / 2**20 for m in m_list]
        right.plot(xs, ys, style, label=label)
        for x, y in zip(xs, ys, strict=True):
            right.annotate(f"{y:,.0f}", (x, y), **note)
    if memory_limit and dask:
        from dask.utils import parse_bytes

        limit = parse_bytes(memory_limit) / 2**20
        right.axhline(
            limit, color="grey", linestyle=":", label=f"worker memory limit ({memory_limit})"
        )
    right.set_title("Peak resident memory per process")
    right.set_ylabel("peak RSS (MiB)")
    for ax in (left, right):
        ax.set_xlabel(f"customers (≈ {rows_per_customer:.0f} transaction rows each)")
        ax.xaxis.set_major_formatter(thousands)
        ax.set_xticks(sorted({m.customers for m in measures}))
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.1)  # room for the values
        ax.set_xlim(left=0, right=max(m.customers for m in measures) * 1.08)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize=9)
    fig.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--series", type=int, nargs="+", help="several sizes in one run")
    parser.add_argument("--train", type=int, default=3_000)
    parser.add_argument(
        "--buckets", type=int, default=None, help="default: the engine's (from the size)"
    )
    parser.add_argument("--files-per-source", type=int, default=1, metavar="N")
    parser.add_argument("--memory-limit", default=None, help="each local worker's, e.g. 1.5GB")
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--data-root", type=Path, default=None, metavar="DIR")
    parser.add_argument("--plot", type=Path, default=None, metavar="PNG")
    parser.add_argument(
        "--plot-only",
        action="store_true",
        help="measure nothing: growth and plot from the figures kept in --data-root",
    )
    parser.add_argument(
        "--engines", nargs="+", choices=("pandas", "dask"), default=["pandas", "dask"]
    )
    parser.add_argument(
        "--parts",
        choices=("auto", "yes", "no"),
        default="auto",
        help="dask: the run in parts (scores, details, follow-ups; yes), each table one "
        "file (no), or the engine's default (auto: parts from 1,000,000 customers)",
    )
    return parser


def _setting(options: argparse.Namespace) -> tuple[object, ...]:
    """What a figure depends on besides its size and engine."""
    return (
        options.files_per_source,
        options.buckets,
        options.memory_limit,
        options.scheduler,
        options.train,
        options.parts,
    )


def _same_tables(ours: Path, theirs: Path) -> None:
    """The tables of the pandas engine's run and of the dask engine's run in parts are
    the same rows (the scores as CSV text against Parquet types: compared as text)."""
    from custrisk.results import read_run

    def text(frame: Any) -> Any:  # (a CSV's empty cell reads as missing)
        cells = frame.astype(object).where(frame.notna(), "").astype("str")
        return cells.sort_values("customer_id").reset_index(drop=True)

    a, b = read_run(ours), read_run(theirs)
    for table in ("scores", "details", "followups"):
        x, y = text(getattr(a, table)), text(getattr(b, table))
        if list(x.columns) != list(y.columns) or not x.equals(y):
            sys.exit(f"the {table} differ between the engines")


#: Options of earlier versions of this script, as their figures were kept.
_RENAMED = {"--details-parts": "--parts"}


def _kept(root: Path, options: argparse.Namespace) -> list[Measure]:
    """The latest figure of each size and engine in ``root / "results.jsonl"`` measured
    with these options (this run's and earlier runs')."""
    latest: dict[tuple[int, str], Measure] = {}
    names = {f.name for f in fields(Measure)}
    for line in (root / "results.jsonl").read_text().splitlines():
        record = json.loads(line)
        # figures kept before --details-parts became --parts (the same choices)
        argv = [_RENAMED.get(a, a) for a in record["argv"][1:]]
        if _setting(_parser().parse_args(argv)) == _setting(options):
            m = Measure(**{k: v for k, v in record.items() if k in names})
            latest[m.customers, m.engine] = m
    return [latest[k] for k in sorted(latest)]


def main() -> None:
    parser = _parser()
    options = parser.parse_args()
    if options.files_per_source < 1:
        parser.error("--files-per-source must be 1 or more")
    if options.memory_limit and options.scheduler:
        parser.error("--memory-limit is for the local cluster, not with --scheduler")
    if options.plot_only and not options.data_root:
        parser.error("--plot-only draws the figures kept in --data-root DIR")
    sizes = options.series or [options.customers]

    env = dict(os.environ, CUSTRISK_AUDIT="off")
    with tempfile.TemporaryDirectory() as tmp:
        root = options.data_root or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        models = root if options.plot_only else _model(root, options.train, env)
        dask = ["--engine", "dask"]
        if options.buckets is not None:
            dask += ["--buckets", str(options.buckets)]
        if options.scheduler:
            dask += ["--scheduler", options.scheduler]
        if options.memory_limit:
            dask += ["--memory-limit", options.memory_limit]
        if options.parts != "auto":
            dask += ["--parts" if options.parts == "yes" else "--no-parts"]
        measures: list[Measure] = []
        rows: dict[int, int] = {}
        for customers in [] if options.plot_only else sizes:
            data = _generated(root, f"customers-{customers}", customers, seed=1)
            rows[customers] = _transaction_rows(data)
            folder, config = _parts(data, options.files_per_source)
            common = ["score", str(folder), "-m", "logistic", "--models-dir", str(models)]
            if config is not None:
                common += ["--sources", str(config)]
            with tempfile.TemporaryDirectory(dir=root) as out_tmp:
                out = Path(out_tmp)
                runs = {
                    "pandas": [*common, "-o", str(out / "pandas" / "scores.csv")],
                    "dask": [*common, "-o", str(out / "dask" / "scores.csv"), *dask],
                }
                for engine in options.engines:
                    args = runs[engine]
                    before = _loadavg()
                    seconds, client, worker, largest = _run(args, env, out)
                    measures.append(
                        Measure(
                            customers,
                            engine,
                            seconds,
                            client,
                            worker,
                            largest,
                            float(before),
                            float(_loadavg()),
                        )
                    )
                    _print_row(measures[-1], rows[customers], measures, header=not measures[:-1])
                    if options.data_root:  # every figure kept, also when a later size fails
                        with (root / "results.jsonl").open("a") as log:
                            log.write(json.dumps({**asdict(measures[-1]), "argv": sys.argv}))
                            log.write("\n")
                if len(options.engines) < 2:
                    continue
                for name in sorted(p.name for p in (out / "pandas").iterdir()):
                    theirs_path = out / "dask" / name
                    if not name.endswith(".csv") or not theirs_path.exists():
                        continue  # the scores, details and plan may be folders of parts
                    if (out / "pandas" / name).read_bytes() != theirs_path.read_bytes():
                        sys.exit(f"{name} differs between the engines at {customers:,} customers")
                if not (out / "dask" / "scores.csv").exists():  # the run in parts, read back
                    _same_tables(out / "pandas" / "scores.csv", out / "dask" / "scores.csv")
            print(f"{customers:,} customers: files equal between the engines: yes", flush=True)
        if options.data_root:  # growth and plot over every size measured so
            measures = _kept(root, options)
            for m in measures:
                if m.customers not in rows:
                    rows[m.customers] = _transaction_rows(root / f"customers-{m.customers}")
    _print_growth(measures)
    setting = (
        f"{options.files_per_source} file(s) per source; dask: 2 workers, "
        f"{options.buckets or 'default'} buckets, "
        f"memory limit {options.memory_limit or 'default'}, "
        f"run in parts: {options.parts}"
    )
    print(setting)
    loads = [load for m in measures for load in (m.load_before, m.load_after)]
    if options.plot:
        _plot(
            measures,
            options.plot,
            f"custrisk score, pandas vs dask engine ({setting})\n2-core machine shared with "
            f"other jobs: 1-minute load {min(loads):.1f}–{max(loads):.1f} during the runs",
            options.memory_limit,
            sum(rows.values()) / sum(rows),
        )
        print(f"plot: {options.plot}")


def _print_row(m: Measure, txn_rows: int, measures: list[Measure], *, header: bool) -> None:
    if header:
        print(
            f"{'customers':>10} {'engine':7} {'time s':>8} {'cust/s':>8} {'txn rows/s':>11} "
            f"{'client MB':>9} {'worker MB':>9} {'largest MB':>10} {'x time':>6} "
            f"{'x mem':>6} {'load':>10}"
        )
    base = next((b for b in measures if b.customers == m.customers and b.engine == "pandas"), m)
    worker = f"{m.worker / 2**20:9.0f}" if m.engine == "dask" else f"{'-':>9}"
    print(
        f"{m.customers:10,} {m.engine:7} {m.seconds:8.1f} {m.customers / m.seconds:8,.0f} "
        f"{txn_rows / m.seconds:11,.0f} {m.client / 2**20:9.0f} {worker} "
        f"{m.largest / 2**20:10.0f} {m.seconds / base.seconds:6.2f} "
        f"{m.largest / base.largest:6.2f} {m.load_before:4.2f}-{m.load_after:4.2f}",
        flush=True,
    )


def _print_growth(measures: list[Measure]) -> None:
    """Per engine, between consecutive sizes: x size, x time, and their ratio (1.0:
    time grows as the size; the exponent k of time ~ size^k)."""
    for engine in ("pandas", "dask"):
        mine = [m for m in measures if m.engine == engine]
        for a, b in zip(mine, mine[1:], strict=False):
            size, spent = b.customers / a.customers, b.seconds / a.seconds
            print(
                f"{engine}: {a.customers:,} -> {b.customers:,} customers: x{size:.2f} size, "
                f"x{spent:.2f} time, time/size {spent / size:.2f}, "
                f"exponent {math.log(spent) / math.log(size):.2f}"
            )


if __name__ == "__main__":
    main()
