"""Score scaling: 600 at 50:1, PDO 20; presets; PD <-> score."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrisk.errors import ConfigError
from custrisk.estimators.scaling import SCALING_PRESETS, Scaling


def test_base_odds_give_exactly_the_base_score() -> None:
    scaling = Scaling()
    assert scaling.score_from_odds(50) == 600.0
    assert scaling.score_from_pd(1 / 51) == pytest.approx(600.0, abs=1e-9)
    assert scaling.pd_from_score(600) == pytest.approx(1 / 51)


def test_doubling_the_odds_adds_pdo_points() -> None:
    scaling = Scaling()
    for odds in (1.0, 12.5, 50.0, 400.0):
        gained = scaling.score_from_odds(2 * odds) - scaling.score_from_odds(odds)
        assert gained == pytest.approx(20.0, abs=1e-9)
    assert scaling.score_from_odds(100) == pytest.approx(620.0, abs=1e-9)
    assert scaling.score_from_odds(25) == pytest.approx(580.0, abs=1e-9)


def test_factor_and_offset_are_the_textbook_numbers() -> None:
    # Siddiqi, Credit Risk Scorecards: 600 points at 50:1 odds, PDO 20 ->
    # factor = 20 / ln 2 = 28.8539, offset = 600 - 28.8539 ln 50 = 487.1229.
    scaling = Scaling(600, 50, 20)
    assert scaling.factor == pytest.approx(28.8539, abs=5e-5)
    assert scaling.offset == pytest.approx(487.1229, abs=5e-5)
    assert scaling.score_from_pd(0.5) == pytest.approx(487.1229, abs=5e-5)  # odds 1:1
    assert scaling.to_dict()["factor"] == pytest.approx(28.8539, abs=5e-5)


def test_presets() -> None:
    assert Scaling.from_preset("default") == Scaling(600, 50, 20)
    wide = Scaling.from_preset("wide_range")
    assert wide.score_from_odds(72) == 660.0
    assert wide.score_from_odds(144) == pytest.approx(700.0)
    assert set(SCALING_PRESETS) == {"default", "wide_range"}
    assert Scaling.resolve("wide_range") is wide
    assert Scaling.resolve({"base_score": 500, "base_odds": 1, "pdo": 50}).score_from_odds(1) == 500
    assert Scaling.resolve(None) == Scaling()
    with pytest.raises(ConfigError, match="preset must be one of 'default', 'wide_range'"):
        Scaling.from_preset("fico")
    with pytest.raises(ConfigError, match="'scaling' parameters are"):
        Scaling.resolve({"base": 600})


def test_higher_scores_are_safer() -> None:
    scores = Scaling().score_from_pd(np.array([0.01, 0.05, 0.2, 0.6]))
    assert np.all(np.diff(scores) < 0)


def test_pd_bounds() -> None:
    scaling = Scaling()
    assert math.isfinite(scaling.score_from_pd(0.0))
    assert math.isfinite(scaling.score_from_pd(1.0))
    with pytest.raises(ValueError, match="PD must be a probability"):
        scaling.score_from_pd(1.5)
    with pytest.raises(ValueError, match="PD must be a probability"):
        scaling.score_from_pd([0.1, float("nan")])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pdo": 0}, r"The 'pdo' parameter of Scaling must be a float in the range \(0, inf\]"),
        ({"base_odds": -1}, r"The 'base_odds' parameter of Scaling must be"),
        ({"base_score": float("nan")}, r"The 'base_score' parameter of Scaling must be"),
        ({"pdo": "20"}, r"Got '20' instead"),
    ],
)
def test_parameters_are_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Scaling(**kwargs)  # type: ignore[arg-type]


@given(
    pd_bad=st.floats(1e-6, 1 - 1e-6),
    base=st.floats(300, 900),
    odds=st.floats(0.5, 200),
    pdo=st.floats(5, 100),
)
def test_pd_score_round_trip(pd_bad: float, base: float, odds: float, pdo: float) -> None:
    scaling = Scaling(base, odds, pdo)
    assert scaling.pd_from_score(scaling.score_from_pd(pd_bad)) == pytest.approx(
        pd_bad, rel=1e-9, abs=1e-12
    )


def test_arrays_round_trip() -> None:
    scaling = Scaling.from_preset("wide_range")
    pds = np.linspace(0.001, 0.999, 50)
    np.testing.assert_allclose(scaling.pd_from_score(scaling.score_from_pd(pds)), pds, rtol=1e-9)
