"""``custrisk train`` and ``custrisk evaluate``: fit a model, measure it on new data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from custrisk.cli._common import (
    AllowUnverifiedOpt,
    AsOfOpt,
    CsvEncodingOpt,
    DataDir,
    EncodingOpt,
    EncryptOpt,
    JsonOutOpt,
    KeyfileOpt,
    LabelsOpt,
    ModelsDirOpt,
    PeriodOpt,
    PseudonymiseOpt,
    RejectsUnmaskedOpt,
    RequireSignedOpt,
    SourcesOpt,
    bind_period,
    check_json_out,
    choose_configs,
    note_unmasked,
    parse_date,
    protect_command,
    say_label_blanks,
    say_label_rejects,
    say_source_warnings,
    unwritten_on_stop,
)
from custrisk.cli._console import console, counted, say, shell_word

app = typer.Typer()
#: evaluate's outputs.
_FORMATS = ("text", "json")

METRICS = (("auc", "AUC"), ("ks", "KS"), ("gini", "Gini"), ("brier", "Brier"))


@app.command("train", short_help="Train a scorecard or tree model")
def train(
    data_dir: DataDir,
    labels: LabelsOpt = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            "-t",
            help="Flat table only: the outcome column (0/1, 是/否, or two values with "
            "--bad-value); every other column but the id is a candidate feature.",
            show_default=False,
        ),
    ] = None,
    bad_value: Annotated[
        str | None,
        typer.Option(
            "--bad-value",
            help="Flat table only: the --target value that means bad (default: 1, true, "
            "是, 违约, bad, default ...).",
            show_default=False,
        ),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(
            "--id-column",
            help="Flat table only: the column identifying a customer (default: detected; "
            "none found: the row's line number in the file).",
            show_default=False,
        ),
    ] = None,
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
    period: PeriodOpt = None,
    csv_encoding: CsvEncodingOpt = None,
    rejects_unmasked: RejectsUnmaskedOpt = None,
    encrypt: EncryptOpt = False,
    keyfile: KeyfileOpt = None,
    pseudonymise: PseudonymiseOpt = False,
) -> None:
    """Train a model on the exports in DATA_DIR and the labels (or on one flat table with
    --target), evaluate it on a hold-out split and k-fold CV, and save it to the registry
    as NAME@VERSION.

    A flat table (.csv, .xlsx or .parquet, a row per customer) needs no YAML: the column types,
    the id, personal data and free text are inferred, printed and saved with the model.
    The model folder holds no personal data in clear: its training_rejects.csv has names,
    phones and id numbers masked (--rejects-unmasked FILE writes them in clear elsewhere).
    """
    bind_period(period)
    protect_command(
        encrypt=encrypt,
        keyfile=keyfile,
        pseudonymise=pseudonymise,
        clear_pii=rejects_unmasked,
    )
    from custrisk.io.safe_csv import csv_encoding as parse_csv_encoding
    from custrisk.scoring import train_model, train_table
    from custrisk.scoring.train import check_training_options

    parse_csv_encoding(csv_encoding)
    if check_training_options(
        data_dir,
        labels=labels,
        target=target,
        bad_value=bad_value,
        id_column=id_column,
        indicators=indicators,
        sources=sources,
    ):
        assert target is not None  # (checked)
        result = train_table(
            data_dir,
            target,
            bad_value=bad_value,
            id_column=id_column,
            algorithm=algorithm,
            name=name,
            models_dir=models_dir,
            model_config=config,
            encoding=encoding,
            as_of=parse_date(as_of),
            csv_encoding=csv_encoding,
            rejects_unmasked=rejects_unmasked,
            on_inferred=_print_inferred,
        )
    else:
        assert labels is not None  # (checked)
        chosen = choose_configs(data_dir, sources, indicators=indicators)
        result = train_model(
            data_dir,
            labels,
            algorithm=algorithm,
            name=name,
            models_dir=models_dir,
            model_config=config,
            indicator_config=chosen.indicators,
            sources_config=chosen.sources,
            encoding=encoding,
            as_of=parse_date(as_of),
            csv_encoding=csv_encoding,
            rejects_unmasked=rejects_unmasked,
        )
    if rejects_unmasked is not None:
        note_unmasked(rejects_unmasked)
    if result.report is not None:
        say_source_warnings(result.report)
    card = result.card
    training = card["training"]
    console.print(
        Text.assemble(
            "Trained ",
            (str(card["algorithm"]), "bold"),
            f" on {training['rows']:,} labelled customers (bad rate "
            f"{training['bad_rate']:.1%}, as of {training['as_of']}); split: "
            f"{card['metrics']['split']}",
        )
    )
    _say_label_counts(training, "trained on", card.get("table", {}).get("target"))
    rejected = training.get("rows_rejected_in_exports") or 0
    repaired = training.get("rows_repaired_in_exports") or 0
    if rejected or repaired:
        from custrisk.scoring.features import TRAINING_REJECTS_FILE

        parts = []
        if rejected:
            were = "was" if rejected == 1 else "were"
            parts.append(f"{rejected:,} {were} rejected while cleaning and not trained on")
        if repaired:  # a value blanked (on_invalid: blank) or corrected: trained on as that
            were = "was" if repaired == 1 else "were"
            parts.append(f"{repaired:,} had a value blanked or corrected and {were} trained so")
        say(
            "Warning:",
            f"of the input rows, {' and '.join(parts)}; each value and why: "
            f"{result.ref.path / TRAINING_REJECTS_FILE}",
        )
    if card.get("table", {}).get("target_bad_value") is not None:
        console.print(
            f"Outcome: {card['table']['target']} = {card['table']['target_bad_value']!r} "
            "is bad, every other value good"
        )
    print_metrics(
        {"hold-out": card["metrics"]["holdout"], "train": card["metrics"]["train"]},
        card["metrics"].get("cv"),
    )
    print_bands(card["metrics"]["holdout"])
    _print_features(card)
    _print_fitting(card)
    console.print(
        Text.assemble("Model id: ", (result.ref.model_id, "bold green"), f"  ({result.ref.path})")
    )
    _print_next(
        data_dir, result.ref.model_id, sources=sources, models_dir=models_dir, period=period
    )


def _print_next(
    data: Path,
    model_id: str,
    *,
    sources: Path | str | None,
    models_dir: Path | None,
    period: str | None = None,
) -> None:
    """The command that scores with the new model, as ``init`` ends with the next ones."""
    words = ["custrisk score", shell_word(str(data))]
    if sources is not None:
        words.append(f"--sources {shell_word(str(sources))}")
    words.append(f"--model {shell_word(model_id)}")
    if models_dir is not None:
        words.append(f"--models-dir {shell_word(str(models_dir))}")
    if period is not None:  # (the month the sources' queries are bound to)
        words.append(f"--period {period}")
    words.append("--out scores.csv")
    console.print("Next:", highlight=False)
    console.print("  " + " ".join(words), highlight=False)


@app.command("evaluate", short_help="Measure a model on new labelled data")
def evaluate(
    model: Annotated[
        str, typer.Argument(help="Model: a folder, NAME or NAME@VERSION.", show_default=False)
    ],
    data_dir: DataDir,
    labels: LabelsOpt = None,
    models_dir: ModelsDirOpt = None,
    require_signed: RequireSignedOpt = False,
    allow_unverified: AllowUnverifiedOpt = False,
    sources: SourcesOpt = None,
    encoding: EncodingOpt = None,
    as_of: AsOfOpt = None,
    period: PeriodOpt = None,
    output_format: Annotated[
        str,
        typer.Option(
            "--format", "-f", help="Output: text, or json (the result for a CI job to keep)."
        ),
    ] = "text",
    out: JsonOutOpt = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Drift YAML whose minimum.bads says when the labels are too few to act on "
            "(default: the packaged drift.yaml).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Measure a trained model on new labelled exports, next to its training hold-out;
    a warning when the labels hold fewer bads or goods than drift.yaml's minimum.bads."""
    bind_period(period)
    from custrisk.errors import UsageError
    from custrisk.scoring import evaluate_model

    if output_format not in _FORMATS:
        raise UsageError(f"--format must be one of {', '.join(_FORMATS)}; got {output_format!r}")
    check_json_out(out, "evaluate")
    if out is not None:  # the JSON goes to the file, the table to the terminal (as drift's)
        output_format = "text"
    protect_command()  # the role decides how customer data is read
    with unwritten_on_stop(out):
        result = evaluate_model(
            model,
            data_dir,
            labels,
            sources_config=choose_configs(
                data_dir, sources, machine_output=output_format != "text"
            ).sources,
            encoding=encoding,
            as_of=parse_date(as_of),
            models_dir=models_dir,
            require_signed=require_signed or None,
            allow_unverified=allow_unverified,
            config=config,
        )
        if out is not None:
            from custrisk.io.atomic import write_text

            write_text(out, _json(result))
    if output_format == "json":  # (warnings on stderr; stdout the JSON alone)
        for key in ("in_sample", "too_few"):
            if result.get(key):
                say("Warning:", result[key])
        typer.echo(_json(result), nl=False)
        return
    console.print(
        f"Model {result['model_id']} on {result['labelled']:,} labelled customers "
        f"(as of {result['as_of']})"
    )
    _say_label_counts(result, "measured on")
    if result.get("in_sample"):
        say("Warning:", result["in_sample"])
    if result.get("too_few"):
        say("Warning:", result["too_few"])
    columns = {"new data": result["metrics"]}
    if result.get("training_metrics"):
        columns["training hold-out"] = result["training_metrics"]
    print_metrics(columns, None)
    print_bands(result["metrics"], "new data")
    if out is not None:
        console.print(f"Wrote {out}")


def _json(result: dict[str, Any]) -> str:
    import json

    from custrisk.io.plain import jsonable

    return json.dumps(jsonable(result), ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def _say_label_counts(counts: dict[str, Any], use: str, target: str | None = None) -> None:
    """Customers without a label, labels of unknown customers and rejected label rows:
    what the figures leave out (train and evaluate say it alike). A flat table's
    ``target`` column holds its labels: rows with a blank one are said as such."""
    if target is not None and counts.get("unlabelled"):
        n = counts["unlabelled"]
        say(
            "Warning:",
            f"{counted(n, 'customer has', 'customers have')} no {target} value (blank: an "
            f"outcome not known yet?) and {'is' if n == 1 else 'are'} not {use}",
        )
    elif counts.get("unlabelled") or counts.get("labels_for_unknown_customers"):
        say(
            "Warning:",
            f"{counts.get('unlabelled', 0):,} customers have no label; "
            f"{counts.get('labels_for_unknown_customers', 0):,} labels name unknown customers",
        )
    if counts.get("label_rows_rejected"):
        say_label_rejects(counts["label_rows_rejected"], "label", use, counts.get("label_rejects"))
    if counts.get("label_values_blanked"):
        say_label_blanks(counts["label_values_blanked"], "label", counts.get("label_blanked"))


def _print_inferred(configs: Any) -> None:
    """The inferred layout of a flat table, a line per column."""
    schema = configs.schema
    console.print(f"Layout of {schema.shown} ({schema.rows:,} rows inspected):", highlight=False)
    for line in schema.summary_lines():
        console.print("  " + line, highlight=False, markup=False)
    if configs.as_of_column:
        column = next(c for c in schema.columns if c.name == configs.as_of_column)
        console.print(
            f"  dates are aged at the latest date of {column.header} (--as-of to set it)",
            highlight=False,
            markup=False,
        )


def print_bands(metrics: dict[str, Any], measured_on: str = "hold-out") -> None:
    """Lift and calibration by score band (riskiest first) of the rows ``measured_on``."""
    from custrisk.estimators.metrics import largest_calibration_gap

    lift = metrics.get("lift") or []
    worst = largest_calibration_gap(metrics.get("calibration") or [])
    if not lift:
        return
    table = Table(title=f"By score band ({measured_on})", title_justify="left")
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
    if worst is not None:
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
    labels = card.get("feature_labels") or {}

    headers = {c["name"]: c["header"] for c in (card.get("table") or {}).get("columns", [])}

    def named(code: str) -> str:
        label = (labels.get(code) or {}).get("zh") or headers.get(code)
        return f"{code} {label}" if label and label != code and "table" in card else code

    console.print(f"Features used ({len(used)}): {', '.join(named(c) for c in used)}")
    left_out = card.get("features_left_out") or {}
    if left_out:
        say(
            f"Left out, not in this data ({len(left_out)}):",
            "; ".join(f"{code} ({why})" for code, why in left_out.items()),
        )
    for key, title in (
        ("features_leaking", "Left out as a likely target leak"),
        ("features_suspect", "Kept, but suspiciously strong"),
    ):
        found = card.get(key) or {}
        if found:
            say(
                f"Warning: {title} ({len(found)}):",
                "; ".join(f"{named(code)} ({why})" for code, why in found.items()),
            )
    dropped = card.get("model", {}).get("selection", {}).get("dropped", {})
    if dropped:
        table = Table(title="Features dropped", title_justify="left")
        table.add_column("feature")
        table.add_column("why")
        for code, reason in dropped.items():
            table.add_row(named(code), str(reason))
        console.print(table)
    for warning in card.get("model", {}).get("sign_warnings", []) or []:
        say("Warning:", f"coefficient with the wrong sign: {warning}")
