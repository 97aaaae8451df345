"""Orphans in bulk: a linked source whose rows mostly name customers the credit table
lacks, and why.

A few orphans are rows of customers who left or are not in this month's credit table:
each is rejected with its reason. When most rows of a source are orphans, the ids of
the two files do not match — an export from Excel, whose number cells show
``0000000042`` as ``42``; another id scheme; a prefix — and every customer would get
zero-valued indicators from that source: the input is unusable (``max_orphan_share``),
and the message says why when it can tell (leading zeros lost on one side, and which
column to give ``zero_pad``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config.resources import default_config_path
from custrisk.config.sources import CUSTOMER_SOURCE, SourcesConfig, SourceSpec
from custrisk.data._arrays import as_numpy
from custrisk.errors import DataError
from custrisk.protect.pseudonym import READ_PSEUDONYMISED, reading

#: Fewer orphan rows than this never make a source unusable, whatever their share: a
#: small export (a trial, a new branch) with a few customers the credit table lacks is
#: not a mismatch of ids, and two orphans of three rows say nothing of one.
ORPHANS_JUDGED_FROM = 20
#: Distinct customer ids of orphan rows kept, for the message and the diagnosis.
ORPHAN_SAMPLE = 20


@dataclass(frozen=True)
class Orphans:
    """The orphan check of a linked source: the rows it looked at (those every other
    rule kept), how many of them name a customer the credit table lacks, and the first
    few distinct such customer ids (cleaned) with where each first appears (a row's
    position among the source's rows; for an engine cleaning in parts, any number that
    orders the rows as the files do)."""

    checked: int = 0
    found: int = 0
    ids: tuple[str, ...] = ()
    first_rows: tuple[int, ...] = ()

    @classmethod
    def of(cls, values: pd.Series, checked: np.ndarray, orphan: np.ndarray) -> Orphans:
        """The orphans among the rows ``checked``: ``values`` is the cleaned customer
        column. Costs two counts when there are none; the first ids are looked for in
        the first orphan rows, more at a time until enough are found (every row of a
        source of orphans at once took 1.6 s for 4.9M transactions)."""
        found = int(np.count_nonzero(orphan))
        if not found:
            return cls(int(np.count_nonzero(checked)))
        rows = np.flatnonzero(orphan)
        first: dict[str, int] = {}
        start, step = 0, 1024
        while start < len(rows) and len(first) < ORPHAN_SAMPLE:
            part = rows[start : start + step]
            codes, uniques = pd.factorize(values.iloc[part])  # in order of appearance
            # A new id is the first code above every code before it (-1: a blank id).
            running = np.maximum.accumulate(codes)
            for i in np.flatnonzero(np.diff(running, prepend=-1) > 0):
                first.setdefault(str(uniques[codes[i]]), int(part[i]))
            start, step = start + step, step * 2
        ordered = list(first.items())[:ORPHAN_SAMPLE]
        return cls(
            int(np.count_nonzero(checked)),
            found,
            tuple(value for value, _ in ordered),
            tuple(row for _, row in ordered),
        )

    @classmethod
    def merged(cls, parts: Sequence[Orphans]) -> Orphans:
        """The orphans of a source cleaned in parts (each part's first rows in one order
        across parts): counts added, the first distinct ids over all parts."""
        first: dict[str, int] = {}
        for part in parts:
            for value, row in zip(part.ids, part.first_rows, strict=True):
                first[value] = min(row, first.get(value, row))
        ordered = sorted(first.items(), key=lambda item: item[1])[:ORPHAN_SAMPLE]
        return cls(
            sum(p.checked for p in parts),
            sum(p.found for p in parts),
            tuple(value for value, _ in ordered),
            tuple(row for _, row in ordered),
        )


@dataclass(frozen=True)
class Mismatch:
    """What the orphans' ids and the credit table's show of why they differ: an id of
    the credit table, and, when one side's ids lost their leading zeros, that side
    (``padded_source``: the source whose id column needs ``zero_pad: width``) with an
    id as it is there (``short``) and as the other side has it (``full``)."""

    credit_example: str | None = None
    padded_source: str | None = None
    width: int = 0
    short: str = ""
    full: str = ""
    #: The orphans' ids are written like the credit ids (same length, digits and letters
    #: in the same places): the credit table, rather than the ids, is short
    same_form: bool = False


def mismatch_of(ids: pa.Array, values: Sequence[str], source: str) -> Mismatch:
    """Why the orphan ``values`` (ids of ``source``) are not among the credit ``ids``,
    as far as a sample tells: the values lost their leading zeros when the credit ids
    are all digits of one width and at least half the values are shorter digits that
    are credit ids once padded; the credit ids lost theirs when at least half the
    values are digits of one width with leading zeros that are credit ids without
    them."""
    example = str(ids[0].as_py()) if len(ids) else None
    if not values:
        return Mismatch(example)
    digits = [v for v in values if v.isascii() and v.isdigit()]
    width = _digit_width(ids)
    if width is not None:
        short = [v for v in digits if len(v) < width]
        hits = _among(ids, [v.zfill(width) for v in short])
        if 2 * int(hits.sum()) >= len(values):
            first = short[int(np.argmax(hits))]
            return Mismatch(example, source, width, first, first.zfill(width))
    if digits:
        width = Counter(len(v) for v in digits).most_common(1)[0][0]
        zeros = [v for v in digits if len(v) == width and v.startswith("0")]
        hits = _among(ids, [v.lstrip("0") or "0" for v in zeros])
        if 2 * int(hits.sum()) >= len(values):
            first = zeros[int(np.argmax(hits))]
            return Mismatch(example, CUSTOMER_SOURCE, width, first.lstrip("0") or "0", first)
    forms = {_form(str(v)) for v in ids.slice(0, FORM_SAMPLE).to_pylist() if v is not None}
    alike = sum(_form(v) in forms for v in values)
    return Mismatch(example, same_form=2 * alike >= len(values))


#: Credit ids whose forms an orphan's id is compared with.
FORM_SAMPLE = 1000
_LETTER = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"[0-9]")


def _form(value: str) -> str:
    """How an id is written: ``C0042`` -> ``A9999``."""
    return _DIGIT.sub("9", _LETTER.sub("A", value))


def _digit_width(ids: pa.Array) -> int | None:
    """The width of ``ids`` when every one is ASCII digits of that one width."""
    if not len(ids) or ids.null_count:
        return None
    lengths = pc.min_max(pc.binary_length(ids)).as_py()
    if lengths["min"] != lengths["max"] or not pc.all(pc.ascii_is_decimal(ids)).as_py():
        return None
    return int(lengths["min"])


def _among(ids: pa.Array, values: list[str]) -> np.ndarray:
    if not values:
        return np.zeros(0, dtype=bool)
    return as_numpy(pc.is_in(pa.array(values, ids.type), value_set=ids))


def too_many_orphans(spec: SourceSpec, orphans: Orphans | None) -> bool:
    """Whether more than the source's ``max_orphan_share`` of the rows checked (and at
    least :data:`ORPHANS_JUDGED_FROM`) are orphans."""
    return (
        orphans is not None
        and orphans.found >= ORPHANS_JUDGED_FROM
        and orphans.found > spec.max_orphan_share * orphans.checked
    )


def check_orphans(
    spec: SourceSpec,
    cfg: SourcesConfig,
    files: Sequence[str],
    orphans: Orphans | None,
    credit_files: Sequence[str],
    credit_rows: int,
    mismatch: Callable[[Sequence[str]], Mismatch],
) -> None:
    """:class:`DataError` when a linked source has too many orphans
    (:func:`too_many_orphans`), naming the file, the column, the counts, a few ids (not
    when they are personal data: a ``pii`` column, or a pseudonymised command) and the
    fix. ``mismatch`` diagnoses a sample of the orphans' ids against the credit ids
    (:func:`mismatch_of`): called only then, as the credit ids may be on other machines.

    A credit table that kept no row (``credit_rows``) makes every row an orphan: that is
    said as no customer left after cleaning, not as ids that do not match."""
    if not credit_rows or orphans is None or not too_many_orphans(spec, orphans):
        return
    assert spec.customer_key is not None
    credit = cfg.sources[CUSTOMER_SOURCE]
    show_ids = reading() != READ_PSEUDONYMISED and not any(
        source.column(key).pii
        for source, key in ((spec, spec.customer_key), (credit, credit.key))
        if key is not None
    )
    why = mismatch(orphans.ids)
    share = orphans.found / max(orphans.checked, 1)
    said = (
        f"{orphans.found:,} of {orphans.checked:,} rows ({share:.0%}; max_orphan_share "
        f"{spec.max_orphan_share:g}) name a customer not in the credit table"
    )
    if show_ids:
        said += f" (e.g. {', '.join(repr(v) for v in orphans.ids[:2])})"
    credit_name = Path(_files_name(credit, credit_files)).name
    if why.padded_source is not None:
        ours = why.padded_source == spec.name
        if not show_ids:
            example = f"they match once padded to {why.width} digits"
        elif ours:
            example = f"{why.short!r} here is {why.full!r} in {credit_name}"
        else:
            example = f"{why.full!r} here is {why.short!r} there"
        queried = (spec if ours else credit).query is not None
        mine = ("this query" if queried else "this file") if ours else credit_name
        raise DataError(
            f"{said}: the ids of {mine} lost their leading zeros ({example}), as "
            + ("a number column of a database does" if queried else "an Excel number cell does"),
            file=_files_name(spec, files),
            column=spec.customer_key,
            hint=f"add zero_pad: {why.width} to sources.{why.padded_source}.columns."
            f"{spec.customer_key if ours else credit.key} {_in_config(cfg)}",
        )
    if show_ids and why.credit_example is not None:
        said += f"; credit ids look like {why.credit_example!r}"
    if why.same_form:
        reason = (
            f"they are written like its ids, so {credit_name} seems to lack these "
            f"customers (it kept {credit_rows:,} rows)"
        )
        fix = "export the whole credit table, with every customer the other files name"
    else:
        reason = "the ids of the two files do not match (another id scheme, a prefix?)"
        fix = "export both with the same customer ids"
    raise DataError(
        f"{said}: {reason}",
        file=_files_name(spec, files),
        column=spec.customer_key,
        hint=f"{fix}; or set sources.{spec.name}.max_orphan_share {_in_config(cfg)} "
        "(1 turns the check off)",
    )


def _in_config(cfg: SourcesConfig) -> str:
    """Where to make a change: the config, or a copy of the packaged one."""
    if Path(cfg.path).resolve() == default_config_path("sources.yaml").resolve():
        return (
            f"in a copy of {cfg.path} given with --sources ('custrisk init DATA --out DIR' "
            "writes one for your files)"
        )
    return f"in {cfg.path}"


def _files_name(spec: SourceSpec, files: Sequence[str]) -> str:
    """The file of a source, for messages: its path, or its pattern and count."""
    if len(files) == 1:
        return files[0]
    return f"{spec.file} ({len(files)} files)" if files else spec.file


__all__ = [
    "ORPHANS_JUDGED_FROM",
    "Mismatch",
    "Orphans",
    "check_orphans",
    "mismatch_of",
    "too_many_orphans",
]
