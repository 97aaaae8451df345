"""Masking personal data."""

from __future__ import annotations

from pathlib import Path

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
    # full-width digits, as a Chinese input method types them
    assert mask_pii_text("电话１３８１２３４５６７８") == "电话１３８****５６７８"
    assert mask_pii_text("11010519491231002Ｘ") == "110***********002Ｘ"


def test_a_huge_field_is_masked_as_a_short_one_is() -> None:
    """A hostile export's 1 MB field quoted in a rejects file: the same masks as in a
    short text (the plain pattern retried the e-mail from every letter of a long run
    and took half an hour on it; this test then ran as long)."""
    text = (
        "line 3: 张伟,13812345678,11010519491231002X,+86 139-1234-5678,021-12345678,"
        "zhang.wei@example.com,0000000001,2026-04-27,720,T000000002341"
    )
    run = "a" * 500_000
    masked = mask_pii_text(f"{run} {text} {run}@{run}")
    assert masked == f"{run} {mask_pii_text(text)} {run}@{run}"


def test_an_email_glued_to_a_spaced_phone_is_masked_in_a_long_text_too() -> None:
    """Above 2,000 characters the e-mail's local part started only where a run of its
    characters starts, so 138 1234 5678wang@x.com kept wang@x.com in clear (a short text
    masked it). Masked as in a short text now, and in time linear in the text's length:
    a field of phones each followed by letters (the glued e-mail looked for after every
    one) takes about four times as long at four times the length (1.1 MB)."""
    import time

    glued = "备注 138 1234 5678wang.li@x.com.cn, +86 139 1234 5678li@y.cn"
    short = mask_pii_text(glued)
    assert "wang.li@" not in short and "li@y" not in short
    assert mask_pii_text(glued + " " + "a" * 2100).startswith(short + " ")
    took = []
    for size in (1, 4):
        field = "138 1234 5678a" * (size * 20_000)
        start = time.perf_counter()
        mask_pii_text(field)
        took.append(time.perf_counter() - start)
    assert took[1] < took[0] * 12  # (quadratic: 16 times)


def test_cli_errors_mask_the_phones_and_id_numbers_they_quote(tmp_path: Path) -> None:
    """docs/security.md: error messages mask phone numbers, ID numbers and e-mail
    addresses in any text they quote. The audit line did; the terminal (and cron's mail)
    got the clear values, e.g. report --customers 13298480483 said them back in clear."""
    from typer.testing import CliRunner

    from custrisk.cli import app

    env = {"CUSTRISK_AUDIT": "off", "CUSTRISK_KEY": ""}
    missing = tmp_path / "310101200010239260" / "13298480483.csv"
    result = CliRunner().invoke(app, ["alerts", str(missing)], env=env)
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "13298480483" not in said and "310101200010239260" not in said
    assert "310***********9260" in said and "132****0483.csv" in said
