"""``custrisk run`` on the Dask engine (issue 16): ``engine: dask`` in RUN.yaml gives the
same run folder as the pandas engine on the sample data, bar timings; one cluster serves
every stage; the engine keys of RUN.yaml and the options of ``custrisk run`` are checked
with one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from custrisk.batch import EngineSettings, load_run_config, with_engine
from custrisk.cli import app
from custrisk.errors import ConfigError, UsageError

distributed = pytest.importorskip("distributed")

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
PERIOD = "2026-10"

#: The fields of run.json that may differ between the engines' run folders, and why:
#: when the run finished and how long each stage took (timings) ...
TIMINGS = {
    ("finished",),
    *(("stages", stage, "seconds") for stage in ("validate", "score", "drift", "evaluate")),
    *(("stages", stage, "seconds") for stage in ("reports", "notify")),
}
#: ... and, when the dask run's RUN.yaml has the engine lines added, the file's hash (not
#: the fingerprint: it counts RUN.yaml's settings without the engine's).
RUN_YAML_HASHES = {("configs", "run", "sha256")}
#: The fields of each log.jsonl event that may differ: its time, the process and a
#: stage's seconds. The dask run's log has one more event, ``engine`` (which cluster),
#: and no other difference.
LOG_FIELDS_MAY_DIFFER = ("time", "pid", "seconds")
DASK_ONLY_EVENTS = ("engine",)


def _without(facts: dict[str, Any], paths: set[tuple[str, ...]]) -> dict[str, Any]:
    copy = json.loads(json.dumps(facts))
    for path in paths:
        node = copy
        for key in path[:-1]:
            node = node[key]
        node.pop(path[-1])
    return copy


def _events(folder: Path, drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    lines = (folder / "log.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    return [
        {k: v for k, v in e.items() if k not in LOG_FIELDS_MAY_DIFFER}
        for e in events
        if e["event"] not in drop
    ]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample data as the month 2026-10 of the RUN.yaml of ``custrisk run --init``,
    with the model it names trained on it."""
    folder = tmp_path_factory.mktemp("dask_run")
    shutil.copytree(SAMPLE, folder / "exports" / PERIOD)
    runner = CliRunner()
    exports = folder / "exports" / PERIOD
    args = ["train", str(exports), "--labels", str(exports / "labels.csv")]
    trained = runner.invoke(app, [*args, "--models-dir", str(folder / "models")])
    assert trained.exit_code == 0, trained.output
    written = runner.invoke(app, ["run", "--init", str(folder / "run.yaml")])
    assert written.exit_code == 0, written.output
    return folder


def _run(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["run", str(root / "run.yaml"), "--period", PERIOD, *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


@pytest.fixture(scope="module")
def pandas_run(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of 2026-10 with engine: pandas (moved out of runs/)."""
    code, out = _run(root)
    assert code == 0, out
    folder = tmp_path_factory.mktemp("pandas_run") / PERIOD
    shutil.move(root / "runs" / PERIOD, folder)  # the next run starts afresh
    return folder


def _assert_same_run_folder(dask_run: Path, pandas_run: Path, may_differ: set[Any]) -> None:
    files = sorted(p.relative_to(pandas_run).as_posix() for p in pandas_run.rglob("*"))
    assert files == sorted(p.relative_to(dask_run).as_posix() for p in dask_run.rglob("*"))
    assert {"scores.csv", "alerts.csv", "drift.json", "validation/rejects.csv"} <= set(files)
    assert any(name.endswith(".pdf") for name in files)
    for name in files:
        if (pandas_run / name).is_file() and name not in ("run.json", "log.jsonl"):
            assert (dask_run / name).read_bytes() == (pandas_run / name).read_bytes(), name
    want = json.loads((pandas_run / "run.json").read_text(encoding="utf-8"))
    got = json.loads((dask_run / "run.json").read_text(encoding="utf-8"))
    assert got["run_id"] == want["run_id"]  # the scoring run's id (of its tables)
    assert _without(got, may_differ) == _without(want, may_differ)
    assert _events(dask_run, drop=DASK_ONLY_EVENTS) == _events(pandas_run)
    assert not [e for e in _events(pandas_run) if e["event"] in DASK_ONLY_EVENTS]


def test_engine_dask_gives_the_pandas_run_folder(
    root: Path, pandas_run: Path, dask_cluster: Any
) -> None:
    config = root / "run.yaml"
    original = config.read_text(encoding="utf-8")
    address = dask_cluster.scheduler.address
    config.write_text(
        original + f"\nengine: dask\nscheduler: {address}\nbuckets: 3\n", encoding="utf-8"
    )
    try:
        code, out = _run(root)
    finally:
        config.write_text(original, encoding="utf-8")
    assert code == 0, out
    dask_run = root / "runs" / PERIOD
    want = json.loads((pandas_run / "run.json").read_text(encoding="utf-8"))
    got = json.loads((dask_run / "run.json").read_text(encoding="utf-8"))
    assert got["configs"]["run"]["sha256"] != want["configs"]["run"]["sha256"]
    assert got["fingerprint"] == want["fingerprint"]
    _assert_same_run_folder(dask_run, pandas_run, TIMINGS | RUN_YAML_HASHES)
    engine = [e for e in _events(dask_run) if e["event"] == "engine"]
    assert len(engine) == 1  # one cluster for validate, score and drift
    assert engine[0]["scheduler"] == address and engine[0]["buckets"] == 3
    shutil.rmtree(dask_run)


def test_the_engine_options_of_custrisk_run_start_one_local_cluster(
    root: Path, pandas_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--engine dask --memory-limit over the unedited RUN.yaml: a local cluster started
    once for the run, the same run folder, even the same fingerprint (the engine does
    not change the outputs); the cluster (its workers and folder) closed after drift,
    its last user, not kept through the reports."""
    import tempfile

    import custrisk.batch.stages as stages

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the cluster's folder here
    left: list[list[str]] = []

    def reports(ctx: Any) -> Any:
        left.append([p.name for p in tmp_path.glob("custrisk-dask-*")])
        return stages.reports(ctx)

    monkeypatch.setitem(stages.RUNNERS, "reports", reports)
    code, out = _run(root, "--engine", "dask", "--memory-limit", "512MiB", "--buckets", "2")
    assert code == 0, out
    assert left == [[]]
    dask_run = root / "runs" / PERIOD
    _assert_same_run_folder(dask_run, pandas_run, TIMINGS)
    events = _events(dask_run)
    engine = [e for e in events if e["event"] == "engine"]
    assert len(engine) == 1
    assert engine[0]["local"] is True and engine[0]["memory_limit"] == "512MiB"
    assert engine[0]["workers"] == 2
    first_stage = next(i for i, e in enumerate(events) if e["event"] == "stage_start")
    assert events.index(engine[0]) == first_stage + 1  # started by validate, its first user
    shutil.rmtree(dask_run)


def test_a_run_in_parts_is_the_pandas_run_in_parts(
    root: Path, pandas_run: Path, dask_cluster: Any
) -> None:
    """--parts: the scores, details and follow-up plan as folders of parts, the alerts,
    validation and drift the same bytes, the same reports (for the same customers; they
    name another run id: the run's tables are other files); read back, the same
    tables; run again, nothing to do."""
    from custrisk.results import read_run

    address = dask_cluster.scheduler.address
    options = ("--engine", "dask", "--scheduler", address, "--buckets", "3", "--parts")
    code, out = _run(root, *options)
    assert code == 0, out
    dask_run = root / "runs" / PERIOD
    files = {p.relative_to(dask_run).as_posix() for p in dask_run.rglob("*")}
    parted = ("scores.parquet", "scores.details.parquet", "followups.parquet")
    assert {f"{name}/part-00000.parquet" for name in parted} <= files
    assert not {"scores.csv", "followups.csv"} & files
    for name in sorted(p.relative_to(pandas_run).as_posix() for p in pandas_run.rglob("*")):
        if (pandas_run / name).is_file() and name.split("/")[0] not in (
            "run.json",
            "log.jsonl",
            "scores.csv",
            "scores.run.json",
            "followups.csv",
            "scores.details.parquet",
            "reports",
        ):
            assert (dask_run / name).read_bytes() == (pandas_run / name).read_bytes(), name
    reports = {p.name for p in (pandas_run / "reports").glob("*.pdf")}
    assert len(reports) > 1 and reports == {p.name for p in (dask_run / "reports").glob("*.pdf")}
    want, got = read_run(pandas_run / "scores.csv"), read_run(dask_run / "scores.csv")
    assert sorted(got.scores["customer_id"]) == sorted(want.scores["customer_id"])
    pd.testing.assert_frame_equal(got.followups, want.followups)
    assert got.facts["policy"] == want.facts["policy"]
    assert got.facts["alerts"] == want.facts["alerts"]
    code, out = _run(root, *options)
    assert code == 0, out
    assert _events(dask_run)[-1]["event"] == "nothing_to_do"
    shutil.rmtree(dask_run)


def test_moving_a_finished_run_to_the_dask_engine_leaves_it_alone(
    root: Path, pandas_run: Path, dask_cluster: Any
) -> None:
    """A month run with engine: pandas is up to date for the Dask engine: adding the
    engine lines to RUN.yaml (or taking them out) runs nothing again, since both
    engines write the same files. Any other edit of RUN.yaml does."""
    config = root / "run.yaml"
    original = config.read_text(encoding="utf-8")
    address = dask_cluster.scheduler.address
    try:
        # the month run with engine: pandas, put back where that run wrote it
        shutil.copytree(pandas_run, root / "runs" / PERIOD)
        code, out = _run(root)
        assert code == 0, out
        assert _events(root / "runs" / PERIOD)[-1]["event"] == "nothing_to_do"
        config.write_text(
            original + f"\nengine: dask\nscheduler: {address}\nbuckets: 3\n", encoding="utf-8"
        )
        code, out = _run(root)
        assert code == 0, out
        events = [e["event"] for e in _events(root / "runs" / PERIOD)]
        assert events[-1] == "nothing_to_do" and "engine" not in events
        # (an edit that does not add the reports' time to the run it causes)
        off = "reports:\n  enabled: false"
        config.write_text(original.replace("reports:\n  enabled: true", off), encoding="utf-8")
        assert off in config.read_text(encoding="utf-8")
        code, out = _run(root, "--engine", "pandas")
        assert code == 0, out
        notes = [e["message"] for e in _events(root / "runs" / PERIOD) if e["event"] == "note"]
        assert any(n.startswith("inputs or configs changed") for n in notes), notes
    finally:
        config.write_text(original, encoding="utf-8")
        shutil.rmtree(root / "runs" / PERIOD, ignore_errors=True)


def test_a_stage_error_on_a_worker_is_one_line_and_exit_2(
    root: Path, tmp_path: Path, dask_cluster: Any
) -> None:
    """A broken export fails the validate stage on a worker with the pandas engine's
    message and exit code, and the staging folder is kept for the next run."""
    broken = tmp_path / "broken"
    shutil.copytree(root, broken, symlinks=True, ignore=shutil.ignore_patterns("runs"))
    transactions = broken / "exports" / PERIOD / "transactions.csv"
    lines = transactions.read_text(encoding="utf-8").splitlines(keepends=True)
    transactions.write_text("foo,bar,baz\n" + "".join(lines[1:]), encoding="utf-8")
    code, pandas_out = _run(broken)
    address = dask_cluster.scheduler.address
    dask_code, dask_out = _run(broken, "--engine", "dask", "--scheduler", address)
    assert code == dask_code == 2
    assert dask_out == pandas_out
    assert dask_out.startswith("Error: ") and dask_out.count("\n") == 1
    assert "missing required column(s): txn_id" in dask_out
    assert "Traceback" not in dask_out
    assert (broken / "runs" / f".staging-{PERIOD}").is_dir()  # resumed by the next run


# -- RUN.yaml's engine keys and custrisk run's options ----------------------------------


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text("exports: exports/{period}\nmodel: logistic\n" + text, encoding="utf-8")
    return path


def test_the_engine_keys_of_run_yaml(tmp_path: Path) -> None:
    assert load_run_config(_config(tmp_path, "")).engine == EngineSettings()
    read = load_run_config(
        _config(tmp_path, "engine: dask\nbuckets: 16\nmemory_limit: 2GB\n")
    ).engine
    assert read == EngineSettings("dask", None, 16, "2GB") and read.dask
    remote = load_run_config(_config(tmp_path, "engine: dask\nscheduler: tcp://h:8786\n"))
    assert remote.engine == EngineSettings("dask", "tcp://h:8786")
    parts = load_run_config(_config(tmp_path, "engine: dask\nparts: true\n")).engine
    assert parts == EngineSettings("dask", parts=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("engine: spark\n", r"key 'engine': 'spark' is not allowed; allowed values: pandas, dask"),
        ("engine: dask\nbuckets: 0\n", r"key 'buckets': must be at least 1, got 0"),
        ("engine: dask\nbuckets: many\n", r"key 'buckets': expected an integer, got 'many'"),
        (
            "engine: dask\nmemory_limit: lots\n",
            r"key 'memory_limit': 'lots' is not a memory size; write it as a number and a "
            r"unit, e.g. 2GB",
        ),
        ("engine: dask\nmemory_limit: 1MB\n", r"key 'memory_limit': '1MB' is too small"),
        (
            "scheduler: tcp://h:8786\n",
            r"key 'scheduler': 'tcp://h:8786' applies to engine: dask only, and engine is "
            r"pandas; add engine: dask, or remove the key",
        ),
        ("buckets: 4\n", r"key 'buckets': 4 applies to engine: dask only"),
        ("parts: true\n", r"key 'parts': True applies to engine: dask only"),
        (
            "engine: dask\nparts: yes please\n",
            r"key 'parts': expected true or false, got 'yes please'; true: the scores, details "
            r"and follow-up plan as folders of parts",
        ),
        (
            "engine: dask\nscheduler: tcp://h:8786\nmemory_limit: 2GB\n",
            r"key 'memory_limit': '2GB' sizes the workers of a local cluster, not those of "
            r"scheduler tcp://h:8786",
        ),
    ],
)
def test_bad_engine_keys_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_run_config(_config(tmp_path, text))
    assert "\n" not in caught.value.one_line()
    assert str(tmp_path / "run.yaml") in caught.value.one_line()


def test_the_options_of_custrisk_run_override_run_yaml(tmp_path: Path) -> None:
    local = load_run_config(_config(tmp_path, "engine: dask\nbuckets: 4\nmemory_limit: 2GB\n"))
    assert with_engine(local) is local
    assert with_engine(local, "pandas").engine == EngineSettings()
    assert with_engine(local, buckets=9).engine == EngineSettings("dask", None, 9, "2GB")
    assert with_engine(local, scheduler="tcp://h:1").engine == EngineSettings(
        "dask", "tcp://h:1", 4
    )
    pandas = load_run_config(_config(tmp_path, ""))
    assert with_engine(pandas, "dask", memory_limit="1GiB").engine == EngineSettings(
        "dask", None, None, "1GiB"
    )
    with pytest.raises(UsageError, match=r"^--buckets applies to --engine dask only"):
        with_engine(pandas, buckets=3)
    parts = with_engine(local, parts=True).engine
    assert parts == EngineSettings("dask", None, 4, "2GB", parts=True)
    with pytest.raises(UsageError, match=r"^--parts applies to --engine dask only"):
        with_engine(pandas, parts=True)
    with pytest.raises(UsageError, match=r"^--memory-limit sizes the local cluster's workers"):
        with_engine(local, "dask", scheduler="tcp://h:1", memory_limit="1GB")
    with pytest.raises(UsageError, match=r"^--memory-limit: 'x' is not a memory size"):
        with_engine(local, memory_limit="x")
    with pytest.raises(UsageError, match=r"^--engine must be one of pandas, dask; got 'ray'"):
        with_engine(local, "ray")


def test_custrisk_run_refuses_dask_options_without_the_dask_engine(tmp_path: Path) -> None:
    config = _config(tmp_path, "")
    result = CliRunner().invoke(app, ["run", str(config), "--memory-limit", "2GB"])
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --memory-limit applies to --engine dask only; add --engine dask\n"
    )


def test_a_worker_dying_in_a_stage_is_said_by_the_runs_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stage's exception reaches the cluster's context, which says a dead worker in
    one line (before, the run's cluster was closed without it: Dask's
    FutureCancelledError came out as an internal error)."""
    from contextlib import contextmanager

    from distributed.client import FutureCancelledError

    import custrisk.batch.stages as stages

    @contextmanager
    def said(scheduler: str | None, memory_limit: str | None = None) -> Any:
        try:
            yield "client"
        except FutureCancelledError:
            raise UsageError("a worker of the local cluster died while computing") from None

    monkeypatch.setattr(stages, "dask_client", said)
    with pytest.raises(UsageError, match="died while computing"):
        with stages.RunCluster(EngineSettings("dask")) as cluster:
            assert cluster.client() == "client"
            raise FutureCancelledError("x", "worker-restart-memory")
    with stages.RunCluster(EngineSettings("dask")) as cluster:  # no error: none raised
        cluster.client()


def test_a_worker_dying_in_a_stage_is_said_in_the_runs_log(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stage's line in log.jsonl is the one the command prints (before: ``internal:
    FutureCancelledError``), and the cluster is closed with the stage that failed."""
    from contextlib import contextmanager
    from types import SimpleNamespace

    from distributed.client import FutureCancelledError

    import custrisk.batch.stages as stages

    closed: list[bool] = []

    @contextmanager
    def said(scheduler: str | None, memory_limit: str | None = None) -> Any:
        try:
            yield SimpleNamespace(scheduler=None, scheduler_info=dict)
        except FutureCancelledError:
            raise UsageError("a worker of the local cluster died while computing") from None
        finally:
            closed.append(True)

    def score(ctx: Any) -> Any:
        ctx.cluster.client()
        raise FutureCancelledError("x", "worker-restart-memory")

    monkeypatch.setattr(stages, "dask_client", said)
    monkeypatch.setitem(stages.RUNNERS, "validate", lambda ctx: stages.StageResult())
    monkeypatch.setitem(stages.RUNNERS, "score", score)
    try:
        code, out = _run(root, "--engine", "dask")
        assert (code, out) == (2, "Error: a worker of the local cluster died while computing\n")
        assert closed == [True]
        failed = [e for e in _events(root / "runs" / f".staging-{PERIOD}") if "error" in e]
        assert failed == [
            {
                "period": PERIOD,
                "event": "stage_failed",
                "stage": "score",
                "error": "a worker of the local cluster died while computing",
            }
        ]
    finally:
        shutil.rmtree(root / "runs" / f".staging-{PERIOD}", ignore_errors=True)
