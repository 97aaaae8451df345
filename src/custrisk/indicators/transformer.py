"""The indicator step as a scikit-learn transformer (for model pipelines)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from custrisk.indicators.compute import compute_indicators
from custrisk.indicators.config import load_indicator_config
from custrisk.indicators.spec import CUSTOMER_ID, IndicatorConfig


class IndicatorTransformer(TransformerMixin, BaseEstimator):
    """Turn a workspace's frames into one row of indicators per customer.

    Follows the scikit-learn contract so that it composes into a ``Pipeline`` with the
    binning and scorecard steps and is saved with them as one artifact (it pickles; the
    expressions are compiled again from their text when loaded).

    Parameters
    ----------
    config : IndicatorConfig, path or None
        The indicator config; ``None`` for the default one.
    as_of : datetime.date, str or None
        Fixed as-of date; ``None`` uses the config's ``as_of``, else the latest event
        date of the frames given to :meth:`transform`.

    Attributes
    ----------
    config_ : IndicatorConfig
        The validated config.
    feature_names_out_ : numpy.ndarray of str
        The output indicator codes.
    """

    def __init__(
        self,
        config: IndicatorConfig | str | os.PathLike[str] | None = None,
        as_of: dt.date | str | None = None,
    ) -> None:
        self.config = config
        self.as_of = as_of

    def fit(self, X: Mapping[str, pd.DataFrame], y: Any = None) -> IndicatorTransformer:
        """Validate the config (nothing is learned from the data).

        Parameters
        ----------
        X : mapping of str to pandas.DataFrame
            The workspace frames (only checked to be a mapping).
        y : ignored
        """
        if not isinstance(X, Mapping):
            raise TypeError(
                "IndicatorTransformer expects a mapping {source: DataFrame}, got "
                f"{type(X).__name__}"
            )
        config = self.config
        self.config_ = (
            config if isinstance(config, IndicatorConfig) else load_indicator_config(config)
        )
        self.feature_names_out_ = np.asarray(self.config_.output_codes, dtype=object)
        self.n_features_out_ = len(self.feature_names_out_)
        return self

    def transform(self, X: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """Indicators per customer, indexed by ``customer_id``.

        Parameters
        ----------
        X : mapping of str to pandas.DataFrame
            The workspace frames.

        Returns
        -------
        pandas.DataFrame
            One row per customer of ``X["credit"]``, one column per output indicator.
        """
        check_is_fitted(self, "config_")
        result = compute_indicators(X, self.config_, as_of=self.as_of)
        return result.frame.set_index(CUSTOMER_ID)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The output indicator codes."""
        check_is_fitted(self, "config_")
        return np.asarray(self.feature_names_out_, dtype=object)
