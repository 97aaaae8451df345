"""Encryption wired through the commands (issue 15 item 1): ``--encrypt`` on every command
that writes customer data, encrypted exports and run folders read transparently, exit 2
naming the key id when the key is missing."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.privacy import mask_id_number, mask_name, mask_phone
from custrisk.protect import add_key, encrypt_file, is_encrypted, new_key
from custrisk.protect.output import plain_bytes, protected_outputs
from custrisk.results import read_run


@pytest.fixture(scope="module")
def keyfile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    add_key(path, new_key("encryption"))
    return path


@pytest.fixture(scope="module")
def env(keyfile: Path) -> dict[str, str]:
    return {"CUSTRISK_KEYFILE": str(keyfile), "CUSTRISK_KEY": "", "CUSTRISK_ROLE": ""}


@pytest.fixture(scope="module")
def no_key(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    other = tmp_path_factory.mktemp("other") / "keys.json"
    add_key(other, new_key("encryption"))  # a key file, but without the files' key
    return {"CUSTRISK_KEYFILE": str(other), "CUSTRISK_KEY": "", "CUSTRISK_ROLE": ""}


@pytest.fixture(scope="module")
def sealed_exports(
    tmp_path_factory: pytest.TempPathFactory, export_200: Path, keyfile: Path
) -> Path:
    """export_200 with every file encrypted (credit.csv.enc, ...) and no plain copy."""
    from custrisk.protect import load_keyring

    key = load_keyring(keyfile).active()
    folder = tmp_path_factory.mktemp("sealed_exports")
    for source in sorted(export_200.glob("*.csv")):
        encrypt_file(source, folder / f"{source.name}.enc", key=key)
    return folder


def invoke(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def plain_run(
    tmp_path_factory: pytest.TempPathFactory,
    export_200: Path,
    models_200: Path,
    env: dict[str, str],
) -> Path:
    out = tmp_path_factory.mktemp("plain_run") / "scores.csv"
    code, output = invoke(
        env, "score", str(export_200), "-m", "logistic", "--models-dir", str(models_200),
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, output
    return out


@pytest.fixture(scope="module")
def sealed_run(
    tmp_path_factory: pytest.TempPathFactory,
    sealed_exports: Path,
    models_200: Path,
    env: dict[str, str],
) -> Path:
    out = tmp_path_factory.mktemp("sealed_run") / "run"
    code, output = invoke(
        env, "score", str(sealed_exports), "-m", "logistic", "--models-dir", str(models_200),
        "--out", str(out / "scores.csv"), "--encrypt",
    )  # fmt: skip
    assert code == 0, output
    assert "scores.csv.enc" in output
    return out


def _pii_values(export: Path) -> set[str]:
    """Every name, phone and id number of the input (malformed rows included), raw and
    masked."""
    with (export / "credit.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    values: set[str] = set()
    for column, mask in (("name", mask_name), ("phone", mask_phone), ("id_number", mask_id_number)):
        at = rows[0].index(column)
        raw = pd.Series([r[at].strip() for r in rows[1:] if at < len(r) and r[at].strip()])
        values |= set(raw) | set(mask(raw))
    return {v for v in values if len(v.encode("utf-8")) >= 5}  # shorter: chance matches


def _files(folder: Path) -> Iterator[Path]:
    return (p for p in sorted(folder.rglob("*")) if p.is_file())


def test_a_sealed_run_holds_no_personal_data_in_any_byte(
    sealed_run: Path, plain_run: Path, export_200: Path, env: dict[str, str]
) -> None:
    values = _pii_values(export_200)
    assert len(values) > 300
    files = list(_files(sealed_run))
    names = sorted(p.name for p in files)
    assert names == [
        ".custrisk.lock",
        "alerts.csv.enc",
        "followups.csv.enc",
        "scores.csv.enc",
        "scores.details.parquet.enc",
        "scores.run.json.enc",
    ]
    for path in files:
        data = path.read_bytes()
        found = [v for v in values if v.encode("utf-8") in data]
        assert not found, f"{path.name} holds {found[:3]} in clear"
        assert path.stat().st_mode & 0o077 == 0
    # the check can fail: the same run in clear holds the masked names and phones
    with protected_outputs(keyfile=env["CUSTRISK_KEYFILE"]):
        details = plain_bytes(sealed_run / "scores.details.parquet.enc")
    assert any(v.encode("utf-8") in details for v in values)


def test_a_sealed_run_with_rejects_holds_no_personal_data_either(
    hostile_exports: Path, models_200: Path, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    code, output = invoke(
        env, "score", str(hostile_exports), "-m", "logistic", "--models-dir", str(models_200),
        "--out", str(out / "scores.csv"), "--encrypt",
    )  # fmt: skip
    assert code == 0, output
    assert "scores.rejects.csv.enc" in output
    values = _pii_values(hostile_exports)
    files = [p for p in _files(out) if p.name != ".custrisk.lock"]
    assert len(files) == 6 and all(is_encrypted(p) for p in files)  # followups.csv too
    for path in files:
        data = path.read_bytes()
        assert not [v for v in values if v.encode("utf-8") in data], path.name
    with protected_outputs(keyfile=env["CUSTRISK_KEYFILE"]):
        rejects = plain_bytes(out / "scores.rejects.csv.enc").decode("utf-8-sig")
    assert any(v in rejects for v in values)  # masked values: the check can fail


def test_a_sealed_run_is_the_same_run_as_in_clear(
    sealed_run: Path, plain_run: Path, env: dict[str, str]
) -> None:
    with protected_outputs(keyfile=env["CUSTRISK_KEYFILE"]):
        sealed = read_run(sealed_run, parts=("scores", "details", "alerts"))
    plain = read_run(plain_run, parts=("scores", "details", "alerts"))
    assert sealed.run_id == plain.run_id  # the hashes of the plaintext tables
    pd.testing.assert_frame_equal(sealed.scores, plain.scores)
    pd.testing.assert_frame_equal(sealed.alerts, plain.alerts)
    assert sealed.facts["files"]["scores"]["file"] == "scores.csv.enc"


def test_commands_read_sealed_runs_and_write_sealed_outputs(
    sealed_run: Path,
    sealed_exports: Path,
    models_200: Path,
    plain_run: Path,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    code, output = invoke(env, "alerts", str(sealed_run), "--format", "csv")
    assert code == 0, output
    plain_code, plain_output = invoke(env, "alerts", str(plain_run), "--format", "csv")
    assert (code, output) == (plain_code, plain_output)

    code, output = invoke(
        env, "alerts", str(sealed_run), "--format", "csv", "--out", str(tmp_path / "a.csv"),
        "--encrypt",
    )  # fmt: skip
    assert code == 0, output
    assert is_encrypted(tmp_path / "a.csv.enc") and not (tmp_path / "a.csv").exists()
    code, again = invoke(env, "alerts", str(tmp_path / "a.csv.enc"), "--format", "csv")
    assert code == 0 and again == plain_output

    # the next month against a sealed previous run: migration joins on the same ids
    code, output = invoke(
        env, "score", str(sealed_exports), "-m", "logistic", "--models-dir", str(models_200),
        "--out", str(tmp_path / "next" / "scores.parquet"), "--previous",
        str(sealed_run / "scores.csv.enc"), "--encrypt",
    )  # fmt: skip
    assert code == 0, output
    assert "Upgraded 0, downgraded 0, stayed 200" in output

    code, output = invoke(
        env, "indicators", str(sealed_exports), "--out", str(tmp_path / "ind.parquet"),
        "--encrypt",
    )  # fmt: skip
    assert code == 0, output
    assert is_encrypted(tmp_path / "ind.parquet.enc")

    code, output = invoke(
        env, "validate", str(sealed_exports), "--out", str(tmp_path / "val"), "--encrypt"
    )
    assert code == 0, output
    assert sorted(p.name for p in (tmp_path / "val").iterdir()) == [
        "rejects.csv.enc",
        "validation_report.json.enc",
    ]
    with protected_outputs(keyfile=env["CUSTRISK_KEYFILE"]):
        report = json.loads(plain_bytes(tmp_path / "val" / "validation_report.json.enc"))
    assert report["sources"]["credit"]["rows_in"] == 200

    code, output = invoke(
        env, "drift", str(sealed_exports), "-m", "logistic", "--models-dir", str(models_200),
        "--allow-insufficient",
    )  # fmt: skip
    assert code in (0, 1), output
    assert "PSI" in output or "psi" in output


def test_train_on_sealed_exports_seals_its_rejects(
    sealed_exports: Path, env: dict[str, str], tmp_path: Path
) -> None:
    exports = tmp_path / "exports"
    shutil.copytree(sealed_exports, exports)
    (exports / "behaviour.csv.enc").unlink()  # still trains; transactions give the signal
    code, output = invoke(
        env, "train", str(exports), "--labels", str(exports / "labels.csv.enc"),
        "--models-dir", str(tmp_path / "models"), "--encrypt",
        "--rejects-unmasked", str(tmp_path / "unmasked.csv"),
    )  # fmt: skip
    assert code == 0, output
    # the note names the file written, encrypted: not a file in clear that is not there
    said = " ".join(output.split())
    assert f"{tmp_path / 'unmasked.csv.enc'} holds personal data unmasked, encrypted" in said
    model = next((tmp_path / "models").glob("*/1"))
    assert (model / "model.json").is_file()  # the model itself stays readable and signed


def test_report_writes_sealed_pdfs_and_manifest(
    sealed_run: Path, env: dict[str, str], tmp_path: Path
) -> None:
    with protected_outputs(keyfile=env["CUSTRISK_KEYFILE"]):
        first = read_run(sealed_run, parts=("scores",)).scores["customer_id"].iloc[0]
    out = tmp_path / "reports"
    args = ["report", str(sealed_run), "--out", str(out), "--customers", first, "--encrypt"]
    code, output = invoke(env, *args, "--workers", "0")
    assert code == 0, output
    names = sorted(p.name for p in _files(out) if not p.name.startswith("."))
    assert names == [
        f"customer_{first}.pdf.enc",
        "manifest.csv.enc",
        "portfolio.pdf.enc",
    ]
    with protected_outputs(keyfile=env["CUSTRISK_KEYFILE"]):
        assert plain_bytes(out / "portfolio.pdf.enc").startswith(b"%PDF")
    # a second run finds its sealed manifest and skips what is up to date
    code, output = invoke(env, *args, "--workers", "0")
    assert code == 0, output
    assert "skipped 2" in output


def test_outputs_derived_from_a_sealed_run_are_sealed_without_being_asked(
    sealed_run: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """Reports, a filtered alerts file and the follow-up plan of an encrypted run: written
    in clear they would put its ids, scores and reasons on disk where the run was
    sealed. They are sealed as with --encrypt, and said so."""
    with protected_outputs(keyfile=env["CUSTRISK_KEYFILE"]):
        first = read_run(sealed_run, parts=("scores",)).scores["customer_id"].iloc[0]
    args = ["--customers", first, "--no-portfolio", "--workers", "0"]
    code, output = invoke(env, "report", str(sealed_run), "--out", str(tmp_path / "r"), *args)
    assert code == 0, output
    assert "is encrypted: the reports are written encrypted too" in " ".join(output.split())
    assert sorted(p.name for p in (tmp_path / "r").iterdir() if p.name[0] != ".") == [
        f"customer_{first}.pdf.enc",
        "manifest.csv.enc",
    ]
    code, output = invoke(env, "alerts", str(sealed_run), "--out", str(tmp_path / "a.csv"))
    assert code == 0, output
    assert is_encrypted(tmp_path / "a.csv.enc") and not (tmp_path / "a.csv").exists()
    code, output = invoke(env, "followups", str(sealed_run), "--out", str(tmp_path / "f.csv"))
    assert code == 0, output
    assert f"follow-ups to {tmp_path / 'f.csv.enc'}" in " ".join(output.split())
    assert is_encrypted(tmp_path / "f.csv.enc") and not (tmp_path / "f.csv").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["alerts", "{run}"],
        ["validate", "{exports}", "--out", "{tmp}/v"],
        [
            "score",
            "{exports}",
            "-m",
            "logistic",
            "--models-dir",
            "{models}",
            "--out",
            "{tmp}/s.csv",
        ],
        ["report", "{run}", "--out", "{tmp}/r", "--no-portfolio"],
        ["decrypt", "{run}/scores.csv.enc", "--out", "{tmp}/s.csv"],
    ],
    ids=lambda c: c[0],
)
def test_without_the_key_commands_exit_2_naming_the_key_id(
    command: list[str],
    sealed_run: Path,
    sealed_exports: Path,
    models_200: Path,
    no_key: dict[str, str],
    tmp_path: Path,
) -> None:
    from custrisk.protect import key_id_of

    key_id = key_id_of(sealed_run / "scores.csv.enc")
    values = {"run": sealed_run, "exports": sealed_exports, "models": models_200, "tmp": tmp_path}
    args = [part.format(**values) for part in command]
    code, output = invoke(no_key, *args)
    assert code == 2, output
    assert key_id in output
    assert "Traceback" not in output
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_the_atomic_writer_seals_and_replaces_the_other_form(keyfile: Path, tmp_path: Path) -> None:
    from custrisk.io.atomic import write_bytes, write_text

    target = tmp_path / "out" / "rejects.csv"
    assert write_text(target, "plain\n") == target
    with protected_outputs(encrypt=True, keyfile=keyfile):
        sealed = write_text(target, "sealed\n")
        config = write_text(tmp_path / "out" / "model.json", "{}", sensitive=False)
        assert plain_bytes(sealed) == b"sealed\n"
    assert sealed.name == "rejects.csv.enc" and is_encrypted(sealed)
    assert not target.exists()  # the clear file of the earlier run is gone
    assert config.read_text() == "{}"  # not customer data: written as it is
    assert write_bytes(target, b"again\n") == target  # and back: the .enc goes
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.json", "rejects.csv"]
