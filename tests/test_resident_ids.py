"""The resident id check (`check: cn_id_number`) against GB 11643 written out by hand."""

from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa

from custrisk.data.parse import valid_cn_id_number

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"


def _valid_by_hand(value: str | None) -> bool:
    """17 digits, a check digit (or X) from their weighted sum, a real birth date
    (year 0 too, as pandas parses %Y%m%d: a leap year like 2000)."""
    if value is None or len(value.encode()) != 18 or not value[:17].isascii():
        return False
    if not value[:17].isdigit() or value[17] not in "0123456789X":
        return False
    if CHECK[sum(int(d) * w for d, w in zip(value[:17], WEIGHTS, strict=True)) % 11] != value[17]:
        return False
    try:
        dt.date(int(value[6:10]) or 2000, int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return True


def _ids(count: int, seed: int) -> list[str | None]:
    rng = random.Random(seed)
    out: list[str | None] = []
    for _ in range(count):
        body = "".join(rng.choice("0123456789") for _ in range(17))
        if rng.random() < 0.5:  # birth dates near the calendar's edges
            born = rng.choice(["1990", "2000", "1900", "0000", "2024"])
            born += rng.choice(["02", "13", "00", "12"]) + rng.choice(["29", "30", "31", "00"])
            body = body[:6] + born + body[14:]
        check = CHECK[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11]
        kind = rng.random()
        if kind < 0.6:
            out.append(body + check)
        elif kind < 0.8:  # another check digit, a lower-case x
            out.append(body + rng.choice("0123456789Xx"))
        else:  # a character that is not a digit, one byte or three
            at = rng.randrange(17)
            out.append(body[:at] + rng.choice("a/: 张") + body[at + 1 :] + check)
    return out + [None, "", "张" * 6, "11010519491231002X", "1" * 19, "1" * 17]


def test_resident_ids_are_valid_exactly_as_the_standard_says() -> None:
    values = _ids(5000, seed=7)
    expected = [_valid_by_hand(v) for v in values]
    assert 200 < sum(expected) < 4800  # both kinds, plenty of each

    found = valid_cn_id_number(pa.array(values, type=pa.large_string()))

    assert found.tolist() == expected
    # the same from a slice of a larger array and from pandas text
    assert valid_cn_id_number(pa.array([None, *values])[1:]).tolist() == expected
