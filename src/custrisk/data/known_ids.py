"""The cleaned customer table's ids as linked sources look them up: :class:`KnownIds`
(prepared once and shared by an engine's buckets), found by number when the ids are
numbers of one width, else by Arrow's lookup or by sorted hashes; and a linked
source's customer column encoded as a dictionary over them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.data._arrays import as_numpy, string_bytes, text_array, to_text
from custrisk.data.clean_columns import TEXT, dictionary_text, is_text

#: KnownIds prepared in this process, by token (an engine's worker gets them back when a
#: spilled copy is read again); the last few only.
_PREPARED: dict[str, KnownIds] = {}
_PREPARED_KEPT = 2


class KnownIds:
    """The cleaned credit table's customer ids, ready for the orphan check: as Arrow
    text, as the categories of the customer column (and their dtype), and as a lookup
    of sorted hashes, each built when first needed and kept.

    An engine cleaning a source in many buckets hands one such object to every bucket
    on a worker. Each bucket then looks up only its own distinct ids (a binary search
    among the hashes, each hit checked on the text), instead of hashing every credit id
    again: with millions of customers and hundreds of buckets that was most of the
    cleaning. With ``compact``, a cleaned customer column gets only the ids its rows
    have as categories, and the categories of every id are never built (an engine
    whose buckets set them again later). Pickled (sent to a worker, spilled), it
    carries the ids as Arrow text and a token; a copy read back in a process that
    prepared the same ids reuses what it built."""

    def __init__(
        self, ids: pd.Series | pa.Array, token: str | None = None, *, compact: bool = False
    ) -> None:
        self.arrow: pa.Array = ids if isinstance(ids, pa.Array) else text_array(ids.dropna())
        self.token = token or uuid.uuid4().hex
        self.compact = compact
        self._categories: pd.Index | None = None
        self._dtype: pd.CategoricalDtype | None = None
        self._lookup: tuple[np.ndarray, np.ndarray] | None = None
        self._numbered: _NumberedIds | None | bool = False  # False: not looked at yet

    @property
    def categories(self) -> pd.Index:
        if self._categories is None:
            self._categories = pd.Index(pd.array(self.arrow, dtype=TEXT))
        return self._categories

    @property
    def dtype(self) -> pd.CategoricalDtype:
        """The customer column's dtype (its categories checked once, not per bucket)."""
        if self._dtype is None:
            self._dtype = pd.CategoricalDtype(self.categories)
        return self._dtype

    def column(self, codes: np.ndarray) -> pd.Categorical:
        """A customer column from positions among the ids (-1: missing): over every id,
        or with ``compact`` over the ids it uses only (in the ids' order)."""
        if not self.compact:
            return pd.Categorical.from_codes(codes, dtype=self.dtype)
        # Codes are positions among the ids: a mask over the ids finds the used ones in
        # order, and its running count renumbers them (no sort of the codes).
        found = codes >= 0
        used = np.zeros(len(self.arrow), dtype=bool)
        used[codes[found]] = True
        renumbered = np.cumsum(used, dtype=np.int32) - 1
        categories = pd.Index(
            pd.array(self.arrow.take(pa.array(np.flatnonzero(used))), dtype="str")
        )
        compacted = np.full(len(codes), -1, dtype=np.int32)
        compacted[found] = renumbered[codes[found]]
        return pd.Categorical.from_codes(compacted, categories=categories)

    def codes(self, values: pd.Series) -> np.ndarray:
        """The position of each value of a column among the ids (-1: not there, or
        missing), looked up once per distinct value of a categorical column."""
        return _codes_in(values, self)

    def positions(self, values: pa.Array) -> np.ndarray:
        """The position of each of a few text ``values`` among the ids (-1: not there,
        or missing), without hashing every id: each value's hash is searched among the
        ids' sorted hashes and a hit is checked on the text. A value whose hash an id
        shares but whose text differs (a hash collision, about one in 10^12 pairs) is
        looked up exactly."""
        hashes, order = self._prepared_lookup()
        out = np.full(len(values), -1, dtype=np.int64)
        if not len(values) or not len(hashes):
            return out
        text = values.to_numpy(zero_copy_only=False)
        present = ~pd.isna(text)
        wanted = pd.util.hash_array(np.where(present, text, "").astype(object))
        at = np.minimum(np.searchsorted(hashes, wanted), len(hashes) - 1)
        hit = present & (hashes[at] == wanted)
        candidates = order[at]
        same = as_numpy(pc.equal(self.arrow.take(pa.array(candidates)), values))
        out[hit & same] = candidates[hit & same]
        doubtful = np.flatnonzero(hit & ~same)
        if len(doubtful):
            exact = pc.index_in(values.take(pa.array(doubtful)), value_set=self.arrow)
            out[doubtful] = pc.fill_null(exact, -1).to_numpy(zero_copy_only=False)
        return out

    @property
    def by_number(self) -> bool:
        """Whether the ids are numbers written with one width, looked up by number."""
        if self._numbered is False:
            self._numbered = _NumberedIds.of(self.arrow)
        return self._numbered is not None

    def lookup(self, values: pa.Array) -> np.ndarray:
        """The position of each of many text ``values`` among the ids (-1: not there, or
        missing), as int32: by number when the ids are numbers written with one width
        (the usual customer numbers), else by Arrow's lookup, which hashes every id and
        every value (4.9M transactions: 0.09 s against 0.21-0.27 s)."""
        if self.by_number:
            assert isinstance(self._numbered, _NumberedIds)
            return self._numbered.positions(values)
        positions = pc.index_in(values.cast(pa.large_string()), value_set=self.arrow)
        return pc.fill_null(positions, -1).to_numpy(zero_copy_only=False).astype(np.int32)

    def _prepared_lookup(self) -> tuple[np.ndarray, np.ndarray]:
        """The ids' hashes, sorted, and the position of each among the ids. Hashed a
        million at a time: the ids as Python text would be several times their Arrow
        size at once."""
        if self._lookup is None:
            step = 1 << 20
            hashes = np.concatenate(
                [
                    pd.util.hash_array(self.arrow.slice(i, step).to_numpy(zero_copy_only=False))
                    for i in range(0, len(self.arrow), step)
                ]
                or [np.empty(0, dtype=np.uint64)]
            )
            order = np.argsort(hashes, kind="stable")
            self._lookup = (hashes[order], order)
        return self._lookup

    def __getstate__(self) -> dict[str, Any]:
        return {"ids": self.arrow, "token": self.token, "compact": self.compact}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["ids"], state["token"], compact=state.get("compact", False)
        )
        # A copy read on a worker: the first is kept, later copies of the same ids
        # (read back after spilling) share what it has built so far.
        prepared = _PREPARED.get(self.token)
        if prepared is None:
            while len(_PREPARED) >= _PREPARED_KEPT:
                _PREPARED.pop(next(iter(_PREPARED)))
            _PREPARED[self.token] = self
        else:
            self.arrow = prepared.arrow
            self._categories, self._dtype = prepared._categories, prepared._dtype
            self._lookup = prepared._prepared_lookup()
            self._numbered = prepared._numbered

    def __len__(self) -> int:
        return len(self.arrow)

    def __sizeof__(self) -> int:
        """Its bytes, for Dask's spilling (``dask.sizeof`` measures an object by it)."""
        size = object.__sizeof__(self) + self.arrow.nbytes
        if self._categories is not None:
            size += int(self._categories.memory_usage(deep=True))
        if self._lookup is not None:
            size += sum(a.nbytes for a in self._lookup)
        return size


def encode_among(column: pa.ChunkedArray | pa.Array, known: KnownIds) -> pa.DictionaryArray:
    """A text column as a dictionary over the ``known`` ids followed by the column's
    other distinct values: one lookup per row, and hashing only the rows not known."""
    if pa.types.is_dictionary(column.type):
        column = dictionary_text(column)
    text: pa.Array | pa.ChunkedArray
    if isinstance(column, pa.ChunkedArray) and is_text(column.type) and known.by_number:
        # Block by block as the reader gave them: the column's text is not copied into
        # one piece (83 MB for 4.9M transactions), and each block's lookup is small.
        text = column
        blocks = [known.lookup(block) for block in column.chunks]
        indices = np.concatenate(blocks) if blocks else np.empty(0, dtype=np.int32)
    else:
        text = to_text(column)
        indices = known.lookup(text)
    rows = np.flatnonzero(indices < 0)
    if not rows.size:
        return pa.DictionaryArray.from_arrays(pa.array(indices), known.arrow)
    unknown = text.take(pa.array(rows))
    if isinstance(unknown, pa.ChunkedArray):
        unknown = unknown.combine_chunks()
    others = pc.dictionary_encode(unknown.cast(pa.large_string()))
    indices[rows] = len(known) + pc.fill_null(others.indices, 0).to_numpy(zero_copy_only=False)
    missing = np.zeros(len(text), dtype=bool)
    missing[rows] = as_numpy(pc.is_null(others.indices))
    return pa.DictionaryArray.from_arrays(
        pa.array(indices, mask=missing if missing.any() else None),
        pa.concat_arrays([known.arrow, others.dictionary]),
    )


def _codes_in(values: pd.Series, known: KnownIds) -> np.ndarray:
    """The position of each value among ``known`` (-1: not there, or missing): looked
    up once per distinct value of a categorical column."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        positions = _positions_among(text_array(values.cat.categories), known)
        # one extra entry for the missing code (-1), which indexes it from the end
        of_category = np.append(positions, -1).astype(np.int32)
        return of_category[values.cat.codes.to_numpy()]
    return _positions_among(to_text(pa.array(values)), known).astype(np.int32)


#: Arrow's lookup hashes every id (about a tenth of a microsecond each) and then each
#: value; the ids' kept lookup hashes each value as Python text (about a microsecond).
#: Measured with 1,000,000 ids: 400,000 values 126 ms against 481 ms, 20,000 values
#: 130 ms against 21 ms.
_INDEX_IN_FROM = 0.1


def _positions_among(values: pa.Array, known: KnownIds) -> np.ndarray:
    """Positions of ``values`` among the ids: Arrow's lookup (it hashes every id) when
    there are more than a tenth as many values as ids, else the ids' kept lookup."""
    if len(values) >= _INDEX_IN_FROM * len(known):
        return known.lookup(values).astype(np.int64)
    return known.positions(values.cast(pa.large_string()))


#: Ids numbered from their lowest may span at most this many numbers per id (plus
#: _SPAN_SLACK) to be looked up in a table of every number in their span.
_SPAN_PER_ID = 4
_SPAN_SLACK = 1 << 16
#: Digits an id may have to be read as a 64-bit number.
_MAX_DIGITS = 18


@dataclass(frozen=True)
class _NumberedIds:
    """Ids that are all numbers written with one width (``0000000042``), as a table from
    each number in their span to the id's position: a value is an id exactly when it has
    that width, only digits, and its number has an entry (one text per number at one
    width, so no value is taken for an id it is not)."""

    width: int
    low: int
    table: np.ndarray  # int32: position of the id numbered low + i, or -1; a -1 last

    @classmethod
    def of(cls, ids: pa.Array) -> _NumberedIds | None:
        if not len(ids) or ids.null_count:
            return None
        starts, ends, _ = string_bytes(ids)
        width = int(ends[0] - starts[0])
        if not 1 <= width <= _MAX_DIGITS or ((ends - starts) != width).any():
            return None
        if not pc.all(pc.ascii_is_decimal(ids)).as_py():
            return None
        numbers = pc.cast(ids, pa.int64()).to_numpy()
        low = int(numbers.min())
        span = int(numbers.max()) - low + 1
        if span > _SPAN_PER_ID * len(numbers) + _SPAN_SLACK:
            return None  # sparse numbers: Arrow's lookup
        table = np.full(span + 1, -1, dtype=np.int32)  # (the last: numbers off the span)
        # backwards, so that an id held twice finds its first position, as Arrow's does
        table[numbers[::-1] - low] = np.arange(len(numbers) - 1, -1, -1, dtype=np.int32)
        return cls(width, low, table)

    def positions(self, values: pa.Array) -> np.ndarray:
        """Each value's position among the ids (-1: not an id, or missing)."""
        starts, ends, _ = string_bytes(values)
        shaped = as_numpy(pc.ascii_is_decimal(values))  # (missing: not)
        shaped &= (ends - starts) == self.width
        if not shaped.all():
            return self._some_positions(values, shaped)
        numbers = pc.subtract(pc.cast(values, pa.int64()), self.low)
        off = len(self.table) - 1
        within = pc.and_(pc.greater_equal(numbers, 0), pc.less(numbers, off))
        return self.table.take(pc.if_else(within, numbers, off).to_numpy())

    def _some_positions(self, values: pa.Array, shaped: np.ndarray) -> np.ndarray:
        out = np.full(len(values), -1, dtype=np.int32)
        rows = np.flatnonzero(shaped)
        if rows.size:
            out[rows] = self.positions(values.take(pa.array(rows)))
        return out
