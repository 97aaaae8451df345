"""Backups: archived with a manifest, verified, restored only when every member checks."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.errors import UsageError
from custrisk.protect.backup import backup_sources, create_backup, verify_backup
from custrisk.protect.keys import ENCRYPTION, Keyring, new_key


@pytest.fixture
def no_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"CUSTRISK_KEYFILE": str(tmp_path / "no-keys.json"), "CUSTRISK_KEY": ""}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def with_key(no_keys: dict[str, str]) -> dict[str, str]:
    key = new_key(ENCRYPTION)
    return {**no_keys, "CUSTRISK_KEY": f"{key.id}:{base64.b64encode(key.secret).decode()}"}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A folder with models, runs and configs (and a link that must not be followed)."""
    root = tmp_path / "ws"
    (root / "models" / "retail" / "1").mkdir(parents=True)
    (root / "models" / "retail" / "1" / "model.joblib").write_bytes(bytes(range(256)) * 300)
    (root / "runs" / "2026-10").mkdir(parents=True)
    (root / "runs" / "2026-10" / "scores.csv").write_text("customer_id,score\nC1,612\n")
    (root / "configs").mkdir()
    (root / "configs" / "policy.yaml").write_text("version: 1\n", encoding="utf-8")
    (root / "runs" / "secret-link").symlink_to("/etc/hostname")
    return root


def _backup(runner: CliRunner, env: dict[str, str], ws: Path, out: Path, *extra: str) -> Path:
    args = ["backup", "--out", str(out), "--models", str(ws / "models")]
    args += ["--runs", str(ws / "runs"), "--configs", str(ws / "configs"), *extra]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    (archive,) = [p for p in out.iterdir() if not p.name.endswith(".sha256")]
    assert (out / f"{archive.name}.sha256").is_file()
    return archive


def _flip(path: Path, at: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0x10
    path.write_bytes(bytes(data))


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "encrypted"])
def test_backup_then_restore_gives_every_file_back(
    runner: CliRunner,
    workspace: Path,
    tmp_path: Path,
    no_keys: dict[str, str],
    with_key: dict[str, str],
    keyed: bool,
) -> None:
    env = with_key if keyed else no_keys
    archive = _backup(runner, env, workspace, tmp_path / "backups")
    assert archive.name.endswith(".tar.gz.enc" if keyed else ".tar.gz")
    assert archive.stat().st_mode & 0o777 == 0o600
    result = runner.invoke(app, ["backup", "verify", str(archive)], env=env)
    assert result.exit_code == 0, result.output
    assert "3 file(s)" in result.output
    result = runner.invoke(app, ["restore", str(archive), "--to", str(tmp_path / "r")], env=env)
    assert result.exit_code == 0, result.output
    restored = _tree(tmp_path / "r")
    original = {k: v for k, v in _tree(workspace).items() if k != "runs/secret-link"}
    assert restored == original
    assert "runs/secret-link" not in restored  # links are left out, never followed
    if keyed:
        assert b"customer_id,score" not in archive.read_bytes()


@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "encrypted"])
@pytest.mark.parametrize("at", [0.3, 0.6, 0.98])
def test_a_corrupted_byte_is_refused_and_nothing_is_written(
    runner: CliRunner,
    workspace: Path,
    tmp_path: Path,
    no_keys: dict[str, str],
    with_key: dict[str, str],
    keyed: bool,
    at: float,
) -> None:
    env = with_key if keyed else no_keys
    archive = _backup(runner, env, workspace, tmp_path / "backups")
    _flip(archive, at)
    target = tmp_path / "restored"
    result = runner.invoke(app, ["restore", str(archive), "--to", str(target)], env=env)
    assert result.exit_code == 2, result.output
    assert "member '" in result.output and "nothing was restored" in result.output
    assert "Traceback" not in result.output
    assert not target.exists()
    assert not list(tmp_path.glob(".custrisk-restore-*"))
    result = runner.invoke(app, ["backup", "verify", str(archive)], env=env)
    assert result.exit_code == 1  # (a check that found a problem, as models verify)


def test_a_member_rewritten_with_its_size_is_named(
    workspace: Path, tmp_path: Path, no_keys: dict[str, str]
) -> None:
    result = create_backup({"configs": workspace / "configs"}, tmp_path / "b")
    members = _read_members(result.archive)
    members["configs/policy.yaml"] = b"version: 9\n"  # same size, other bytes
    _write_members(result.archive, members)
    with pytest.raises(Exception, match=r"member 'configs/policy.yaml' does not match"):
        verify_backup(result.archive)


def _read_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]


def _write_members(
    path: Path, members: dict[str, bytes], links: dict[str, str] | None = None
) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _manifest(members: dict[str, bytes]) -> bytes:
    import hashlib

    files = {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "mode": 0o600}
        for name, data in members.items()
    }
    return json.dumps({"format": 1, "files": files}).encode()


@pytest.mark.parametrize(
    ("members", "links", "message"),
    [
        ({"../evil.txt": b"x"}, None, "member '../evil.txt' has an unsafe"),
        ({"/tmp/evil.txt": b"x"}, None, "member '/tmp/evil.txt' has an unsafe"),
        ({"runs/../../evil.txt": b"x"}, None, "has an unsafe"),
        ({"elsewhere/x.txt": b"x"}, None, "member 'elsewhere/x.txt' has an unsafe"),
        ({}, {"runs/link": "/etc/passwd"}, "member 'runs/link' is a link"),
    ],
    ids=["dotdot", "absolute", "inner-dotdot", "outside-parts", "symlink"],
)
def test_hostile_member_names_are_refused_before_anything_is_written(
    runner: CliRunner,
    tmp_path: Path,
    no_keys: dict[str, str],
    members: dict[str, bytes],
    links: dict[str, str] | None,
    message: str,
) -> None:
    archive = tmp_path / "hostile.tar.gz"
    content = {"runs/ok.csv": b"a\n", **members}
    _write_members(archive, {**content, "MANIFEST.json": _manifest(content)}, links)
    target = tmp_path / "r"
    result = runner.invoke(app, ["restore", str(archive), "--to", str(target)], env=no_keys)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not target.exists() and not (tmp_path.parent / "evil.txt").exists()


def test_unlisted_and_missing_members_are_refused(tmp_path: Path, no_keys: dict[str, str]) -> None:
    listed = {"runs/a.csv": b"a\n", "runs/b.csv": b"b\n"}
    archive = tmp_path / "a.tar.gz"
    _write_members(archive, {"runs/a.csv": b"a\n", "MANIFEST.json": _manifest(listed)})
    with pytest.raises(Exception, match=r"member 'runs/b.csv' is listed in the manifest but not"):
        verify_backup(archive)
    _write_members(
        archive,
        {**listed, "runs/c.csv": b"c\n", "MANIFEST.json": _manifest(listed)},
    )
    with pytest.raises(Exception, match=r"member 'runs/c.csv' is not listed"):
        verify_backup(archive)
    _write_members(archive, listed)
    with pytest.raises(Exception, match=r"ends after member 'runs/b.csv' without its MANIFEST"):
        verify_backup(archive)


def test_missing_members_are_named_apart_from_changed_ones(
    runner: CliRunner, tmp_path: Path, no_keys: dict[str, str]
) -> None:
    listed = {f"runs/{n}.csv": f"{n}\n".encode() for n in "abcdef"}
    archive = tmp_path / "a.tar.gz"
    _write_members(archive, {"runs/a.csv": b"a\n", "MANIFEST.json": _manifest(listed)})
    result = runner.invoke(app, ["backup", "verify", str(archive)], env=no_keys)
    said = " ".join(result.output.split())
    assert result.exit_code == 1
    assert (
        "members 'runs/b.csv', 'runs/c.csv', 'runs/d.csv' and 2 more are listed in the "
        "manifest but not in the archive"
    ) in said
    assert "damaged" not in said and "SHA-256" not in said
    _write_members(archive, {**listed, "runs/b.csv": b"B\n", "MANIFEST.json": _manifest(listed)})
    result = runner.invoke(app, ["backup", "verify", str(archive)], env=no_keys)
    assert result.exit_code == 1
    assert "member 'runs/b.csv' does not match its SHA-256" in " ".join(result.output.split())


def test_a_missing_archive_is_said_missing_not_damaged(
    runner: CliRunner, workspace: Path, tmp_path: Path, no_keys: dict[str, str]
) -> None:
    archive = _backup(runner, no_keys, workspace, tmp_path / "b")
    moved = archive.rename(tmp_path / archive.name)
    result = runner.invoke(app, ["backup", "verify", str(archive)], env=no_keys)
    said = " ".join(result.output.split())
    assert result.exit_code == 2
    assert f"{archive}: backup archive not found (its checksum file {archive.name}.sha256" in said
    assert "damaged" not in said and "member" not in said
    restored = runner.invoke(app, ["restore", str(archive), "--to", str(tmp_path / "r")])
    assert restored.exit_code == 2 and "backup archive not found" in restored.output
    moved.rename(archive)
    folder = runner.invoke(app, ["backup", "verify", str(archive.parent)], env=no_keys)
    assert folder.exit_code == 2
    assert (
        f"is a folder, not a backup archive; name one of its archives (the newest: "
        f"{archive.name})" in " ".join(folder.output.split())
    )


def test_restore_never_writes_into_a_folder_that_holds_files(
    runner: CliRunner, workspace: Path, tmp_path: Path, no_keys: dict[str, str]
) -> None:
    archive = _backup(runner, no_keys, workspace, tmp_path / "b")
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["restore", str(archive), "--to", str(target)], env=no_keys)
    assert result.exit_code == 2
    assert "exists and is not empty" in result.output
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_an_encrypted_archive_without_its_key_names_the_key(
    runner: CliRunner,
    workspace: Path,
    tmp_path: Path,
    no_keys: dict[str, str],
    with_key: dict[str, str],
) -> None:
    archive = _backup(runner, with_key, workspace, tmp_path / "b")
    result = runner.invoke(app, ["backup", "verify", str(archive)], env=no_keys)
    assert result.exit_code == 2
    assert "encrypted and no key is available" in result.output
    assert "damaged" not in result.output
    other = Keyring((new_key(ENCRYPTION),), "another key file")
    with pytest.raises(Exception, match=r"needs key 'enc-"):
        verify_backup(archive, other)


def test_backup_encrypt_without_a_key_is_refused(
    runner: CliRunner, workspace: Path, tmp_path: Path, no_keys: dict[str, str]
) -> None:
    args = ["backup", "--out", str(tmp_path / "b"), "--configs", str(workspace / "configs")]
    result = runner.invoke(app, [*args, "--encrypt"], env=no_keys)
    assert result.exit_code == 2
    assert "key file not found" in result.output
    result = runner.invoke(app, ["backup"], env=no_keys)
    assert result.exit_code == 2 and "needs --out" in result.output


def test_backup_restore_then_rescoring_gives_identical_outputs(
    runner: CliRunner,
    export_200: Path,
    models_200: Path,
    tmp_path: Path,
    with_key: dict[str, str],
) -> None:
    def score(models: Path, out: Path) -> None:
        args = ["score", str(export_200), "--model", "logistic", "--models-dir", str(models)]
        result = runner.invoke(app, [*args, "--out", str(out)], env=with_key)
        assert result.exit_code in (0, 1), result.output

    runs = tmp_path / "runs"
    score(models_200, runs / "2026-10" / "scores.csv")
    # (--models-dir, as train and score name the registry, is --models)
    args = ["backup", "--out", str(tmp_path / "b"), "--models-dir", str(models_200)]
    result = runner.invoke(app, [*args, "--runs", str(runs)], env=with_key)
    assert result.exit_code == 0, result.output
    (archive,) = (tmp_path / "b").glob("*.enc")
    restored = tmp_path / "restored"
    result = runner.invoke(app, ["restore", str(archive), "--to", str(restored)], env=with_key)
    assert result.exit_code == 0, result.output
    score(restored / "models", tmp_path / "again" / "scores.csv")
    before = _tree(runs / "2026-10")
    assert _tree(restored / "runs" / "2026-10") == before
    again = _tree(tmp_path / "again")
    for name in ("scores.csv", "alerts.csv", "scores.details.parquet", "scores.run.json"):
        assert again[name] == before[name], name


def test_a_byte_no_member_covers_is_caught_by_the_checksum_file(
    workspace: Path, tmp_path: Path, no_keys: dict[str, str]
) -> None:
    result = create_backup({"configs": workspace / "configs"}, tmp_path / "b")
    data = bytearray(result.archive.read_bytes())
    data[5] ^= 0x01  # the gzip header's timestamp: no member and no CRC covers it
    result.archive.write_bytes(bytes(data))
    with pytest.raises(Exception, match=r"SHA-256 differs from custrisk-backup-.*\.sha256"):
        verify_backup(result.archive)


@pytest.mark.parametrize("sealed_archive", [True, False], ids=["encrypted", "no-encrypt"])
def test_an_encrypted_run_is_never_written_in_clear_by_backup_and_restore(
    runner: CliRunner,
    export_200: Path,
    models_200: Path,
    tmp_path: Path,
    with_key: dict[str, str],
    sealed_archive: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a key configured: the archive of an encrypted run holds no customer id in
    clear (not even inside the gzip stream of a --no-encrypt archive: the run's files are
    archived as they are), and restore gives the encrypted files back byte for byte,
    still encrypted, readable with the key."""
    from custrisk.protect import is_encrypted
    from custrisk.protect.output import protected_outputs
    from custrisk.results import read_run

    monkeypatch.setenv("CUSTRISK_KEY", with_key["CUSTRISK_KEY"])  # read_run here too
    month = tmp_path / "runs" / "2026-10"
    args = ["score", str(export_200), "--model", "logistic", "--models-dir", str(models_200)]
    result = runner.invoke(
        app, [*args, "--out", str(month / "scores.csv"), "--encrypt"], env=with_key
    )
    assert result.exit_code in (0, 1), result.output
    with protected_outputs():
        original = read_run(month)
    ids = [i.encode() for i in original.scores["customer_id"]]
    flag = ["--encrypt"] if sealed_archive else ["--no-encrypt"]
    backup = ["backup", "--out", str(tmp_path / "b"), "--runs", str(tmp_path / "runs"), *flag]
    result = runner.invoke(app, backup, env=with_key)
    assert result.exit_code == 0, result.output
    (archive,) = [p for p in (tmp_path / "b").iterdir() if not p.name.endswith(".sha256")]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted(
        [archive.name, f"{archive.name}.sha256"]
    )  # no temporary file left beside it
    assert archive.name.endswith(".tar.gz.enc" if sealed_archive else ".tar.gz")
    if sealed_archive:
        assert is_encrypted(archive)
    else:
        import re

        from custrisk.protect.envelope import MAGIC_PREFIX

        with tarfile.open(archive, "r:gz") as tar:
            members = {
                m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers()
                if m.isfile()
            }
        run_files = [n for n in members if n.startswith("runs/") and "/." not in n]
        assert "runs/2026-10/scores.csv.enc" in run_files  # the check can fail
        assert all(members[n].startswith(MAGIC_PREFIX) for n in run_files), run_files
        word = re.compile(rb"(?<![0-9])(" + b"|".join(ids) + rb")(?![0-9])")
        assert not [n for n, data in members.items() if word.search(data)]
    if sealed_archive:
        assert not [i for i in ids if i in archive.read_bytes()]
    restored = tmp_path / "restored"
    result = runner.invoke(app, ["restore", str(archive), "--to", str(restored)], env=with_key)
    assert result.exit_code == 0, result.output
    back = _tree(restored / "runs" / "2026-10")
    assert back == _tree(month)
    files = [p for p in (restored / "runs" / "2026-10").iterdir() if not p.name.startswith(".")]
    assert files and all(p.name.endswith(".enc") and is_encrypted(p) for p in files)
    with protected_outputs():
        again = read_run(restored / "runs" / "2026-10")
    assert again.run_id == original.run_id


def test_rotating_the_key_of_a_backup_keeps_it_verifiable_and_restorable(
    runner: CliRunner, workspace: Path, tmp_path: Path, no_keys: dict[str, str]
) -> None:
    """The rotate-then-retire sequence of docs/security.md over a backups folder: the
    checksum file follows the archive's new bytes (sha256sum -c agrees), so the backup
    still verifies and restores once the old key is retired."""
    import hashlib

    assert runner.invoke(app, ["keys", "new"], env=no_keys).exit_code == 0
    archive = _backup(runner, no_keys, workspace, tmp_path / "backups")
    other = _backup(runner, no_keys, workspace, tmp_path / "altered")
    sidecar = other.with_name(other.name + ".sha256")
    sidecar.write_text("0" * 64 + f"  {other.name}\n", encoding="ascii")
    before = archive.read_bytes()
    assert runner.invoke(app, ["keys", "new"], env=no_keys).exit_code == 0
    result = runner.invoke(
        app, ["keys", "rotate", str(tmp_path / "backups"), str(other)], env=no_keys
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "Rewrote 1 backup checksum file(s)" in said
    # a checksum that did not match before is not made to match now
    assert f"{sidecar} did not match its archive" in said
    assert sidecar.read_text(encoding="ascii").startswith("0" * 64)
    assert archive.read_bytes() != before
    digest, name = archive.with_name(archive.name + ".sha256").read_text("ascii").split()
    assert (digest, name) == (hashlib.sha256(archive.read_bytes()).hexdigest(), archive.name)
    keys = json.loads(Path(no_keys["CUSTRISK_KEYFILE"]).read_text(encoding="utf-8"))
    old = [k["id"] for k in keys["keys"] if not k.get("active")]
    retire = ["keys", "retire", *old, "--check", str(tmp_path / "backups")]
    assert runner.invoke(app, retire, env=no_keys).exit_code == 0
    result = runner.invoke(app, ["backup", "verify", str(archive)], env=no_keys)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["restore", str(archive), "--to", str(tmp_path / "r")], env=no_keys)
    assert result.exit_code == 0, result.output
    assert _tree(tmp_path / "r")["runs/2026-10/scores.csv"] == b"customer_id,score\nC1,612\n"


def test_retire_refuses_a_key_the_files_sealed_inside_a_backup_still_use(
    runner: CliRunner, workspace: Path, tmp_path: Path, no_keys: dict[str, str]
) -> None:
    """keys rotate re-wraps a backup archive, not the encrypted runs inside it: retire
    --check on the backups folder said none used the old key and removed it, and the
    restored runs could never be read again."""
    assert runner.invoke(app, ["keys", "new"], env=no_keys).exit_code == 0
    scores = workspace / "runs" / "2026-10" / "scores.csv"
    assert runner.invoke(app, ["encrypt", str(scores), "--remove"], env=no_keys).exit_code == 0
    _backup(runner, no_keys, workspace, tmp_path / "backups")
    keyfile = Path(no_keys["CUSTRISK_KEYFILE"])
    (old,) = [k["id"] for k in json.loads(keyfile.read_text(encoding="utf-8"))["keys"]]
    assert runner.invoke(app, ["keys", "new"], env=no_keys).exit_code == 0
    rotate = ["keys", "rotate", str(tmp_path / "backups"), str(workspace / "runs")]
    assert runner.invoke(app, rotate, env=no_keys).exit_code == 0
    retire = ["keys", "retire", old, "--check", str(tmp_path / "backups")]
    refused = runner.invoke(app, [*retire, "--check", str(workspace / "runs")], env=no_keys)
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1, said
    assert "holds 1 file(s) encrypted with key" in said and "runs/2026-10/scores.csv.enc" in said
    assert old in keyfile.read_text(encoding="utf-8")  # kept


def test_backup_sources_take_the_named_parts_and_the_default_places_that_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CUSTRISK_MODELS_DIR", str(tmp_path / "registry"))
    monkeypatch.setenv("CUSTRISK_AUDIT_LOG", str(tmp_path / "no-audit.log"))
    (tmp_path / "registry").mkdir()
    (tmp_path / "runs").mkdir()
    (tmp_path / "mine").mkdir()
    named = {"models": None, "runs": None, "configs": tmp_path / "mine", "audit": None}
    assert backup_sources(named) == {
        "models": tmp_path / "registry",  # $CUSTRISK_MODELS_DIR, as the registry reads
        "runs": Path("runs"),
        "configs": tmp_path / "mine",
    }  # (no ./configs looked for, no audit log there)
    for folder in ("registry", "runs", "mine"):
        (tmp_path / folder).rmdir()
    with pytest.raises(UsageError, match="nothing to back up"):
        backup_sources({})


def test_a_batchs_run_yaml_is_backed_up_with_the_configs_it_names(
    runner: CliRunner, tmp_path: Path, no_keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cron layout (docs/cron.md): run.yaml and its configs beside it, no ./configs.
    A backup there archived models, runs and the audit log only, saying nothing."""
    root = tmp_path / "srv"
    (root / "models").mkdir(parents=True)
    (root / "models" / "m.json").write_text("{}", encoding="utf-8")
    (root / "rules").mkdir()
    (root / "rules" / "policy.yaml").write_text("version: 1\n", encoding="utf-8")
    (root / "run.yaml").write_text(
        "version: 1\nexports: exports/{period}\nmodel: m\npolicy: rules/policy.yaml\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(root)
    monkeypatch.setenv("CUSTRISK_MODELS_DIR", str(root / "models"))
    monkeypatch.setenv("CUSTRISK_AUDIT_LOG", str(tmp_path / "no-audit.log"))
    plain = runner.invoke(app, ["backup", "--out", str(tmp_path / "b1")], env=no_keys)
    assert plain.exit_code == 0, plain.output
    assert "Note: no configs archived: there is no ./configs here" in plain.stderr
    assert "--run RUN.yaml" in plain.stderr
    result = runner.invoke(
        app, ["backup", "--out", str(tmp_path / "b2"), "--run", "run.yaml"], env=no_keys
    )
    assert result.exit_code == 0, result.output
    assert "run 2" in result.stdout and "no configs archived" not in result.stderr
    (archive,) = (tmp_path / "b2").glob("*.tar.gz")
    restored = runner.invoke(app, ["restore", str(archive), "--to", str(tmp_path / "r")])
    assert restored.exit_code == 0, restored.output
    assert _tree(tmp_path / "r") == {
        "models/m.json": b"{}",
        "run/run.yaml": (root / "run.yaml").read_bytes(),
        "run/rules/policy.yaml": b"version: 1\n",
    }
    # restore said nothing about putting them back beside runs/ (docs/cron.md says to)
    note = " ".join(restored.stderr.split())
    assert f"Note: the batch's RUN.yaml and configs are under {tmp_path / 'r' / 'run'}" in note
    assert "(rules/policy.yaml, run.yaml): copy them back beside" in note
    plain_restore = runner.invoke(
        app, ["restore", str(next((tmp_path / "b1").glob("*.tar.gz"))), "--to", "r1"]
    )
    assert plain_restore.exit_code == 0 and "Note:" not in plain_restore.stderr
