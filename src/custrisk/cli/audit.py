"""``custrisk audit verify|show``, and the audit of every command (called by the root
group in :mod:`custrisk.cli`).

The root group calls :func:`begin` before a command runs and ``session.finish`` after;
this module turns the command line into the audit record: the command's words, its
parsed parameters (secrets and customer ids found by their names), the files and folders
it names as inputs or outputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from custrisk.cli._console import console, err_console, say
from custrisk.protect import audit

if TYPE_CHECKING:
    from custrisk.protect.trace import Trace

app = typer.Typer()
audit_app = typer.Typer(
    help="The tamper-evident audit log: verify the chain, show who did what.",
    short_help="The tamper-evident audit log: verify, show",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")

#: Parameters naming what a command writes.
OUTPUT_PARAMS = frozenset({"out", "out_dir", "to", "rejects_unmasked"})
#: Parameters naming configuration or keys, not customer data (not hashed: the registry
#: and key file are large or secret; the model id is recorded instead).
NOT_DATA_PARAMS = frozenset(
    {
        "keyfile",
        "models_dir",
        "templates",
        "config",
        "sources",
        "policy_file",
        "alerts_file",
        "indicators",
    }
)
#: Parameters whose paths hold configuration: recorded as inputs, but not customer data.
CONFIG_PARAMS = frozenset({"config", "sources", "policy_file", "alerts_file", "indicators"})
MODEL_PARAMS = ("model", "champion", "challenger")
#: Commands that read files without reading any customer's data (hashes, envelope
#: headers, ciphertext): their paths are hashed, but they are not counted as reading
#: every customer (``audit show --customer`` would list each of them otherwise).
NO_DATA_COMMANDS = frozenset(
    {"keys rotate", "keys retire", "audit verify", "audit show", "audit trace", "backup verify"}
)
#: Paths not hashed for the line: the key file, the registry, templates, and what a
#: backup reads (its archive is hashed instead).
NOT_HASHED_PARAMS = frozenset(
    {"keyfile", "models_dir", "templates", "backup_dir", "runs_dir", "configs_dir", "audit_log"}
)


def resolve(group: Any, root_ctx: Any, rest: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """The words of the command ``rest`` names (``["keys", "new"]``) and its parameters as
    click parses them (no callbacks run); whatever cannot be parsed is left out."""
    words: list[str] = []
    params: dict[str, Any] = {}
    command, parent, args = group, root_ctx, list(rest)
    try:
        while getattr(command, "commands", None) and args:
            name, sub, args = command.resolve_command(parent, args)
            if sub is None or name is None:
                break
            words.append(name)
            ctx = sub.make_context(name, list(args), parent=parent, resilient_parsing=True)
            params.update({k: v for k, v in ctx.params.items() if v is not None})
            args = [*getattr(ctx, "_protected_args", []), *ctx.args]
            command, parent = sub, ctx
    except Exception:  # a usage error: click reports it when the command runs
        if not words:
            words = [a for a in rest if not a.startswith("-")][:1]
    return words, params


#: Commands that erase the customers they name: they rewrite every run they find, but
#: that is no read of the other customers' data (``audit show --customer`` lists such a
#: line for the customers it erased only).
ERASURE_COMMANDS = frozenset({"forget"})

#: The command that makes the first key: it runs before any audit log can be kept
BOOTSTRAP = ["keys", "new"]


def begin(group: Any, root_ctx: Any, argv: Sequence[str], rest: Sequence[str]) -> Any:
    """Start the audit of the command in ``rest`` (``argv``: the whole command line)."""
    words, params = resolve(group, root_ctx, rest)
    command = " ".join(words)
    if "--help" in rest:  # nothing runs: nothing to audit (nor a key needed to ask)
        return audit.AuditSession(audit.AuditRecord(command=command, argv=list(argv)), None)
    session = audit.start(command or "-", argv, params, bootstrap=words == BOOTSTRAP)
    portfolio = False
    for name, value in params.items():
        if name in MODEL_PARAMS and isinstance(value, str):
            audit.audit_event(model=value)
        values = value if isinstance(value, list | tuple) else [value]
        paths = [p for p in values if isinstance(p, Path)]
        if not paths or name in NOT_HASHED_PARAMS:
            continue
        if name in OUTPUT_PARAMS:
            audit.audit_event(outputs=paths)
        else:
            audit.audit_event(inputs=paths)
        portfolio = portfolio or name not in NOT_DATA_PARAMS
    if command in ERASURE_COMMANDS:
        audit.audit_event(scope=audit.ERASURE)
    elif portfolio and command not in NO_DATA_COMMANDS and not session.record.customers:
        audit.audit_event(scope=audit.PORTFOLIO)
    return session


# -- the commands -----------------------------------------------------------------------

LogArg = Annotated[
    Path | None,
    typer.Argument(
        help="The audit log (default: $CUSTRISK_AUDIT_LOG, else "
        "~/.local/state/custrisk/audit.log).",
        show_default=False,
    ),
]
KeyfileOpt = Annotated[
    Path | None,
    typer.Option(
        "--keyfile",
        help="The key file holding the audit (or encryption) keys the log names.",
        show_default=False,
    ),
]


@audit_app.command("verify", short_help="Check the audit chain; name the first bad line")
def verify(log: LogArg = None, keyfile: KeyfileOpt = None) -> None:
    """Check every line's MAC, the chain and the head; exit 1 naming the first bad line."""
    from custrisk.protect import load_keyring

    path = log or audit.default_log_path()
    result = audit.require_ok(audit.verify_log(path, load_keyring(keyfile)))
    keys = ", ".join(result.keys) or "-"
    console.print(f"{path}: {result.lines} line(s), chain and head intact (keys: {keys})")


@audit_app.command("show", short_help="Who ran what, when, on whose data")
def show(
    log: LogArg = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="From this time: 2026-12-01, 2026-12-01T08:00 (UTC) or 7d, 12h.",
            show_default=False,
        ),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Only this OS user.", show_default=False)
    ] = None,
    command: Annotated[
        str | None,
        typer.Option(
            "--command",
            help="Only commands starting with this (score, keys, ...).",
            show_default=False,
        ),
    ] = None,
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer",
            help="Only commands that named this customer or read/wrote every customer "
            "(needs the audit key: the log holds keyed tokens, not ids).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the matching lines as JSON lines.")
    ] = False,
    keyfile: KeyfileOpt = None,
) -> None:
    """Who ran what, when, on which files: filter by time, user, command or customer."""
    from custrisk.protect.log_view import show_entries

    path = log or audit.default_log_path()
    view = show_entries(
        path, keyfile=keyfile, since=since, user=user, command=command, customer=customer
    )
    found, checked, trusted = view.entries, view.checked, view.trusted
    if as_json:
        for number, entry, how in found:
            shown = {**entry, "match": how} if how else dict(entry)
            if not trusted(number):
                shown["verified"] = False
            typer.echo(json.dumps(shown, ensure_ascii=False))
        _say_unverified(checked)
        return
    table = Table(title=f"{len(found)} entries of {path}", title_justify="left")
    for column in ("line", "time", "user", "role", "exit", "command line", "files", "rows"):
        table.add_column(column)
    if customer is not None:
        table.add_column("customer")
    for number, entry, how in found:
        row = [
            str(number) if trusted(number) else Text(f"{number} UNVERIFIED", style="red"),
            str(entry.get("time", ""))[:19].replace("T", " "),
            str(entry.get("user", "")),
            str(entry.get("role", "")),
            str(entry.get("exit", "")),
            " ".join(str(a) for a in entry.get("argv") or [entry.get("command", "")]),
            _files(entry),
            _rows(entry.get("rows") or {}),
        ]
        if customer is not None:
            row.append(how if how in ("named", "erased") else "all customers")
        table.add_row(*row)
    console.print(table)
    if not found:
        err_console.print("No entries match.")
    _say_unverified(checked)


@audit_app.command("trace", short_help="Whether files are as custrisk wrote them, by the log")
def trace(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Files, or folders of them (a run folder), to look up in the audit log.",
            show_default=False,
        ),
    ],
    log: Annotated[
        Path | None,
        typer.Option(
            "--log",
            help="The audit log (default: $CUSTRISK_AUDIT_LOG, else "
            "~/.local/state/custrisk/audit.log).",
            show_default=False,
        ),
    ] = None,
    keyfile: KeyfileOpt = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="One JSON line per file (vouched, line, command, ...)."),
    ] = False,
) -> None:
    """Look each file's SHA-256 up among the outputs the verified audit log recorded: the
    line (command, time, user) that wrote it, or exit 1 naming the files no line did
    (edited since, or not written by custrisk). A run's own digests catch an edit; this
    catches a forgery, for the log's key is not the folder's."""
    from custrisk.errors import CheckFailed
    from custrisk.protect import load_keyring
    from custrisk.protect.trace import trace_files

    path = log or audit.default_log_path()
    traces = trace_files(path, paths, load_keyring(keyfile))
    bad = [t for t in traces if not t.ok]
    if as_json:
        for found in traces:
            typer.echo(json.dumps(found.as_dict(), ensure_ascii=False))
    else:
        for found in bad:
            say("Not vouched for:", found.said())
        _say_vouched([t for t in traces if t.ok])
    if bad:
        raise CheckFailed(
            f"{len(bad)} of {len(traces)} file(s) are not as custrisk wrote them, by {path}",
            hint="compare them with a backup (custrisk backup) or the run's other copies; "
            "score the month again for a clean run",
        )
    if not as_json:
        console.print(f"{len(traces)} file(s) as custrisk wrote them, by {path} (verified)")


def _say_vouched(traces: list[Trace]) -> None:
    """Each file named that is vouched for, on its line; a folder's in one line (a
    month's reports are thousands), with the lines of the log that wrote them."""
    for given in dict.fromkeys(t.given for t in traces):
        found = [t for t in traces if t.given == given]
        if not given.is_dir():
            for one in found:
                console.print(one.said(), markup=False, highlight=False, soft_wrap=True)
            continue
        lines = sorted({t.by.line for t in found if t.by is not None})
        span = f"line {lines[0]}" if len(lines) == 1 else f"lines {lines[0]}-{lines[-1]}"
        console.print(
            f"{given}: {len(found):,} file(s) as custrisk wrote them ({span})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _say_unverified(checked: Any) -> None:
    """After the entries: exit 1 when the chain breaks (the lines from the bad one on are
    marked UNVERIFIED: edited, inserted or written without the key); a note when there
    is no key to check them with."""
    if checked is None:
        say(
            "Note:",
            "the entries are not verified: no audit or encryption key here "
            "(CUSTRISK_KEYFILE); custrisk audit verify checks them where the key is",
        )
    elif not checked.ok:
        say(
            "Warning:",
            f"from line {checked.bad_line} on, the entries are not verified: they may be forged",
        )
        audit.require_ok(checked)


def _files(entry: Mapping[str, Any]) -> str:
    read = len(entry.get("inputs") or [])
    written = len(entry.get("outputs") or [])
    failed = len(entry.get("not_produced") or [])
    return f"{read} read, {written} written" + (f", {failed} not produced" if failed else "")


def _rows(rows: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} {count}" for name, count in rows.items())
