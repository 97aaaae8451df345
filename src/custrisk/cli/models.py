"""``custrisk models list|show``: what is in the model registry."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer
from rich.table import Table

from custrisk.cli._common import AllowUnverifiedOpt, ModelsDirOpt, RequireSignedOpt
from custrisk.cli._console import console
from custrisk.registry.artifact import SIGNING_KEY_ENV

app = typer.Typer()
models_app = typer.Typer(
    help="List and inspect the models in the registry.",
    short_help="List and inspect the models in the registry",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")


@models_app.command("list", short_help="List every model version with its metrics")
def list_(models_dir: ModelsDirOpt = None) -> None:
    """List every model version: id, algorithm, features, hold-out AUC and KS."""
    from custrisk.registry import list_models
    from custrisk.registry.store import models_dir as resolve_dir

    rows = list_models(models_dir)
    if not rows:
        console.print(f"No models in {resolve_dir(models_dir)}; train one with custrisk train")
        return
    table = Table(title=f"Models in {resolve_dir(models_dir)}", title_justify="left")
    for column in ("model", "algorithm", "created", "features", "AUC", "KS"):
        table.add_column(column, justify="right" if column in ("features", "AUC", "KS") else "left")
    for row in rows:
        table.add_row(
            row["model_id"],
            row["algorithm"],
            row["created_at"],
            str(row["features"]),
            _num(row["auc"]),
            _num(row["ks"]),
        )
    console.print(table)


@models_app.command("show", short_help="A model's card: features, metrics, files")
def show(
    model: Annotated[
        str, typer.Argument(help="Model: a folder, NAME or NAME@VERSION.", show_default=False)
    ],
    models_dir: ModelsDirOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole model card as JSON.")
    ] = False,
) -> None:
    """Show a model's card: algorithm, features, metrics, training data and checks."""
    from custrisk.registry import resolve_model
    from custrisk.registry.artifact import read_card

    ref = resolve_model(model, models_dir)
    card = read_card(ref)
    if as_json:
        typer.echo(json.dumps(card, ensure_ascii=False, indent=2))
        return
    training = card.get("training", {})
    holdout = card.get("metrics", {}).get("holdout", {})
    console.print(
        f"[bold]{card.get('model_id')}[/]  {card.get('algorithm')}  created "
        f"{card.get('created_at')}  ({ref.path})"
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
    artifact = card.get("artifact", {})
    signed = "unsigned"
    if card.get("signature"):
        signed = "signed (HMAC-SHA256), " + (
            "verified"
            if os.environ.get(SIGNING_KEY_ENV)
            else f"not checked: {SIGNING_KEY_ENV} unset"
        )
    console.print(
        f"Artifact: {artifact.get('file')} sha256 {str(artifact.get('sha256'))[:16]}… "
        f"{signed}; libraries: "
        + ", ".join(f"{k} {v}" for k, v in card.get("libraries", {}).items())
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
    Exit 0 when it passes, 2 when not."""
    from custrisk.registry import resolve_model, verify_model
    from custrisk.registry.artifact import TRUST_UNSIGNED, TRUST_VERIFIED

    ref = resolve_model(model, models_dir)
    verified = verify_model(
        ref, require_signed=require_signed or None, allow_unverified=allow_unverified
    )
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
