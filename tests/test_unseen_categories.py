"""Categories a model never saw: which customers have them and what each algorithm
scores them as (``custrisk score`` says it as a note; the flat-table tests run it)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from custrisk import open_model
from custrisk.scoring.unseen import merged_unseen, unseen_categories, unseen_lines


@pytest.mark.parametrize("algorithm", ["logistic", "tree"])
def test_new_industries_are_counted_named_and_their_treatment_said(
    models_3000: Path, algorithm: str
) -> None:
    model = open_model(f"{algorithm}@1", models_3000)
    known = model.card["reference"]["features"]["industry"]["categories"]
    values = [known[0]] * 5 + ["新能源"] * 3 + ["航天"] * 2 + ["低空经济", None]
    X = pd.DataFrame({"industry": values})
    unseen = unseen_categories(model, X)
    assert set(unseen) == {"industry"}
    fact = unseen["industry"]
    # most customers first; a blank is the missing bin, not a new value
    assert (fact["customers"], fact["values"], fact["distinct"]) == (
        6,
        ["新能源", "航天", "低空经济"],
        3,
    )
    assert fact["scored_as"].startswith("scored as ")
    (line,) = unseen_lines(unseen, {"industry": "行业"})
    assert line.startswith(
        "行业: 6 customers have values the model never saw (新能源, 航天, 低空经济): "
    )
    assert unseen_categories(model, X.iloc[:5]) == {}


def test_the_buckets_of_a_dask_run_add_up() -> None:
    one = {"customers": 3, "values": ["新能源"], "distinct": 1, "scored_as": "x"}
    two = {"customers": 2, "values": ["航天", "新能源"], "distinct": 2, "scored_as": "x"}
    merged = merged_unseen(
        [{"unseen_categories": {"industry": one}}, {}, {"unseen_categories": {"industry": two}}]
    )
    assert merged == {
        "industry": {"customers": 5, "values": ["新能源", "航天"], "distinct": 2, "scored_as": "x"}
    }


def test_a_phone_typed_as_a_category_is_masked_in_the_note(models_3000: Path) -> None:
    model = open_model("logistic@1", models_3000)
    unseen = unseen_categories(model, pd.DataFrame({"industry": ["13812345678"]}))
    assert "13812345678" not in str(unseen)
    assert unseen["industry"]["values"] == ["138****5678"]
