"""``custrisk score``: PD, score, reasons, grade, limits and alerts for every customer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table

from custrisk.cli._common import (
    AllowUnverifiedOpt,
    AsOfOpt,
    CsvEncodingOpt,
    DataDir,
    EncodingOpt,
    ModelOpt,
    ModelsDirOpt,
    RejectsUnmaskedOpt,
    RequireSignedOpt,
    SourcesOpt,
    check_unmasked_target,
    parse_date,
    rejects_beside,
    write_rejects_beside,
)
from custrisk.cli._console import console

if TYPE_CHECKING:
    from custrisk.policy import Policy, PolicyResult

app = typer.Typer()

LEVEL_STYLE = {"red": "bold red", "orange": "dark_orange", "yellow": "yellow"}


@app.command("score")
def score(
    data_dir: DataDir,
    model: ModelOpt,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Scores file: .csv or .parquet (written atomically); alerts.csv is written "
            "in the same folder.",
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
        str, typer.Option("--lang", help="Language of the reason and grade labels: zh or en.")
    ] = "zh",
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
    csv_encoding: CsvEncodingOpt = None,
    rejects_unmasked: RejectsUnmaskedOpt = None,
) -> None:
    """Score every customer in DATA_DIR: PD, score, grade, recommended limit, alerts and
    the top reason codes.

    The model folder is verified (every file's SHA-256 against the card, and the card's
    HMAC when CUSTRISK_SIGNING_KEY is set) before the model is loaded. The same data,
    model and configs give byte-identical scores and alerts files. Rows rejected while
    cleaning go to OUT's stem + .rejects.csv with names, phones and id numbers masked.
    """
    from custrisk.config import load_sources_config
    from custrisk.errors import CheckFailed, UsageError
    from custrisk.indicators import output_format
    from custrisk.io.safe_csv import csv_encoding as parse_csv_encoding
    from custrisk.modeling import open_model, score_data, write_score_outputs
    from custrisk.modeling.pipeline import LANGUAGES, model_indicator_config
    from custrisk.policy import (
        FAIL_ON,
        alerts_at_or_above,
        alerts_path,
        apply_policy,
        load_alert_rules,
        load_policy,
        read_previous_scores,
        write_alerts,
    )

    output_format(out)
    parse_csv_encoding(csv_encoding)
    check_unmasked_target(rejects_unmasked, out, alerts_path(out), rejects_beside(out))
    if fail_on not in FAIL_ON:
        raise UsageError(f"--fail-on must be one of {', '.join(FAIL_ON)}; got {fail_on!r}")
    if lang not in LANGUAGES:
        raise UsageError(f"--lang must be one of {', '.join(LANGUAGES)}; got {lang!r}")
    loaded = open_model(
        model, models_dir, require_signed=require_signed or None, allow_unverified=allow_unverified
    )
    sources_config = load_sources_config(sources)
    indicators = model_indicator_config(loaded, sources_config)
    policy = load_policy(policy_file, indicators=indicators)
    rules = load_alert_rules(alerts_file, indicators=indicators, policy=policy)
    prev = read_previous_scores(previous) if previous is not None else None
    result = score_data(
        data_dir,
        loaded,
        sources_config=sources_config,
        encoding=encoding,
        as_of=parse_date(as_of),
        lang=lang,
    )
    applied = apply_policy(
        result.frame,
        result.details,
        policy,
        rules,
        previous=prev,
        lang=lang,
        unavailable=result.features.unavailable,
    )
    result.frame = applied.scores
    target = alerts_path(out)
    digest = write_alerts(applied.alerts, target, csv_encoding=csv_encoding)
    applied.summary["alerts"].update({"file": target.name, "sha256": digest})
    if previous is not None:
        applied.summary["migration"]["previous_file"] = str(previous)
    result.run.update(applied.summary)
    write_score_outputs(result, out, csv_encoding=csv_encoding)
    write_rejects_beside(
        result.features.workspace, out, csv_encoding=csv_encoding, unmasked=rejects_unmasked
    )

    frame = result.frame
    console.print(
        f"Scored {len(frame):,} customers with {result.model_id} (as of "
        f"{result.features.as_of.isoformat()}): mean PD {frame['pd'].mean():.2%}, score "
        f"min {frame['score'].min()} / median {int(frame['score'].median())} / max "
        f"{frame['score'].max()}"
    )
    _print_grades(applied, policy, lang)
    _print_alerts(applied)
    if applied.migration is not None:
        _print_migration(applied)
    console.print(f"Wrote {out} and {target} ({len(applied.alerts):,} alerts)")
    failing = alerts_at_or_above(applied.alerts, fail_on)
    if len(failing):
        counts = failing["level"].value_counts()
        shown = ", ".join(f"{level} {int(counts[level])}" for level in counts.index)
        raise CheckFailed(
            f"{len(failing):,} alerts at level {fail_on} or above ({shown}); see {target}",
            hint="handle them, or choose another --fail-on level",
        )


def _thousands(value: float, sign: bool = False) -> str:
    return f"{value / 1000:+,.0f}k" if sign else f"{value / 1000:,.0f}k"


def _print_grades(applied: PolicyResult, policy: Policy, lang: str) -> None:
    summary = applied.summary["policy"]
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
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for grade in policy.grades:
        row = summary["distribution"][grade.code]
        table.add_row(
            f"{grade.code} {grade.label(lang)}",
            grade.band,
            f"{row['customers']:,} ({row['share']:.0%})",
            _thousands(row["current_limit"]),
            _thousands(row["recommended_limit"]),
            _thousands(row["recommended_limit"] - row["current_limit"], sign=True),
        )
    limits = summary["limits"]
    table.add_section()
    table.add_row(
        "total",
        "",
        f"{len(applied.scores):,}",
        _thousands(limits["current_total"]),
        _thousands(limits["recommended_total"]),
        _thousands(limits["change_total"], sign=True),
    )
    console.print(table)
    share = applied.summary["policy"]["review_increase_share"]
    console.print(
        f"Limits: {limits['increases']:,} up, {limits['decreases']:,} down, "
        f"{limits['unchanged']:,} unchanged; {limits['review_flags']:,} flagged for manual "
        f"review (increase above +{share:.0%})"
    )
    if limits["rule_not_computed"]:
        console.print(
            f"[yellow]{limits['rule_not_computed']:,} customers kept their current limit "
            "because their limit rule had a missing input (flagged for review)[/]"
        )


def _print_alerts(applied: PolicyResult) -> None:
    from custrisk.policy import LEVEL_LABELS, LEVELS

    info: dict[str, Any] = applied.summary["alerts"]
    table = Table(title="Alerts by level", title_justify="left", box=box.SIMPLE, pad_edge=False)
    table.add_column("level")
    table.add_column("alerts", justify="right")
    table.add_column("customers (at their highest level)", justify="right")
    for level in LEVELS:
        table.add_row(
            f"[{LEVEL_STYLE[level]}]{level} {LEVEL_LABELS[level]['zh']}[/]",
            f"{info['by_level'][level]:,}",
            f"{info['customers_by_highest_level'][level]:,}",
        )
    console.print(table)
    fired = [f"{code} {n:,}" for code, n in info["by_code"].items() if n]
    if fired:
        console.print("By rule: " + ", ".join(fired))
    for code, reason in info["skipped_rules"].items():
        console.print(f"[dim]Rule {code} not evaluated: {reason}[/]")


def _print_migration(applied: PolicyResult) -> None:
    migration = applied.migration
    assert migration is not None
    info = applied.summary["migration"]
    table = Table(
        title=f"Grade migration: customers (row share) from the run as of "
        f"{info['previous_as_of'] or '?'}",
        title_justify="left",
        box=box.SIMPLE,
        pad_edge=False,
    )
    table.add_column("prev\\curr", no_wrap=True)
    for column in migration.counts.columns:
        table.add_column(str(column), justify="right", no_wrap=True)
    for row in migration.counts.index:
        cells = []
        for column in migration.counts.columns:
            count = int(migration.counts.loc[row, column])
            rate = migration.rates.loc[row, column]
            cells.append(f"{count:,} {rate:.0%}" if count else "-")
        table.add_row(str(row), *cells)
    console.print(table)
    console.print(
        f"Upgraded {info['upgraded']:,}, downgraded {info['downgraded']:,}, stayed "
        f"{info['stayed']:,}, new {info['new']:,}, departed {info['departed']:,}"
    )
