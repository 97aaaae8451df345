"""``custrisk score``: PD, score, reasons, grade, limits and alerts for every customer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from custrisk.cli._common import (
    AllowUnverifiedOpt,
    AsOfOpt,
    BucketsOpt,
    CsvEncodingOpt,
    DataDir,
    EncodingOpt,
    EncryptOpt,
    EngineOpt,
    KeyfileOpt,
    MemoryLimitOpt,
    ModelOpt,
    ModelsDirOpt,
    PartsOpt,
    PeriodOpt,
    PseudonymiseOpt,
    RejectsUnmaskedOpt,
    RequireSignedOpt,
    SchedulerOpt,
    SourcesOpt,
    StrictOpt,
    bind_period,
    check_unmasked_target,
    choose_configs,
    output_file,
    parse_date,
    printed_from_facts,
    protect_command,
    say_rejects,
    say_source_warnings,
    unwritten_on_stop,
    write_unmasked_rejects,
)
from custrisk.cli._console import amount_text, console, counted, say
from custrisk.engine.cluster import check_engine_options
from custrisk.results import PARTS
from custrisk.vocab import LEVELS, level_shown

if TYPE_CHECKING:
    from custrisk.results import RunFiles, ScoringRun
    from custrisk.scoring.summary import ScoresSummary

app = typer.Typer()

LEVEL_STYLE = {"red": "bold red", "orange": "dark_orange", "yellow": "yellow"}


@app.command("score", short_help="Score customers: PD, score, grade, limit, alerts")
def score(
    data_dir: DataDir,
    model: ModelOpt,
    out_text: Annotated[
        str,  # (as typed: a Path drops the ending / that says "a folder")
        typer.Option(
            "--out",
            "-o",
            help="Scores file: .csv or .parquet (written atomically); alerts.csv is written "
            "in the same folder. .xlsx: the run is written as .csv and a workbook for people "
            "(scores, alerts, summary) beside it.",
            show_default=False,
        ),
    ],
    models_dir: ModelsDirOpt = None,
    require_signed: RequireSignedOpt = False,
    allow_unverified: AllowUnverifiedOpt = False,
    sources: SourcesOpt = None,
    encoding: EncodingOpt = None,
    as_of: AsOfOpt = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help="Language of the reason and grade labels: zh or en [default: the "
            "--previous run's language, else zh].",
            show_default=False,
        ),
    ] = None,
    policy_file: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="Credit policy YAML (default: the packaged policy.yaml).",
            show_default=False,
        ),
    ] = None,
    alerts_file: Annotated[
        Path | None,
        typer.Option(
            "--alerts",
            help="Early-warning rules YAML (default: the packaged alerts.yaml).",
            show_default=False,
        ),
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            "--previous",
            help="Scores file of an earlier run: adds score, grade and limit changes, the "
            "grade migration matrix, and lets rules use prev_* and grade_change.",
            show_default=False,
        ),
    ] = None,
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            help="Exit with code 1 (after writing everything) when an alert at this level "
            "or above fires: red, orange, yellow or never.",
        ),
    ] = "never",
    period: PeriodOpt = None,
    csv_encoding: CsvEncodingOpt = None,
    rejects_unmasked: RejectsUnmaskedOpt = None,
    strict: StrictOpt = False,
    encrypt: EncryptOpt = False,
    keyfile: KeyfileOpt = None,
    pseudonymise: PseudonymiseOpt = False,
    engine: EngineOpt = "pandas",
    scheduler: SchedulerOpt = None,
    buckets: BucketsOpt = None,
    memory_limit: MemoryLimitOpt = None,
    parts: PartsOpt = None,
) -> None:
    """Score every customer in DATA_DIR: PD, score, grade, recommended limit, alerts and
    the top reason codes.

    The model folder is verified (every file's SHA-256 against the card, and the card's
    HMAC when CUSTRISK_SIGNING_KEY is set) before the model is loaded. The same data,
    model and configs give byte-identical scores and alerts files. Rows rejected while
    cleaning go to OUT's stem + .rejects.csv with names, phones and id numbers masked.
    """
    bind_period(period)
    out = output_file(out_text, "scores.csv")
    protect_command(
        encrypt=encrypt,
        keyfile=keyfile,
        pseudonymise=pseudonymise,
        outputs=out.parent,
        clear_pii=rejects_unmasked,
    )
    from custrisk.engine.choice import score_portfolio_on
    from custrisk.errors import CheckFailed, UsageError
    from custrisk.io.atomic import output_path
    from custrisk.io.safe_csv import csv_encoding as parse_csv_encoding
    from custrisk.policy import FAIL_ON, failing_alerts
    from custrisk.protect.erasure import erasures_for_output, left_out_line
    from custrisk.results import refuse_another_run, run_files
    from custrisk.scoring.summary import summarise_scores

    files = run_files(out)
    refuse_another_run(files)  # (again when the run is written, under the folder's lock)
    parse_csv_encoding(csv_encoding)
    check_unmasked_target(rejects_unmasked, *(files.part(p) for p in PARTS), files.facts)
    if fail_on not in FAIL_ON:
        raise UsageError(f"--fail-on must be one of {', '.join(FAIL_ON)}; got {fail_on!r}")
    check_engine_options(engine, scheduler, buckets, memory_limit, parts)
    chosen = choose_configs(data_dir, sources, alerts=alerts_file, policy=policy_file)
    if lang is None:  # a month speaks as the month before it
        lang = _previous_language(previous)
    erasures = erasures_for_output(out, engine)
    # the skipped rules are printed below, from the facts
    with printed_from_facts(), unwritten_on_stop(_scores_named(files, engine, parts)):
        run = score_portfolio_on(
            data_dir,
            model,
            engine=engine,
            scheduler=scheduler,
            buckets=buckets,
            memory_limit=memory_limit,
            out=out,
            parts=parts,
            policy=chosen.policy,
            alert_rules=chosen.alerts,
            previous=previous,
            sources=chosen.sources,
            encoding=encoding,
            as_of=parse_date(as_of),
            lang=lang,
            models_dir=models_dir,
            require_signed=require_signed or None,
            allow_unverified=allow_unverified,
            strict=strict,
        )
    files = run.write(out, csv_encoding=csv_encoding)  # (scores: a folder when in parts)
    workspace = run.extras["workspace"]
    say_source_warnings(workspace.report)
    if run.rejects is not None:
        say_rejects(workspace, output_path(files.rejects))
    write_unmasked_rejects(workspace, rejects_unmasked, csv_encoding=csv_encoding)

    facts, summary = run.facts, summarise_scores(run.scores)
    console.print(
        f"Scored {summary.customers:,} customers with {facts['model_id']} (as of "
        f"{facts['as_of']}): mean PD {summary.mean_pd:.2%}, score min {summary.score_min} / "
        f"median {summary.score_median} / max {summary.score_max}"
    )
    if facts.get("customer_id"):
        console.print(f"Customer ids: {facts['customer_id']}", highlight=False)
    _say_unseen(facts, run.extras.get("model"))
    left_out = left_out_line(erasures)
    if left_out:
        say("Note:", left_out)
    skipped_limits = facts["policy"].get("skipped_limit_rules") or {}
    if skipped_limits:
        from custrisk.policy.config import skipped_limits_text
        from custrisk.scoring.table import table_fields_hint

        say(
            "Note:",
            f"{skipped_limits_text(skipped_limits)}; those grades keep "
            "the current limit (--strict to refuse)"
            + table_fields_hint(data_dir, run.extras["policy"].lacking, lang),
        )
    _print_grades(run, summary, lang)
    _print_alerts(facts, lang)
    if run.extras.get("migration") is not None:
        _print_migration(run)
    _print_written(run, files.folder, output_path(files.facts))
    alerts_path = output_path(files.alerts)
    failing = failing_alerts(run.alerts, fail_on)
    if failing:
        shown = ", ".join(f"{level} {count}" for level, count in failing.items())
        raise CheckFailed(
            f"{sum(failing.values()):,} alerts at level {fail_on} or above ({shown}); "
            f"see {alerts_path}",
            hint="handle them, or choose another --fail-on level",
        )


def _say_unseen(facts: dict[str, Any], model: Any) -> None:
    """A note per categorical feature with values the model never saw (a new region),
    from the run's facts, with the table's header for a flat table's feature."""
    from custrisk.scoring.table import is_table_model, table_feature_headers
    from custrisk.scoring.unseen import unseen_lines

    unseen = facts.get("unseen_categories") or {}
    if not unseen:
        return
    names = table_feature_headers(model) if model is not None and is_table_model(model) else {}
    for line in unseen_lines(unseen, names):
        say("Note:", line)


def _scores_named(files: RunFiles, engine: str, parts: bool | None) -> str:
    """The scores as a stop before they are written names them: the folder of parts
    (``scores.parquet/``) when the run is written in parts, or may be (the Dask engine
    chooses parts from a million customers unless --parts or --no-parts says)."""
    if engine != "dask" or parts is False or files.workbook is not None:
        return str(files.scores)  # (with a workbook only the details are parts)
    folder = f"{files.parts_folder('scores')}/"
    return folder if parts else f"{files.scores} (or, in parts, {folder})"


#: What each file of a run holds, in the order ``custrisk score`` lists them; a count's
#: noun (one, many) first when the file holds rows worth counting.
WRITTEN: dict[str, tuple[tuple[str, str] | None, str]] = {
    "workbook": (None, "the run for people: scores, alerts, summary"),
    "scores": (None, "PD, score, grade, limit and reasons of {n}"),
    "alerts": (("alert", "alerts"), "{n}"),
    "followups": (None, "the follow-up plan (who contacts which customer, by when)"),
    "closed": (("alert", "alerts"), "{n} closed since the previous run"),
    "rejects": (("input row", "input rows"), "{n} rejected while cleaning (personal data masked)"),
    "details": (None, "each customer's details for reports (personal data masked)"),
}


def _print_written(run: ScoringRun, folder: Path, facts_file: Path) -> None:
    """Every file of the run, one a line, and what it holds: the follow-up plan, the
    details and the facts are found here, not by listing the folder."""
    listed: dict[str, dict[str, Any]] = run.facts.get("files") or {}
    counts = {
        "scores": int(run.facts.get("customers") or 0),
        "alerts": len(run.alerts),
        "closed": 0 if run.closed is None else len(run.closed),
        "rejects": int(run.facts.get("rows_rejected") or 0),
    }
    rows = []
    for part, (noun, what) in WRITTEN.items():
        entry = listed.get(part)
        if not entry:
            continue
        one, many = noun or ("customer", "customers")
        what = what.format(n=counted(counts.get(part, 0), one, many))
        path = str(folder / str(entry["file"]))
        if "parts" in entry:  # a folder of Parquet parts
            path, what = f"{path}/", f"{len(entry['parts'])} Parquet parts: {what}"
        rows.append((path, what))
    rows.append((str(facts_file), "the run's facts: model, configs, counts, each file's SHA-256"))
    table = _reidentification_table()
    if table is not None:
        rows.append((str(table), "the customer ids behind the tokens (custrisk decrypt)"))
    width = max(len(path) for path, _ in rows)
    console.print("Wrote:", highlight=False)
    for path, what in rows:
        console.print(f"  {path:<{width}}  {what}", highlight=False)


def _reidentification_table() -> Path | None:
    """With --pseudonymise (or a role that pseudonymises), the encrypted token -> id
    table merged beside the run (written as the exports were read)."""
    from custrisk.protect.pseudonym import Pseudonymiser, active_pseudonymiser

    active = active_pseudonymiser()
    return active.saved() if isinstance(active, Pseudonymiser) else None


def _previous_language(previous: Path | None) -> str:
    """The language the ``--previous`` run was scored in; ``zh`` without one (or for a
    run of an earlier version). A previous run that cannot be read is said so by the
    scoring, in its own words."""
    from custrisk.errors import DataError
    from custrisk.results import DEFAULT_LANG, read_language

    if previous is None:
        return DEFAULT_LANG
    try:
        return read_language(previous)
    except DataError:
        return DEFAULT_LANG


def _print_grades(run: ScoringRun, scores: ScoresSummary, lang: str) -> None:
    policy = run.extras["policy"]
    summary = run.facts["policy"]
    no_current, limited = scores.no_current_limit, scores.limited_grades
    table = Table(
        title=f"Grades and limits (policy {policy.path})",
        title_justify="left",
        box=box.SIMPLE,
        pad_edge=False,
    )
    for column, justify in (
        ("grade", "left"),
        ("band", "left"),
        ("customers", "right"),
        ("current", "right"),
        ("recommended", "right"),
        ("change", "right"),
    ):
        # figures folded onto a second line in a narrow terminal, never cut short with …
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for grade in policy.grades:
        row = summary["distribution"][grade.code]
        blank = no_current or not row["customers"]  # nothing to sum: a dash, not 0k
        table.add_row(
            f"{grade.code} {grade.label(lang)}",
            grade.band,
            f"{row['customers']:,} ({row['share']:.0%})",
            "—" if blank else amount_text(row["current_limit"], lang),
            amount_text(row["recommended_limit"], lang) if grade.code in limited else "—",
            "—"
            if blank
            else amount_text(row["recommended_limit"] - row["current_limit"], lang, sign=True),
        )
    limits = summary["limits"]
    table.add_section()
    table.add_row(
        "total",
        "",
        f"{scores.customers:,}",
        "—" if no_current else amount_text(limits["current_total"], lang),
        amount_text(limits["recommended_total"], lang) if limited else "—",
        "—" if no_current else amount_text(limits["change_total"], lang, sign=True),
    )
    console.print(table)
    if no_current:
        console.print(
            "Limits: no customer has a current limit (no credit_limit in this data); "
            "recommended limits only where a grade's rule sets one"
        )
        return
    share = summary["review_increase_share"]
    console.print(
        f"Limits: {limits['increases']:,} up, {limits['decreases']:,} down, "
        f"{limits['unchanged']:,} unchanged; {limits['review_flags']:,} flagged for manual "
        f"review (increase above +{share:.0%})"
    )
    if limits["rule_not_computed"]:
        n = limits["rule_not_computed"]
        who = "1 customer kept its" if n == 1 else f"{n:,} customers kept their"
        rules = "its limit rule" if n == 1 else "their limit rule"
        console.print(
            f"{who} current limit because {rules} had a missing input (flagged for review)",
            style="yellow",
        )


def _print_alerts(facts: dict[str, Any], lang: str) -> None:
    info: dict[str, Any] = facts["alerts"]
    table = Table(title="Alerts by level", title_justify="left", box=box.SIMPLE, pad_edge=False)
    table.add_column("level")
    table.add_column("alerts", justify="right")
    table.add_column("customers (at their highest level)", justify="right")
    for level in LEVELS:
        table.add_row(
            Text(level_shown(level, lang), style=LEVEL_STYLE[level]),
            f"{info['by_level'][level]:,}",
            f"{info['customers_by_highest_level'][level]:,}",
        )
    console.print(table)
    fired = [f"{code} {n:,}" for code, n in info["by_code"].items() if n]
    if fired:
        console.print("By rule: " + ", ".join(fired))
    life = info.get("lifecycle") or {}
    if life.get("previous"):
        console.print(
            f"Against the previous run: {life['new']:,} new, {life['ongoing']:,} ongoing, "
            f"{life.get('closed', 0):,} closed (alerts.closed.csv)"
        )
    skipped: dict[str, str] = dict(info["skipped_rules"])
    lacking = {c: r for c, r in skipped.items() if "does not have" in r}
    if len(lacking) > 3:  # a table or a partial export: one line, the reasons in the facts
        console.print(
            f"{len(lacking)} alert rules not evaluated, the data lacks what they read: "
            f"{', '.join(lacking)} (each one's reason: alerts.skipped_rules in the run facts)",
            style="dim",
        )
        skipped = {c: r for c, r in skipped.items() if c not in lacking}
    for code, reason in skipped.items():
        console.print(f"Rule {code} not evaluated: {reason}", style="dim")


def _print_migration(run: ScoringRun) -> None:
    migration = run.extras["migration"]
    info = run.facts["migration"]
    table = Table(
        title=f"Grade migration: customers (row share) from the run as of "
        f"{info['previous_as_of'] or '?'}",
        title_justify="left",
        box=box.SIMPLE,
        pad_edge=False,
    )
    table.add_column("prev\\curr", no_wrap=True)
    for column in migration.counts.columns:
        table.add_column(str(column), justify="right", overflow="fold")
    for row, cells in migration.table_rows():
        table.add_row(row, *(f"{count:,} {rate:.0%}" if count else "-" for count, rate in cells))
    console.print(table)
    console.print(
        f"Upgraded {info['upgraded']:,}, downgraded {info['downgraded']:,}, stayed "
        f"{info['stayed']:,}, new {info['new']:,}, departed {info['departed']:,}"
    )
