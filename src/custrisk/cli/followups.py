"""``custrisk followups``: the follow-up plan (回访计划) of a scoring run, by owner."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from custrisk.cli._common import output_file, protect_command, sealed_like
from custrisk.cli._console import console, counted, shown
from custrisk.vocab import check_language, followup_reason, owner_label

app = typer.Typer()

LEVEL_STYLE = {"red": "bold red", "orange": "dark_orange", "yellow": "yellow"}


@app.command("followups", short_help="List a run's follow-up plan (回访计划) by owner")
def followups(
    run: Annotated[
        Path,
        typer.Argument(
            help="A scoring run: its scores file, run facts or folder.", show_default=False
        ),
    ],
    owner: Annotated[
        list[str] | None,
        typer.Option(
            "--owner", metavar="<role>", help="Only follow-ups of this owner role (repeatable)."
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="Rows shown per owner in the table (0: all).")
    ] = 20,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help="Language of the owner labels and reasons in the table: zh or en "
            "[default: the run's language].",
            show_default=False,
        ),
    ] = None,
    out_text: Annotated[
        str | None,  # (as typed: a Path drops the ending / that says "a folder")
        typer.Option(
            "--out",
            "-o",
            help="Write the (filtered) plan to this CSV (UTF-8 with a BOM) or .xlsx file "
            "instead of printing it.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """List the customers due for a follow-up, by owner, earliest due date first.

    custrisk score writes the plan (followups.csv) with every run: customers whose
    grade's review frequency has passed since the last follow-up (or who never had
    one) and customers with open alerts, with the owner, the preferred channel from the
    behaviour data and the due date. A run written before follow-up plans gets one
    computed from its tables (without channels).
    """
    if lang is not None:
        check_language(lang)
    out = output_file(out_text, "followups.csv")
    # (the role decides how customer data is read)
    protect_command(encrypt=out is not None and sealed_like(run, False, "the plan is"))
    from custrisk.review.followups import filter_followups, plan_by_owner, plan_of_run

    plan = filter_followups(plan_of_run(run), owner or ())
    if out is not None:
        from custrisk.review.followups import write_followups

        written = write_followups(plan, out)
        console.print(f"Wrote {counted(len(plan), 'follow-up')} to {written}")
        return
    if lang is None:  # the language the run was scored in
        from custrisk.results import read_language

        lang = read_language(run)
    console.print(f"{counted(len(plan), 'customer')} due for a follow-up ({run})")
    # owners in the plan's order: whoever has the earliest due (most severe) follow-up first
    for name, part in plan_by_owner(plan):
        label = owner_label(name, lang)
        if label == name:
            title = name
        else:  # the role, as --owner takes it, and its label
            title = f"{name} {label}" if lang == "zh" else f"{label} ({name})"
        table = Table(
            title=f"{title}: {len(part):,}", title_justify="left", box=box.SIMPLE, pad_edge=False
        )
        for column in ("customer", "name", "grade", "due", "reason", "alerts", "channel"):
            table.add_column(column, overflow="fold")
        rows = part if limit <= 0 else part.head(limit)
        for row in rows.to_dict("records"):
            level = shown(row["alert_level"])
            table.add_row(
                shown(row["customer_id"]),
                shown(row["name_masked"]),
                shown(row["grade"]),
                shown(row["due_date"]),
                followup_reason(shown(row["reason"]), lang),
                Text(shown(row["open_alerts"]), style=LEVEL_STYLE.get(level, "")),
                shown(row["preferred_channel"]),
            )
        console.print(table)
        if limit > 0 and len(part) > limit:
            console.print(f"  ... and {len(part) - limit:,} more (--limit 0 or --out for all)")
