"""custrisk forget: one customer removed or pseudonymised in every run folder, audited."""

from __future__ import annotations

import base64
import errno
import io
import json
import os
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.protect import add_key, is_encrypted, key_id_of, load_keyring
from custrisk.protect.keys import AUDIT, ENCRYPTION, PSEUDONYM, new_key
from custrisk.protect.output import plain_bytes, protected_outputs
from custrisk.results import read_run


@pytest.fixture(scope="module")
def scored(
    tmp_path_factory: pytest.TempPathFactory, export_200: Path, models_200: Path
) -> tuple[Path, str, str]:
    """A runs folder: a scoring run, a report folder for one customer with alerts (and
    the portfolio), an indicators table. Returns the folder, that customer and another."""
    runs = tmp_path_factory.mktemp("runs")
    month = runs / "2026-10"
    runner = CliRunner()
    args = ["score", str(export_200), "--model", "logistic", "--models-dir", str(models_200)]
    result = runner.invoke(app, [*args, "--out", str(month / "scores.csv")])
    assert result.exit_code in (0, 1), result.output
    alerts = pd.read_csv(month / "alerts.csv", dtype=str)
    customer = alerts["customer_id"].value_counts().index[0]  # one with several alerts
    other = next(
        c for c in pd.read_csv(month / "scores.csv", dtype=str)["customer_id"] if c != customer
    )
    result = runner.invoke(
        app,
        [
            "report",
            str(month / "scores.csv"),
            "--out",
            str(month / "reports"),
            "--customers",
            customer,
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["indicators", str(export_200), "--out", str(month / "indicators.csv")]
    )
    assert result.exit_code == 0, result.output
    return runs, customer, other


@pytest.fixture
def runs(scored: tuple[Path, str, str], tmp_path: Path) -> Path:
    copy = tmp_path / "runs"
    shutil.copytree(scored[0], copy)
    return copy


def _word(customer: str) -> re.Pattern[bytes]:
    return re.compile(rb"(?<![0-9A-Za-z])" + customer.encode() + rb"(?![0-9A-Za-z])")


def _lines_without(path: Path, customer: str) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if not _word(customer).search(line)]


@pytest.fixture
def keys_env(tmp_path: Path) -> dict[str, str]:
    env = {"CUSTRISK_KEYFILE": str(tmp_path / "no-keys.json"), "CUSTRISK_KEY": ""}
    for purpose, name in ((PSEUDONYM, "CUSTRISK_PSEUDONYM_KEY"), (AUDIT, "CUSTRISK_AUDIT_KEY")):
        key = new_key(purpose)
        env[name] = f"{key.id}:{base64.b64encode(key.secret).decode()}"
    return env


def test_forget_removes_the_customer_everywhere_and_keeps_the_rest(
    runner: CliRunner, runs: Path, scored: tuple[Path, str, str], keys_env: dict[str, str]
) -> None:
    _, customer, other = scored
    month = runs / "2026-10"
    tables = ("scores.csv", "alerts.csv", "followups.csv")
    before = {name: (month / name).read_bytes() for name in tables}
    env = {**keys_env, "CUSTRISK_AUDIT": "on", "CUSTRISK_AUDIT_LOG": str(runs.parent / "a.log")}
    result = runner.invoke(app, ["forget", customer, "--runs", str(runs)], env=env)
    assert result.exit_code == 0, result.output
    assert "Stale:" in result.output and "portfolio.pdf" in result.output
    # the command to render it again, whole (it used to be `custrisk report --portfolio`)
    again = f"render it again: custrisk report {month / 'scores.csv'} --out {month / 'reports'}"
    assert again in result.output
    assert customer not in result.output
    # no file under the runs names the customer any more
    for path in runs.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".json"):
            assert not _word(customer).search(path.read_bytes()), path
    assert not (month / "reports" / f"customer_{customer}.pdf").exists()
    # every other row is as it was, byte for byte
    for name, data in before.items():
        kept = [line for line in data.splitlines() if not _word(customer).search(line)]
        assert (month / name).read_bytes().splitlines() == kept
    # the run is still one unit that reads back, with a new run id
    run = read_run(month / "scores.csv")  # every part, the follow-up plan included
    assert customer not in set(run.scores["customer_id"]) | set(run.details["customer_id"])
    assert run.followups is not None and customer not in set(run.followups["customer_id"])
    assert other in set(run.scores["customer_id"])
    assert run.facts["forgotten"] == 1
    indicators = pd.read_csv(month / "indicators.csv", dtype=str)
    assert customer not in set(indicators["customer_id"])
    # audited, with the customer as a token only
    log = (runs.parent / "a.log").read_text(encoding="utf-8")
    assert customer not in log
    (line,) = [json.loads(x) for x in log.splitlines()]
    assert line["command"] == "forget" and len(line["customers"]) == 1
    assert line["argv"][1].startswith("customer:")


def test_a_monthly_runs_file_list_is_written_again_without_the_customers_report(
    runner: CliRunner, runs: Path, scored: tuple[Path, str, str]
) -> None:
    """custrisk run lists every file of the month with its hash in run.json (and per
    stage): the forgotten customer's report name (which holds the id) leaves the lists,
    the rewritten files are hashed again, and nothing is left for a person to check."""
    from custrisk.batch.layout import file_hashes, sha256_file

    _, customer, _ = scored
    month = runs / "2026-10"
    listed = file_hashes(month)
    report = f"reports/customer_{customer}.pdf"
    assert report in listed
    reports = {k: v for k, v in listed.items() if k.startswith("reports/")}
    pdfs = sum(1 for name in reports if name.endswith(".pdf"))
    rows = {"documents": pdfs, "rendered": pdfs, "failed": 0}
    stages = {"reports": {"outputs": reports, "rows": rows}}
    facts = {"period": "2026-10", "outputs": listed, "stages": stages}
    (month / "run.json").write_text(json.dumps(facts, indent=2), encoding="utf-8")
    result = runner.invoke(app, ["forget", customer, "--runs", str(runs)])
    assert result.exit_code == 0, result.output
    assert f"Listed the files of the monthly run {month / 'run.json'} again" in result.output
    after = json.loads((month / "run.json").read_text(encoding="utf-8"))
    assert report not in after["outputs"] and report not in after["stages"]["reports"]["outputs"]
    # the summary line of a run with nothing to do said the reports rendered, one gone since
    assert after["stages"]["reports"]["rows"] == {
        **rows,
        "documents": pdfs - 1,
        "rendered": pdfs - 1,
    }
    assert after["outputs"] == {
        k: sha256_file(month / k) for k in listed if k != report
    }  # scores and the rest rewritten: hashed again
    assert after["outputs"]["scores.csv"] != listed["scores.csv"]
    assert not _word(customer).search((month / "run.json").read_bytes())
    assert after["run_id"] == read_run(month / "scores.csv").run_id  # the rewritten run's


def test_forget_counts_the_customers_and_alerts_left_in_a_monthly_runs_run_json(
    runner: CliRunner, runs: Path, scored: tuple[Path, str, str]
) -> None:
    """run.json's score stage counts (which the summary line of a ``custrisk run`` with
    nothing to do repeats) said the customers and alerts scored after a forget: now
    those left, again right after a second forget."""
    from custrisk.batch.layout import file_hashes

    _, customer, other = scored
    month = runs / "2026-10"
    alerts = pd.read_csv(month / "alerts.csv", dtype=str)
    scores = pd.read_csv(month / "scores.csv", dtype=str)
    levels = alerts["level"].value_counts()
    rows = {"customers": len(scores), "alerts": len(alerts)}
    rows |= {f"alerts_{k}": int(n) for k, n in levels.items()}
    stages = {"score": {"outputs": {}, "rows": {**rows, "run_id": "x"}}}
    facts = {"period": "2026-10", "outputs": file_hashes(month), "stages": stages}
    (month / "run.json").write_text(json.dumps(facts, indent=2), encoding="utf-8")
    for who in (customer, other):
        result = runner.invoke(app, ["forget", who, "--runs", str(runs)])
        assert result.exit_code == 0, result.output
    after = json.loads((month / "run.json").read_text(encoding="utf-8"))["stages"]["score"]
    gone = alerts[alerts["customer_id"].isin([customer, other])]["level"].value_counts()
    assert after["rows"]["customers"] == len(scores) - 2
    assert after["rows"]["alerts"] == len(alerts) - int(gone.sum()) > 0
    for level, n in levels.items():
        assert after["rows"][f"alerts_{level}"] == n - int(gone.get(level, 0))
    assert after["rows"]["run_id"] == "x"
    # the run's facts keep the figures as scored (aggregates, docs/security.md) and say
    # what was taken out since: run.json's counts are those less these
    facts = read_run(month / "scores.csv").facts
    assert facts["customers"] == len(scores) and facts["forgotten"] == 2
    assert facts["removed"]["customers"] == 2
    assert facts["customers"] - facts["removed"]["customers"] == after["rows"]["customers"]


def test_reports_rendered_again_into_a_monthly_run_are_listed_in_its_run_json(
    runner: CliRunner, runs: Path, scored: tuple[Path, str, str]
) -> None:
    """``custrisk report`` into a month's reports/ (as forget's "Stale:" line asks) lists
    the files there in run.json with their hashes: it left the old ones, so that run.json
    no longer matched its files."""
    from custrisk.batch.layout import file_hashes, sha256_file

    _, customer, _ = scored
    month = runs / "2026-10"
    listed = file_hashes(month)
    stale = {k: "0" * 64 for k in listed if k.startswith("reports/")}  # as rendered before
    reports = {k: v for k, v in stale.items() if k != f"reports/customer_{customer}.pdf"}
    facts = {"period": "2026-10", "outputs": {**listed, **reports}}
    facts["stages"] = {"reports": {"outputs": reports}}
    (month / "run.json").write_text(json.dumps(facts, indent=2), encoding="utf-8")
    args = ["report", str(month / "scores.csv"), "--out", str(month / "reports")]
    # (any run of it: here one whose filters match no customer, so that nothing renders)
    scores = pd.read_csv(month / "scores.csv", dtype=str).set_index("customer_id")
    other_grade = next(g for g in "ABCDE" if g != scores.loc[customer, "grade"])
    only = ["--customers", customer, "--grade", other_grade, "--no-portfolio"]
    result = runner.invoke(app, [*args, *only])
    assert result.exit_code == 0 and "Warning: no customer of" in result.output, result.output
    assert f"Listed the new reports in the monthly run's {month.absolute() / 'run.json'}" in (
        " ".join(result.output.split())
    )
    again = json.loads((month / "run.json").read_text(encoding="utf-8"))
    for listing in (again["outputs"], again["stages"]["reports"]["outputs"]):
        assert {k: v for k, v in listing.items() if k.startswith("reports/")} == {
            k: sha256_file(month / k) for k in stale
        }  # the one missing from the list added, each hashed again; not the lock
    assert again["outputs"]["scores.csv"] == listed["scores.csv"]


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (locks aside) and its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".custrisk.lock"
    }


@pytest.mark.parametrize("failure", ["a damaged run", "a folder it cannot write"])
def test_a_failure_midway_changes_no_file(
    runner: CliRunner,
    runs: Path,
    scored: tuple[Path, str, str],
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    """All or nothing: the first month's run, report and table are staged when the
    second month fails (its alerts changed since it was scored, or a folder holding a
    table of the customer that cannot be written): every file stays as it was, the
    customer in none forgotten and in none kept, and nothing staged is left behind."""
    _, customer, _ = scored
    november = runs / "2026-11"
    november.mkdir()
    for name in ("scores.csv", "scores.details.parquet", "alerts.csv", "scores.run.json"):
        shutil.copy2(runs / "2026-10" / name, november / name)
    if (runs / "2026-10" / "followups.csv").exists():
        shutil.copy2(runs / "2026-10" / "followups.csv", november / "followups.csv")
    if failure == "a damaged run":
        with (november / "alerts.csv").open("ab") as handle:
            handle.write(b"\n")
        said = "alerts.csv does not belong to the run"
    else:
        locked = november / "tables"
        locked.mkdir()
        shutil.copy2(runs / "2026-10" / "indicators.csv", locked / "indicators.csv")
        locked.chmod(0o500)
        if os.geteuid() == 0:  # root writes anywhere: the folder refuses as it would
            real = tempfile.mkstemp

            def refused(*args: object, **kwargs: object) -> tuple[int, str]:
                if Path(str(kwargs.get("dir"))) == locked:
                    raise PermissionError(errno.EACCES, "Permission denied", str(locked))
                return real(*args, **kwargs)  # type: ignore[call-overload,no-any-return]

            monkeypatch.setattr("custrisk.scoring.forget.tempfile.mkstemp", refused)
        said = f"{locked}: Permission denied"
    before = _snapshot(runs)
    try:
        result = runner.invoke(app, ["forget", customer, "--runs", str(runs)])
    finally:
        if failure != "a damaged run":
            (november / "tables").chmod(0o700)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert said in message
    assert "nothing was changed (every file is as it was)" in message
    assert "run custrisk forget again" in message
    assert _snapshot(runs) == before  # the report PDF and every table as they were
    assert not [p for p in runs.rglob(".custrisk-*") if p.name != ".custrisk.lock"]


def test_pseudonymise_keeps_the_rows_under_a_stable_token(
    runner: CliRunner, runs: Path, scored: tuple[Path, str, str], keys_env: dict[str, str]
) -> None:
    _, customer, _ = scored
    month = runs / "2026-10"
    rows = len(read_run(month / "scores.csv", parts=("scores",)).scores)
    args = ["forget", customer, "--runs", str(runs), "--mode", "pseudonymise"]
    result = runner.invoke(app, args, env=keys_env)
    assert result.exit_code == 0, result.output
    run = read_run(month / "scores.csv")
    assert len(run.scores) == rows
    (token,) = [c for c in run.scores["customer_id"] if c.startswith("anon-")]
    detail = run.details.set_index("customer_id").loc[token]
    assert all(pd.isna(detail[c]) for c in ("name_masked", "phone_masked", "id_number_masked"))
    assert set(run.alerts.loc[run.alerts["customer_id"] == token, "code"])
    assert customer not in set(run.scores["customer_id"])
    # the same key gives the same token in another copy (so months still join)
    again = runs.parent / "again"
    shutil.copytree(scored[0], again)
    result = runner.invoke(app, [*args[:2], "--runs", str(again), *args[4:]], env=keys_env)
    scores = read_run(again / "2026-10" / "scores.csv", parts=("scores",)).scores
    assert token in set(scores["customer_id"])


def test_pseudonymise_without_a_pseudonym_key_is_refused(
    runner: CliRunner, runs: Path, scored: tuple[Path, str, str], tmp_path: Path
) -> None:
    env = {"CUSTRISK_KEYFILE": str(tmp_path / "none.json"), "CUSTRISK_PSEUDONYM_KEY": ""}
    args = ["forget", scored[1], "--runs", str(runs), "--mode", "pseudonymise"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2
    assert "key file not found" in result.output
    assert _word(scored[1]).search((runs / "2026-10" / "scores.csv").read_bytes())


def test_an_unknown_customer_changes_nothing(runner: CliRunner, runs: Path) -> None:
    facts = (runs / "2026-10" / "scores.run.json").read_bytes()
    result = runner.invoke(app, ["forget", "NOBODY-42", "--runs", str(runs)])
    assert result.exit_code == 0, result.output
    assert "in no run, report or table" in result.output
    assert (runs / "2026-10" / "scores.run.json").read_bytes() == facts


def test_a_file_forget_cannot_clean_is_named_and_exits_1(
    runner: CliRunner, runs: Path, scored: tuple[Path, str, str]
) -> None:
    customer = scored[1]
    (runs / "2026-10" / "notes.txt").write_text(f"call {customer} back\n", encoding="utf-8")
    result = runner.invoke(app, ["forget", customer, "--runs", str(runs)])
    assert result.exit_code == 1
    assert "notes.txt: holds the id" in result.output
    assert "1 file(s) under" in result.output


def test_a_file_neither_pass_could_search_is_named_once(
    runner: CliRunner, runs: Path, scored: tuple[Path, str, str], keys_env: dict[str, str]
) -> None:
    """With a pseudonym key, forget looks for the id and for its token: a file it cannot
    search (compressed) is left by both, and is one file to check, not two."""
    (runs / "2026-10" / "archive.zip").write_bytes(b"PK\x03\x04 not searched")
    result = runner.invoke(app, ["forget", scored[1], "--runs", str(runs)], env=keys_env)
    assert result.exit_code == 1
    assert result.output.count("archive.zip: compressed or binary: not searched") == 1
    assert "1 file(s) under" in result.output


_REJECTS_HEADER = "\ufeffsource,file,line,column,rule,value,action\n"


@pytest.mark.parametrize(
    ("rows", "left"),
    [
        (  # a masked row that names the customer, beside another's
            'credit,credit.csv,3,phone,pattern,"C9,张*,138****5678",dropped\n'
            "credit,credit.csv,4,customer_id,duplicate_key,C10,dropped\n",
            "credit,credit.csv,4,customer_id,duplicate_key,C10,dropped\n",
        ),
        (  # a whitespace repair quotes the raw id ('\t0000000062, formula-escaped): forget
            # left that row in a monthly run's validation/rejects.csv and exited 1 naming it
            "credit,credit.csv,63,customer_id,whitespace,'\tC9,repaired\n"
            "credit,credit.csv,64,customer_id,whitespace, C9 ,repaired\n"
            "credit,credit.csv,65,customer_id,whitespace, C10,repaired\n",
            "credit,credit.csv,65,customer_id,whitespace, C10,repaired\n",
        ),
    ],
    ids=["named", "stray-whitespace"],
)
def test_rejects_rows_naming_the_customer_are_dropped(
    runner: CliRunner, tmp_path: Path, rows: str, left: str
) -> None:
    folder = tmp_path / "runs" / "validation"
    folder.mkdir(parents=True)
    rejects = folder / "rejects.csv"
    rejects.write_text(_REJECTS_HEADER + rows, encoding="utf-8")
    result = runner.invoke(app, ["forget", "C9", "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert rejects.read_text(encoding="utf-8") == _REJECTS_HEADER + left


def test_forget_in_a_run_whose_rejects_have_blank_cells(
    runner: CliRunner, tmp_path: Path, dirty_300: Path, models_200: Path
) -> None:
    """A dirty export's rejects hold blank cells (a file-level fault has no column): they
    name nobody, and the other customers' rejected rows stay."""
    month = tmp_path / "runs" / "2026-10"
    args = ["score", str(dirty_300), "--model", "logistic", "--models-dir", str(models_200)]
    result = runner.invoke(app, [*args, "--out", str(month / "scores.csv")])
    assert result.exit_code in (0, 1), result.output
    before = pd.read_csv(month / "scores.rejects.csv", dtype=str, keep_default_na=False)
    assert (before == "").any().any()  # the case forget used to crash on
    customer = pd.read_csv(month / "scores.csv", dtype=str)["customer_id"].iloc[0]
    result = runner.invoke(app, ["forget", customer, "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    after = pd.read_csv(month / "scores.rejects.csv", dtype=str, keep_default_na=False)
    naming = before.apply(lambda col: col.str.split(",").map(lambda f: customer in f)).any(axis=1)
    pd.testing.assert_frame_equal(after, before.loc[~naming].reset_index(drop=True))
    assert customer not in set(read_run(month).scores["customer_id"])


# -- encrypted runs ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sealed_keyfile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sealed_keys") / "keys.json"
    add_key(path, new_key(ENCRYPTION))
    add_key(path, new_key(PSEUDONYM))
    return path


def _sealed_env(keyfile: Path) -> dict[str, str]:
    return {"CUSTRISK_KEYFILE": str(keyfile), "CUSTRISK_KEY": "", "CUSTRISK_ROLE": ""}


@pytest.fixture(scope="module")
def sealed_scored(
    tmp_path_factory: pytest.TempPathFactory,
    export_200: Path,
    models_200: Path,
    sealed_keyfile: Path,
) -> tuple[Path, str, str]:
    """A runs folder written with --encrypt: a scoring run, one customer's report, an
    indicators table. Returns the folder, that customer and another."""
    runs = tmp_path_factory.mktemp("sealed_runs")
    month = runs / "2026-10"
    env = _sealed_env(sealed_keyfile)
    runner = CliRunner()
    args = ["score", str(export_200), "--model", "logistic", "--models-dir", str(models_200)]
    result = runner.invoke(app, [*args, "--out", str(month / "scores.csv"), "--encrypt"], env=env)
    assert result.exit_code in (0, 1), result.output
    with protected_outputs(keyfile=sealed_keyfile):
        run = read_run(month, parts=("scores", "alerts"))
    customer = run.alerts["customer_id"].value_counts().index[0]
    other = next(c for c in run.scores["customer_id"] if c != customer)
    report = ["report", str(month), "--out", str(month / "reports"), "--customers", customer]
    result = runner.invoke(app, [*report, "--no-portfolio", "--workers", "0", "--encrypt"], env=env)
    assert result.exit_code == 0, result.output
    out = month / "indicators.csv"
    result = runner.invoke(
        app, ["indicators", str(export_200), "--out", str(out), "--encrypt"], env=env
    )
    assert result.exit_code == 0, result.output
    return runs, customer, other


def _plaintexts(folder: Path, keyfile: Path) -> dict[Path, bytes]:
    with protected_outputs(keyfile=keyfile):
        return {p: plain_bytes(p) for p in sorted(folder.rglob("*.enc"))}


@pytest.mark.parametrize("mode", ["remove", "pseudonymise"])
def test_forget_reads_and_rewrites_an_encrypted_run(
    runner: CliRunner,
    sealed_scored: tuple[Path, str, str],
    sealed_keyfile: Path,
    tmp_path: Path,
    mode: str,
) -> None:
    _, customer, other = sealed_scored
    runs = tmp_path / "runs"
    shutil.copytree(sealed_scored[0], runs)
    month = runs / "2026-10"
    before = _plaintexts(runs, sealed_keyfile)
    assert any(_word(customer).search(data) for data in before.values())  # can fail
    assert (month / "reports" / f"customer_{customer}.pdf.enc").is_file()
    with protected_outputs(keyfile=sealed_keyfile):
        rows = len(read_run(month, parts=("scores",)).scores)
    result = runner.invoke(
        app,
        ["forget", customer, "--runs", str(runs), "--mode", mode],
        env=_sealed_env(sealed_keyfile),
    )
    assert result.exit_code == 0, result.output
    assert "not searched" not in result.output
    # still encrypted, every file: no clear copy appeared
    files = [p for p in runs.rglob("*") if p.is_file() and not p.name.startswith(".")]
    # (but the register of erasures: keyed tokens, never an id, read by every run)
    register = runs / "forgotten.csv"
    assert customer not in register.read_text(encoding="utf-8")
    files.remove(register)
    assert files and all(is_encrypted(p) for p in files), [p.name for p in files]
    assert not (month / "reports" / f"customer_{customer}.pdf.enc").exists()
    # gone from every decrypted table, the other customers kept
    after = _plaintexts(runs, sealed_keyfile)
    for path, data in after.items():
        if path.name.endswith((".csv.enc", ".json.enc")):
            assert not _word(customer).search(data), path.name
    indicators = pd.read_csv(io.BytesIO(after[month / "indicators.csv.enc"]), dtype=str)
    assert customer not in set(indicators["customer_id"]) and other in set(
        indicators["customer_id"]
    )
    # the run reads back with the key, as one unit with a new run id
    with protected_outputs(keyfile=sealed_keyfile):
        run = read_run(month)
    for table in (run.scores, run.details, run.alerts, run.followups):
        assert table is not None and customer not in set(table["customer_id"])
    assert other in set(run.scores["customer_id"])
    assert run.facts["forgotten"] == 1
    assert run.facts["files"]["scores"]["file"] == "scores.csv.enc"
    active = load_keyring(sealed_keyfile).active(ENCRYPTION).id
    assert key_id_of(month / "scores.csv.enc") == active
    tokens = [c for c in run.scores["customer_id"] if c.startswith("anon-")]
    assert len(run.scores) == (rows if mode == "pseudonymise" else rows - 1)
    assert len(tokens) == (1 if mode == "pseudonymise" else 0)


def test_forget_on_an_encrypted_run_without_the_key_names_it_and_changes_nothing(
    runner: CliRunner,
    sealed_scored: tuple[Path, str, str],
    tmp_path: Path,
) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(sealed_scored[0], runs)
    before = {p: p.read_bytes() for p in runs.rglob("*") if p.is_file()}
    other_keys = tmp_path / "other.json"
    add_key(other_keys, new_key(ENCRYPTION))
    result = runner.invoke(
        app, ["forget", sealed_scored[1], "--runs", str(runs)], env=_sealed_env(other_keys)
    )
    assert result.exit_code == 2, result.output
    assert key_id_of(runs / "2026-10" / "scores.csv.enc") in result.output
    assert "Traceback" not in result.output
    assert {p: p.read_bytes() for p in runs.rglob("*") if p.is_file()} == before


def test_the_encrypted_reidentification_table_loses_the_customer(
    runner: CliRunner, sealed_keyfile: Path, tmp_path: Path
) -> None:
    from custrisk.protect.output import Encryption
    from custrisk.protect.pseudonym import Pseudonymiser, pseudonym

    folder = tmp_path / "runs" / "2026-10"
    key = new_key(PSEUDONYM)
    table = Pseudonymiser(key, Encryption(load_keyring(sealed_keyfile).active()), folder)
    table.tokens(pd.Series(["C9", "C10"]))
    sealed = table.save()
    assert sealed is not None and is_encrypted(sealed)
    env = _sealed_env(sealed_keyfile)
    result = runner.invoke(app, ["forget", "C9", "--runs", str(tmp_path / "runs")], env=env)
    assert result.exit_code == 0, result.output
    assert "Removed 1 row(s)" in result.output
    assert is_encrypted(sealed) and not (folder / "reidentification.csv").exists()
    with protected_outputs(keyfile=sealed_keyfile):
        rows = pd.read_csv(io.BytesIO(plain_bytes(sealed)), dtype=str)
    assert list(rows["value"]) == ["C10"]
    assert list(rows["token"]) == [pseudonym("C10", key)]


def _decision(decision_id: str, customer: str, sent: str) -> dict[str, object]:
    outputs = {"customer_id": customer, "decision": "review", "model_id": "m@1", "score": 550}
    if sent != customer:
        outputs["record_id"] = sent
    return {
        "decision_id": decision_id,
        "created_at": "2026-12-01T00:00:00.000+00:00",
        "caller": "t1",
        "channel": "api",
        "input_fingerprint": "0" * 64,
        "inputs_masked": {"客户编号": sent, "姓名": "张**", "年龄": 34},
        "outputs": outputs,
    }


@pytest.mark.parametrize("mode", ["remove", "pseudonymise"])
def test_forget_erases_the_customers_decisions_in_the_serve_store(
    runner: CliRunner, runs: Path, tmp_path: Path, keys_env: dict[str, str], mode: str
) -> None:
    from custrisk.serve.store import DecisionStore

    db = tmp_path / "serve" / "decisions.db"
    store = DecisionStore(db)
    store.add_decisions([_decision("d1", "AP77", "ap77"), _decision("d2", "AP78", "AP78")])
    assert store.claim_idempotency("t1", "key-1", "print")[0] == "claimed"
    first = _decision("d3", "AP77", "AP77")
    assert store.complete_idempotency("t1", "key-1", first["outputs"], [first])  # type: ignore[arg-type]
    assert store.add_delivery("jdy-1", {"decision_id": "d1", "customer_id": "AP77"}, [])
    store.close()
    # an access request first: what the store holds on the customer
    listed = runner.invoke(
        app, ["decisions", "list", "--customer", "ap77", "--db", str(db), "--json"]
    )
    assert listed.exit_code == 0, listed.output
    assert sorted(json.loads(line)["decision_id"] for line in listed.stdout.splitlines()) == [
        "d1",
        "d3",
    ]
    args = ["forget", "ap77", "--decisions", str(db), "--mode", mode]
    result = runner.invoke(app, args, env=keys_env)  # the decisions store only
    assert result.exit_code == 0, result.output
    verb = "Removed" if mode == "remove" else "Pseudonymised"
    assert f"{verb} 2 decision(s)" in result.output and "2 stored answer(s)" in result.output
    store = DecisionStore(db, create=False)
    try:
        left = store.list_decisions()
        assert [d["decision_id"] for d in left if d["customer_id"] == "AP78"] == ["d2"]
        text = json.dumps(left, ensure_ascii=False).upper()
        assert "AP77" not in text
        assert store.delivery("jdy-1") is None
        assert store.claim_idempotency("t1", "key-1", "print")[0] == "claimed"  # scored afresh
        if mode == "pseudonymise":
            kept = [d for d in left if d["customer_id"].startswith("anon-")]
            assert len(kept) == 2 and kept[0]["inputs_masked"]["年龄"] == 34
            assert {d["outputs"]["customer_id"] for d in kept} == {kept[0]["customer_id"]}
    finally:
        store.close()
    again = runner.invoke(
        app, ["forget", "AP77", "--decisions", str(db), "--runs", str(runs)], env=keys_env
    )
    assert again.exit_code == 0, again.output
    assert "no decision in the decisions store" in again.output
    missing = runner.invoke(app, ["forget", "AP77", "--decisions", str(tmp_path / "nope.db")])
    assert missing.exit_code == 2 and "no decisions store" in missing.output
    assert "pass --decisions" in missing.output  # the option of this command, not serve's


@pytest.mark.parametrize("keyed", [True, False])
def test_a_customer_id_that_is_a_phone_is_never_stored_in_clear(
    runner: CliRunner,
    tmp_path: Path,
    keys_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    keyed: bool,
) -> None:
    """A CRM keyed by phone: the record's id 13812345678 was the decisions' customer id
    in clear (the store, decisions list/show). Under the pseudonym key it is kept as its
    psn_ token, found by the phone and erased by forget; without one, masked, listed by
    the phone and left by forget (it may be another customer's), which says so."""
    from custrisk.serve.store import DecisionStore

    env = keys_env if keyed else {**keys_env, "CUSTRISK_PSEUDONYM_KEY": ""}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    db = tmp_path / "decisions.db"
    store = DecisionStore(db)
    phone = "13812345678"
    first = _decision("d1", phone, "138 1234 5678")
    first["inputs_masked"] = {"客户编号": "138*********5678", "年龄": 34}  # (as serve masks it)
    store.add_decisions([first, _decision("d2", "AP78", "AP78")])
    store.close()
    dump = "\n".join(sqlite3.connect(db).iterdump())
    assert phone not in dump and "1234 5678" not in dump
    assert ("psn_" in dump) is keyed and ("138****5678" in dump) is not keyed
    listed = runner.invoke(app, ["decisions", "list", "--customer", phone, "--db", str(db)])
    assert listed.exit_code == 0, listed.output
    assert "d1" in listed.stdout and "AP78" not in listed.stdout and phone not in listed.stdout
    shown = runner.invoke(app, ["decisions", "show", "d1", "--db", str(db)])
    assert shown.exit_code == 0 and phone not in shown.stdout
    result = runner.invoke(app, ["forget", phone, "--decisions", str(db)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    if keyed:
        assert "Removed 1 decision(s)" in said
    else:
        assert "no decision" in said and "1 decision(s) stored under the id masked" in said
    store = DecisionStore(db, create=False)
    try:
        assert len(store.list_decisions()) == (1 if keyed else 2)
    finally:
        store.close()


def test_forget_removes_the_customer_from_pseudonymised_runs_too(
    runner: CliRunner, tmp_path: Path
) -> None:
    """A --pseudonymise run holds the customer under its token: forget removed only the
    re-identification row and left the rows, which the pseudonym key still ties to the
    customer (a deletion request not carried out, exit 0)."""
    from custrisk.protect.pseudonym import pseudonym

    key = new_key(PSEUDONYM)
    env = {
        "CUSTRISK_KEYFILE": str(tmp_path / "no-keys.json"),
        "CUSTRISK_KEY": "",
        "CUSTRISK_PSEUDONYM_KEY": f"{key.id}:{base64.b64encode(key.secret).decode()}",
    }
    token, other = pseudonym("C9", key), pseudonym("C10", key)
    month = tmp_path / "runs" / "2026-10"
    month.mkdir(parents=True)
    alerts = month / "alerts.csv"
    alerts.write_text(f"customer_id,code\n{token},CR01\n{other},CR02\n", encoding="utf-8")
    result = runner.invoke(app, ["forget", "C9", "--runs", str(tmp_path / "runs")], env=env)
    assert result.exit_code == 0, result.output
    assert alerts.read_text(encoding="utf-8") == f"customer_id,code\n{other},CR02\n"
    assert "the customer's pseudonym token" in result.output and token not in result.output


def test_a_stale_portfolio_of_a_monthly_run_is_rendered_again_as_the_run_did(
    tmp_path: Path, scored: tuple[Path, str, str]
) -> None:
    """In a month of ``custrisk run`` the line said "with the options the reports were
    rendered with (--alert-level, --grade, ...)", options the operator never gave: the
    command as said rendered every customer's report, dated today, without the month's
    drift. It now gives the run's own: the portfolio alone, its as-of date, drift.json,
    the month before's run, RUN.yaml's language."""
    from custrisk.cli.forget import _render_again

    root = tmp_path / "batch"
    result = CliRunner().invoke(app, ["run", "--init", "--lang", "en", str(root / "run.yaml")])
    assert result.exit_code == 0, result.output
    runs = root / "runs"
    for period, as_of in (("2026-09", "2026-09-30"), ("2026-10", "2026-10-31")):
        month = runs / period
        month.mkdir(parents=True)
        shutil.copy(scored[0] / "2026-10" / "scores.csv", month / "scores.csv")
        facts = {"config": str(root / "run.yaml"), "period": period}
        facts["stages"] = {"score": {"rows": {"as_of": as_of}}}
        facts["previous"] = {"period": "2026-09"} if period == "2026-10" else None
        (month / "run.json").write_text(json.dumps(facts), encoding="utf-8")
    month = runs / "2026-10"
    (month / "drift.json").write_text("{}", encoding="utf-8")
    said = _render_again(month / "reports")
    assert said == (
        f"render it again as custrisk run did: custrisk report {month / 'scores.csv'} --out "
        f"{month / 'reports'} --portfolio-only --report-date 2026-10-31 --drift "
        f"{month / 'drift.json'} --history {runs / '2026-09' / 'scores.csv'} --lang en"
    )
    # the first month of the folder: no month before, no drift; a scores file alone (no
    # run.json): the options are the user's, as before
    assert _render_again(runs / "2026-09" / "reports").endswith(
        "--portfolio-only --report-date 2026-09-30 --lang en"
    )
    (month / "run.json").unlink()
    assert _render_again(month / "reports").endswith(
        "with the options the reports were rendered with (--alert-level, --grade, ...)"
    )
