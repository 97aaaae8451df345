"""``custrisk run``: the month's batch for cron, from one RUN.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from custrisk.cli._common import (
    BucketsOpt,
    MemoryLimitOpt,
    PartsOpt,
    SchedulerOpt,
    printed_from_facts,
    protect_command,
)
from custrisk.cli._console import err_console, say
from custrisk.errors import CheckFailed, UsageError

app = typer.Typer()


@app.command("run", short_help="The month's batch for cron: one YAML, locked, resumable")
def run(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Argument(
            help="The run config (RUN.yaml); with --init, the file to write [default: run.yaml].",
            metavar="RUN.yaml",
            show_default=False,
        ),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help="The month to run, YYYY-MM [default: the latest month whose exports exist].",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Run again although the finished run is up to date (or, with --init, "
            "replace the file).",
        ),
    ] = False,
    init: Annotated[
        bool,
        typer.Option("--init", help="Write a commented RUN.yaml for the sample data and stop."),
    ] = False,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help="With --init: the lang: of the RUN.yaml written (labels, reports and "
            "notifications), zh or en [default: zh].",
            show_default=False,
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="pandas or dask: where validate, score and drift compute (the same run "
            "folder; see docs/scale.md) [default: engine: in RUN.yaml, else pandas].",
            show_default=False,
        ),
    ] = None,
    scheduler: SchedulerOpt = None,
    buckets: BucketsOpt = None,
    memory_limit: MemoryLimitOpt = None,
    parts: PartsOpt = None,
) -> None:
    """Run a month's batch as configured in RUN.yaml: validate, score (grades, limits,
    alerts, migration against the previous run in runs/), drift and evaluation, PDF
    reports, notifications.

    The run is built in a staging folder and moved into runs/<period>/ only when every
    stage has run; run.json records versions, config and input hashes, each stage's
    status, timings and row counts, and the hash of every output. A second run of the
    period is refused while one holds the lock; a rerun with unchanged inputs and
    configs does nothing; a killed run resumes at its first unfinished stage.

    With --engine dask (or engine: dask in RUN.yaml) validate, score and drift compute
    on one Dask cluster for the whole run (evaluate, reports and notify run in this
    process, as with pandas); the run folder is the same as with pandas.

    Prints one summary line on stdout; the log is runs/<period>/log.jsonl. Exit 0 ok or
    nothing to do, 1 a gate failed (alerts at fail_on, drift, failed reports), 2 bad
    config or input (a cut export, data not of the period, customers fallen by more
    than checks.max_customer_drop, an export's rows by more than checks.max_rows_drop:
    nothing published) or a run already in progress, 3
    internal error, 130/143 stopped by Ctrl-C/SIGTERM (one line names the stage; the
    stages done are kept and the same command resumes).
    """
    protect_command()  # the role decides how customer data is read
    from custrisk.batch import load_run_config, run_batch, with_engine, write_init_config

    if init:
        if period is not None:
            raise UsageError("--period does not go with --init")
        written = write_init_config(config, force=force, lang=lang or "zh")
        typer.echo(f"Wrote {written}; see its first lines for the commands to run before it")
        return
    if lang is not None:
        raise UsageError(
            "--lang goes with --init only", hint="a run's language is lang: in its RUN.yaml"
        )
    if config is None:
        raise UsageError(
            "give the run config: custrisk run RUN.yaml",
            hint="write one with custrisk run --init RUN.yaml",
        )
    root = ctx.find_root().obj
    quiet = bool(root.get("quiet")) if isinstance(root, dict) else False
    show = err_console.is_terminal and not quiet
    settings = with_engine(
        load_run_config(config),
        engine,
        scheduler=scheduler,
        buckets=buckets,
        memory_limit=memory_limit,
        parts=parts,
    )
    # (rules skipped for data that lacks their fields: in the scoring run's facts, not
    # warned about in every month's cron mail)
    with printed_from_facts():
        outcome = run_batch(
            settings,
            period,
            force=force,
            on_event=_progress if show else None,
        )
    typer.echo(outcome.summary())
    if outcome.exit_code:
        raise CheckFailed(
            "; ".join(outcome.gate_failures), hint=f"see {outcome.folder / 'run.json'}"
        )


def _progress(event: dict[str, Any]) -> None:
    """Stage lines on a terminal (cron gets only the summary and the log)."""
    kind = event["event"]
    if kind == "stage_done":
        detail = f" {event['detail']}" if event.get("detail") else ""
        err_console.print(
            Text.assemble(
                f"  {event['stage']:<9} {event['status']}{detail} ({event['seconds']:.1f} s)",
                (f"  {event['gate']}" if event.get("gate") else "", "red"),
            )
        )
    elif kind == "stage" and event.get("status") == "done earlier":
        err_console.print(f"  {event['stage']:<9} done earlier")
    elif kind == "note":
        say("Note:", event["message"])
