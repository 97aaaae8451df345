"""A corpus of hostile exports, each made from the sample data by one mutation.

For every kind: no traceback, the documented exit code, and for row-level faults the
counts add up (rows in = the file's data lines = kept + rejected, per source) with every
mutated line listed in rejects.csv. Config bombs must be refused quickly with exit 2.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from custrisk.cli import app

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
SOURCES = {"credit": "credit.csv", "transactions": "transactions.csv", "behaviour": "behaviour.csv"}
CUSTOMERS = 60  # customers kept from the sample: enough rows, quick to validate


@dataclass
class Export:
    """A data folder being mutated: the text of each file, line by line."""

    folder: Path
    lines: dict[str, list[str]]
    mutated: dict[str, set[int]] = field(default_factory=dict)  # source -> physical lines

    def set(self, source: str, line: int, text: str, *, rejected: bool = True) -> None:
        """Replace physical ``line`` (1-based, header = 1) of ``source``."""
        self.lines[source][line - 1] = text
        if rejected:
            self.mutated.setdefault(source, set()).add(line)

    def row(self, source: str, line: int) -> list[str]:
        return next(csv.reader([self.lines[source][line - 1]]))

    def set_field(self, source: str, line: int, column: str, value: str, **kw: bool) -> None:
        header = self.row(source, 1)
        fields = self.row(source, line)
        fields[header.index(column)] = value
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(fields)
        self.set(source, line, out.getvalue(), **kw)

    def write(self, *, newline: str = "\n", encoding: str = "utf-8") -> None:
        for source, name in SOURCES.items():
            if source in self.lines:
                text = newline.join(self.lines[source]) + newline
                (self.folder / name).write_bytes(text.encode(encoding))


@pytest.fixture(scope="session")
def base_lines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """The sample export cut to its first CUSTOMERS customers (built once)."""
    credit = (SAMPLE / "credit.csv").read_text(encoding="utf-8").splitlines()
    keep = credit[: CUSTOMERS + 1]
    ids = {line.split(",", 1)[0] for line in keep[1:]}
    out = {"credit": keep}
    for source in ("transactions", "behaviour"):
        lines = (SAMPLE / SOURCES[source]).read_text(encoding="utf-8").splitlines()
        out[source] = [lines[0]] + [ln for ln in lines[1:] if ln.split(",")[1] in ids]
    return out


@pytest.fixture
def export(tmp_path: Path, base_lines: dict[str, list[str]]) -> Export:
    folder = tmp_path / "data"
    folder.mkdir()
    return Export(folder, {k: list(v) for k, v in base_lines.items()})


# --- row-level faults: (mutation, expected exit code) --------------------------------

Mutation = Callable[[Export], None]
ROW_FAULTS: dict[str, Mutation] = {}


def row_fault(func: Mutation) -> Mutation:
    ROW_FAULTS[func.__name__] = func
    return func


#: Faults in an optional column, which the packaged config blanks (on_invalid: blank):
#: the row is kept and listed as repaired.
BLANKED: dict[str, Mutation] = {}


def blanked(func: Mutation) -> Mutation:
    BLANKED[func.__name__] = func
    return func


@row_fault
def extra_field(e: Export) -> None:
    e.set("credit", 5, e.lines["credit"][4] + ",surplus")


@row_fault
def missing_field(e: Export) -> None:
    e.set("transactions", 7, e.lines["transactions"][6].rsplit(",", 1)[0])


@row_fault
def unterminated_quote_mid_file(e: Export) -> None:
    n = len(e.lines["transactions"])
    e.set_field("transactions", n // 2, "channel", "x")
    e.set("transactions", n // 2, e.lines["transactions"][n // 2 - 1].replace(",x,", ',"x,'))


@row_fault
def quoted_newline_in_a_number(e: Export) -> None:
    e.set_field("transactions", 9, "amount", "12\n34")


@blanked
def nul_in_a_text_field(e: Export) -> None:
    e.set_field("credit", 6, "region", "华\x00东")


@row_fault
def control_character_in_an_id(e: Export) -> None:
    e.set_field("transactions", 11, "txn_id", "T0\x07001")


@row_fault
def oversized_field(e: Export) -> None:
    e.set_field("behaviour", 4, "channel", "x" * 3_000_000)


@row_fault
def far_future_date(e: Export) -> None:
    e.set_field("transactions", 12, "txn_date", "2100-06-15")


@row_fault
def year_9999_date(e: Export) -> None:
    e.set_field("behaviour", 5, "event_date", "9999-12-31")


@blanked
def date_before_the_floor(e: Export) -> None:
    e.set_field("credit", 7, "customer_since", "1800-01-01")


@row_fault
def impossible_calendar_date(e: Export) -> None:
    e.set_field("transactions", 13, "txn_date", "2026-02-30")


@row_fault
def date_in_a_foreign_format(e: Export) -> None:
    e.set_field("transactions", 14, "txn_date", "31/12/2025")


@row_fault
def text_in_a_number(e: Export) -> None:
    e.set_field("transactions", 15, "amount", "abc")


@row_fault
def infinite_number(e: Export) -> None:
    e.set_field("transactions", 16, "amount", "inf")


@blanked
def nan_number(e: Export) -> None:
    e.set_field("credit", 8, "annual_income", "NaN")


@row_fault
def negative_amount(e: Export) -> None:
    e.set_field("transactions", 17, "amount", "-5.00")


@blanked
def fraction_in_an_integer(e: Export) -> None:
    e.set_field("credit", 9, "bureau_score", "700.5")


@blanked
def out_of_range_integer(e: Export) -> None:
    e.set_field("credit", 10, "bureau_score", "9000")


@row_fault
def value_not_allowed(e: Export) -> None:
    e.set_field("transactions", 18, "txn_type", "gift")


@row_fault
def blank_required_value(e: Export) -> None:
    e.set_field("transactions", 19, "amount", "")


@row_fault
def duplicate_customer_id(e: Export) -> None:
    first = e.row("credit", 2)[0]
    e.set_field("credit", 11, "customer_id", first)


@row_fault
def exact_duplicate_row(e: Export) -> None:
    e.set("behaviour", 6, e.lines["behaviour"][2])


@row_fault
def orphan_transaction(e: Export) -> None:
    e.set_field("transactions", 20, "customer_id", "9999999999")


@blanked
def formula_in_a_name(e: Export) -> None:
    e.set_field("credit", 12, "name", '=HYPERLINK("http://x.example","点击")')


@blanked
def full_width_formula_in_a_name(e: Export) -> None:
    e.set_field("credit", 13, "name", '＝HYPERLINK("http://x.example")')


@blanked
def at_formula_in_a_category(e: Export) -> None:
    e.set_field("credit", 14, "region", "@SUM(A1:A9)")


@row_fault
def plus_command_in_an_id(e: Export) -> None:
    e.set_field("transactions", 21, "txn_id", "+CMD|' /C calc'!A0")


@row_fault
def row_check_broken(e: Export) -> None:
    header = e.row("credit", 1)
    fields = e.row("credit", 15)
    balance = float(fields[header.index("outstanding_balance")])
    e.set_field("credit", 15, "overdue_amount", f"{balance + 100:.2f}")


@blanked
def invalid_resident_id(e: Export) -> None:
    e.set_field("credit", 16, "id_number", "110105194912310021")


@blanked
def phone_not_matching_its_pattern(e: Export) -> None:
    e.set_field("credit", 17, "phone", "12345")


@row_fault
def ids_that_collide_after_normalisation(e: Export) -> None:
    e.set_field("transactions", 22, "txn_id", "tx a")
    e.set_field("transactions", 23, "txn_id", "TXA")


def _validated(
    export: Export, tmp_path: Path, runner: CliRunner, code: int
) -> dict[str, tuple[dict[str, int], int]]:
    """Write the export, validate it into ``tmp_path/validation`` (exit ``code``); each
    source's counts in the report and its physical data lines."""
    export.write()
    out = tmp_path / "validation"
    result = runner.invoke(app, ["validate", str(export.folder), "--out", str(out)])
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == code, result.output
    report = json.loads((out / "validation_report.json").read_text(encoding="utf-8"))
    return {
        source: (
            report["sources"][source],
            sum(line.count("\n") + 1 for line in export.lines[source][1:]),
        )
        for source in SOURCES
    }


def _rejects(tmp_path: Path) -> list[dict[str, str]]:
    with (tmp_path / "validation" / "rejects.csv").open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("kind", sorted(ROW_FAULTS))
def test_a_row_level_fault_is_rejected_with_its_line_and_counted(
    kind: str, export: Export, tmp_path: Path, runner: CliRunner
) -> None:
    ROW_FAULTS[kind](export)
    for source, (counts, physical) in _validated(export, tmp_path, runner, 1).items():
        assert counts["rows_in"] == physical, (source, counts)
        assert counts["rows_in"] == counts["rows_kept"] + counts["rows_rejected"], source
    rejects = _rejects(tmp_path)
    for source, lines in export.mutated.items():
        listed = {
            int(r["line"]) for r in rejects if r["source"] == source and r["action"] == "dropped"
        }
        assert lines <= listed, (source, sorted(lines - listed))


@pytest.mark.parametrize("kind", sorted(BLANKED))
def test_a_bad_optional_value_is_blanked_and_its_row_kept(
    kind: str, export: Export, tmp_path: Path, runner: CliRunner
) -> None:
    BLANKED[kind](export)
    for source, (counts, physical) in _validated(export, tmp_path, runner, 0).items():
        assert counts["rows_in"] == counts["rows_kept"] == physical, (source, counts)
    rejects = _rejects(tmp_path)
    for source, lines in export.mutated.items():
        listed = {
            int(r["line"])
            for r in rejects
            if r["source"] == source and r["action"] == "repaired" and "blank" in r["message"]
        }
        assert lines <= listed, (source, sorted(lines - listed))


# --- faults that repair or are harmless: exit 0, nothing lost ------------------------

HARMLESS: dict[str, Mutation] = {}


def harmless(func: Mutation) -> Mutation:
    HARMLESS[func.__name__] = func
    return func


@harmless
def blank_lines_between_rows(e: Export) -> None:
    e.lines["transactions"][10:10] = ["", ""]


@harmless
def header_in_other_case(e: Export) -> None:
    e.lines["behaviour"][0] = e.lines["behaviour"][0].upper()


@harmless
def full_width_header(e: Export) -> None:
    e.lines["credit"][0] = e.lines["credit"][0].replace("region", "ｒｅｇｉｏｎ")


@harmless
def many_unused_columns(e: Export) -> None:
    extra = ",".join(f"unused_{i}" for i in range(2000))
    blanks = "," * 1999
    e.lines["credit"] = [e.lines["credit"][0] + "," + extra] + [
        line + "," + blanks for line in e.lines["credit"][1:]
    ]


@harmless
def full_width_digits(e: Export) -> None:
    e.set_field("transactions", 24, "amount", "１２３.５０", rejected=False)


@harmless
def thousands_separators(e: Export) -> None:
    e.set_field("transactions", 25, "amount", "1,234.50", rejected=False)


@harmless
def stray_whitespace(e: Export) -> None:
    e.set_field("credit", 18, "region", "  华东 ", rejected=False)


@pytest.mark.parametrize("kind", sorted(HARMLESS))
def test_a_repairable_fault_loses_no_row(
    kind: str, export: Export, tmp_path: Path, runner: CliRunner
) -> None:
    HARMLESS[kind](export)
    export.write()
    out = tmp_path / "validation"
    result = runner.invoke(app, ["validate", str(export.folder), "--out", str(out)])
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 0, result.output
    report = json.loads((out / "validation_report.json").read_text(encoding="utf-8"))
    for source in SOURCES:
        counts = report["sources"][source]
        assert counts["rows_rejected"] == 0, (source, counts)
        expected = sum(1 for line in export.lines[source][1:] if line.strip())
        assert counts["rows_in"] == counts["rows_kept"] == expected, (source, counts)


@pytest.mark.parametrize(
    ("newline", "encoding"),
    [("\r\n", "utf-8"), ("\n", "gbk"), ("\n", "utf-8-sig"), ("\n", "utf-16")],
)
def test_line_ends_and_encodings_read_the_same(
    newline: str, encoding: str, export: Export, tmp_path: Path, runner: CliRunner
) -> None:
    export.write(newline=newline, encoding=encoding)
    out = tmp_path / "validation"
    result = runner.invoke(app, ["validate", str(export.folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "validation_report.json").read_text(encoding="utf-8"))
    assert report["sources"]["credit"]["rows_kept"] == CUSTOMERS


# --- faults that make the input unusable: exit 2, one line, no traceback --------------

FILE_FAULTS: dict[str, tuple[Mutation, str]] = {}


def file_fault(pattern: str) -> Callable[[Mutation], Mutation]:
    def register(func: Mutation) -> Mutation:
        FILE_FAULTS[func.__name__] = (func, pattern)
        return func

    return register


@file_fault(r"empty")
def empty_credit_file(e: Export) -> None:
    e.write()
    (e.folder / "credit.csv").write_bytes(b"")


@file_fault(r"no data rows")
def credit_header_only(e: Export) -> None:
    e.lines["credit"] = e.lines["credit"][:1]
    e.write()


@file_fault(r"first line is empty|no header")
def blank_first_line(e: Export) -> None:
    e.lines["credit"].insert(0, "")
    e.write()


@file_fault(r"duplicate column")
def duplicate_header_names(e: Export) -> None:
    e.lines["credit"][0] = e.lines["credit"][0].replace("region,industry", "region,region")
    e.write()


@file_fault(r"customer_id|required column")
def missing_required_column(e: Export) -> None:
    e.lines["credit"] = [line.split(",", 1)[1] for line in e.lines["credit"]]
    e.write()


@file_fault(r"delimit")
def semicolon_delimited(e: Export) -> None:
    e.lines["credit"] = [line.replace(",", ";") for line in e.lines["credit"]]
    e.write()


@file_fault(r"decod|encoding")
def undecodable_bytes(e: Export) -> None:
    e.write()
    path = e.folder / "credit.csv"
    path.write_bytes(path.read_bytes().replace("华东".encode(), b"\xff\xfe\x80", 1))


@file_fault(r"transactions\.csv.*(folder|directory)|(folder|directory).*transactions\.csv")
def folder_named_like_an_export(e: Export) -> None:
    del e.lines["transactions"]
    e.write()
    (e.folder / "transactions.csv").mkdir()


@file_fault(r"header")
def oversized_header(e: Export) -> None:
    e.lines["credit"][0] += "," + "h" * 300_000
    e.write()


@file_fault(r"header.*(data|value)|customer_id")
def headerless_export(e: Export) -> None:
    e.lines["credit"] = e.lines["credit"][1:]
    e.write()


@pytest.mark.parametrize("kind", sorted(FILE_FAULTS))
def test_an_unusable_file_stops_with_exit_2_and_one_line(
    kind: str, export: Export, tmp_path: Path, runner: CliRunner
) -> None:
    mutate, pattern = FILE_FAULTS[kind]
    mutate(export)
    result = runner.invoke(app, ["validate", str(export.folder), "--out", str(tmp_path / "v")])
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error:"), result.output
    assert re.search(pattern, lines[0], re.IGNORECASE), lines[0]


def test_a_headerless_export_does_not_print_personal_data(
    export: Export, tmp_path: Path, runner: CliRunner
) -> None:
    first = export.row("credit", 2)
    headerless_export(export)
    result = runner.invoke(app, ["validate", str(export.folder), "--out", str(tmp_path / "v")])
    name, phone, id_number = first[1], first[2], first[3]
    for value in (name, phone, id_number):
        assert value not in result.output


# --- config bombs: refused quickly with exit 2 --------------------------------------

CONFIG_BOMBS: dict[str, str] = {
    "billion_laughs": "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    + "sources: *i\n",
    "deep_nesting": "version: 1\nsources: " + "[" * 600 + "]" * 600 + "\n",
    "lookahead_pattern": (SAMPLE.parent / "configs" / "sources.yaml")
    .read_text(encoding="utf-8")
    .replace("check: cn_phone", "pattern: '(?=1)(a|a)*b'"),
    "duplicate_keys": "version: 1\nversion: 1\nsources: {}\n",
    "not_a_mapping": "- just\n- a list\n",
    "huge_file": "version: 1\n# " + "x" * 20_000_000 + "\nsources: {}\n",
}


@pytest.mark.parametrize("kind", sorted(CONFIG_BOMBS))
def test_a_hostile_sources_config_is_refused_with_exit_2(
    kind: str, export: Export, tmp_path: Path
) -> None:
    export.write()
    config = tmp_path / "sources.yaml"
    config.write_text(CONFIG_BOMBS[kind], encoding="utf-8")
    # A subprocess with a timeout: a regression must fail the test, not hang the suite.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "custrisk",
            "validate",
            str(export.folder),
            "--config",
            str(config),
            "--out",
            str(tmp_path / "v"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    assert str(config) in " ".join(done.stderr.split()), done.stderr


def test_a_long_expression_is_evaluated_or_refused_cleanly(
    tmp_path: Path, runner: CliRunner
) -> None:
    indicators = (SAMPLE.parent / "configs" / "indicators.yaml").read_text(encoding="utf-8")
    long_expr = "+".join(["1"] * 600)
    config = tmp_path / "indicators.yaml"
    config.write_text(
        indicators.replace(
            "indicators:\n",
            "indicators:\n  long_sum:\n    label: {zh: 长, en: long}\n    direction: none\n"
            f"    expr: {long_expr}\n",
            1,
        ),
        encoding="utf-8",
    )
    result = runner.invoke(
        app,
        ["indicators", str(SAMPLE), "--config", str(config), "--out", str(tmp_path / "i.csv")],
    )
    assert "Traceback" not in result.output, result.output
    assert result.exit_code in (0, 1), result.output
