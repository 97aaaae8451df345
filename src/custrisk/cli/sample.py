"""``custrisk sample-data``: write a synthetic monthly export to try custrisk on."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Protocol

import typer

from custrisk.errors import UsageError
from custrisk.sample import DEFAULT_AS_OF, ENCODINGS, generate_sample_data, validate_options

app = typer.Typer()

_OPTION_NAMES = {
    "customers": "--customers",
    "months": "--months",
    "as_of": "--as-of",
    "seed": "--seed",
    "drift": "--drift",
    "encoding": "--encoding",
}


@app.command("sample-data", short_help="Write realistic synthetic monthly exports")
def sample_data(
    out_dir: Annotated[
        Path,
        typer.Argument(
            help="Folder to write credit.csv, transactions.csv, behaviour.csv, labels.csv "
            "and ground_truth.csv into (created if missing; files are replaced).",
            show_default=False,
        ),
    ],
    customers: Annotated[
        int, typer.Option("--customers", help="Number of customers (rows of credit.csv).")
    ] = 500,
    months: Annotated[
        int, typer.Option("--months", help="Months of transactions and events before --as-of.")
    ] = 12,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help=f"Export date YYYY-MM-DD; nothing happens after it. Default {DEFAULT_AS_OF}, "
            "or the last day of the following month when --drift is above 0.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            help="Random seed; the same options give identical files. The next month of the "
            "same customers: the same --seed with a later --as-of. Another seed is another "
            "portfolio under the same customer ids: compared with a run of the first, every "
            "grade moves (alert GR01 floods).",
        ),
    ] = 42,
    drift: Annotated[
        float,
        typer.Option(
            "--drift",
            help="Shift the distributions by this many standard deviations of latent risk "
            "(0 = none; 0.5 gives PSI above 0.25 on several features).",
        ),
    ] = 0.0,
    dirty: Annotated[
        bool,
        typer.Option(
            "--dirty/--clean",
            help="Inject realistic faults (duplicates, blanks, bad numbers and dates, orphans, "
            "...) and list each one in faults.csv.",
        ),
    ] = False,
    encoding: Annotated[
        str, typer.Option("--encoding", help="File encoding: " + " or ".join(ENCODINGS) + ".")
    ] = "utf-8",
    layout: Annotated[
        str,
        typer.Option(
            "--format",
            help="csv: custrisk's own exports (credit.csv, ...); crm: CRM workbooks with "
            "Chinese headers (客户.xlsx, 合同.xlsx, 回款计划.xlsx, ...), for the CRM profile; "
            "application: new customers' application fields with the outcome 违约 "
            "(application.csv, application_next.csv), for an application model and "
            "custrisk serve.",
        ),
    ] = "csv",
) -> None:
    """Write a synthetic but realistic monthly export (with labels) to OUT_DIR."""
    writer = WRITERS.get(layout)
    if writer is None:
        raise UsageError(
            f"--format must be one of {', '.join(WRITERS)}; got {layout!r}",
            hint="csv for custrisk's own layout, crm for CRM workbooks, application for new "
            "customers' applications",
        )
    as_of_date = _parse_date(as_of) if as_of is not None else None
    validate_options(
        customers=customers,
        months=months,
        as_of=as_of_date,
        seed=seed,
        drift=drift,
        encoding=encoding,
        option_names=_OPTION_NAMES,
    )
    writer(
        out_dir,
        customers=customers,
        months=months,
        as_of=as_of_date,
        seed=seed,
        drift=drift,
        dirty=dirty,
        encoding=encoding,
    )


def _write_csv(
    out_dir: Path,
    *,
    customers: int,
    months: int,
    as_of: date | None,
    seed: int,
    drift: float,
    dirty: bool,
    encoding: str,
) -> None:
    """custrisk's own layout: credit.csv, transactions.csv, behaviour.csv, labels.csv."""
    summary = generate_sample_data(
        out_dir,
        customers=customers,
        months=months,
        as_of=as_of,
        seed=seed,
        drift=drift,
        dirty=dirty,
        encoding=encoding,
    )

    from rich.table import Table

    from custrisk.cli._console import console

    table = Table(title=f"Sample export in {summary.out_dir}", title_justify="left")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, path in summary.paths.items():
        table.add_row(str(path.name), f"{summary.rows[name]:,}")
    console.print(table)
    console.print(
        f"customers {summary.customers:,}  bad rate {summary.bad_rate:.1%}  "
        f"as of {summary.as_of.isoformat()}  drift {summary.drift:g}  "
        f"encoding {summary.encoding}"
    )
    if summary.faults:
        kinds = ", ".join(f"{kind} {count}" for kind, count in summary.faults.items())
        console.print(f"faults injected {summary.n_faults:,} (see faults.csv): {kinds}")


def _write_crm(
    out_dir: Path,
    *,
    customers: int,
    months: int,
    as_of: date | None,
    seed: int,
    drift: float,
    dirty: bool,
    encoding: str,
) -> None:
    """CRM workbooks (客户.xlsx, 跟进记录.xlsx, 合同.xlsx, 回款计划.xlsx, 回款记录.xlsx,
    工单.xlsx) and labels.csv."""
    if dirty:
        raise UsageError(
            "--dirty applies to --format csv only", hint="leave it out with --format crm"
        )
    if encoding != "utf-8":
        raise UsageError(
            "--encoding applies to --format csv only (workbooks have no text encoding)",
            hint="leave it out with --format crm",
        )
    from rich.table import Table

    from custrisk.cli._console import console
    from custrisk.sample.crm import generate_crm_data

    summary = generate_crm_data(
        out_dir, customers=customers, months=months, as_of=as_of, seed=seed, drift=drift
    )
    table = Table(title=f"CRM export in {summary.out_dir}", title_justify="left")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, path in summary.paths.items():
        table.add_row(path.name, f"{summary.rows[name]:,}")
    console.print(table)
    console.print(
        f"customers {summary.customers:,}  bad rate {summary.bad_rate:.1%}  "
        f"as of {summary.as_of.isoformat()}  drift {drift:g}  (the CRM profile reads it: "
        f"custrisk validate {out_dir})"
    )


def _write_application(
    out_dir: Path,
    *,
    customers: int,
    months: int,
    as_of: date | None,
    seed: int,
    drift: float,
    dirty: bool,
    encoding: str,
) -> None:
    """application.csv (new customers' application fields with the outcome 违约) and
    application_next.csv (the next applicants, no outcome), for an application model."""
    for given, name in (
        (dirty, "--dirty"),
        (drift != 0, "--drift"),
        (encoding != "utf-8", "--encoding"),
    ):
        if given:
            raise UsageError(
                f"{name} applies to the monthly exports only",
                hint="leave it out with --format application",
            )
    from rich.table import Table

    from custrisk.cli._console import console
    from custrisk.sample.application import generate_applications

    summary = generate_applications(out_dir, applicants=customers, seed=seed)
    table = Table(title=f"Sample applications in {out_dir}", title_justify="left")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, path in summary.paths.items():
        table.add_row(path.name, f"{summary.rows[name]:,}")
    console.print(table)
    console.print(
        f"bad rate {summary.bad_rate:.1%}; next: custrisk train "
        f"{summary.paths['application.csv']} --target 违约 --name application"
    )


class _Writer(Protocol):
    def __call__(
        self,
        out_dir: Path,
        *,
        customers: int,
        months: int,
        as_of: date | None,
        seed: int,
        drift: float,
        dirty: bool,
        encoding: str,
    ) -> None: ...


#: --format: the writer of each layout (add a layout here).
WRITERS: dict[str, _Writer] = {
    "csv": _write_csv,
    "crm": _write_crm,
    "application": _write_application,
}


def _parse_date(text: str) -> date:
    value = text.strip()
    try:
        if len(value) == 10:  # fromisoformat also takes 20261031, which is not meant here
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise UsageError(f"--as-of must be a date written YYYY-MM-DD, e.g. 2026-10-31; got {text!r}")
