"""An export cut off mid-write (copied while it was still being written) is refused as a
whole, for every command, rather than scored with its last customers missing: its last
line has no line end and fewer fields than the header. A last line without a line end
but with all its fields is a complete file (many tools write no final newline), and a
short row anywhere else stays one rejected row."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.data import load_workspace
from custrisk.errors import DataError
from custrisk.io.readers import read_raw
from tests._support import CREDIT_HEADER, TXN_HEADER, credit_row, cut_off

MakeWs = Callable[[dict[str, str | bytes]], Path]
CUSTOMERS = [f"{i:010d}" for i in range(1, 31)]


def _txn(i: int) -> str:
    customer = CUSTOMERS[i % len(CUSTOMERS)]
    return f"T{i:012d},{customer},2026-03-{1 + i % 28:02d},{100 + i}.50,payment,online,,"


def _credit() -> str:
    return "\n".join([CREDIT_HEADER, *(credit_row(c) for c in CUSTOMERS)]) + "\n"


def _transactions(last: str, newline: str = "\n", end: str = "") -> str:
    """The transactions export: 40 complete lines, then ``last`` ended by ``end``."""
    return newline.join([TXN_HEADER, *(_txn(i) for i in range(40)), last]) + end


CUT = {
    "in the middle of a field": _txn(40)[:30],
    "after the first field": "T000000000040",
    "after a delimiter": _txn(40)[:28] + ",",
    "inside a quoted value": _txn(40)[:50] + ',"onl',
}


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("where", list(CUT))
def test_a_last_line_cut_off_without_a_line_end_refuses_the_file(
    tmp_path: Path, where: str, newline: str
) -> None:
    path = tmp_path / "transactions.csv"
    path.write_bytes(_transactions(CUT[where], newline).encode("utf-8"))
    with pytest.raises(DataError, match=r"transactions\.csv:42: .*cut off") as caught:
        read_raw(path)
    message = caught.value.one_line()
    assert "of the header's 8 fields" in message or "quoted value" in message
    assert "export" in message and "again" in message  # what to do
    assert "T000000000040" not in message  # the row's data is not repeated


def test_a_cut_utf16_export_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "transactions.csv"
    path.write_bytes(_transactions(CUT["in the middle of a field"]).encode("utf-16"))
    with pytest.raises(DataError, match=r"transactions\.csv:42: .*cut off"):
        read_raw(path)


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_a_complete_last_line_without_a_line_end_is_read(tmp_path: Path, newline: str) -> None:
    path = tmp_path / "transactions.csv"
    path.write_bytes(_transactions(_txn(40), newline).encode("utf-8"))
    table = read_raw(path)
    assert (table.num_rows, table.bad_rows) == (41, [])
    assert table.lines[-1] == 42


def test_short_rows_with_their_line_ends_stay_rejected_rows(make_workspace: MakeWs) -> None:
    """A short row in the middle of the file, and a short last line that has its line
    end (the file was written to its end), are each one rejected row with the reason."""
    lines = [_txn(i) for i in range(40)]
    lines[10] = lines[10][:30]
    text = "\n".join([TXN_HEADER, *lines, _txn(40)[:30]]) + "\n"
    ws = load_workspace(make_workspace({"credit.csv": _credit(), "transactions.csv": text}))
    rejects = ws.rejects[ws.rejects["source"] == "transactions"]
    assert dict(zip(rejects["line"].astype(int), rejects["rule"], strict=True)) == {
        12: "field_count",
        42: "field_count",
    }
    assert ws.report.sources["transactions"].rows_kept == 39


@pytest.mark.parametrize("command", ["validate", "score"])
def test_every_command_exits_2_on_a_cut_export(
    export_200: Path, models_200: Path, tmp_path: Path, command: str
) -> None:
    folder = tmp_path / "exports"
    shutil.copytree(export_200, folder)
    line = cut_off(folder / "transactions.csv")
    args = {
        "validate": ["validate", str(folder), "--out", str(tmp_path / "out")],
        "score": ["score", str(folder), "--model", "logistic", "--models-dir", str(models_200)]
        + ["--out", str(tmp_path / "scores.csv")],
    }[command]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"transactions.csv:{line}: " in result.stderr and "cut off" in result.stderr
    assert not (tmp_path / "scores.csv").exists()
