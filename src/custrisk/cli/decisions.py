"""``custrisk decisions list|show``: the decisions custrisk serve stored."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

import typer
from rich.cells import cell_len
from rich.table import Table

from custrisk.cli._common import output_file
from custrisk.cli._console import console, counted
from custrisk.cli.serve import DbOpt
from custrisk.errors import UsageError

app = typer.Typer()
decisions_app = typer.Typer(help="Read the decisions custrisk serve stored.", no_args_is_help=True)
app.add_typer(
    decisions_app, name="decisions", short_help="Read the decisions custrisk serve stored"
)


#: Rows of one printed table: a long listing is printed a page at a time, never held whole.
PAGE = 500
COLUMNS = ("id", "time (UTC)", "caller", "channel", "customer", "score", "grade", "decision")


@decisions_app.command("list", short_help="The latest decisions the service stored")
def list_(
    db: DbOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", help="Most recent decisions to show (0: all).")
    ] = 20,
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
    out_text: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            help="Write them to this file instead: .csv (the listed columns, for a "
            "spreadsheet) or .jsonl (each decision whole, as --json).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """List the latest decisions: id, time, caller, customer, score, grade, decision."""
    from custrisk.serve.store import DecisionStore, check_decision_filters

    decision = None if decision is None else decision.strip().lower()  # (Decline too)
    check_decision_filters(limit=limit, decision=decision)  # before the store is opened
    out = output_file(out_text, "decisions.csv")
    if out is not None:
        from custrisk.serve.export import export_format

        export_format(out)  # before the store is opened
    filters: dict[str, Any] = {
        "decision": decision,
        "customer": customer,
        "since": None if since is None else _since(since),
    }
    store = DecisionStore(db, create=False)
    if out is not None:
        from custrisk.serve.export import write_decisions

        written, count = write_decisions(store, out, limit=limit, **filters)
        console.print(f"Wrote {counted(count, 'decision')} to {written}")
        return
    if as_json:  # streamed: each decision masked as it is printed
        for page in _pages(store.iter_decisions(limit=limit, **filters), PAGE):
            typer.echo(
                "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in page),
                nl=False,
            )
        return
    total = store.count_decisions(**filters)
    shown_count = total if limit == 0 else min(limit, total)
    models = store.decision_models(limit=limit, **filters)
    # decisions of several models (a reload in between): each row says which model gave it
    several = len(models) > 1
    title = f"{shown_count:,} latest decisions ({', '.join(models) or 'none'})"
    widths = dict.fromkeys((*COLUMNS, "model"), 0)  # (a later page never narrower)
    rows = store.iter_decisions(limit=limit, full=False, **filters)  # not read: no masking
    pages = _pages(rows, PAGE)
    for number, page in enumerate(itertools.chain(pages, [[]] if shown_count == 0 else [])):
        table = _table(title if number == 0 else None, several, widths)
        for r in page:
            cells = (
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
            table.add_row(*cells)
            for column, cell in zip(table.columns, cells, strict=True):
                name = str(column.header)
                widths[name] = max(widths[name], len(name), cell_len(cell))
        console.print(table)
    if shown_count < total:
        console.print(
            f"... and {total - shown_count:,} more (--limit 0 for all, --out FILE.csv to "
            "export them)"
        )
    console.print("custrisk decisions show ID (the first 8 characters are enough) for one")


def _pages(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """``rows`` in lists of ``size`` (Python 3.12's ``itertools.batched``)."""
    iterator = iter(rows)
    while page := list(itertools.islice(iterator, size)):
        yield page


def _table(title: str | None, several: bool, widths: dict[str, int]) -> Table:
    """One page of the listing: its columns at least as wide as on the pages before."""
    table = Table(title=title, title_justify="left")
    for column in (*COLUMNS, "model") if several else COLUMNS:
        # a narrow terminal (80 columns) folds the long text columns rather than cut the
        # id (needed by decisions show), score, grade and decision to '…' or nothing
        table.add_column(
            column,
            justify="right" if column == "score" else "left",
            no_wrap=column in ("id", "score", "grade", "decision"),
            overflow="fold",
            min_width=widths[column] or None,
        )
    return table


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
