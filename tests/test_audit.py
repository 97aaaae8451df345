"""The audit log: one HMAC-chained line per command, redacted, verified, searchable."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.cli.audit import _files as audit_files_column
from custrisk.protect import audit
from custrisk.protect.keys import AUDIT, ENCRYPTION, add_key, load_keyring, new_key

SRC = Path(__file__).resolve().parents[1] / "src"


def _env_key(purpose: str) -> tuple[str, str]:
    key = new_key(purpose)
    return key.id, f"{key.id}:{base64.b64encode(key.secret).decode('ascii')}"


@pytest.fixture
def audit_env(tmp_path: Path) -> dict[str, str]:
    """Auditing on, into a log of this test, with an audit key from the environment."""
    key_id, value = _env_key(AUDIT)
    return {
        "CUSTRISK_AUDIT": "on",
        "CUSTRISK_AUDIT_LOG": str(tmp_path / "audit" / "audit.log"),
        "CUSTRISK_AUDIT_KEY": value,
        "CUSTRISK_KEYFILE": str(tmp_path / "no-keys.json"),
        "CUSTRISK_KEY": "",
        "_KEY_ID": key_id,
    }


def _run(runner: CliRunner, env: dict[str, str], *args: str) -> object:
    return runner.invoke(app, list(args), env=env)


def _lines(env: dict[str, str]) -> list[dict[str, object]]:
    text = Path(env["CUSTRISK_AUDIT_LOG"]).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def three_lines(runner: CliRunner, audit_env: dict[str, str], tmp_path: Path) -> Path:
    """A log of three commands that succeeded or failed."""
    _run(runner, audit_env, "models", "list", "--models-dir", str(tmp_path / "none"))
    _run(runner, audit_env, "alerts", str(tmp_path / "missing.csv"))
    _run(runner, audit_env, "keys", "list")
    log = Path(audit_env["CUSTRISK_AUDIT_LOG"])
    assert len(log.read_text(encoding="utf-8").splitlines()) == 3
    return log


def test_every_command_appends_one_chained_line(
    runner: CliRunner, audit_env: dict[str, str], three_lines: Path
) -> None:
    lines = _lines(audit_env)
    assert [line["command"] for line in lines] == ["models list", "alerts", "keys list"]
    assert [line["seq"] for line in lines] == [1, 2, 3]
    assert lines[0]["prev"] == "0" * 64
    assert lines[1]["prev"] == lines[0]["mac"] and lines[2]["prev"] == lines[1]["mac"]
    assert lines[1]["exit"] == 2 and "not found" in str(lines[1]["error"])
    assert lines[1]["scope"] == "portfolio"
    # a command that may touch customer data records the caller's role (the packaged
    # roles config's default_role); the others have none
    assert [line["role"] for line in lines] == ["-", "admin", "-"]
    for line in lines:
        assert line["user"] and line["host"]
        assert line["key"] == audit_env["_KEY_ID"]
    assert os.stat(three_lines).st_mode & 0o777 == 0o600
    result = _run(runner, audit_env, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert "3 line(s), chain and head intact" in result.output


def test_the_role_comes_from_the_environment_until_roles_are_configured(
    runner: CliRunner, audit_env: dict[str, str]
) -> None:
    _run(runner, {**audit_env, "CUSTRISK_ROLE": "analyst"}, "keys", "list")
    assert _lines(audit_env)[0]["role"] == "analyst"


def _verify(runner: CliRunner, env: dict[str, str], log: Path) -> tuple[int, str]:
    off = {**env, "CUSTRISK_AUDIT": "off"}  # verifying does not append to the damaged log
    result = runner.invoke(app, ["audit", "verify", str(log)], env=off)
    return result.exit_code, result.output


def test_an_edited_byte_is_caught_on_its_line(
    runner: CliRunner, audit_env: dict[str, str], three_lines: Path
) -> None:
    raw = three_lines.read_bytes().splitlines(keepends=True)
    raw[1] = raw[1].replace(b'"exit":2', b'"exit":0')
    three_lines.write_bytes(b"".join(raw))
    code, output = _verify(runner, audit_env, three_lines)
    assert code == 1
    assert "line 2: its MAC does not match its content" in output


def test_a_flipped_byte_anywhere_is_caught(
    runner: CliRunner, audit_env: dict[str, str], three_lines: Path
) -> None:
    data = bytearray(three_lines.read_bytes())
    first_end = data.index(b"\n")
    data[first_end + 40] ^= 0x01  # a byte of the second line
    three_lines.write_bytes(bytes(data))
    code, output = _verify(runner, audit_env, three_lines)
    assert code == 1
    assert "line 2:" in output


def test_a_deleted_line_is_caught_at_the_line_after_it(
    runner: CliRunner, audit_env: dict[str, str], three_lines: Path
) -> None:
    raw = three_lines.read_bytes().splitlines(keepends=True)
    three_lines.write_bytes(raw[0] + raw[2])
    code, output = _verify(runner, audit_env, three_lines)
    assert code == 1
    assert "line 2: it says it is entry 3" in output


def test_two_swapped_lines_are_caught(
    runner: CliRunner, audit_env: dict[str, str], three_lines: Path
) -> None:
    raw = three_lines.read_bytes().splitlines(keepends=True)
    three_lines.write_bytes(raw[1] + raw[0] + raw[2])
    code, output = _verify(runner, audit_env, three_lines)
    assert code == 1
    assert "line 1: it says it is entry 2" in output


def test_a_truncated_tail_is_caught_by_the_head(
    runner: CliRunner, audit_env: dict[str, str], three_lines: Path
) -> None:
    raw = three_lines.read_bytes().splitlines(keepends=True)
    three_lines.write_bytes(raw[0] + raw[1])
    code, output = _verify(runner, audit_env, three_lines)
    assert code == 1
    assert "line 3: the head says the log has 3 lines but it ends after line 2" in output


def test_a_line_cut_in_the_middle_is_caught(
    runner: CliRunner, audit_env: dict[str, str], three_lines: Path
) -> None:
    data = three_lines.read_bytes()
    three_lines.write_bytes(data[:-30])
    code, output = _verify(runner, audit_env, three_lines)
    assert code == 1
    assert "line 3: the line is cut short" in output


def test_a_replaced_head_is_caught(
    runner: CliRunner, audit_env: dict[str, str], three_lines: Path
) -> None:
    head = three_lines.with_name("audit.log.head")
    data = json.loads(head.read_text(encoding="utf-8"))
    data["count"] = 2
    head.write_text(json.dumps(data), encoding="utf-8")
    code, output = _verify(runner, audit_env, three_lines)
    assert code == 1
    assert "head file audit.log.head was altered" in output


def test_a_log_forged_without_the_key_is_caught(
    runner: CliRunner, audit_env: dict[str, str], three_lines: Path
) -> None:
    _, other = _env_key(AUDIT)
    other_id = other.split(":")[0]
    lines = _lines(audit_env)
    forged = dict(lines[1], exit=0, key=other_id)  # a MAC under a key the forger made up
    forged["mac"] = audit._mac(audit.Key(other_id, AUDIT, b"\0" * 32), forged)
    raw = three_lines.read_bytes().splitlines(keepends=True)
    raw[1] = audit.canonical(forged) + b"\n"
    three_lines.write_bytes(b"".join(raw))
    code, output = _verify(runner, audit_env, three_lines)
    assert code == 1
    assert f"line 2: its key '{other_id}' is not among the keys" in output


def test_show_marks_the_entries_a_forger_wrote_and_exits_1(
    runner: CliRunner, audit_env: dict[str, str], three_lines: Path
) -> None:
    """`audit show` is read as the record of who did what: a line edited without the key
    (here: its exit code) and the lines after it are marked, never shown as fact."""
    lines = _lines(audit_env)
    forged = dict(lines[1], exit=0, user="someone-else")
    raw = three_lines.read_bytes().splitlines(keepends=True)
    raw[1] = audit.canonical(forged) + b"\n"
    three_lines.write_bytes(b"".join(raw))
    off = {**audit_env, "CUSTRISK_AUDIT": "off"}
    result = runner.invoke(app, ["audit", "show", "--json"], env=off)
    assert result.exit_code == 1
    entries = [json.loads(x) for x in result.stdout.splitlines()]
    assert [e.get("verified", True) for e in entries] == [True, False, False]
    said = " ".join(result.stderr.split())
    assert "from line 2 on, the entries are not verified: they may be forged" in said
    assert "line 2: its MAC does not match its content" in said
    table = runner.invoke(app, ["audit", "show"], env=off)
    assert table.exit_code == 1 and table.stdout.count("UNVERIFIED") == 2


def test_show_without_a_key_says_the_entries_are_not_verified(
    runner: CliRunner, audit_env: dict[str, str], three_lines: Path, tmp_path: Path
) -> None:
    env = {
        **audit_env,
        "CUSTRISK_AUDIT": "off",
        "CUSTRISK_KEYFILE": str(tmp_path / "none.json"),
        "CUSTRISK_AUDIT_KEY": "",
        "CUSTRISK_KEY": "",
    }
    result = runner.invoke(app, ["audit", "show"], env=env)
    assert result.exit_code == 0 and "3 entries" in result.stdout, result.output
    assert "the entries are not verified: no audit or encryption key here" in " ".join(
        result.stderr.split()
    )


def test_secrets_customer_ids_and_personal_data_never_reach_the_log(
    runner: CliRunner, audit_env: dict[str, str], tmp_path: Path
) -> None:
    url = "postgresql://risk:S3cretPw@db.example/crm"
    _run(runner, audit_env, "validate", url, "--out", str(tmp_path / "13812345678"))
    _run(runner, audit_env, "report", str(tmp_path / "s.csv"), "--customers", "C000123,C000124")
    text = Path(audit_env["CUSTRISK_AUDIT_LOG"]).read_text(encoding="utf-8")
    for clear in ("S3cretPw", "13812345678", "C000123", "C000124"):
        assert clear not in text
    lines = _lines(audit_env)
    assert "postgresql://risk:***@db.example/crm" in lines[0]["argv"]
    assert any(str(word).startswith("customer:") for word in lines[1]["argv"])  # type: ignore[union-attr]
    assert len(lines[1]["customers"]) == 2  # type: ignore[arg-type]
    assert "scope" not in lines[1]


def test_show_answers_who_touched_a_customer(
    runner: CliRunner, audit_env: dict[str, str], tmp_path: Path
) -> None:
    _run(runner, audit_env, "report", str(tmp_path / "s.csv"), "--customers", "C000999,C000123")
    _run(runner, audit_env, "report", str(tmp_path / "s.csv"), "--customers", "C000999")
    _run(runner, audit_env, "alerts", str(tmp_path / "s.csv"))  # every customer of a run
    _run(runner, audit_env, "keys", "list")  # no customer data
    result = runner.invoke(
        app,
        ["audit", "show", "--customer", "C000123", "--json"],
        env={**audit_env, "CUSTRISK_AUDIT": "off"},
    )
    assert result.exit_code == 0, result.output
    found = [json.loads(line) for line in result.output.splitlines()]
    assert [(e["seq"], e["command"], e["match"]) for e in found] == [
        (1, "report", "named"),
        (3, "alerts", "portfolio"),
    ]
    assert "C000123" not in result.output


def test_show_filters_by_command_user_and_time(
    runner: CliRunner, audit_env: dict[str, str], three_lines: Path
) -> None:
    off = {**audit_env, "CUSTRISK_AUDIT": "off"}
    result = runner.invoke(app, ["audit", "show", "--command", "keys", "--json"], env=off)
    assert [json.loads(x)["command"] for x in result.output.splitlines()] == ["keys list"]
    me = _lines(audit_env)[0]["user"]
    result = runner.invoke(app, ["audit", "show", "--user", f"{me}x", "--json"], env=off)
    assert result.output.strip() == ""
    result = runner.invoke(app, ["audit", "show", "--since", "1h", "--json"], env=off)
    assert len(result.output.splitlines()) == 3
    result = runner.invoke(app, ["audit", "show", "--since", "2999-01-01", "--json"], env=off)
    assert result.output.strip() == ""
    result = runner.invoke(app, ["audit", "show", "--since", "yesterday"], env=off)
    assert result.exit_code == 2 and "--since 'yesterday' is not a date" in result.output
    result = runner.invoke(app, ["audit", "show"], env=off)
    assert result.exit_code == 0 and "3 entries" in result.output


def _on_without_a_key(tmp_path: Path) -> dict[str, str]:
    """Auditing on, into a log of this test, and no key anywhere (its key file absent)."""
    return {
        "CUSTRISK_AUDIT": "on",
        "CUSTRISK_AUDIT_LOG": str(tmp_path / "audit.log"),
        "CUSTRISK_KEYFILE": str(tmp_path / "keys.json"),
        "CUSTRISK_AUDIT_KEY": "",
        "CUSTRISK_KEY": "",
    }


def test_audit_on_without_a_key_refuses_to_run(runner: CliRunner, tmp_path: Path) -> None:
    env = _on_without_a_key(tmp_path)
    result = runner.invoke(app, ["models", "list", "--models-dir", str(tmp_path)], env=env)
    assert result.exit_code == 2
    assert "CUSTRISK_AUDIT=on but the audit log cannot be kept" in result.output
    assert "Traceback" not in result.output


def test_audit_on_lets_the_first_key_be_made_and_audits_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    """With CUSTRISK_AUDIT=on and no key, the error says to run ``custrisk keys new``:
    that command (and any --help) runs, and its line is the log's first once the key
    exists; other commands are still refused until then."""
    env = _on_without_a_key(tmp_path)
    asked = runner.invoke(app, ["models", "list", "--help"], env=env)
    assert asked.exit_code == 0 and "Usage:" in asked.output
    refused = runner.invoke(app, ["models", "list", "--models-dir", str(tmp_path)], env=env)
    assert refused.exit_code == 2 and "custrisk keys new" in refused.output
    made = runner.invoke(app, ["keys", "new"], env=env)
    assert made.exit_code == 0, made.output
    lines = _lines(env)
    assert [line["command"] for line in lines] == ["keys new"]
    again = runner.invoke(app, ["models", "list", "--models-dir", str(tmp_path)], env=env)
    assert again.exit_code == 0, again.output
    assert [line["command"] for line in _lines(env)] == ["keys new", "models list"]
    verified = runner.invoke(app, ["audit", "verify"], env=env)
    assert verified.exit_code == 0 and "2 line(s), chain and head intact" in verified.output


def test_without_a_key_a_note_says_the_log_is_off(runner: CliRunner, tmp_path: Path) -> None:
    env = {
        "CUSTRISK_AUDIT": "",
        "CUSTRISK_AUDIT_LOG": str(tmp_path / "audit.log"),
        "CUSTRISK_KEYFILE": str(tmp_path / "none.json"),
        "CUSTRISK_AUDIT_KEY": "",
        "CUSTRISK_KEY": "",
    }
    result = runner.invoke(app, ["models", "list", "--models-dir", str(tmp_path)], env=env)
    assert result.exit_code == 0
    assert "audit log off" not in result.output  # not in every mail a cron job sends
    result = runner.invoke(app, ["-v", "models", "list", "--models-dir", str(tmp_path)], env=env)
    assert result.exit_code == 0
    assert "audit log off: no audit or encryption key" in result.output
    assert not (tmp_path / "audit.log").exists()
    # the command that creates the first key is the log's first line
    keyfile = str(tmp_path / "keys.json")
    result = runner.invoke(
        app, ["keys", "new", "--purpose", "audit"], env={**env, "CUSTRISK_KEYFILE": keyfile}
    )
    assert result.exit_code == 0, result.output
    assert [e["command"] for e in _lines({"CUSTRISK_AUDIT_LOG": env["CUSTRISK_AUDIT_LOG"]})] == [
        "keys new"
    ]


def test_a_key_derived_from_the_encryption_key_survives_a_new_key(
    runner: CliRunner, tmp_path: Path
) -> None:
    keyfile = tmp_path / "keys.json"
    add_key(keyfile, new_key(ENCRYPTION))
    env = {
        "CUSTRISK_AUDIT": "on",
        "CUSTRISK_AUDIT_LOG": str(tmp_path / "audit.log"),
        "CUSTRISK_KEYFILE": str(keyfile),
        "CUSTRISK_AUDIT_KEY": "",
        "CUSTRISK_KEY": "",
    }
    runner.invoke(app, ["keys", "list"], env=env)
    runner.invoke(app, ["keys", "new"], env=env)  # a new encryption key: the old one stays
    runner.invoke(app, ["keys", "list"], env=env)
    keys = [e["key"] for e in _lines(env)]
    assert keys[0].startswith("hkdf:enc-") and keys[0] == keys[1] != keys[2]
    result = audit.verify_log(tmp_path / "audit.log", load_keyring(keyfile))
    assert result.ok and result.lines == 3


def _keyfile_env(tmp_path: Path) -> dict[str, str]:
    """Auditing on, with the keys of a key file of this test (no key variables)."""
    return {
        "CUSTRISK_AUDIT": "on",
        "CUSTRISK_AUDIT_LOG": str(tmp_path / "audit.log"),
        "CUSTRISK_KEYFILE": str(tmp_path / "keys.json"),
        "CUSTRISK_AUDIT_KEY": "",
        "CUSTRISK_KEY": "",
    }


def test_retiring_the_first_encryption_key_keeps_the_audit_log_verifiable(
    runner: CliRunner, tmp_path: Path
) -> None:
    # a log written as custrisk writes it without an audit key: chained with the key
    # derived from the first encryption key
    env = _keyfile_env(tmp_path)
    keyfile = tmp_path / "keys.json"
    first = new_key(ENCRYPTION)
    add_key(keyfile, first)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "scores.csv").write_text("customer_id\nC001\n", encoding="utf-8")
    (tmp_path / "kept.csv").write_text("customer_id\nC002\n", encoding="utf-8")
    for args in (
        ["encrypt", "--remove", str(tmp_path / "runs" / "scores.csv")],
        ["encrypt", "--remove", str(tmp_path / "kept.csv")],  # not rotated: lost with it
        ["keys", "new"],
        ["keys", "rotate", str(tmp_path / "runs")],
    ):
        assert runner.invoke(app, args, env=env).exit_code == 0
    assert _lines(env)[0]["key"] == f"hkdf:{first.id}"

    retired = runner.invoke(
        app, ["keys", "retire", first.id, "--check", str(tmp_path / "runs")], env=env
    )
    assert retired.exit_code == 0, retired.output
    assert f"Kept hkdf:{first.id}, the audit key derived from {first.id}" in retired.output
    assert "3 line(s) (lines 1-3) of the audit log" in " ".join(retired.output.split())
    verified = runner.invoke(app, ["audit", "verify"], env=env)
    assert verified.exit_code == 0, verified.output
    assert "5 line(s), chain and head intact" in verified.output
    # the encryption secret is gone: what it encrypted and nobody rotated is unreadable
    assert load_keyring(keyfile).get(first.id) is None
    lost = runner.invoke(app, ["decrypt", str(tmp_path / "kept.csv.enc")], env=env)
    assert lost.exit_code == 2 and f"'{first.id}'" in lost.output
    # and the log goes on verifying after the next rotation too
    assert runner.invoke(app, ["keys", "new"], env=env).exit_code == 0
    assert runner.invoke(app, ["audit", "verify"], env=env).exit_code == 0


def test_an_audit_key_the_log_still_needs_is_not_retired(runner: CliRunner, tmp_path: Path) -> None:
    env = _keyfile_env(tmp_path)
    first = new_key(AUDIT)
    add_key(tmp_path / "keys.json", first)
    runner.invoke(app, ["keys", "list"], env=env)
    assert runner.invoke(app, ["keys", "new", "--purpose", "audit"], env=env).exit_code == 0

    refused = runner.invoke(app, ["keys", "retire", first.id], env=env)
    assert refused.exit_code == 1
    assert (
        f"audit key '{first.id}' chains 2 line(s) (lines 1-2) of the audit log "
        f"{tmp_path / 'audit.log'}: without it, custrisk audit verify fails at line 1"
    ) in " ".join(refused.output.split())
    assert load_keyring(tmp_path / "keys.json").get(first.id) is not None
    verified = runner.invoke(app, ["audit", "verify"], env=env)
    assert verified.exit_code == 0, verified.output
    # a log that never used it does not hold it back
    other = tmp_path / "other.log"
    other.write_text("")
    retired = runner.invoke(app, ["keys", "retire", first.id, "--audit-log", str(other)], env=env)
    assert retired.exit_code == 0, retired.output
    assert "No line of the audit log" in retired.output


def test_verify_names_the_encryption_key_a_missing_derived_key_came_from(
    runner: CliRunner, tmp_path: Path
) -> None:
    env = _keyfile_env(tmp_path)
    keyfile = tmp_path / "keys.json"
    first = new_key(ENCRYPTION)
    add_key(keyfile, first)
    runner.invoke(app, ["keys", "list"], env=env)
    add_key(keyfile, new_key(ENCRYPTION))
    # the first key removed by hand (or by a custrisk that did not keep its audit key)
    keys = json.loads(keyfile.read_text(encoding="utf-8"))
    keys["keys"] = [k for k in keys["keys"] if k["id"] != first.id]
    keyfile.write_text(json.dumps(keys), encoding="utf-8")
    result = runner.invoke(app, ["audit", "verify"], env={**env, "CUSTRISK_AUDIT": "off"})
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert f"line 1: its key 'hkdf:{first.id}' is derived from encryption key '{first.id}'" in said
    assert "point CUSTRISK_KEYFILE at a key file that holds" in said
    assert "not verified until the key is found" in said
    assert "damaged log" not in said


def test_a_scoring_run_records_its_files_model_and_rows(
    runner: CliRunner, audit_env: dict[str, str], export_200: Path, models_200: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run" / "scores.csv"
    args = ["score", str(export_200), "--model", "logistic", "--models-dir", str(models_200)]
    result = _run(runner, audit_env, *args, "--out", str(out))
    assert result.exit_code in (0, 1), result.output
    (line,) = _lines(audit_env)
    assert line["command"] == "score" and line["scope"] == "portfolio"
    assert line["rows"]["scores"] == 200  # type: ignore[index]
    assert str(line["model"]).startswith("logistic")
    outputs = {Path(str(e["path"])).name: e for e in line["outputs"]}  # type: ignore[union-attr]
    assert {"scores.csv", "alerts.csv", "scores.run.json"} <= set(outputs)
    facts = json.loads((out.parent / "scores.run.json").read_text(encoding="utf-8"))
    assert outputs["scores.csv"]["sha256"] == facts["files"]["scores"]["sha256"]
    (data,) = [e for e in line["inputs"] if e["path"] == str(export_200)]  # type: ignore[union-attr]
    assert data["files"] == len(list(export_200.iterdir()))
    folder = hashlib.sha256()  # the inputs' digests were taken while they were read
    for file in sorted(p for p in export_200.rglob("*") if p.is_file()):
        name = file.relative_to(export_200).as_posix()
        folder.update(f"{name}\x00{hashlib.sha256(file.read_bytes()).hexdigest()}\n".encode())
    assert data["sha256"] == folder.hexdigest()
    assert (
        outputs["alerts.csv"]["sha256"]
        == hashlib.sha256((out.parent / "alerts.csv").read_bytes()).hexdigest()
    )


_WRITER = textwrap.dedent(
    """
    import sys
    from custrisk.protect import audit
    from custrisk.protect.keys import load_keyring
    log = audit.open_log(load_keyring(), sys.argv[1])
    for n in range(int(sys.argv[2])):
        audit.append(log, {"command": "test", "n": n, "writer": sys.argv[3]})
    """
)


def test_concurrent_writers_interleave_whole_lines_in_one_chain(
    audit_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in audit_env.items():
        monkeypatch.setenv(name, value)
    log = tmp_path / "shared.log"
    env = {**os.environ, **audit_env, "PYTHONPATH": str(SRC)}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(log), "15", f"w{i}"],
            env=env,
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()
    result = audit.verify_log(log, load_keyring())
    assert result.ok, result.problem
    entries = [entry for _, entry in audit.read_entries(log)]
    assert len(entries) == 60
    for i in range(4):
        mine = [e["n"] for e in entries if e["writer"] == f"w{i}"]
        assert mine == list(range(15))


def _trace(runner: CliRunner, env: dict[str, str], *paths: Path) -> tuple[int, str]:
    off = {**env, "CUSTRISK_AUDIT": "off"}
    result = runner.invoke(app, ["audit", "trace", *map(str, paths)], env=off)
    return result.exit_code, " ".join(result.output.split())


def test_trace_vouches_for_a_run_and_catches_a_forgery_its_own_digests_miss(
    runner: CliRunner, audit_env: dict[str, str], export_200: Path, models_200: Path, tmp_path: Path
) -> None:
    """A forger who edits a score and writes the run facts' digests again passes the
    run's own checks; the audit log, kept under a key the forger lacks, recorded what
    custrisk wrote: trace names the edited files, the line that wrote them and its hash."""
    from custrisk.results import facts_digests, read_run

    out = tmp_path / "run" / "scores.csv"
    args = ["score", str(export_200), "--model", "logistic", "--models-dir", str(models_200)]
    assert _run(runner, audit_env, *args, "--out", str(out)).exit_code in (0, 1)  # type: ignore[attr-defined]
    code, said = _trace(runner, audit_env, out, out.parent)
    assert code == 0, said
    assert "run/scores.csv: as custrisk wrote it: line 1 (custrisk score," in said
    # the folder's other files in one line (not its lock file)
    assert "run: 4 file(s) as custrisk wrote them (line 1)" in said
    assert "5 file(s) as custrisk wrote them, by" in said
    # The forgery: a PD edited, the file's digest in the facts and the facts' own digest
    # of that field written again, as anyone who can write the folder can
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    cells = lines[1].split(",")
    cells[2] = "0.000001"
    lines[1] = ",".join(cells)
    out.write_text("".join(lines), encoding="utf-8")
    facts_path = out.parent / "scores.run.json"
    facts = json.loads(facts_path.read_text(encoding="utf-8"))
    recorded = facts["files"]["scores"]["sha256"]
    facts["files"]["scores"].update(
        sha256=hashlib.sha256(out.read_bytes()).hexdigest(), bytes=out.stat().st_size
    )
    facts["facts_sha256"] = facts_digests(facts)
    facts_path.write_text(json.dumps(facts, ensure_ascii=False, indent=2), encoding="utf-8")
    assert read_run(out).scores.iloc[0]["pd"] == pytest.approx(1e-6)  # the run's checks pass
    code, said = _trace(runner, audit_env, out.parent)
    assert code == 1
    assert (
        "run/scores.csv: no line of the log recorded its content" in said
        and "custrisk last wrote it at line 1 (custrisk score," in said
        and f"as {recorded[:12]}…: edited since" in said
    )
    assert "run/scores.run.json: no line of the log recorded its content" in said
    assert "2 of 5 file(s) are not as custrisk wrote them" in said
    assert "run: 3 file(s) as custrisk wrote them (line 1)" in said  # the others
    # --json: a line per file, for a job that files the result (exit 1 all the same)
    off = {**audit_env, "CUSTRISK_AUDIT": "off"}
    result = runner.invoke(app, ["audit", "trace", "--json", str(out.parent)], env=off)
    assert result.exit_code == 1
    found = {Path(d["path"]).name: d for d in map(json.loads, result.stdout.splitlines())}
    assert [found[n]["vouched"] for n in ("scores.csv", "alerts.csv")] == [False, True]
    assert (found["alerts.csv"]["line"], found["alerts.csv"]["command"]) == (1, "score")
    # A line of the log edited to vouch for the forgery: the log vouches for nothing
    log = Path(audit_env["CUSTRISK_AUDIT_LOG"])
    raw = log.read_bytes().replace(recorded.encode(), facts["files"]["scores"]["sha256"].encode())
    log.write_bytes(raw)
    code, said = _trace(runner, audit_env, out)
    assert code == 1 and "line 1: its MAC does not match its content" in said


def test_trace_vouches_for_the_files_forget_rewrote(
    runner: CliRunner, audit_env: dict[str, str], export_200: Path, models_200: Path, tmp_path: Path
) -> None:
    """A deletion request rewrites a run (a new run id, new digests): the forget line
    records the rewritten files, so the run is still vouched for, by that line."""
    runs = tmp_path / "runs"
    out = runs / "2026-10" / "scores.csv"
    args = ["score", str(export_200), "--model", "logistic", "--models-dir", str(models_200)]
    assert _run(runner, audit_env, *args, "--out", str(out)).exit_code in (0, 1)  # type: ignore[attr-defined]
    customer = out.read_text(encoding="utf-8").splitlines()[1].split(",")[0].lstrip("\ufeff")
    result = _run(runner, audit_env, "forget", customer, "--runs", str(runs))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    code, said = _trace(runner, audit_env, out, out.with_name("scores.run.json"), runs)
    assert code == 0, said
    assert "2026-10/scores.csv: as custrisk wrote it: line 2 (custrisk forget," in said
    assert "2026-10/scores.run.json: as custrisk wrote it: line 2 (custrisk forget," in said


def test_a_folder_recorded_whole_vouches_for_its_files_until_one_changes(
    audit_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line that recorded a folder (a report run's PDFs) vouches for a file in it while
    the folder's files are as they were; one edited, added or removed, and the folder's
    files are no longer vouched for, saying which line recorded the folder."""
    from custrisk.protect.trace import trace_files

    for name, value in audit_env.items():
        monkeypatch.setenv(name, value)
    reports = tmp_path / "month" / "reports"
    reports.mkdir(parents=True)
    for name in ("a.pdf", "b.pdf"):
        (reports / name).write_bytes(name.encode() * 100)
    keyring = load_keyring()
    log = audit.open_log(keyring, Path(audit_env["CUSTRISK_AUDIT_LOG"]))
    audit.append(log, {"command": "report", "outputs": [audit.describe_path(reports)]})
    (found,) = trace_files(log.path, [reports / "a.pdf"], keyring)
    assert found.ok and found.by is not None and found.by.folder
    assert "as custrisk wrote it (in the folder" in found.said()
    (reports / "c.pdf").write_bytes(b"added later")
    traces = trace_files(log.path, [reports], keyring)
    assert [t.ok for t in traces] == [False, False, False]
    assert "recorded its folder" in traces[0].said() and "added, removed or edited" in (
        traces[0].said()
    )


def test_trace_vouches_for_an_encrypted_run_its_sealed_facts_included(
    runner: CliRunner, audit_env: dict[str, str], export_200: Path, models_200: Path, tmp_path: Path
) -> None:
    _, value = _env_key(ENCRYPTION)
    env = {**audit_env, "CUSTRISK_KEY": value}
    out = tmp_path / "run" / "scores.csv"
    args = ["score", str(export_200), "--model", "logistic", "--models-dir", str(models_200)]
    result = _run(runner, env, *args, "--out", str(out), "--encrypt")
    assert result.exit_code in (0, 1), result.output  # type: ignore[attr-defined]
    code, said = _trace(runner, env, out.with_name("scores.run.json.enc"), out.parent)
    assert code == 0, said
    assert "run/scores.run.json.enc: as custrisk wrote it: line 1 (custrisk score," in said
    assert "run: 4 file(s) as custrisk wrote them (line 1)" in said


def test_a_command_that_failed_lists_its_outputs_as_not_produced(
    runner: CliRunner, audit_env: dict[str, str], tmp_path: Path
) -> None:
    """A command stopped by an error (exit 2) wrote nothing: its line listed and hashed
    what its output paths held (an earlier run's file, or one edited since) as its
    outputs, for audit show to count as written and a reader to take as its work. The
    paths are kept, unhashed, as not produced, and trace vouches for none of them."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "scores.csv").write_text("customer_id,pd\nC1,0.000001\n", encoding="utf-8")
    result = _run(
        runner, audit_env, "restore", str(tmp_path / "missing.tar.gz"), "--to", str(folder)
    )
    assert result.exit_code == 2  # type: ignore[attr-defined]
    (line,) = _lines(audit_env)
    assert line["exit"] == 2 and "outputs" not in line
    assert line["not_produced"] == [{"path": str(folder)}]  # the record of the attempt
    assert audit_files_column(line) == "1 read, 0 written, 1 not produced"  # audit show
    code, said = _trace(runner, audit_env, folder)
    assert code == 1, said
    assert "run/scores.csv: no line of the log recorded its content" in said


def test_an_older_failed_line_that_hashed_its_outputs_vouches_for_nothing(
    audit_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines written before failed commands listed no outputs still hold hashes of what
    the output paths held: trace does not take them as written by custrisk."""
    from custrisk.protect.trace import trace_files

    for name, value in audit_env.items():
        monkeypatch.setenv(name, value)
    scores = tmp_path / "scores.csv"
    scores.write_text("customer_id,pd\nC1,0.000001\n", encoding="utf-8")
    keyring = load_keyring()
    log = audit.open_log(keyring, Path(audit_env["CUSTRISK_AUDIT_LOG"]))
    described = audit.describe_path(scores)
    audit.append(log, {"command": "score", "exit": 2, "outputs": [described]})
    (found,) = trace_files(log.path, [scores], keyring)
    assert not found.ok
    audit.append(log, {"command": "score", "exit": 1, "outputs": [described]})
    (found,) = trace_files(log.path, [scores], keyring)
    assert found.ok and found.by is not None and found.by.line == 2


def test_forget_is_recorded_as_an_erasure_not_a_read_of_every_customer(
    runner: CliRunner, audit_env: dict[str, str], export_200: Path, models_200: Path, tmp_path: Path
) -> None:
    """forget --runs rewrites every run it finds to erase one customer: its line said
    scope portfolio, so audit show --customer (an access request) listed it for every
    customer as having read their data. It is an erasure: listed for the customer it
    erased only, as such."""
    runs = tmp_path / "runs"
    out = runs / "2026-10" / "scores.csv"
    args = ["score", str(export_200), "--model", "logistic", "--models-dir", str(models_200)]
    assert _run(runner, audit_env, *args, "--out", str(out)).exit_code in (0, 1)  # type: ignore[attr-defined]
    rows = out.read_text(encoding="utf-8").splitlines()[1:3]
    erased, other = (row.split(",")[0].lstrip("\ufeff") for row in rows)
    result = _run(runner, audit_env, "forget", erased, "--runs", str(runs))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert _lines(audit_env)[1]["scope"] == "erasure"
    off = {**audit_env, "CUSTRISK_AUDIT": "off"}
    for customer, expected in (
        (other, [("score", "portfolio")]),
        (erased, [("score", "portfolio"), ("forget", "erased")]),
    ):
        shown = runner.invoke(app, ["audit", "show", "--customer", customer, "--json"], env=off)
        assert shown.exit_code == 0, shown.output
        found = [json.loads(line) for line in shown.output.splitlines()]
        assert [(e["command"], e["match"]) for e in found] == expected


def test_evaluate_records_the_callers_role_and_how_it_read_the_data(
    runner: CliRunner, audit_env: dict[str, str], export_200: Path, models_200: Path
) -> None:
    """evaluate reads every customer's exports but checked no role: its line said role
    "-" (a command that reads no customer data), unlike drift and compare."""
    args = ["evaluate", "logistic", str(export_200), "--labels", str(export_200 / "labels.csv")]
    result = _run(runner, audit_env, *args, "--models-dir", str(models_200))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    (line,) = _lines(audit_env)
    assert line["role"] != "-" and line["facts"]["pii"]  # type: ignore[index]
    assert line["scope"] == "portfolio" and line["model"] == "logistic"


def test_init_records_the_callers_role(
    runner: CliRunner, audit_env: dict[str, str], export_200: Path, tmp_path: Path
) -> None:
    """init reads the exports' first rows (values, to infer types and personal data) but
    checked no role: its line said role "-", as a command that reads no customer data."""
    result = _run(runner, audit_env, "init", str(export_200), "--out", str(tmp_path / "cfg"))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    (line,) = _lines(audit_env)
    assert line["command"] == "init" and line["role"] != "-", line


def test_commands_that_read_no_customer_data_are_not_portfolio_reads(
    runner: CliRunner, audit_env: dict[str, str], tmp_path: Path
) -> None:
    """audit trace, keys rotate/retire and backup verify hash files or read envelope
    headers, never a customer's data: audit show --customer (an access request) listed
    every one of them as having read every customer."""
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "scores.csv").write_text("customer_id\nC1\n", encoding="utf-8")
    _run(runner, audit_env, "audit", "trace", str(folder))
    _run(runner, audit_env, "keys", "rotate", str(folder))
    _run(runner, audit_env, "validate", str(folder))
    lines = _lines(audit_env)
    assert [line["command"] for line in lines] == ["audit trace", "keys rotate", "validate"]
    assert [line.get("scope") for line in lines] == [None, None, "portfolio"]
    assert all(line.get("inputs") for line in lines)  # still hashed


def test_trace_vouches_for_files_keys_rotate_rewrapped_and_not_for_a_forgery(
    runner: CliRunner, audit_env: dict[str, str], tmp_path: Path
) -> None:
    """keys rotate rewrites every encrypted file: trace then called each file of a run
    'edited since'. The rotate line records the new bytes with the old ones; a file is
    vouched for when its old bytes were (a forgery re-wrapped is still named)."""
    folder = tmp_path / "run"
    folder.mkdir()
    for name in ("scores.csv", "forged.csv"):
        (folder / name).write_text("customer_id,pd\nC1,0.1\n", encoding="utf-8")
    assert _run(runner, audit_env, "keys", "new").exit_code == 0  # type: ignore[attr-defined]
    scores = folder / "scores.csv"
    written = _run(runner, audit_env, "encrypt", str(scores), "--out", f"{scores}.enc")
    assert written.exit_code == 0  # type: ignore[attr-defined]
    forged = _run(runner, audit_env, "encrypt", str(folder / "forged.csv"))  # no line records it
    assert forged.exit_code == 0  # type: ignore[attr-defined]
    for name in ("scores.csv", "forged.csv"):
        (folder / name).unlink()
    code, said = _trace(runner, audit_env, folder / "scores.csv.enc")
    assert code == 0, said
    assert _run(runner, audit_env, "keys", "new").exit_code == 0  # type: ignore[attr-defined]
    rotated = _run(runner, audit_env, "keys", "rotate", str(folder))
    assert rotated.exit_code == 0  # type: ignore[attr-defined]
    code, said = _trace(runner, audit_env, folder)
    assert code == 1, said
    assert "run/forged.csv.enc: no line of the log recorded its content" in said
    assert "1 of 2 file(s) are not as custrisk wrote them" in said
    code, said = _trace(runner, audit_env, folder / "scores.csv.enc")
    assert code == 0 and "as custrisk wrote it: line 5 (custrisk keys rotate," in said, said
