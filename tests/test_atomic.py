"""Atomic writes: private files in private folders."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from custrisk.io.atomic import ensure_dir, write_text


def test_folders_created_for_an_output_are_private_whatever_the_umask(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "a" / "b" / "out.json", "{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b" / "out.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755  # an existing folder keeps its mode


def test_a_file_in_the_way_of_a_folder_is_an_os_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError):
        ensure_dir(tmp_path / "file" / "sub")


def test_a_folder_that_takes_no_files_is_said_by_the_file_asked_for(tmp_path: Path) -> None:
    # /proc takes no new files: the error names d.json, not the temporary file beside it
    with pytest.raises(OSError) as caught:
        write_text(Path("/proc/d.json"), "{}")
    assert caught.value.filename == "/proc/d.json"
    assert ".tmp" not in str(caught.value)
