"""``custrisk alerts``: list and filter the early-warning alerts of a scoring run."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from custrisk.cli._common import (
    EncryptOpt,
    KeyfileOpt,
    PseudonymiseOpt,
    option_typed,
    output_file,
    protect_command,
    sealed_like,
)
from custrisk.cli._console import console
from custrisk.io.plain import counted
from custrisk.vocab import check_language, level_shown, owner_label

app = typer.Typer()

FORMATS = ("table", "csv")
LEVEL_STYLE = {"red": "bold red", "orange": "dark_orange", "yellow": "yellow"}


@app.command("alerts", short_help="List a run's alerts, most severe first, filtered")
def alerts(
    ctx: typer.Context,
    source: Annotated[
        Path,
        typer.Argument(
            help="alerts.csv, a scores file (its alerts.csv is read) or their folder.",
            show_default=False,
        ),
    ],
    level: Annotated[
        str | None,
        typer.Option(
            "--level",
            help="Only alerts at this level or above: red, orange or yellow "
            "(or high, medium, low; 红色, 橙色, 黄色; 高, 中, 低).",
        ),
    ] = None,
    owner: Annotated[
        list[str] | None,
        typer.Option(
            "--owner", metavar="<role>", help="Only alerts of this owner role (repeatable)."
        ),
    ] = None,
    code: Annotated[
        list[str] | None,
        typer.Option(
            "--code",
            metavar="<code>",
            help="Only alerts of this rule code, e.g. CR02 (repeatable).",
        ),
    ] = None,
    grade: Annotated[
        list[str] | None,
        typer.Option(
            "--grade", metavar="<grade>", help="Only customers of this grade (repeatable)."
        ),
    ] = None,
    customers: Annotated[
        str | None,
        typer.Option(
            "--customers",
            "--customer",
            help="Only alerts of these customer ids: ID1,ID2,... or @FILE with one id per "
            "line (as report --customers).",
        ),
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="<status>",
            help="Only alerts of this lifecycle status: new or ongoing (repeatable; known "
            "when the run was scored with --previous).",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="table (for people) or csv (all columns). Default: table on screen, csv "
            "with --out FILE.csv.",
            show_default=False,
        ),
    ] = None,
    out_text: Annotated[
        str | None,  # (as typed: a Path drops the ending / that says "a folder")
        typer.Option(
            "--out",
            "-o",
            help="Write the CSV to this file instead of stdout (.xlsx: a workbook, levels "
            "coloured).",
            show_default=False,
        ),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help="Language of levels, messages, owners and actions in the table: zh or en "
            "[default: the run's language].",
            show_default=False,
        ),
    ] = None,
    csv_encoding: Annotated[
        str | None,
        typer.Option(
            "--csv-encoding",
            help="Encoding of the CSV: utf-8-sig (UTF-8 with a BOM, for Excel; the default "
            "with --out) or utf-8 (the default on stdout).",
            show_default=False,
        ),
    ] = None,
    encrypt: EncryptOpt = False,
    keyfile: KeyfileOpt = None,
    pseudonymise: PseudonymiseOpt = False,
) -> None:
    """List the alerts of a scoring run, most severe first, with their handling actions.

    Filters combine (an alert must pass all of them); repeat --owner, --code or --grade
    to allow several values. --customer ID lists all of one customer's alerts (a
    customer report lists the most severe). The CSV output has the columns of
    alerts.csv, so that it can be filtered again; written to --out it is UTF-8 with a
    BOM (for Excel), on stdout plain UTF-8, unless --csv-encoding says otherwise.
    """
    out = output_file(out_text, "selected_alerts.csv")
    if out is not None:
        encrypt = sealed_like(source, encrypt, "the alerts are")
    protect_command(
        encrypt=encrypt,
        keyfile=keyfile,
        pseudonymise=pseudonymise,
        outputs=out.parent if out is not None else None,
    )
    from custrisk.data.id_list import listed_values
    from custrisk.errors import UsageError
    from custrisk.io.safe_csv import csv_encoding as parse_csv_encoding
    from custrisk.policy import alerts_csv_bytes, filter_alerts, handling_actions, read_alerts

    workbook = out is not None and out.suffix.lower() == ".xlsx"
    if output is None:  # a file is written as CSV (or a workbook), the screen gets a table
        output = "csv" if out is not None and not workbook else "table"
    if output not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}; got {output!r}")
    if lang is not None:
        check_language(lang)
    if out is not None and output != "csv" and not workbook:
        raise UsageError(
            "--out writes CSV or an .xlsx workbook, not a table; leave out --format table"
        )
    if csv_encoding is not None and output != "csv":
        raise UsageError("--csv-encoding is for CSV output; add --format csv")
    # A file is for people (Excel wants the BOM); stdout usually feeds another program.
    encoding = parse_csv_encoding(csv_encoding or (None if out is not None else "utf-8"))
    typed = option_typed(ctx, "--customers", "--customer")
    ids = listed_values(customers, typed) or []
    frame = filter_alerts(
        read_alerts(source, codes=code or (), grades=grade or (), customers=ids, option=typed),
        level=level,
        owners=owner or (),
        codes=code or (),
        grades=grade or (),
        statuses=status or (),
        customers=ids,
    )
    if workbook and out is not None:
        from custrisk.results import write_alerts_workbook

        written = write_alerts_workbook(frame, out)
        console.print(f"Wrote {counted(len(frame), 'alert')} to {written}")
        return
    if output == "csv":
        data = alerts_csv_bytes(frame, encoding=encoding)
        if out is not None:
            from custrisk.io.atomic import write_bytes

            written = write_bytes(out, data)
            console.print(f"Wrote {counted(len(frame), 'alert')} to {written}")
        else:
            typer.echo(data.decode("utf-8"), nl=False)
        return
    if lang is None:  # the language the run was scored in
        from custrisk.results import read_language

        lang = read_language(source)
    table = Table(
        title=f"{counted(len(frame), 'alert')} ({source})",
        title_justify="left",
        box=box.SIMPLE,
        pad_edge=False,
        expand=True,
    )
    table.add_column("customer", no_wrap=True)
    table.add_column("grade", no_wrap=True)
    table.add_column("level", no_wrap=True)
    table.add_column("code", no_wrap=True)
    table.add_column("message", ratio=1, overflow="fold")
    table.add_column("owner", overflow="fold")
    table.add_column("due by", no_wrap=True)  # MM-DD HH:MM; the year is the as-of's
    table.add_column("status", no_wrap=True)
    for row in frame.to_dict(orient="records"):
        name = str(row["level"])
        table.add_row(
            str(row["customer_id"]),
            str(row["grade"]),
            Text(level_shown(name, lang), style=LEVEL_STYLE[name]),
            str(row["code"]),
            str(row[f"message_{lang}"]),
            owner_label(str(row["owner"]), lang),
            str(row["due_by"])[5:].replace("T", " "),
            _status(row),
        )
    console.print(table)
    actions = handling_actions(frame, lang)
    if actions:
        console.print("Handling actions:" if lang == "en" else "处理措施 (handling actions):")
        for rule, action in actions.items():
            console.print(f"  {rule}: {action}")


def _status(row: Mapping[Hashable, Any]) -> str:
    """``new``, or ``ongoing since YYYY-MM-DD``; empty for alerts without a lifecycle."""
    status = str(row.get("status") or "")
    return f"{status} since {row.get('since')}" if status == "ongoing" else status
