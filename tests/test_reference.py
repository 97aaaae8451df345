"""Reference distributions stored at training for drift checks."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from custrisk.monitoring import build_reference, reference_from_dict


def test_numeric_reference_deciles_and_missing_bin() -> None:
    values = pd.Series(np.r_[np.arange(100, dtype=float), [np.nan] * 5])
    ref = build_reference(values)
    assert ref.kind == "numeric"
    assert len(ref.edges) == 9
    assert ref.counts == (10,) * 10 + (5,)
    assert ref.labels[-1] == "missing"
    assert ref.labels[0] == "[-inf, 10)"
    new = ref.bin_counts(pd.Series([-5.0, 10.0, 1000.0, np.nan]))
    assert new.tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1]


def test_repeated_values_give_fewer_bins() -> None:
    ref = build_reference(pd.Series([0.0] * 80 + [1.0] * 20))
    assert ref.edges == (1.0,)
    assert ref.counts == (80, 20, 0)


def test_categorical_reference_other_and_missing() -> None:
    ref = build_reference(pd.Series(["华东", "华北", "华东", None], dtype="str"))
    assert ref.labels == ("华东", "华北", "other", "missing") or ref.labels == (
        "华北",
        "华东",
        "other",
        "missing",
    )
    assert dict(zip(ref.labels, ref.counts, strict=True)) == {
        "华东": 2,
        "华北": 1,
        "other": 0,
        "missing": 1,
    }
    new = ref.bin_counts(pd.Series(["西南", "华东", None]))
    assert dict(zip(ref.labels, new.tolist(), strict=True)) == {
        "华东": 1,
        "华北": 0,
        "other": 1,
        "missing": 1,
    }


def test_round_trip_through_json() -> None:
    ref = build_reference(pd.Series(np.linspace(0, 1, 50)))
    again = reference_from_dict(json.loads(json.dumps(ref.to_dict())))
    assert again == ref


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.update(counts=d["counts"][:3]), "3 counts for 11 bins"),
        (lambda d: d.update(edges=None), "edges is NoneType, not a list"),
        (lambda d: d.update(counts=["a"] * 11), "counts holds values that are not whole"),
        (lambda d: d.update(counts=[0] * 11), "hold no training rows"),
        (lambda d: d.update(kind="weird"), "kind 'weird' is neither"),
        (lambda d: d.update(edges=d["edges"][::-1]), "not finite and increasing"),
        (lambda d: d.update(edges=d["edges"][:-1]), "11 bins where its numeric cut points make 10"),
    ],
)
def test_a_damaged_reference_is_refused_naming_the_problem(change: Any, match: str) -> None:
    # a card edited by hand must not crash the check nor be read as drift
    data = build_reference(pd.Series(np.linspace(0, 1, 50))).to_dict()
    change(data)
    with pytest.raises(ValueError, match=match):
        reference_from_dict(data)
