"""The Dask engine's cluster (issue 16): ``--memory-limit`` sizes the local cluster's
workers, Dask sees the size of what the engine sends so that it can spill it, and an
error raised on a worker reaches the user as the pandas engine's one line and exit code,
without a worker's log or traceback."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pytest
from typer.testing import CliRunner

import custrisk
from custrisk.cli import app
from custrisk.data import load_workspace
from custrisk.errors import UsageError

distributed = pytest.importorskip("distributed")
dask_sizeof = pytest.importorskip("dask.sizeof")

from custrisk.engine import check_engine_options, dask_client, memory_limit_bytes  # noqa: E402
from custrisk.engine.bucket_tasks import Cleaned, Piece  # noqa: E402
from custrisk.engine.cluster import (  # noqa: E402
    ShuffleFolder,
    _shuffle_folders_removed,
    _WorkerProcesses,
)
from custrisk.engine.partitions import _summary  # noqa: E402
from custrisk.io.readers import RawTable  # noqa: E402
from custrisk.io.stop import Stopped, stop_on_signals  # noqa: E402
from custrisk.monitoring import DriftCounts  # noqa: E402

SRC = Path(custrisk.__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("2GB", 2 * 10**9),
        ("512MiB", 512 * 2**20),
        ("1.5GiB", int(1.5 * 2**30)),
        ("300 mb", 300 * 10**6),
        ("2G", 2 * 10**9),  # as dask worker --memory-limit reads them
        ("512Mi", 512 * 2**20),
        (2**30, 2**30),
        ("1073741824", 2**30),
    ],
)
def test_memory_sizes(text: str | int, size: int) -> None:
    assert memory_limit_bytes(text) == size


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lots", r"'lots' is not a memory size; write it as a number and a unit, e.g. 2GB"),
        ("2 GBs", r"'2 GBs' is not a memory size"),
        ("-1GB", r"'-1GB' is not a memory size"),
        ("1MB", r"'1MB' is too small for a Dask worker; give at least 64MiB"),
    ],
)
def test_bad_memory_sizes(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        memory_limit_bytes(text)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--memory-limit", "2GB"],
            "--memory-limit applies to --engine dask only; add --engine dask",
        ),
        (
            ["--scheduler", "tcp://h:1", "--buckets", "2"],
            "--scheduler and --buckets apply to --engine dask only; add --engine dask",
        ),
        (
            ["--engine", "dask", "--scheduler", "tcp://h:1", "--memory-limit", "2GB"],
            "--memory-limit sizes the local cluster's workers, not those of --scheduler "
            "tcp://h:1; start those workers with 'dask worker --memory-limit SIZE'",
        ),
        (
            ["--engine", "dask", "--memory-limit", "2 bananas"],
            "--memory-limit: '2 bananas' is not a memory size; write it as a number and a "
            "unit, e.g. 2GB, 512MB or 1.5GiB",
        ),
    ],
)
@pytest.mark.parametrize("command", ["validate", "indicators", "score", "drift"])
def test_engine_options_that_do_not_fit_are_one_line_errors(
    command: str, options: list[str], message: str, export_200: Path, tmp_path: Path
) -> None:
    args = {
        "validate": ["validate", str(export_200), "--out", str(tmp_path / "v")],
        "indicators": ["indicators", str(export_200), "--out", str(tmp_path / "i.csv")],
        "score": ["score", str(export_200), "-m", "x", "--out", str(tmp_path / "s.csv")],
        "drift": ["drift", str(export_200), "-m", "x"],
    }[command]
    result = CliRunner().invoke(app, [*args, *options])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: {message}\n"
    assert not list(tmp_path.iterdir())


def test_check_engine_options_names_what_it_is_given() -> None:
    check_engine_options("dask", None, 4, "2GB")
    check_engine_options("pandas")
    with pytest.raises(UsageError, match=r"^--buckets must be 1 or more; got 0$"):
        check_engine_options("dask", buckets=0)


def test_dask_sees_the_size_of_what_the_engine_sends(export_200: Path) -> None:
    """Workspaces, read pieces and cleaned buckets are measured by their frames and
    arrays (not the few bytes of the object), so Dask spills them past a worker's limit."""
    workspace = load_workspace(export_200)
    frames = sum(int(f.memory_usage(deep=True).sum()) for f in workspace.frames.values())
    assert frames > 100_000
    assert dask_sizeof.sizeof(workspace) >= frames
    assert dask_sizeof.sizeof([workspace, workspace]) >= 2 * frames
    credit = workspace.frames["credit"]
    cleaned = Cleaned(
        credit, np.zeros((len(credit), 2), dtype=np.int64), pd.DataFrame(), [], [], 0, 0, 0, 0, []
    )
    assert dask_sizeof.sizeof(cleaned) >= int(credit.memory_usage(deep=True).sum())
    table = pa.Table.from_pandas(credit.astype(str), preserve_index=False)
    raw = RawTable(
        export_200 / "credit.csv", table, np.arange(len(credit)), list(credit.columns), "utf-8"
    )
    piece = Piece(raw, np.arange(len(credit)))
    assert dask_sizeof.sizeof(piece) >= table.nbytes
    counts = DriftCounts(
        len(credit), {"score": np.zeros(10, dtype=np.int64)}, np.zeros(len(credit)), credit.index
    )
    assert dask_sizeof.sizeof(counts) >= 8 * len(credit)


def _workers_running() -> list[int]:
    """The worker processes of local clusters of this process still running."""
    return [
        child.pid
        for child in psutil.Process().children(recursive=True)
        if "spawn_main" in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE
    ]


def test_a_local_cluster_with_a_memory_limit_and_a_worker_that_dies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local workers get the limit; a worker that dies computing (as one restarted
    past 95 % of it does) is one line naming the limit, not Dask's KilledWorker. The
    cluster's shuffle folder is removed once no worker process is left to write in it,
    and so are Dask's own folders (Dask left dask-scratch-space in TMPDIR)."""
    dask = pytest.importorskip("dask")
    removed: list[list[int]] = []

    def remove(path: str) -> None:
        removed.append(_workers_running())
        shutil.rmtree(path)

    monkeypatch.setattr("custrisk.engine.cluster._remove_tree", remove)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    expected = (
        r"^a worker of the local cluster died while computing \(memory limit 300MiB each\), "
        r"most often for want of memory; give the workers more memory \(--memory-limit; "
        r"memory_limit: in RUN.yaml\), split the customers into more buckets \(--buckets\), or "
        r"export a large source as several files \(a worker reads a file whole\)$"
    )
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        pytest.raises(UsageError, match=expected),
        dask_client(memory_limit="300MiB") as client,
    ):
        workers = client.scheduler_info()["workers"].values()
        assert len(workers) == 2
        assert {w["memory_limit"] for w in workers} == {300 * 2**20}
        # results spilled early enough that a bucket's task has half the limit for itself
        fractions = client.run(
            lambda dask_worker: (
                dask_worker.memory_manager.memory_target_fraction,
                dask_worker.memory_manager.memory_spill_fraction,
            )
        )
        assert set(fractions.values()) == {(0.4, 0.5)}
        folder = ShuffleFolder()
        client.submit(os._exit, 1, pure=False).result()
    assert removed == [[]]
    assert folder.path.startswith(str(tmp_path))
    assert not list(tmp_path.iterdir())  # nor the cluster's Dask folder (dask-scratch-space)


def test_a_stop_as_a_shuffle_folder_is_made_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C right after the folder is made, before its removal is registered (it was
    left behind, empty), is raised once it is: the folder goes with the cluster."""
    made = tempfile.mkdtemp

    def made_then_stopped(prefix: str) -> str:
        path = made(prefix=prefix, dir=tmp_path)
        signal.raise_signal(signal.SIGINT)  # its handler runs here, unless held
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", made_then_stopped)
    with pytest.raises(Stopped), stop_on_signals(), _shuffle_folders_removed():
        ShuffleFolder()
    assert not list(tmp_path.iterdir())


def test_a_worker_process_left_by_the_closed_cluster_is_waited_for_then_killed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker process Dask's close did not end holds back the removal of the shuffle
    folders (it could still write in them) until it ends, or is killed."""
    monkeypatch.setattr("custrisk.engine.cluster.WORKERS_END_TIMEOUT", 0.2)
    late = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()

    def nanny(pid: int) -> SimpleNamespace:
        return SimpleNamespace(process=SimpleNamespace(process=SimpleNamespace(pid=pid)))

    workers = {"0": nanny(late.pid), "1": nanny(ended.pid), "2": SimpleNamespace(process=None)}
    processes = _WorkerProcesses()
    processes.take(SimpleNamespace(workers=workers))
    try:
        processes.wait()
        assert late.wait(timeout=5) == -signal.SIGKILL
    finally:
        late.kill()
        late.wait()


def test_a_buckets_summary_holds_no_customer_ids() -> None:
    """What each bucket sends the client for the report holds none of its rows, nor
    the customer ids behind its customer column (a frame without rows keeps its
    categories: every worker sent 235 buckets' ids at once at 5,000,000 customers and
    passed its memory limit)."""
    import pickle

    ids = pd.Series([f"{i:010d}" for i in range(100_000)], dtype="str")
    frame = pd.DataFrame(
        {"txn_id": ids, "customer_id": ids.astype("category"), "amount": np.ones(len(ids))}
    )
    origin = np.zeros((len(frame), 2), dtype=np.int64)
    done = Cleaned(frame, origin, pd.DataFrame(), ["t.csv"], ["utf-8"], 9, 9, 0, 0, [])
    summary = _summary(done)
    rows_only = replace(done, frame=frame.iloc[:0], origin=origin[:0])  # ids kept
    assert len(pickle.dumps(summary)) < 20_000 < len(pickle.dumps(rows_only))
    assert summary.frame.empty and list(summary.frame.columns) == list(frame.columns)
    assert isinstance(summary.frame["customer_id"].dtype, pd.CategoricalDtype)
    assert (summary.rows_in, summary.files) == (9, ["t.csv"])


def test_a_long_gather_comes_in_chunks_in_order(dask_cluster: Any) -> None:
    """The engine's client fetches a list of results GATHER_CHUNK at a time (a worker
    asked for every bucket's results at once passed its memory limit) and returns them
    whole and in order, as Dask's gather does."""
    from custrisk.engine.cluster import GATHER_CHUNK, _watched_client

    with _watched_client(dask_cluster.scheduler.address) as client:
        futures = [client.submit(str, i, pure=False) for i in range(2 * GATHER_CHUNK + 3)]
        asked: list[int] = []
        fetch = client._gather_or_stop

        async def counted(batch: Any) -> Any:
            asked.append(len(batch) if isinstance(batch, list) else 1)
            return await fetch(batch)

        client._gather_or_stop = counted  # type: ignore[method-assign]
        assert client.gather(futures) == [str(i) for i in range(len(futures))]
        assert asked == [GATHER_CHUNK, GATHER_CHUNK, 3]
        assert client.gather(futures[0]) == "0"


def _hold(mib: int, seconds: float) -> int:
    """On a worker: ``mib`` MiB written to (resident), held for ``seconds``."""
    import time

    block = np.ones(mib * 2**20, dtype=np.uint8)
    time.sleep(seconds)
    return int(block[-1])


def test_a_worker_restarted_past_its_memory_limit_stops_the_command() -> None:
    """A nanny restarts its worker past 95 % of the limit and Dask would compute every
    lost result again, as often as the data passes the limit (a worker killed while
    holding data, not computing, is never blamed, and a command could run for ever).
    The first restart ends the command: one line with the resident memory and the
    limit, not Dask's retries (three by default) followed by KilledWorker."""
    dask = pytest.importorskip("dask")
    with (
        dask.config.set({"distributed.worker.memory.spill": False}),
        pytest.raises(UsageError) as caught,
        dask_client(memory_limit="256MiB") as client,
    ):
        client.submit(_hold, 400, 30, pure=False).result(timeout=120)
    line = str(caught.value)
    assert re.match(
        r"^a worker of the local cluster was restarted past 95 % of its memory limit at "
        r"[\d,]+ MiB resident \(memory limit 256MiB each\); give the workers more memory",
        line,
    ), line
    assert "\n" not in line


def _grow_later(mib: int, delay: float) -> int:
    """On a worker: returns at once; ``delay`` seconds later a thread makes ``mib`` MiB
    resident, as a worker's held results grow while the client is busy elsewhere."""
    import threading
    import time

    def grow() -> None:
        time.sleep(delay)
        block = np.ones(mib * 2**20, dtype=np.uint8)
        time.sleep(60 + int(block[-1]))

    threading.Thread(target=grow, daemon=True).start()
    return 1


def test_a_restart_between_two_waits_stops_the_command() -> None:
    """A restart that comes while the command waits on nothing (between two stages)
    cancels no wait; tasks it submits next would make the scheduler compute the lost
    results again from the exports, for ever (the third 5M run in docs/scale.md). The
    next wait ends the command with the restart's one line instead."""
    import time

    dask = pytest.importorskip("dask")
    with (
        dask.config.set({"distributed.worker.memory.spill": False}),
        pytest.raises(UsageError) as caught,
        dask_client(memory_limit="256MiB") as client,
    ):
        held = client.submit(_grow_later, 400, 1.0, pure=False)
        assert client.gather(held) == 1
        deadline = time.monotonic() + 120
        while not client.restarted and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.restarted, "the worker was not restarted"
        client.gather(client.submit(int, "2", pure=False))
    line = str(caught.value)
    assert line.startswith(
        "a worker of the local cluster was restarted past 95 % of its memory limit at "
    ), line


def test_a_task_refused_for_its_inputs_size_is_one_line() -> None:
    """Dask refuses a task whose inputs alone pass a worker's limit with a MemoryError;
    the user gets one line with Dask's sizes and the fixes, not an internal error."""
    from custrisk.engine.cluster import _worker_deaths

    said = (
        "Task ('_regroup-1', 3) has 1.87 GiB worth of input dependencies, but worker "
        "tcp://127.0.0.1:40001 has memory_limit set to 1.40 GiB."
    )
    with (
        pytest.raises(UsageError) as caught,
        _worker_deaths("a worker of the local cluster", "1.5GB"),
    ):
        raise MemoryError(said)
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(
        "a worker of the local cluster ran out of memory (memory limit 1.5GB each): " + said
    )
    assert "--memory-limit" in line and "--buckets" in line


def test_a_local_cluster_without_a_memory_limit_names_the_one_dask_gave() -> None:
    """Without --memory-limit a worker restarted past its limit said no limit (and the
    log 'memory limit auto each'): the limit Dask gave the workers is named instead."""
    from types import SimpleNamespace

    from custrisk.engine.cluster import _auto_limit

    def cluster(*limits: int | None) -> Any:
        nannies = [SimpleNamespace(memory_manager=SimpleNamespace(memory_limit=n)) for n in limits]
        return SimpleNamespace(workers=dict(enumerate(nannies)))

    assert _auto_limit(cluster(12638091264, 12638091264)) == "11.8GiB"
    assert _auto_limit(cluster(None, None)) == "auto"  # no limit: none to name
    assert _auto_limit(cluster(2**30, 2**31)) == "auto"


def test_a_worker_of_a_given_scheduler_dying_is_not_told_to_use_memory_limit() -> None:
    """--memory-limit is refused with --scheduler: the hint for that cluster's worker
    restarted past its limit names 'dask worker --memory-limit', not the option."""
    from distributed.client import FutureCancelledError

    from custrisk.engine.cluster import _worker_deaths

    with (
        pytest.raises(UsageError) as caught,
        _worker_deaths("a worker of tcp://h:8786", None, scheduler="tcp://h:8786"),
    ):
        raise FutureCancelledError("x", "lost")
    line = str(caught.value)
    assert line.startswith("a worker of tcp://h:8786 died while computing, most often")
    assert "'dask worker --memory-limit SIZE'" in line and "--buckets" in line
    assert "(--memory-limit;" not in line and "RUN.yaml" not in line


def test_a_scheduler_lost_mid_run_is_not_called_a_dead_worker() -> None:
    """A scheduler given by --scheduler stopped while the command computed: the client
    cancels every future ('scheduler-connection-lost'); the line says so, not 'a worker
    died ... for want of memory'."""
    from distributed.client import FutureCancelledError

    from custrisk.engine.cluster import _worker_deaths

    with (
        pytest.raises(UsageError) as caught,
        _worker_deaths("a worker of tcp://h:8786", None, scheduler="tcp://h:8786"),
    ):
        raise FutureCancelledError("x", "scheduler-connection-lost", "Client lost ...")
    line = str(caught.value)
    assert line.startswith(
        "--scheduler tcp://h:8786: the connection to the Dask scheduler was lost while computing"
    )
    assert "memory" not in line and "\n" not in line


def test_an_error_on_a_worker_is_the_pandas_engines_line(export_200: Path, tmp_path: Path) -> None:
    """A broken export: the files are read and cleaned on the local cluster's workers
    (validate --engine dask); the error there is one line on stderr, the pandas engine's,
    exit 2, and neither a worker's log nor a traceback reaches the terminal."""
    broken = tmp_path / "broken"
    shutil.copytree(export_200, broken)
    transactions = broken / "transactions.csv"
    lines = transactions.read_text(encoding="utf-8").splitlines(keepends=True)
    transactions.write_text("foo,bar,baz\n" + "".join(lines[1:]), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(SRC), "CUSTRISK_AUDIT": "off", "NO_COLOR": "1"}

    def validate(*options: str) -> subprocess.CompletedProcess[str]:
        out = ["--out", str(tmp_path / "validation")]
        return subprocess.run(
            [sys.executable, "-m", "custrisk", "validate", str(broken), *out, *options],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )

    pandas = validate()
    dask = validate("--engine", "dask", "--memory-limit", "512MiB")
    assert pandas.returncode == dask.returncode == 2
    assert dask.stderr == pandas.stderr, dask.stderr
    assert dask.stderr.startswith("Error: ") and dask.stderr.count("\n") == 1
    assert "missing required column(s): txn_id" in dask.stderr


def test_what_is_shared_survives_the_death_of_its_worker() -> None:
    """A config or model shared with the workers is computed again when the worker
    holding it dies (scattered data would be lost and its tasks cancelled)."""
    from contextlib import suppress

    from distributed import wait

    from custrisk.engine.cluster import shared

    with dask_client() as client:
        config = shared(client, {"limit": 7})
        wait(config)
        (holder,) = client.who_has(config)[config.key]
        with suppress(Exception):  # the worker dies while answering
            client.run(os._exit, 1, workers=[holder])
        assert client.submit(lambda c: c["limit"], config, pure=False).result(timeout=120) == 7


def test_a_given_scheduler_without_workers_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scheduler started by hand with no 'dask worker' yet: the command waited for ever
    with no word; now one line after WORKERS_TIMEOUT seconds."""
    from distributed import LocalCluster

    import custrisk.engine.cluster as cluster_module

    monkeypatch.setattr(cluster_module, "WORKERS_TIMEOUT", 0.5)
    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as bare:
        address = bare.scheduler_address
        with pytest.raises(UsageError) as caught, dask_client(address):
            pass
    line = str(caught.value)
    assert line.startswith(f"--scheduler {address}: the Dask scheduler there has no worker")
    assert f"'dask worker {address}'" in line
