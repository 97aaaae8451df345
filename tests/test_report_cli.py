"""``custrisk report``: exit codes, manifest, resume and --force, failures, the pool."""

from __future__ import annotations

import csv
import errno
import hashlib
import logging
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import custrisk
from custrisk.cli import app
from custrisk.report import batch, render
from custrisk.results import read_run
from tests._report_runs import handmade_frames, write_handmade_run, write_run

DATE = ["--report-date", "2026-11-05"]


@pytest.fixture(autouse=True)
def no_missing_glyphs() -> Iterator[None]:
    messages: list[str] = []

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = Handler(logging.WARNING)
    logging.getLogger("weasyprint").addHandler(handler)
    yield
    logging.getLogger("weasyprint").removeHandler(handler)
    assert not [m for m in messages if ".notdef" in m]


@pytest.fixture
def run_path(tmp_path: Path) -> Path:
    return write_handmade_run(tmp_path / "run")


def _manifest(folder: Path) -> dict[str, dict[str, str]]:
    with (folder / "manifest.csv").open(encoding="utf-8-sig", newline="") as handle:
        return {row["customer_id"] or "portfolio": row for row in csv.DictReader(handle)}


def _report(runner: CliRunner, *args: str | Path) -> object:
    return runner.invoke(app, ["report", *map(str, args)])


def test_help_explains_the_command(runner: CliRunner) -> None:
    result = runner.invoke(app, ["report", "--help"])
    assert result.exit_code == 0
    for option in ("--customers", "--grade", "--alert-level", "--workers", "--force", "--drift"):
        assert option in result.output


@pytest.mark.parametrize("option", ["--customers", "--customer"])
def test_filters_no_customer_matches_are_named(
    runner: CliRunner, run_path: Path, tmp_path: Path, option: str
) -> None:
    """A grade the run knows but nobody holds together with the other filter: the
    warning names the filters rather than 'the filters'. ``--customer`` (one id, as
    ``audit`` and ``decisions`` spell it) is ``--customers``."""
    out = tmp_path / "out"
    result = _report(
        runner, run_path, "--out", out, "--grade", "A", option, "C001", "--no-portfolio"
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "matches --customers C001 and --grade A; nothing rendered" in said
    assert "Rendered 0 reports" in said


def test_report_writes_pdfs_and_manifest(runner: CliRunner, run_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _report(runner, run_path, "--out", out, "--workers", "0", *DATE)
    assert result.exit_code == 0, result.output
    assert "Rendered 6 reports, skipped 0 up to date, 0 failed" in result.output
    rows = _manifest(out)
    assert list(rows) == ["portfolio", "C001", "C002", "C003", "C004", "C005"]
    text = (out / "manifest.csv").read_text(encoding="utf-8")
    assert text.startswith("\ufeffcustomer_id,file,sha256,pages,status,error")  # BOM for Excel
    for row in rows.values():
        pdf = out / row["file"]
        assert row["status"] == "ok" and row["error"] == ""
        assert hashlib.sha256(pdf.read_bytes()).hexdigest() == row["sha256"]
        assert stat.S_IMODE(pdf.stat().st_mode) == 0o600
    assert rows["C001"]["file"] == "customer_C001.pdf"
    assert 1 <= int(rows["C001"]["pages"]) <= 2
    # filters that match nobody are said even when the portfolio report is made
    args = ("--grade", "A", "--customers", "C001")
    result = _report(runner, run_path, "--out", out, "-w", "0", *args, *DATE)
    said = " ".join(result.output.split())
    assert "matches --customers C001 and --grade A; no customer report rendered" in said


def test_resume_skips_up_to_date_reports(runner: CliRunner, run_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert (
        _report(runner, run_path, "--out", out, "-w", "0", "--no-portfolio", *DATE).exit_code == 0
    )
    first = _manifest(out)
    result = _report(runner, run_path, "--out", out, "-w", "0", "--no-portfolio", *DATE)
    assert result.exit_code == 0
    assert "Rendered 0 reports, skipped 5 up to date" in result.output
    assert {r["status"] for r in _manifest(out).values()} == {"skipped"}

    # A changed recommendation re-renders that customer only.
    run = read_run(run_path)
    run.scores.loc[run.scores["customer_id"] == "C002", "recommended_limit"] = 52000.0
    run.write(run_path)
    result = _report(runner, run_path, "--out", out, "-w", "0", "--no-portfolio", *DATE)
    statuses = {cid: r["status"] for cid, r in _manifest(out).items()}
    assert statuses == dict.fromkeys(("C001", "C003", "C004", "C005"), "skipped") | {"C002": "ok"}
    assert _manifest(out)["C002"]["sha256"] != first["C002"]["sha256"]

    # A damaged file is rendered again; --force renders everything.
    (out / "customer_C004.pdf").write_bytes(b"not a pdf")
    _report(runner, run_path, "--out", out, "-w", "0", "--no-portfolio", *DATE)
    assert _manifest(out)["C004"]["status"] == "ok"
    result = _report(runner, run_path, "--out", out, "-w", "0", "--no-portfolio", "--force", *DATE)
    assert "Rendered 5 reports, skipped 0" in result.output


def test_a_failing_customer_is_recorded_and_the_batch_goes_on(
    runner: CliRunner, tmp_path: Path
) -> None:
    scores, details, run, alerts = handmade_frames()
    path = write_run(
        tmp_path / "run", scores, details[details["customer_id"] != "C004"], run, alerts
    )
    out = tmp_path / "out"
    result = _report(runner, path, "--out", out, "-w", "0", *DATE)
    assert result.exit_code == 1
    assert "1 of 6 reports failed" in result.output
    assert "C004" in result.output
    rows = _manifest(out)
    assert rows["C004"]["status"] == "failed"
    assert "has no row in the details file" in rows["C004"]["error"]
    assert rows["C004"]["sha256"] == ""
    assert not (out / "customer_C004.pdf").exists()
    assert all(rows[c]["status"] == "ok" for c in ("portfolio", "C001", "C002", "C003", "C005"))


def test_a_full_disk_stops_the_batch_and_a_rerun_resumes(
    runner: CliRunner, run_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The disk takes three documents, then no more: every later write would fail too,
    # so the batch stops at the first failure instead of trying each customer in turn.
    written: list[str] = []
    real_write = batch.write_bytes

    def filling_disk(target: str | Path, data: bytes, **kwargs: bool) -> Path:
        if len(written) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
        written.append(Path(target).name)
        return real_write(target, data, **kwargs)

    monkeypatch.setattr(batch, "write_bytes", filling_disk)
    out = tmp_path / "out"
    result = _report(runner, run_path, "--out", out, "-w", "0", *DATE)
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "customer_C003.pdf: No space left on device" in message
    assert message.count("No space left on device") == 1  # one line, with the path
    assert "the batch stopped after 3 of 6 document(s) rendered" in message
    assert "run the same command again: the reports written are kept" in message
    rows = _manifest(out)
    assert {cid: r["status"] for cid, r in rows.items()} == {
        "portfolio": "ok",
        "C001": "ok",
        "C002": "ok",
        "C003": "failed",
    }
    assert sorted(p.name for p in out.glob("*.pdf")) == sorted(written)

    monkeypatch.setattr(batch, "write_bytes", real_write)  # space freed
    result = _report(runner, run_path, "--out", out, "-w", "0", *DATE)
    assert result.exit_code == 0, result.output
    assert "Rendered 3 reports, skipped 3 up to date, 0 failed" in result.output


def _many_customers_run(folder: Path, copies: int) -> Path:
    """The hand-made run with each customer ``copies`` times (ids ``C001-0`` ...)."""
    scores, details, run, alerts = handmade_frames()

    def repeat(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.concat(
            [frame.assign(customer_id=frame["customer_id"] + f"-{k}") for k in range(copies)],
            ignore_index=True,
        )

    run["customers"] = len(scores) * copies
    return write_run(folder, repeat(scores), repeat(details), run, repeat(alerts))


def test_sigterm_stops_the_pool_in_one_line_and_a_rerun_resumes(
    runner: CliRunner, tmp_path: Path
) -> None:
    total = 20
    scores = _many_customers_run(tmp_path / "run", copies=total // 5)
    out = tmp_path / "out"
    src = Path(custrisk.__file__).resolve().parents[1]
    command = [sys.executable, "-m", "custrisk", "report", str(scores), "--out", str(out)]
    command += ["--workers", "2", "--no-portfolio", *DATE]
    with (tmp_path / "stderr").open("w+", encoding="utf-8") as errors:
        proc = subprocess.Popen(
            command,
            env={**os.environ, "PYTHONPATH": str(src)},
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        try:
            deadline = time.monotonic() + 180
            # Three files: one worker has written two, so the parent has the result of
            # its first (sent before the second was started).
            while (
                len(list(out.glob("customer_*.pdf"))) < 3
                and proc.poll() is None
                and time.monotonic() < deadline
            ):
                time.sleep(0.05)
            assert proc.poll() is None, "the batch ended before it could be stopped"
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        time.sleep(1)  # a worker left behind would print its traceback by now
        errors.seek(0)
        stderr = errors.read()
    assert code == 143, stderr
    assert "Traceback" not in stderr and "leaked" not in stderr, stderr
    stopped = [line for line in stderr.splitlines() if line.startswith("Stopped: ")]
    assert len(stopped) == 1, stderr
    assert stopped[0].startswith("Stopped: SIGTERM during custrisk report; "), stderr
    assert "reports done; run the same command again to resume" in stopped[0]
    rows = _manifest(out)
    done = {cid for cid, row in rows.items() if row["status"] == "ok"}
    assert 1 <= len(done) < total  # the reports done are in the manifest

    result = _report(runner, scores, "--out", out, "-w", "0", "--no-portfolio", *DATE)
    assert result.exit_code == 0, result.output
    left = total - len(done)
    said = f"Rendered {left} report{'' if left == 1 else 's'}, skipped {len(done)} up to date"
    assert said in " ".join(result.output.split())
    assert len(list(out.glob("customer_*.pdf"))) == total
    assert not list(out.glob(".*.tmp"))


def test_a_small_batch_renders_in_this_process_by_default(run_path: Path, tmp_path: Path) -> None:
    # starting a worker costs about ten documents: six are rendered without one
    result = batch.render_reports(run_path, tmp_path / "out")
    assert len(result.results) == 6 and result.count("ok") == 6
    assert result.workers == 0
    assert batch._auto_workers(batch.AUTO_PROCESSES_FROM - 1) == 0
    assert batch._auto_workers(batch.AUTO_PROCESSES_FROM) == (os.cpu_count() or 1)


def test_process_pool_renders_in_workers(runner: CliRunner, run_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _report(runner, run_path, "--out", out, "--workers", "2", "--lang", "en", *DATE)
    assert result.exit_code == 0, result.output
    rows = _manifest(out)
    assert len(rows) == 6 and {r["status"] for r in rows.values()} == {"ok"}
    assert all(r["error"] == "" for r in rows.values())  # no missing-glyph warning in workers


def _run_script(path: Path, body: str) -> subprocess.CompletedProcess[str]:
    """``python SCRIPT`` as a user runs one; the timeout only fails a hang, it times
    nothing."""
    path.write_text(body, encoding="utf-8")
    src = Path(custrisk.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(src), "CUSTRISK_AUDIT": "off"}
    return subprocess.run(
        [sys.executable, str(path)], env=env, capture_output=True, text=True, timeout=300
    )


RENDER_CALL = (
    "import datetime\n"
    "import custrisk\n"
    "\n"
    "def main():\n"
    "    batch = custrisk.render_reports(\n"
    "        {scores!r}, {out!r}, workers=2, portfolio=False, customers={customers!r},\n"
    "        report_date=datetime.date(2026, 11, 5),\n"
    "    )\n"
    "    print('rendered', len(batch.results), len(batch.failed))\n"
    "\n"
)


def test_a_script_without_the_main_guard_gets_an_error_not_a_hang(
    run_path: Path, tmp_path: Path
) -> None:
    # Spawned workers run the script again: unguarded, its call ran in every worker,
    # each worker died, and the pool started new ones forever.
    out = tmp_path / "out"
    call = RENDER_CALL.format(scores=str(run_path), out=str(out), customers=["C001", "C002"])
    script = tmp_path / "monthly_reports.py"
    done = _run_script(script, call + "main()\n")
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("custrisk.errors.UsageError: render_reports: a report worker"), last
    assert str(script) in last and 'if __name__ == "__main__":' in last, last
    # A worker stops at the script's call, before doing the work again
    assert "render_reports was called in a worker process that is starting" in done.stderr
    assert "rendered" not in done.stdout

    guarded = _run_script(script, call + 'if __name__ == "__main__":\n    main()\n')
    assert guarded.returncode == 0, guarded.stderr
    assert guarded.stdout.split() == ["rendered", "2", "0"]
    assert len(list(out.glob("customer_*.pdf"))) == 2


def test_selection_options(runner: CliRunner, run_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "graded"
    result = _report(runner, run_path, "--out", out, "-w", "0", "--no-portfolio", "--grade", "D,E")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.pdf")) == ["customer_C001.pdf", "customer_C003.pdf"]

    ids = tmp_path / "ids.txt"
    # saved from Excel on a Chinese Windows: GBK, with the column's header; the ids as
    # a CRM may write them (lower case, full width), read as cleaning stored them
    ids.write_text("# 需复核的客户\n客户编号\nc002\n\nＣ005\n", encoding="gbk")
    out = tmp_path / "listed"
    result = _report(runner, run_path, "--out", out, "-w", "0", "--customers", f"@{ids}")
    assert result.exit_code == 0, result.output
    assert list(_manifest(out)) == ["portfolio", "C002", "C005"]

    out = tmp_path / "red"
    result = _report(  # grades and levels as the reports print them
        runner,
        run_path,
        "-o",
        out,
        "-w",
        "0",
        "--no-portfolio",
        "--alert-level",
        "红色",
        "--grade",
        "d,e",
    )
    assert list(_manifest(out)) == ["C001", "C003"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lang", "fr"], "--lang must be one of zh, en; got 'fr'"),
        (["--customers", "C001,C999"], "--customers: unknown customer id(s) C999"),
        (["--customer=C999"], "--customer: unknown customer id(s) C999"),  # as typed
        (["--grade", "D,Z"], "--grade: unknown grade(s) Z; the grades of this run are A,"),
        (["--alert-level", "purple"], "unknown level(s) purple; the levels are red, orange,"),
        (["--report-date", "05/11/2026"], "--report-date '05/11/2026' is not a date"),
        (["--templates", "/nonexistent/templates"], "the report template folder does not exist"),
        (["--config", "/nonexistent/reports.yaml"], "config file not found"),
    ],
)
def test_usage_errors_exit_2(
    runner: CliRunner, run_path: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = _report(runner, run_path, "--out", tmp_path / "out", "-w", "0", *args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_an_undecodable_id_list_exits_2(runner: CliRunner, run_path: Path, tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_bytes(b"C001\n\xff\xfe\x81\n")
    result = _report(runner, run_path, "--out", tmp_path / "out", "--customers", f"@{ids}")
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"--customers @{ids}:" in said and "save the list as UTF-8 or GBK text" in said


def test_missing_inputs_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    result = _report(runner, tmp_path / "nope.csv", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "scores file not found" in result.output


def test_missing_chinese_font_exits_2_naming_the_package(
    runner: CliRunner, run_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render, "find_cjk_fonts", lambda: ())
    result = _report(runner, run_path, "--out", tmp_path / "out", "-w", "0")
    assert result.exit_code == 2
    assert "fonts-noto-cjk" in result.output
    assert not (tmp_path / "out").exists()


def test_portfolio_only_renders_no_customer_report(
    runner: CliRunner, run_path: Path, tmp_path: Path
) -> None:
    """A run of 200,000 customers had no way to get its portfolio report alone but naming
    one customer: every customer's report takes hours."""
    out = tmp_path / "out"
    result = _report(runner, run_path, "--out", out, "--portfolio-only", "--workers", "0", *DATE)
    assert result.exit_code == 0, result.output
    shown = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert shown == ["manifest.csv", "portfolio.pdf"]
    for clash in (["--no-portfolio"], ["--grade", "D"]):
        result = _report(runner, run_path, "--out", out, "--portfolio-only", *clash)
        assert result.exit_code == 2, result.output
        assert "--portfolio-only" in result.output and clash[0] in result.output
