"""``custrisk drift`` and ``custrisk compare``: model monitoring for CI.

``drift`` compares new exports with the reference distributions stored in the model
(PSI of the score and PD, CSI per feature, performance decay with labels) and exits 1
when a statistic reaches the ``--fail-on`` level. ``compare`` puts a champion and a
challenger side by side on the same labelled data.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from custrisk.cli._common import (
    AllowUnverifiedOpt,
    AsOfOpt,
    BucketsOpt,
    DataDir,
    EncodingOpt,
    EngineOpt,
    JsonOutOpt,
    LabelsOpt,
    MemoryLimitOpt,
    ModelOpt,
    ModelsDirOpt,
    PeriodOpt,
    RequireSignedOpt,
    SchedulerOpt,
    SourcesOpt,
    bind_period,
    check_json_out,
    choose_configs,
    output_file,
    parse_date,
    protect_command,
    unwritten_on_stop,
)
from custrisk.cli._console import LOG_WIDTH, console, say
from custrisk.engine.cluster import check_engine_options
from custrisk.errors import UsageError
from custrisk.privacy import mask_pii_text
from custrisk.vocab import check_language

if TYPE_CHECKING:
    from custrisk.monitoring import Comparison, DriftReport, Statistic

app = typer.Typer()

FORMATS = ("text", "json", "junit")
#: Suffixes of files that are no drift output (a workbook, a table, a PDF, an encrypted
#: file): ``--out`` with one of them and no ``--format`` is refused, not written as text.
_NOT_DRIFT_SUFFIXES = (
    ".csv",
    ".tsv",
    ".xlsx",
    ".xlsm",
    ".xls",
    ".pdf",
    ".html",
    ".parquet",
    ".enc",
)
COMPARE_FORMATS = ("text", "json")
STYLES = {"stable": "green", "warn": "yellow", "insufficient": "magenta", "alert": "bold red"}
RECOMMENDATION_STYLES = {"replace": "bold green", "keep": "bold", "inconclusive": "yellow"}

ModelArg = Annotated[
    str, typer.Argument(help="Model: a folder, NAME or NAME@VERSION.", show_default=False)
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Drift YAML (default: the packaged drift.yaml)."),
]


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    if value not in allowed:
        raise UsageError(f"{option} must be one of {', '.join(allowed)}; got {value!r}")
    return value


@app.command("drift", short_help="PSI/CSI drift against the model's training data")
def drift(
    data_dir: DataDir,
    model: ModelOpt,
    models_dir: ModelsDirOpt = None,
    require_signed: RequireSignedOpt = False,
    allow_unverified: AllowUnverifiedOpt = False,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            "-l",
            help="Labels file customer_id,bad: adds AUC/KS decay, bad rate and calibration.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="Output: text, json or junit [default: by --out's suffix (.json: json, "
            ".xml: junit), else text].",
            show_default=False,
        ),
    ] = None,
    out_text: Annotated[
        str | None,  # (as typed: a Path drops the ending / that says "a folder")
        typer.Option(
            "--out",
            "-o",
            help="Write the --format output to this file (atomically); the table is still printed.",
            show_default=False,
        ),
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            help="Exit 1 on any statistic at: alert, warn (or alert), never "
            "[default: drift.yaml's fail_on, alert].",
            show_default=False,
        ),
    ] = None,
    allow_insufficient: Annotated[
        bool | None,
        typer.Option(
            "--allow-insufficient/--no-allow-insufficient",
            help="Do not fail on statistics with too little data (reported, JUnit skipped) "
            "[default: drift.yaml's allow_insufficient, false].",
            show_default=False,
        ),
    ] = None,
    lang: Annotated[
        str,
        typer.Option(
            "--lang",
            help="Language of the features' labels in the table, JSON and JUnit: zh or en "
            "(custrisk run: its RUN.yaml's lang:).",
        ),
    ] = "zh",
    config: ConfigOpt = None,
    sources: SourcesOpt = None,
    encoding: EncodingOpt = None,
    as_of: AsOfOpt = None,
    period: PeriodOpt = None,
    engine: EngineOpt = "pandas",
    scheduler: SchedulerOpt = None,
    buckets: BucketsOpt = None,
    memory_limit: MemoryLimitOpt = None,
) -> None:
    """Check DATA_DIR for drift against the reference stored in the model: PSI of the
    score and PD, CSI of each feature, and with --labels AUC/KS decay, bad rate and
    calibration.

    Verdicts: stable, warn, alert (thresholds in drift.yaml, 0.10/0.25 for PSI/CSI) or
    insufficient (too few rows, or bads or goods; fails unless --allow-insufficient).
    Exit 0 when nothing reaches --fail-on, 1 when something does, 2 on usage or input
    errors.

    With --engine dask the customers are checked in buckets on a Dask cluster (each
    bucket's bin counts added up): the same report as the pandas engine's.
    """
    bind_period(period)
    protect_command()  # the role decides how customer data is read
    from custrisk.engine.choice import check_data_drift_on
    from custrisk.monitoring.config import FAIL_ON

    out = Path(out_text) if out_text is not None else None
    if output_format is None:  # -o drift.json is asking for JSON
        suffix = out.suffix.lower() if out is not None else ""
        if out is not None and suffix in _NOT_DRIFT_SUFFIXES:  # (drift.xlsx: no workbook)
            raise UsageError(
                f"--out {out}: drift writes text, JSON (.json) or JUnit XML (.xml), not a "
                f"{suffix} file",
                hint=f"name it {out.with_suffix('.txt')}, .json or .xml",
            )
        output_format = {".json": "json", ".xml": "junit"}.get(suffix, "text")
    _choice(output_format, FORMATS, "--format")
    check_language(lang)
    if fail_on is not None:
        _choice(fail_on, FAIL_ON, "--fail-on")
    # a folder, or a path ending in / (known before the check runs, not after)
    output_file(out_text, "drift." + {"json": "json", "junit": "xml"}.get(output_format, "txt"))
    check_engine_options(engine, scheduler, buckets, memory_limit)
    # a stop (Ctrl-C) says which file was not written, as score's does
    with unwritten_on_stop(out):
        report = check_data_drift_on(
            model,
            data_dir,
            engine=engine,
            scheduler=scheduler,
            buckets=buckets,
            memory_limit=memory_limit,
            labels=labels,
            config=config,
            fail_on=fail_on,
            allow_insufficient=allow_insufficient,
            sources_config=choose_configs(
                data_dir, sources, machine_output=output_format != "text"
            ).sources,
            encoding=encoding,
            as_of=parse_date(as_of),
            models_dir=models_dir,
            require_signed=require_signed or None,
            allow_unverified=allow_unverified,
            lang=lang,
        )
        for warning in report.data.get("warnings_in_exports") or ():
            say("Warning:", warning)  # (why a feature may have moved: the export changed)
        renderables = _drift_renderables(report, data_dir)
        if out is not None or output_format == "text":
            for item in renderables:
                console.print(item)
        if out is not None:
            from custrisk.io.atomic import write_text

            write_text(out, _drift_output(report, output_format, renderables))
    if out is not None:
        console.print(f"Wrote {out}")
    elif output_format != "text":
        typer.echo(_drift_output(report, output_format, renderables), nl=False)
    _finish(report)


def _drift_output(
    report: DriftReport, output_format: str, renderables: list[RenderableType]
) -> str:
    if output_format == "json":
        return json.dumps(report.to_dict(), ensure_ascii=False, indent=2, allow_nan=False) + "\n"
    if output_format == "junit":
        return str(report.to_junit())
    return _plain(renderables)


def _plain(renderables: list[RenderableType]) -> str:
    buffer = io.StringIO()
    plain = Console(
        file=buffer,
        width=LOG_WIDTH,
        color_system=None,
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    for item in renderables:
        plain.print(item)
    return buffer.getvalue()


def _finish(report: DriftReport) -> None:
    skipped = [s.shown_name for s in report.unjudged()]
    if skipped:
        say(
            "Warning:",
            f"{len(skipped)} statistics had too little data and were not "
            f"judged: {', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}",
        )
    report.require_pass()


def _value(stat: Statistic) -> str:
    if stat.value is None:
        return "-"
    if stat.metric in ("bad_rate_change", "calibration_error"):
        return f"{stat.value:+.1%}"
    if stat.metric in ("auc_drop", "ks_drop"):
        return f"{stat.value:+.4f}"
    return f"{stat.value:.4f}"


def _limits(stat: Statistic) -> str:
    t = stat.thresholds
    if stat.metric in ("bad_rate_change", "calibration_error"):
        return f"±{t.warn:.0%}/{t.alert:.0%}"
    return f"{t.warn:g}/{t.alert:g}"


def _detail(stat: Statistic) -> str:
    """What moved, in a few words (the value has its own column)."""
    top = stat.largest_bin
    if stat.verdict == "insufficient" or (top is None and stat.group != "performance"):
        return str(stat.message)
    if top is not None:
        return f"{top.label}: {top.expected_share:.1%} -> {top.actual_share:.1%}"
    if stat.metric in ("auc_drop", "ks_drop") and None not in (stat.current, stat.reference):
        now, then = float(stat.current or 0.0), float(stat.reference or 0.0)
        moved = "lower" if now < then else "higher: no drop" if now > then else "unchanged"
        return f"{now:.3f} vs hold-out {then:.3f} ({moved})"
    if stat.metric == "bad_rate_change":
        return f"{stat.current:.2%} vs training {stat.reference:.2%}"
    return stat.message


def _drift_renderables(report: DriftReport, data_dir: Path) -> list[RenderableType]:
    data = report.data
    table = Table(
        title=f"Drift of {report.model_id} on {mask_pii_text(str(data_dir))} "
        f"(as of {report.as_of})",
        title_justify="left",
    )
    table.add_column("statistic", no_wrap=True)
    table.add_column("value", justify="right")
    table.add_column("warn/alert", justify="right")
    table.add_column("verdict")
    table.add_column("detail")
    candidates = False
    for stat in report.worst_first():
        name = stat.shown_name  # csi:col4 年龄: a flat table's codes say nothing alone
        if stat.metric in ("auc_drop", "ks_drop"):
            name += " drop"  # the value is the hold-out's minus today's: below 0 is better
        if stat.in_model is False:
            name += " *"
            candidates = True
        style = STYLES[stat.verdict]
        table.add_row(
            name, _value(stat), _limits(stat), Text(stat.verdict, style=style), _detail(stat)
        )
    out: list[RenderableType] = [table]
    if candidates:
        out.append("* a candidate feature the model does not use (csi.scope: model skips these)")
    calibration = next((s for s in report.statistics if s.metric == "calibration_error"), None)
    if calibration is not None and calibration.table:
        deciles = Table(title="Calibration by PD decile (new data)", title_justify="left")
        for name in ("decile", "customers", "bads", "mean PD", "bad rate"):
            deciles.add_column(name, justify="right")
        for row in calibration.table:
            deciles.add_row(
                str(row["bin"]),
                f"{row['count']:,}",
                f"{row['bads']:,}",
                f"{row['mean_pd']:.2%}",
                f"{row['bad_rate']:.2%}",
            )
        out.append(deciles)
    labelled = (
        f"; {data['labelled']:,} labelled ({data['bads']:,} bads)" if "labelled" in data else ""
    )
    out.append(
        f"{data['rows']:,} customers against {data['reference_rows']:,} at training (as of "
        f"{data.get('reference_as_of') or '?'}){labelled}"
    )
    counts = report.counts
    summary = ", ".join(f"{counts[v]} {v}" for v in ("alert", "insufficient", "warn", "stable"))
    verdict = report.verdict
    allowed = ", insufficient allowed" if report.config.allow_insufficient else ""
    out.append(
        Text.assemble(
            "Overall: ",
            (verdict.upper(), STYLES[verdict]),
            f" ({summary}; fail-on {report.config.fail_on}{allowed})",
        )
    )
    return out


@app.command("compare", short_help="Champion vs challenger on the same labelled data")
def compare(
    champion: ModelArg,
    challenger: ModelArg,
    data_dir: DataDir,
    labels: LabelsOpt = None,
    models_dir: ModelsDirOpt = None,
    require_signed: RequireSignedOpt = False,
    allow_unverified: AllowUnverifiedOpt = False,
    bootstrap: Annotated[
        int | None,
        typer.Option(
            "--bootstrap",
            help="Paired bootstrap resamples [default: drift.yaml's compare.bootstrap, 1000].",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="Seed of the resampling [default: drift.yaml's compare.seed, 0].",
            show_default=False,
        ),
    ] = None,
    min_gain: Annotated[
        float | None,
        typer.Option(
            "--min-gain",
            help="Smallest AUC gain worth a change [default: compare.min_auc_gain, 0.01].",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", "-f", help="Output: text or json.")
    ] = "text",
    out: JsonOutOpt = None,
    config: ConfigOpt = None,
    sources: SourcesOpt = None,
    encoding: EncodingOpt = None,
    as_of: AsOfOpt = None,
    period: PeriodOpt = None,
) -> None:
    """Compare a CHAMPION and a CHALLENGER model on the same labelled exports: AUC, KS,
    Gini, Brier and bad rate side by side, a paired bootstrap interval of the AUC
    difference, and a recommendation (replace, keep or inconclusive) with its reason.

    Exit 0 whatever the recommendation; 2 on usage or input errors.
    """
    bind_period(period)
    protect_command()  # the role decides how customer data is read
    from custrisk.scoring import compare_models

    _choice(output_format, COMPARE_FORMATS, "--format")
    check_json_out(out, "compare")
    if out is not None:  # the JSON goes to the file, the table to the terminal (as drift's)
        output_format = "text"
    with unwritten_on_stop(out):
        result = compare_models(
            champion,
            challenger,
            data_dir,
            labels,
            config=config,
            bootstrap=bootstrap,
            seed=seed,
            min_gain=min_gain,
            sources_config=choose_configs(
                data_dir, sources, machine_output=output_format != "text"
            ).sources,
            encoding=encoding,
            as_of=parse_date(as_of),
            models_dir=models_dir,
            require_signed=require_signed or None,
            allow_unverified=allow_unverified,
        )
        if out is not None:
            from custrisk.io.atomic import write_text

            write_text(out, _comparison_json(result) + "\n")
    if output_format == "json":
        typer.echo(_comparison_json(result))
        return
    _print_comparison(result)
    if out is not None:
        console.print(f"Wrote {out}")


def _comparison_json(result: Comparison) -> str:
    return json.dumps(result.to_dict(), ensure_ascii=False, indent=2, allow_nan=False)


def _print_comparison(result: Comparison) -> None:
    table = Table(
        title=f"Champion vs challenger on {result.champion['n']:,} labelled customers "
        f"(as of {result.as_of})",
        title_justify="left",
    )
    table.add_column("metric")
    table.add_column(f"champion {result.champion_id}", justify="right")
    table.add_column(f"challenger {result.challenger_id}", justify="right")
    table.add_column("difference", justify="right")
    for key, label, fmt in (
        ("n_bad", "bads", "{:,.0f}"),
        ("bad_rate", "bad rate", "{:.2%}"),
        ("auc", "AUC", "{:.4f}"),
        ("ks", "KS", "{:.4f}"),
        ("gini", "Gini", "{:.4f}"),
        ("brier", "Brier", "{:.4f}"),
    ):
        a, b = result.champion[key], result.challenger[key]
        diff = "" if key in ("n_bad", "bad_rate") else f"{b - a:+.4f}"
        table.add_row(label, fmt.format(a), fmt.format(b), diff)
    console.print(table)
    console.print(
        f"AUC difference (challenger - champion): {result.auc_difference:+.4f}, "
        f"{result.confidence:.0%} CI [{result.ci_low:+.4f}, {result.ci_high:+.4f}] "
        f"({result.n_bootstrap:,} paired bootstrap resamples, seed {result.seed}); "
        f"minimum gain {result.min_gain:g}"
    )
    if result.warning:
        say("Warning:", result.warning)
    style = RECOMMENDATION_STYLES[result.recommendation]
    console.print(
        Text.assemble(
            "Recommendation: ", (result.recommendation.upper(), style), f" - {result.reason}"
        )
    )
