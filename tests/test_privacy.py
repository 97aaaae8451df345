"""Masking personal data."""

from __future__ import annotations

import pandas as pd

from custrisk.privacy import mask_id_number, mask_name, mask_phone


def test_masks() -> None:
    assert mask_name(pd.Series(["张伟", "欧阳娜娜", None])).tolist()[:2] == ["张**", "欧**"]
    assert mask_phone(pd.Series(["13812345678"])).tolist() == ["138****5678"]
    assert mask_id_number(pd.Series(["11010519491231002X"])).tolist() == ["110***********002X"]
    assert mask_phone(pd.Series(["1234567"])).tolist() == ["*******"]
    assert mask_name(pd.Series([None, ""])).isna().all()
