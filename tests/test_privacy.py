"""Masking personal data."""

from __future__ import annotations

import pandas as pd

from custrisk.privacy import mask_id_number, mask_name, mask_phone, mask_pii_text


def test_masks() -> None:
    assert mask_name(pd.Series(["张伟", "欧阳娜娜", None])).tolist()[:2] == ["张**", "欧**"]
    assert mask_phone(pd.Series(["13812345678"])).tolist() == ["138****5678"]
    assert mask_id_number(pd.Series(["11010519491231002X"])).tolist() == ["110***********002X"]
    assert mask_phone(pd.Series(["1234567"])).tolist() == ["*******"]
    assert mask_name(pd.Series([None, ""])).isna().all()


def test_free_text_has_phone_and_id_numbers_and_emails_masked() -> None:
    text = (
        "line 3: 张伟,13812345678,11010519491231002X,+86 139-1234-5678,021-12345678,"
        "zhang.wei@example.com,0000000001,2026-04-27,720,T000000002341"
    )
    masked = mask_pii_text(text)
    for value in ("13812345678", "11010519491231002X", "1234-5678", "zhang.wei@"):
        assert value not in masked
    assert "138****5678" in masked and "110***********002X" in masked
    assert masked.endswith(",0000000001,2026-04-27,720,T000000002341")  # not personal data
