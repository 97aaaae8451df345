"""A CSV file's rows read into Arrow, every record mapped to its physical line.

:class:`CsvReader` parses the data lines after the header with Arrow (typed columns
where asked, text where a value does not parse), leaves out the lines that cannot be
rows (:mod:`custrisk.io.csv_lines` finds them) as :class:`BadRow`, and numbers each row
with its line in the file; a file cut off mid-write is refused.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from custrisk.errors import DataError
from custrisk.io.csv_lines import (
    FIELD_COUNT,
    OVERSIZED_LINE,
    SHOWN_BYTES,
    UNCLOSED_QUOTE,
    FilteredStream,
    LineFault,
    RecordLayout,
    find_broken_records,
    skipped_lines,
)
from custrisk.io.encoding import TextScan, open_ascii
from custrisk.privacy import mask_pii_text

MAX_VALUE_LINES = 20  # a quoted text value spans at most this many lines
_BLOCK_BYTES = 1 << 20  # the CSV parser's block: a record must fit in two


@dataclass(frozen=True)
class BadRow:
    """A line the CSV parser could not make a row of: wrong number of fields, an unclosed
    quote, a stray carriage return or an oversized line (``rule``)."""

    line: int
    expected: int
    actual: int
    text: str
    rule: str = FIELD_COUNT
    message: str | None = None  # None: "expected N fields, found M"
    column: str = ""  # the canonical column at fault, when one is
    #: A workbook row's cells as text, in the order of the header (a CSV line's fields
    #: are its ``text``): the cleaner reads the key of the rejected row from them, so
    #: that the customer's other rows are ``customer_rejected`` rather than orphans.
    cells: tuple[str | None, ...] = ()


class CsvReader:
    """One CSV file read into Arrow, with every record mapped to its physical line."""

    def __init__(
        self,
        path: Path,
        scan: TextScan,
        header: list[str],
        header_end: int,
        chosen: Mapping[str, str],
        *,
        header_line: int = 1,
        delimiter: str,
        typed: Mapping[str, pa.DataType],
        multiline: Collection[str],
        null_values: Sequence[str],
        true_values: Sequence[str],
        false_values: Sequence[str],
        max_line_bytes: int,
        unnamed: Sequence[str] = (),
    ) -> None:
        self.path = path
        self.scan = scan
        self.header = header
        self.header_end = header_end
        #: The header's line (2 under Excel's sep= line): the data starts on the next.
        self.header_line = header_line
        self.chosen = [name for name in header if name in chosen]
        # Arrow reads every column when none is named: read the first to count the rows
        # (and the columns without a name, to check that they are empty)
        self.include = [*(self.chosen or header[:1]), *unnamed]
        self.delimiter = delimiter
        self.multiline = multiline
        # a wide file's rows may be as long as a few headers
        self.max_line_bytes = max(max_line_bytes, 4 * header_end)
        self.column_types = {name: pa.large_string() for name in self.include}
        self.column_types.update(typed)
        self.null_values = list(null_values)
        self.true_values = list(true_values) or ["true"]
        self.false_values = list(false_values) or ["false"]
        lengths = scan.long_spans[:, 1] - scan.long_spans[:, 0]
        over = (scan.long_lines > header_line) & (lengths > self.max_line_bytes)
        self.oversized = self._oversized(scan.long_lines[over], scan.long_spans[over])

    def read(self) -> tuple[pa.Table, np.ndarray, list[BadRow]]:
        """The rows, the line of each, and the lines that are not rows."""
        # A stray CR can make more rows than lines, which the count check below cannot
        # see: walk the lines first.
        layout = self._layout() if self.scan.bare_cr else None
        while True:
            faults = [*self.oversized, *(layout.faults if layout else [])]
            skipped = skipped_lines(
                self.scan.empty_lines[self.scan.empty_lines > self.header_line],
                [f.line for f in faults],
                layout.continuation if layout else [],
            )
            expected = max(self.scan.n_lines - self.header_line, 0) - len(skipped)
            try:
                table, bad = (
                    self._parse(faults, layout is not None and layout.multiline)
                    if expected
                    else (self._empty(), [])
                )
            except pa.ArrowInvalid as exc:
                if layout is None:
                    layout = self._layout()
                    continue
                raise DataError(
                    f"cannot parse the CSV: {_arrow_error(exc)}",
                    file=str(self.path),
                    hint="check the delimiter and the quoting of the file",
                ) from None
            records = table.num_rows + len(bad)
            if records == expected and (layout is not None or not _ends_in_value(table, bad)):
                break
            if layout is None:
                layout = self._layout()
                continue
            raise DataError(
                f"the CSV parser found {records:,} rows in {expected:,} data lines",
                file=str(self.path),
                hint="check the quoting of the file (a quote opened and not closed)",
            )
        # Records are the lines left after the header, empty lines, faults and the lines
        # that continue a multi-line value; pyarrow numbers them from 1.
        first = self.header_line + 1  # the first data line
        bad_index = np.array(sorted(n - 1 for n, *_ in bad), dtype=np.int64)
        if bad_index.size:
            record_index = _nth_remaining(np.arange(table.num_rows), 0, bad_index)
            lines = _nth_remaining(record_index, first, skipped)
        else:  # every row a record: one array of their lines, not two, of 32 bits when
            # they fit (20 MB at 4.9M rows, against two of 39 MB)
            kind = np.int32 if table.num_rows + first < 2**31 else np.int64
            lines = _nth_remaining(np.arange(first, table.num_rows + first, dtype=kind), 0, skipped)
        bad_lines = _nth_remaining(bad_index, first, skipped)
        bad_rows = [
            BadRow(int(line), exp, act, text)
            for line, (_, exp, act, text) in zip(bad_lines, sorted(bad), strict=True)
        ]
        bad_rows += [
            BadRow(
                f.line,
                len(self.header),
                0,
                _line_text(f.text, self.scan.ascii_encoding),
                f.rule,
                f.message,
            )
            for f in faults
        ]
        bad_rows.sort(key=lambda b: b.line)
        if bad_rows and bad_rows[-1].line == self.scan.n_lines and self.scan.unterminated:
            self._refuse_a_cut_file(bad_rows[-1])
        return table, lines, bad_rows

    def _refuse_a_cut_file(self, last: BadRow) -> None:
        """A last line without its line end and with fewer fields than the header (or a
        quoted value left open) is the end of a file cut off while it was being written
        or copied: reading it would drop that line's row and every row the export was
        still to write, silently. A complete last line without a line end is read as
        usual (many tools write no final newline)."""
        if last.rule == UNCLOSED_QUOTE:
            found = "ends inside a quoted value"
        elif last.rule == FIELD_COUNT and last.actual < last.expected:
            found = f"has {last.actual} of the header's {last.expected} fields"
        else:
            return
        raise DataError(
            f"the last line {found} and no line end: the file looks cut off (copied or "
            "read while it was still being written)",
            file=str(self.path),
            line=last.line,
            hint="wait for the export to finish and copy the file again, or export it again",
        )

    def _empty(self) -> pa.Table:
        return pa.schema([(name, self.column_types[name]) for name in self.include]).empty_table()

    def _layout(self) -> RecordLayout:
        with self._stream(()) as stream:
            return find_broken_records(
                stream,
                offset=self.header_end,
                lines_before=self.header_line,
                encoding=self.scan.ascii_encoding,
                delimiter=self.delimiter,
                header=self.header,
                multiline_columns=self.multiline,
                max_line_bytes=self.max_line_bytes,
                max_value_lines=MAX_VALUE_LINES,
            )

    def _stream(self, faults: Sequence[LineFault]) -> BinaryIO:
        """The file after its header, without the lines of ``faults``."""
        handle = open_ascii(self.path, self.scan)
        if self.scan.transcoded:
            _discard(handle, self.header_end)
        else:
            handle.seek(self.header_end)
        if not faults:
            return handle
        spans = sorted((f.start, f.end) for f in faults)
        return io.BufferedReader(FilteredStream(handle, spans, self.header_end), _BLOCK_BYTES)

    def _parse(
        self, faults: Sequence[LineFault], multiline: bool
    ) -> tuple[pa.Table, list[tuple[int, int, int, str]]]:
        bad: list[tuple[int, int, int, str]] = []
        # The file itself when nothing is left out (Arrow reads it natively, skipping
        # the header line and any above it); else a stream without the header and the
        # faulty lines.
        direct = not faults and not self.scan.transcoded and self.scan.limit is None
        # Arrow numbers rows from the first one it reads
        header_rows = self.header_line if direct else 0

        def on_invalid(row: pacsv.InvalidRow) -> str:
            number = (row.number or 0) - header_rows
            bad.append((number, row.expected_columns, row.actual_columns, row.text))
            return "skip"

        encoding = self.scan.ascii_encoding
        parse_options = pacsv.ParseOptions(
            delimiter=self.delimiter,
            invalid_row_handler=on_invalid,
            ignore_empty_lines=True,
            newlines_in_values=multiline,
        )

        def parse(use_threads: bool) -> pa.Table:
            bad.clear()
            with contextlib.nullcontext(self.path) if direct else self._stream(faults) as source:
                return pacsv.read_csv(
                    source,
                    read_options=pacsv.ReadOptions(
                        use_threads=use_threads,
                        column_names=self.header,
                        skip_rows=header_rows,
                        encoding="utf8" if encoding in ("utf-8", "utf-8-sig") else encoding,
                        block_size=max(_BLOCK_BYTES, self.max_line_bytes),
                    ),
                    parse_options=parse_options,
                    convert_options=pacsv.ConvertOptions(
                        include_columns=self.include,
                        column_types=self.column_types,
                        strings_can_be_null=False,
                        quoted_strings_can_be_null=False,
                        null_values=self.null_values,
                        true_values=self.true_values,
                        false_values=self.false_values,
                        timestamp_parsers=[pacsv.ISO8601],
                    ),
                )

        for _attempt in range(len(self.include) + 1):
            try:
                table = parse(use_threads=True)
                if bad:  # row numbers are only known to the single-threaded parser
                    table = parse(use_threads=False)
            except pa.ArrowInvalid as exc:
                column = _failed_column(str(exc), self.header)
                if column is None or pa.types.is_large_string(
                    self.column_types.get(column, pa.large_string())
                ):
                    raise
                self.column_types[column] = pa.large_string()  # as text: the cleaner decides
                continue
            suspect = [name for name in self.include if _needs_text(table.column(name))]
            if not suspect:
                break
            for name in suspect:
                self.column_types[name] = pa.large_string()
        return table, bad

    def _oversized(self, numbers: np.ndarray, spans: np.ndarray) -> list[LineFault]:
        if not numbers.size:
            return []
        faults = []
        with open_ascii(self.path, self.scan) as handle:
            position = 0
            for number, (start, end) in zip(numbers.tolist(), spans.tolist(), strict=True):
                _discard(handle, start - position)
                text = handle.read(SHOWN_BYTES)
                position = start + len(text)
                faults.append(
                    LineFault(
                        number,
                        start,
                        end,
                        OVERSIZED_LINE,
                        f"the line is {end - start:,} bytes long, over the limit of "
                        f"{self.max_line_bytes:,}",
                        text,
                    )
                )
        return faults


def _discard(handle: BinaryIO, size: int) -> None:
    """Skip ``size`` bytes of a stream that may not seek."""
    while size > 0:
        chunk = handle.read(min(size, 1 << 20))
        if not chunk:
            return
        size -= len(chunk)


def _line_text(raw: bytes, encoding: str) -> str:
    return raw.decode(encoding, errors="replace").rstrip("\r\n")


def _ends_in_value(table: pa.Table, bad: list[tuple[int, int, int, str]]) -> bool:
    """Whether the last record holds a line break: a quote left open on the last data
    line swallows only empty lines, which the row count alone does not show."""
    if bad and ("\n" in bad[-1][3] or "\r" in bad[-1][3]):
        return True
    if not table.num_rows:
        return False
    last = table.slice(table.num_rows - 1)
    for column in last.columns:
        value = column[0].as_py()
        if isinstance(value, str) and ("\n" in value or "\r" in value):
            return True
    return False


def _arrow_error(exc: pa.ArrowInvalid) -> str:
    """Arrow's message without the row it quotes (personal data), masked, short."""
    text = re.sub(r"(columns, got \d+):.*", r"\1", str(exc), flags=re.S)
    text = mask_pii_text(text.replace("\n", " "))
    return text if len(text) <= 200 else text[:199] + "…"


def _failed_column(message: str, header: list[str]) -> str | None:
    """The column named in an Arrow CSV conversion error, if any."""
    found = re.search(r"column #(\d+)", message)
    if found and int(found.group(1)) < len(header):
        return header[int(found.group(1))]
    return None


def _needs_text(column: pa.ChunkedArray) -> bool:
    """Typed values the cleaner must see as text: infinities, NaN, dates with a time."""
    if pa.types.is_floating(column.type):
        finite = pc.is_finite(column)
        return bool(pc.any(pc.invert(pc.fill_null(finite, True))).as_py())
    if pa.types.is_timestamp(column.type):
        if not _any_time_of_day(column):
            return False
        with_time = pc.not_equal(pc.floor_temporal(column, unit="day"), column)
        return bool(pc.any(pc.fill_null(with_time, False)).as_py())
    return False


_TICKS_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def _any_time_of_day(column: pa.ChunkedArray) -> bool:
    """Whether any tick of a time-zone-free timestamp column, its empty slots' included,
    is not at midnight: ``False`` is exact (the CSV reader's empty slots hold zero,
    another value there only sends the column to the exact check). Block by block, in
    a buffer the size of the parser's blocks rather than one the size of the column
    (4.9M transactions: a fifth of the time of Arrow's flooring, no fresh memory)."""
    if column.type.tz is not None:
        return True
    day = _TICKS_PER_DAY[column.type.unit]
    for chunk in column.chunks:
        if not len(chunk):
            continue
        ticks = np.frombuffer(
            chunk.buffers()[1], dtype=np.int64, count=len(chunk), offset=chunk.offset * 8
        )
        if np.remainder(ticks, day).any():
            return True
    return False


def _nth_remaining(i: np.ndarray, base: int, skipped: np.ndarray) -> np.ndarray:
    """The ``i``-th (0-based) integer counting from ``base`` once ``skipped`` are removed
    (``i`` itself when nothing is: no copy of millions of row numbers)."""
    if not skipped.size:
        return i + base if base else i
    out = np.add(i, base, dtype=np.int64)  # one array as long as ``i``, added to in place
    remaining_before = skipped - base - np.arange(skipped.size)
    out += np.searchsorted(remaining_before, i, side="right")
    return out
