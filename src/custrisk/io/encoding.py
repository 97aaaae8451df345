"""Text encoding of an export: BOM, else strict UTF-8, else strict GB18030.

GB18030 is a superset of GBK and GB2312, so GBK exports from Chinese systems decode
with it. A file that is neither is refused with a message suggesting ``--encoding``.
The same pass over the file finds empty lines, so that rejected rows can be reported
with their physical line number.
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from custrisk.errors import DataError

CHUNK = 1 << 24
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
ALIASES = {"gbk": "gb18030", "gb2312": "gb18030", "cp936": "gb18030", "utf8": "utf-8"}


@dataclass(frozen=True)
class TextScan:
    """What one pass over a text file found."""

    encoding: str
    detected: bool
    n_lines: int
    empty_lines: np.ndarray  # 1-based physical numbers of empty lines, ascending


def normalise_encoding(name: str) -> str:
    """Canonical codec name; raises LookupError for an unknown one."""
    info = codecs.lookup(ALIASES.get(name.lower(), name))
    return ALIASES.get(info.name, info.name)


def scan_text_file(path: str | os.PathLike[str], encoding: str | None = None) -> TextScan:
    """Detect (or check) the encoding of ``path`` and find its empty lines.

    Raises
    ------
    DataError
        When the bytes do not decode, naming the line and byte offset.
    """
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(4)
    detected = encoding is None
    if encoding is None:
        encoding = next((enc for bom, enc in _BOMS if head.startswith(bom)), None)
    candidates = [encoding] if encoding else ["utf-8", "gb18030"]
    failure: tuple[str, int, bytes] | None = None
    for candidate in candidates:
        result = _try_decode(path, candidate)
        if isinstance(result, TextScan):
            return TextScan(result.encoding, detected, result.n_lines, result.empty_lines)
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


def _try_decode(path: Path, encoding: str) -> TextScan | tuple[str, int, bytes]:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    ascii_compatible = encoding not in ("utf-16", "utf-32")
    offset = 0
    n_lines = 0
    empty: list[np.ndarray] = []
    carry = b""  # the open line's first bytes
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(CHUNK)
            final = not chunk
            try:
                decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                pending = len(decoder.getstate()[0]) if not final else 0
                bad_at = offset + exc.start - pending
                return (encoding, max(bad_at, 0), exc.object[exc.start : exc.start + 2])
            if final:
                break
            if ascii_compatible:
                found, n_lines, carry = _empty_lines(chunk, carry, n_lines)
                if found.size:
                    empty.append(found)
            offset += len(chunk)
    if ascii_compatible and carry:
        n_lines += 1  # a last line without a newline
    empties = np.concatenate(empty) if empty else np.empty(0, dtype=np.int64)
    return TextScan(encoding, True, n_lines, empties)


def _empty_lines(chunk: bytes, carry: bytes, lines_before: int) -> tuple[np.ndarray, int, bytes]:
    """Physical numbers of the empty lines that end in ``chunk``.

    ``carry`` is the start of the line left open by the previous chunk (at most two
    bytes are kept: enough to tell an empty or a lone ``\\r`` line). Returns the numbers,
    the running line count and the new carry.
    """
    buf = np.frombuffer(chunk, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
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
