"""What one column of a flat table is, for :mod:`custrisk.data.infer` (whose docstring
gives the rules): the id among the columns, row numbers, personal data and protected
attributes, the type and role of the others with their reason, a number's plausible range,
and the customer field and canonical name a column takes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence
from types import MappingProxyType
from typing import Any

import pyarrow as pa

from custrisk.config.columns import header_key
from custrisk.data.headers import ScaledField, canonical_name, scaled_field
from custrisk.data.infer_values import (
    EMAIL,
    NUMBER,
    NUMBER_SHARE,
    PHONE,
    cut_text,
    date_share,
    is_whole_number,
    number_of,
    pattern_share,
)
from custrisk.data.parse import decorated_number, valid_cn_id_number
from custrisk.data.text import NUMBER_BLANK_WORDS, note_words, totals_words

#: A text column with at most this many distinct values (or ``CATEGORY_SHARE`` of the
#: rows, whichever is larger, up to ``CATEGORY_MAX``) is a category.
CATEGORY_MIN = 20
CATEGORY_SHARE = 0.05
CATEGORY_MAX = 200
#: Share of the values that must look like phones, id numbers or e-mails for a column to
#: be personal data.
PII_SHARE = 0.5

ID_NAME = "customer_id"

_ID_HEADERS = {
    header_key(h)
    for h in (
        "id",
        "customer_id",
        "customerid",
        "cust_id",
        "client_id",
        "clientid",
        "user_id",
        "account_id",
        "member_id",
        "borrower_id",
        "applicant_id",
        "loan_id",
        "客户编号",
        "客户id",
        "客户代码",
        "客户号",
        "用户id",
        "用户编号",
        "会员编号",
        "借款人编号",
        "申请编号",
        "编号",
        "序号",
        # a company's own ids (a corporate portfolio's customers)
        "统一社会信用代码",
        "社会信用代码",
        "信用代码",
        "纳税人识别号",
        "营业执照号",
        "营业执照号码",
        "组织机构代码",
    )
}
_PII_HEADER = re.compile(
    r"(^|_)(name|full_?name|first_?name|last_?name|surname|contact|address|addr|email|"
    r"e_?mail|phone|mobile|tel|telephone|id_?card|id_?number|passport|ssn)($|_)"
    r"|姓名|名字|名称|联系人|联系电话|联系方式|电话|手机|地址|住址|身份证|证件号|邮箱|护照"
    r"|法人|法定代表人|经办人|担保人|开户名|户名|微信|银行卡|卡号"
    # words that name a person only as the whole header (借款人年龄 is a feature)
    r"|^(?:借款人|负责人|申请人|客户经理|业务员|qq)$",
    re.IGNORECASE,
)
#: Headers of attributes a credit decision must not rest on, by what they are: those
#: 征信业管理条例 (第十四条) forbids collecting (religion, genes, fingerprints, blood
#: type, illness and medical history) and the grounds of discrimination (ethnicity,
#: political affiliation, disability, sexual orientation). Never a feature.
PROTECTED_ATTRIBUTES: MappingProxyType[str, re.Pattern[str]] = MappingProxyType(
    {
        "religion": re.compile(r"宗教|信仰|(^|_)(religion|religious|faith)($|_)"),
        "ethnicity": re.compile(r"民族|种族|(^|_)(ethnicity|ethnic|ethnic_group|race)($|_)"),
        "genes or biometrics": re.compile(r"基因|指纹|血型|(^|_)(genetic|gene|blood_type)($|_)"),
        "health": re.compile(
            r"疾病|病史|健康状况|身体状况|残疾|(^|_)(disease|illness|medical|medical_history|"
            r"health_status|disability|disabled)($|_)"
        ),
        "political affiliation": re.compile(r"政治面貌|党派|(^|_)(political|political_party)($|_)"),
        "sexual orientation": re.compile(r"性取向|(^|_)sexual_orientation($|_)"),
    }
)


def protected_attribute(header: str) -> str | None:
    """What a header names that a credit decision must not rest on (:data:`PROTECTED_ATTRIBUTES`),
    or ``None``."""
    key = re.sub(r"[\W_]+", "_", header_key(header))  # Blood Type, blood-type: blood_type
    return next((what for what, p in PROTECTED_ATTRIBUTES.items() if p.search(key)), None)


#: Contact data inside a text value (a note "客户张三电话13812345678"): a category
#: holding one would keep it in the model's bins.
_CONTACT_IN_TEXT = re.compile(
    r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)|[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"
    r"|(?<!\d)\d{17}[\dXx](?!\d)"
)

_SLUG = re.compile(r"[^a-z0-9]+")
_RESERVED = {"as_of", "and", "or", "not", "true", "false", ID_NAME}


ROW_NUMBERS = (
    "row numbers (1, 2, 3, ... in the file's order): they say where a row is, not who the "
    "customer is, and restart in every file"
)


#: Headers of a row number column (序号, No., #, a pandas index saved as ``Unnamed: 0``).
_ROW_NUMBER_HEADER = re.compile(
    r"序号|行号|no\.?|#|s/?n|index|idx|row_?(?:num|number|no)?|row number|unnamed: ?\d+"
)


def row_number_header(header: str) -> bool:
    return _ROW_NUMBER_HEADER.fullmatch(header_key(header)) is not None


def row_numbers(header: str, values: list[str], rows: int) -> bool:
    """Whether a column holds its rows' numbers: 1 to n (or 0 to n - 1) in order, blank
    in a few rows at most (a report's totals and notes under the table, or their labels,
    合计 and 制表人：..., in it); under a row number's header (序号, No.), any whole numbers
    rising from 0 or 1 (rows deleted after numbering), a few out of order at most (rows
    copied twice). As a feature it would learn the order the table was sorted in (by
    outcome, by date), which the next month's table does not keep."""
    if len(values) < 3 or len(values) < (1 - ID_FAULT_SHARE) * rows:
        return False
    numbers = [v.removesuffix(".0") for v in values]
    if row_number_header(header) and _few_words(numbers):
        numbers = _without_captions(numbers)
    # (合计 and 制表人：... in the first column of the rows under the table: not numbers)
    labels = 0
    while labels < _REPORT_ROWS and len(numbers) > 3 and not numbers[-1].isdigit():
        numbers.pop()
        labels += 1
    if labels and not _report_labels(values[-labels:]):
        return False
    if numbers[0] not in ("0", "1") or not all(v.isdigit() for v in numbers):
        return False
    if row_number_header(header):
        # (a row copied twice repeats its number, beside it or further down: a few rows
        # out of order, each a duplicate_row for cleaning)
        unordered = sum(int(a) >= int(b) for a, b in zip(numbers, numbers[1:], strict=False))
        return unordered <= ID_FAULT_SHARE * len(numbers)
    return all(v == str(int(numbers[0]) + i) for i, v in enumerate(numbers))


def _few_words(values: list[str]) -> bool:
    """Whether at most a few values (:data:`ID_FAULT_SHARE`) are not whole numbers."""
    return sum(not v.isdigit() for v in values) <= ID_FAULT_SHARE * len(values)


def _without_captions(numbers: list[str]) -> list[str]:
    """A row number column's values without the words the numbering goes on under: a
    report's 小计 rows and its groups' captions (华东区) between two rows numbered one
    after the other, or above the first. Words under the last number are left for the
    check of a report's labels (合计, 制表人：...); words after which the numbering does
    not go on are kept (and are no row numbers)."""
    out: list[str] = []
    i = 0
    while i < len(numbers):
        if numbers[i].isdigit():
            out.append(numbers[i])
            i += 1
            continue
        j = i
        while j < len(numbers) and not numbers[j].isdigit():
            j += 1
        before = int(out[-1]) if out and out[-1].isdigit() else None
        if j == len(numbers) or int(numbers[j]) != (before + 1 if before is not None else 1):
            out.extend(numbers[i:j])
        i = j
    return out


#: Rows under a table a report may write its labels in (合计, 小计, 制表人：..., 审核：...).
_REPORT_ROWS = 5


def _report_labels(values: list[str]) -> bool:
    """Whether every value is a totals row's or a report note's label."""
    text = pa.array(values, type=pa.string())
    return bool((totals_words(text) | note_words(text)).all())


def detect_id(headers: list[str], texts: dict[str, list[str]], exclude: str | None) -> str | None:
    """The first column whose header names an id and whose values are unique."""
    rows = max((len(v) for v in texts.values()), default=0)
    for header in headers:
        if header == exclude:
            continue
        key = header_key(header)
        named = (
            key in _ID_HEADERS
            or key.endswith(("_id", "_no", "编号", "id"))
            or canonical_name(header) == ID_NAME
        )
        if named and rows and mostly_unique(texts[header], rows) and not _leads_pii(texts[header]):
            return header
    return None


#: A column whose header names an id is the id when at most this share of its rows
#: repeat an earlier id or are blank: those rows are rejected while cleaning (duplicate
#: key, blank id), each with its reason, rather than every customer losing its id.
ID_FAULT_SHARE = 0.1


def mostly_unique(values: list[str], rows: int) -> bool:
    return rows - len(set(values)) <= ID_FAULT_SHARE * rows


def _leads_pii(values: list[str]) -> bool:
    sample = values[:2000]
    return pattern_share(sample, PHONE) >= PII_SHARE or pattern_share(sample, EMAIL) >= PII_SHARE


def classify(
    header: str,
    values: list[str],
    arrow_type: pa.DataType,
    words_true: set[str],
    words_false: set[str],
    date_formats: Sequence[str],
    rows: int | None = None,
) -> tuple[str, str, str, bool]:
    """(type, role, reason, pii) of a column that is neither the id nor the target
    (``values``: its filled cells, of ``rows`` rows when known)."""
    n = len(values)
    if n == 0:
        return "string", "ignored", "blank in every row", False
    sample = values[:5000]
    protected = protected_attribute(header)
    if protected is not None:
        return (
            "string",
            "ignored",
            f"a protected attribute ({protected}): a credit decision must not rest on it",
            False,
        )
    if _PII_HEADER.search(header_key(header)) or _PII_HEADER.search(header):
        return "string", "pii", "the header names personal data", True
    if pattern_share(sample, PHONE) >= PII_SHARE:
        return "string", "pii", "mobile phone numbers", True
    if pattern_share(sample, EMAIL) >= PII_SHARE:
        return "string", "pii", "e-mail addresses", True
    id_like = [v for v in sample if len(v) == 18]
    if len(id_like) >= PII_SHARE * len(sample):
        valid = valid_cn_id_number(_series(id_like))
        if valid.mean() >= PII_SHARE:
            return "string", "pii", "resident id numbers", True
    distinct = set(values)
    if len(distinct) == 1:
        shown = cut_text(next(iter(distinct)))
        if rows is not None and n < rows:  # the others blank
            return (
                "string",
                "ignored",
                f"one value ({shown}) in {n:,} of {rows:,} rows, blank in the others",
                False,
            )
        return "string", "ignored", f"one value in every row ({shown})", False
    lowered = {v.lower() for v in distinct}
    if lowered <= {"0", "1"}:
        return "int", "feature", "0/1 values", False
    if pa.types.is_boolean(arrow_type) or (
        lowered <= words_true | words_false and lowered & words_true and lowered & words_false
    ):
        return "bool", "feature", "yes/no values", False
    if pa.types.is_integer(arrow_type):
        return "int", "feature", "whole numbers", False
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "float", "feature", "numbers", False
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "date", "feature", "dates: the feature is the age in days", False
    numbered = [v for v in sample if v not in NUMBER_BLANK_WORDS]  # 无, —, /: no number
    numbers = (
        sum(1 for v in numbered if NUMBER.fullmatch(v) or decorated_number(v)) / len(numbered)
        if numbered
        else 0.0
    )
    dated = date_share(numbered, header, date_formats)  # (nor a date: an unpaid bill's —)
    if dated >= NUMBER_SHARE and dated >= numbers:
        return "date", "feature", "dates: the feature is the age in days", False
    if numbers >= NUMBER_SHARE:
        coded = sum(1 for v in sample if len(v) > 1 and v[0] == "0" and v[1].isdigit())
        if coded >= 0.01 * len(sample):
            return _text_kind(values, distinct, "codes with leading zeros")
        if sum(1 for v in numbered if is_whole_number(v)) >= NUMBER_SHARE * len(numbered):
            return "int", "feature", "whole numbers", False
        return "float", "feature", "numbers", False
    return _text_kind(values, distinct, "text")


_AGE_HEADER = re.compile(r"(^|_)age($|_)|年龄|年纪|岁数", re.IGNORECASE)
_NOT_NEGATIVE_HEADER = re.compile(
    r"amount|income|salary|balance|limit|count|days|months|years|debt|liabilit|arrears"
    r"|金额|收入|工资|薪|余额|额度|天数|笔数|次数|数量|期数|月数|年限|人数|负债|欠款|债务",
    re.IGNORECASE,
)
#: The ages a customer can have: a value outside is an entry error (200, -1, a birth year).
AGE_RANGE = (16, 100)


def plausible_range(
    header: str, kind: str, role: str, values: list[str]
) -> tuple[float | None, float | None, str]:
    """(lower, upper, why) of a number feature whose header says what it measures, when
    the training values respect it: an age 16 to 100, an amount or count not negative.
    Nothing for other columns (a range is never guessed from the values alone)."""
    if role != "feature" or kind not in ("int", "float"):
        return None, None, ""
    numbers = [n for n in map(number_of, values) if n is not None]
    if not numbers:
        return None, None, ""
    key = header_key(header)
    # (a few entry errors, -5年 or an age of 350, are blanked while cleaning: they used
    # to take the range off the column, and passed as values)
    few = OUT_OF_RANGE_SHARE * len(numbers)
    if _AGE_HEADER.search(key) or _AGE_HEADER.search(header):
        outside = sum(1 for n in numbers if not AGE_RANGE[0] <= n <= AGE_RANGE[1])
        if outside <= few:
            why = f"an age: {AGE_RANGE[0]} to {AGE_RANGE[1]}{_outside(outside)}"
            return AGE_RANGE[0], AGE_RANGE[1], why
        return None, None, ""
    negative = sum(1 for n in numbers if n < 0)
    if (_NOT_NEGATIVE_HEADER.search(key) or _NOT_NEGATIVE_HEADER.search(header)) and (
        negative <= few
    ):
        return 0, None, f"never negative{_outside(negative)}"
    return None, None, ""


#: The share of a column's values that may fall outside the range its header implies and
#: be taken for entry errors (the range kept, those values blanked while cleaning).
OUT_OF_RANGE_SHARE = 0.01


def _outside(n: int) -> str:
    values = "value" if n == 1 else "values"
    return f" ({n:,} {values} outside: blanked while cleaning)" if n else ""


def _text_kind(values: list[str], distinct: set[str], what: str) -> tuple[str, str, str, bool]:
    limit = min(CATEGORY_MAX, max(CATEGORY_MIN, int(CATEGORY_SHARE * len(values))))
    if any(_CONTACT_IN_TEXT.search(v) for v in distinct):
        return "string", "pii", "text holding phone numbers, e-mails or id numbers", True
    if len(distinct) <= limit:
        return "category", "feature", f"{what}, {len(distinct)} distinct values", False
    return (
        "string",
        "ignored",
        f"{what} with {len(distinct):,} distinct values (free text, not a feature)",
        False,
    )


def _series(values: list[str]) -> Any:
    import pandas as pd

    return pd.Series(values, dtype="str")


#: The fields of a customer a flat table's column is named after when its header means
#: one (``授信额度`` -> ``credit_limit``, ``客户名称`` -> ``name``) and its values are of
#: the kind given here: the packaged credit table's columns, so that the grades' limit
#: rules, the details (names masked) and the reports find them as in an export.
CUSTOMER_FIELDS: MappingProxyType[str, str] = MappingProxyType(
    {
        "name": "pii",
        "phone": "pii",
        "id_number": "pii",
        "region": "category",
        "industry": "category",
        "customer_since": "date",
        "bureau_score": "number",
        "bureau_score_3m_ago": "number",
        "annual_income": "number",
        "credit_limit": "number",
        "outstanding_balance": "number",
        "overdue_amount": "number",
        "max_days_past_due_12m": "number",
        "num_credit_lines": "number",
    }
)


def customer_field(
    header: str, kind: str, role: str, exact: Collection[str | None] = ()
) -> tuple[str | None, ScaledField | None]:
    """The customer field (:data:`CUSTOMER_FIELDS`) a column is, by header and values,
    and the factor its values need to be it (an amount in 万元, a monthly income) when
    no header in ``exact`` names the field as it is."""
    field = canonical_name(header)
    scale = None
    if field is None:
        scale = scaled_field(header)
        if scale is None or scale.name in exact:
            return None, None
        field = scale.name
    found = _field_kind(field, kind, role)
    return (field, scale) if found else (None, None)


def _field_kind(field: str, kind: str, role: str) -> bool:
    """Whether a column of ``kind`` and ``role`` holds the customer field ``field``."""
    wanted = CUSTOMER_FIELDS.get(field)
    if wanted is None:
        return False
    if role == "pii":
        found: str | None = "pii"
    elif role != "feature":
        return False
    elif kind in ("int", "float"):
        found = "number"
    else:
        found = {"category": "category", "string": "category", "date": "date"}.get(kind)
    return found == wanted


def header_slug(header: str, position: int, width: int) -> str:
    """A header's ASCII words in snake case, at most ``width`` characters (``Annual
    Income`` → ``annual_income``), else ``col<position>``."""
    text = unicodedata.normalize("NFKC", header).lower()
    slug = _SLUG.sub("_", text).strip("_")
    ascii_share = sum(ch.isascii() and ch.isalpha() for ch in text) / max(len(text), 1)
    if not slug or not slug[0].isalpha() or ascii_share < 0.5:
        return f"col{position}"
    return slug[:width].rstrip("_")


def column_name(header: str, position: int, used: set[str], known: str | None = None) -> str:
    """A canonical name for a header: the customer field it is (``known``, when no other
    column took it), else its ASCII words in snake case (``Annual Income`` →
    ``annual_income``), else ``col<position>`` (Chinese headers keep their text as the
    label)."""
    if known is not None and known not in used:
        used.add(known)
        return known
    slug = header_slug(header, position, 48)
    name, n = slug, 2
    while name in used or name in _RESERVED:
        name, n = f"{slug}_{n}", n + 1
    used.add(name)
    return name
