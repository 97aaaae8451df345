"""An erasure holds: a customer ``custrisk forget`` removed stays out of later runs.

forget records the customer's keyed token in ``runs/forgotten.csv``; ``custrisk run``
and ``custrisk score`` then leave the customer out as the exports are read, saying only
how many were left out."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.protect.keys import AUDIT, PSEUDONYM, Key, new_key

PERIOD = "2026-10"
REPORTS_ON, REPORTS_OFF = "reports:\n  enabled: true", "reports:\n  enabled: false"


def _key_env(purpose: str, name: str) -> tuple[str, str]:
    key = new_key(purpose)
    return name, f"{key.id}:{base64.b64encode(key.secret).decode()}"


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A pseudonym key (and an audit key) in the environment, no key file."""
    monkeypatch.setenv("CUSTRISK_KEYFILE", str(tmp_path / "no-keys.json"))
    monkeypatch.setenv("CUSTRISK_KEY", "")
    for purpose, name in ((PSEUDONYM, "CUSTRISK_PSEUDONYM_KEY"), (AUDIT, "CUSTRISK_AUDIT_KEY")):
        monkeypatch.setenv(*_key_env(purpose, name))


@pytest.fixture
def root(tmp_path: Path, export_200: Path, models_200: Path) -> Path:
    """A RUN.yaml of --init (reports off: the PDFs add nothing here) over one month."""
    shutil.copytree(export_200, tmp_path / "exports" / PERIOD)
    (tmp_path / "models").symlink_to(models_200)
    result = CliRunner().invoke(app, ["run", "--init", str(tmp_path / "run.yaml")])
    assert result.exit_code == 0, result.output
    config = tmp_path / "run.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace(REPORTS_ON, REPORTS_OFF))
    return tmp_path


def _run(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["run", str(root / "run.yaml"), "--period", PERIOD, *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _word(customer: str) -> re.Pattern[bytes]:
    return re.compile(rb"(?<![0-9A-Za-z])" + customer.encode() + rb"(?![0-9A-Za-z])")


def _holding(folder: Path, customer: str) -> list[str]:
    """The files under ``folder`` that name ``customer`` (parquet read as a table)."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            if frame.astype(str).isin([customer]).any().any():
                found.append(str(path))
        elif _word(customer).search(path.read_bytes()):
            found.append(str(path))
    return found


def test_a_forced_rerun_after_forget_leaves_the_customer_out_of_outputs_and_notifications(
    root: Path, keys: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests._inbox import local_inbox

    code, out, err = _run(root)
    assert code in (0, 1), out + err
    month = root / "runs" / PERIOD
    alerts = pd.read_csv(month / "alerts.csv", dtype=str)
    customer = alerts["customer_id"].value_counts().index[0]  # one with alerts
    before = pd.read_csv(month / "scores.csv", dtype=str)
    result = CliRunner().invoke(app, ["forget", customer, "--runs", str(root / "runs")])
    assert result.exit_code == 0, result.output
    register = root / "runs" / "forgotten.csv"
    assert "Recorded the erasure in" in result.output and register.is_file()
    assert customer not in register.read_text(encoding="utf-8")  # a keyed token only

    # the month again, now notifying every alert: without the register the customer
    # would be scored again from the exports and sent
    config = root / "run.yaml"
    config.write_text(
        config.read_text(encoding="utf-8") + "\nnotifications:\n  channels:\n"
        "    hook: {type: webhook, url_env: TEST_HOOK_URL}\n",
        encoding="utf-8",
    )
    with local_inbox() as inbox:
        monkeypatch.setenv("TEST_HOOK_URL", f"{inbox.http_url}/hook")
        code, out, err = _run(root, "--force")
        posts = list(inbox.posts)
    assert code in (0, 1), out + err
    assert "1 customer erased by custrisk forget was left out" in out
    after = pd.read_csv(month / "scores.csv", dtype=str)
    assert len(after) == len(before) - 1
    assert set(after["customer_id"]) == set(before["customer_id"]) - {customer}
    assert posts, "the run sent its alerts"
    assert customer not in json.dumps(posts, ensure_ascii=False)
    assert _holding(root / "runs", customer) == []  # rejects, details, log, run.json, ...
    events = [json.loads(line) for line in (month / "log.jsonl").read_text().splitlines()]
    assert {"customers": 1} == {
        k: v
        for e in events
        if e["event"] == "erased_left_out"
        for k, v in e.items()
        if k == "customers"
    }


def test_score_beside_the_register_leaves_the_customer_out_and_undo_lifts_it(
    runner: CliRunner, export_200: Path, models_200: Path, tmp_path: Path, keys: None
) -> None:
    customer = pd.read_csv(export_200 / "credit.csv", dtype=str)["customer_id"].iloc[3]
    runs = tmp_path / "runs"
    runs.mkdir()  # (no run yet: a deletion request before the first month)
    result = runner.invoke(app, ["forget", customer, "--runs", str(runs)])
    assert result.exit_code == 0, result.output
    args = ["score", str(export_200), "--model", "logistic", "--models-dir", str(models_200)]
    result = runner.invoke(app, [*args, "--out", str(runs / "2026-10" / "scores.csv")])
    assert result.exit_code in (0, 1), result.output
    assert "1 customer erased by custrisk forget was left out" in result.output
    assert customer not in result.output
    assert _holding(runs / "2026-10", customer) == []

    result = runner.invoke(app, ["forget", customer, "--runs", str(runs), "--undo"])
    assert result.exit_code == 0, result.output
    assert "Lifted the erasure" in result.output
    result = runner.invoke(app, [*args, "--out", str(runs / "2026-11" / "scores.csv")])
    assert result.exit_code in (0, 1), result.output
    assert "erased by custrisk forget" not in result.output
    scored = pd.read_csv(runs / "2026-11" / "scores.csv", dtype=str)
    assert customer in set(scored["customer_id"])


def test_a_register_without_its_key_is_a_clear_error(
    runner: CliRunner,
    export_200: Path,
    models_200: Path,
    tmp_path: Path,
    keys: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    customer = pd.read_csv(export_200 / "credit.csv", dtype=str)["customer_id"].iloc[0]
    assert runner.invoke(app, ["forget", customer, "--runs", str(runs)]).exit_code == 0
    monkeypatch.setenv(*_key_env(PSEUDONYM, "CUSTRISK_PSEUDONYM_KEY"))  # another key
    args = ["score", str(export_200), "--model", "logistic", "--models-dir", str(models_200)]
    result = runner.invoke(app, [*args, "--out", str(runs / "2026-10" / "scores.csv")])
    assert result.exit_code == 2
    assert "needs the pseudonym key" in result.output and "Traceback" not in result.output
    assert str(runs / "forgotten.csv") in result.output.replace("\n", "")
    assert not (runs / "2026-10" / "scores.csv").exists()


def test_forget_without_a_pseudonym_key_warns_that_the_erasure_is_not_recorded(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTRISK_KEYFILE", str(tmp_path / "no-keys.json"))
    monkeypatch.delenv("CUSTRISK_PSEUDONYM_KEY", raising=False)
    (tmp_path / "runs").mkdir()
    result = runner.invoke(app, ["forget", "C0001", "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "no pseudonym key: the erasure is not recorded" in result.output.replace("\n", " ")
    assert not (tmp_path / "runs" / "forgotten.csv").exists()


def test_an_id_that_lost_its_leading_zeros_is_left_out_too(
    runner: CliRunner, lost_zeros_200: Path, models_200: Path, tmp_path: Path, keys: None
) -> None:
    """transactions.csv writes 42 for 0000000042 (``zero_pad: 10`` on its id column):
    the erased customer's transactions are left out too, not rejected as orphans."""
    credit = pd.read_csv(lost_zeros_200 / "credit.csv", dtype=str)["customer_id"]
    txns = pd.read_csv(lost_zeros_200 / "transactions.csv", dtype=str)["customer_id"]
    customer = next(c for c in credit if c.lstrip("0") in set(txns))
    runs = tmp_path / "runs"
    runs.mkdir()
    assert runner.invoke(app, ["forget", customer, "--runs", str(runs)]).exit_code == 0
    args = ["score", str(lost_zeros_200), "--model", "logistic", "--models-dir", str(models_200)]
    args += ["--sources", str(lost_zeros_200 / "padded.yaml")]
    result = runner.invoke(app, [*args, "--out", str(runs / "2026-10" / "scores.csv")])
    assert result.exit_code in (0, 1), result.output
    assert "1 customer erased by custrisk forget was left out" in result.output
    assert _holding(runs / "2026-10", customer) == []
    rejects = runs / "2026-10" / "scores.rejects.csv"  # (its transactions: not orphans)
    assert not rejects.exists() or customer.lstrip("0") not in set(
        pd.read_csv(rejects, dtype=str)["value"]
    )


def test_each_id_is_hashed_once_whatever_the_number_of_exports_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every export of a month names the same customers: the register hashes each id
    once (200,000 HMACs a source took about a second each)."""
    from custrisk.protect import erasure

    key = new_key(PSEUDONYM)
    register = erasure.Erasures(
        Path("forgotten.csv"), {key.id: key}, {key.id: frozenset([erasure.pseudonym("C2", key)])}
    )
    hashed: list[str] = []
    original = erasure.pseudonym

    def counted(value: str, with_key: Key) -> str:
        hashed.append(value)
        return original(value, with_key)

    monkeypatch.setattr(erasure, "pseudonym", counted)
    for _source in ("credit", "transactions", "behaviour"):
        assert register.erased({"C1", "C2", "C3"}) == {"C2"}
    assert sorted(hashed) == ["C1", "C2", "C3"]
    assert erasure.left_out_line(register) == "1 customer erased by custrisk forget was left out"


def test_an_erased_customer_written_otherwise_in_the_export_is_left_out_too(
    runner: CliRunner, export_200: Path, models_200: Path, tmp_path: Path, keys: None
) -> None:
    """The export writes the id as cleaning does not keep it (full-width digits, a space
    inside: cleaning stores 0000000004, which forget is given): still left out."""
    export = tmp_path / "export"
    shutil.copytree(export_200, export)
    customer = pd.read_csv(export / "credit.csv", dtype=str)["customer_id"].iloc[3]
    wide = customer.translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"})
    for name, written in (
        ("credit.csv", wide),
        ("transactions.csv", f" {customer[:4]} {customer[4:]}"),
    ):
        path = export / name
        text = path.read_text(encoding="utf-8")
        assert customer in text
        path.write_text(
            _word(customer).sub(written.encode(), text.encode()).decode(), encoding="utf-8"
        )
    runs = tmp_path / "runs"
    runs.mkdir()
    assert runner.invoke(app, ["forget", customer, "--runs", str(runs)]).exit_code == 0
    args = ["score", str(export), "--model", "logistic", "--models-dir", str(models_200)]
    result = runner.invoke(app, [*args, "--out", str(runs / "2026-10" / "scores.csv")])
    assert result.exit_code in (0, 1), result.output
    assert "1 customer erased by custrisk forget was left out" in result.output
    assert _holding(runs / "2026-10", customer) == []
    assert _holding(runs / "2026-10", wide) == []


@pytest.mark.parametrize("dictionary", [False, True])
def test_rows_of_an_erased_id_are_dropped_as_read_whatever_its_arrow_type(
    dictionary: bool,
) -> None:
    """A Parquet export's ids may be categorical (Arrow dictionaries): matched as text."""
    import numpy as np
    import pyarrow as pa

    from custrisk.config.sources import load_sources_config
    from custrisk.data.erased import drop_erased
    from custrisk.io.readers import RawTable
    from custrisk.protect import erasure

    key = new_key(PSEUDONYM)
    register = erasure.Erasures(
        Path("forgotten.csv"), {key.id: key}, {key.id: frozenset({erasure.pseudonym("AB12", key)})}
    )
    ids = pa.array(["C1", "ab 12", "C3", "ＡＢ12"])
    table = pa.table({"customer_id": ids.dictionary_encode() if dictionary else ids})
    raw = RawTable(Path("t.parquet"), table, np.arange(2, 6), ["customer_id"], "utf-8")
    spec = load_sources_config().sources["transactions"]
    with erasure.erasing(register):
        drop_erased(spec, spec, raw)
    assert raw.table.column("customer_id").to_pylist() == ["C1", "C3"]
    assert raw.lines.tolist() == [2, 4]
