"""A declared column of the sources config: its rules and how a file's header names it.

:class:`ColumnSpec` holds one column's rules (type, range, allowed values, pattern,
value check, recode, zero padding, scale, unit), parsed and checked from the config by
:func:`parse_column`. :func:`header_key` is what a file's header is matched to a
column on: width, case and traditional characters folded.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config._yaml import Node

COLUMN_TYPES = ("id", "string", "category", "int", "float", "date", "bool")
TEXT_TYPES = ("id", "string", "category")
ON_INVALID = ("reject", "blank")
VALUE_CHECKS = ("cn_id_number", "cn_phone")
#: The widest ``zero_pad`` of an id column: wider than any id number (18 digits) with
#: room to spare, and far from a width whose padding would fill the memory.
MAX_ZERO_PAD = 64
#: The largest ``scale`` of a column (亿, 10^8, and a little room).
MAX_SCALE = 1e12
#: The scales that turn a period's amount into a year's (a monthly income read as
#: ``annual_income``) rather than say the values' unit (:attr:`ColumnSpec.scale_is_unit`).
PERIOD_SCALES = frozenset({12.0})

_COLUMN_KEYS = (
    "type",
    "required",
    "pii",
    "min",
    "max",
    "allowed",
    "pattern",
    "check",
    "on_invalid",
    "recode",
    "zero_pad",
    "scale",
    "unit",
    "percent",
    "description",
)


@dataclass(frozen=True)
class ColumnSpec:
    """Rules for one canonical column."""

    name: str
    type: str
    required: bool = False
    pii: bool = False
    min: Any = None
    max: Any = None
    allowed: tuple[str, ...] | None = None
    pattern: str | None = None
    check: str | None = None
    on_invalid: str = "reject"
    #: A category's values in the export -> custrisk's (订单 -> order), applied to the
    #: trimmed text before the allowed values are checked
    recode: tuple[tuple[str, str], ...] = ()
    #: An id column's width: all-digit values shorter than it get leading zeros
    #: (``42`` -> ``0000000042`` with 10), for an export whose id cells were numbers.
    zero_pad: int | None = None
    #: A float column's unit: each value read is multiplied by it, before ``min`` and
    #: ``max`` are checked (10000 for amounts in 万元, 12 for a monthly income read as
    #: ``annual_income``).
    scale: float | None = None
    #: A number column's unit as the export writes it after each value (``35岁``,
    #: ``36个月``, ``3次``): removed before the value is read; a value with another unit
    #: is not a number (one of :data:`COUNT_UNITS`).
    unit: str | None = None
    #: The units the column's header names (年龄: 岁 or 周岁; :func:`header_units`), set
    #: from the source's headers, never from YAML: a value written with one is read as the
    #: number (a repair, listed), one in another unit is not a number. Not used when the
    #: column declares its ``unit``.
    header_units: tuple[str, ...] = ()
    #: A float column written as percentages (``16.3%``, read as 0.163): a number there
    #: without ``%`` (``39.2``: 39.2 % or 3,920 %?) is refused as ``invalid_number``.
    percent: bool = False
    #: A number column's decimal mark: ``","`` when its source says ``decimal: ","`` (a
    #: European export's ``1.234,56`` and ``0,614``), else ``"."``.
    decimal: str = "."
    #: A category's values the model reading the table was fitted on (set from the
    #: model, never from YAML): a value that is one of them but for case, width or
    #: traditional characters (:func:`header_key`: 華南 for 华南) is read as it, a repair.
    known_values: tuple[str, ...] = ()

    @property
    def scale_is_unit(self) -> bool:
        """Whether the ``scale`` is the unit of the values (10000: a column of 万元), so
        that a value written with a unit of its own (``50万``) could be scaled twice.
        ``scale: 12`` is a period (a month's income read as a year's): a value there
        written with its unit (``1.2万``) is the month's amount in 元, read so."""
        return self.scale is not None and self.scale not in PERIOD_SCALES

    @property
    def read_units(self) -> tuple[str, ...]:
        """The units a value of the column may be written with: its declared ``unit``,
        else the ones its header names (:attr:`header_units`)."""
        return unit_spellings(self.unit) if self.unit is not None else self.header_units


#: Entries of a column's recode at most (a mapping of a category's values).
MAX_RECODES = 1000


#: Traditional characters of the words headers are matched and read by (the header
#: dictionary's, personal data's, totals' and notes') and their simplified forms: a Hong
#: Kong or Taiwan export's 客戶編號, 聯絡電話 and 合計 are 客户编号, 联络电话 and 合计.
_WORD_CHARACTERS = (
    "業個會餘償劃創別務動區單歷發員響壞處實屬錄徵戶據數時機來標檔溝滿電碼稱筆簽類約級"
    "結編網聯營觸計訂訊記證評識訴話賬帳貸還進違郵銷長間際額冊決開應歸號絡護經辦擔銀負"
    "責請齡歲紀資種紋狀況殘黨觀總匯製審備註說導統張輛臺項週與為產價購買賣費稅險職問題"
    "檢驗設復齊條戲貨詢諮訪饋體線門談繫",
    "业个会余偿划创别务动区单历发员响坏处实属录征户据数时机来标档沟满电码称笔签类约级"
    "结编网联营触计订讯记证评识诉话账账贷还进违邮销长间际额册决开应归号络护经办担银负"
    "责请龄岁纪资种纹状况残党观总汇制审备注说导统张辆台项周与为产价购买卖费税险职问题"
    "检验设复齐条戏货询咨访馈体线门谈系",
)
#: More of them, from OpenCC's TSCharacters.txt (Apache-2.0, BYVoid/OpenCC
#: data/dictionary): its one-candidate entries whose simplified character occurs in the
#: header dictionary, the sample data's headers or its categories (学历, 负债收入比, 华南,
#: 制造业, 农林牧渔, 医疗健康), and not above. Read one way only (for matching): several
#: are simplified forms of more than one character (后, 系, 合), so :func:`traditional_form`
#: keeps to the words' table.
_OPENCC_CHARACTERS = (
    "係傢債兌厤學專彆彔彙後敎曆朮東査滙漁現産療箇築籤紹綫華術衕覈訓証誌議踰輸轉農迴運醫録閤飲髮",
    "系家债兑历学专别录汇后教历术东查汇渔现产疗个筑签绍线华术同核训证志议逾输转农回运医录合饮发",
)
#: Traditional characters as simplified, for matching headers and categories
#: (:func:`header_key`).
TRADITIONAL_TO_SIMPLIFIED = str.maketrans(
    _WORD_CHARACTERS[0] + _OPENCC_CHARACTERS[0], _WORD_CHARACTERS[1] + _OPENCC_CHARACTERS[1]
)
_SIMPLIFIED_TO_TRADITIONAL = {s: t for t, s in str.maketrans(*_WORD_CHARACTERS).items()}


def traditional_form(text: str) -> str:
    """``text`` with the characters of the header words' table (of
    :data:`TRADITIONAL_TO_SIMPLIFIED`) in their traditional forms (合计 as 合計): to know
    a report's words in either form."""
    return text.translate(_SIMPLIFIED_TO_TRADITIONAL)


_UNITS = (
    *("岁", "周岁", "年", "个月", "月", "周", "天", "日", "小时", "分钟"),
    *("次", "笔", "期", "个", "人", "家", "张", "户", "套", "辆", "台", "项", "份"),
    *("分", "倍", "级", "星"),  # a score (720分), a multiple, a level, a rating
    *("years", "months", "days", "times"),
)
#: The units a number column's values may be written with (``unit``): ages, durations and
#: counts, in simplified or traditional characters (岁, 歲). Not 元, 万, 亿 or %, which
#: every number column reads (万 and 亿 scale it: use ``scale`` for a column in 万元).
COUNT_UNITS = (*_UNITS, *sorted({traditional_form(u) for u in _UNITS} - set(_UNITS)))


#: Units that are one unit written two ways (35岁 and 35周岁 are an age; 3个月 and 3月
#: a number of months; 30天 and 30日 days), in either order a header names them. Not 次
#: and 笔: 3次 overdue (three times) and 3笔 (three loans) count different things.
_UNIT_SPELLINGS = (
    ("岁", "周岁"),
    ("个月", "月", "months"),
    ("年", "years"),
    ("天", "日", "days"),
)


def unit_spellings(unit: str) -> tuple[str, ...]:
    """``unit`` and the other ways an export writes that unit (:data:`_UNIT_SPELLINGS`),
    each also in traditional characters, ``unit`` first: a column declared in 岁 reads
    35周岁 too, one in 个月 reads 36月; one in 次 reads no 笔."""
    key = header_key(unit)
    group = next((s for s in _UNIT_SPELLINGS if key in s), ())
    return _both_scripts((unit, *group))


def _both_scripts(units: tuple[str, ...]) -> tuple[str, ...]:
    """``units``, each followed by its traditional form when it has one (个月, 個月)."""
    return tuple(dict.fromkeys(form for u in units for form in (u, traditional_form(u))))


def _english(word: str) -> str:
    return rf"(?:^|[^a-z]){word}(?:$|[^a-z])"


#: Headers that say what their numbers measure, and the units that says (the first
#: that matches a header's :func:`header_key` wins). Kept to words that leave no doubt:
#: 年龄 is in years of age, 工作年限 in years, 逾期天数 in days.
_HEADER_WORDS = (
    (re.compile(rf"年龄|年纪|岁数|{_english('age')}"), ("岁", "周岁")),
    (re.compile(rf"年限|工龄|司龄|{_english('years')}"), ("年", "years")),
    (re.compile(rf"月数|{_english('months')}"), ("个月", "月", "months")),
    (re.compile(rf"天数|{_english('days')}"), ("天", "日", "days")),
    (re.compile(rf"次数|{_english('count')}"), ("次", "times")),
    (re.compile("笔数"), ("笔",)),
)
#: A unit in brackets at the end of a header (贷款期限(月), 响应时长（小时）).
_BRACKETED_UNIT = re.compile(r"[(\[]\s*([^()\[\]]+?)\s*[)\]]\s*$")


def header_units(header: str) -> tuple[str, ...]:
    """The units a number column's values are in when its header says so, for certain:
    ``(岁, 周岁)`` for 年龄 / age, ``(年, years)`` for 工作年限 / 工龄, ``(个月, 月,
    months)`` for 月数 or a header ending in ``(月)``, ``(次, times)`` for 次数 / count; a
    unit of :data:`COUNT_UNITS` in brackets at its end first. Each also in traditional
    characters (歲, 個月). ``()`` for any other header."""
    key = header_key(header)
    bracketed = _BRACKETED_UNIT.search(key)
    if bracketed is not None and bracketed.group(1) in COUNT_UNITS:
        return unit_spellings(bracketed.group(1))
    return _both_scripts(next((u for words, u in _HEADER_WORDS if words.search(key)), ()))


def with_header_units(
    columns: tuple[ColumnSpec, ...], headers: Iterable[tuple[str, str]]
) -> tuple[ColumnSpec, ...]:
    """``columns`` with the units their headers name (:attr:`ColumnSpec.header_units`),
    for the number columns that declare none. ``headers`` are pairs of a file's header
    and the column it is read as (a source's ``rename``); a column's own name is a header
    too.
    Two headers of one column naming different units name none."""
    named: dict[str, set[tuple[str, ...]]] = {}
    for header, name in [*headers, *((c.name, c.name) for c in columns)]:
        named.setdefault(name, set()).add(header_units(header))
    out = []
    for col in columns:
        found = named.get(col.name, set()) - {()}
        if col.type in ("int", "float") and col.unit is None and len(found) == 1:
            col = replace(col, header_units=found.pop())
        out.append(col)
    return tuple(out)


def header_key(name: str) -> str:
    """What a file header is matched on: NFKC (full-width to half-width), case-folded and
    traditional characters as simplified, so that ``EDUCATION``, ``Education`` and
    ``ｅｄｕｃａｔｉｏｎ`` all match ``education``, and ``客戶編號`` ``客户编号``."""
    text = unicodedata.normalize("NFKC", name).casefold().strip()
    return text.translate(TRADITIONAL_TO_SIMPLIFIED)


def known_spellings(known: tuple[str, ...]) -> dict[str, str]:
    """``{header_key(value): value}`` of a category's known values (:attr:`ColumnSpec.
    known_values`), leaving out a key two of them share (A and a): the value another
    spelling of one means."""
    out: dict[str, str] = {}
    shared: set[str] = set()
    for value in known:
        key = header_key(value)
        if out.setdefault(key, value) != value:
            shared.add(key)
    return {key: value for key, value in out.items() if key not in shared}


def parse_column(name: str, node: Node) -> ColumnSpec:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise node.error(
            None,
            f"column name {name!r} is not snake_case",
            hint="canonical names use a-z, 0-9 and _; map file headers with rename",
        )
    node.check_keys(_COLUMN_KEYS, required=("type",))
    ctype = node.text("type", required=True, allowed=COLUMN_TYPES)
    bounds: dict[str, Any] = {}
    for bound in ("min", "max"):
        value = node.get(bound)
        if value is None:
            bounds[bound] = None
        elif ctype == "date":
            bounds[bound] = date_value(node, bound, value)
        elif ctype in ("int", "float"):
            bounds[bound] = node.number(bound)
        else:
            raise node.error(bound, f"ranges apply to int, float and date columns, not {ctype}")
    if bounds["min"] is not None and bounds["max"] is not None and bounds["min"] > bounds["max"]:
        raise node.error("min", f"min {bounds['min']} is greater than max {bounds['max']}")
    allowed = node.text_list("allowed")
    if allowed is not None and ctype != "category":
        raise node.error("allowed", f"applies to category columns, not {ctype}")
    pattern = node.text("pattern")
    if pattern is not None:
        if ctype not in ("id", "string"):
            raise node.error("pattern", f"applies to id and string columns, not {ctype}")
        problem = _pattern_problem(pattern)
        if problem is not None:
            raise node.error(
                "pattern",
                f"invalid regular expression {pattern!r}: {problem}",
                hint="patterns use RE2 syntax: no lookaround, backreferences or possessive "
                "quantifiers",
            )
    check = node.text("check", allowed=VALUE_CHECKS)
    if check is not None and ctype not in ("id", "string"):
        raise node.error("check", f"applies to id and string columns, not {ctype}")
    recode = _recode(node, ctype, allowed)
    zero_pad = node.number("zero_pad", minimum=1, integer=True)
    if zero_pad is not None:
        if ctype != "id":
            raise node.error("zero_pad", f"applies to id columns, not {ctype}")
        if zero_pad > MAX_ZERO_PAD:
            raise node.error(
                "zero_pad",
                f"must be at most {MAX_ZERO_PAD}, got {zero_pad}",
                hint="the width of the ids, e.g. 10 for 0000000042",
            )
    scale = node.number("scale")
    if scale is not None:
        if ctype != "float":
            raise node.error(
                "scale",
                f"applies to float columns, not {ctype}",
                hint="declare the column type: float",
            )
        if not (0 < scale <= MAX_SCALE):
            raise node.error(
                "scale",
                f"must be above 0 and at most {MAX_SCALE:g}, got {scale}",
                hint="the unit of the column's values, e.g. 10000 for amounts in 万元",
            )
    unit = node.text("unit", None, allowed=COUNT_UNITS)
    if unit is not None and ctype not in ("int", "float"):
        raise node.error(
            "unit",
            f"applies to number columns, not {ctype}",
            hint="declare the column type: int or float",
        )
    percent = node.flag("percent", False)
    if percent and ctype != "float":
        raise node.error(
            "percent", f"applies to float columns, not {ctype}", hint="declare type: float"
        )
    return ColumnSpec(
        name=name,
        type=ctype,
        required=node.flag("required", False),
        pii=node.flag("pii", False),
        min=bounds["min"],
        max=bounds["max"],
        allowed=allowed,
        pattern=pattern,
        check=check,
        on_invalid=node.text("on_invalid", "reject", allowed=ON_INVALID),
        recode=recode,
        zero_pad=zero_pad,
        scale=float(scale) if scale is not None else None,
        unit=unit,
        percent=percent,
    )


def _recode(node: Node, ctype: str, allowed: tuple[str, ...] | None) -> tuple[tuple[str, str], ...]:
    """A category or number column's ``recode: {export value: custrisk's value}``,
    checked: text to text (to a number for a number column: ``{是: 1, 否: 0}``), and each
    value one of ``allowed`` when the column has them."""
    raw = node.get("recode")
    if raw is None:
        return ()
    if ctype not in ("category", "int", "float"):
        raise node.error("recode", f"applies to category and number columns, not {ctype}")
    if not isinstance(raw, Mapping) or not raw:
        raise node.error(
            "recode",
            "expected a mapping of the export's values to custrisk's",
            hint="e.g. recode: {订单: order, 回款: payment}",
        )
    if len(raw) > MAX_RECODES:
        raise node.error("recode", f"{len(raw):,} entries, over the limit of {MAX_RECODES:,}")
    pairs = []
    for key, value in raw.items():
        if (
            not isinstance(key, str | int)
            or not isinstance(value, str | int)
            or isinstance(key, bool)
            or isinstance(value, bool)
            or not str(key).strip()
            or not str(value).strip()
        ):
            raise node.error(
                "recode",
                f"{key!r}: {value!r} is not a value and its replacement as text",
                hint="quote values YAML reads as something else: '是': 'yes'",
            )
        target = str(value).strip()
        if ctype != "category" and not _number_text(target, whole=ctype == "int"):
            raise node.error(
                "recode",
                f"{key!r} becomes {target!r}, which is not {'a whole' if ctype == 'int' else 'a'}"
                " number",
                hint="a number column's recode maps words onto numbers: {是: 1, 否: 0}",
            )
        if allowed is not None and target not in allowed:
            raise node.error(
                "recode",
                f"{key!r} becomes {target!r}, which is not one of the allowed values",
                hint=f"allowed: {', '.join(allowed)}",
            )
        pairs.append((str(key).strip(), target))
    return tuple(pairs)


def _number_text(text: str, *, whole: bool) -> bool:
    try:
        number = float(text)
    except ValueError:
        return False
    return math.isfinite(number) and (not whole or number.is_integer())


def _pattern_problem(pattern: str) -> str | None:
    """Why RE2, the engine that checks ``pattern`` columns, cannot run ``pattern``.

    ``None`` when it can. Patterns are never run by Python's ``re``: its backtracking
    takes exponential time on some patterns and values, RE2 takes linear time.
    """
    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern)
    except pa.ArrowInvalid as exc:
        detail = str(exc).splitlines()[0].removeprefix("Invalid regular expression: ")
    else:
        return None
    fragment = detail.rpartition(": ")[2]
    if fragment in ("(?=", "(?!"):
        return "lookahead is not supported"
    if fragment in ("(?<=", "(?<!"):
        return "lookbehind is not supported"
    if fragment == "(?>":
        return "atomic groups are not supported"
    if re.fullmatch(r"\\[1-9k]", fragment) or (fragment == "(?P" and "(?P=" in pattern):
        return "backreferences are not supported"
    if detail.startswith("bad repetition operator") and fragment.endswith("+"):
        return "possessive quantifiers are not supported"
    if detail.startswith("invalid repetition size"):
        return f"{detail} (RE2 repeats at most 1000 times)"
    return detail


def date_value(node: Node, key: str, value: Any) -> dt.date:
    """A date written in the config as YYYY-MM-DD."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise node.error(
                key, f"{value!r} is not a date", hint="write dates as YYYY-MM-DD"
            ) from None
    if not isinstance(value, dt.date):
        raise node.error(key, f"expected a date YYYY-MM-DD, got {value!r}")
    return value
