"""``custrisk train`` and ``custrisk evaluate``: fit a model, measure it on new data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from custrisk.cli._common import (
    AllowUnverifiedOpt,
    AsOfOpt,
    CsvEncodingOpt,
    DataDir,
    EncodingOpt,
    LabelsOpt,
    ModelsDirOpt,
    RejectsUnmaskedOpt,
    RequireSignedOpt,
    SourcesOpt,
    note_unmasked,
    parse_date,
)
from custrisk.cli._console import console, err_console

app = typer.Typer()

METRICS = (("auc", "AUC"), ("ks", "KS"), ("gini", "Gini"), ("brier", "Brier"))


@app.command("train")
def train(
    data_dir: DataDir,
    labels: LabelsOpt,
    algorithm: Annotated[
        str | None,
        typer.Option(
            "--algorithm",
            "-a",
            help="logistic (WOE scorecard) or tree [default: the model config's].",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", "-n", help="Model name in the registry [default: the algorithm]."),
    ] = None,
    models_dir: ModelsDirOpt = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Model YAML (default: the packaged model.yaml)."),
    ] = None,
    indicators: Annotated[
        Path | None,
        typer.Option("--indicators", help="Indicator YAML (default: the packaged one)."),
    ] = None,
    sources: SourcesOpt = None,
    encoding: EncodingOpt = None,
    as_of: AsOfOpt = None,
    csv_encoding: CsvEncodingOpt = None,
    rejects_unmasked: RejectsUnmaskedOpt = None,
) -> None:
    """Train a model on the exports in DATA_DIR and the labels, evaluate it on a hold-out
    split and k-fold CV, and save it to the registry as NAME@VERSION.

    The model folder holds no personal data in clear: its training_rejects.csv has names,
    phones and id numbers masked (--rejects-unmasked FILE writes them in clear elsewhere).
    """
    from custrisk.io.safe_csv import csv_encoding as parse_csv_encoding
    from custrisk.scoring import train_model

    parse_csv_encoding(csv_encoding)

    result = train_model(
        data_dir,
        labels,
        algorithm=algorithm,
        name=name,
        models_dir=models_dir,
        model_config=config,
        indicator_config=indicators,
        sources_config=sources,
        encoding=encoding,
        as_of=parse_date(as_of),
        csv_encoding=csv_encoding,
        rejects_unmasked=rejects_unmasked,
    )
    if rejects_unmasked is not None:
        note_unmasked(rejects_unmasked)
    card = result.card
    training = card["training"]
    console.print(
        f"Trained [bold]{card['algorithm']}[/] on {training['rows']:,} labelled "
        f"customers (bad rate {training['bad_rate']:.1%}, as of "
        f"{training['as_of']}); split: {card['metrics']['split']}"
    )
    if training["unlabelled"] or training["labels_for_unknown_customers"]:
        err_console.print(
            f"[yellow]Warning:[/] {training['unlabelled']:,} customers have no label; "
            f"{training['labels_for_unknown_customers']:,} labels name unknown customers"
        )
    print_metrics(
        {"hold-out": card["metrics"]["holdout"], "train": card["metrics"]["train"]},
        card["metrics"].get("cv"),
    )
    print_bands(card["metrics"]["holdout"])
    _print_features(card)
    _print_fitting(card)
    console.print(f"Model id: [bold green]{result.ref.model_id}[/]  ({result.ref.path})")


@app.command("evaluate")
def evaluate(
    model: Annotated[
        str, typer.Argument(help="Model: a folder, NAME or NAME@VERSION.", show_default=False)
    ],
    data_dir: DataDir,
    labels: LabelsOpt,
    models_dir: ModelsDirOpt = None,
    require_signed: RequireSignedOpt = False,
    allow_unverified: AllowUnverifiedOpt = False,
    sources: SourcesOpt = None,
    encoding: EncodingOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """Measure a trained model on new labelled exports, next to its training hold-out."""
    from custrisk.scoring import evaluate_model

    result = evaluate_model(
        model,
        data_dir,
        labels,
        sources_config=sources,
        encoding=encoding,
        as_of=parse_date(as_of),
        models_dir=models_dir,
        require_signed=require_signed or None,
        allow_unverified=allow_unverified,
    )
    console.print(
        f"Model {result['model_id']} on {result['labelled']:,} labelled customers "
        f"(as of {result['as_of']})"
    )
    columns = {"new data": result["metrics"]}
    if result.get("training_metrics"):
        columns["training hold-out"] = result["training_metrics"]
    print_metrics(columns, None)
    print_bands(result["metrics"])


def print_bands(metrics: dict[str, Any]) -> None:
    """Lift and calibration by score band (riskiest first)."""
    lift = metrics.get("lift") or []
    calibration = {row["bin"]: row for row in metrics.get("calibration") or []}
    if not lift:
        return
    table = Table(title="By score band (hold-out)", title_justify="left")
    for column in ("band", "scores", "rows", "bads", "bad rate", "bad capture", "lift"):
        table.add_column(column, justify="left" if column == "scores" else "right")
    for row in lift:
        scores = f"{row['score_min']:.0f}-{row['score_max']:.0f}"
        table.add_row(
            str(row["band"]),
            scores,
            f"{row['count']:,}",
            f"{row['bads']:,}",
            f"{row['bad_rate']:.1%}",
            f"{row['cum_bad_capture']:.0%}",
            f"{row['lift']:.2f}",
        )
    console.print(table)
    if calibration:
        worst = max(
            calibration.values(),
            key=lambda r: abs(r["bad_rate"] - r["mean_pd"]) if r["count"] else 0,
        )
        console.print(
            f"Calibration by PD decile: largest gap in decile {worst['bin']} (mean PD "
            f"{worst['mean_pd']:.1%}, observed {worst['bad_rate']:.1%})"
        )


def print_metrics(columns: dict[str, dict[str, Any]], cv: dict[str, Any] | None) -> None:
    table = Table(title="Metrics", title_justify="left")
    table.add_column("metric")
    for name in columns:
        table.add_column(name, justify="right")
    if cv:
        table.add_column(f"{len(cv.get('folds', []))}-fold CV (mean ± sd)", justify="right")
    for key, label in (("n", "rows"), ("n_bad", "bads"), ("bad_rate", "bad rate"), *METRICS):
        row = [label]
        for metrics in columns.values():
            row.append(_fmt(metrics.get(key), key))
        if cv:
            mean, sd = cv.get("mean", {}).get(key), cv.get("std", {}).get(key)
            row.append(f"{mean:.3f} ± {sd:.3f}" if mean is not None and sd is not None else "")
        table.add_row(*row)
    console.print(table)


def _fmt(value: Any, key: str) -> str:
    if value is None:
        return "-"
    if key in ("n", "n_bad"):
        return f"{int(value):,}"
    if key == "bad_rate":
        return f"{value:.2%}"
    return f"{value:.4f}" if key == "brier" else f"{value:.3f}"


def _print_fitting(card: dict[str, Any]) -> None:
    """How the saved model was fitted: rows, regularisation, pruning, calibration."""
    model = card.get("model", {})
    saved = (card["metrics"].get("rows") or {}).get("saved_model")
    if saved:
        console.print(
            f"Saved model fitted on {saved['fitted_on']}; hold-out and CV metrics come from "
            "the model fitted on the training part"
        )
    if model.get("C") is not None:
        rule = (model.get("cv_results") or {}).get("rule")
        console.print(f"L2 strength C = {model['C']:g}" + (f" (by CV, {rule})" if rule else ""))
    if model.get("ccp_alpha") is not None:
        leaves = sum(1 for node in model.get("nodes", []) if node.get("leaf"))
        console.print(f"Pruning ccp_alpha = {model['ccp_alpha']:.3g} ({leaves} leaves)")
    calibration = model.get("calibration") or {}
    if calibration.get("method") not in (None, "none"):
        console.print(f"Calibration: {calibration['method']} (kept: it lowers the CV Brier score)")


def _print_features(card: dict[str, Any]) -> None:
    used = card["features"]
    console.print(f"Features used ({len(used)}): {', '.join(used)}")
    left_out = card.get("features_left_out") or {}
    if left_out:
        err_console.print(
            f"[yellow]Left out, not in this data ({len(left_out)}):[/] "
            + "; ".join(f"{code} ({why})" for code, why in left_out.items())
        )
    dropped = card.get("model", {}).get("selection", {}).get("dropped", {})
    if dropped:
        table = Table(title="Features dropped", title_justify="left")
        table.add_column("feature")
        table.add_column("why")
        for code, reason in dropped.items():
            table.add_row(code, str(reason))
        console.print(table)
    for warning in card.get("model", {}).get("sign_warnings", []) or []:
        err_console.print(f"[yellow]Warning:[/] coefficient with the wrong sign: {warning}")
