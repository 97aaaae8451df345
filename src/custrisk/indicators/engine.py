"""The per-source aggregation engine behind :func:`custrisk.indicators.compute_indicators`.

The customer ids of every source are matched once against the credit table (a hash
join in Arrow) to integer customer codes; every aggregation is then a vectorised
group operation over those codes (see :mod:`custrisk.indicators._groupby`). Derived
expressions run over whole columns with :mod:`custrisk.expr`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import weakref
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.data._arrays import text_array
from custrisk.data.dates import credible_range
from custrisk.errors import DataError
from custrisk.expr import (
    Expression,
    ExprType,
    is_text_categorical,
    to_days,
    to_numbers,
    to_text,
)
from custrisk.indicators import _groupby as gb
from custrisk.indicators.as_of import (
    EPOCH,
    GIVEN_AS_OF,
    DateSpan,
    as_day,
    check_given_as_of,
    check_period_as_of,
    data_as_of,
    day_number,
    warn_ignored,
)
from custrisk.indicators.spec import (
    AS_OF,
    CUSTOMER_ID,
    CUSTOMER_SOURCE,
    Aggregation,
    Indicator,
    IndicatorConfig,
    SourceSettings,
    Window,
)

logger = logging.getLogger(__name__)

#: Rows per thread when matching customer ids (Arrow releases the GIL).
_JOIN_CHUNK = 2_000_000
#: The customer codes of a source's rows (and of the rows an aggregation reads): int32,
#: half of intp on millions of rows; the codes index the credit table's customers.
_CODE = np.int32


def aggregation_names(agg: Aggregation, date: str | None) -> set[str]:
    """The columns an aggregation reads itself: its column, its filter's names and its
    source's date column (derived columns not yet expanded)."""
    names: set[str] = set()
    if agg.column:
        names.add(agg.column)
    if agg.filter is not None:
        names |= agg.filter.names
    if date:
        names.add(date)
    return names


def plan(cfg: IndicatorConfig) -> tuple[list[list[str]], list[str]]:
    """Evaluation order: aggregations per source, grouped by row set; then the rest.

    Aggregations use no other indicator, so they go first, one list per source (the
    lists may run in parallel); grouping those that read the same rows lets one set of
    row positions serve them all (and be freed after). The rest follows in dependency
    order.
    """
    groups: dict[str, dict[tuple[Any, ...], list[str]]] = {}
    for indicator in cfg.indicators:
        agg = indicator.aggregation
        if agg is not None:
            key = (agg.window, agg.offset, agg.filter.text if agg.filter else None)
            groups.setdefault(agg.source, {}).setdefault(key, []).append(indicator.code)
    by_source = [[c for codes in keys.values() for c in codes] for keys in groups.values()]
    done = {code for codes in by_source for code in codes}
    return by_source, [code for code in cfg.order if code not in done]


def _customer_codes(ids: pa.Array | pa.ChunkedArray, customers: pa.Array) -> np.ndarray:
    """Row of ``customers`` holding each id (-1 if absent): a hash join in Arrow, in threads."""
    size = len(ids)
    workers = max(1, min(os.cpu_count() or 1, 8, -(-size // _JOIN_CHUNK)))
    step = -(-size // workers) if size else 1
    parts = [ids.slice(start, step) for start in range(0, size, step)] or [ids]

    def lookup(part: pa.Array | pa.ChunkedArray) -> np.ndarray:
        index = pc.fill_null(pc.index_in(part, value_set=customers), -1)
        return index.to_numpy(zero_copy_only=False).astype(np.intp)

    if len(parts) == 1:
        return lookup(parts[0])
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        return np.concatenate(list(pool.map(lookup, parts)))


class _RowValues(Mapping[str, Any]):
    """Lazy name -> column mapping over one source's rows (for filters and derived columns)."""

    def __init__(self, source: _Source) -> None:
        self.source = source

    def __getitem__(self, name: str) -> Any:
        if name == AS_OF:
            return self.source.engine.as_of_day
        source = self.source
        if (
            name not in source.derived
            and source.types.get(name) is ExprType.STRING
            and name in source.frame.columns
            and is_text_categorical(source.frame[name].dtype)
        ):
            # a category column as it is: a filter such as txn_type == 'order' compares
            # its categories, not the text of millions of rows
            return source.frame[name]
        return source.value(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.source.types)

    def __len__(self) -> int:
        return len(self.source.types)


class _Source:
    """One source's rows, with cached conversions, customer codes and row masks."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        frame: pd.DataFrame,
        settings: SourceSettings,
        types: Mapping[str, ExprType],
    ) -> None:
        # A weak reference: with a strong one, engine and sources formed a cycle that kept
        # every source's frame alive after compute_indicators returned, until the garbage
        # collector happened to run (4.9M transactions held through scoring).
        self.engine: Engine = weakref.proxy(engine)
        self.name = name
        self.frame = frame
        self.settings = settings
        self.types: dict[str, ExprType] = dict(types)
        self.derived = dict(settings.derived)
        for column, expr in settings.derived:
            self.types[column] = expr.type
        self.n_rows = len(frame)
        self._values: dict[str, Any] = {}
        self._codes: np.ndarray | None = None
        self._masks: dict[tuple[Any, ...], np.ndarray] = {}
        self._rows: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = {}

    # -- columns ---------------------------------------------------------------------
    def raw_columns(self, names: set[str] | frozenset[str]) -> set[str]:
        """The frame columns behind ``names`` (derived columns expanded)."""
        out: set[str] = set()
        for name in names:
            if name == AS_OF:
                continue
            expr = self.derived.get(name)
            if expr is None:
                out.add(name)
            else:
                out |= self.raw_columns(expr.names)
        return out

    def uses(self, agg: Aggregation) -> set[str]:
        """The columns (derived ones with what they are made of) an aggregation reads."""
        names = aggregation_names(agg, self.settings.date)
        out: set[str] = set()
        while names:
            name = names.pop()
            if name in out or name == AS_OF:
                continue
            out.add(name)
            expr = self.derived.get(name)
            if expr is not None:
                names |= expr.names
        return out

    def keep_only(self, names: set[str]) -> None:
        """Drop the converted columns not in ``names``."""
        for name in [n for n in self._values if n not in names]:
            del self._values[name]

    def release(self) -> None:
        """Drop every cached conversion, mask, row set and customer code."""
        self._values.clear()
        self._masks.clear()
        self._rows.clear()
        self._codes = None

    def absent(self, names: set[str] | frozenset[str]) -> list[str]:
        return sorted(c for c in self.raw_columns(names) if c not in self.frame.columns)

    def value(self, name: str) -> Any:
        if name not in self._values:
            expr = self.derived.get(name)
            if expr is not None:
                self._values[name] = expr.evaluate(_RowValues(self), self.n_rows)
            else:
                self._values[name] = self._convert(name)
        return self._values[name]

    def _convert(self, name: str) -> Any:
        kind = self.types[name]
        column = self.frame[name]
        try:
            if kind is ExprType.STRING:
                return to_text(column)
            if kind is ExprType.DATE:
                return to_days(column)
            return to_numbers(column)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"cannot read the column as {kind.label}s ({exc})",
                file=self.name,
                column=name,
                hint="the loader should give it its declared type",
            ) from None

    # -- customers and rows ------------------------------------------------------------
    @property
    def codes(self) -> np.ndarray:
        """Customer code (row of the credit table) of each row; -1 for unknown customers."""
        if self._codes is None:
            if self.name == CUSTOMER_SOURCE:
                self._codes = np.arange(self.n_rows, dtype=_CODE)
            else:
                column = self.frame[CUSTOMER_ID]
                if isinstance(column.dtype, pd.CategoricalDtype):
                    # match the categories only, then look the row codes up
                    categories = text_array(column.cat.categories)
                    # (the cleaner's are the credit table's ids, in its order)
                    among = (
                        np.arange(len(categories))
                        if categories.equals(self.engine.ids)
                        else _customer_codes(categories, self.engine.ids)
                    )
                    lookup = np.append(among, -1)
                    self._codes = lookup.astype(_CODE)[column.cat.codes.to_numpy()]
                else:
                    ids = text_array(column, combine=False)
                    self._codes = _customer_codes(ids, self.engine.ids).astype(_CODE)
                unknown = int((self._codes < 0).sum())
                if unknown:
                    logger.warning(
                        "%s: %d rows belong to customers not in the credit table; they are ignored",
                        self.name,
                        unknown,
                    )
        return self._codes

    def rows(self, agg: Aggregation) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the rows an aggregation uses, and their customer codes.

        Only the latest row set is kept (they are large); see :func:`plan`.
        """
        key = (agg.window, agg.offset, agg.filter.text if agg.filter else None)
        if key not in self._rows:
            self._rows.clear()
            mask = self.codes >= 0
            if self.settings.date is not None:  # rows after the as-of date never count
                mask &= self._window_mask(agg.window, agg.offset)
            if agg.filter is not None:
                mask &= self._filter_mask(agg.filter)
            index = np.flatnonzero(mask)
            self._rows[key] = (index, self.codes.take(index))
        return self._rows[key]

    def _window_mask(self, window: Window, offset: Window | None) -> np.ndarray:
        key = ("window", window, offset)
        if key not in self._masks:
            assert self.settings.date is not None
            days = self.value(self.settings.date)
            end = self.engine.as_of
            if offset is not None:
                end = offset.before(end) or end
            start = window.before(end)
            with np.errstate(invalid="ignore"):
                mask = days <= day_number(end)
                if start is not None:
                    mask &= days > day_number(start)
            self._masks[key] = mask
        return self._masks[key]

    def _filter_mask(self, expr: Expression) -> np.ndarray:
        key = ("filter", expr.text)
        if key not in self._masks:
            self._masks[key] = expr.evaluate_mask(_RowValues(self), self.n_rows)
        return self._masks[key]

    def event_days(self) -> np.ndarray | None:
        """The day numbers of the source's event dates (missing ones left out), or
        ``None`` when it has no event date column."""
        if self.settings.date is None or self.settings.date not in self.frame.columns:
            return None
        days = self.value(self.settings.date)
        present: np.ndarray = days[~np.isnan(days)]
        return present

    def latest_day(self) -> float | None:
        """The latest credible event date (day number), ignoring isolated later dates.

        The cleaner rejects such dates already; frames built otherwise (the library
        used directly) get the same protection here, so that one mistyped date does not
        move the as-of date of every customer.
        """
        present = self.event_days()
        if present is None:
            return None
        found = credible_range(present.astype(np.int64))  # whole days
        if found is None:
            return None
        ignored = present > found.latest
        if ignored.any():
            warn_ignored(
                self.name,
                self.settings.date,
                found.limit,
                int(ignored.sum()),
                float(present[ignored].max()),
            )
        return float(found.latest)


class _IndicatorValues(Mapping[str, Any]):
    """Lazy name -> column mapping for derived indicators: indicators, then credit fields."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __getitem__(self, name: str) -> Any:
        if name == AS_OF:
            return self.engine.as_of_day
        if name in self.engine.values:
            return self.engine.values[name]
        return self.engine.credit.value(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.engine.values)

    def __len__(self) -> int:
        return len(self.engine.values)


class Engine:
    def __init__(
        self, cfg: IndicatorConfig, frames: Mapping[str, pd.DataFrame], ids: pa.Array
    ) -> None:
        self.cfg = cfg
        self.ids = ids
        self.n = len(ids)
        self.sources: dict[str, _Source] = {}
        for name, settings in cfg.sources.items():
            frame = frames.get(name)
            if frame is not None:
                self.sources[name] = _Source(self, name, frame, settings, cfg.columns[name])
        self.credit = self.sources[CUSTOMER_SOURCE]
        self.values: dict[str, Any] = {}
        self.unavailable: dict[str, str] = {}
        self.as_of = EPOCH
        self.as_of_day = 0.0

    def resolve_as_of(
        self, as_of: dt.date | str | None, *, check: bool = True, named: Sequence[str] = ()
    ) -> tuple[dt.date, str]:
        """The as-of date and its origin; ``named``: a flat table's file names, whose
        month is the as-of date of a table without dates (:func:`undated_as_of`), and
        is checked against the latest date of one with dates (:func:`check_named_as_of`)."""
        if as_of is not None:
            day, origin = as_day(as_of), "argument"
        elif self.cfg.as_of is not None:
            day, origin = self.cfg.as_of, "config"
        else:
            latest = [
                (d, f"{s.name}.{s.settings.date}")
                for s in self.sources.values()
                if (d := s.latest_day()) is not None
            ]
            day, origin = data_as_of(latest, named)
        check_period_as_of(day, origin)
        if origin in GIVEN_AS_OF and check:
            spans = []
            for source in self.sources.values():
                days = source.event_days()
                if days is not None and days.size:
                    spans.append(
                        DateSpan(source.name, source.settings.date, days.min(), days.max())
                    )
            check_given_as_of(day, origin, spans, self.cfg)
        self.as_of = day
        self.as_of_day = day_number(day)
        return day, origin

    # -- one indicator -----------------------------------------------------------------
    def compute_all(self, codes: list[str]) -> None:
        """Compute ``codes`` in order. When they all aggregate one source other than the
        credit table (a list of :func:`plan`), each of that source's converted columns
        is dropped after its last use, and the rest of its caches at the end: nothing
        after the aggregations reads them, and on millions of transactions they are the
        largest arrays of the computation."""
        indicators = [self.cfg[code] for code in codes]
        source = self._aggregated_source(indicators)
        needed: list[set[str]] = [set()]
        if source is not None:
            for indicator in reversed(indicators):
                assert indicator.aggregation is not None
                needed.append(needed[-1] | source.uses(indicator.aggregation))
            needed.reverse()
        for position, indicator in enumerate(indicators):
            self.compute(indicator)
            if source is not None:
                source.keep_only(needed[position + 1])
        if source is not None:
            source.release()

    def _aggregated_source(self, indicators: list[Indicator]) -> _Source | None:
        names = {i.aggregation.source if i.aggregation else None for i in indicators}
        if len(names) != 1:
            return None
        (name,) = names
        if name is None or name == CUSTOMER_SOURCE:
            return None
        return self.sources.get(name)

    def compute(self, indicator: Indicator) -> None:
        reason = self.why_unavailable(indicator)
        if reason is not None:
            logger.info("indicator %s is unavailable: %s", indicator.code, reason)
            self.unavailable[indicator.code] = reason
            self.values[indicator.code] = self.empty(indicator)
            return
        if indicator.kind == "aggregate":
            assert indicator.aggregation is not None
            value = self.aggregate(indicator.aggregation)
        elif indicator.kind == "field":
            assert indicator.field is not None
            value = self.credit.value(indicator.field)
        else:
            assert indicator.expression is not None
            value = indicator.expression.evaluate(_IndicatorValues(self), self.n)
        self.values[indicator.code] = self.fill(indicator, value)

    def why_unavailable(self, indicator: Indicator) -> str | None:
        if indicator.kind == "aggregate":
            agg = indicator.aggregation
            assert agg is not None
            source = self.sources.get(agg.source)
            if source is None:
                return f"source '{agg.source}' is not in the workspace"
            names = aggregation_names(agg, source.settings.date)
            if source.name != CUSTOMER_SOURCE:
                names.add(CUSTOMER_ID)
            absent = source.absent(names)
            if absent:
                return f"{agg.source} has no column {', '.join(absent)}"
            return None
        if indicator.kind == "field":
            assert indicator.field is not None
            if indicator.field not in self.credit.frame.columns:
                return f"{CUSTOMER_SOURCE} has no column {indicator.field}"
            return None
        assert indicator.expression is not None
        for name in sorted(indicator.expression.names):
            if name in self.unavailable:
                return f"it uses the unavailable indicator {name}"
        fields = {n for n in indicator.expression.names if n not in self.cfg and n != AS_OF}
        absent = self.credit.absent(fields)
        if absent:
            return f"{CUSTOMER_SOURCE} has no column {', '.join(absent)}"
        return None

    def empty(self, indicator: Indicator) -> Any:
        if indicator.categorical:
            return pd.Series(np.full(self.n, np.nan, dtype=object), dtype="str")
        return np.full(self.n, np.nan)

    def fill(self, indicator: Indicator, value: Any) -> Any:
        if indicator.categorical:
            series = to_text(value)
            assert isinstance(series, pd.Series)
            if indicator.missing.action == "fill":
                series = series.fillna(indicator.missing.value)
            return series
        array = np.array(value, dtype=np.float64)
        if indicator.missing.action == "fill":
            assert isinstance(indicator.missing.value, float)
            array[np.isnan(array)] = indicator.missing.value
        return array

    # -- aggregation ---------------------------------------------------------------------
    def aggregate(self, agg: Aggregation) -> Any:
        source = self.sources[agg.source]
        index, codes = source.rows(agg)
        n = self.n
        func = agg.func
        if func == "count" and agg.column is None:
            result: Any = gb.count(codes, n)
        elif func == "days_since":
            assert agg.column is not None
            days, day_codes, _ = _present(source.value(agg.column).take(index), codes)
            ext = gb.extreme(day_codes, days, n, largest=agg.which == "latest")
            result = self.as_of_day - ext
        else:
            assert agg.column is not None
            column = source.value(agg.column)
            if isinstance(column, pd.Series):
                result = self.aggregate_text(source, agg, column, index, codes)
            else:
                result = self.aggregate_numbers(source, agg, column.take(index), index, codes)
        if agg.per_month:
            months = agg.window.months
            assert months is not None
            result = result / months
        return result

    def aggregate_numbers(
        self,
        source: _Source,
        agg: Aggregation,
        values: np.ndarray,
        index: np.ndarray,
        codes: np.ndarray,
    ) -> np.ndarray:
        values, codes, kept = _present(values, codes)
        n, func = self.n, agg.func
        if func == "count":
            return gb.count(codes, n)
        if func == "sum":
            return gb.total(codes, values, n)
        if func == "mean":
            return gb.mean(codes, values, n)
        if func == "median":
            return gb.median(codes, values, n)
        if func == "std":
            return gb.std(codes, values, n)
        if func in ("min", "max"):
            return gb.extreme(codes, values, n, largest=func == "max")
        if func == "nunique":
            value_codes, _ = pd.factorize(values)
            return gb.nunique(codes, value_codes, n)
        return self.pick(source, agg, values, index if kept is None else index[kept], codes)

    def pick(
        self,
        source: _Source,
        agg: Aggregation,
        values: np.ndarray,
        index: np.ndarray,
        codes: np.ndarray,
    ) -> np.ndarray:
        """first/last: ``values`` and ``codes`` belong to the rows at ``index``."""
        assert source.settings.date is not None
        days = source.value(source.settings.date).take(index)
        dated = ~np.isnan(days)
        return gb.pick(codes[dated], days[dated], values[dated], self.n, last=agg.func == "last")

    def aggregate_text(
        self,
        source: _Source,
        agg: Aggregation,
        column: pd.Series,
        index: np.ndarray,
        codes: np.ndarray,
    ) -> Any:
        value_codes, uniques = pd.factorize(column.take(index), sort=True)
        ok = value_codes >= 0
        if agg.func == "count":
            return gb.count(codes[ok], self.n)
        if agg.func == "nunique":
            return gb.nunique(codes[ok], value_codes[ok], self.n)
        picked = self.pick(source, agg, value_codes[ok].astype(np.float64), index[ok], codes[ok])
        found = ~np.isnan(picked)
        out = np.full(self.n, np.nan, dtype=object)
        out[found] = np.asarray(uniques, dtype=object)[picked[found].astype(np.intp)]
        return pd.Series(out, dtype="str")


def _present(
    values: np.ndarray, codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Drop the rows whose value is missing; also returns the kept positions (None: all)."""
    missing = np.isnan(values)
    if not missing.any():
        return values, codes, None
    kept = np.flatnonzero(~missing)
    return values.take(kept), codes.take(kept), kept
