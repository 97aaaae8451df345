"""The sources config: every mistake is named by file, key path and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from custrisk.config import default_config_path, load_sources_config
from custrisk.config.columns import header_units
from custrisk.errors import ConfigError

BASE = (
    "sources:\n  credit:\n    file: credit.csv\n    key: customer_id\n    columns:\n"
    "      customer_id: {type: id, required: true}\n"
)

TXNS = (
    "  transactions:\n    file: t.csv\n    customer_key: customer_id\n    columns:\n"
    "      customer_id: {type: id}\n"
)


def _load(tmp_path: Path, text: str):
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return load_sources_config(path)


def test_default_config_loads_and_declares_the_three_sources() -> None:
    config = load_sources_config()
    assert list(config.sources) == ["credit", "transactions", "behaviour"]
    assert config.sources["transactions"].customer_key == "customer_id"
    assert config.pii_columns["credit"] == ("name", "phone", "id_number")


@pytest.mark.parametrize("profile", ["sources.yaml", "crm/sources.yaml"])
def test_packaged_configs_blank_bad_values_of_every_optional_column(profile: str) -> None:
    config = load_sources_config(default_config_path(profile))
    for source in config.sources.values():
        for col in source.columns:
            expected = "reject" if col.required else "blank"
            assert col.on_invalid == expected, f"{source.name}.{col.name}"


@pytest.mark.parametrize(
    "text,message",
    [
        (
            BASE + "      amount: {type: money}\n",
            r"key 'sources\.credit\.columns\.amount\.type': 'money' is not allowed; allowed values: "
            r"id, string, category, int, float, date, bool",
        ),
        (
            BASE + "      amount: {type: float, minimum: 0}\n",
            r"key 'sources\.credit\.columns\.amount\.minimum': unknown key; did you mean 'min'\? allowed keys: type,",
        ),
        (
            BASE + "      amount: {type: float, min: 5, max: 1}\n",
            r"key 'sources\.credit\.columns\.amount\.min': min 5 is greater than max 1",
        ),
        (
            BASE + "      code: {type: string, pattern: '([a-z'}\n",
            r"key 'sources\.credit\.columns\.code\.pattern': invalid regular expression",
        ),
        (
            BASE + "      region: {type: string, allowed: [a, b]}\n",
            r"key 'sources\.credit\.columns\.region\.allowed': applies to category columns, not string",
        ),
        (
            BASE + "      kind: {type: string, recode: {订单: order}}\n",
            r"key 'sources\.credit\.columns\.kind\.recode': applies to category and number "
            r"columns, not string",
        ),
        (
            BASE + "      flag: {type: int, recode: {'是': 'yes'}}\n",
            r"key 'sources\.credit\.columns\.flag\.recode': '是' becomes 'yes', which is not a "
            r"whole number; a number column's recode maps words onto numbers",
        ),
        (
            BASE + "      flag: {type: int, recode: {'半': '0.5'}}\n",
            r"becomes '0\.5', which is not a whole number",
        ),
        (
            BASE + "      kind: {type: category, allowed: [order], recode: {订单: orders}}\n",
            r"key 'sources\.credit\.columns\.kind\.recode': '订单' becomes 'orders', which is "
            r"not one of the allowed values; allowed: order",
        ),
        (
            BASE + "      kind: {type: category, recode: [订单, order]}\n",
            r"key 'sources\.credit\.columns\.kind\.recode': expected a mapping of the export's "
            r"values to custrisk's",
        ),
        (
            BASE + "      kind: {type: category, recode: {订单: ''}}\n",
            r"key 'sources\.credit\.columns\.kind\.recode': '订单': '' is not a value and its "
            r"replacement as text",
        ),
        (
            BASE + "    max_rejected_share: 1.5\n",
            r"key 'sources\.credit\.max_rejected_share': must be a share from 0 to 1, got 1\.5",
        ),
        (
            BASE + "      since: {type: date, min: 2020-13-01}\n",
            r"key 'sources\.credit\.columns\.since\.min': '2020-13-01' is not a date",
        ),
        (
            BASE + "    rename: {客户编号: customer_no}\n",
            r"key 'sources\.credit\.rename\.客户编号': maps to 'customer_no', which is not a declared "
            r"column",
        ),
        (
            BASE + "    delimiter: ';;'\n",
            r"key 'sources\.credit\.delimiter': must be one character",
        ),
        (
            BASE + "    on_duplicate_key: newest\n",
            r"key 'sources\.credit\.on_duplicate_key': 'newest' is not allowed; allowed values: "
            r"keep_first, keep_last, reject_all",
        ),
        (
            BASE.replace("credit:", "customers:"),
            r"key 'sources\.customers': unknown source name; allowed: credit, transactions, behaviour",
        ),
        (
            "sources:\n  transactions:\n    file: t.csv\n    customer_key: customer_id\n    columns:\n"
            "      customer_id: {type: id}\n",
            r"key 'sources': the 'credit' source is missing",
        ),
        (
            BASE + "  transactions:\n    file: t.csv\n    columns:\n      txn_id: {type: id}\n",
            r"key 'sources\.transactions\.customer_key': is required for every source but credit",
        ),
        (
            BASE
            + "    checks:\n      - {name: c, left: customer_id, op: '=>', right: customer_id}\n",
            r"key 'sources\.credit\.checks\[0\]\.op': '=>' is not allowed",
        ),
        (
            BASE.replace("{type: id, required: true}", "{type: id, on_invalid: blank}"),
            r"key 'sources\.credit\.columns\.customer_id\.on_invalid': blank does not apply to "
            r"'customer_id', which identifies the row",
        ),
        ("sources: [credit]\n", r"key 'sources': expected a mapping of keys, got list"),
        ("sources:\n  credit: {file: x.csv\n", r"sources\.yaml:\d+:\d+: invalid YAML"),
        (BASE + "version: 2\n", r"key 'version': unsupported config version 2"),
        (
            BASE + "      name: {type: string, zero_pad: 10}\n",
            r"key 'sources\.credit\.columns\.name\.zero_pad': applies to id columns, not string",
        ),
        (
            BASE.replace("required: true}", "required: true, zero_pad: 0}"),
            r"key 'sources\.credit\.columns\.customer_id\.zero_pad': must be at least 1, got 0",
        ),
        (
            BASE.replace("required: true}", "required: true, zero_pad: '10'}"),
            r"key 'sources\.credit\.columns\.customer_id\.zero_pad': expected an integer, "
            r"got '10'",
        ),
        (
            BASE.replace("required: true}", "required: true, zero_pad: 1000000000}"),
            r"key 'sources\.credit\.columns\.customer_id\.zero_pad': must be at most 64",
        ),
        (
            BASE + "      limit: {type: int, scale: 10000}\n",
            r"key 'sources\.credit\.columns\.limit\.scale': applies to float columns, not int; "
            r"declare the column type: float",
        ),
        (
            BASE + "      limit: {type: float, scale: 0}\n",
            r"key 'sources\.credit\.columns\.limit\.scale': must be above 0 and at most 1e\+12, "
            r"got 0; the unit of the column's values, e\.g\. 10000 for amounts in 万元",
        ),
        (
            BASE + "      limit: {type: float, scale: .nan}\n",
            r"key 'sources\.credit\.columns\.limit\.scale': must be above 0",
        ),
        (
            BASE + "      limit: {type: float, scale: 万元}\n",
            r"key 'sources\.credit\.columns\.limit\.scale': expected a number, got '万元'",
        ),
        (
            BASE + TXNS + "    max_orphan_share: 1.5\n",
            r"key 'sources\.transactions\.max_orphan_share': must be a share from 0 to 1, "
            r"got 1\.5; e\.g\. 0\.5 \(half the rows\); 1 turns the check off",
        ),
        (
            BASE + TXNS + "    max_orphan_share: half\n",
            r"key 'sources\.transactions\.max_orphan_share': expected a number, got 'half'",
        ),
        (
            BASE + "    max_orphan_share: 0.5\n",
            r"key 'sources\.credit\.max_orphan_share': applies to a source with a customer_key",
        ),
        (
            BASE + "      customer_id: {type: string}\n",
            r"sources\.yaml:7, key 'sources\.credit\.columns\.customer_id': duplicate key "
            r"'customer_id' \(lines 6 and 7\)",
        ),
        (
            BASE + "    ignore: 序号\n",
            r"key 'sources\.credit\.ignore': expected a list, got '序号'",
        ),
        (
            BASE + "    rename: {客户编号: customer_id}\n    ignore: [序号, 客户编号]\n",
            r"key 'sources\.credit\.ignore': '客户编号' is also read \(rename maps it to "
            r"'customer_id'\)",
        ),
    ],
)
def test_config_errors_name_the_key_and_value(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        _load(tmp_path, text)
    assert str(tmp_path / "sources.yaml") in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_sources_config(tmp_path / "nope.yaml")


def test_zero_pad_and_max_orphan_share_are_read_with_their_defaults(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        BASE.replace("required: true}", "required: true, zero_pad: 10}")
        + TXNS.replace("{type: id}", "{type: id, zero_pad: 8}")
        + "    max_orphan_share: 1\n"
        + TXNS.replace("transactions", "behaviour"),
    )
    assert config.sources["credit"].column("customer_id").zero_pad == 10
    assert config.sources["transactions"].column("customer_id").zero_pad == 8
    assert config.sources["transactions"].max_orphan_share == 1
    assert config.sources["behaviour"].column("customer_id").zero_pad is None
    assert config.sources["behaviour"].max_orphan_share == 0.5


def test_ignored_headers_are_the_sources_columns_left_out_on_purpose(tmp_path: Path) -> None:
    config = _load(tmp_path, BASE + "    ignore: [序号, 民族]\n")
    assert config.sources["credit"].left_out == {"序号", "民族"}
    assert _load(tmp_path, BASE).sources["credit"].left_out == frozenset()


@pytest.mark.parametrize(
    ("header", "units"),
    [
        ("年龄", {"岁", "周岁", "歲"}),
        ("客户年齡", {"岁", "周岁"}),  # (traditional: 年齡 is 年龄)
        ("Customer_Age", {"岁"}),
        ("工作年限", {"年", "years"}),
        ("工龄", {"年"}),
        ("工龄(月)", {"个月", "月"}),  # a unit in brackets says it first
        ("贷款期限（月）", {"个月", "月", "個月"}),
        ("逾期月数", {"个月", "月"}),
        ("近12月逾期次数", {"次"}),
        ("login count", {"次"}),
        ("月收入(元)", set()),
        ("usage", set()),
        ("discount", set()),
        ("年收入", set()),
    ],
)
def test_a_header_that_names_what_it_measures_names_its_units(header: str, units: set[str]) -> None:
    found = header_units(header)
    assert units <= set(found) and bool(found) == bool(units)


def test_a_number_column_takes_the_units_of_its_header_unless_it_declares_one(
    tmp_path: Path,
) -> None:
    """年龄 read as col2 takes 岁 (35岁 is 35); a declared unit is the column's own; a
    column named age takes it from its name; text columns and other headers none."""
    config = _load(
        tmp_path,
        BASE
        + "      col2: {type: int}\n      col3: {type: float, unit: 个月}\n"
        + "      age: {type: int}\n      note: {type: string}\n      col5: {type: int}\n"
        + "    rename: {年龄: col2, 工作年限: col3, 年龄备注: note, 金额: col5}\n",
    )
    credit = config.sources["credit"]
    assert credit.column("col2").read_units[:2] == ("岁", "歲")
    assert credit.column("col3").header_units == ()
    assert credit.column("col3").read_units[0] == "个月"  # (then 月: see below)
    assert "岁" in credit.column("age").header_units
    assert credit.column("note").header_units == credit.column("col5").read_units == ()


@pytest.mark.parametrize(
    ("unit", "also", "never"),
    [
        ("岁", {"周岁", "歲"}, {"年", "个月"}),
        ("周岁", {"岁"}, {"年"}),
        ("个月", {"月", "個月"}, {"年", "天"}),
        ("月", {"个月"}, {"年"}),
        ("年", {"years"}, {"岁", "个月"}),
        ("天", {"日"}, {"月"}),
        ("次", set(), {"笔"}),  # (3次 overdue, three times; 3笔, three loans)
        ("笔", set(), {"次"}),
    ],
)
def test_a_declared_unit_reads_the_other_spellings_of_that_unit_only(
    tmp_path: Path, unit: str, also: set[str], never: set[str]
) -> None:
    """unit: 岁 refused 35周岁, an export's usual spelling of an age: a declared unit
    reads the spellings of the same unit (first its own), never another unit."""
    config = _load(tmp_path, BASE + f"      col3: {{type: float, unit: {unit}}}\n")
    units = config.sources["credit"].column("col3").read_units
    assert units[0] == unit and also <= set(units) and not never & set(units)


def test_values_in_another_spelling_of_the_declared_unit_are_read_others_refused(
    tmp_path: Path,
) -> None:
    """35周岁 in a column declared in 岁 and 24月 in one in 个月 are numbers (they were
    blanked as not numbers); 36个月 in the age column and 2笔 in a count of 次 are
    refused naming the column's unit."""
    from custrisk.data import load_workspace

    (tmp_path / "credit.csv").write_text(
        "customer_id,age,term,late\nC1,35周岁,24月,2次\nC2,41岁,36 个月,1\nC3,36个月,12月,2笔\n",
        encoding="utf-8",
    )
    columns = "      age: {type: int, unit: 岁}\n      term: {type: int, unit: 个月}\n"
    columns += "      late: {type: int, unit: 次}\n"
    _load(tmp_path, BASE + columns)
    workspace = load_workspace(tmp_path, config=tmp_path / "sources.yaml")
    frame = workspace.frames["credit"].set_index("customer_id")
    assert frame.loc["C1", ["age", "term", "late"]].tolist() == [35, 24, 2]
    assert frame.loc["C2", ["age", "term", "late"]].tolist() == [41, 36, 1]
    refused = workspace.rejects.set_index("value")["message"]
    assert refused["36个月"].startswith("not a number in 岁 or 周岁, the column's unit")
    assert refused["2笔"].startswith("not a number in 次, the column's unit")
