"""Stopping a command (Ctrl-C, SIGTERM): a real signal to a real ``custrisk`` process at a
point where it is busy gives exit 130 or 143, one ``Stopped:`` line saying what was left,
no traceback, no temporary files, the run lock released, and a rerun that works."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import custrisk
from custrisk.cli import app
from custrisk.engine.cluster import SHUFFLE_PREFIX
from custrisk.protect.keys import AUDIT, new_key
from custrisk.results import LOCK_FILE, STAGE_PREFIX

SRC = Path(custrisk.__file__).resolve().parents[1]
PERIOD = "2026-10"
ENV = {**os.environ, "PYTHONPATH": str(SRC), "CUSTRISK_AUDIT": "off"}


def _custrisk(*args: str, env: dict[str, str], stderr: Path) -> subprocess.Popen[bytes]:
    """``python -m custrisk ARGS`` in a process group of its own (as a terminal's
    foreground job: Ctrl-C reaches every process of it)."""
    with stderr.open("wb") as errors:
        return subprocess.Popen(
            [sys.executable, "-m", "custrisk", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )


def _wait_for(found: object, proc: subprocess.Popen[bytes], stderr: Path) -> None:
    """Until ``found()`` is true; the process must still be running then."""
    deadline = time.monotonic() + 60
    while not found() and proc.poll() is None and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)
    assert proc.poll() is None, f"ended before it could be stopped: {stderr.read_text()}"
    assert found(), stderr.read_text()  # type: ignore[operator]


def _stopped(proc: subprocess.Popen[bytes], signum: int, stderr: Path, *, group: bool) -> str:
    """Send ``signum`` (to the whole process group with ``group``); the one line said."""
    try:
        if group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = stderr.read_text(encoding="utf-8")
    assert code == 128 + signum, text
    assert "Traceback" not in text and "Aborted" not in text, text
    lines = text.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Stopped: "), text
    assert _group_ends(proc.pid), subprocess.run(
        ["ps", "-o", "pid,args", "-g", str(proc.pid)], capture_output=True, text=True
    ).stdout  # no worker process outlives the command
    return lines[0]


def _group_ends(group: int) -> bool:
    """Whether every process of ``group`` is gone within a few seconds."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _lock_is_free(path: Path) -> bool:
    """Nobody holds the lock, and it was released in order (its holder's record
    cleared), not by a process that died holding it."""
    with path.open("rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
    return path.read_bytes() == b""


def _temp_files(folder: Path) -> list[Path]:
    """Temporary files and staging folders of atomic writes under ``folder``."""
    return [
        p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(STAGE_PREFIX)
    ]


@pytest.fixture
def run_root(tmp_path: Path, export_200: Path, models_200: Path) -> Path:
    """A month of exports, the model registry and the RUN.yaml of ``custrisk run --init``."""
    shutil.copytree(export_200, tmp_path / "exports" / PERIOD)
    (tmp_path / "models").symlink_to(models_200)
    config = tmp_path / "run.yaml"
    result = CliRunner().invoke(app, ["run", "--init", str(config)])
    assert result.exit_code == 0, result.output
    text = config.read_text(encoding="utf-8")
    # the customers' reports only (the portfolio's charts take longest to render)
    config.write_text(text.replace("portfolio: true", "portfolio: false", 1), encoding="utf-8")
    return tmp_path


def _paused_run(root: Path, point: str) -> subprocess.Popen[bytes]:
    """``custrisk run`` stopped at ``point`` by the run's test hook (see
    custrisk.batch.run.PAUSE_AT_ENV), busy there until a signal comes."""
    marker = root / "pid"
    marker.unlink(missing_ok=True)
    env = {
        **ENV,
        "CUSTRISK_TEST_PAUSE_AT": point,
        "CUSTRISK_TEST_PAUSE_FILE": str(marker),
    }
    proc = _custrisk(
        "run", str(root / "run.yaml"), "--period", PERIOD, env=env, stderr=root / "err"
    )
    _wait_for(marker.is_file, proc, root / "err")
    return proc


def test_sigterm_in_a_run_stage_names_it_and_the_month_runs_again(run_root: Path) -> None:
    runs = run_root / "runs"
    staging = runs / f".staging-{PERIOD}"
    # SIGTERM (systemd, timeout) to the process while the reports stage renders
    proc = _paused_run(run_root, "during:reports")
    assert (staging / "reports").is_dir()  # two reports rendered already
    line = _stopped(proc, signal.SIGTERM, run_root / "err", group=False)
    assert line == (
        f"Stopped: SIGTERM during custrisk run; stage reports of {PERIOD} was running: its "
        f"partial outputs removed, stages validate, score, drift, evaluate kept in {staging}, "
        "the run lock released; run the same command again to resume at reports"
    )
    assert _lock_is_free(runs / ".custrisk-run.lock")
    assert not (staging / "reports").exists() and not _temp_files(runs)
    assert not (runs / PERIOD).exists()

    result = CliRunner().invoke(app, ["run", str(run_root / "run.yaml"), "--period", PERIOD])
    assert result.exit_code == 1, result.output  # the drift gate of 200 customers
    assert "resumed at reports)" in result.stdout
    facts = json.loads((runs / PERIOD / "run.json").read_text(encoding="utf-8"))
    assert facts["stages"]["reports"]["rows"]["rendered"] >= 3
    assert not staging.exists()
    log = (runs / PERIOD / "log.jsonl").read_text(encoding="utf-8")
    assert '"event": "stage_stopped", "stage": "reports", "signal": "SIGTERM"' in log
    assert "took over the lock" not in log  # the stop released it in order


@pytest.mark.parametrize("force", [False, True])
def test_ctrl_c_between_run_stages_keeps_the_stages_done(
    run_root: Path, monkeypatch: pytest.MonkeyPatch, force: bool
) -> None:
    """In this process (no interpreter to start): SIGINT, sent by a thread once the run
    pauses before its score stage, reaches the main thread as Ctrl-C does. A --force
    run is not resumed by the same command (--force starts afresh): the line says how."""
    marker = run_root / "pid"
    monkeypatch.setenv("CUSTRISK_TEST_PAUSE_AT", "before:score")
    monkeypatch.setenv("CUSTRISK_TEST_PAUSE_FILE", str(marker))

    def interrupt() -> None:
        deadline = time.monotonic() + 60
        while not marker.is_file() and time.monotonic() < deadline:
            time.sleep(0.02)
        if marker.is_file():
            os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=interrupt, daemon=True)
    thread.start()
    args = ["run", str(run_root / "run.yaml"), "--period", PERIOD, *(["--force"] * force)]
    result = CliRunner().invoke(app, args)
    thread.join()
    runs = run_root / "runs"
    assert result.exit_code == 130, result.output
    again = (
        "run it again without --force to resume (--force starts afresh)"
        if force
        else "run the same command again to resume"
    )
    assert result.stderr == (
        f"Stopped: SIGINT during custrisk run; stages validate kept in {runs}/.staging-"
        f"{PERIOD}; {again} (the run lock is released)\n"
    )
    assert _lock_is_free(runs / ".custrisk-run.lock")
    assert not (runs / PERIOD).exists() and not _temp_files(runs)
    log = (runs / f".staging-{PERIOD}" / "log.jsonl").read_text(encoding="utf-8")
    assert log.splitlines()[-1].endswith('"event": "stopped", "signal": "SIGINT"}')


def test_ctrl_c_of_a_dask_score_closes_the_cluster_and_removes_its_shuffle_folder(
    tmp_path: Path, export_200: Path, models_200: Path
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "out" / "scores.csv"
    args = ["score", str(export_200), "--model", "logistic", "--models-dir", str(models_200)]
    proc = _custrisk(
        *args,
        "--engine",
        "dask",
        "--out",
        str(out),
        env={**ENV, "TMPDIR": str(tmp)},
        stderr=tmp_path / "err",
    )
    # busy: the workers are reading the exports into the shuffle folder
    _wait_for(lambda: any(tmp.glob(f"{SHUFFLE_PREFIX}*")), proc, tmp_path / "err")
    line = _stopped(proc, signal.SIGINT, tmp_path / "err", group=True)
    assert line == (
        "Stopped: SIGINT during custrisk score; the local Dask cluster closed, its temporary "
        f"folders removed; {out} (or, in parts, {out.with_suffix('.parquet')}/) not written "
        "(an earlier file there is left as it was)"
    )
    assert not list(tmp.iterdir())  # the shuffle folder, Dask's own (dask-scratch-space)
    assert not out.parent.exists() or [p.name for p in out.parent.iterdir()] == [LOCK_FILE]


def _worker_importing(group: int) -> bool:
    """Whether a worker process of ``group`` has Python's Ctrl-C handler and does not yet
    ignore SIGINT: it is importing Dask, before the preload of custrisk.engine.worker_setup."""
    listed = subprocess.run(
        ["ps", "-ww", "-o", "pid=,args=", "-g", str(group)], capture_output=True, text=True
    ).stdout
    for line in listed.splitlines():
        pid, _, args = line.strip().partition(" ")
        if "spawn_main" not in args:
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(f.split(":\t", 1) for f in status.splitlines() if ":\t" in f)
        sigint = 1 << (signal.SIGINT - 1)
        if int(fields["SigCgt"], 16) & sigint and not int(fields["SigIgn"], 16) & sigint:
            return True
    return False


def test_ctrl_c_while_the_dask_workers_start_is_one_line_without_a_workers_traceback(
    tmp_path: Path, export_200: Path, models_200: Path
) -> None:
    out = tmp_path / "out" / "scores.csv"
    args = ["score", str(export_200), "--model", "logistic", "--models-dir", str(models_200)]
    proc = _custrisk(*args, "--engine", "dask", "--out", str(out), env=ENV, stderr=tmp_path / "err")
    _wait_for(lambda: _worker_importing(proc.pid), proc, tmp_path / "err")
    line = _stopped(proc, signal.SIGINT, tmp_path / "err", group=True)
    assert line.startswith("Stopped: SIGINT during custrisk score; the local Dask cluster closed")
    assert not out.exists()


@pytest.fixture
def audit_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Auditing on, into a log of this test."""
    key = new_key(AUDIT)
    monkeypatch.setenv("CUSTRISK_AUDIT", "on")
    monkeypatch.setenv("CUSTRISK_AUDIT_LOG", str(tmp_path / "audit.log"))
    monkeypatch.setenv("CUSTRISK_AUDIT_KEY", f"{key.id}:{base64.b64encode(key.secret).decode()}")
    monkeypatch.setenv("CUSTRISK_KEYFILE", str(tmp_path / "no-keys.json"))
    return tmp_path / "audit.log"


@pytest.fixture
def sigterm_in_models_list(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``custrisk models list`` gets SIGTERM while it lists the registry."""

    def busy(*args: object, **kwargs: object) -> list[object]:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # the signal's handler ends this
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr("custrisk.registry.checked_models", busy)
    yield


@pytest.mark.usefixtures("sigterm_in_models_list")
def test_a_stopped_command_ends_its_audit_line_with_143_and_puts_the_handlers_back(
    runner: CliRunner, audit_on: Path, tmp_path: Path
) -> None:
    before = signal.getsignal(signal.SIGTERM)
    result = runner.invoke(app, ["models", "list", "--models-dir", str(tmp_path)])
    assert result.exit_code == 143, result.output
    assert result.stderr == (
        "Stopped: SIGTERM during custrisk models list; no output half-written (files are written "
        "whole or not at all)\n"
    )
    line = json.loads(audit_on.read_text(encoding="utf-8").splitlines()[-1])
    assert (line["exit"], line["error"]) == (143, "stopped by SIGTERM")
    assert signal.getsignal(signal.SIGTERM) == before


#: ``custrisk --version`` through the console script's entry point, held while it imports
#: ``custrisk.cli`` (a finder on the import path waits there, after touching the marker
#: file argv[1]): the window before the command line's own handlers are set.
_LOADING = """
import importlib.abc, pathlib, sys, time

marker = pathlib.Path(sys.argv[1])

class Held(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "custrisk.cli":
            marker.touch()
            time.sleep(60)
        return None

sys.meta_path.insert(0, Held())
sys.argv = ["custrisk", "--version"]
from custrisk.entry import main
main()
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_while_the_command_line_loads_is_one_line_and_the_signals_code(
    tmp_path: Path, signum: int
) -> None:
    marker, stderr = tmp_path / "loading", tmp_path / "err"
    with stderr.open("wb") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-c", _LOADING, str(marker)],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )
    _wait_for(marker.is_file, proc, stderr)
    line = _stopped(proc, signum, stderr, group=True)
    assert line == (
        f"Stopped: {signal.Signals(signum).name} while starting; nothing was read or written"
    )
