"""Encryption at rest: the envelope format, key files, rotation, and the CLI around them."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.errors import ConfigError, DataError, UsageError
from custrisk.protect import (
    DecryptingReader,
    EncryptingWriter,
    Keyring,
    add_key,
    decrypt_file,
    encrypt_file,
    key_id_of,
    load_keyring,
    new_key,
    read_keyfile,
    retire_key,
    rotate_files,
)
from custrisk.protect.envelope import MAGIC, TAG
from custrisk.protect.keys import derive_audit_key

SMALL = 64  # a tiny chunk size, so that tests can cut and swap chunks by hand


def seal(plain: bytes, key, chunk: int = SMALL) -> bytes:  # type: ignore[no-untyped-def]
    sink = io.BytesIO()
    with EncryptingWriter(sink, key, chunk=chunk) as writer:
        writer.write(plain)
    return sink.getvalue()


def opened(sealed: bytes, keyring: Keyring) -> bytes:
    return DecryptingReader(io.BytesIO(sealed), keyring, name="x.enc").read()


def body_offset(sealed: bytes) -> int:
    """Where the first chunk starts: after the magic, the header and the key block."""
    offset = len(MAGIC)
    for _ in range(2):
        (size,) = struct.unpack(">H", sealed[offset : offset + 2])
        offset += 2 + size
    return offset


@pytest.fixture(scope="module")
def key():  # type: ignore[no-untyped-def]
    return new_key("encryption")


@pytest.fixture(scope="module")
def keyring(key) -> Keyring:  # type: ignore[no-untyped-def]
    return Keyring((key,), "test")


@pytest.mark.parametrize("size", [0, 1, SMALL - 1, SMALL, SMALL + 1, 3 * SMALL, 5 * SMALL + 7])
def test_every_size_round_trips_including_chunk_boundaries(size: int, key, keyring) -> None:  # type: ignore[no-untyped-def]
    plain = os.urandom(size)
    sealed = seal(plain, key)
    chunks = max(1, -(-size // SMALL))
    assert len(sealed) == body_offset(sealed) + size + chunks * TAG
    assert opened(sealed, keyring) == plain


def test_written_in_pieces_reads_back_in_pieces(key, keyring) -> None:  # type: ignore[no-untyped-def]
    plain = os.urandom(10_000)
    sink = io.BytesIO()
    with EncryptingWriter(sink, key, chunk=SMALL) as writer:
        for start in range(0, len(plain), 37):
            writer.write(plain[start : start + 37])
    reader = io.BufferedReader(DecryptingReader(io.BytesIO(sink.getvalue()), keyring), 100)
    assert b"".join(iter(lambda: reader.read(13), b"")) == plain


def test_the_same_file_encrypts_differently_each_time(key) -> None:  # type: ignore[no-untyped-def]
    plain = b"customer_id,score\nC001,612\n"
    assert seal(plain, key) != seal(plain, key)


def chunk_at(sealed: bytes, index: int) -> slice:
    start = body_offset(sealed) + index * (SMALL + TAG)
    return slice(start, start + SMALL + TAG)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("cut_at_chunk_boundary", "cut short"),
        ("cut_mid_chunk", "failed authentication"),
        ("swap_chunks", "altered or reordered"),
        ("flip_payload_byte", "altered or reordered"),
        ("drop_middle_chunk", "failed authentication"),
        ("append_bytes", "cut short or altered"),
        ("flip_header_byte", "does not open this file"),
    ],
)
def test_tampering_is_detected(damage: str, expected: str, key, keyring) -> None:  # type: ignore[no-untyped-def]
    plain = os.urandom(4 * SMALL + 10)
    sealed = bytearray(seal(plain, key))
    first, second = chunk_at(sealed, 0), chunk_at(sealed, 1)
    if damage == "cut_at_chunk_boundary":
        sealed = sealed[: chunk_at(sealed, 2).start]
    elif damage == "cut_mid_chunk":
        sealed = sealed[:-5]
    elif damage == "swap_chunks":
        a, b = bytes(sealed[first]), bytes(sealed[second])
        sealed[first], sealed[second] = b, a
    elif damage == "flip_payload_byte":
        sealed[first.start + 3] ^= 0x01
    elif damage == "drop_middle_chunk":
        del sealed[second]
    elif damage == "append_bytes":
        sealed += b"\x00" * 8
    elif damage == "flip_header_byte":
        end = len(MAGIC) + 2 + struct.unpack(">H", sealed[len(MAGIC) : len(MAGIC) + 2])[0]
        assert sealed[end - 2 : end] == b'"}'  # the salt's last hex digit is before it
        sealed[end - 3] = ord("0") if sealed[end - 3] != ord("0") else ord("1")
    with pytest.raises(DataError, match=expected):
        opened(bytes(sealed), keyring)


def test_a_key_block_cannot_be_moved_to_another_file(key, keyring) -> None:  # type: ignore[no-untyped-def]
    one, two = seal(b"a" * 100, key), seal(b"b" * 100, key)
    block_start = len(MAGIC) + 2 + struct.unpack(">H", one[len(MAGIC) : len(MAGIC) + 2])[0]
    grafted = one[:block_start] + two[block_start : body_offset(two)] + one[body_offset(one) :]
    with pytest.raises(DataError, match="does not open this file"):
        opened(grafted, keyring)


def test_a_missing_key_is_named(key) -> None:  # type: ignore[no-untyped-def]
    other = Keyring((new_key("encryption"),), "/keys/other.json")
    with pytest.raises(ConfigError, match=f"needs key '{key.id}'.*/keys/other.json"):
        opened(seal(b"x", key), other)


def test_not_an_encrypted_file_is_said_so(keyring) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match="not a custrisk encrypted file"):
        opened(b"customer_id,score\n", keyring)


# -- key files ---------------------------------------------------------------------------


def test_key_file_is_private_and_keeps_old_keys_readable(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "keys.json"
    first, second = new_key("encryption"), new_key("encryption")
    add_key(path, first)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    add_key(path, second)
    keyring = read_keyfile(path)
    assert keyring.active().id == second.id
    assert keyring.get(first.id) is not None and not keyring.get(first.id).active  # type: ignore[union-attr]
    assert base64.b64encode(first.secret).decode() in path.read_text()


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    add_key(path, new_key("encryption"))
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"read by other users \(mode 0644\).*chmod 600"):
        read_keyfile(path)


def test_damaged_key_files_are_refused_with_the_key_named(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(
        '{"format": 1, "keys": [{"id": "k1", "purpose": "encryption", "secret": "abc"}]}'
    )
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="key 'k1' is not 32 bytes"):
        read_keyfile(path)
    path.write_text("[1, 2")
    with pytest.raises(ConfigError, match="not a custrisk key file"):
        read_keyfile(path)


def test_key_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = new_key("encryption")
    monkeypatch.setenv("CUSTRISK_KEYFILE", str(tmp_path / "absent.json"))
    monkeypatch.setenv("CUSTRISK_KEY", f"{key.id}:{base64.b64encode(key.secret).decode()}")
    keyring = load_keyring()
    assert keyring.active().secret == key.secret
    monkeypatch.setenv("CUSTRISK_KEY", "no-colon-here")
    with pytest.raises(ConfigError, match="CUSTRISK_KEY must be ID:BASE64"):
        load_keyring()


def test_rotation_rewraps_files_and_the_old_key_can_then_be_retired(tmp_path: Path) -> None:
    keyfile = tmp_path / "keys.json"
    old = new_key("encryption")
    add_key(keyfile, old)
    plain = os.urandom(200_000)
    (tmp_path / "run").mkdir()
    source = tmp_path / "run" / "scores.csv"
    source.write_bytes(plain)
    sealed = encrypt_file(source, key=read_keyfile(keyfile).active())
    assert key_id_of(sealed) == old.id
    with pytest.raises(UsageError, match="is the active encryption key"):
        retire_key(keyfile, old.id)

    new = new_key("encryption")
    add_key(keyfile, new)
    result = rotate_files([tmp_path / "run"], read_keyfile(keyfile))
    assert result.rotated == [sealed] and result.old_keys == {old.id: 1}
    assert key_id_of(sealed) == new.id
    retire_key(keyfile, old.id)
    assert (
        decrypt_file(sealed, tmp_path / "back.csv", keyring=read_keyfile(keyfile)).read_bytes()
        == plain
    )
    again = rotate_files([tmp_path / "run"], read_keyfile(keyfile))
    assert again.rotated == [] and again.current == [sealed]


def test_a_retired_encryption_key_leaves_only_its_audit_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyfile = tmp_path / "keys.json"
    old, new = new_key("encryption"), new_key("encryption")
    add_key(keyfile, old)
    add_key(keyfile, new)
    retired = retire_key(keyfile, old.id)
    assert retired.key.id == old.id and retired.kept is not None
    assert retired.kept.id == f"hkdf:{old.id}" and retired.kept.purpose == "audit"
    assert retired.kept.secret == derive_audit_key(old).secret != old.secret
    keyring = read_keyfile(keyfile)
    assert [key.id for key in keyring.keys] == [f"hkdf:{old.id}", new.id]
    assert not keyring.keys[0].active and keyring.active().id == new.id
    assert base64.b64encode(old.secret).decode() not in keyfile.read_text()
    # the kept key travels as a variable like any other audit key
    encoded = base64.b64encode(retired.kept.secret).decode()
    monkeypatch.setenv("CUSTRISK_AUDIT_KEY", f"hkdf:{old.id}:{encoded}")
    monkeypatch.setenv("CUSTRISK_KEYFILE", str(tmp_path / "absent.json"))
    assert load_keyring().active("audit").secret == retired.kept.secret


# -- the command line --------------------------------------------------------------------


@pytest.fixture()
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    keyfile = tmp_path / "keys.json"
    monkeypatch.setenv("CUSTRISK_KEYFILE", str(keyfile))
    monkeypatch.delenv("CUSTRISK_KEY", raising=False)
    return keyfile


def test_cli_encrypt_decrypt_round_trip_and_failures(tmp_path: Path, cli_env: Path) -> None:
    runner = CliRunner()
    clear = tmp_path / "alerts.csv"
    clear.write_text("customer_id,name\nC001,张伟\n", encoding="utf-8")

    missing = runner.invoke(app, ["encrypt", str(clear)])
    assert missing.exit_code == 2 and "custrisk keys new" in missing.output

    made = runner.invoke(app, ["keys", "new"])
    assert made.exit_code == 0, made.output
    key_id = read_keyfile(cli_env).active().id
    assert (
        key_id in made.output
        and base64.b64encode(read_keyfile(cli_env).active().secret).decode() not in made.output
    )

    done = runner.invoke(app, ["encrypt", str(clear), "--remove"])
    assert done.exit_code == 0, done.output
    sealed = tmp_path / "alerts.csv.enc"
    assert not clear.exists() and "张伟".encode() not in sealed.read_bytes()
    assert stat.S_IMODE(sealed.stat().st_mode) == 0o600

    back = runner.invoke(app, ["decrypt", str(sealed)])
    assert back.exit_code == 0, back.output
    assert clear.read_text(encoding="utf-8") == "customer_id,name\nC001,张伟\n"

    # an existing output is never replaced silently: an edited clear file, a kept copy
    clear.write_text("customer_id,name\nC001,张伟\nC002,李娜\n", encoding="utf-8")
    before = sealed.read_bytes()
    again = runner.invoke(app, ["decrypt", str(sealed)])
    assert again.exit_code == 2 and "exists already: nothing was written" in again.output
    assert "C002" in clear.read_text(encoding="utf-8")
    twice = runner.invoke(app, ["encrypt", str(clear)])
    assert twice.exit_code == 2 and "--force" in twice.output and sealed.read_bytes() == before
    forced = runner.invoke(app, ["encrypt", str(clear), "--force"])
    assert forced.exit_code == 0 and sealed.read_bytes() != before
    assert runner.invoke(app, ["decrypt", str(sealed), "--force"]).exit_code == 0

    listed = runner.invoke(app, ["keys", "list"])
    assert key_id in listed.output and "yes" in listed.output

    damaged = bytearray(sealed.read_bytes())
    damaged[-3] ^= 0xFF
    sealed.write_bytes(bytes(damaged))
    clear.unlink()
    refused = runner.invoke(app, ["decrypt", str(sealed)])
    assert refused.exit_code == 2 and "failed authentication" in refused.output
    assert not clear.exists(), "no partial plaintext is left behind"

    cli_env.unlink()
    add_key(cli_env, new_key("encryption"))
    unknown = runner.invoke(app, ["decrypt", str(sealed)])
    assert unknown.exit_code == 2 and f"needs key '{key_id}'" in unknown.output


@pytest.mark.parametrize(
    ("purpose", "said"),
    [
        ("encryption", "what it encrypts cannot be read without it"),
        ("pseudonym", "the same customers get other tokens"),
        ("audit", "custrisk audit verify fails"),
    ],
)
def test_cli_new_key_says_what_losing_a_key_of_its_purpose_means(
    cli_env: Path, purpose: str, said: str
) -> None:
    """A pseudonym or audit key encrypts nothing: "what it encrypts cannot be read" was
    the encryption key's warning given for every purpose."""
    from custrisk.protect.keys import PURPOSES

    assert purpose in PURPOSES
    made = CliRunner().invoke(app, ["keys", "new", "--purpose", purpose])
    assert made.exit_code == 0, made.output
    advice = " ".join(made.output.split()).split("Back up the key file: ", 1)[1]
    assert said in advice
    assert ("encrypts" in advice) == (purpose == "encryption")


def test_cli_retire_refuses_while_files_use_the_key(tmp_path: Path, cli_env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["keys", "new"]).exit_code == 0
    old = read_keyfile(cli_env).active().id
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "scores.csv").write_text("a\n")
    assert runner.invoke(app, ["encrypt", str(tmp_path / "runs" / "scores.csv")]).exit_code == 0
    assert runner.invoke(app, ["keys", "new"]).exit_code == 0
    refused = runner.invoke(app, ["keys", "retire", old, "--check", str(tmp_path / "runs")])
    assert refused.exit_code == 1 and "still use key" in refused.output
    rotated = runner.invoke(app, ["keys", "rotate", str(tmp_path / "runs")])
    assert rotated.exit_code == 0 and "Rotated 1 file(s)" in rotated.output
    retired = runner.invoke(app, ["keys", "retire", old, "--check", str(tmp_path / "runs")])
    assert retired.exit_code == 0, retired.output
    assert read_keyfile(cli_env).get(old) is None
    exported = runner.invoke(app, ["keys", "export", read_keyfile(cli_env).active().id])
    assert exported.output.strip().startswith(read_keyfile(cli_env).active().id + ":")


def test_cli_decrypt_names_a_missing_or_clear_file_as_such(tmp_path: Path, cli_env: Path) -> None:
    """decrypt of a path that is not there said "not a custrisk encrypted file", and of a
    clear file "exists already" (its own name): each now says what it is, with the fix."""
    runner = CliRunner()
    add_key(cli_env, new_key("encryption"))
    missing = runner.invoke(app, ["decrypt", str(tmp_path / "scores.csv.enc")])
    assert missing.exit_code == 2
    assert "scores.csv.enc: no such file; check the path" in " ".join(missing.output.split())
    clear = tmp_path / "scores.csv"
    clear.write_text("customer_id\nC1\n", encoding="utf-8")
    plain = runner.invoke(app, ["decrypt", str(clear)])
    assert plain.exit_code == 2 and "exists already" not in plain.output
    assert "not a custrisk encrypted file" in plain.output and "custrisk encrypt" in plain.output
    assert clear.read_text(encoding="utf-8") == "customer_id\nC1\n"


def test_rotate_leaves_the_files_a_model_card_lists(tmp_path: Path, cli_env: Path) -> None:
    """keys rotate models/ (as docs/security.md says) re-wrapped a model's
    training_rejects.csv.enc, whose SHA-256 the card records: the model then failed its
    checks and every score with it was refused. Such files are left (and said so), and
    retire names them with the way out."""
    runner = CliRunner()
    assert runner.invoke(app, ["keys", "new"]).exit_code == 0
    old = read_keyfile(cli_env).active().id
    model = tmp_path / "models" / "retail" / "1"
    model.mkdir(parents=True)
    run = tmp_path / "runs"
    run.mkdir()
    for clear in (model / "training_rejects.csv", run / "scores.csv"):
        clear.write_text("customer_id\nC1\n", encoding="utf-8")
        assert runner.invoke(app, ["encrypt", str(clear), "--remove"]).exit_code == 0
    sealed = model / "training_rejects.csv.enc"
    card = {"files": {sealed.name: {"sha256": "x", "bytes": sealed.stat().st_size}}}
    (model / "model.json").write_text(json.dumps(card), encoding="utf-8")
    before = sealed.read_bytes()
    assert runner.invoke(app, ["keys", "new"]).exit_code == 0
    rotated = runner.invoke(app, ["keys", "rotate", str(tmp_path / "models"), str(run)])
    said = " ".join(rotated.output.split())
    assert rotated.exit_code == 0 and "Rotated 1 file(s)" in said, said
    assert "left 1 file(s) of model folders" in said and sealed.read_bytes() == before
    retire = runner.invoke(app, ["keys", "retire", old, "--check", str(tmp_path / "models")])
    said = " ".join(retire.output.split())
    assert retire.exit_code == 1 and "keep the key while you keep that model" in said
