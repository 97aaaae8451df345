"""Encrypted files: a streaming, chunked, authenticated envelope (format 1).

The layout follows age's STREAM construction::

    magic      8 bytes   b"CRSKENC" + format byte (1)
    header     u16 length + JSON  {"alg": ..., "chunk": 65536, "salt": hex}   (fixed per file)
    key block  u16 length + JSON  {"key_id": ..., "nonce": hex, "wrapped": hex}
    chunks     each plaintext chunk of ``chunk`` bytes (the last one shorter, possibly
               empty) encrypted with a 16-byte tag

* Every file has its own random 32-byte data key; it is stored wrapped (encrypted) by the
  master key named in the key block, so that rotating the master key rewrites the key
  block only (``rewrap``) and old key ids stay readable until retired.
* The nonce of chunk *i* is *i* as 11 big-endian bytes plus one byte that is 1 for the
  last chunk and 0 otherwise: a reordered chunk, a dropped chunk or a file cut at a chunk
  boundary fails authentication. Under a per-file key the counter never repeats a nonce.
* The magic and the fixed header are the associated data of every chunk and of the key
  block: an edited header fails too, and a key block cannot be moved to another file.

Files of any size go through in 64 KiB chunks: neither side holds the file in memory.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from custrisk.errors import DataError
from custrisk.protect.keys import Key, Keyring

MAGIC_PREFIX = b"CRSKENC"
FORMAT = 1
MAGIC = MAGIC_PREFIX + bytes([FORMAT])
SUFFIX = ".enc"
CHUNK = 64 * 1024
TAG = 16
MAX_HEADER = 4096
ALGORITHMS: dict[str, type[ChaCha20Poly1305] | type[AESGCM]] = {
    "chacha20-poly1305": ChaCha20Poly1305,
    "aes-256-gcm": AESGCM,
}
DEFAULT_ALGORITHM = "chacha20-poly1305"
_LAST = 1
_COUNTER_LIMIT = 1 << 88


def _nonce(counter: int, last: bool) -> bytes:
    if counter >= _COUNTER_LIMIT:  # 2^88 chunks: never reached, but never wrap
        raise OverflowError("too many chunks for one file")
    return counter.to_bytes(11, "big") + bytes([_LAST if last else 0])


def _block(data: dict[str, Any]) -> bytes:
    text = json.dumps(data, sort_keys=True, separators=(",", ":")).encode("ascii")
    return struct.pack(">H", len(text)) + text


def _wrap_aad(fixed: bytes, key_id: str) -> bytes:
    return b"custrisk key block\x00" + fixed + key_id.encode("ascii")


def _key_block(fixed: bytes, master: Key, data_key: bytes, algorithm: str) -> bytes:
    nonce = secrets.token_bytes(12)
    wrapped = ALGORITHMS[algorithm](master.secret).encrypt(
        nonce, data_key, _wrap_aad(fixed, master.id)
    )
    return _block({"key_id": master.id, "nonce": nonce.hex(), "wrapped": wrapped.hex()})


class EncryptingWriter(io.RawIOBase):
    """A writable binary stream that encrypts into ``sink`` chunk by chunk.

    ``close()`` writes the last chunk; without it the file is incomplete and reads as
    truncated. Writes through a buffer of one chunk.
    """

    def __init__(
        self,
        sink: IO[bytes],
        key: Key,
        *,
        algorithm: str = DEFAULT_ALGORITHM,
        chunk: int = CHUNK,
    ) -> None:
        super().__init__()
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}")
        self._sink = sink
        self._chunk = chunk
        data_key = secrets.token_bytes(32)
        self._aead = ALGORITHMS[algorithm](data_key)
        fixed = _block({"alg": algorithm, "chunk": chunk, "salt": secrets.token_hex(16)})
        self._aad = MAGIC + fixed
        sink.write(MAGIC + fixed + _key_block(fixed, key, data_key, algorithm))
        self._buffer = bytearray()
        self._counter = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed encrypted file")
        view = memoryview(data).cast("B")
        self._buffer += view
        # keep the last full chunk back: only close() knows whether it is the last one
        while len(self._buffer) > self._chunk:
            self._emit(bytes(self._buffer[: self._chunk]), last=False)
            del self._buffer[: self._chunk]
        return len(view)

    def _emit(self, plain: bytes, *, last: bool) -> None:
        self._sink.write(self._aead.encrypt(_nonce(self._counter, last), plain, self._aad))
        self._counter += 1

    def close(self) -> None:
        if not self.closed:
            self._emit(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._sink.flush()
        super().close()


def _read_block(source: IO[bytes], name: str, what: str) -> tuple[bytes, dict[str, Any]]:
    size_bytes = source.read(2)
    if len(size_bytes) != 2:
        raise DataError(f"encrypted file cut short in its {what}", file=name)
    (size,) = struct.unpack(">H", size_bytes)
    text = source.read(size) if size <= MAX_HEADER else b""
    try:
        data = json.loads(text.decode("ascii"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict):
        raise DataError(f"the encrypted file's {what} is damaged", file=name)
    return size_bytes + text, data


def _read_magic(source: IO[bytes], name: str) -> None:
    magic = source.read(len(MAGIC))
    if magic[: len(MAGIC_PREFIX)] != MAGIC_PREFIX or len(magic) != len(MAGIC):
        raise DataError(
            "not a custrisk encrypted file",
            file=name,
            hint="encrypt it with: custrisk encrypt FILE",
        )
    if magic[-1] != FORMAT:
        raise DataError(
            f"encrypted with format {magic[-1]}, this custrisk reads format {FORMAT}",
            file=name,
            hint="upgrade custrisk",
        )


class _Header:
    """The parsed front of an encrypted file."""

    def __init__(self, source: IO[bytes], name: str) -> None:
        _read_magic(source, name)
        self.fixed, fixed = _read_block(source, name, "header")
        self.key_block, block = _read_block(source, name, "key block")
        algorithm, chunk = fixed.get("alg"), fixed.get("chunk")
        if algorithm not in ALGORITHMS or not isinstance(chunk, int) or not 0 < chunk <= 1 << 24:
            raise DataError(f"unsupported cipher {algorithm!r} or chunk size", file=name)
        self.algorithm: str = algorithm
        self.chunk: int = chunk
        self.key_id = str(block.get("key_id", ""))
        try:
            self.wrap_nonce = bytes.fromhex(str(block.get("nonce", "")))
            self.wrapped = bytes.fromhex(str(block.get("wrapped", "")))
        except ValueError:
            raise DataError("the encrypted file's key block is damaged", file=name) from None

    def data_key(self, keyring: Keyring, name: str) -> bytes:
        master = keyring.require(self.key_id, f"{name} (encrypted)")
        try:
            return ALGORITHMS[self.algorithm](master.secret).decrypt(
                self.wrap_nonce, self.wrapped, _wrap_aad(self.fixed, self.key_id)
            )
        except (InvalidTag, ValueError):
            raise DataError(
                f"key '{self.key_id}' does not open this file: the key file holds another key "
                "under that id, or the file's header was altered",
                file=name,
            ) from None


class DecryptingReader(io.RawIOBase):
    """A readable binary stream of a custrisk encrypted file's plaintext.

    Every chunk is authenticated before any of its bytes are returned; an altered,
    reordered or truncated file raises :class:`~custrisk.errors.DataError` naming the
    chunk.
    """

    def __init__(self, source: IO[bytes], keyring: Keyring, *, name: str = "<stream>") -> None:
        super().__init__()
        self._source = source
        self._name = name
        header = _Header(source, name)
        self.key_id = header.key_id
        self._aead = ALGORITHMS[header.algorithm](header.data_key(keyring, name))
        self._aad = MAGIC + header.fixed
        self._size = header.chunk + TAG
        self._pending = source.read(self._size)
        self._plain = b""
        self._offset = 0
        self._counter = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> None:
        sealed = self._pending
        self._pending = self._source.read(self._size)
        last = not self._pending
        try:
            self._plain = self._aead.decrypt(_nonce(self._counter, last), sealed, self._aad)
        except InvalidTag:
            what = "cut short or altered" if last else "altered or reordered"
            raise DataError(
                f"chunk {self._counter + 1} failed authentication: the file was {what}",
                file=self._name,
                hint="restore it from the original or a backup; never use a partial file",
            ) from None
        self._offset = 0
        self._counter += 1
        self._done = last

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while self._offset >= len(self._plain):
            if self._done:
                return 0
            self._next_chunk()
        count = min(len(view), len(self._plain) - self._offset)
        view[:count] = self._plain[self._offset : self._offset + count]
        self._offset += count
        return count

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()


def is_encrypted(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` starts with the custrisk envelope's magic."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(MAGIC_PREFIX)) == MAGIC_PREFIX
    except (IsADirectoryError, FileNotFoundError):
        return False


def key_id_of(path: str | os.PathLike[str]) -> str:
    """The id of the master key an encrypted file was written with."""
    with open(path, "rb") as handle:
        return _Header(handle, str(path)).key_id


def key_id_in(source: IO[bytes], name: str) -> str:
    """The id of the master key of the encrypted stream ``source`` (at its start)."""
    return _Header(source, name).key_id


def open_decrypted(path: str | os.PathLike[str], keyring: Keyring) -> io.BufferedReader:
    """A buffered binary reader of an encrypted file's plaintext."""
    handle = open(path, "rb")  # noqa: SIM115 - owned by the reader, closed with it
    try:
        return io.BufferedReader(DecryptingReader(handle, keyring, name=str(path)), CHUNK)
    except BaseException:
        handle.close()
        raise


def copy_stream(source: IO[bytes], sink: IO[bytes] | io.RawIOBase) -> int:
    """Copy ``source`` to ``sink`` in chunks; the number of bytes copied."""
    total = 0
    while True:
        data = source.read(CHUNK)
        if not data:
            return total
        sink.write(data)
        total += len(data)


def iter_plaintext(path: str | os.PathLike[str], keyring: Keyring) -> Iterator[bytes]:
    """The plaintext of an encrypted file in chunks (each authenticated)."""
    with open_decrypted(path, keyring) as reader:
        while data := reader.read(CHUNK):
            yield data


def rewrap(source: IO[bytes], sink: IO[bytes], keyring: Keyring, new: Key, name: str) -> str:
    """Copy an encrypted file with its data key re-wrapped under ``new``; returns the old
    key id. The chunks are copied as they are, after checking that ``keyring`` opens the
    file: rotation never needs the plaintext in memory or on disk."""
    header = _Header(source, name)
    data_key = header.data_key(keyring, name)
    sink.write(MAGIC + header.fixed + _key_block(header.fixed, new, data_key, header.algorithm))
    copy_stream(source, sink)
    return header.key_id


def encrypted_name(path: str | os.PathLike[str]) -> Path:
    """``scores.csv`` → ``scores.csv.enc``."""
    path = Path(path)
    return path if path.name.endswith(SUFFIX) else path.with_name(path.name + SUFFIX)


def plain_name(path: str | os.PathLike[str]) -> Path:
    """``scores.csv.enc`` → ``scores.csv``."""
    path = Path(path)
    return path.with_name(path.name[: -len(SUFFIX)]) if path.name.endswith(SUFFIX) else path
