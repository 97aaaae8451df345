"""Protected outputs and inputs: the encryption a command switches on with ``--encrypt``
(or a run config with ``encrypt: true``), and the transparent reading of encrypted files.

Writing: every write of customer data goes through :func:`custrisk.io.atomic.atomic_path`
(the CSV writer, the Parquet and workbook writers, the run writer, the report writer);
inside :func:`protected_outputs` it seals the file with :class:`Encryption` into
``NAME.enc``. A library caller does the same::

    with custrisk.protect.protected_outputs(encrypt=True):
        run.write("out/scores.csv")          # out/scores.csv.enc & co.

Reading: :func:`plain_bytes`, :func:`open_plain` and :func:`plaintext_file` give the
plaintext of a file whether it is encrypted or not, with the keys of the environment or
the key file (:func:`custrisk.protect.keys.load_keyring`); a file whose key is not
available is a :class:`~custrisk.errors.DataError` (exit 2) naming the key id.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from custrisk.errors import ConfigError, DataError
from custrisk.io.atomic import seal_from_now, sealing
from custrisk.io.encoding import line_end
from custrisk.protect.envelope import (
    SUFFIX,
    EncryptingWriter,
    copy_stream,
    is_encrypted,
    key_id_of,
    open_decrypted,
    plain_name,
)
from custrisk.protect.keys import ENCRYPTION, KEY_ENV, KEYFILE_ENV, Key, Keyring, load_keyring

#: The key file named by ``--keyfile`` for the current command (``None``: the default).
_KEYFILE: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "custrisk_keyfile", default=None
)


@dataclass(frozen=True)
class Encryption:
    """The sealer of :mod:`custrisk.io.atomic`: the envelope under one master key."""

    key: Key
    suffix: str = SUFFIX

    def seal(self, plain: IO[bytes], sink: IO[bytes]) -> None:
        with EncryptingWriter(sink, self.key) as writer:
            copy_stream(plain, writer)


def keyring(keyfile: str | os.PathLike[str] | None = None) -> Keyring:
    """The keys of this process (``keyfile``, else ``--keyfile``, else the default)."""
    named = keyfile if keyfile is not None else _KEYFILE.get()
    return load_keyring(named)


def encryption(keyfile: str | os.PathLike[str] | None = None) -> Encryption:
    """The sealer with the active encryption key; a clear error when there is none."""
    try:
        ring = keyring(keyfile)
    except ConfigError as exc:
        raise ConfigError(
            f"--encrypt needs an encryption key: {exc.message}",
            hint=f"create one with custrisk keys new (or set {KEY_ENV[ENCRYPTION]})",
        ) from None
    return Encryption(ring.active(ENCRYPTION))


@contextlib.contextmanager
def protected_outputs(
    *,
    encrypt: bool = False,
    keyfile: str | os.PathLike[str] | None = None,
    group: int | None = None,
) -> Iterator[Encryption | None]:
    """Within the block, customer-data outputs are encrypted (``encrypt``) and created
    0600, or 0640 owned by ``group`` (a gid); encrypted inputs are read with the keys of
    ``keyfile`` (default: the environment and the default key file)."""
    sealer = encryption(keyfile) if encrypt else None
    token = _KEYFILE.set(str(keyfile) if keyfile is not None else _KEYFILE.get())
    try:
        with sealing(sealer, group=group):
            yield sealer
    finally:
        _KEYFILE.reset(token)


def protect_from_now(
    *,
    encrypt: bool = False,
    keyfile: str | os.PathLike[str] | None = None,
    group: int | None = None,
) -> Encryption | None:
    """:func:`protected_outputs` for the rest of the current context (the CLI runs each
    command in its own copy of the context, which ends with the command)."""
    if keyfile is not None:
        _KEYFILE.set(str(keyfile))
    sealer = encryption(keyfile) if encrypt else None
    seal_from_now(sealer, group=group)
    return sealer


def keyring_for(path: str | os.PathLike[str]) -> Keyring:
    """The keyring that opens the encrypted file ``path``; exit 2 naming its key id when
    the key is not available."""
    key_id = key_id_of(path)
    try:
        ring = keyring()
    except ConfigError as exc:
        raise DataError(
            f"encrypted with key '{key_id}', and no key is available ({exc.message})",
            file=str(path),
            hint=f"set {KEYFILE_ENV} to the key file that holds '{key_id}', or "
            f"{KEY_ENV[ENCRYPTION]}={key_id}:BASE64",
        ) from None
    if ring.get(key_id) is None:
        raise DataError(
            f"encrypted with key '{key_id}', which is not among the keys of {ring.source}",
            file=str(path),
            hint=f"set {KEYFILE_ENV} to the key file that holds it (custrisk keys list)",
        )
    return ring


def existing(path: str | os.PathLike[str]) -> Path:
    """``path``, or ``path.enc`` when only the encrypted form exists."""
    path = Path(path)
    if not path.exists() and not path.name.endswith(SUFFIX):
        sealed = path.with_name(path.name + SUFFIX)
        if sealed.is_file():
            return sealed
    return path


def stored_encrypted(source: str | os.PathLike[str]) -> bool:
    """Whether ``source`` is stored encrypted: a folder (a run's) holding an encrypted
    ``*.enc`` file, or a file that is encrypted itself or only in its ``.enc`` form."""
    source = Path(source)
    if source.is_dir():
        return any(p.is_file() and is_encrypted(p) for p in source.glob("*.enc"))
    found = existing(source)
    return found.is_file() and is_encrypted(found)


def plain_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of ``path``, decrypted (and authenticated) when it is encrypted."""
    path = Path(path)
    if not is_encrypted(path):
        return path.read_bytes()
    with open_decrypted(path, keyring_for(path)) as reader:
        return reader.read()


def open_plain(path: str | os.PathLike[str]) -> IO[bytes]:
    """A binary reader of the plaintext of ``path`` (streaming when encrypted)."""
    path = Path(path)
    if is_encrypted(path):
        return open_decrypted(path, keyring_for(path))
    return open(path, "rb")  # noqa: SIM115 - the caller closes it


@contextlib.contextmanager
def plaintext_file(path: str | os.PathLike[str], *, max_lines: int | None = None) -> Iterator[Path]:
    """A path holding the plaintext of ``path``: ``path`` itself when it is not
    encrypted, else a private temporary copy (folder 0700, file 0600, under ``$TMPDIR``)
    named without ``.enc``, removed when the block ends. For readers that need a file
    (the CSV scanner, calamine, pyarrow). ``max_lines``: the copy holds the text's first
    lines only, that many (a head to look at: nothing more is decrypted or written)."""
    path = Path(path)
    if not is_encrypted(path):
        yield path
        return
    ring = keyring_for(path)
    folder = Path(tempfile.mkdtemp(prefix="custrisk-plain-"))
    try:
        target = folder / plain_name(path).name
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open_decrypted(path, ring) as reader, os.fdopen(fd, "wb") as sink:
            if max_lines is None:
                copy_stream(reader, sink)
            else:
                _copy_lines(reader, sink, max_lines)
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _copy_lines(source: IO[bytes], sink: IO[bytes], lines: int) -> None:
    """Copy the first ``lines`` lines (ending with a line feed) of ``source``, or all of it."""
    while lines > 0 and (data := source.read(1 << 20)):
        found = data.count(b"\n")
        if found >= lines:
            sink.write(data[: line_end(data, lines)])
            return
        sink.write(data)
        lines -= found


def head_text(path: str | os.PathLike[str], size: int = 4096) -> str:
    """The first ``size`` bytes of the plaintext of ``path`` as text (for sniffing)."""
    with contextlib.closing(open_plain(path)) as handle:
        data = handle.read(size)
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", errors="replace").read()
