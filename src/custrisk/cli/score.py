"""``custrisk score``: PD, score and reason codes for every customer of an export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from custrisk.cli._common import (
    AsOfOpt,
    DataDir,
    EncodingOpt,
    ModelsDirOpt,
    SourcesOpt,
    parse_date,
    write_rejects_beside,
)
from custrisk.cli._console import console

app = typer.Typer()


@app.command("score")
def score(
    data_dir: DataDir,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="Model: a folder, NAME (its latest version) or NAME@VERSION.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Scores file: .csv or .parquet (written atomically).",
            show_default=False,
        ),
    ],
    models_dir: ModelsDirOpt = None,
    sources: SourcesOpt = None,
    encoding: EncodingOpt = None,
    as_of: AsOfOpt = None,
    lang: Annotated[
        str, typer.Option("--lang", help="Language of the reason labels: zh or en.")
    ] = "zh",
) -> None:
    """Score every customer in DATA_DIR: PD, score and the top reason codes.

    The model is verified (SHA-256, and HMAC when CUSTRISK_SIGNING_KEY is set) before it
    is loaded. The same data and model give a byte-identical scores file.
    """
    from custrisk.indicators import output_format
    from custrisk.modeling import open_model, score_data, write_score_outputs

    output_format(out)
    loaded = open_model(model, models_dir)
    result = score_data(
        data_dir,
        loaded,
        sources_config=sources,
        encoding=encoding,
        as_of=parse_date(as_of),
        lang=lang,
    )
    write_score_outputs(result, out)
    write_rejects_beside(result.features.workspace, out)
    frame = result.frame
    console.print(
        f"Scored {len(frame):,} customers with {result.model_id} (as of "
        f"{result.features.as_of.isoformat()}): mean PD {frame['pd'].mean():.2%}, score "
        f"min {frame['score'].min()} / median {int(frame['score'].median())} / max "
        f"{frame['score'].max()}"
    )
    console.print(f"Wrote {out}")
