"""``custrisk report``: per-customer and portfolio PDF risk reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from custrisk.cli._common import (
    CsvEncodingOpt,
    EncryptOpt,
    KeyfileOpt,
    PseudonymiseOpt,
    option_typed,
    parse_date,
    protect_command,
    sealed_like,
)
from custrisk.cli._console import console, counted, err_console, say
from custrisk.errors import CheckFailed, UsageError
from custrisk.io.stop import Stopped
from custrisk.vocab import check_language

app = typer.Typer()

SHOW_FAILURES = 5


@app.command("report", short_help="PDF risk reports per customer and for the portfolio")
def report(
    ctx: typer.Context,
    scores: Annotated[
        Path,
        typer.Argument(
            help="Scores file of `custrisk score` (its .details.parquet and .run.json are "
            "read from beside it, and alerts.csv from the same folder).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Output folder for the PDFs and manifest.csv.", show_default=False
        ),
    ],
    customers: Annotated[
        str | None,
        typer.Option(
            "--customers",
            "--customer",
            help="Only these customer ids: ID1,ID2,... or @FILE with one id per line.",
        ),
    ] = None,
    grade: Annotated[
        str | None, typer.Option("--grade", help="Only customers of these grades, e.g. D,E.")
    ] = None,
    alert_level: Annotated[
        str | None,
        typer.Option(
            "--alert-level",
            help="Only customers at these alert levels, e.g. red or 红色,橙色.",
        ),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help="Report language: zh or en [default: the run's language].",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            min=0,
            help="Worker processes (0: render in this process; default: reports.yaml, "
            "where 0 means one per CPU for 16 documents or more).",
            show_default=False,
        ),
    ] = None,
    portfolio: Annotated[
        bool,
        typer.Option("--portfolio/--no-portfolio", help="Also render portfolio.pdf."),
    ] = True,
    portfolio_only: Annotated[
        bool,
        typer.Option(
            "--portfolio-only",
            help="Render portfolio.pdf only, no customer reports (a large run: a report "
            "per customer takes hours).",
        ),
    ] = False,
    templates: Annotated[
        Path | None,
        typer.Option(
            "--templates",
            help="Template folder (customer.html, portfolio.html, report.css); default: "
            "the packaged templates.",
            show_default=False,
        ),
    ] = None,
    history: Annotated[
        list[Path] | None,
        typer.Option(
            "--history",
            metavar="<path>",
            help="A previous scores file, for score history and grade migration "
            "(repeat the option for several).",
            show_default=False,
        ),
    ] = None,
    drift: Annotated[
        Path | None,
        typer.Option("--drift", help="Drift JSON to summarise in the portfolio report."),
    ] = None,
    alerts: Annotated[
        Path | None,
        typer.Option(
            "--alerts", help="Alerts file (default: alerts.csv beside the scores, if any)."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Reports YAML (default: the packaged reports.yaml)."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Render again even the reports that are up to date."),
    ] = False,
    report_date: Annotated[
        str | None,
        typer.Option(
            "--report-date",
            help="Date printed on the reports, YYYY-MM-DD (default: today).",
            show_default=False,
        ),
    ] = None,
    csv_encoding: CsvEncodingOpt = None,
    encrypt: EncryptOpt = False,
    keyfile: KeyfileOpt = None,
    pseudonymise: PseudonymiseOpt = False,
) -> None:
    """Render PDF risk reports: one per customer and a portfolio report.

    Reports already in OUT with the same inputs (recorded in manifest.csv) are skipped
    unless --force. A customer whose report fails is recorded in the manifest and the
    batch goes on; the exit code is then 1.
    """
    encrypt = sealed_like(scores, encrypt, "the reports are")
    protect_command(encrypt=encrypt, keyfile=keyfile, pseudonymise=pseudonymise, outputs=out)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from custrisk.batch.layout import RUN_FILE, refresh_outputs
    from custrisk.data.id_list import listed_values
    from custrisk.io.safe_csv import csv_encoding as parse_csv_encoding
    from custrisk.report.batch import (
        FAILED,
        SKIPPED,
        ReportResult,
        render_reports,
    )

    parse_csv_encoding(csv_encoding)
    if lang is not None:
        check_language(lang)
    if portfolio_only and not portfolio:
        raise UsageError(
            "--portfolio-only and --no-portfolio leave nothing to render", hint="give one"
        )
    filters = [
        (option, value)
        for option, value in (
            ("--customers", customers),
            ("--grade", grade),
            ("--alert-level", alert_level),
        )
        if value
    ]
    if portfolio_only and filters:
        chosen = ", ".join(option for option, _ in filters)
        raise UsageError(
            f"--portfolio-only renders no customer report: {chosen} selects none",
            hint="leave out --portfolio-only to render the selected customers' reports",
        )
    when = parse_date(report_date, "--report-date")
    typed = option_typed(ctx, "--customers", "--customer")
    root = ctx.find_root().obj
    quiet = bool(root.get("quiet")) if isinstance(root, dict) else False
    progress = Progress(
        TextColumn("[bold]Rendering reports"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=quiet,
        transient=False,
    )
    failed = done = total = 0
    task_id = progress.add_task("reports", total=0, failed="")

    def started(count: int) -> None:
        # The bar appears once the inputs are read and checked, not before an error.
        nonlocal total
        total = count
        progress.update(task_id, total=count)
        progress.start()

    def advanced(result: ReportResult) -> None:
        nonlocal failed, done
        done += 1
        if result.status == FAILED:
            failed += 1
            progress.update(task_id, failed=f"[red]{failed} failed[/]")
        progress.advance(task_id)

    try:
        result = render_reports(
            scores,
            out,
            customers=listed_values(customers, typed),
            customers_option=typed,
            grades=listed_values(grade, "--grade"),
            alert_levels=listed_values(alert_level, "--alert-level"),
            lang=lang,
            workers=workers,
            portfolio=portfolio,
            customer_reports=not portfolio_only,
            templates=templates,
            config=config,
            history=history or (),
            drift=drift,
            alerts=alerts,
            force=force,
            report_date=when,
            csv_encoding=csv_encoding,
            on_start=started,
            on_result=advanced,
        )
    except Stopped as stop:
        if progress.live.is_started:
            progress.stop()
        # The workers are ended and the manifest holds every report written, so the
        # same command resumes where this one stopped (the CLI prints the one line).
        so_far = (
            f"{done:,} of {counted(total, 'report')} done" if total else "no report rendered yet"
        )
        stop.leave(
            f"{so_far}; run the same command again to resume "
            "(the reports written are skipped as up to date)"
        )
        raise
    finally:
        if progress.live.is_started:
            progress.stop()
    if not result.customers and filters:
        matched = " and ".join(f"{option} {value}" for option, value in filters)
        say(
            "Warning:",
            f"no customer of {scores} matches {matched}; "
            + ("no customer report rendered" if result.results else "nothing rendered"),
        )
    rate = result.rendered / result.seconds if result.seconds else 0.0
    console.print(
        f"Rendered {counted(result.rendered, 'report')}, "
        f"skipped {result.count(SKIPPED):,} up to date, {result.count(FAILED):,} failed, "
        f"in {result.seconds:.1f} s ({rate:.1f}/s); "
        f"manifest: {result.manifest}"
    )
    # reports rendered again into a month's folder of custrisk run (after custrisk forget):
    # its run.json lists their new hashes, as the run's own reports (the folder is walked
    # only then: not for reports rendered anywhere else)
    run_folder = Path(out).absolute().parent
    written = (p for p in Path(out).rglob("*") if p.is_file() and not p.name.startswith("."))
    if refresh_outputs(run_folder, added=written):
        console.print(f"Listed the new reports in the monthly run's {run_folder / RUN_FILE}")
    if result.failed:
        for item in result.failed[:SHOW_FAILURES]:
            who = item.customer_id or item.kind
            say("failed", f"{who}: {item.error}", style="red")
        more = len(result.failed) - SHOW_FAILURES
        if more > 0:
            err_console.print(f"... and {more} more (see the manifest)")
        raise CheckFailed(
            f"{len(result.failed):,} of {counted(len(result.results), 'report')} failed",
            hint=f"the errors are in {result.manifest}",
        )
