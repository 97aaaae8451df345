"""Locks on output folders: a live holder is refused by name, a dead one is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from custrisk.io.lock import LockHeld, exclusive_lock, read_holder

HOLD = """
import sys, time
from custrisk.io.lock import exclusive_lock
with exclusive_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def _start_holder(lock: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    lock = tmp_path / "out" / ".custrisk.lock"
    with _start_holder(lock) as proc:
        try:
            with (
                pytest.raises(LockHeld, match=rf"another custrisk process \(pid {proc.pid}, host"),
                exclusive_lock(lock),
            ):
                pass
        finally:
            proc.kill()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / ".custrisk.lock"
    with _start_holder(lock) as proc:
        os.kill(proc.pid, signal.SIGKILL)
    assert read_holder(lock)["pid"] == proc.pid  # the dead holder is still recorded
    with exclusive_lock(lock) as held:
        assert held.taken_over
        assert read_holder(lock)["pid"] == os.getpid()
    assert read_holder(lock) == {}


def test_the_lock_file_is_private(tmp_path: Path) -> None:
    lock = tmp_path / ".custrisk.lock"
    with exclusive_lock(lock) as held:
        assert not held.taken_over
    assert lock.stat().st_mode & 0o777 == 0o600


def test_the_lock_is_released_when_the_block_raises(tmp_path: Path) -> None:
    lock = tmp_path / ".custrisk.lock"
    with pytest.raises(RuntimeError), exclusive_lock(lock):
        raise RuntimeError("boom")
    with exclusive_lock(lock):
        time.sleep(0)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["/srv/custrisk/.venv/bin/custrisk", "run", "run.yaml", "--period"],
            "custrisk run run.yaml",
        ),
        (
            ["/srv/.venv/lib/python3.11/site-packages/custrisk/__main__.py", "run", "r.yaml"],
            "custrisk run r.yaml",
        ),
    ],
)
def test_the_holder_is_named_by_the_command_the_operator_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], said: str
) -> None:
    """Under `python -m custrisk` (a cron line or a venv without the script) the refusal
    said "running '__main__.py run run.yaml'"."""
    monkeypatch.setattr(sys, "argv", argv)
    lock = tmp_path / "runs.lock"
    with exclusive_lock(lock):
        assert read_holder(lock)["command"] == said
