"""The credit ids prepared once for the orphan check of many buckets (clean.KnownIds): a
bucket's values are found among millions of ids without hashing every id again, exactly
as Arrow's lookup finds them, hash collisions included."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.data.known_ids import KnownIds

IDS = pd.Series([f"C{i:06d}" for i in range(5_000)] + [None, "客户-7", "C 1"], dtype="str")


def _exact(values: pa.Array, known: KnownIds) -> np.ndarray:
    found = pc.index_in(values, value_set=known.arrow)
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False)


def test_positions_equal_arrows_lookup() -> None:
    known = KnownIds(IDS)
    values = pa.array(
        ["C000000", "C004999", "C005000", None, "", "客户-7", "C 1", "c000001", "C000123"],
        type=pa.large_string(),
    )
    got = known.positions(values)
    assert got.tolist() == _exact(values, known).tolist()
    assert got.tolist() == [0, 4999, -1, -1, -1, 5000, 5001, -1, 123]


def test_a_hash_collision_is_looked_up_exactly() -> None:
    """A value whose hash an id shares, with other text, is not taken for that id."""
    known = KnownIds(IDS)
    hashes, order = known._prepared_lookup()
    stranger = pa.array(["ZZZ"], type=pa.large_string())
    collided = hashes.copy()
    # the stranger's hash given to the id at the first sorted position
    collided[0] = pd.util.hash_array(np.array(["ZZZ"], dtype=object))[0]
    resorted = np.argsort(collided, kind="stable")
    known._lookup = (collided[resorted], order[resorted])
    assert known.positions(stranger).tolist() == [-1]
    member = pa.array(["C000042", "ZZZ"], type=pa.large_string())
    assert known.positions(member).tolist() == [42, -1]


def test_a_copy_read_back_shares_what_the_first_built() -> None:
    """Sent to a worker and spilled and read back, the ids keep one prepared lookup per
    process, not one per copy; a pickle carries the ids and the token only."""
    known = KnownIds(IDS)
    known.positions(pa.array(["C000001"], type=pa.large_string()))
    payload = pickle.dumps(known)
    assert len(payload) < 2 * len(pickle.dumps(IDS))
    first = pickle.loads(payload)
    first.positions(pa.array(["C000002"], type=pa.large_string()))
    again = pickle.loads(payload)
    assert again._lookup is first._lookup and again.arrow is first.arrow
    assert again.positions(pa.array(["C000003"], type=pa.large_string())).tolist() == [3]


def test_a_compact_column_holds_the_ids_it_uses() -> None:
    """For an engine's bucket: the same column as over every id, with only the ids its
    rows have as categories (in the ids' order), and every id's categories never built."""
    codes = np.array([5, -1, 3, 5, 4999, 0], dtype=np.int32)
    whole = KnownIds(IDS).column(codes)
    compact = KnownIds(IDS, compact=True)
    got = compact.column(codes)
    pd.testing.assert_series_equal(pd.Series(got), pd.Series(whole).cat.remove_unused_categories())
    assert list(got.categories) == ["C000000", "C000003", "C000005", "C004999"]
    assert compact._categories is None


def _numbered(ids: list[str]) -> KnownIds:
    return KnownIds(pd.Series(ids, dtype="str"))


def test_numbered_ids_are_found_exactly_as_arrows_lookup_finds_them() -> None:
    """Customer numbers of one width are looked up by number: a value of another width,
    with a sign, a space or a full-width digit is not taken for the id of its number."""
    rng = np.random.default_rng(5)
    numbers = rng.choice(np.arange(1_000, 60_000), size=20_000, replace=False)
    known = _numbered([f"{n:010d}" for n in numbers])
    ids = [f"{n:010d}" for n in numbers[:50]]
    strangers = [
        f"{numbers[0]:d}",  # its number, another width
        f"{numbers[1]:011d}",
        f"+{numbers[2]:09d}",
        f"-{numbers[3]:09d}",
        f" {numbers[4]:09d}",
        "０" + f"{numbers[5]:09d}",  # a full-width zero
        "0000000999",  # below the span
        "9999999999",  # above it
        f"{numbers[6]:010d}"[:-1] + "x",
        "",
        None,
    ]
    for kind in (pa.large_string(), pa.string()):
        values = pa.array(ids + strangers + ids[::-1], type=kind)
        got = known.lookup(values)
        assert got.dtype == np.int32
        assert got.tolist() == _exact(values.cast(pa.large_string()), known).tolist()
        assert (got[: len(ids)] == np.arange(len(ids))).all()
        assert (got[len(ids) : len(ids) + len(strangers)] == -1).all()
        whole = pa.array(ids, type=kind)  # every value numbered: the one-pass path
        assert known.lookup(whole).tolist() == list(range(len(ids)))
    assert known._numbered  # (looked up by number, not by Arrow)


def test_ids_not_numbered_alike_are_looked_up_by_arrow() -> None:
    """Mixed widths, letters, or numbers too sparse for a table: the same positions."""
    for ids, by_number in (
        (["42", "0042", "7"], False),
        (["0001", "A002", "0003"], False),
        (["0000000001", "9000000000"], False),
        (["1", "1", "2"], True),  # an id twice: its first position, as Arrow's
    ):
        known = _numbered(ids)
        values = pa.array([*ids, "0042", "42", "9000000000", "2", None], type=pa.large_string())
        assert known.lookup(values).tolist() == _exact(values, known).tolist()
        assert bool(known._numbered) == by_number


def test_a_column_read_in_blocks_is_encoded_as_in_one_piece() -> None:
    """The customer column of a source, in the reader's blocks, becomes the same
    dictionary over the credit ids (and the unknown ids after them) as in one piece."""
    from custrisk.data.known_ids import encode_among

    known = _numbered([f"{n:08d}" for n in range(100, 600)])
    rng = np.random.default_rng(2)
    values: list[str | None] = [f"{n:08d}" for n in rng.integers(50, 650, size=3_000)]
    values[7], values[2_500] = None, "客户-1"
    blocks = pa.chunked_array(
        [pa.array(values[i : i + 700], type=pa.large_string()) for i in range(0, 3_000, 700)]
    )
    whole = encode_among(blocks.combine_chunks(), known)
    by_block = encode_among(blocks, known)
    assert by_block.equals(whole)
    assert by_block.dictionary[: len(known)].equals(known.arrow)
    assert by_block.to_pylist() == values
