"""The Dask engine (issue 16): on a real LocalCluster (2 worker processes), the scores,
details, alerts, rejects and facts of a month equal the pandas engine's, for several
bucket counts, on clean and on dirty exports."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
import pytest
import typer.main
from typer.testing import CliRunner

import custrisk
from custrisk.cli import app
from custrisk.data import Workspace, load_workspace
from custrisk.results import ScoringRun
from custrisk.sample import generate_sample_data
from custrisk.scoring import score_portfolio
from tests._support import (
    assert_same_run,
    hive_dataset,
    partitioned_exports,
    score_on_both_engines,
    with_blank,
)

distributed = pytest.importorskip("distributed")

from custrisk.engine import (  # noqa: E402
    ENGINES,
    bucket_of,
    load_workspace_dask,
    prepare_features_dask,
    score_portfolio_dask,
    split_workspace,
)
from custrisk.scoring import prepare_features  # noqa: E402

_PANDAS: dict[str, ScoringRun] = {}


@pytest.fixture(scope="session")
def tree_200(tmp_path_factory: pytest.TempPathFactory, export_200: Path) -> Path:
    """A registry with a pruned tree trained on ``export_200``."""
    folder = tmp_path_factory.mktemp("tree_200")
    args = ["train", str(export_200), "--labels", str(export_200 / "labels.csv")]
    result = CliRunner().invoke(app, [*args, "--algorithm", "tree", "--models-dir", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


# One bucket (no split) and several: 3 and 7 buckets ran the same code (split by
# customer, one task per bucket, results merged in order) for the same assertions.
@pytest.mark.parametrize("buckets", [1, 7])
@pytest.mark.parametrize("data", ["clean", "dirty"])
def test_dask_engine_equals_pandas_engine(
    data: str,
    buckets: int,
    dask_cluster: Any,
    export_200: Path,
    dirty_300: Path,
    models_200: Path,
) -> None:
    folder = export_200 if data == "clean" else dirty_300
    if data not in _PANDAS:
        _PANDAS[data] = score_portfolio(folder, "logistic", models_dir=models_200)
    want = _PANDAS[data]
    got = score_portfolio_dask(
        folder, "logistic", models_dir=models_200, client=dask_cluster, buckets=buckets
    )
    assert_same_run(got, want)
    assert len(got.scores) > 100 and len(got.alerts) > 0
    if data == "dirty":  # the faults are rejected with their file and line, as by pandas
        assert got.rejects is not None and len(got.rejects) > 10
        assert got.rejects["line"].notna().all()


def test_a_tree_and_empty_buckets(dask_cluster: Any, tmp_path: Path, tree_200: Path) -> None:
    """The tree's scoring path, in more buckets than the customers fill (a bucket
    without customers computes nothing)."""
    export = tmp_path / "export_30"
    generate_sample_data(export, customers=30, seed=1)  # few customers: few buckets
    workspace = load_workspace(export)
    # The fewest buckets that leave one empty (a bucket costs its own tasks)
    buckets = next(
        count
        for count in range(4, 64)
        if any(len(rows) == 0 for rows in split_workspace(workspace, count)[1])
    )
    want = score_portfolio(export, "tree", models_dir=tree_200, lang="en")
    got = score_portfolio_dask(
        export, "tree", models_dir=tree_200, lang="en", client=dask_cluster, buckets=buckets
    )
    assert_same_run(got, want)
    assert got.scores["model_id"].iloc[0] == "tree@1"


def test_buckets_keep_every_row_of_a_customer_together(dirty_300: Path) -> None:
    workspace = load_workspace(dirty_300)
    parts, positions = split_workspace(workspace, 5)
    for name, frame in workspace.frames.items():
        assert sum(len(p.frames[name]) for p in parts) == len(frame), name
    seen: set[str] = set()
    for part, rows in zip(parts, positions, strict=True):
        ids = set(part.frames["credit"]["customer_id"].astype(str))
        assert not ids & seen  # a customer is in one bucket only
        seen |= ids
        for name, frame in part.frames.items():
            if name != "credit" and "customer_id" in frame.columns:
                assert set(frame["customer_id"].dropna().astype(str)) <= ids, name
        credit = workspace.frames["credit"]["customer_id"].astype(str).to_numpy()
        assert list(credit[rows]) == list(part.frames["credit"]["customer_id"].astype(str))
    assert len(seen) == len(workspace.frames["credit"])


def test_bucket_of_is_the_same_in_a_worker_process(dask_cluster: Any) -> None:
    ids = pd.Series([f"C{i:06d}" for i in range(500)], dtype="str")
    here = bucket_of(ids, 7)
    there = dask_cluster.submit(bucket_of, ids, 7, pure=False).result()
    assert np.array_equal(here, there)
    assert set(here.tolist()) == set(range(7))  # every bucket used
    as_category = bucket_of(ids.astype("category"), 7)
    assert np.array_equal(here, as_category)


def test_bucket_of_in_blocks_is_the_bucket_of_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids hashed a block at a time (a file's millions of ids as Python strings at once
    passed a worker's memory limit) go to the buckets they go to hashed at once."""
    from custrisk.engine import bucket_tasks

    ids = pd.Series([None if i % 11 == 0 else f"C{i:06d}" for i in range(500)], dtype="str")
    whole = bucket_of(ids, 7)
    monkeypatch.setattr(bucket_tasks, "HASH_BLOCK_ROWS", 3)
    in_blocks = bucket_of(ids, 7)
    assert np.array_equal(in_blocks, whole)
    assert (in_blocks[::11] == 0).all() and set(whole.tolist()) == set(range(7))
    expected = pd.util.hash_array(ids.fillna("").to_numpy(dtype=object)) % np.uint64(7)
    assert np.array_equal(whole[ids.notna().to_numpy()], expected[ids.notna().to_numpy()])


def test_cli_score_engine_dask_writes_the_pandas_files(
    tmp_path: Path, dask_cluster: Any, dirty_300: Path, models_200: Path
) -> None:
    pandas_out, dask_out = score_on_both_engines(
        tmp_path, dask_cluster.scheduler.address, dirty_300, models_200, "--buckets", "4"
    )
    names = sorted(p.name for p in pandas_out.parent.iterdir())
    assert names == sorted(p.name for p in dask_out.parent.iterdir())
    assert "scores.rejects.csv" in names
    for name in names:
        if name.endswith((".csv", ".parquet")):
            assert (pandas_out.parent / name).read_bytes() == (dask_out.parent / name).read_bytes()


@pytest.mark.parametrize("command", ["score", "indicators", "drift"])
@pytest.mark.parametrize("engine", ["pandas", "dask"])
def test_no_customer_left_after_cleaning_is_one_line(
    tmp_path: Path, dask_cluster: Any, export_200: Path, models_200: Path, command: str, engine: str
) -> None:
    """Every credit row rejected (here the only one, for a broken quote): both engines
    stop with the same line naming the file, the count and the rule, and point to
    validate for the rows; no empty table passes for a month without customers."""
    exports = tmp_path / "exports"
    shutil.copytree(export_200, exports)
    credit = exports / "credit.csv"
    header, first = credit.read_text(encoding="utf-8").splitlines()[:2]
    credit.write_text(header + "\n" + first.replace(",", ',"', 1) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    args = [command, str(exports)]
    if command != "indicators":
        args += ["--model", "logistic", "--models-dir", str(models_200)]
    args += ["--out", str(out / {"score": "scores.csv", "indicators": "ind.csv"}.get(command, ""))]
    if engine == "dask":
        args += ["--engine", "dask", "--scheduler", dask_cluster.scheduler.address]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert (
        "no customer is left after cleaning: credit.csv: its one row was rejected while "
        f"cleaning (field_count 1); run 'custrisk validate {exports}' to see each rejected"
    ) in " ".join(result.output.split())
    assert "Traceback" not in result.output and "Internal error" not in result.output
    assert not out.exists() or not any(out.rglob("*.csv"))


@pytest.mark.parametrize("command", ["score", "indicators"])
@pytest.mark.parametrize("engine", ["pandas", "dask"])
def test_ids_that_lost_their_zeros_stop_the_command_with_one_line(
    tmp_path: Path,
    dask_cluster: Any,
    lost_zeros_200: Path,
    models_200: Path,
    command: str,
    engine: str,
) -> None:
    """Transactions whose customer ids lost their leading zeros: both engines stop with
    the same line (the file, the counts, the first ids, the zero_pad to add) instead of
    scoring every customer with zero-valued transaction indicators; nothing is written."""
    out = tmp_path / "out"
    args = [command, str(lost_zeros_200), "--out", str(out / "file.csv")]
    if command == "score":
        args += ["--model", "logistic", "--models-dir", str(models_200)]
    if engine == "dask":
        args += ["--engine", "dask", "--scheduler", dask_cluster.scheduler.address]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    rows = len((lost_zeros_200 / "transactions.csv").read_text(encoding="utf-8").splitlines()) - 1
    first = load_workspace(lost_zeros_200, config=lost_zeros_200 / "padded.yaml")
    ids = first.frames["transactions"]["customer_id"].astype(str).drop_duplicates()[:2]
    shown = [repr(i.lstrip("0")) for i in ids]
    assert (
        f"transactions.csv column 'customer_id': {rows:,} of {rows:,} rows (100%; "
        f"max_orphan_share 0.5) name a customer not in the credit table (e.g. {shown[0]}, "
        f"{shown[1]}): the ids of this file lost their leading zeros ({shown[0]} here is "
        f"'{ids.iloc[0]}' in credit.csv), as an Excel number cell does; add zero_pad: 10 to "
        "sources.transactions.columns.customer_id in a copy of "
    ) in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("engine", ["pandas", "dask"])
def test_zero_pad_scores_as_the_export_that_kept_its_zeros(
    tmp_path: Path,
    dask_cluster: Any,
    export_200: Path,
    lost_zeros_200: Path,
    models_200: Path,
    engine: str,
) -> None:
    runs = {}
    for name, folder, extra in (
        ("kept", export_200, []),
        ("padded", lost_zeros_200, ["--sources", str(lost_zeros_200 / "padded.yaml")]),
    ):
        out = tmp_path / name / "scores.csv"
        args = ["score", str(folder), "-m", "logistic", "--models-dir", str(models_200)]
        args += ["-o", str(out), *extra]
        if engine == "dask":
            args += ["--engine", "dask", "--scheduler", dask_cluster.scheduler.address]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        runs[name] = out.read_bytes()
    assert runs["padded"] == runs["kept"]


def _engine_options(command: click.Command, path: str = "custrisk") -> Iterator[tuple[str, Any]]:
    """The ``--engine`` option of every command under ``command``, with its command line."""
    for name, sub in getattr(command, "commands", {}).items():
        yield from _engine_options(sub, f"{path} {name}")
    for param in command.params:
        if "--engine" in getattr(param, "opts", ()):
            yield path, param


def test_every_engine_option_names_every_engine() -> None:
    options = dict(_engine_options(typer.main.get_command(app)))
    assert set(options) >= {f"custrisk {c}" for c in ("score", "validate", "drift", "run")}
    for command, option in options.items():
        said = set(re.findall(r"\w+", option.help or ""))
        assert [e for e in ENGINES if e not in said] == [], f"{command} --engine: {option.help}"


@pytest.mark.parametrize(
    "args",
    [
        ["score", "DATA", "--model", "logistic", "--out", "OUT"],
        ["validate", "DATA"],
        ["drift", "DATA", "--model", "logistic"],
        ["indicators", "DATA", "--out", "OUT"],
        ["run", "RUN", "--period", "2026-10"],
    ],
    ids=lambda args: args[0],
)
def test_an_unknown_engine_is_one_line_naming_the_engines(
    runner: CliRunner, tmp_path: Path, args: list[str]
) -> None:
    run_yaml = tmp_path / "run.yaml"
    assert runner.invoke(app, ["run", "--init", str(run_yaml)]).exit_code == 0
    where = {
        "DATA": str(tmp_path / "exports"),
        "OUT": str(tmp_path / "s.csv"),
        "RUN": str(run_yaml),
    }
    result = runner.invoke(app, [*[where.get(a, a) for a in args], "--engine", "spark"])
    assert (result.exit_code, result.stderr) == (
        2,
        f"Error: --engine must be one of {', '.join(ENGINES)}; got 'spark'\n",
    )


def test_cli_engine_errors_are_one_line(tmp_path: Path, export_200: Path) -> None:
    runner = CliRunner()
    common = ["score", str(export_200), "--model", "logistic", "--out", str(tmp_path / "s.csv")]
    bad = runner.invoke(app, [*common, "--engine", "spark"])
    assert bad.exit_code == 2
    assert "--engine must be one of pandas, dask" in bad.output
    assert "Traceback" not in bad.output
    stray = runner.invoke(app, [*common, "--scheduler", "tcp://127.0.0.1:1"])
    assert stray.exit_code == 2
    assert "--engine dask" in stray.output


def test_unreachable_scheduler_is_a_usage_error(
    tmp_path: Path, export_200: Path, models_200: Path, short_scheduler_timeout: int
) -> None:
    args = ["score", str(export_200), "--model", "logistic", "--models-dir", str(models_200)]
    args += ["--out", str(tmp_path / "s.csv"), "--engine", "dask", "--scheduler"]
    result = CliRunner().invoke(app, [*args, "tcp://127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    assert "cannot reach a Dask scheduler" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "s.csv").exists()


def _serve(answer: bytes | None) -> Iterator[str]:
    """A real local server at ``tcp://127.0.0.1:PORT``: each connection read once and
    given ``answer`` (then closed), or, with None, held open without a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # the listener was closed: the test is over
                return
            held.append(conn)
            if answer is not None:
                conn.recv(65536)
                conn.sendall(answer)
                conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        # (shutdown wakes the accept() the thread is blocked in; close alone does not)
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        for conn in held:
            conn.close()
        thread.join(timeout=10)
        assert not thread.is_alive()


@pytest.fixture
def silent_server() -> Iterator[str]:
    yield from _serve(None)


@pytest.fixture
def http_server() -> Iterator[str]:
    yield from _serve(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


#: ``python -m custrisk`` with the scheduler's timeout (``SCHEDULER_TIMEOUT``, 5 s) cut to
#: 1 s: the silent server is waited on until the bound on the scheduler's answer, twice
#: the timeout, which the message names; the same wait and the same line, in 2 s, not 10.
SHORT_TIMEOUT_MAIN = (
    "import runpy; import custrisk.engine.cluster as cluster; cluster.SCHEDULER_TIMEOUT = 1; "
    "runpy.run_module('custrisk', run_name='__main__', alter_sys=True)"
)


@pytest.mark.parametrize(
    ("server", "said"),
    [
        ("silent_server", "it accepted the connection but did not answer as one within 2 s"),
        ("http_server", "something answers there, but not in Dask's protocol"),
    ],
)
def test_a_scheduler_address_where_no_scheduler_answers_is_one_line(
    server: str,
    said: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    export_200: Path,
    models_200: Path,
) -> None:
    # The silent server made the command wait forever, the HTTP one die of a
    # MemoryError (exit 3): Dask bounds its connection, not the handshake after it.
    address = request.getfixturevalue(server)
    out = tmp_path / "s.csv"
    command = [sys.executable, "-c", SHORT_TIMEOUT_MAIN, "score", str(export_200)]
    command += ["--model", "logistic"]
    command += ["--models-dir", str(models_200), "--out", str(out)]
    command += ["--engine", "dask", "--scheduler", address]
    src = Path(custrisk.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(src), "CUSTRISK_AUDIT": "off"}
    # The timeout only fails a hang; it times nothing.
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"Error: --scheduler {address}: not a reachable Dask scheduler: ")
    assert said in lines[0]
    assert not out.exists()


def test_a_workers_address_is_not_a_schedulers(dask_cluster: Any) -> None:
    from custrisk.engine import dask_client
    from custrisk.errors import UsageError

    worker = next(iter(dask_cluster.scheduler_info()["workers"]))
    with pytest.raises(UsageError, match=r"not a Dask scheduler: a Dask Worker answers there"):
        with dask_client(worker):
            pass


@pytest.mark.parametrize("buckets", [1, 4])
def test_dask_indicators_equal_pandas_indicators(
    buckets: int, dask_cluster: Any, dirty_300: Path
) -> None:
    want = prepare_features(dirty_300)
    got = prepare_features_dask(dirty_300, dask_cluster, buckets=buckets)
    assert want.indicators is not None and got.indicators is not None
    pd.testing.assert_frame_equal(got.indicators.frame, want.indicators.frame)
    assert got.indicators.as_of == want.indicators.as_of
    assert got.indicators.as_of_origin == want.indicators.as_of_origin == "data"
    assert dict(got.indicators.unavailable) == dict(want.indicators.unavailable)
    pd.testing.assert_frame_equal(got.workspace.rejects, want.workspace.rejects)


def test_cli_indicators_engine_dask_writes_the_pandas_file(
    tmp_path: Path, dask_cluster: Any, dirty_300: Path
) -> None:
    runner = CliRunner()
    outs = {engine: tmp_path / engine / "indicators.csv" for engine in ENGINES}
    for engine, out in outs.items():
        args = ["indicators", str(dirty_300), "--out", str(out), "--engine", engine]
        if engine == "dask":
            args += ["--scheduler", dask_cluster.scheduler.address, "--buckets", "3"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    for name in sorted(p.name for p in outs["pandas"].parent.iterdir()):
        assert (outs["pandas"].parent / name).read_bytes() == (
            outs["dask"].parent / name
        ).read_bytes(), name


# --- reading and cleaning per partition (load_workspace_dask, validate --engine dask) ---


def _assert_same_workspace(got: Workspace, want: Workspace, frames: bool = True) -> None:
    assert got.report.to_dict() == want.report.to_dict()
    pd.testing.assert_frame_equal(got.rejects, want.rejects)
    assert got.missing_columns == want.missing_columns
    if frames:
        assert got.frames.keys() == want.frames.keys()
        for name, frame in want.frames.items():
            pd.testing.assert_frame_equal(got.frames[name], frame, obj=name)


# a case per kind: one file or several, in one bucket or several (3 files in 4 buckets ran
# the code of 4 files in 7 for the same assertions)
@pytest.mark.parametrize(("parts", "buckets"), [(1, 1), (1, 5), (3, 1), (4, 7)])
def test_partitioned_cleaning_equals_load_workspace(
    parts: int, buckets: int, tmp_path: Path, dask_cluster: Any, dirty_300: Path
) -> None:
    """Each file a partition, rows sent to buckets by their cleaned key, each bucket
    cleaned on a worker: the report (rows in = kept + rejected, rules, warnings), the
    rejects with their files and lines, and the kept rows in order and dtypes are the
    pandas engine's."""
    if parts == 1:
        folder, config = dirty_300, None
    else:
        config = partitioned_exports(dirty_300, tmp_path / "parts", parts)
        folder = config.parent
    want = load_workspace(folder, config=config)
    bucketed = load_workspace_dask(folder, dask_cluster, config=config, buckets=buckets)
    _assert_same_workspace(bucketed.workspace(), want, frames=False)
    _assert_same_workspace(bucketed.workspace(dask_cluster), want)
    report = want.report.to_dict()
    assert report["rows_rejected"] > 10
    for source in report["sources"].values():
        assert source["rows_in"] == source["rows_kept"] + source["rows_rejected"]
        assert len(source["files"]) == parts
    rules = {r for s in report["sources"].values() for r in s["rules"]}
    # the rules across rows are among those met (whole-source answers in buckets)
    assert {"duplicate_row", "duplicate_key", "orphan"} <= rules


def test_the_engine_choice_runs_the_engine_asked_for(dask_cluster: Any, dirty_300: Path) -> None:
    """custrisk.engine.choice, the one call of validate (score, drift, indicators alike):
    the engine options checked, then the pandas engine's workspace, or the Dask engine's
    (the same report and rejects, no frames: each bucket stayed on its worker)."""
    from custrisk.engine.choice import validate_on
    from custrisk.errors import UsageError

    with pytest.raises(UsageError, match="--buckets applies to --engine dask only"):
        validate_on(dirty_300, buckets=3)
    want = validate_on(dirty_300)
    got = validate_on(dirty_300, engine="dask", scheduler=dask_cluster.scheduler.address, buckets=3)
    _assert_same_workspace(got, want, frames=False)
    assert want.frames and not got.frames


def test_cross_row_rules_across_buckets(tmp_path: Path, dask_cluster: Any) -> None:
    """Rules that need the whole source, built so that the rows they compare come from
    different files and different customers: a txn_id repeated for two customers in two
    files (keep_first keeps the first file's), ids that collide once normalised
    (``c 001`` and ``C001``), an orphan, and a mistyped date far beyond the latest
    credible one of a column spread over files."""
    generate_sample_data(tmp_path / "src", customers=120, seed=3)
    config = partitioned_exports(tmp_path / "src", tmp_path / "parts", 3)
    folder = config.parent
    credit = (folder / "credit-2.csv").read_text(encoding="utf-8").splitlines()
    header, first = credit[0].split(","), credit[1].split(",")
    at = header.index("customer_id")
    collided = list(first)
    collided[at] = first[at].lower()[:1] + " " + first[at][1:]
    (folder / "credit-2.csv").write_text(
        "\n".join([*credit, ",".join(collided)]) + "\n", encoding="utf-8"
    )
    txns = [
        (folder / f"transactions-{i}.csv").read_text(encoding="utf-8").splitlines()
        for i in range(3)
    ]
    head = txns[0][0].split(",")
    other = txns[2][5].split(",")
    repeated = list(other)
    repeated[head.index("txn_id")] = txns[0][1].split(",")[head.index("txn_id")]
    orphan = list(other)
    orphan[head.index("customer_id")] = "ZZ999999"
    orphan[head.index("txn_id")] = "T-ORPHAN"
    late = list(other)
    late[head.index("txn_id")] = "T-LATE"
    late[head.index("txn_date")] = "2099-01-01"
    txns[2] += [",".join(repeated), ",".join(orphan), ",".join(late)]
    for i, lines in enumerate(txns):
        (folder / f"transactions-{i}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    want = load_workspace(folder, config=config)
    rules = set(want.rejects["rule"])
    assert {"duplicate_key", "id_collision", "orphan", "implausible_date"} <= rules, rules
    for buckets in (2, 5):
        bucketed = load_workspace_dask(folder, dask_cluster, config=config, buckets=buckets)
        _assert_same_workspace(bucketed.workspace(dask_cluster), want)


def test_rows_of_customers_whose_credit_rows_were_rejected_across_buckets(
    tmp_path: Path, dask_cluster: Any
) -> None:
    """Credit rows rejected in two files (a blank required limit; a field too many, which
    the reader rejects and the Dask engine sends to its first bucket), and the same
    customer's row kept in another file: their transactions in other files are
    ``customer_rejected`` naming the credit row, as by the pandas engine."""
    generate_sample_data(tmp_path / "src", customers=120, seed=3)
    config = partitioned_exports(tmp_path / "src", tmp_path / "parts", 3)
    folder = config.parent
    files = {
        i: (folder / f"credit-{i}.csv").read_text(encoding="utf-8").splitlines() for i in (0, 1, 2)
    }
    header = files[0][0].split(",")
    blank_limit = files[1][3].split(",")
    blank_limit[header.index("credit_limit")] = ""
    files[1][3] = ",".join(blank_limit)
    files[2][2] += ",surplus"
    kept_elsewhere = files[2][4]
    files[0].append(kept_elsewhere + ",surplus")  # a bad line of a customer kept in file 2
    for i, lines in files.items():
        (folder / f"credit-{i}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    want = load_workspace(folder, config=config)
    rejected = want.rejects[want.rejects["rule"] == "customer_rejected"]
    assert set(rejected["message"]) == {
        "the customer's credit row was rejected (credit-1.csv line 4: missing_required)",
        "the customer's credit row was rejected (credit-2.csv line 3: field_count)",
    }
    assert want.report.customers_rejected == 2
    for buckets in (2, 5):
        bucketed = load_workspace_dask(folder, dask_cluster, config=config, buckets=buckets)
        _assert_same_workspace(bucketed.workspace(dask_cluster), want)


def test_excel_error_cells_blanked_or_rejecting_their_row_across_buckets(
    tmp_path: Path, dask_cluster: Any
) -> None:
    """Credit as workbooks with Excel error cells: one in an optional column that blanks
    bad values (blanked, listed as repaired, its row kept in whatever bucket), one in a
    required column (the row rejected: the customer's transactions are
    ``customer_rejected`` naming it): the pandas engine's workspace."""
    openpyxl = pytest.importorskip("openpyxl")
    generate_sample_data(tmp_path / "src", customers=120, seed=3)
    config = partitioned_exports(tmp_path / "src", tmp_path / "parts", 3)
    folder = config.parent
    errors = {0: ("annual_income", 4, "#N/A"), 1: ("credit_limit", 3, "#VALUE!")}
    for i in (0, 1, 2):
        csv_file = folder / f"credit-{i}.csv"
        rows = [line.split(",") for line in csv_file.read_text(encoding="utf-8").splitlines()]
        book = openpyxl.Workbook()
        for row in rows:
            book.active.append(row)
        if i in errors:
            column, line, text = errors[i]
            cell = book.active.cell(row=line, column=rows[0].index(column) + 1, value=text)
            cell.data_type = "e"
        book.save(folder / f"credit-{i}.xlsx")
        csv_file.unlink()
    text = config.read_text(encoding="utf-8").replace("file: credit-*.csv", "file: credit-*.xlsx")
    config.write_text(text, encoding="utf-8")
    want = load_workspace(folder, config=config)
    found = want.rejects[want.rejects["rule"] == "excel_error"]
    assert found[["file", "line", "action"]].values.tolist() == [
        ["credit-0.xlsx", 4, "repaired"],
        ["credit-1.xlsx", 3, "dropped"],
    ]
    rejected = want.rejects[want.rejects["source"] != "credit"]
    assert len(rejected) > 0 and set(rejected["message"]) == {
        "the customer's credit row was rejected (credit-1.xlsx line 3: excel_error)"
    }
    for buckets in (2, 5):
        bucketed = load_workspace_dask(folder, dask_cluster, config=config, buckets=buckets)
        _assert_same_workspace(bucketed.workspace(dask_cluster), want)


def test_a_folder_dataset_of_parquet_parts(
    tmp_path: Path, dask_cluster: Any, export_200: Path
) -> None:
    """A source as a hive-partitioned folder of Parquet parts in the place of its file
    (``transactions/txn_type=order/part-00000.parquet``, Spark's markers beside them):
    the pandas engine's workspace of the same folder, each part a partition."""
    folder = hive_dataset(export_200, tmp_path / "dataset")
    # a folder value the column does not allow: rejects naming the part by its path
    (folder / "transactions" / "txn_type=refund").rename(folder / "transactions" / "txn_type=wire")
    want = load_workspace(folder)
    got = load_workspace_dask(folder, dask_cluster, buckets=3).workspace(dask_cluster)
    for name, frame in want.frames.items():
        pd.testing.assert_frame_equal(got.frames[name], frame, obj=name)
    assert "transactions/txn_type=wire/part-00000.parquet" in set(want.rejects["file"])
    pd.testing.assert_frame_equal(got.rejects, want.rejects)
    assert got.report.sources["transactions"].rows_in == want.report.sources["transactions"].rows_in
    assert got.report.sources["transactions"].files == want.report.sources["transactions"].files
    assert len(got.report.sources["transactions"].files) >= 3


def test_cli_validate_engine_dask_writes_the_pandas_files(
    tmp_path: Path, dask_cluster: Any, dirty_300: Path
) -> None:
    config = partitioned_exports(dirty_300, tmp_path / "parts", 2)
    runner = CliRunner()
    codes = {}
    for engine in ENGINES:
        args = ["validate", str(config.parent), "--sources", str(config)]
        args += ["--out", str(tmp_path / engine), "--engine", engine]
        if engine == "dask":
            args += ["--scheduler", dask_cluster.scheduler.address, "--buckets", "3"]
        result = runner.invoke(app, args)
        codes[engine] = result.exit_code
        assert "Traceback" not in result.output
    assert codes == {"pandas": 1, "dask": 1}  # rows were rejected
    for name in ("rejects.csv", "validation_report.json"):
        assert (tmp_path / "pandas" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes()


def test_parquet_exports_in_the_place_of_csv_warn_as_the_pandas_engine(
    tmp_path: Path, dask_cluster: Any, export_200: Path
) -> None:
    """credit.parquet read for credit.csv: the pandas engine's report warns so ("no
    credit.csv in the folder: read credit.parquet in its place"); the dask engine's
    report had no warning, so its validation_report.json was another file."""
    folder = tmp_path / "pq"
    folder.mkdir()
    for name in ("credit", "transactions", "behaviour"):
        table = pd.read_csv(export_200 / f"{name}.csv", dtype=str, keep_default_na=False)
        table.to_parquet(folder / f"{name}.parquet", index=False)
    want = load_workspace(folder)
    got = load_workspace_dask(folder, dask_cluster, buckets=2).workspace(dask_cluster)
    for name in ("credit", "transactions", "behaviour"):
        warnings = want.report.sources[name].warnings
        assert f"no {name}.csv in the folder: read {name}.parquet in its place" in warnings
        assert got.report.sources[name].warnings == warnings


def test_one_table_file_is_read_as_load_workspace_reads_it(
    tmp_path: Path, dask_cluster: Any
) -> None:
    """A flat table (one file, no id column: its rows' line numbers are the ids) was
    refused as "data folder not found" where load_workspace reads it; read now, into the
    pandas engine's frames and rejects, a row copied further down rejected as there
    (its line number is another id: the table is cleaned in one bucket)."""
    rows = [f"{1000 + i},{'华东' if i % 2 else '华南'},否" for i in range(40)]
    rows += [rows[3], rows[30], "abc,华南,否"]
    (tmp_path / "t.csv").write_text("收入,地區,违约\n" + "\n".join(rows) + "\n", "utf-8")
    (tmp_path / "s.yaml").write_text(
        "version: 1\nsources:\n  credit:\n    file: t.csv\n    key: customer_id\n"
        "    row_number: customer_id\n    rename: {收入: income, 地区: region, 违约: bad}\n"
        "    columns:\n      customer_id: {type: id}\n      income: {type: float}\n"
        "      region: {type: category}\n      bad: {type: string}\n",
        "utf-8",
    )
    want = load_workspace(tmp_path / "t.csv", config=tmp_path / "s.yaml")
    assert sorted(want.rejects["rule"]) == ["duplicate_row", "duplicate_row", "invalid_number"]
    got = load_workspace_dask(
        tmp_path / "t.csv", dask_cluster, config=tmp_path / "s.yaml", buckets=4
    )
    _assert_same_workspace(got.workspace(dask_cluster), want)
    # (地區 read as the declared 地区: the rejects name it as the file heads it)
    written = {("credit", "t.csv", "region"): "地區"}
    assert want.report.written_headers == got.report.written_headers == written


def test_a_table_without_dates_is_as_of_its_named_month_on_both_engines(
    tmp_path: Path, dask_cluster: Any
) -> None:
    """A flat table with no date column, named for November: the pandas engine dates it
    2026-11-30 from its name; the dask engine took today."""
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"收入": rng.integers(3000, 30000, 300), "负债率": rng.uniform(0, 1, 300)})
    frame["违约"] = np.where(rng.uniform(size=300) < 0.1 + 0.4 * frame["负债率"], "是", "否")
    table = tmp_path / "客户清单_2026-11.csv"
    frame.to_csv(table, index=False)
    models = tmp_path / "m"
    trained = CliRunner().invoke(
        app, ["train", str(table), "--target", "违约", "--models-dir", str(models)]
    )
    assert trained.exit_code == 0, trained.output
    pandas_out, dask_out = score_on_both_engines(
        tmp_path, dask_cluster.scheduler.address, table, models, "--buckets", "2"
    )
    for out in (pandas_out, dask_out):
        assert set(pd.read_csv(out)["as_of"]) == {"2026-11-30"}


@pytest.mark.parametrize("read", ["on the workers", "on the client"])
def test_a_feature_column_exported_empty_is_refused_as_by_the_pandas_engine(
    read: str,
    tmp_path: Path,
    dask_cluster: Any,
    export_200: Path,
    models_200: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A model feature blank for every customer is refused with the pandas engine's line
    (naming the whole data's customers), whichever way the buckets are read, and leaves
    no scores or parts behind; blank for every customer of one bucket only, it scores."""
    from custrisk.engine import dask_engine

    if read == "on the client":
        monkeypatch.setattr(dask_engine, "_on_workers", lambda *_args: None)
    model = ["--model", "logistic", "--models-dir", str(models_200)]
    dask = ["--engine", "dask", "--scheduler", dask_cluster.scheduler.address, "--buckets", "3"]
    blank = with_blank(export_200, tmp_path / "blank", "bureau_score")
    out = tmp_path / "out" / "scores.csv"
    want = CliRunner().invoke(app, ["score", str(blank), *model, "--out", str(out)])
    got = CliRunner().invoke(app, ["score", str(blank), *model, *dask, "--parts", "-o", str(out)])
    assert want.exit_code == got.exit_code == 2, got.output
    assert "blank (or unreadable) for all 200 customers" in want.stderr
    assert got.stderr == want.stderr
    assert not out.parent.exists() or not any(out.parent.rglob("*.*"))
    # One bucket's customers without the feature: the data as a whole has it
    ids = pd.read_csv(export_200 / "credit.csv", dtype=str)["customer_id"]
    first = bucket_of(ids, 3) == 0
    assert 20 <= first.sum() < len(ids)
    one = with_blank(export_200, tmp_path / "one", "bureau_score", first)
    scored = CliRunner().invoke(app, ["score", str(one), *model, *dask, "-o", str(out)])
    assert scored.exit_code == 0, scored.output
    assert len(pd.read_csv(out)) == 200
