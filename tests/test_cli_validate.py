"""`custrisk validate` from the command line: exit codes and one-line messages."""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.config import default_config_path
from tests._support import BAD_INPUTS, CREDIT_HEADER, TXN_HEADER, credit_row

# case folder -> (exit code, a regex the one-line message must match)
BAD_CASES = {
    "empty_file": (2, r"credit\.csv: the file is empty \(0 bytes\); export it again"),
    "header_only": (2, r"credit\.csv: has a header but no data rows"),
    "missing_required_column": (
        2,
        r"credit\.csv:1: missing required column\(s\): credit_limit; the file has: "
        r"customer_id, .* and \d+ more; add the column\(s\), or map the file's header with "
        r"'rename' under sources\.credit",
    ),
    "wrong_delimiter": (
        2,
        r"credit\.csv:1: the header has one column but looks "
        r"semicolon-delimited: .*set delimiter: ';'",
    ),
    "undecodable_bytes": (
        2,
        r"credit\.csv:4: cannot decode byte ff fe at offset \d+: the file "
        r"is neither UTF-8 nor GBK/GB18030; .*--encoding",
    ),
    "duplicate_header": (2, r"credit\.csv:1: duplicate column names in the header: region"),
    "blank_header_line": (2, r"credit\.csv:1: the first line is empty: no header row"),
    "extra_fields": (
        1,
        r"1 row was rejected \(credit 1\); 1 customer of credit\.csv is not scored: its rows "
        r"were rejected; see .*rejects\.csv",
    ),
    "duplicate_ids": (1, r"1 row was rejected \(credit 1\)"),
}


def _one_line_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_gets_exit_code_and_one_line_message(
    runner: CliRunner, tmp_path: Path, case: str
) -> None:
    code, pattern = BAD_CASES[case]
    result = runner.invoke(app, ["validate", str(BAD_INPUTS / case), "--out", str(tmp_path)])
    assert result.exit_code == code, result.output
    assert re.search(pattern, _one_line_error(result)), result.stderr


@pytest.mark.parametrize(
    "case,rule,lines,action",
    [
        ("extra_fields", "field_count", [3], "dropped"),
        ("duplicate_ids", "duplicate_key", [5], "dropped"),
        # names are optional: the packaged config blanks them (on_invalid: blank)
        ("formula_cells", "formula", [3, 4], "repaired"),
    ],
)
def test_rejected_and_repaired_rows_are_in_rejects_csv(
    runner: CliRunner, tmp_path: Path, case: str, rule: str, lines: list[int], action: str
) -> None:
    result = runner.invoke(app, ["validate", str(BAD_INPUTS / case), "--out", str(tmp_path)])
    assert result.exit_code == (1 if action == "dropped" else 0), result.output
    with (tmp_path / "rejects.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["line"]) for r in rows if r["rule"] == rule] == lines
    assert all(r["action"] == action and r["file"] == "credit.csv" for r in rows)


def test_validate_counts_the_customers_left_out_and_names_their_credit_rows(
    runner: CliRunner, tmp_path: Path, make_workspace: Callable[..., Path]
) -> None:
    folder = make_workspace(
        {
            "credit.csv": "\n".join(
                [
                    CREDIT_HEADER,
                    credit_row("0000000001"),
                    credit_row("0000000002", limit=""),
                    credit_row("0000000003") + ",surplus",
                ]
            )
            + "\n",
            "transactions.csv": "\n".join(
                [
                    TXN_HEADER,
                    "T1,0000000002,2026-01-05,10,order,online,,",
                    "T2,0000000003,2026-01-05,10,order,online,,",
                    "T3,0000000009,2026-01-05,10,order,online,,",
                ]
            )
            + "\n",
        }
    )
    result = runner.invoke(app, ["validate", str(folder), "--out", str(tmp_path / "v")])
    assert result.exit_code == 1, result.output
    said = " ".join(result.stderr.split())
    assert said.startswith(
        "Error: 5 rows were rejected (credit 2, transactions 3); 2 customers of credit.csv "
        "are not scored: their rows were rejected; see "
    )
    rules = " ".join(result.stdout.split())
    assert "transactions │ customer_rejected │ dropped │ 2" in rules
    assert "transactions │ orphan │ dropped │ 1" in rules
    with (tmp_path / "v" / "rejects.csv").open(encoding="utf-8-sig") as handle:
        rows = [r for r in csv.DictReader(handle) if r["source"] == "transactions"]
    assert [r["message"] for r in rows] == [
        "the customer's credit row was rejected (credit.csv line 3: missing_required)",
        "the customer's credit row was rejected (credit.csv line 4: field_count)",
        "customer not found in the credit table",
    ]
    report = json.loads((tmp_path / "v" / "validation_report.json").read_text(encoding="utf-8"))
    assert report["customers_rejected"] == 2


def test_formula_values_are_neutralised_in_rejects_csv(runner: CliRunner, tmp_path: Path) -> None:
    raw = tmp_path / "raw" / "rejects_unmasked.csv"
    runner.invoke(
        app,
        [
            "validate",
            str(BAD_INPUTS / "formula_cells"),
            "--out",
            str(tmp_path),
            "--rejects-unmasked",
            str(raw),
        ],
    )
    text = raw.read_text(encoding="utf-8-sig")
    assert "'@SUM(A1:A9)" in text
    assert ",@SUM" not in text and ',"=HYPERLINK' not in text
    # rejects.csv masks the names (PII) and still escapes what is left of them
    masked = (tmp_path / "rejects.csv").read_text(encoding="utf-8-sig")
    assert ",'=**," in masked and ",'@**," in masked


@pytest.mark.parametrize("case", ["clean", "gbk_clean", "utf8_bom"])
def test_clean_input_exits_0_and_writes_empty_rejects(
    runner: CliRunner, tmp_path: Path, case: str
) -> None:
    result = runner.invoke(app, ["validate", str(BAD_INPUTS / case), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Status: clean" in result.stdout
    assert (tmp_path / "rejects.csv").read_text(encoding="utf-8-sig").count("\n") == 1
    assert (tmp_path / "rejects.csv").stat().st_mode & 0o777 == 0o600


def test_json_format_is_machine_readable(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["validate", str(BAD_INPUTS / "gbk_clean"), "--out", str(tmp_path), "--format", "json"]
    )
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["status"] == "clean"
    assert report["sources"]["credit"]["encodings"] == ["gb18030"]
    assert report["sources"]["credit"]["rows_in"] == 3
    assert json.loads((tmp_path / "validation_report.json").read_text()) == report


def test_forced_wrong_encoding_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["validate", str(BAD_INPUTS / "gbk_clean"), "--out", str(tmp_path), "--encoding", "utf-8"],
    )
    assert result.exit_code == 2
    assert "cannot decode byte" in _one_line_error(result)
    assert "as utf-8" in result.stderr


def test_unknown_format_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(BAD_INPUTS / "clean"), "--format", "xml"])
    assert result.exit_code == 2
    assert "--format must be one of text, json; got 'xml'" in _one_line_error(result)


def test_missing_data_dir(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "data folder not found" in _one_line_error(result)
    # an export file named instead of its folder: the folder is named in the hint
    (tmp_path / "credit.csv").write_text("customer_id\n1\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(tmp_path / "credit.csv")])
    assert result.exit_code == 2
    said = _one_line_error(result)
    assert "a file, not a folder of exports;" in said and "custrisk init credit.csv" in said
    assert f"for exports, pass their folder ({tmp_path})" in said


def test_one_table_is_validated_with_its_configs_layout_whatever_file_it_names(
    runner: CliRunner, tmp_path: Path
) -> None:
    """init proposes a flat table's config naming this month's file; next month's table
    (in the same folder) given to validate with it was refused as 'a file, not a folder',
    and the folder with it validated this month's file again, saying nothing of which."""
    header = "客户编号,年龄,月收入"
    (tmp_path / "台账_09.csv").write_text(f"{header}\n001,30,5000\n002,41,6000\n", "utf-8")
    (tmp_path / "台账_10.csv").write_text(f"{header}\n001,31,5100\n002,x,6100\n", "utf-8")
    result = runner.invoke(
        app, ["init", str(tmp_path / "台账_09.csv"), "--out", str(tmp_path / "cfg")]
    )
    assert result.exit_code == 0, result.output
    config = str(tmp_path / "cfg" / "sources.yaml")
    assert f"custrisk validate {tmp_path / '台账_09.csv'} --config {config}" in result.output
    result = runner.invoke(app, ["validate", str(tmp_path / "台账_10.csv"), "--config", config])
    assert result.exit_code == 0, result.output
    assert "Validation of " in result.output and "台账_10.csv" in result.output
    with (tmp_path / "validation" / "rejects.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["file"], r["line"], r["value"]) for r in rows] == [("台账_10.csv", "3", "x")]


def test_bad_config_is_exit_2_naming_the_key(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text(
        "sources:\n  credit:\n    file: credit.csv\n    key: customer_id\n"
        "    columns:\n      customer_id: {type: identifier}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["validate", str(BAD_INPUTS / "clean"), "--config", str(config)])
    assert result.exit_code == 2
    line = _one_line_error(result)
    assert "key 'sources.credit.columns.customer_id.type': 'identifier' is not allowed" in line
    assert "allowed values: id, string, category, int, float, date, bool" in line


def test_debug_shows_the_traceback_masked_and_keeps_the_exit_code(
    runner: CliRunner, tmp_path: Path
) -> None:
    """--debug let the exception escape: Python's exit 1 for what is exit 2, and the
    message at the traceback's end quoted the phone and ID number of a path in clear,
    which the error line masks."""
    missing = tmp_path / "310101200010239260" / "13298480483"
    result = runner.invoke(app, ["--debug", "validate", str(missing)])
    assert result.exit_code == 2
    said = result.output
    assert "Traceback (most recent call last)" in said and "DataError" in said
    assert "13298480483" not in said and "310101200010239260" not in said
    assert "132****0483" in said and said.rstrip().splitlines()[-1].startswith("Error:")


def test_a_failed_run_leaves_no_partial_output(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["validate", str(BAD_INPUTS / "header_only"), "--out", str(out)])
    assert result.exit_code == 2
    assert not out.exists() or not any(out.iterdir())


def test_a_transactions_file_of_headers_only_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    # Scored, it would make every customer look inactive (no orders, no payments).
    data = tmp_path / "data"
    data.mkdir()
    (data / "credit.csv").write_text(
        "\n".join([CREDIT_HEADER, credit_row("C001"), credit_row("C002")]) + "\n",
        encoding="utf-8",
    )
    (data / "transactions.csv").write_text(TXN_HEADER + "\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(data), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    line = _one_line_error(result)
    assert "transactions.csv: has a header but no data rows" in line
    # Without a transactions file at all, the credit table is validated on its own.
    (data / "transactions.csv").unlink()
    result = runner.invoke(app, ["validate", str(data), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output


def _us_dates(folder: Path) -> None:
    """Every txn_date of ``folder``'s transactions.csv written MM/DD/YYYY, a format the
    packaged config does not read."""
    path = folder / "transactions.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    column = lines[0].split(",").index("txn_date")
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        year, month, day = cells[column].split("-")
        cells[column] = f"{month}/{day}/{year}"
        out.append(",".join(cells))
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def test_a_source_that_loses_most_rows_stops_the_scoring_commands_not_validate(
    runner: CliRunner, tmp_path: Path, export_200: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(export_200, data)
    _us_dates(data)
    out = tmp_path / "indicators.csv"
    result = runner.invoke(app, ["indicators", str(data), "--out", str(out)])
    assert result.exit_code == 2
    line = _one_line_error(result)
    assert re.search(
        r"transactions\.csv: ([\d,]+) of \1 rows \(100%; max_rejected_share 0\.5\) were "
        r"rejected while cleaning, most as invalid_date \(\1 in column txn_date, e\.g\. "
        r"'\d\d/\d\d/20\d\d'\); scored, the 0 rows left would stand for the whole month; run "
        r"'custrisk validate ",
        line,
    ), line
    assert "max_rejected_share (1 turns the check off)" in line and not out.exists()
    # with the packaged config: a config of one's own to write, not the package's to edit
    assert "a sources config of your own with --sources" in line
    # validate still lists every row and its reason (exit 1), as it is for
    result = runner.invoke(app, ["validate", str(data), "--out", str(tmp_path / "v")])
    assert result.exit_code == 1
    assert (tmp_path / "v" / "rejects.csv").is_file()
    # The check turned off for the source: computed, as before.
    config = yaml.safe_load(default_config_path("sources.yaml").read_text(encoding="utf-8"))
    config["sources"]["transactions"]["max_rejected_share"] = 1
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(
        app, ["indicators", str(data), "--out", str(out), "--sources", str(sources)]
    )
    assert result.exit_code == 0, result.output


def test_a_source_of_orphans_is_exit_2_naming_the_fix_and_writes_nothing(
    runner: CliRunner, tmp_path: Path, lost_zeros_200: Path
) -> None:
    """Every transaction an orphan because its customer ids lost their leading zeros:
    exit 2 with one line that names zero_pad, not exit 1 with 100% of the rows in
    rejects.csv; with that zero_pad the exports are clean."""
    out = tmp_path / "out"
    result = runner.invoke(app, ["validate", str(lost_zeros_200), "--out", str(out)])
    assert result.exit_code == 2
    line = _one_line_error(result)
    assert "transactions.csv column 'customer_id': " in line
    assert "lost their leading zeros" in line and "add zero_pad: 10 to " in line
    assert not out.exists() or not any(out.iterdir())
    padded = ["--sources", str(lost_zeros_200 / "padded.yaml")]
    result = runner.invoke(app, ["validate", str(lost_zeros_200), "--out", str(out), *padded])
    assert result.exit_code == 0, result.output
    assert "Status: clean" in result.stdout


@pytest.mark.parametrize("name", ["exports[/red]", "exports[db]"])
def test_brackets_in_a_message_are_printed_as_they_are(
    runner: CliRunner, tmp_path: Path, name: str
) -> None:
    # Messages quote the user's paths, headers and values: `[db]` is text, not a style
    # for rich to swallow, and `[/red]` is not a closing tag to raise on.
    result = runner.invoke(app, ["validate", str(tmp_path / name)])
    assert result.exit_code == 2
    assert f"{name}: data folder not found" in _one_line_error(result)


def test_a_header_with_brackets_is_warned_of_as_it_is(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(BAD_INPUTS / "clean", data)
    credit = data / "credit.csv"
    lines = credit.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",备注[/b][bold]"] + [line + ",x" for line in lines[1:]]
    credit.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(data), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "ignored: 备注[/b][bold]" in result.stderr
