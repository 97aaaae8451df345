"""``custrisk models list|show``: what is in the model registry."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from custrisk.cli._common import AllowUnverifiedOpt, ModelsDirOpt, RequireSignedOpt
from custrisk.cli._console import console, err_console, say
from custrisk.errors import CheckFailed, ModelArtifactError
from custrisk.registry.artifact import (
    CHECK_NOT_CHECKED,
    CHECK_OK,
    CHECK_UNSIGNED,
    MODEL_CARD,
    SIGNING_KEY_ENV,
)

if TYPE_CHECKING:
    from custrisk.registry import ModelCheck, ModelRef

app = typer.Typer()
models_app = typer.Typer(
    help="List and inspect the models in the registry.",
    short_help="List and inspect the models in the registry",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")


@models_app.command("list", short_help="List every model version with its metrics and check")
def list_(models_dir: ModelsDirOpt = None) -> None:
    """List every model version: id, algorithm, features, hold-out AUC and KS, and its
    check (every file's SHA-256 against the card, and the signature when
    CUSTRISK_SIGNING_KEY is set; nothing is loaded): ok, unsigned, signature not checked,
    or FAILED with what failed. The metrics of a FAILED version are those of a card that
    cannot be trusted. Exit 0 whatever the checks find."""
    from custrisk.registry import checked_models
    from custrisk.registry.store import models_dir as resolve_dir

    rows = checked_models(models_dir)
    if not rows:
        console.print(f"No models in {resolve_dir(models_dir)}; train one with custrisk train")
        return
    table = Table(title=f"Models in {resolve_dir(models_dir)}", title_justify="left")
    for column in ("model", "algorithm", "created", "features", "AUC", "KS", "check"):
        table.add_column(column, justify="right" if column in ("features", "AUC", "KS") else "left")
    failed = []
    for row, check in rows:
        if check.failed:
            failed.append(row["model_id"])
        table.add_row(
            row["model_id"],
            row["algorithm"],
            row["created_at"],
            str(row["features"]),
            _num(row["auc"]),
            _num(row["ks"]),
            # the first clause of the failure: the whole of it is for models show
            Text(check.summary().split(" (")[0], style="bold red")
            if check.failed
            else check.summary(),
        )
    console.print(table)
    if failed:
        # the table may be cut by a narrow terminal: the failures are named again in full
        say(
            "Warning:",
            f"{len(failed)} model version(s) FAILED their check and "
            f"would be refused by score: {', '.join(failed)}; see custrisk models show "
            f"{failed[0]}",
            style="bold red",
        )


@models_app.command("show", short_help="A model's card, its files and their checks")
def show(
    model: Annotated[
        str, typer.Argument(help="Model: a folder, NAME or NAME@VERSION.", show_default=False)
    ],
    models_dir: ModelsDirOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole model card as JSON.")
    ] = False,
) -> None:
    """Show a model's card: algorithm, features, metrics, training data, and its files
    with their checks (as models verify, nothing loaded). Exit 0 when the checks pass
    (or the model is unsigned, or signed and CUSTRISK_SIGNING_KEY is not set to check
    it), 1 with a warning naming the failed file or signature when one fails: the card
    shown then cannot be trusted."""
    from custrisk.registry import check_model, resolve_model
    from custrisk.registry.card import card_problem
    from custrisk.registry.legacy import clear_headers, mask_table_headers
    from custrisk.registry.store import read_card_light

    ref = resolve_model(model, models_dir)
    check = check_model(ref)
    failure = f"model {ref.model_id} FAILED its check: {check.problem}"
    try:
        card = read_card_light(ref.path / MODEL_CARD)
    except ModelArtifactError:
        # no card to show: the check's failure is the one thing to say
        raise CheckFailed(failure, hint="restore the model folder, or retrain") from None
    # (an earlier release's flat-table headers holding personal data: shown masked)
    card, _ = mask_table_headers(card, {}, clear_headers(card))
    if check.failed:
        # said first, before the card it makes untrustworthy (on stderr: stdout may be JSON)
        err_console.print(
            Text.assemble(
                (f"Warning: {failure}", "bold red"),
                "; it would be refused by score, and what its card says cannot be trusted",
            )
        )
    if as_json:
        typer.echo(json.dumps(card, ensure_ascii=False, indent=2))
    elif card_problem(card) is None:  # (a card edited into another shape is not shown)
        _print_card(ref, card, check)
    if check.failed:
        raise CheckFailed(
            f"model {ref.model_id} failed its check (see the warning above)",
            hint="restore the model folder from a clean copy, or retrain",
        )


def _print_card(ref: ModelRef, card: dict[str, Any], check: ModelCheck) -> None:
    training = card.get("training", {})
    holdout = card.get("metrics", {}).get("holdout", {})
    console.print(
        Text.assemble(
            (str(card.get("model_id")), "bold"),
            f"  {card.get('algorithm')}  created {card.get('created_at')}  ({ref.path})",
        )
    )
    console.print(
        f"Training: {training.get('rows', 0):,} customers as of "
        f"{training.get('as_of')}, bad rate {training.get('bad_rate', 0):.2%}; "
        f"split {card.get('metrics', {}).get('split')}"
    )
    console.print(
        f"Hold-out: AUC {_num(holdout.get('auc'))}, KS {_num(holdout.get('ks'))}, "
        f"Gini {_num(holdout.get('gini'))}, Brier {_num(holdout.get('brier'), 4)}"
    )
    table = Table(title="Features", title_justify="left")
    for column in ("code", "label", "direction"):
        table.add_column(column)
    labels = card.get("feature_labels", {})
    for code in card.get("features", []):
        info = labels.get(code, {})
        table.add_row(
            code, f"{info.get('zh', '')} / {info.get('en', '')}", str(info.get("direction", ""))
        )
    console.print(table)
    files = Table(title="Files", title_justify="left")
    for column in ("file", "bytes", "sha256", "check"):
        files.add_column(column, justify="right" if column == "bytes" else "left")
    listed = card.get("files")
    for name, entry in (listed if isinstance(listed, dict) else {}).items():
        entry = entry if isinstance(entry, dict) else {}
        status = check.files.get(name, "not checked")
        files.add_row(
            str(name),
            f"{entry.get('bytes'):,}" if isinstance(entry.get("bytes"), int) else "?",
            f"{str(entry.get('sha256'))[:16]}…",
            status if status == "ok" else Text(status, style="bold red"),
        )
    console.print(files)
    matched = f"{len(check.files)} files match the card's hashes"
    said = {
        CHECK_OK: f"ok: signature verified with {SIGNING_KEY_ENV}, {matched}",
        CHECK_UNSIGNED: f"unsigned: {matched}, which does not protect against anyone who can "
        "write the folder",
        CHECK_NOT_CHECKED: f"signed, signature not checked ({SIGNING_KEY_ENV} unset): {matched}",
    }.get(check.status, check.summary())
    console.print(f"Check: {said}", style="bold red" if check.failed else None, highlight=False)
    console.print(
        "Libraries: " + ", ".join(f"{k} {v}" for k, v in card.get("libraries", {}).items()),
        highlight=False,
    )


@models_app.command("verify", short_help="Check a model folder's hashes and signature")
def verify(
    model: Annotated[
        str, typer.Argument(help="Model: a folder, NAME or NAME@VERSION.", show_default=False)
    ],
    models_dir: ModelsDirOpt = None,
    require_signed: RequireSignedOpt = False,
    allow_unverified: AllowUnverifiedOpt = False,
) -> None:
    """Check a model folder as score would before loading it, without unpickling it: the
    card's signature, its name and version against the folder, and every file's SHA-256.
    Exit 0 when it passes, 1 naming the file or signature when a check fails (as models
    show), 2 when there is no such model."""
    from custrisk.registry import resolve_model, verify_model
    from custrisk.registry.artifact import TRUST_UNSIGNED, TRUST_VERIFIED

    ref = resolve_model(model, models_dir)
    try:
        verified = verify_model(
            ref, require_signed=require_signed or None, allow_unverified=allow_unverified
        )
    except ModelArtifactError as error:  # (the check ran and found a problem: exit 1)
        raise CheckFailed(error.message, hint=error.hint) from None
    how = {
        TRUST_VERIFIED: f"signature verified with {SIGNING_KEY_ENV}",
        TRUST_UNSIGNED: "unsigned: checked against the card's own hashes only, which does not "
        "protect against anyone who can write the folder",
    }.get(verified.trust, f"signature NOT checked ({SIGNING_KEY_ENV} is not set)")
    console.print(
        f"OK {ref.model_id}: the card and its {len(verified.files)} files match ({how})",
        highlight=False,
    )


def _num(value: object, digits: int = 3) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"  # type: ignore[arg-type]
