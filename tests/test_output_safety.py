"""What custrisk writes is safe to hand to people, end to end.

A month's run (validate, indicators, train, score, alerts, report) on exports whose ids,
names and categories hold spreadsheet formulas and whose rejected rows hold personal
data: no CSV cell a spreadsheet would run as a formula, no raw personal data in any
file but the one the user names, private folders, UTF-8 with a BOM for Excel.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from custrisk.cli import app

BOM = b"\xef\xbb\xbf"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Signed numbers stay as they are (OWASP); -inf is a number column's lower bin edge.
PLAIN_NUMBER = re.compile(r"[+-]?([0-9][0-9.,]*|inf)")
DATE = ["--report-date", "2026-11-05"]


@dataclass
class Run:
    data: Path
    root: Path  # every output of the run, and nothing else
    raw: Path  # the files named with --rejects-unmasked
    names: tuple[str, ...]  # of the rejected credit rows
    results: dict[str, Result] = field(default_factory=dict)
    report_args: list[str] = field(default_factory=list)
    reports: int = 0

    @property
    def scores(self) -> Path:
        return self.root / "run" / "2026-10" / "scores.csv"


def _invoke(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def hostile_run(
    hostile_exports: Path, rejected_names: tuple[str, ...], tmp_path_factory: pytest.TempPathFactory
) -> Run:
    base = tmp_path_factory.mktemp("hostile_run")
    run = Run(data=hostile_exports, root=base / "out", raw=base / "raw", names=rejected_names)
    run.raw.mkdir()
    data, root, raw = run.data, run.root, run.raw
    old_umask = os.umask(0o022)
    try:
        run.results["validate"] = _invoke(
            "validate", data, "--out", root / "validation" / "2026-10",
            "--rejects-unmasked", raw / "validate.csv",
        )  # fmt: skip
        run.results["indicators"] = _invoke(
            "indicators", data, "--out", root / "indicators" / "2026-10.csv"
        )
        run.results["train"] = _invoke(
            "train", data, "--labels", data / "labels.csv", "--models-dir", root / "models",
            "--rejects-unmasked", raw / "train.csv",
        )  # fmt: skip
        run.results["score"] = _invoke(
            "score", data, "-m", "logistic", "--models-dir", root / "models", "-o", run.scores,
            "--rejects-unmasked", raw / "score.csv",
        )  # fmt: skip
        run.results["alerts"] = _invoke("alerts", run.scores, "--format", "csv")
        run.results["alerts_out"] = _invoke(
            "alerts", run.scores, "--format", "csv", "-o", root / "picked" / "alerts.csv"
        )
        # Reports of the customer whose id is a formula (the details hold ids as they are).
        details = pd.read_parquet(run.scores.with_name("scores.details.parquet"))
        ids = [c for c in details["customer_id"] if "HYPERLINK" in c]
        ids.append(details["customer_id"].iloc[-1])
        id_file = raw / "ids.txt"
        id_file.write_text("\n".join(ids) + "\n", encoding="utf-8")
        run.reports = len(ids)
        run.report_args = [
            "report", str(run.scores), "--out", str(root / "reports" / "2026-10"),
            "-w", "0", "--no-portfolio", "--customers", f"@{id_file}", *DATE,
        ]  # fmt: skip
        run.results["report"] = _invoke(*run.report_args)
    finally:
        os.umask(old_umask)
    expected = {"validate": 1, "indicators": 0, "train": 0, "score": 0, "report": 0}
    for name, result in run.results.items():
        assert result.exit_code == expected.get(name, 0), (name, result.output)
    return run


def _runs_as_formula(cell: str) -> bool:
    """What a spreadsheet (also one that normalises full-width characters) runs."""
    text = unicodedata.normalize("NFKC", cell)
    return text.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(text)


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _written_csvs(run: Run) -> dict[str, str]:
    texts = {
        str(path.relative_to(run.root)): path.read_text(encoding="utf-8-sig")
        for path in sorted(run.root.rglob("*.csv"))
    }
    texts["alerts on stdout"] = run.results["alerts"].stdout
    return texts


def test_no_written_csv_cell_starts_with_a_formula_character(hostile_run: Run) -> None:
    texts = _written_csvs(hostile_run)
    for name in (
        "validation/2026-10/rejects.csv",
        "indicators/2026-10.csv",
        "indicators/2026-10.rejects.csv",
        "run/2026-10/scores.csv",
        "run/2026-10/scores.rejects.csv",
        "run/2026-10/alerts.csv",
        "picked/alerts.csv",
        "reports/2026-10/manifest.csv",
        "models/logistic/1/training_rejects.csv",
        "models/logistic/1/bins.csv",
    ):
        assert name in texts
    escaped = 0
    for name, text in texts.items():
        for cell in _cells(text):
            assert not _runs_as_formula(cell), f"{name}: {cell!r}"
            escaped += cell.startswith("'") and _runs_as_formula(cell[1:])
    assert escaped >= 4  # the formulas are there (rejects show them), each behind a quote


def test_escaped_ids_read_back_as_written(hostile_run: Run, tmp_path: Path) -> None:
    # The report found the customer whose id is a formula in the scores and in its
    # details, and a second run finds its reports up to date in the manifest.
    reports = hostile_run.reports
    said = f"Rendered {reports} report{'' if reports == 1 else 's'}, skipped"
    assert said in hostile_run.results["report"].stdout
    again = _invoke(*hostile_run.report_args)
    assert again.exit_code == 0, again.output
    assert f"Rendered 0 reports, skipped {reports} up to date" in again.stdout
    # Next month against this one: every customer id joins (none new, none departed).
    out = tmp_path / "scores.csv"
    result = _invoke(
        "score", hostile_run.data, "-m", "logistic",
        "--models-dir", hostile_run.root / "models", "-o", out,
        "--previous", hostile_run.scores, "--csv-encoding", "utf-8",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    migration = json.loads(out.with_name("scores.run.json").read_text("utf-8"))["migration"]
    assert (migration["new"], migration["departed"]) == (0, 0)
    assert not out.read_bytes().startswith(BOM)  # --csv-encoding utf-8: no BOM


def _personal_data(run: Run) -> list[str]:
    """The names of the rejected rows, then every phone and id number of the input."""
    with (run.data / "credit.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    phone, id_number = rows[0].index("phone"), rows[0].index("id_number")
    numbers = [v for row in rows[1:] for v in (row[phone], row[id_number]) if len(v) >= 7]
    return [*run.names, *numbers]


def _file_text(path: Path) -> str:
    if path.suffix == ".parquet":
        return pd.read_parquet(path).to_csv(index=False)
    return path.read_bytes().decode("utf-8", errors="replace")


def test_no_file_written_holds_raw_personal_data(hostile_run: Run) -> None:
    secrets = _personal_data(hostile_run)
    files = [p for p in hostile_run.root.rglob("*") if p.is_file() and p.suffix != ".pdf"]
    assert any(p.name == "training_rejects.csv" for p in files)
    for path in files:
        text = _file_text(path)
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{path.relative_to(hostile_run.root)} holds {leaked[:3]}"
    rejects = (hostile_run.root / "validation" / "2026-10" / "rejects.csv").read_text("utf-8-sig")
    assert "测**" in rejects  # names masked, not dropped


def test_rejects_unmasked_go_only_to_the_file_the_user_names(hostile_run: Run) -> None:
    numbers = _personal_data(hostile_run)[len(hostile_run.names) :]
    for name in ("validate.csv", "train.csv", "score.csv"):
        path = hostile_run.raw / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.read_text(encoding="utf-8-sig")
        # the extra field, the duplicate and the spaces show the name; the bad phone and
        # id number are the values of their rows
        assert all(n in text for n in hostile_run.names[2:]), name
        assert sum(s in text for s in numbers) >= 2, name
    assert "holds personal data in clear" in hostile_run.results["validate"].stderr


def test_folders_created_for_outputs_are_private(hostile_run: Run) -> None:
    root = hostile_run.root
    for folder in (
        "validation",
        "validation/2026-10",
        "indicators",
        "run",
        "run/2026-10",
        "picked",
        "reports",
        "reports/2026-10",
    ):
        assert stat.S_IMODE((root / folder).stat().st_mode) == 0o700, folder
    for path in root.rglob("*.csv"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_csv_outputs_for_people_start_with_a_bom(hostile_run: Run) -> None:
    for name in (
        "validation/2026-10/rejects.csv",
        "indicators/2026-10.csv",
        "run/2026-10/scores.csv",
        "run/2026-10/scores.rejects.csv",
        "run/2026-10/alerts.csv",
        "picked/alerts.csv",
        "reports/2026-10/manifest.csv",
    ):
        assert (hostile_run.root / name).read_bytes().startswith(BOM), name
    # stdout feeds other programs: plain UTF-8 unless asked
    assert not hostile_run.results["alerts"].stdout.startswith("\ufeff")


def test_csv_encoding_utf8_leaves_the_bom_out(hostile_exports: Path, tmp_path: Path) -> None:
    out = tmp_path / "validation"
    result = _invoke("validate", hostile_exports, "--out", out, "--csv-encoding", "utf-8")
    assert result.exit_code == 1, result.output
    text = (out / "rejects.csv").read_bytes()
    assert text.startswith(b"source,file,line,")


def test_readers_accept_a_manifest_saved_with_a_bom(hostile_run: Run, tmp_path: Path) -> None:
    # A manifest saved again by Excel (BOM) still tells which reports are up to date.
    manifest = hostile_run.root / "reports" / "2026-10" / "manifest.csv"
    data = manifest.read_bytes()
    if not data.startswith(BOM):
        manifest.write_bytes(BOM + data)
    result = _invoke(*hostile_run.report_args)
    assert result.exit_code == 0, result.output
    assert f"skipped {hostile_run.reports} up to date" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--csv-encoding", "gbk"], "--csv-encoding must be one of utf-8-sig, utf-8; got 'gbk'"),
        (
            ["--rejects-unmasked", "{out}/rejects.csv"],
            "is also an output of this command; name a separate file",
        ),
    ],
)
def test_output_options_are_checked_before_any_work(
    hostile_exports: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "validation"
    result = _invoke("validate", hostile_exports, "--out", out, *(a.format(out=out) for a in args))
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert not out.exists()


#: Personal data where no column flagged pii holds it: (file, line index, column, text).
STRAY = (
    ("credit.csv", 20, "region", "请致电13912345678"),
    ("credit.csv", 21, "industry", "zhang.wei@example.com"),
    ("credit.csv", 22, "region", "１３９８７６５４３２１"),
    ("credit.csv", 23, "bureau_score", "李秀英 13711112222"),
    ("credit.csv", 24, "credit_limit", "110105194912310021元"),
    ("transactions.csv", 5, "channel", "微信 13566667777"),
)


def test_a_protected_run_holds_no_personal_data_in_any_plaintext(
    hostile_run: Run, tmp_path: Path
) -> None:
    """validate and score --encrypt, audited, on the hostile exports with personal data
    typed where no pii column is (a phone as a region, an e-mail as an industry, an ID
    number in an amount that does not parse): every file written, read through its
    envelope, the audit log and the output hold none of it in clear."""
    from custrisk.protect import add_key, new_key
    from custrisk.protect.output import plain_bytes, protected_outputs

    data = tmp_path / "exports"
    data.mkdir()
    for source in hostile_run.data.glob("*.csv"):
        data.joinpath(source.name).write_bytes(source.read_bytes())
    for name, at, column, text in STRAY:
        with (data / name).open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        rows[at][rows[0].index(column)] = text
        with (data / name).open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerows(rows)
    keyfile, out = tmp_path / "keys" / "keys.json", tmp_path / "out"
    add_key(keyfile, new_key("encryption"))
    env = {
        "CUSTRISK_KEYFILE": str(keyfile),
        "CUSTRISK_KEY": "",
        "CUSTRISK_ROLE": "",
        "CUSTRISK_AUDIT": "on",
        "CUSTRISK_AUDIT_LOG": str(tmp_path / "audit" / "audit.log"),
    }
    said = []
    for args in (
        ["validate", data, "--out", out / "validation", "--encrypt"],
        ["score", data, "-m", "logistic", "--models-dir", hostile_run.root / "models",
         "-o", out / "run" / "scores.csv", "--encrypt"],
    ):  # fmt: skip
        result = CliRunner().invoke(app, ["-v", *map(str, args)], env=env)
        assert result.exit_code in (0, 1), result.output
        said.append(result.output)
    texts = {"output": "\n".join(said), "audit.log": Path(env["CUSTRISK_AUDIT_LOG"]).read_text()}
    with protected_outputs(keyfile=keyfile):
        for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name[0] != "."):
            plain = plain_bytes(path) if path.suffix == ".enc" else path.read_bytes()
            if ".parquet" in path.name:
                plain = pd.read_parquet(io.BytesIO(plain)).to_csv(index=False).encode()
            texts[str(path.relative_to(out))] = plain.decode("utf-8", errors="replace")
    assert "run/scores.details.parquet.enc" in texts and "validation/rejects.csv.enc" in texts
    secrets = [*_personal_data(hostile_run), "13912345678", "zhang.wei@example.com"]
    secrets += ["１３９８７６５４３２１", "13711112222", "110105194912310021", "13566667777"]
    for name, text in texts.items():
        plain = "".join(unicodedata.normalize("NFKC", text).split())
        leaked = [s for s in secrets if s in text or unicodedata.normalize("NFKC", s) in plain]
        assert not leaked, f"{name} holds {leaked[:3]}"
    assert "请致电139****5678" in texts["run/scores.details.parquet.enc"]  # masked, kept
