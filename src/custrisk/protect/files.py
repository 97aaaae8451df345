"""Whole files in and out of the envelope: encrypt, decrypt, rotate, written atomically."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from custrisk.errors import DataError, UsageError
from custrisk.io.atomic import atomic_open
from custrisk.protect.audit import audit_event
from custrisk.protect.backup import checksum_file, sha256_file, stated_checksum, write_checksum
from custrisk.protect.envelope import (
    SUFFIX,
    EncryptingWriter,
    copy_stream,
    encrypted_name,
    is_encrypted,
    key_id_of,
    open_decrypted,
    plain_name,
    rewrap,
)
from custrisk.protect.keys import ENCRYPTION, Key, Keyring, load_keyring
from custrisk.protect.roles import DECRYPT, require


def encrypt_file(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str] | None = None,
    *,
    key: Key,
) -> Path:
    """Encrypt ``source`` into ``target`` (default ``source`` + ``.enc``), atomically,
    mode 0600. The source is left in place: removing it is the caller's decision."""
    source = Path(source)
    if is_encrypted(source):
        raise UsageError(f"{source} is already encrypted (key '{key_id_of(source)}')")
    out = Path(target) if target is not None else encrypted_name(source)
    if out.resolve() == source.resolve():
        raise UsageError(f"{source}: the encrypted copy needs another name", hint="use --out")
    with (
        open(source, "rb") as plain,
        atomic_open(out, "wb", sensitive=False) as sink,
        EncryptingWriter(sink, key) as writer,
    ):
        copy_stream(plain, writer)
    return out


def require_encrypted(source: str | os.PathLike[str]) -> Path:
    """``source``, refused in one line when it is missing, a folder or not encrypted."""
    source = Path(source)
    if not source.exists():
        raise DataError("no such file", file=str(source), hint="check the path")
    if source.is_dir():
        raise DataError(
            "is a folder, not an encrypted file", file=str(source), hint="name the .enc files in it"
        )
    if not is_encrypted(source):
        raise DataError(
            "not a custrisk encrypted file (it does not start with CRSKENC): nothing to decrypt",
            file=str(source),
            hint="name the .enc file custrisk wrote (custrisk encrypt FILE makes one)",
        )
    return source


def decrypt_file(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str] | None = None,
    *,
    keyring: Keyring,
) -> Path:
    """Decrypt ``source`` into ``target`` (default: without ``.enc``), atomically, mode 0600.

    Nothing is written unless every chunk authenticates: the plaintext goes to a temporary
    file that is removed on the first bad chunk.
    """
    source = require_encrypted(source)
    out = Path(target) if target is not None else plain_name(source)
    if out.resolve() == source.resolve():
        raise UsageError(f"{source}: the decrypted copy needs another name", hint="use --out")
    with open_decrypted(source, keyring) as reader, atomic_open(out, "wb", sensitive=False) as sink:
        copy_stream(reader, sink)
    return out


def encrypt_files(
    paths: Sequence[Path],
    out: Path | None = None,
    *,
    keyfile: str | os.PathLike[str] | None = None,
    remove: bool = False,
    force: bool = False,
) -> Iterator[tuple[Path, Path, Key]]:
    """Encrypt each of ``paths`` with the active encryption key of ``keyfile``
    (FILE → FILE.enc, or ``out`` for one input; :func:`encrypt_file`), deleting each
    clear file once its copy is written when ``remove``. Every check runs before the
    first file is written: ``out`` with one input only, no output there already unless
    ``force``, a key. Yields each file as it is done: the input, the copy, the key.
    """
    if out is not None and len(paths) != 1:
        raise UsageError(
            "--out takes one input file", hint="drop --out to write FILE.enc beside each"
        )
    refuse_existing([out or encrypted_name(p) for p in paths], force)
    key = load_keyring(keyfile).active()
    for path in paths:
        written = encrypt_file(path, out, key=key)
        if remove:
            path.unlink()
        yield path, written, key


def decrypt_files(
    paths: Sequence[Path],
    out: Path | None = None,
    *,
    keyfile: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> Iterator[tuple[Path, Path]]:
    """Decrypt each of ``paths`` with the keys of ``keyfile`` (FILE.enc → FILE, or
    ``out`` for one input; :func:`decrypt_file`), for another tool. Every check runs
    before the first file is written: ``out`` with one input only, each input an
    encrypted file (a missing or clear file said so, not "exists already"), no output
    there already unless ``force``, the caller's ``decrypt`` role. Yields each file as
    it is done: the input and the clear copy.
    """
    if out is not None and len(paths) != 1:
        raise UsageError("--out takes one input file", hint="drop --out to write beside each")
    for path in paths:
        require_encrypted(path)
    refuse_existing([out or plain_name(p) for p in paths], force)
    require(DECRYPT, f"decrypt {', '.join(map(str, paths))}")
    keyring = load_keyring(keyfile)
    for path in paths:
        yield path, decrypt_file(path, out, keyring=keyring)


def refuse_existing(targets: Sequence[Path], force: bool) -> None:
    """Refuse, before anything is written, to replace a file without ``force`` (an
    encrypted copy made earlier, or a clear file someone edited since)."""
    there = [t for t in targets if t.exists()]
    if there and not force:
        more = f" and {len(there) - 1} more" if len(there) > 1 else ""
        raise UsageError(
            f"{there[0]}{more} exists already: nothing was written",
            hint="pass --force to replace it, or --out to write elsewhere",
        )


def encrypted_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Every custrisk encrypted file among ``paths`` and under the folders among them."""
    for path in map(Path, paths):
        if path.is_dir():
            for found in sorted(path.rglob(f"*{SUFFIX}")):
                if found.is_file() and is_encrypted(found):
                    yield found
        elif is_encrypted(path):
            yield path
        else:
            raise DataError("not a custrisk encrypted file or a folder", file=str(path))


@dataclass
class Rotation:
    """What ``rotate_files`` did."""

    new_key: str
    rotated: list[Path] = field(default_factory=list)
    current: list[Path] = field(default_factory=list)
    old_keys: dict[str, int] = field(default_factory=dict)
    #: Checksum files (``ARCHIVE.sha256`` beside a backup) rewritten for the new bytes
    checksums: list[Path] = field(default_factory=list)
    #: Checksum files that did not match their file before it was rotated: left as they
    #: were (the file had changed since its checksum was written)
    stale_checksums: list[Path] = field(default_factory=list)
    #: Each re-wrapped file's new SHA-256 and the one it had before (for the audit line:
    #: ``audit trace`` vouches for the new bytes only when it vouched for the old)
    rewrapped: dict[str, str] = field(default_factory=dict)
    #: Files a model card lists with their SHA-256 (``training_rejects.csv.enc``): left
    #: under their key, as rewriting them would make the model fail its checks
    in_models: list[Path] = field(default_factory=list)


def rotate_files(paths: Iterable[str | os.PathLike[str]], keyring: Keyring) -> Rotation:
    """Re-wrap every encrypted file under ``paths`` with the active encryption key.

    Each file is rewritten atomically (its chunks copied, its data key wrapped anew);
    files already under the active key are left alone, and so are the files a model card
    lists (its SHA-256 would no longer match: ``in_models``). Old keys can be retired once
    no file uses them. The checksum file beside a backup archive (``ARCHIVE.sha256``) is
    rewritten for the new bytes when it matched the old ones, so that the backup still
    verifies and restores; one that did not match is left as it is (the archive had
    changed) and listed in ``stale_checksums``. The command's audit line gets the new
    bytes and what they replaced: ``custrisk audit trace`` vouches for a re-wrapped
    file when a line vouched for it before.
    """
    new = keyring.active(ENCRYPTION)
    result = Rotation(new.id)
    for path in encrypted_files(paths):
        if key_id_of(path) == new.id:
            result.current.append(path)
            continue
        if listed_by_model_card(path):
            result.in_models.append(path)
            continue
        sidecar = checksum_file(path)
        stated = stated_checksum(sidecar)
        before = sha256_file(path)
        matched = stated is not None and stated == before
        with open(path, "rb") as source, atomic_open(path, "wb", sensitive=False) as sink:
            old = rewrap(source, sink, keyring, new, str(path))
        result.rewrapped[sha256_file(path)] = before
        result.old_keys[old] = result.old_keys.get(old, 0) + 1
        result.rotated.append(path)
        if matched:
            write_checksum(path)
            result.checksums.append(sidecar)
        elif stated is not None:
            result.stale_checksums.append(sidecar)
    audit_event(outputs=result.rotated, rewrapped=result.rewrapped)
    return result


def listed_by_model_card(path: Path) -> bool:
    """Whether ``path`` is a file of a model folder: its card (``model.json`` beside it)
    lists it with its SHA-256, which a re-wrapped file would no longer match."""
    card = path.parent / "model.json"
    if not card.is_file():
        return False
    try:
        files = json.loads(card.read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(files, dict) and path.name in files
