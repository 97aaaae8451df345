"""A Parquet export's text categories are read as dictionaries and cleaned as text."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from custrisk.config.sources import load_sources_config
from custrisk.data.clean import clean_source
from custrisk.data.exports import read_export
from custrisk.data.files import read_options

CONFIG = load_sources_config()
CATEGORIES = {
    name: [c.name for c in spec.columns if c.type == "category"]
    for name, spec in CONFIG.sources.items()
}


def _as_parquet(
    raw_csv: Path, out: Path, categories: list[str], *, dictionary: bool, large: bool
) -> Path:
    """The CSV's columns as text (a spreadsheet's or a CRM's Parquet export), written
    dictionary-encoded or plain, with faults in the categories: an unknown value, one
    in another case and width with spaces around it, blanks."""
    table = read_export(raw_csv).table
    kind = pa.large_string() if large else pa.string()
    columns = {n: table.column(n).cast(kind).to_pylist() for n in table.column_names}
    for name in categories:
        values = columns[name]
        known = next(v for v in values if v)
        values[:6] = ["未知类型", f" {known.upper()} ", "", None, "=cmd|' /C calc'!A0", known]
    table = pa.table({n: pa.array(v, kind) for n, v in columns.items()})
    pq.write_table(table, out, use_dictionary=dictionary)
    return out


@pytest.mark.parametrize(("dictionary", "large"), [(True, False), (False, True)])
@pytest.mark.parametrize("source", ["transactions", "behaviour", "credit"])
def test_categories_read_as_dictionaries_clean_as_the_plain_text(
    dirty_300: Path, tmp_path: Path, source: str, dictionary: bool, large: bool
) -> None:
    spec = CONFIG.sources[source]
    assert CATEGORIES[source], source  # a source with categories, or the test says nothing
    path = _as_parquet(
        dirty_300 / spec.file,
        tmp_path / f"{source}.parquet",
        CATEGORIES[source],
        dictionary=dictionary,
        large=large,
    )
    options = read_options(spec, CONFIG)
    read = read_export(path, **options)
    for name in CATEGORIES[source]:
        assert pa.types.is_dictionary(read.table.column(name).type), name
    plain = read_export(path, **{**options, "dictionary_columns": []})
    for name in CATEGORIES[source]:
        assert not pa.types.is_dictionary(plain.table.column(name).type), name
    got = clean_source(spec, [read], CONFIG)
    want = clean_source(spec, [plain], CONFIG)
    pd.testing.assert_frame_equal(got.frame, want.frame)
    pd.testing.assert_frame_equal(got.issues, want.issues)
    faults = want.issues[want.issues["column"].isin(CATEGORIES[source])]
    assert len(faults) >= len(CATEGORIES[source])  # the faults found either way
    assert (got.rows_kept, got.rows_rejected) == (want.rows_kept, want.rows_rejected)


def test_a_category_stored_as_numbers_is_read_as_it_is(tmp_path: Path) -> None:
    """Only text is read as a dictionary (a numeric code column stays numbers)."""
    spec = CONFIG.sources["transactions"]
    name = CATEGORIES["transactions"][0]
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({name: pa.array([1, 2, 1]), "amount": [1.0, 2.0, 3.0]}), path)
    read = read_export(path, **read_options(spec, CONFIG))
    assert read.table.column(name).type == pa.int64()
