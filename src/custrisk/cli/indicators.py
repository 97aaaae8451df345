"""``custrisk indicators``: one row of indicators per customer from a folder of exports."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

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
    PeriodOpt,
    PseudonymiseOpt,
    RejectsUnmaskedOpt,
    SchedulerOpt,
    bind_period,
    check_unmasked_target,
    choose_configs,
    output_file,
    parse_date,
    protect_command,
    rejects_beside,
    write_rejects_beside,
)
from custrisk.cli._console import console, say
from custrisk.engine.cluster import check_engine_options
from custrisk.indicators import (
    IndicatorConfig,
    IndicatorResult,
    output_format,
    summarize_indicators,
    write_indicators,
)
from custrisk.io.safe_csv import csv_encoding as parse_csv_encoding

app = typer.Typer()

_ORIGINS = {
    "argument": "from --as-of",
    "config": "from the indicator config",
    "data": "the latest event date in the data",
    "name": "the month its file name gives: the data has no event dates",
    "today": "today: the data has no event dates",
}


@app.command("indicators", short_help="One row of indicators per customer")
def indicators(
    data_dir: Annotated[
        Path,
        typer.Argument(
            help="Folder holding the monthly exports (credit.csv, ...).", show_default=False
        ),
    ],
    out_text: Annotated[
        str,  # (as typed: a Path drops the ending / that says "a folder")
        typer.Option(
            "--out",
            "-o",
            help="Output file: .csv, .xlsx or .parquet (written atomically).",
            show_default=False,
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Indicator YAML (default: the packaged indicators.yaml)."
        ),
    ] = None,
    sources: Annotated[
        Path | None,
        typer.Option("--sources", help="Sources YAML (default: the packaged sources.yaml)."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="As-of date YYYY-MM-DD the windows end at (default: "
            "as_of in the config, else the latest event date in the data).",
            show_default=False,
        ),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="Text encoding of the CSV files (default: detect BOM, UTF-8, GBK)."),
    ] = None,
    period: PeriodOpt = None,
    csv_encoding: CsvEncodingOpt = None,
    rejects_unmasked: RejectsUnmaskedOpt = None,
    encrypt: EncryptOpt = False,
    keyfile: KeyfileOpt = None,
    pseudonymise: PseudonymiseOpt = False,
    engine: EngineOpt = "pandas",
    scheduler: SchedulerOpt = None,
    buckets: BucketsOpt = None,
    memory_limit: MemoryLimitOpt = None,
) -> None:
    """Compute the indicators of every customer in DATA_DIR (payment capacity, trade
    frequency, complaint rate, ...) and write one row per customer to --out.

    Indicators whose source is absent are reported and left empty, never zero. Exit 0 on
    success, 2 for a usage, configuration or input error.
    """
    bind_period(period)
    out = output_file(out_text, "indicators.csv")
    protect_command(
        encrypt=encrypt,
        keyfile=keyfile,
        pseudonymise=pseudonymise,
        outputs=out.parent,
        clear_pii=rejects_unmasked,
    )
    output_format(out)
    parse_csv_encoding(csv_encoding)
    check_unmasked_target(rejects_unmasked, out, rejects_beside(out))
    day = parse_date(as_of)
    check_engine_options(engine, scheduler, buckets, memory_limit)
    from custrisk.engine.choice import prepare_features_on

    chosen = choose_configs(data_dir, sources, indicators=config)
    features = prepare_features_on(
        data_dir,
        engine=engine,
        scheduler=scheduler,
        buckets=buckets,
        memory_limit=memory_limit,
        indicator_config=chosen.indicators,
        sources_config=chosen.sources,
        encoding=encoding,
        as_of=day,
    )
    workspace, indicator_config, result = features.workspace, features.config, features.indicators
    assert result is not None
    written = write_indicators(
        result.frame, out, csv_encoding=csv_encoding, config=indicator_config
    )
    _print_summary(result, indicator_config)
    write_rejects_beside(workspace, out, csv_encoding=csv_encoding, unmasked=rejects_unmasked)
    console.print(
        f"Wrote {written} ({len(result.frame):,} customers, "
        f"{len(result.frame.columns) - 1} indicators)"
    )


def _print_summary(result: IndicatorResult, config: IndicatorConfig) -> None:
    summary = summarize_indicators(result, config)
    origin = _ORIGINS.get(result.as_of_origin, result.as_of_origin)
    table = Table(
        title=f"Indicators as of {result.as_of.isoformat()} ({origin})", title_justify="left"
    )
    width = max((len(code) for code in summary["indicator"]), default=9)
    table.add_column("indicator", no_wrap=True, min_width=width)
    for name in ("count", "missing", "min", "median", "max"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in summary.to_dict("records"):
        if row["status"] == "unavailable":
            table.add_row(row["indicator"], Text("unavailable", style="yellow"), "", "", "", "")
            continue
        spread = [_number(row["min"]), _number(row["median"]), _number(row["max"])]
        if row["type"] == "category":
            spread = [f"{int(row['distinct'])} values", "", ""]
        table.add_row(
            row["indicator"], f"{int(row['count']):,}", f"{row['missing_share']:.1%}", *spread
        )
    console.print(table)
    for code, reason in result.unavailable.items():
        say("Unavailable:", f"{code}: {reason}")


def _number(value: Any) -> str:
    """Short form for the summary: 0.893, 42, 28.6k, 1.2M."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.1f}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.1f}k"
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.3g}" if magnitude < 1 else f"{value:.1f}"
