"""``custrisk init``: propose the configs for data in its own layout."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from custrisk.cli._console import console
from custrisk.scoring.propose import propose_configs

app = typer.Typer()


@app.command("init", short_help="Propose a sources config for your own exports")
def init(
    data: Annotated[
        Path,
        typer.Argument(
            help="A folder of exports (CSV, Parquet) or one table file.", show_default=False
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the proposed configs.")
    ] = Path("configs"),
    force: Annotated[
        bool, typer.Option("--force", help="Replace configs that exist in --out.")
    ] = False,
    target: Annotated[
        str | None,
        typer.Option("--target", help="A table's outcome column (kept out of the features)."),
    ] = None,
    id_column: Annotated[
        str | None, typer.Option("--id-column", help="A table's customer id column.")
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="Text encoding of the CSV files (default: detect BOM, UTF-8, GBK)."),
    ] = None,
) -> None:
    """Read the headers and first rows of each file in DATA and propose a commented sources
    config (a table file: sources and indicator configs) that validates as written: the
    canonical name of every recognised header (Chinese or English), types, personal data,
    keys and dates. Prints what it could not map and the next commands.
    """
    result = propose_configs(
        data, out, force=force, target=target, id_column=id_column, encoding=encoding
    )
    if result.flat:
        for line in result.column_lines:
            console.print(escape(line), highlight=False)
    elif result.proposal is not None:
        table = Table(title=f"Files in {data}", title_justify="left")
        for name in ("file", "source", "decision"):
            table.add_column(name)
        for f in result.proposal.files:
            table.add_row(escape(f.file), f.source or "-", escape(f.note))
        console.print(table)
    if result.unmapped:
        console.print("Not recognised (kept with their inferred type, or left out):")
        for item in result.unmapped:
            console.print(f"  {escape(_printable(item))}", highlight=False)
    for path in result.written:
        console.print(f"Wrote {escape(str(path))}", highlight=False)
    sources = _quote(str(result.written[0]))
    folder = _quote(str(data.parent if result.flat else data))
    console.print("Next:", highlight=False)
    console.print(f"  custrisk validate {folder} --config {sources}", highlight=False)
    if result.flat:
        hint = target or "COLUMN"
        console.print(
            f"  custrisk train {_quote(str(data))} --target {_quote(hint)}",
            highlight=False,
        )
    else:
        console.print(
            f"  custrisk train {folder} --sources {sources} --labels LABELS.csv", highlight=False
        )


def _quote(text: str) -> str:
    """``text`` as a shell word: quoted only when it holds characters a shell treats
    specially (Chinese file names stay readable)."""
    return text if re.fullmatch(r"[\w@%+=:,./-]+", text) else shlex.quote(text)


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)
