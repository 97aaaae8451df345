"""``custrisk decisions list|show``: the decisions custrisk serve stored."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from rich.table import Table

from custrisk.cli._console import console
from custrisk.cli.serve import DbOpt
from custrisk.errors import UsageError

app = typer.Typer()
decisions_app = typer.Typer(help="Read the decisions custrisk serve stored.", no_args_is_help=True)
app.add_typer(
    decisions_app, name="decisions", short_help="Read the decisions custrisk serve stored"
)


@decisions_app.command("list", short_help="The latest decisions the service stored")
def list_(
    db: DbOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="Most recent decisions to show.")] = 20,
    decision: Annotated[
        str | None,
        typer.Option("--decision", help="Only approve, review or decline.", show_default=False),
    ] = None,
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer",
            help="Only this customer's decisions (an access request; ids match as the "
            "service stores them: ap77 finds AP77).",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only decisions from this UTC date or time on (2026-12-07 or "
            "2026-12-07T19:45, e.g. the time of a reload).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """List the latest decisions: id, time, caller, customer, score, grade, decision."""
    from custrisk.serve.store import DecisionStore, check_decision_filters

    decision = None if decision is None else decision.strip().lower()  # (Decline too)
    check_decision_filters(limit=limit, decision=decision)  # before the store is opened
    rows = DecisionStore(db, create=False).list_decisions(
        limit=limit,
        decision=decision,
        customer=customer,
        since=None if since is None else _since(since),
    )
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False, sort_keys=True))
        return
    models = sorted({r["model_id"] for r in rows})
    table = Table(
        title=f"{len(rows)} latest decisions ({', '.join(models) or 'none'})", title_justify="left"
    )
    columns = ("id", "time (UTC)", "caller", "channel", "customer", "score", "grade", "decision")
    # decisions of several models (a reload in between): each row says which model gave it
    several = len(models) > 1
    for column in (*columns, "model") if several else columns:
        # a narrow terminal (80 columns) folds the long text columns rather than cut the
        # id (needed by decisions show), score, grade and decision to '…' or nothing
        table.add_column(
            column,
            justify="right" if column == "score" else "left",
            no_wrap=column in ("id", "score", "grade", "decision"),
            overflow="fold",
        )
    for r in rows:
        table.add_row(
            r["decision_id"][:8],
            r["created_at"][5:19].replace("T", " "),
            r["caller"],
            r["channel"],
            r["customer_id"] or "",
            str(r["score"]),
            r["grade"] or "",
            r["decision"] or "",
            *((r["model_id"],) if several else ()),
        )
    console.print(table)
    console.print("custrisk decisions show ID (the first 8 characters are enough) for one")


@decisions_app.command("show", short_help="One decision as JSON (inputs masked)")
def show(
    decision_id: Annotated[str, typer.Argument(help="The decision id.", show_default=False)],
    db: DbOpt = None,
) -> None:
    """Show one decision as JSON: masked inputs, fingerprint, outputs, model, caller."""
    from custrisk.serve.store import DecisionStore

    row = DecisionStore(db, create=False).find_decision(decision_id)
    typer.echo(json.dumps(row, ensure_ascii=False, indent=2, sort_keys=True))


def _since(text: str) -> str:
    """``--since`` as the store's times are written (UTC, ISO 8601, milliseconds), so that
    the text comparison of the query is a comparison of times."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--since must be a date or a date and time in UTC; got {text!r}",
            hint="e.g. --since 2026-12-07 or --since 2026-12-07T19:45",
        ) from None
    if moment.tzinfo is None:  # the times listed are UTC
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")
