"""``custrisk validate``: schema checks and cleaning of a folder of exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from custrisk.cli._common import (
    BucketsOpt,
    CsvEncodingOpt,
    EncryptOpt,
    EngineOpt,
    KeyfileOpt,
    MemoryLimitOpt,
    PseudonymiseOpt,
    RejectsUnmaskedOpt,
    SchedulerOpt,
    bind_period,
    check_unmasked_target,
    choose_configs,
    protect_command,
    say_source_warnings,
    write_unmasked_rejects,
)
from custrisk.cli._console import console, say
from custrisk.data import REJECTS_FILE, REPORT_FILE, ValidationReport
from custrisk.data.rejects import REJECTS_FORMATS
from custrisk.data.workspace import is_one_file
from custrisk.engine.cluster import check_engine_options
from custrisk.errors import UsageError
from custrisk.io.excel import split_sheet
from custrisk.io.safe_csv import csv_encoding as parse_csv_encoding

app = typer.Typer()

FORMATS = ("text", "json")

ValidatePeriodOpt = Annotated[
    str | None,
    typer.Option(
        "--period",
        help="Month YYYY-MM the sources' queries are bound to (:period, :period_start, "
        ":period_end, :as_of; see docs/data-sources.md). validate does not date the data: "
        "it picks no file and checks no month (score, indicators, train and drift check "
        "the data's as-of date against it).",
        show_default=False,
    ),
]


@app.command("validate", short_help="Check and clean the exports; write every rejected row")
def validate(
    data_dir: Annotated[
        Path,
        typer.Argument(
            help="Folder holding the monthly exports, or one table file (.csv, .xlsx, "
            ".parquet) with the sources config custrisk init proposed for it."
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            "--sources",
            help="Sources YAML, or a profile: crm (default: the packaged one; the CRM "
            "profile when DATA_DIR holds 客户*.xlsx).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for rejects.csv and validation_report.json [default: DATA_DIR/validation]."
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="Report on stdout: text or json.")
    ] = "text",
    encoding: Annotated[
        str | None,
        typer.Option(help="Text encoding of the CSV files (default: detect BOM, UTF-8, GBK)."),
    ] = None,
    period: ValidatePeriodOpt = None,
    csv_encoding: CsvEncodingOpt = None,
    rejects_unmasked: RejectsUnmaskedOpt = None,
    rejects_format: Annotated[
        str,
        typer.Option(
            "--rejects-format",
            help="csv (rejects.csv) or xlsx (rejects.xlsx: a workbook, text kept as text).",
        ),
    ] = "csv",
    encrypt: EncryptOpt = False,
    keyfile: KeyfileOpt = None,
    pseudonymise: PseudonymiseOpt = False,
    engine: EngineOpt = "pandas",
    scheduler: SchedulerOpt = None,
    buckets: BucketsOpt = None,
    memory_limit: MemoryLimitOpt = None,
) -> None:
    """Check and clean the exports in DATA_DIR; write every dropped or repaired row to
    rejects.csv with its file, line, column and reason (names, phones and id numbers
    masked; --rejects-unmasked FILE writes them in clear to a file of your choice).

    Exit 0 when clean or only repaired (a report's own rows, blank rows, totals and notes,
    are listed as skipped), 1 when rows were rejected, 2 when the input is unusable
    (missing file or required column, undecodable file, bad config).
    """
    bind_period(period, dated=False)
    protect_command(
        encrypt=encrypt,
        keyfile=keyfile,
        pseudonymise=pseudonymise,
        outputs=out if out is not None else _folder(data_dir) / "validation",
        clear_pii=rejects_unmasked,
    )
    if output_format not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}; got {output_format!r}")
    if rejects_format not in REJECTS_FORMATS:
        raise UsageError(
            f"--rejects-format must be one of {', '.join(REJECTS_FORMATS)}; got {rejects_format!r}"
        )
    parse_csv_encoding(csv_encoding)
    out_dir = out if out is not None else _folder(data_dir) / "validation"
    check_unmasked_target(rejects_unmasked, out_dir / REJECTS_FILE, out_dir / REPORT_FILE)
    check_engine_options(engine, scheduler, buckets, memory_limit)
    chosen = choose_configs(data_dir, config, machine_output=output_format == "json")
    from custrisk.engine.choice import validate_on

    workspace = validate_on(
        data_dir,
        engine=engine,
        scheduler=scheduler,
        buckets=buckets,
        memory_limit=memory_limit,
        config=chosen.sources,
        encoding=encoding,
    )
    rejects_path, report_path = workspace.write_validation(
        out_dir, csv_encoding=csv_encoding, rejects_format=rejects_format
    )
    write_unmasked_rejects(workspace, rejects_unmasked, csv_encoding=csv_encoding)
    if period is not None and not any(s.query for s in workspace.config.sources.values()):
        say(
            "Note:",
            f"--period {period} binds nothing here: no source is a database query, and "
            "validate reads the files as they are without dating them (score, indicators, "
            "train and drift refuse data whose as-of date is not in the month)",
        )
    report = workspace.report
    if output_format == "json":
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_report(report)
        console.print(f"Wrote {rejects_path} ({len(workspace.rejects)} issues) and {report_path}")
    report.require_no_rejects(rejects_path)


def _folder(data: Path) -> Path:
    """Where a validation's outputs go by default: beside one table file, or in the
    folder of exports."""
    return split_sheet(data)[0].parent if is_one_file(data) else data


def _print_report(report: ValidationReport) -> None:
    table = Table(title=f"Validation of {report.data_dir}", title_justify="left")
    # (a report's own rows, blank rows, totals and notes, shown when some were skipped)
    skipped = ("skipped",) if report.rows_skipped else ()
    for name in ("source", "encoding", "rows in", "kept", "rejected", *skipped, "repaired"):
        table.add_column(name, justify="left" if name in ("source", "encoding") else "right")
    for name, source in report.sources.items():
        table.add_row(
            name,
            ", ".join(sorted(set(source.encodings))),
            f"{source.rows_in:,}",
            f"{source.rows_kept:,}",
            _red(source.rows_rejected),
            *(f"{source.rows_skipped:,}" for _ in skipped),
            f"{source.rows_repaired:,}",
        )
    for name in report.absent:
        table.add_row(name, "-", "absent", "", "", *("" for _ in skipped), "")
    console.print(table)
    rules = Table(title="Rows by rule", title_justify="left")
    for name in ("source", "rule", "action", "rows"):
        rules.add_column(name, justify="right" if name == "rows" else "left")
    for name, source in report.sources.items():
        for rule, actions in source.rules.items():
            for action, count in actions.items():
                rules.add_row(name, rule, action, f"{count:,}")
    if rules.row_count:
        console.print(rules)
    say_source_warnings(report)
    console.print(Text.assemble("Status: ", (report.status, "bold")))


def _red(count: int) -> Text:
    return Text(f"{count:,}", style="red" if count else "")
