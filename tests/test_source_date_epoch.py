"""``SOURCE_DATE_EPOCH`` pins the clock times custrisk records (docs/architecture.md,
Reproducibility): two trainings of the same data gave model folders that differed by
the card's ``created_at`` (and so its signature), whatever the user did."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.errors import UsageError
from custrisk.io.clock import pinned_time, recorded_now, recorded_today

#: 2026-11-01 00:00:00 UTC
EPOCH = "1793491200"


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_two_trainings_of_the_same_data_give_byte_identical_model_folders(
    export_200: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    monkeypatch.setenv("CUSTRISK_SIGNING_KEY", "k" * 64)  # the signature too
    folders = []
    for name in ("first", "second"):
        models = tmp_path / name
        args = ["train", str(export_200), "--labels", str(export_200 / "labels.csv")]
        result = CliRunner().invoke(app, [*args, "--models-dir", str(models)])
        assert result.exit_code == 0, result.output
        folders.append(models / "logistic" / "1")
    assert _hashes(folders[0]) == _hashes(folders[1])
    card = (folders[0] / "model.json").read_text(encoding="utf-8")
    assert '"created_at": "2026-11-01T00:00:00+00:00"' in card


def test_the_recorded_clock_is_the_real_one_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    assert before <= recorded_now() <= dt.datetime.now(dt.UTC)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "")  # (empty: unset, as the convention says)
    assert pinned_time() is None
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    assert recorded_now() == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert recorded_today() == dt.date(2026, 11, 1)


@pytest.mark.parametrize("value", ["yesterday", "-1", "1.5", "9" * 30])
def test_a_malformed_value_stops_every_command_in_one_line(
    value: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """numpy's f2py read it at import: a malformed value was an 'Internal error'."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    with pytest.raises(UsageError, match="is not a whole number of seconds since 1970"):
        recorded_now()
    result = CliRunner().invoke(app, ["sample-data", str(tmp_path / "out")])
    assert result.exit_code == 2
    (line,) = [line for line in result.output.splitlines() if line.strip()]
    assert line.startswith("Error: SOURCE_DATE_EPOCH=") and "unset it" in line
    assert not (tmp_path / "out").exists()
