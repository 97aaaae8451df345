"""Options and helpers shared by several commands."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, overload

import typer

from custrisk.cli import _ARGV
from custrisk.cli._console import console, counted, err_console, say
from custrisk.config.profiles import resolve_profile
from custrisk.data import ValidationReport, Workspace
from custrisk.errors import UsageError
from custrisk.io.excel import first_cells
from custrisk.io.stop import Stopped, not_written
from custrisk.vocab import IN_RUN_FACTS

DataDir = Annotated[
    Path,
    typer.Argument(
        help="Folder holding the monthly exports (credit.csv, ...), or one table file "
        "(.csv, .xlsx, .parquet) with a row per customer for a model trained on a flat table.",
        show_default=False,
    ),
]
EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help="pandas (one process) or dask (customers in buckets on a Dask cluster; the same "
        "results, see docs/scale.md).",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="With --engine dask: the address of a running Dask scheduler, e.g. "
        "tcp://HOST:8786 (default: a local cluster of 2 worker processes).",
        show_default=False,
    ),
]
BucketsOpt = Annotated[
    int | None,
    typer.Option(
        "--buckets",
        min=1,
        help="With --engine dask: customers are split into this many buckets by a hash of "
        "their id (default: each bucket a 64th of a worker's memory in exports, at least "
        "twice the workers).",
        show_default=False,
    ),
]


MemoryLimitOpt = Annotated[
    str | None,
    typer.Option(
        "--memory-limit",
        help="With --engine dask: the memory of each worker of the local cluster, e.g. 2GB; "
        "past it, workers spill to disk (default: the machine's memory shared by the "
        "workers).",
        show_default=False,
    ),
]

PartsOpt = Annotated[
    bool | None,
    typer.Option(
        "--parts/--no-parts",
        help="With --engine dask: write the run's tables of a row per customer (scores, "
        "details, follow-up plan) as folders of Parquet parts, a part per bucket written "
        "as the bucket is scored, so that the command never holds every customer's rows "
        "(--parts); or each as one file (--no-parts). Default: parts from 1,000,000 "
        "customers. With an .xlsx --out only the details are parts (the workbook holds "
        "the scores).",
        show_default=False,
    ),
]


StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="A limit rule or alert rule that reads a column this data lacks is an error "
        "(default: skipped and reported once).",
    ),
]
SourcesOpt = Annotated[
    Path | None,
    typer.Option(
        "--sources",
        help="Sources YAML, or a profile: crm (default: the packaged sources.yaml; the CRM "
        "profile when DATA_DIR holds 客户*.xlsx).",
    ),
]
EncodingOpt = Annotated[
    str | None,
    typer.Option(help="Text encoding of the CSV files (default: detect BOM, UTF-8, GBK)."),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="As-of date YYYY-MM-DD (default: the latest event date in the data).",
        show_default=False,
    ),
]
PeriodOpt = Annotated[
    str | None,
    typer.Option(
        "--period",
        help="Month YYYY-MM of the data: the sources' queries are bound to it (:period, "
        ":period_start, :period_end, :as_of; see docs/data-sources.md), and the data's "
        "as-of date must fall in it or a week after (exit 2 otherwise). It picks no file: "
        "DATA_DIR's files are read as they are.",
        show_default=False,
    ),
]
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="Model: a version's folder (models/NAME/2), a name's folder or NAME (its "
        "latest version), or NAME@VERSION.",
        show_default=False,
    ),
]
ModelsDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--models-dir",
        help="Model registry folder (default: $CUSTRISK_MODELS_DIR, else ./models).",
        show_default=False,
    ),
]
RequireSignedOpt = Annotated[
    bool,
    typer.Option(
        "--require-signed",
        help="Refuse a model unless its signature is checked with CUSTRISK_SIGNING_KEY "
        "(also on with CUSTRISK_REQUIRE_SIGNED=1).",
    ),
]
AllowUnverifiedOpt = Annotated[
    bool,
    typer.Option(
        "--allow-unverified",
        help="Load a signed model although CUSTRISK_SIGNING_KEY is not set to check its "
        "signature (unsafe; a warning is printed). Without it such a model is refused.",
    ),
]
CsvEncodingOpt = Annotated[
    str | None,
    typer.Option(
        "--csv-encoding",
        help="Encoding of the CSV files written: utf-8-sig (UTF-8 with a BOM, so that Excel "
        "shows Chinese text correctly) or utf-8 (no BOM) [default: utf-8-sig].",
        show_default=False,
    ),
]
RejectsUnmaskedOpt = Annotated[
    Path | None,
    typer.Option(
        "--rejects-unmasked",
        help="Also write the rejected rows with personal data in clear to this file "
        "(mode 0600). Every other rejects file has name, phone and id number masked.",
        metavar="<path>",
        show_default=False,
    ),
]
LabelsOpt = Annotated[
    Path | None,
    typer.Option(
        "--labels",
        "-l",
        help="Labels file: customer_id,bad[,label_date] (1 = bad). Not needed for a flat "
        "table, whose target column holds the outcomes.",
        show_default=False,
    ),
]


@dataclass(frozen=True)
class ChosenConfigs:
    """The configs of a command once a profile (``--sources crm``, or detected from the
    data folder) fills in those the user did not name."""

    sources: Path | None
    indicators: Path | None = None
    alerts: Path | None = None
    policy: Path | None = None


def choose_configs(
    data_dir: Path,
    sources: Path | None,
    *,
    indicators: Path | None = None,
    alerts: Path | None = None,
    policy: Path | None = None,
    machine_output: bool = False,
) -> ChosenConfigs:
    """The sources config and the other configs for ``data_dir``: a profile's where one
    applies (said on stdout, or on stderr when stdout carries JSON), except for those
    given explicitly."""
    profile = resolve_profile(data_dir, sources, headers=first_cells)
    if profile is None:
        return ChosenConfigs(sources, indicators, alerts, policy)
    (err_console if machine_output else console).print(profile.describe(data_dir), highlight=False)
    return ChosenConfigs(
        profile.sources,
        indicators or profile.config("indicators.yaml"),
        alerts or profile.config("alerts.yaml"),
        policy or profile.config("policy.yaml"),
    )


EncryptOpt = Annotated[
    bool,
    typer.Option(
        "--encrypt",
        help="Write every output that holds customer data encrypted (NAME.enc) with the "
        "active encryption key (custrisk keys new). Encrypted inputs are always read when "
        "their key is available.",
    ),
]
KeyfileOpt = Annotated[
    Path | None,
    typer.Option(
        "--keyfile",
        help="Key file (default: $CUSTRISK_KEYFILE, else ~/.config/custrisk/keys.json; "
        "CUSTRISK_KEY and CUSTRISK_PSEUDONYM_KEY come first).",
        show_default=False,
    ),
]


PseudonymiseOpt = Annotated[
    bool,
    typer.Option(
        "--pseudonymise",
        help="Replace customer ids by keyed tokens (stable across months) and mask names, "
        "phones and id numbers; the token table is written only encrypted beside the "
        "outputs (reidentification.csv.enc).",
    ),
]


def protect_command(
    *,
    encrypt: bool = False,
    keyfile: Path | None = None,
    pseudonymise: bool = False,
    outputs: Path | None = None,
    clear_pii: Path | None = None,
) -> None:
    """Switch on this command's protection until the command ends
    (:func:`custrisk.protect.command.protect_command`): the note that the caller's role
    pseudonymises every output is said on stderr."""
    from custrisk.protect.command import protect_command as protect

    protect(
        encrypt=encrypt,
        keyfile=keyfile,
        pseudonymise=pseudonymise,
        outputs=outputs,
        clear_pii=clear_pii,
        note=lambda text: say("Note:", text),
    )


def _not_in_run_facts(record: logging.LogRecord) -> bool:
    return not all(getattr(record, key, False) for key in IN_RUN_FACTS)


@contextmanager
def printed_from_facts() -> Iterator[None]:
    """Leave out the log warnings of what the run's facts also hold (skipped limit and
    alert rules), for a command that prints them from the facts: said once, not twice."""
    handlers = list(logging.getLogger("custrisk").handlers)
    for handler in handlers:
        handler.addFilter(_not_in_run_facts)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(_not_in_run_facts)


JsonOutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Write the JSON result to this .json file (atomically: no file when the "
        "command stops or fails); the text is still printed.",
        show_default=False,
    ),
]


def check_json_out(out: Path | None, command: str) -> None:
    """Refuse a ``--out`` (of :data:`JsonOutOpt`) that is a folder or not a .json name
    before the work starts, not after it."""
    if out is None:
        return
    output_file(str(out), f"{command}.json")
    if out.suffix.lower() != ".json":
        raise UsageError(
            f"--out {out}: {command} writes its result as JSON",
            hint=f"name it {out.with_suffix('.json')}",
        )


@contextmanager
def unwritten_on_stop(out: Path | str | None) -> Iterator[None]:
    """A command stopped (SIGINT, SIGTERM) while it computed says that ``out`` (a path,
    or how to name it; ``None``: no file asked for) was not written: nothing is written
    before the computing ends."""
    try:
        yield
    except Stopped as stop:
        if out is not None:
            stop.leave(not_written(out))
        raise


@overload
def output_file(text: str, example: str, option: str = ...) -> Path: ...
@overload
def output_file(text: None, example: str, option: str = ...) -> None: ...
def output_file(text: str | None, example: str, option: str = "--out") -> Path | None:
    """``--out`` as typed, as a Path: a folder (one that is there, or a path ending in /)
    is refused in one line naming a file in it, rather than written as a file of the
    folder's name (typer's Path drops the ending / that says a folder)."""
    if text is None:
        return None
    path = Path(text)
    if path.is_dir() or text.endswith(("/", os.sep)):
        raise UsageError(
            f"{option} {text} is a folder: it takes the file to write",
            hint=f"e.g. {option} {path / example}",
        )
    return path


def sealed_like(source: Path, encrypt: bool, what: str) -> bool:
    """``--encrypt``, or on (and said) when ``source`` (a run's file or folder) is stored
    encrypted: what a command derives from an encrypted run (its reports, a filtered
    alerts file, the follow-up plan) is not written in clear where the run was sealed."""
    from custrisk.protect.output import stored_encrypted

    if encrypt or not stored_encrypted(source):
        return encrypt
    say("Note:", f"{source} is encrypted: {what} written encrypted too (as with --encrypt)")
    return True


def bind_period(period: str | None, *, dated: bool = True) -> None:
    """Bind the sources' query parameters to the month ``--period`` (checked) until the
    command ends (each command runs in a context of its own); ``dated``: the command
    finds the data's as-of date, which must then fall in that month (or a week after)."""
    from custrisk.indicators.as_of import set_data_period
    from custrisk.io.sql import set_query_period

    month = None
    if period is not None:
        # (the batch's config, which checks a period, imports the batch, the reports,
        # jinja2 and the notifications: 70 modules no command needs without --period)
        from custrisk.batch.config import check_period

        month = check_period(period)
    set_query_period(month)
    if dated:
        set_data_period(month)


def parse_date(text: str | None, option: str = "--as-of") -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is not a date", hint="write it as YYYY-MM-DD, e.g. 2026-10-31"
        ) from None


def rejects_beside(out: Path) -> Path:
    """Where the rows rejected while cleaning are written for an output file."""
    return out.with_name(f"{out.stem}.rejects.csv")


def check_unmasked_target(unmasked: Path | None, *masked: Path) -> None:
    """Refuse a --rejects-unmasked file that is one of the (masked) outputs."""
    if unmasked is None:
        return
    target = unmasked.resolve()
    for path in masked:
        if target == path.resolve():
            raise UsageError(
                f"--rejects-unmasked {unmasked} is also an output of this command",
                hint="name a separate file for the unmasked rejects",
            )


def write_rejects_beside(
    workspace: Workspace,
    out: Path,
    *,
    csv_encoding: str | None = None,
    unmasked: Path | None = None,
) -> Path | None:
    """Write the rows rejected while cleaning next to an output file (personal data
    masked), and the unmasked copy when asked; say so."""
    path = None
    say_source_warnings(workspace.report)
    if len(workspace.rejects):
        path = workspace.write_rejects(rejects_beside(out), csv_encoding=csv_encoding)
        say_rejects(workspace, path)
    write_unmasked_rejects(workspace, unmasked, csv_encoding=csv_encoding)
    return path


def say_source_warnings(report: ValidationReport) -> None:
    """Say on stderr what each source's report warns of (a file read in place of the
    one the config names, columns left blank, columns no value of which could be read)."""
    for source in report.sources.values():
        for warning in source.warnings:
            say("Warning:", f"{source.name}: {warning}")


def say_rejects(workspace: Workspace, path: Path) -> None:
    """Say on stderr what cleaning did to the input (rows rejected and repaired, or only
    repaired) and how many customers its rejections leave out, pointing to ``path``."""
    report = workspace.report
    # (a report's own rows, 合计 and 制表人 notes, are listed as skipped: no fault of the
    # data, and not "0 input rows were repaired")
    own_rows = (
        f"{counted(report.rows_skipped, 'row', 'rows')} of the report itself (totals, "
        "notes, captions, blank or repeated header rows) skipped, not customers"
    )
    skipped = f"; {own_rows}" if report.rows_skipped else ""
    if report.rows_rejected:
        say(
            "Warning:",
            f"{counted(report.rows_rejected, 'input row was', 'input rows were')} rejected "
            f"while cleaning (and {report.rows_repaired:,} repaired){skipped}; see {path}",
        )
    elif report.rows_repaired:
        say(
            "Note:",
            f"{counted(report.rows_repaired, 'input row was', 'input rows were')} repaired "
            f"while cleaning (none rejected){skipped}; see {path}",
        )
    elif report.rows_skipped:
        say("Note:", f"{own_rows}; no row rejected or repaired; see {path}")
    left_out = report.customers_rejected_text()
    if left_out:
        say("Warning:", f"{left_out} (see {path})")


def say_label_rejects(rows: int, what: str, use: str, summary: str | None) -> None:
    """Warn that label (outcome) rows were rejected while cleaning, and why: a labels
    file has no rejects file of its own, so the reasons are said here."""
    were = f"{rows:,} {what} row was" if rows == 1 else f"{rows:,} {what} rows were"
    say("Warning:", f"{were} rejected and not {use} ({summary or '-'})")


def say_label_blanks(values: int, what: str, summary: str | None) -> None:
    """Note the optional outcome values (a churn flag, a date) that were none and were
    blanked: unknown, the rest of the row kept."""
    were = f"{values:,} {what} value was" if values == 1 else f"{values:,} {what} values were"
    say("Note:", f"{were} not valid and read as unknown ({summary or '-'})")


def write_unmasked_rejects(
    workspace: Workspace, path: Path | None, *, csv_encoding: str | None = None
) -> None:
    """Write the rejects with personal data in clear to the file the user named."""
    if path is None:
        return
    note_unmasked(workspace.write_rejects(path, masked=False, csv_encoding=csv_encoding))


def note_unmasked(path: Path) -> None:
    """Remind the user that a file they asked for holds personal data in clear (or,
    written encrypted, unmasked under the encryption: NAME.enc)."""
    sealed = path.with_name(path.name + ".enc")
    if path.suffix != ".enc" and not path.exists() and sealed.exists():
        path = sealed  # (train names the file as given; --encrypt wrote NAME.enc)
    kept = (
        "unmasked, encrypted (custrisk decrypt shows it to the decrypt role)"
        if path.suffix == ".enc"
        else "in clear (mode 0600)"
    )
    say(
        "Note:",
        f"{path} holds personal data {kept}; keep it out of shared folders and delete it when done",
    )


def option_typed(ctx: typer.Context, *names: str) -> str:
    """Which of an option's ``names`` the command line used (``--customer`` or
    ``--customers``: the last given), for an error to name it as typed; else the first."""
    for arg in reversed(ctx.meta.get(_ARGV) or []):
        head = str(arg).split("=", 1)[0]
        if head in names:
            return head
    return names[0]
