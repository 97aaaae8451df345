"""Records and physical lines of a CSV file: one record per line, faults line by line.

A CSV parser reads a quote opened in a field and never closed as one value that runs on
over the following lines, up to the next stray quote or the end of the file: the rows
in between vanish into one field (or, read in blocks, are dropped). custrisk reads a
record as one physical line. A quoted value may span lines only in a column whose type
allows line breaks (free text), for a few lines; any other line that opens a quote it
does not close is rejected on its own and the lines after it are read as records again.

:func:`find_broken_records` walks the lines once and says which lines to leave out and
which lines continue a multi-line value; :class:`FilteredStream` serves the file without
the lines left out, for the CSV parser.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

READ_CHUNK = 1 << 20

UNCLOSED_QUOTE = "unclosed_quote"
STRAY_CR = "stray_cr"
OVERSIZED_LINE = "oversized_line"
FIELD_COUNT = "field_count"


@dataclass(frozen=True)
class LineFault:
    """A physical line left out of the records, with why."""

    line: int
    start: int  # byte offsets [start, end) of the line, terminator included
    end: int
    rule: str
    message: str
    text: bytes  # the line's first bytes (at most SHOWN_BYTES)


SHOWN_BYTES = 500


@dataclass
class RecordLayout:
    """Which lines are left out and which lines continue a multi-line value."""

    faults: list[LineFault] = field(default_factory=list)
    continuation: list[int] = field(default_factory=list)

    @property
    def multiline(self) -> bool:
        """Whether some record keeps a value that spans lines."""
        return bool(self.continuation)


@dataclass
class _Line:
    number: int
    start: int
    end: int
    raw: bytes | None  # None: longer than the limit (not kept in memory)


@dataclass
class _Open:
    """A record whose quoted value has not been closed yet."""

    first: _Line
    opened_in: int  # the field whose quote opened on the first line
    open_field: int  # the field open now
    lines: list[_Line] = field(default_factory=list)  # the lines after the first
    size: int = 0


def find_broken_records(
    stream: BinaryIO,
    *,
    offset: int,
    encoding: str,
    delimiter: str,
    header: Sequence[str],
    multiline_columns: Collection[str],
    max_line_bytes: int,
    max_value_lines: int,
    lines_before: int = 1,
) -> RecordLayout:
    """Walk the data lines of ``stream`` (positioned after the header line, at byte
    ``offset``: the file's first ``lines_before`` lines are the header and any line
    above it) the way the CSV parser splits records.

    A record whose quoted value runs past its line is kept when every field holding a
    line break is one of ``multiline_columns`` and the record spans at most
    ``max_value_lines`` lines and ``max_line_bytes`` bytes; otherwise its first line is
    a fault and the walk starts again on the next line. Lines over ``max_line_bytes``
    are left out by the caller; a value cannot run through one.
    """
    allowed = {i for i, name in enumerate(header) if name in multiline_columns}
    layout = RecordLayout()
    lines = _candidate_lines(
        stream,
        offset,
        lines_before=lines_before,
        delimiter=delimiter,
        encoding=encoding,
        max_line_bytes=max_line_bytes,
        window=max_value_lines,
    )
    pending: deque[_Line] = deque()
    record: _Open | None = None

    def column(index: int) -> str:
        return f"column '{header[index]}'" if index < len(header) else f"field {index + 1}"

    def fault(line: _Line, rule: str, message: str) -> None:
        assert line.raw is not None
        layout.faults.append(
            LineFault(line.number, line.start, line.end, rule, message, line.raw[:SHOWN_BYTES])
        )

    def unclosed(line: _Line, index: int, why: str) -> None:
        fault(line, UNCLOSED_QUOTE, f"a quote opened in {column(index)} is not closed: {why}")

    def give_up(open_record: _Open, why: str) -> None:
        unclosed(open_record.first, open_record.opened_in, why)
        pending.extendleft(reversed(open_record.lines))

    while True:
        line = pending.popleft() if pending else next(lines, None)
        if line is None:
            if record is None:
                break
            give_up(record, "the value would run on to the end of the file")
            record = None
            continue
        if record is None:
            if line.raw is None or _is_empty(line.raw):
                continue
            body = _body(line.raw)
            if b'"' not in body:
                if b"\r" in body:
                    fault(line, STRAY_CR, _STRAY_CR_TEXT)
                continue
            walk = _walk(body.decode(encoding, errors="replace"), delimiter, False, 0)
            bad = walk.broken - allowed
            if walk.stray_cr:
                fault(line, STRAY_CR, _STRAY_CR_TEXT)
            elif bad:
                fault(
                    line,
                    STRAY_CR,
                    f"a carriage return (CR) inside a quoted value: {_NO_BREAKS}",
                )
            elif walk.open and walk.field not in allowed:
                unclosed(line, walk.field, _NO_BREAKS)
            elif walk.open:
                record = _Open(line, walk.field, walk.field, size=len(line.raw))
            continue
        # the line continues a quoted value opened on an earlier line
        if line.raw is None:
            pending.appendleft(line)
            give_up(record, "the next line is over the size limit")
            record = None
            continue
        record.lines.append(line)
        record.size += len(line.raw)
        walk = _walk(
            _body(line.raw).decode(encoding, errors="replace"), delimiter, True, record.open_field
        )
        bad = (walk.broken | ({walk.field} if walk.open else set())) - allowed
        if walk.stray_cr:
            give_up(record, "a carriage return (CR) would split the row")
        elif bad:
            give_up(record, f"the row would hold a line break in {column(min(bad))}")
        elif len(record.lines) >= max_value_lines:
            give_up(record, f"the value would span more than {max_value_lines} lines")
        elif record.size > max_line_bytes:
            give_up(record, f"the row would be longer than {max_line_bytes:,} bytes")
        elif walk.ragged:
            give_up(record, "the quote that would close it is followed by more text")
        elif walk.open:
            record.open_field = walk.field
            continue
        elif walk.field + 1 != len(header):
            give_up(record, f"the row would have {walk.field + 1} fields, not {len(header)}")
        else:
            layout.continuation.extend(part.number for part in record.lines)
        record = None
    layout.faults.sort(key=lambda f: f.line)
    return layout


_STRAY_CR_TEXT = "a carriage return (CR) inside the line would split it into two rows"
_NO_BREAKS = "only text columns may hold line breaks"


def open_quote(text: str, delimiter: str) -> bool:
    """Whether a line (without its terminator) leaves a quoted value open at its end."""
    return _walk(text, delimiter, False, 0).open


def _is_empty(raw: bytes) -> bool:
    return raw in (b"\n", b"\r\n", b"", b"\r")


def _body(raw: bytes) -> bytes:
    """The line without its terminator."""
    if raw.endswith(b"\n"):
        raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
    return raw


@dataclass
class _Walk:
    open: bool  # the line ends inside a quoted value
    field: int  # index of the field the line ends in
    broken: set[int]  # fields holding a CR inside quotes
    stray_cr: bool  # a CR outside quotes (a record break for the CSV parser)
    ragged: bool = False  # a closing quote followed by more of the value, not a delimiter


def _walk(text: str, delimiter: str, in_quotes: bool, field_index: int) -> _Walk:
    """Follow the CSV parser's states over one line (terminator removed).

    Quoting is recognised only at the start of a field; ``""`` inside quotes is a quote;
    after the closing quote the field goes on unquoted to the next delimiter.
    """
    pos, end = 0, len(text)
    broken: set[int] = set()
    stray = ragged = False
    while True:
        if not in_quotes and pos < end and text[pos] == '"':
            in_quotes = True
            pos += 1
        if in_quotes:
            start = pos
            while True:
                quote = text.find('"', pos)
                if quote < 0:
                    if "\r" in text[start:]:
                        broken.add(field_index)
                    return _Walk(True, field_index, broken, stray, ragged)
                if quote + 1 < end and text[quote + 1] == '"':
                    pos = quote + 2
                    continue
                break
            if "\r" in text[start:quote]:
                broken.add(field_index)
            pos = quote + 1
            in_quotes = False
            ragged = ragged or (pos < end and not text.startswith(delimiter, pos))
        next_delimiter = text.find(delimiter, pos)
        stop = end if next_delimiter < 0 else next_delimiter
        if "\r" in text[pos:stop]:
            stray = True
        if next_delimiter < 0:
            return _Walk(False, field_index, broken, stray, ragged)
        field_index += 1
        pos = next_delimiter + 1


def _candidate_lines(
    stream: BinaryIO,
    offset: int,
    *,
    lines_before: int,
    delimiter: str,
    encoding: str,
    max_line_bytes: int,
    window: int,
) -> Iterator[_Line]:
    """The data lines of ``stream`` (from line ``lines_before + 1``) that may not be a
    plain one-line row,
    and the ``window`` lines after each, where a quoted value might go on.

    A line is plain when it holds no CR but its terminator and its quotes, if any, each
    open a field or close one (``"a","b"``): NumPy finds those, chunk by chunk, so that
    only the other lines are walked one by one. Lines over ``max_line_bytes`` come
    without their bytes.
    """
    # An ASCII delimiter's byte is never part of a UTF-8 character, nor is one below 0x40
    # part of a GB18030 (or Big5, Shift-JIS) one: only then are quotes judged by the
    # bytes around them; otherwise every line with a quote is walked.
    utf8 = encoding.replace("-", "").lower() in ("utf8", "utf8sig")
    code = ord(delimiter) if delimiter.isascii() and (utf8 or ord(delimiter) < 0x40) else -1
    number = lines_before  # lines before ``buffer``
    carry = b""  # an incomplete line from the previous chunk
    long_start: int | None = None  # an incomplete line already over the limit
    extra = 0  # lines of the next chunk still inside an earlier candidate's window
    while True:
        chunk = stream.read(_SCAN_CHUNK)
        final = not chunk
        if long_start is not None:
            newline = chunk.find(b"\n")
            if newline < 0 and not final:
                offset += len(chunk)
                continue
            stop = len(chunk) if newline < 0 else newline + 1
            number += 1
            yield _Line(number, long_start, offset + stop, None)
            offset += stop
            chunk = chunk[stop:]
            long_start, extra = None, max(extra - 1, 0)
        buffer = carry + chunk
        start_offset = offset - len(carry)
        offset += len(chunk)
        data = np.frombuffer(buffer, dtype=np.uint8)
        ends = np.flatnonzero(data == 10) + 1
        if final and buffer and (not ends.size or ends[-1] < len(buffer)):
            ends = np.append(ends, len(buffer))  # a last line without a newline
        n = int(ends.size)
        tail = buffer[int(ends[-1]) if n else 0 :]
        if n:
            starts = np.concatenate(([0], ends[:-1]))
            marked = _unusual(data, starts, ends, code) | (ends - starts > max_line_bytes)
            seeds = np.flatnonzero(marked)
            for step in range(1, window + 1):
                marked[seeds[seeds + step < n] + step] = True
            marked[: min(extra, n)] = True
            extra = max(int(seeds[-1]) + window + 1 - n if seeds.size else 0, extra - n, 0)
            for i in np.flatnonzero(marked).tolist():
                begin, end = int(starts[i]), int(ends[i])
                raw = buffer[begin:end] if end - begin <= max_line_bytes else None
                yield _Line(number + 1 + i, start_offset + begin, start_offset + end, raw)
            number += n
        if final:
            return
        carry = tail
        if len(carry) > max_line_bytes:
            long_start, carry = offset - len(carry), b""


_SCAN_CHUNK = 1 << 24


def _unusual(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, delimiter: int) -> np.ndarray:
    """Lines holding a CR other than before their LF, or quotes that do not each open or
    close a whole field (a quote inside a value, an escaped quote, one left open)."""
    n = starts.size
    unusual = np.zeros(n, dtype=bool)
    returns = np.flatnonzero(data == 13)
    if returns.size:
        follows = np.append(data, 10)[returns + 1]
        last = returns + 1 == len(data)
        unusual[np.searchsorted(ends, returns[(follows != 10) & ~last], side="right")] = True
    quotes = np.flatnonzero(data == 34)
    if not quotes.size:
        return unusual
    line = np.searchsorted(ends, quotes, side="right")
    if delimiter < 0:
        unusual[line] = True
        return unusual
    counts = np.bincount(line, minlength=n)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    opening = (np.arange(quotes.size) - first[line]) % 2 == 0
    before = np.where(quotes > starts[line], data[np.maximum(quotes - 1, 0)], 10)
    after = np.append(data, 10)[quotes + 1]
    after = np.where(quotes + 1 < ends[line], after, 10)
    fits = np.where(
        opening,
        (before == delimiter) | (before == 10),
        (after == delimiter) | (after == 13) | (after == 10),
    )
    unusual[line[~fits]] = True
    unusual[counts % 2 == 1] = True
    return unusual


class FilteredStream(io.RawIOBase):
    """A binary stream over ``source`` from its current position, without the byte
    ranges ``skip`` (sorted, non-overlapping [start, end) offsets of ``source``)."""

    def __init__(self, source: BinaryIO, skip: Sequence[tuple[int, int]], position: int) -> None:
        self._source = source
        self._skip = deque(skip)
        self._pos = position

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(target)
        done = 0
        while done < len(view):
            while self._skip and self._pos >= self._skip[0][0]:
                start, stop = self._skip.popleft()
                while self._pos < stop:
                    dropped = self._source.read(min(READ_CHUNK, stop - self._pos))
                    if not dropped:
                        return done
                    self._pos += len(dropped)
            want = len(view) - done
            if self._skip:
                want = min(want, self._skip[0][0] - self._pos)
            data = self._source.read(want)
            if not data:
                break
            view[done : done + len(data)] = data
            done += len(data)
            self._pos += len(data)
        return done

    def close(self) -> None:
        self._source.close()
        super().close()


def skipped_lines(*groups: Collection[int] | np.ndarray) -> np.ndarray:
    """The sorted, distinct line numbers of all ``groups``."""
    parts = [
        np.asarray(list(g) if not isinstance(g, np.ndarray) else g, dtype=np.int64) for g in groups
    ]
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
