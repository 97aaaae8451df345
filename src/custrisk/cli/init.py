"""``custrisk init``: propose the configs for data in its own layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from custrisk.cli._common import protect_command
from custrisk.cli._console import console, shell_word
from custrisk.scoring.propose import InitResult, propose_configs

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
    use_profile: Annotated[
        bool,
        typer.Option(
            "--profile/--no-profile",
            help="A folder of CRM exports (客户*.xlsx) gets the CRM profile's configs; "
            "--no-profile proposes from the headers as for any folder.",
        ),
    ] = True,
) -> None:
    """Read the headers and first rows of each file in DATA and propose a commented sources
    config (a table file: sources and indicator configs) that validates as written: the
    canonical name of every recognised header (Chinese or English), types, personal data,
    keys and dates. Prints what it could not map and the next commands.
    """
    protect_command()  # the role decides how customer data is read (its audit line too)
    result = propose_configs(
        data,
        out,
        force=force,
        target=target,
        id_column=id_column,
        encoding=encoding,
        use_profile=use_profile,
    )
    if result.profile is not None:
        _print_profile(result, data)
        return
    if result.flat:
        for line in result.column_lines:
            console.print(line, highlight=False)
    elif result.proposal is not None:
        table = Table(title=f"Files in {data}", title_justify="left")
        for name in ("file", "source", "decision"):
            table.add_column(name)
        for f in result.proposal.files:
            table.add_row(f.file, f.source or "-", f.note)
        console.print(table)
    if result.outcome is not None:
        console.print(
            f"{_printable(result.outcome)} looks like the outcome, not a feature: pass "
            f"--target {shell_word(result.outcome)} (to init again with --force, and to train) "
            "so that it is kept out of the features",
            highlight=False,
        )
    if result.unmapped and not result.flat:  # (a table's layout says why of each column)
        console.print("Not recognised (kept with their inferred type, or left out):")
        for item in result.unmapped:
            console.print(f"  {_printable(item)}", highlight=False)
    if result.missing:
        console.print(
            "Missing (the packaged config requires them; map the file's column to the name "
            "under rename, or export it):"
        )
        for item in result.missing:
            console.print(f"  {_printable(item)}", highlight=False)
    for path in result.written:
        console.print(f"Wrote {path}", highlight=False)
    sources = shell_word(str(result.written[0]))
    # (a flat table's config reads the file it is given: next month's too)
    folder = shell_word(str(data))
    console.print("Next:", highlight=False)
    console.print(f"  custrisk validate {folder} --config {sources}", highlight=False)
    if result.flat:
        hint = target or result.outcome or "COLUMN"
        console.print(
            f"  custrisk train {shell_word(str(data))} --target {shell_word(hint)}",
            highlight=False,
        )
    else:
        found = result.proposal.labels_file if result.proposal is not None else None
        labels = shell_word(str(data / found)) if found else "LABELS.csv"
        console.print(
            f"  custrisk train {folder} --sources {sources} --labels {labels}", highlight=False
        )
        with_outcome = (
            result.proposal.table_with_outcome
            if result.proposal is not None and not found
            else None
        )
        if with_outcome is not None:  # the analyst's one table of features and outcomes
            name, header = with_outcome
            one, outcome = shell_word(str(data / name)), shell_word(header)
            console.print(
                f"  or, {_printable(name)} being one table with its outcome {_printable(header)}:"
                f" custrisk init {one} --target {outcome}, then custrisk train {one} "
                f"--target {outcome}",
                highlight=False,
            )


#: The outcomes file a known system's export folder may hold beside its exports.
_LABEL_SUFFIXES = (".csv", ".xlsx", ".parquet")


def _print_profile(result: InitResult, data: Path) -> None:
    """What was written for a folder of a known system's exports, and the next commands."""
    assert result.profile is not None
    console.print(
        f"{str(data)} holds {result.profile.marker}: the {result.profile.title} "
        "profile fits it (--no-profile to propose from the headers instead)",
        highlight=False,
    )
    for path in result.written:
        console.print(f"Wrote {path}", highlight=False)
    written = {path.name: shell_word(str(path)) for path in result.written}
    folder = shell_word(str(data))
    sources = written["sources.yaml"]
    indicators = (
        f" --indicators {written['indicators.yaml']}" if "indicators.yaml" in written else ""
    )
    rules = "".join(
        f" --{name.removesuffix('.yaml')} {written[name]}"
        for name in ("alerts.yaml", "policy.yaml")
        if name in written
    )
    found = next(
        (p for p in sorted(data.glob("labels.*")) if p.suffix.lower() in _LABEL_SUFFIXES), None
    )
    labels = shell_word(str(found)) if found is not None else "LABELS.csv"
    console.print("Next:", highlight=False)
    for line in (
        f"custrisk validate {folder} --config {sources}",
        f"custrisk train {folder} --sources {sources}{indicators} --labels {labels}",
        f"custrisk score {folder} --sources {sources}{rules} --model MODEL --out scores.csv",
    ):
        console.print(f"  {line}", highlight=False)


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)
