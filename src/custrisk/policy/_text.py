"""Text columns of the policy's tables through Arrow: taken, compared and looked up
without a Python text per customer (200,000 objects made and made into Arrow text again
by each frame)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: pandas' text (``str``), held by Arrow.
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)


def texts_of(texts: Sequence[str], index: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``texts[index]`` as pandas text, taken by Arrow (no Python text per row)."""
    taken = pa.array(texts, type=pa.large_string()).take(pa.array(index))
    return pd.array(taken, dtype=TEXT)


def text_array(values: pd.Series) -> pa.Array:
    """A text column as Arrow text (pandas' Arrow text as it is)."""
    if not isinstance(values.dtype, pd.StringDtype):
        values = values.astype("str")
    text = pa.array(values.array)
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


def equal(text: pa.Array, value: str) -> np.ndarray:
    """Which values of ``text`` are ``value`` (compared by Arrow: no Python text per
    row; a missing value is not)."""
    return pc.fill_null(pc.equal(text, value), False).to_numpy(zero_copy_only=False)
