"""Text columns of the policy's tables through Arrow: taken, compared and looked up
without a Python text per customer (200,000 objects made and made into Arrow text again
by each frame)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# one copy of each, in data: review's follow-ups take and order text the same way
from custrisk.data._arrays import TEXT, text_array, texts_of


def equal(text: pa.Array, value: str) -> np.ndarray:
    """Which values of ``text`` are ``value`` (compared by Arrow: no Python text per
    row; a missing value is not)."""
    return pc.fill_null(pc.equal(text, value), False).to_numpy(zero_copy_only=False)


__all__ = ["TEXT", "equal", "text_array", "texts_of"]
