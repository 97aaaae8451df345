"""Text encoding of an export: BOM, else strict UTF-8, else strict GB18030.

GB18030 is a superset of GBK and GB2312, so GBK exports from Chinese systems decode
with it. A file that is neither is refused with a message suggesting ``--encoding``.
The same pass over the file finds empty lines and lines too long to be a record, so that
rejected rows can be reported with their physical line number.

Line accounting works on the file's bytes in an ASCII-compatible form (:func:`open_ascii`):
the bytes themselves for UTF-8 and GB18030 (no multi-byte character holds a byte below
0x40), UTF-8 for UTF-16/32 files, with bare carriage returns turned into line feeds in a
file that ends its lines with CR alone. Every offset is in that form.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import threading
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from custrisk.errors import DataError
from custrisk.io.digest import Identity, digest_wanted, identity, remember_digest

CHUNK = 1 << 22  # 4 MB: a scan of 16 MB chunks was slower (cache) and held 4 times the memory
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
ALIASES = {"gbk": "gb18030", "gb2312": "gb18030", "cp936": "gb18030", "utf8": "utf-8"}


ASCII_INCOMPATIBLE = ("utf-16", "utf-32")
#: Codecs (Python's names) in which every byte below 0x80 is that ASCII character on its
#: own, whatever came before it: a chunk of ASCII bytes that leaves no character
#: half-decoded cannot fail to decode, and is not decoded (``bytes.isascii`` takes a
#: twentieth of the time of decoding).
_ASCII_SAFE = frozenset(
    ("utf-8", "utf-8-sig", "gb18030", "gbk", "gb2312", "big5", "big5hkscs", "cp950")
    + ("iso8859-1", "cp1252")
)


@dataclass(frozen=True)
class TextScan:
    """What one pass over a text file found."""

    encoding: str
    detected: bool
    n_lines: int
    empty_lines: np.ndarray  # 1-based physical numbers of empty lines, ascending
    cr_newlines: bool = False  # lines end with a bare CR (classic Mac)
    bare_cr: bool = False  # a CR not followed by LF inside a file whose lines end with LF
    # Lines longer than the scan's limit: 1-based numbers, and [start, end) byte offsets
    # (terminator included) in the ASCII-compatible form of the file.
    long_lines: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    long_spans: np.ndarray = field(default_factory=lambda: np.empty((0, 2), dtype=np.int64))
    #: The last line has no line end: written without a final newline, or cut off while
    #: the file was being written (the reader tells which by its fields)
    unterminated: bool = False
    #: A head scan (``max_lines``): the scan, and every reader through
    #: :func:`open_ascii`, covers only the file's first ``limit`` bytes (whole lines)
    limit: int | None = None

    @property
    def transcoded(self) -> bool:
        """Whether :func:`open_ascii` re-encodes the file (UTF-16/32) or rewrites CRs."""
        return self.encoding in ASCII_INCOMPATIBLE or self.cr_newlines

    @property
    def ascii_encoding(self) -> str:
        """The encoding of the bytes :func:`open_ascii` returns."""
        return "utf-8" if self.encoding in ASCII_INCOMPATIBLE else self.encoding


def normalise_encoding(name: str) -> str:
    """Canonical codec name; raises LookupError for an unknown one."""
    info = codecs.lookup(ALIASES.get(name.lower(), name))
    return ALIASES.get(info.name, info.name)


def scan_text_file(
    path: str | os.PathLike[str],
    encoding: str | None = None,
    *,
    max_line_bytes: int | None = None,
    max_lines: int | None = None,
) -> TextScan:
    """Detect (or check) the encoding of ``path``, find its empty lines and, when
    ``max_line_bytes`` is given, the lines longer than that (terminator included).

    ``max_lines``: scan only the file's first ``max_lines`` lines (a head, to look at
    its first rows: :attr:`TextScan.limit`) when it has more, for files whose lines end
    with a line feed in an ASCII-compatible encoding; else the whole file. The encoding is
    then the head's: a byte that does not decode further on is not seen.

    A scan of the same file with the same arguments begun by :func:`scan_ahead` is
    taken over (waited for when it is under way) rather than done again.

    Raises
    ------
    DataError
        When the bytes do not decode, naming the line and byte offset.
    """
    path = Path(path)
    limit = None
    if max_lines is not None and encoding not in ASCII_INCOMPATIBLE:
        limit = head_bytes(path, max_lines)
    if limit is not None:
        return _scan(path, encoding, max_line_bytes, limit=limit)
    ahead = _AHEAD.take(path, encoding, max_line_bytes)
    if ahead is not None:
        return ahead.result()
    return _scan(path, encoding, max_line_bytes)


def head_bytes(path: str | os.PathLike[str], lines: int) -> int | None:
    """The size of the file's first ``lines`` lines ending with a line feed (``None``:
    the file has no more lines than that, or is UTF-16/32 by its BOM, whose line feeds
    are two or four bytes). Cutting there splits no character of an ASCII-compatible
    encoding: no byte of a multi-byte UTF-8, GB18030 or Big5 character is a line feed."""
    found = 0
    offset = 0
    with Path(path).open("rb") as handle:
        chunk = handle.read(CHUNK)
        if any(chunk.startswith(bom) for bom, enc in _BOMS if enc in ASCII_INCOMPATIBLE):
            return None
        while chunk:
            count = chunk.count(b"\n")
            if found + count >= lines:
                end = offset + line_end(chunk, lines - found)
                # the whole file when it has exactly that many lines
                return end if handle.read(1) or end < offset + len(chunk) else None
            found += count
            offset += len(chunk)
            chunk = handle.read(CHUNK)
    return None


def line_end(data: bytes, n: int) -> int:
    """The offset just after the ``n``-th line feed of ``data`` (which holds that many)."""
    at = -1
    for _ in range(n):
        at = data.index(b"\n", at + 1)
    return at + 1


def scan_ahead(
    paths: Iterable[str | os.PathLike[str]],
    encoding: str | None = None,
    *,
    max_line_bytes: int | None = None,
) -> None:
    """Begin scanning ``paths``, one after the other, in a background thread: a command
    that reads exports one at a time scans the next while it cleans the one before
    (cleaning leaves a core idle part of the time; a scan holds three chunks at most).

    :func:`scan_text_file` with the same arguments takes the result (or its error). A
    file changed since (size or modification time) is scanned again. Call
    :func:`cancel_scans_ahead` when the files are no longer going to be read.
    """
    for path in paths:
        _AHEAD.start(Path(path), encoding, max_line_bytes)


def cancel_scans_ahead() -> None:
    """Forget the scans begun ahead; those not yet started are not run."""
    _AHEAD.clear()


class _ScansAhead:
    """Scans begun before their reader asks, by file, arguments and file version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._scans: dict[tuple[Any, ...], Future[TextScan]] = {}

    @staticmethod
    def _key(path: Path, encoding: str | None, max_line_bytes: int | None) -> tuple[Any, ...]:
        stat = path.stat()
        return (str(path.resolve()), encoding, max_line_bytes, stat.st_size, stat.st_mtime_ns)

    def start(self, path: Path, encoding: str | None, max_line_bytes: int | None) -> None:
        try:
            key = self._key(path, encoding, max_line_bytes)
        except OSError:  # the reader reports a missing file itself
            return
        with self._lock:
            if key in self._scans:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, "custrisk-scan-ahead")
            # its line feeds found in this thread: it runs beside the command's own work,
            # and more threads would each keep a malloc arena of their own
            self._scans[key] = self._pool.submit(_scan, path, encoding, max_line_bytes, False)

    def take(
        self, path: Path, encoding: str | None, max_line_bytes: int | None
    ) -> Future[TextScan] | None:
        """The scan begun for this file (``None``: none, or not started yet, which is
        then not run: the caller scans at once rather than wait behind other files)."""
        if not self._scans:
            return None
        try:
            key = self._key(path, encoding, max_line_bytes)
        except OSError:
            return None
        with self._lock:
            future = self._scans.pop(key, None)
        if future is None or future.cancel():
            return None
        return future

    def clear(self) -> None:
        with self._lock:
            scans, self._scans = self._scans, {}
        for future in scans.values():
            future.cancel()


_AHEAD = _ScansAhead()


def _scan(
    path: Path,
    encoding: str | None,
    max_line_bytes: int | None,
    threads: bool = True,
    limit: int | None = None,
) -> TextScan:
    with path.open("rb") as handle:
        head = handle.read(4)
    detected = encoding is None
    if encoding is None:
        encoding = next((enc for bom, enc in _BOMS if head.startswith(bom)), None)
    candidates = [encoding] if encoding else ["utf-8", "gb18030"]
    failure: tuple[str, int, bytes] | None = None
    for candidate in candidates:
        result = _try_decode(path, candidate, max_line_bytes, threads, limit)
        if isinstance(result, TextScan) and detected and candidate == "gb18030":
            _refuse_big5(path)
        if isinstance(result, TextScan):
            return TextScan(
                result.encoding,
                detected,
                result.n_lines,
                result.empty_lines,
                result.cr_newlines,
                result.bare_cr,
                result.long_lines,
                result.long_spans,
                result.unterminated,
                limit,
            )
        if failure is None:
            failure = result
    assert failure is not None
    codec, offset, bad = failure
    line = _line_of_offset(path, offset)
    if detected:
        raise DataError(
            f"cannot decode byte {bad.hex(' ')} at offset {offset}: the file is neither "
            "UTF-8 nor GBK/GB18030",
            file=str(path),
            line=line,
            hint="re-export it as UTF-8, or pass the right encoding with --encoding "
            "(e.g. --encoding big5)",
        )
    raise DataError(
        f"cannot decode byte {bad.hex(' ')} at offset {offset} as {codec}",
        file=str(path),
        line=line,
        hint="pass the file's real encoding with --encoding, or leave it out to detect it",
    )


#: Bytes of a file's start looked at to tell Big5 from GBK (:func:`_refuse_big5`).
_BIG5_PROBE = 1 << 18
#: The share of two-byte characters whose second byte is below 0xA1 over which GBK text
#: is Big5 read as GBK: Big5 writes about half its characters so; GBK text (GB2312's
#: characters, simplified Chinese) none, or a few rare ones.
_BIG5_SHARE = 0.2


class LooksLikeBig5(DataError):
    """A file detected as GBK whose bytes are Big5's (:func:`_refuse_big5`): ``init``
    proposes ``encoding: big5`` for its source instead of stopping."""


def _refuse_big5(path: Path) -> None:
    """Refuse a file detected as GBK that is Big5 (Traditional Chinese): every Big5
    byte pair is also a GBK character, so it decodes without an error, into other
    characters (客戶編號 reads as め絪腹): every header and value would be wrong."""
    with path.open("rb") as handle:
        data = handle.read(_BIG5_PROBE)
    low = high = 0
    i, end = 0, len(data) - 1
    while i < end:
        lead = data[i]
        if lead < 0x81:
            i += 1
            continue
        trail = data[i + 1]
        if 0x30 <= trail <= 0x39:  # a GB18030 four-byte character
            i += 4
            continue
        if trail < 0xA1:
            low += 1
        else:
            high += 1
        i += 2
    if low + high >= 20 and low > _BIG5_SHARE * (low + high) and _decodes(data, "big5"):
        raise LooksLikeBig5(
            "the file decodes as GBK only into the wrong characters: it looks like Big5 "
            f"(Traditional Chinese; {low / (low + high):.0%} of its Chinese characters "
            "are outside the common GBK range)",
            file=str(path),
            hint="pass --encoding big5, or give its source encoding: big5 in the sources "
            "config when other exports are not Big5 (or re-export it as UTF-8); pass "
            "--encoding gbk if it is GBK after all",
        )


def _decodes(data: bytes, encoding: str) -> bool:
    """Whether ``data`` (a file's start: its last character may be cut) decodes."""
    try:
        codecs.getincrementaldecoder(encoding)(errors="strict").decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _try_decode(
    path: Path,
    encoding: str,
    max_line_bytes: int | None,
    threads: bool = True,
    limit: int | None = None,
) -> TextScan | tuple[str, int, bytes]:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    ascii_compatible = encoding not in ASCII_INCOMPATIBLE
    ascii_safe = codecs.lookup(encoding).name in _ASCII_SAFE
    offset = 0
    lines = _LineCounter(max_line_bytes)
    cr_newlines: bool | None = None
    # A file of several chunks has its line feeds found in threads while the next chunk
    # is read and decoded (NumPy works outside the GIL), at most _IN_FLIGHT chunks ahead.
    size = path.stat().st_size if limit is None else limit
    several = threads and size > CHUNK
    pool = ThreadPoolExecutor(2, "custrisk-scan") if several else None
    pending: deque[tuple[bytes, Future[np.ndarray] | None]] = deque()
    cr = b""  # a CR that ends a chunk before the line ends are known: the next byte tells
    # The whole file's bytes pass here: hashed on the way when the audit will want them
    digest = hashlib.sha256() if limit is None and digest_wanted(path) else None
    before: Identity | None = None
    try:
        with path.open("rb") as handle:
            if digest is not None:  # (of the file opened: io.digest)
                before = identity(handle.fileno())
            while True:
                chunk = handle.read(CHUNK if limit is None else min(CHUNK, limit - offset))
                final = not chunk
                if digest is not None:
                    digest.update(chunk)
                try:
                    if ascii_safe and chunk.isascii() and not decoder.getstate()[0]:
                        text = ""  # ASCII: decodes as itself (only its bytes are kept)
                    else:
                        text = decoder.decode(chunk, final=final)
                except UnicodeDecodeError as exc:
                    undecoded = len(decoder.getstate()[0]) if not final else 0
                    bad_at = max(offset + exc.start - undecoded, 0)
                    with path.open("rb") as again:  # the bytes shown, wherever chunks end
                        again.seek(bad_at)
                        return (encoding, bad_at, again.read(2))
                if final:
                    if digest is not None and before is not None:
                        remember_digest(handle.fileno(), digest.hexdigest(), before)
                    break
                offset += len(chunk)
                data = cr + (chunk if ascii_compatible else text.encode("utf-8"))
                cr = b""
                del text  # (a chunk's text takes up to four times its bytes)
                if cr_newlines is None:
                    cr_newlines = cr_line_breaks(data)
                    if cr_newlines is None and data.endswith(b"\r"):
                        data, cr = data[:-1], b"\r"
                if cr_newlines:
                    data = data.replace(b"\r", b"\n")
                pending.append((data, pool.submit(line_feeds, data) if pool else None))
                if len(pending) > _IN_FLIGHT:
                    lines.add(*_counted(pending.popleft()))
        if cr:
            pending.append((cr, None))
        while pending:
            lines.add(*_counted(pending.popleft()))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    lines.finish()
    return TextScan(
        encoding,
        True,
        lines.n_lines,
        lines.empty_lines(),
        bool(cr_newlines),
        lines.bare_cr,
        *lines.long_lines(),
        lines.unterminated,
    )


#: Chunks whose line feeds are being found while the next is read: two keeps both
#: threads busy and holds at most three chunks (12 MB) at once.
_IN_FLIGHT = 2


def line_feeds(data: bytes) -> np.ndarray:
    """The positions of the line feeds in ``data``."""
    return np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)


def _counted(item: tuple[bytes, Future[np.ndarray] | None]) -> tuple[bytes, np.ndarray]:
    data, found = item
    return data, line_feeds(data) if found is None else found.result()


def cr_line_breaks(head: bytes) -> bool | None:
    """Whether a file starting with ``head`` ends its lines with a bare CR; ``None`` when
    ``head`` holds no line break to tell."""
    cr, lf = head.find(b"\r"), head.find(b"\n")
    if cr < 0 or (0 <= lf < cr):
        return False if lf >= 0 else None
    if cr + 1 == len(head):
        return None
    return head[cr + 1] != 10


class _LineCounter:
    """Counts lines, finds empty lines and over-long lines, chunk by chunk."""

    def __init__(self, max_line_bytes: int | None) -> None:
        self.max_line_bytes = max_line_bytes
        self.n_lines = 0
        self.offset = 0
        self.line_start = 0
        self.carry = b""  # the open line's first bytes
        self.bare_cr = False
        self.cr_at_end = False  # the previous chunk ended with a CR
        self.unterminated = False  # the last line has no line end
        self.empty: list[np.ndarray] = []
        self.long: list[np.ndarray] = []
        self.spans: list[np.ndarray] = []

    def add(self, data: bytes, newlines: np.ndarray) -> None:
        """Count the lines of the next chunk, ``data``, whose line feeds are at
        ``newlines`` (:func:`line_feeds`)."""
        found, n_lines, carry = _empty_lines(data, newlines, self.carry, self.n_lines)
        if not self.bare_cr:
            self._find_bare_cr(data, newlines)
        if found.size:
            self.empty.append(found)
        if newlines.size:
            ends = self.offset + newlines.astype(np.int64) + 1
            if self.max_line_bytes is not None:
                starts = np.concatenate(([self.line_start], ends[:-1]))
                self._long(self.n_lines + 1, starts, ends)
            self.line_start = int(ends[-1])
        self.n_lines, self.carry = n_lines, carry
        self.offset += len(data)

    def _find_bare_cr(self, data: bytes, newlines: np.ndarray) -> None:
        if self.cr_at_end and data[:1] != b"\n":
            self.bare_cr = True
            return
        self.cr_at_end = data.endswith(b"\r")
        if b"\r" not in data:  # memchr speed: most files have no CR, or CRLF only
            return
        buf = np.frombuffer(data, dtype=np.uint8)
        returns = int(np.count_nonzero(buf == 13))
        crlf = int(np.count_nonzero(buf[newlines[newlines > 0] - 1] == 13))
        self.bare_cr = returns - crlf - self.cr_at_end > 0

    def finish(self) -> None:
        if self.offset > self.line_start:  # a last line without a newline
            self.n_lines += 1
            self.unterminated = True
            if self.carry == b"\r":  # a CR alone ends the file: an empty line
                self.empty.append(np.array([self.n_lines], dtype=np.int64))
            if self.max_line_bytes is not None:
                self._long(self.n_lines, np.array([self.line_start]), np.array([self.offset]))

    def _long(self, first: int, starts: np.ndarray, ends: np.ndarray) -> None:
        assert self.max_line_bytes is not None
        too_long = np.flatnonzero(ends - starts > self.max_line_bytes)
        if too_long.size:
            self.long.append(first + too_long)
            self.spans.append(np.stack([starts[too_long], ends[too_long]], axis=1))

    def empty_lines(self) -> np.ndarray:
        return np.concatenate(self.empty) if self.empty else np.empty(0, dtype=np.int64)

    def long_lines(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.long:
            return np.empty(0, dtype=np.int64), np.empty((0, 2), dtype=np.int64)
        return (
            np.concatenate(self.long).astype(np.int64),
            np.concatenate(self.spans).astype(np.int64),
        )


def _empty_lines(
    chunk: bytes, newlines: np.ndarray, carry: bytes, lines_before: int
) -> tuple[np.ndarray, int, bytes]:
    """Physical numbers of the empty lines that end in ``chunk``, whose line feeds are
    at ``newlines``.

    ``carry`` is the start of the line left open by the previous chunk (at most two
    bytes are kept: enough to tell an empty or a lone ``\\r`` line). Returns the numbers,
    the running line count and the new carry.
    """
    buf = np.frombuffer(chunk, dtype=np.uint8)
    if not newlines.size:
        return np.empty(0, dtype=np.int64), lines_before, (carry + chunk[:2])[:2]
    starts = np.concatenate(([0], newlines[:-1] + 1))
    length = newlines - starts
    is_empty = length == 0
    lone_cr = length == 1
    lone_cr[lone_cr] = buf[starts[lone_cr]] == 13
    is_empty |= lone_cr
    first = carry + chunk[: int(newlines[0])]
    is_empty[0] = first in (b"", b"\r")
    numbers = lines_before + 1 + np.flatnonzero(is_empty)
    tail = chunk[int(newlines[-1]) + 1 :]
    return numbers.astype(np.int64), lines_before + int(newlines.size), tail[:2]


def open_ascii(path: str | os.PathLike[str], scan: TextScan) -> BinaryIO:
    """The file's bytes in the ASCII-compatible form the scan counted lines in (its head
    only, after a head scan)."""
    handle: BinaryIO = Path(path).open("rb")
    if scan.limit is not None:
        handle = io.BufferedReader(_Head(handle, scan.limit), buffer_size=CHUNK)
    if not scan.transcoded:
        return handle
    return io.BufferedReader(_Transcoder(handle, scan), buffer_size=CHUNK)


class _Transcoder(io.RawIOBase):
    """UTF-16/32 as UTF-8, and bare CRs as LFs, read on the fly (memory stays bounded)."""

    def __init__(self, handle: BinaryIO, scan: TextScan) -> None:
        self._handle = handle
        self._decoder = (
            codecs.getincrementaldecoder(scan.encoding)(errors="strict")
            if scan.encoding in ASCII_INCOMPATIBLE
            else None
        )
        self._cr = scan.cr_newlines
        self._buffer = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer and not self._eof:
            chunk = self._handle.read(CHUNK)
            self._eof = not chunk
            data = (
                self._decoder.decode(chunk, final=self._eof).encode("utf-8")
                if self._decoder is not None
                else chunk
            )
            self._buffer = data.replace(b"\r", b"\n") if self._cr else data
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size

    def close(self) -> None:
        self._handle.close()
        super().close()


class _Head(io.RawIOBase):
    """The first ``limit`` bytes of a file (seekable within them)."""

    def __init__(self, handle: BinaryIO, limit: int) -> None:
        self._handle = handle
        self._limit = limit

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            offset, whence = self._limit + offset, io.SEEK_SET
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        room = max(self._limit - self._handle.tell(), 0)
        view = memoryview(target)[: min(len(target), room)]
        return self._handle.readinto(view) if len(view) else 0  # type: ignore[attr-defined]

    def close(self) -> None:
        self._handle.close()
        super().close()


def _line_of_offset(path: Path, offset: int) -> int:
    line = 1
    with path.open("rb") as handle:
        remaining = offset
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            line += chunk.count(b"\n")
            remaining -= len(chunk)
    return line
