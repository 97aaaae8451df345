"""``custrisk forget CUSTOMER``: a deletion request over the run folders."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from custrisk.cli._console import console, say

app = typer.Typer()


@app.command("forget", short_help="Remove or pseudonymise one customer in run folders")
def forget(
    customer: Annotated[
        str,
        typer.Argument(help="The customer id, as in the scores.", show_default=False),
    ],
    runs: Annotated[
        Path | None,
        typer.Option(
            "--runs",
            help="The folder of the run folders (searched recursively; default: runs, "
            "unless only --decisions is given).",
            show_default=False,
        ),
    ] = None,
    decisions: Annotated[
        str | None,
        typer.Option(
            "--decisions",
            help="The decisions store of custrisk serve (its --db: a SQLite file, a "
            "database URL or env:NAME): the customer's decisions are erased there too.",
            show_default=False,
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="remove: drop the customer's rows; pseudonymise: keep them under a keyed "
            "token with the masked identity blanked (needs a pseudonym key).",
        ),
    ] = "remove",
    keyfile: Annotated[
        Path | None,
        typer.Option(
            "--keyfile",
            help="The key file holding the pseudonym key and the keys of encrypted runs "
            "(default: $CUSTRISK_KEYFILE).",
            show_default=False,
        ),
    ] = None,
    undo: Annotated[
        bool,
        typer.Option(
            "--undo",
            help="Lift an erasure recorded by mistake: take the customer out of the "
            "register of --runs (forgotten.csv), so later runs score them again; the "
            "rows already removed are not brought back (run the month again with --force).",
        ),
    ] = False,
) -> None:
    """Remove or pseudonymise one customer in every run folder (scores, details, alerts,
    rejects, reports) and, with --decisions, in the decisions store of custrisk serve;
    exit 1 if a file still names the customer. All or nothing: every
    file is written to a temporary file first and all are put in place together; a file
    that cannot be read or written changes none (exit 2). Encrypted runs are read with
    the key and written back encrypted with the active key. The customer's keyed token
    (never the id) is added to the register forgotten.csv beside the run folders, so
    that custrisk run and score leave them out of later months (needs a pseudonym key)."""
    from custrisk.batch.layout import relist_runs
    from custrisk.errors import CheckFailed, UsageError
    from custrisk.protect import PSEUDONYM, load_keyring
    from custrisk.protect.audit import audit_event
    from custrisk.protect.output import protect_from_now
    from custrisk.scoring.forget import files_remaining, forget_in_runs
    from custrisk.serve.forget import forget_decisions

    store = None
    if decisions is not None:  # opened first: a store that is not there changes nothing
        from custrisk.serve.store import DecisionStore

        store = DecisionStore(decisions, create=False, option="--decisions")
    elif runs is None:
        runs = Path("runs")
    audit_event(customers=[customer], inputs=[runs] if runs else [], mode=mode)
    if undo:
        if runs is None:
            raise UsageError("--undo needs --runs: the folder whose register lists the customer")
        protect_from_now(keyfile=keyfile)
        _lift(customer, runs)
        return
    protect_from_now(keyfile=keyfile)  # encrypted runs: read and written with its keys
    key = load_keyring(keyfile).active(PSEUDONYM) if mode == "pseudonymise" else None
    if runs is None:
        assert store is not None
        console.print(forget_decisions(store, customer, mode, key).describe())
        return
    audit_event(outputs=[runs])
    results = forget_in_runs(
        customer, runs, mode=mode, key=key, keyfile=keyfile, relist=relist_runs
    )
    registered = _register(customer, runs, keyfile)  # (after: forget searched the folder)
    erased = forget_decisions(store, customer, mode, key) if store is not None else None
    verb = "Pseudonymised" if mode == "pseudonymise" else "Removed"
    for name, result in results.items():
        who = "the customer" if name == customer else "the customer's pseudonym token"
        _say_forgotten(result, verb, who)
    remaining = files_remaining(results)
    if not any(result.changed for result in results.values()):
        console.print(f"The customer is in no run, report or table under {runs}")
    if erased is not None:
        console.print(erased.describe())
    if registered:
        console.print(registered)
    if remaining:
        for path, why in remaining[:20]:
            say("Check:", f"{path}: {why}")
        raise CheckFailed(
            f"{len(remaining)} file(s) under {runs} may still hold the customer",
            hint="check or delete them by hand (backups too: see docs/security.md)",
        )


def _register(customer: str, runs: Path, keyfile: Path | None) -> str | None:
    """Record the customer's token in the register of ``runs`` (later runs leave them
    out); what to say, or a warning when there is no pseudonym key to make the token."""
    from custrisk.data.erased import cleaned_id
    from custrisk.errors import ConfigError
    from custrisk.protect import PSEUDONYM, load_keyring
    from custrisk.protect.audit import audit_event
    from custrisk.protect.erasure import record

    try:
        key = load_keyring(keyfile).active(PSEUDONYM)
    except ConfigError:
        say(
            "Warning:",
            "no pseudonym key: the erasure is not recorded, and a run of these months "
            "again would score the customer again from the exports; create one with "
            "custrisk keys new --purpose pseudonym and run this forget again",
        )
        return None
    # (as the exports' ids are compared: cleaned, ｃ００１２ as C0012)
    path, new = record(runs, cleaned_id(customer), key)
    if new:
        audit_event(outputs=[path])
    return (
        f"Recorded the erasure in {path} (a keyed token, never the id): custrisk run and "
        "score leave the customer out of later runs"
    )


def _lift(customer: str, runs: Path) -> None:
    """``forget --undo``: the customer out of the register of ``runs``."""
    from custrisk.data.erased import cleaned_id
    from custrisk.protect.audit import audit_event
    from custrisk.protect.erasure import lift
    from custrisk.protect.output import keyring

    path, removed = lift(runs, cleaned_id(customer), keyring())
    if removed:
        audit_event(outputs=[path])
        console.print(
            f"Lifted the erasure from {path}: later runs score the customer again (the "
            "rows already removed are not brought back: run the month again with --force)"
        )
    else:
        console.print(f"The customer is not in the register {path}: nothing to lift")


def _render_again(reports: Path) -> str:
    """The command that renders a stale portfolio report again: with the run's scores
    file when the reports sit in the run's folder (``runs/2026-10/reports``, as
    ``custrisk run`` writes them), and in a month's folder of ``custrisk run`` with the
    options the run rendered it with (:func:`_as_the_run_did`)."""
    beside = (reports.parent / "scores.csv", reports.parent / "scores.csv.enc")
    scores = next((s for s in beside if s.exists()), None)
    command = f"custrisk report {shlex.quote(str(scores)) if scores else 'SCORES'} --out "
    command += shlex.quote(str(reports))
    options = _as_the_run_did(reports.parent) if scores else None
    if options is not None:
        return f"render it again as custrisk run did: {command} {shlex.join(options)}"
    return (
        f"render it again: {command}"
        + ("" if scores else " (SCORES: the run's scores file)")
        + ", with the options the reports were rendered with (--alert-level, --grade, ...)"
    )


def _as_the_run_did(month: Path) -> list[str] | None:
    """The ``custrisk report`` options that render a month's portfolio as ``custrisk
    run`` did: the portfolio alone (the other customers' reports are as they were),
    dated with the run's as-of date, with its drift and the month before's run, in the
    language and with the reports config and templates of its RUN.yaml. ``None`` when
    ``month`` is no month of ``custrisk run`` (no ``run.json``) or it cannot be read."""
    from custrisk.batch import load_run_config
    from custrisk.errors import CustriskError
    from custrisk.protect.output import existing

    facts = _run_facts(month)
    if facts is None:
        return None
    options = ["--portfolio-only"]
    as_of = _as_of(month)
    if as_of:
        options += ["--report-date", as_of]
    drift = existing(month / "drift.json")
    if drift.is_file():
        options += ["--drift", str(drift)]
    before = str((facts.get("previous") or {}).get("period") or "")
    history = existing(month.parent / before / "scores.csv") if before else None
    if history is not None and history.is_file() and _as_of(history.parent) != as_of[:10]:
        options += ["--history", str(history)]  # (as the run: not a month of the same date)
    try:
        config = load_run_config(str(facts.get("config") or ""))
    except (CustriskError, OSError):
        return options  # (RUN.yaml moved or changed since: the run's own facts only)
    if config.lang != "zh":
        options += ["--lang", config.lang]
    for option, path in (
        ("--config", config.reports.config),
        ("--templates", config.reports.templates),
    ):
        if path is not None:
            options += [option, str(path)]
    return options


def _run_facts(month: Path) -> dict[str, Any] | None:
    """A month's ``run.json`` of ``custrisk run``; ``None`` when absent or unreadable."""
    import json

    try:
        facts = json.loads((month / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return facts if isinstance(facts, dict) else None


def _as_of(month: Path) -> str:
    """The as-of date of a month's run (``run.json``), or ``""``."""
    score = ((_run_facts(month) or {}).get("stages") or {}).get("score") or {}
    return str((score.get("rows") or {}).get("as_of") or "")[:10]


def _say_forgotten(result: Any, verb: str, who: str) -> None:
    """What one forget changed, a line each."""
    for facts, counts in result.runs.items():
        rows = ", ".join(f"{part} {count}" for part, count in counts.items())
        console.print(f"{verb} {who} in the run {facts} ({rows}; new run id)")
    for pdf in result.reports_removed:
        console.print(f"Deleted the report {pdf.parent / 'customer_<id>.pdf'}")
    under = "" if who == "the customer" else f" ({who})"
    for table, count in result.tables.items():
        console.print(f"Removed {count} row(s) from {table}{under}")
    for listing in result.batch_runs:
        console.print(f"Listed the files of the monthly run {listing} again (hashes, reports)")
    for portfolio in result.stale_portfolios:
        say("Stale:", f"{portfolio} may list the customer; {_render_again(portfolio.parent)}")
    if result.files_changed:
        console.print(
            f"{result.files_changed} file(s) changed together: each written to a temporary "
            "file first, then all put in place (a failure would have changed none)"
        )
