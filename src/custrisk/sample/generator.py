"""Synthetic but realistic monthly exports: credit, transactions, behaviour, labels.

The entry point and its public API: the options' checks (:func:`validate_options`,
:func:`resolve_as_of`), :func:`generate_sample_data`, which writes the tables drawn by
:mod:`custrisk.sample.tables` chunk by chunk through :mod:`custrisk.io.atomic` (CSV
text built column-wise with pyarrow compute kernels), and :func:`generate_frames`,
which returns the same clean tables in memory. ``dirty=True`` injects realistic faults
into the written files (never into the frames returned by :func:`generate_frames`) and
lists each one in ``faults.csv``.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from custrisk.errors import UsageError
from custrisk.io.atomic import atomic_open, ensure_dir
from custrisk.sample._base import (
    BEHAVIOUR_FILE,
    CREDIT_FILE,
    DEFAULT_AS_OF,
    ENCODINGS,
    FAULT_KINDS,
    FAULTS_FILE,
    GROUND_TRUTH_FILE,
    LABELS_FILE,
    MAX_AS_OF,
    MAX_CUSTOMERS,
    MAX_DRIFT,
    MAX_MONTHS,
    MIN_AS_OF,
    TRANSACTIONS_FILE,
    _Column,
    _Params,
)
from custrisk.sample._csv import _CsvWriter, _format_chunk, _to_frame
from custrisk.sample.faults import _FAULT_PLANS, _FaultRecord, _inject_faults, _write_faults
from custrisk.sample.tables import (
    CREDIT_COLUMNS,
    EVENT_COLUMNS,
    LABEL_COLUMNS,
    TRUTH_COLUMNS,
    TXN_COLUMNS,
    add_months,
    behaviour_chunks,
    credit_chunk,
    label_chunk,
    make_portfolio,
    month_end,
    transaction_chunks,
    truth_chunk,
    windows,
)

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_AS_OF",
    "ENCODINGS",
    "FAULT_KINDS",
    "SampleFrames",
    "SampleSummary",
    "generate_frames",
    "generate_sample_data",
    "resolve_as_of",
    "validate_options",
]


# --------------------------------------------------------------------------------------
# Public results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleSummary:
    """What :func:`generate_sample_data` wrote.

    Attributes
    ----------
    out_dir : Path
        The folder the files were written to.
    paths : Mapping[str, Path]
        File name (e.g. ``"credit.csv"``) to the path written, in writing order.
    rows : Mapping[str, int]
        File name to its number of data rows (header excluded, injected faulty rows
        included).
    customers : int
        Customers in the portfolio (rows of ``labels.csv``).
    bad_rate : float
        Share of customers with ``bad == 1``.
    as_of : date
        The export date used (see :func:`resolve_as_of`).
    seed, drift, encoding
        The seed, drift and (normalised) encoding used.
    faults : Mapping[str, int]
        Fault kind to the number injected; empty unless ``dirty=True``.
    """

    out_dir: Path
    paths: Mapping[str, Path]
    rows: Mapping[str, int]
    customers: int
    bad_rate: float
    as_of: date
    seed: int
    drift: float
    encoding: str
    faults: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("paths", "rows", "faults"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @property
    def n_faults(self) -> int:
        """Total number of injected faults (lines of ``faults.csv``)."""
        return sum(self.faults.values())


@dataclass(frozen=True)
class SampleFrames:
    """The clean tables, in memory, exactly as :func:`generate_sample_data` writes them.

    Identifiers, names and categories are strings; dates are ``datetime64[s]``; money
    is float with 2 decimals; integer columns with missing values are ``Int64`` and
    ``resolved`` is ``boolean``.
    """

    credit: pd.DataFrame
    transactions: pd.DataFrame
    behaviour: pd.DataFrame
    labels: pd.DataFrame
    ground_truth: pd.DataFrame
    as_of: date

    def tables(self) -> dict[str, pd.DataFrame]:
        """File name to frame, in the order the files are written."""
        return {
            CREDIT_FILE: self.credit,
            LABELS_FILE: self.labels,
            GROUND_TRUTH_FILE: self.ground_truth,
            TRANSACTIONS_FILE: self.transactions,
            BEHAVIOUR_FILE: self.behaviour,
        }


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------


def resolve_as_of(as_of: date | None, drift: float) -> date:
    """The export date used when the caller gives ``as_of`` (or not).

    An explicit ``as_of`` is always used as given. Without one, a clean export is for
    2026-10-31 and a drifted export (``drift > 0``) stands for the following month's
    export, so its date is the last day of the next month, 2026-11-30.
    """
    if as_of is not None:
        return as_of
    if drift > 0:
        return month_end(add_months(DEFAULT_AS_OF, 1))
    return DEFAULT_AS_OF


def validate_options(
    *,
    customers: Any = 500,
    months: Any = 12,
    as_of: Any = None,
    seed: Any = 42,
    drift: Any = 0.0,
    encoding: Any = "utf-8",
    option_names: Mapping[str, str] | None = None,
) -> None:
    """Raise :class:`~custrisk.errors.UsageError` naming the first bad option.

    ``option_names`` maps a parameter to the name shown in the message (the CLI passes
    ``{"customers": "--customers", ...}``).
    """
    names = dict(option_names or {})

    def bad(param: str, value: Any, allowed: str) -> UsageError:
        label = names.get(param, f"'{param}'")
        return UsageError(f"{label} must be {allowed}; got {value!r}")

    if not _is_int(customers) or not 1 <= customers <= MAX_CUSTOMERS:
        raise bad("customers", customers, f"an integer from 1 to {MAX_CUSTOMERS}")
    if not _is_int(months) or not 1 <= months <= MAX_MONTHS:
        raise bad("months", months, f"an integer from 1 to {MAX_MONTHS}")
    if as_of is not None and (
        not isinstance(as_of, date) or not MIN_AS_OF <= _as_date(as_of) <= MAX_AS_OF
    ):
        raise bad("as_of", as_of, f"a date (YYYY-MM-DD) from {MIN_AS_OF} to {MAX_AS_OF}")
    if not _is_int(seed) or not 0 <= seed < 2**63:
        raise bad("seed", seed, "an integer from 0 to 2**63 - 1")
    if (
        isinstance(drift, bool)
        or not isinstance(drift, numbers.Real)
        or not math.isfinite(float(drift))
        or not 0 <= float(drift) <= MAX_DRIFT
    ):
        raise bad("drift", drift, f"a number from 0 to {MAX_DRIFT:g} (standard deviations of risk)")
    if _normalise_encoding(encoding) not in ENCODINGS:
        raise bad("encoding", encoding, "one of " + ", ".join(ENCODINGS))


def _as_date(value: date) -> date:
    # a datetime is a date too; compare and compute on its date part
    return date(value.year, value.month, value.day)


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _normalise_encoding(encoding: Any) -> str | None:
    if not isinstance(encoding, str):
        return None
    text = encoding.strip().lower().replace("_", "-")
    return {"utf8": "utf-8"}.get(text, text)


def _params(
    customers: int, months: int, as_of: date | None, seed: int, drift: float, encoding: str
) -> _Params:
    validate_options(
        customers=customers,
        months=months,
        as_of=as_of,
        seed=seed,
        drift=drift,
        encoding=encoding,
    )
    return _Params(
        customers=int(customers),
        months=int(months),
        as_of=resolve_as_of(None if as_of is None else _as_date(as_of), float(drift)),
        seed=int(seed),
        drift=float(drift),
        encoding=str(_normalise_encoding(encoding)),
    )


# --------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------


def generate_frames(
    *,
    customers: int = 500,
    months: int = 12,
    as_of: date | None = None,
    seed: int = 42,
    drift: float = 0.0,
) -> SampleFrames:
    """Generate the clean sample tables in memory, without writing anything.

    Takes the same arguments as :func:`generate_sample_data` and returns the same
    content that function writes in its clean mode.

    Returns
    -------
    SampleFrames
        credit, transactions, behaviour, labels and ground_truth frames.
    """
    params = _params(customers, months, as_of, seed, drift, "utf-8")
    portfolio = make_portfolio(params)
    credit = credit_chunk(params, portfolio)
    txn_chunks = list(transaction_chunks(params, portfolio))
    event_chunks = list(behaviour_chunks(params, portfolio))
    return SampleFrames(
        credit=_to_frame(CREDIT_COLUMNS, [credit]),
        transactions=_to_frame(TXN_COLUMNS, txn_chunks),
        behaviour=_to_frame(EVENT_COLUMNS, event_chunks),
        labels=_to_frame(LABEL_COLUMNS, [label_chunk(params, portfolio)]),
        ground_truth=_to_frame(TRUTH_COLUMNS, [truth_chunk(portfolio)]),
        as_of=params.as_of,
    )


def generate_sample_data(
    out_dir: str | Path,
    *,
    customers: int = 500,
    months: int = 12,
    as_of: date | None = None,
    seed: int = 42,
    drift: float = 0.0,
    dirty: bool = False,
    encoding: str = "utf-8",
) -> SampleSummary:
    """Write a synthetic monthly export into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into; created if missing. Existing files of the same names are
        replaced atomically; a stale ``faults.csv`` is removed by a clean run.
    customers : int
        Number of customers (one ``credit.csv`` row each), 1 to 20,000,000.
    months : int
        Months of transactions and behaviour events before ``as_of``, 1 to 120.
    as_of : date, optional
        Export date: nothing happens after it. Default 2026-10-31, or 2026-11-30 when
        ``drift > 0`` (see :func:`resolve_as_of`).
    seed : int
        Seed of every random draw; the same arguments give byte-identical files.
    drift : float
        Distribution shift, 0 to 5: the latent risk mean moves up by ``drift``
        standard deviations, and incomes, bureau scores, utilisation, trade frequency
        and complaints shift beyond what that alone implies.
    dirty : bool
        Inject realistic faults into the written files and list them in ``faults.csv``.
    encoding : {"utf-8", "gbk"}
        Text encoding of the files (UTF-8 without BOM, or GBK).

    Returns
    -------
    SampleSummary
        Paths, row counts, bad rate, the ``as_of`` used and the faults injected.

    Raises
    ------
    UsageError
        A parameter is out of range, or ``out_dir`` is an existing file.
    """
    params = _params(customers, months, as_of, seed, drift, encoding)
    dirty = bool(dirty)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: the output folder is an existing file; give a folder path")
    ensure_dir(out)

    portfolio = make_portfolio(params)
    files = [CREDIT_FILE, LABELS_FILE, GROUND_TRUTH_FILE, TRANSACTIONS_FILE, BEHAVIOUR_FILE]
    if dirty:
        files.append(FAULTS_FILE)
    faults: list[_FaultRecord] = []
    rows: dict[str, int] = {}
    with ExitStack() as stack:
        handles = {name: stack.enter_context(atomic_open(out / name, "wb")) for name in files}
        n_windows = len(windows(params))
        jobs: list[tuple[str, tuple[_Column, ...], Iterator[dict[str, Any]], int]] = [
            (CREDIT_FILE, CREDIT_COLUMNS, iter([credit_chunk(params, portfolio)]), 1),
            (LABELS_FILE, LABEL_COLUMNS, iter([label_chunk(params, portfolio)]), 1),
            (GROUND_TRUTH_FILE, TRUTH_COLUMNS, iter([truth_chunk(portfolio)]), 1),
            (TRANSACTIONS_FILE, TXN_COLUMNS, transaction_chunks(params, portfolio), n_windows),
            (BEHAVIOUR_FILE, EVENT_COLUMNS, behaviour_chunks(params, portfolio), n_windows),
        ]
        for name, columns, chunks, n_chunks in jobs:
            writer = _CsvWriter(handles[name], columns, params.encoding)
            for index, chunk in enumerate(chunks):
                cells = _format_chunk(columns, chunk)
                if dirty and name in _FAULT_PLANS:
                    position = (index, n_chunks)
                    cells, records = _inject_faults(name, cells, chunk, params, position)
                    faults.extend(r.at_line(writer.rows + 2) for r in records)
                writer.write(cells)
            rows[name] = writer.rows
        if dirty:
            _write_faults(handles[FAULTS_FILE], faults, params.encoding)
            rows[FAULTS_FILE] = len(faults)
    if not dirty:
        stale = out / FAULTS_FILE
        if stale.exists():
            stale.unlink()
            logger.info("removed %s left by an earlier dirty run", stale)

    summary = SampleSummary(
        out_dir=out,
        paths={name: out / name for name in files},
        rows=rows,
        customers=params.customers,
        bad_rate=float(portfolio.bad.mean()),
        as_of=params.as_of,
        seed=params.seed,
        drift=params.drift,
        encoding=params.encoding,
        faults=dict(sorted(Counter(f.fault for f in faults).items())),
    )
    logger.info(
        "wrote %d customers to %s (bad rate %.3f, as of %s, %d faults)",
        summary.customers,
        out,
        summary.bad_rate,
        summary.as_of,
        summary.n_faults,
    )
    return summary
