"""Score scaling: from the log-odds of good to points, and back.

A scaling is fixed by three numbers: ``base_score`` points at good:bad odds of
``base_odds`` to 1, and ``pdo`` points to double the odds::

    factor = pdo / ln 2
    offset = base_score - factor * ln(base_odds)
    score  = offset + factor * ln(odds of good) = offset + factor * ln((1 - PD) / PD)

Higher scores are safer. Presets:

``default``
    600 points at 50:1, PDO 20 -- the custrisk default (the usual textbook scaling).
``wide_range``
    660 points at 72:1, PDO 40 -- spreads PDs from about 0.1% to 90% over roughly
    300-850 points, the range familiar from consumer bureau scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from custrisk.errors import ConfigError
from custrisk.estimators._validation import check_float

__all__ = ["PD_CLIP", "SCALING_PRESETS", "Scaling"]

#: PDs are clipped to ``[PD_CLIP, 1 - PD_CLIP]`` before scaling, so scores stay finite.
PD_CLIP = 1e-9


@dataclass(frozen=True)
class Scaling:
    """Points from the log-odds of good.

    Parameters
    ----------
    base_score : float, default 600
        Score at odds ``base_odds``.
    base_odds : float, default 50
        Good:bad odds (goods per bad) that score ``base_score``; > 0.
    pdo : float, default 20
        Points to double the odds; > 0.
    """

    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0

    def __post_init__(self) -> None:
        check_float(self, "base_score", self.base_score)
        check_float(self, "base_odds", self.base_odds, low=0.0, low_open=True)
        check_float(self, "pdo", self.pdo, low=0.0, low_open=True)
        for name in ("base_score", "base_odds", "pdo"):
            object.__setattr__(self, name, float(getattr(self, name)))

    @classmethod
    def from_preset(cls, name: str) -> Scaling:
        """The scaling of a named preset (see :data:`SCALING_PRESETS`)."""
        try:
            return SCALING_PRESETS[name]
        except (KeyError, TypeError):
            raise ConfigError(
                "The 'scaling' preset must be one of "
                f"{', '.join(repr(k) for k in SCALING_PRESETS)}. Got {name!r} instead."
            ) from None

    @classmethod
    def resolve(cls, value: Scaling | str | dict[str, Any] | None) -> Scaling:
        """A Scaling from an instance, a preset name, a dict of parameters or ``None``."""
        if value is None:
            return cls()
        if isinstance(value, Scaling):
            return value
        if isinstance(value, str):
            return cls.from_preset(value)
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"base_score", "base_odds", "pdo"})
            if unknown:
                raise ConfigError(
                    f"The 'scaling' parameters are base_score, base_odds and pdo. "
                    f"Got {', '.join(map(repr, unknown))} instead."
                )
            return cls(**value)
        raise ConfigError(
            "The 'scaling' parameter must be a Scaling, a preset name or a dict of "
            f"base_score/base_odds/pdo. Got {value!r} instead."
        )

    @property
    def factor(self) -> float:
        """Points per unit of log-odds: ``pdo / ln 2``."""
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        """Score at even odds: ``base_score - factor * ln(base_odds)``."""
        return self.base_score - self.factor * math.log(self.base_odds)

    def score_from_log_odds(self, log_odds_good: Any) -> Any:
        """Score from the natural log of the good:bad odds (float or array)."""
        # written around the base point, so that base_odds gives exactly base_score
        values = np.asarray(log_odds_good, dtype=float)
        result = self.base_score + self.factor * (values - math.log(self.base_odds))
        return float(result) if values.ndim == 0 else result

    def score_from_odds(self, odds_good: Any) -> Any:
        """Score from the good:bad odds (goods per bad)."""
        return self.score_from_log_odds(np.log(np.asarray(odds_good, dtype=float)))

    def score_from_pd(self, pd_bad: Any) -> Any:
        """Score from the probability of bad (float or array); PDs are clipped to
        ``[PD_CLIP, 1 - PD_CLIP]``.

        Raises
        ------
        ValueError
            If a PD is outside ``[0, 1]`` or NaN.
        """
        values = np.asarray(pd_bad, dtype=float)
        if np.isnan(values).any() or (values < 0).any() or (values > 1).any():
            raise ValueError("PD must be a probability in [0, 1]")
        clipped = np.clip(values, PD_CLIP, 1.0 - PD_CLIP)
        result = self.score_from_log_odds(np.log1p(-clipped) - np.log(clipped))
        return float(result) if values.ndim == 0 else result

    def log_odds_from_score(self, score: Any) -> Any:
        """Log-odds of good from a score."""
        values = np.asarray(score, dtype=float)
        result = (values - self.base_score) / self.factor + math.log(self.base_odds)
        return float(result) if values.ndim == 0 else result

    def pd_from_score(self, score: Any) -> Any:
        """Probability of bad from a score (float or array)."""
        log_odds = np.asarray(self.log_odds_from_score(score), dtype=float)
        result = 1.0 / (1.0 + np.exp(log_odds))
        return float(result) if result.ndim == 0 else result

    def to_dict(self) -> dict[str, float]:
        """A JSON-ready dict: parameters plus the derived factor and offset."""
        return {
            "base_score": self.base_score,
            "base_odds": self.base_odds,
            "pdo": self.pdo,
            "factor": self.factor,
            "offset": self.offset,
        }


#: Named scalings.
SCALING_PRESETS: dict[str, Scaling] = {
    "default": Scaling(600.0, 50.0, 20.0),
    "wide_range": Scaling(660.0, 72.0, 40.0),
}
