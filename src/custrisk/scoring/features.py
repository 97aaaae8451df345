"""A model's inputs from a month's exports: the configs, the cleaned workspace and one
row of indicators per customer.

A trained model keeps its own copy of the indicator config (``indicators.yaml`` in the
model folder), so that scoring computes exactly the features the model was trained on."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custrisk.config._yaml import load_yaml_text
from custrisk.config.profiles import files_layout, folder_layout
from custrisk.config.resources import is_packaged_config
from custrisk.config.sources import CUSTOMER_SOURCE, SourcesConfig, load_sources_config
from custrisk.data import Workspace, load_labels, load_workspace
from custrisk.data._arrays import text_isin
from custrisk.data.labels import (
    label_faults,
    label_rejects_summary,
    require_labels,
    without_outcomes_known_at,
)
from custrisk.data.validation import ValidationReport, require_usable
from custrisk.errors import DataError, UsageError
from custrisk.indicators import (
    IndicatorConfig,
    IndicatorResult,
    columns_read,
    compute_indicators,
    load_indicator_config,
)
from custrisk.indicators.config import parse_indicator_config
from custrisk.io.excel import first_cells, split_sheet
from custrisk.io.memory import release_memory
from custrisk.io.plain import brief_repr, path_argument
from custrisk.io.sql import SQL_ENCODING
from custrisk.monitoring import DriftConfig
from custrisk.privacy import mask_pii_text, with_names_masked
from custrisk.registry import (
    LoadedModel,
    load_model,
    resolve_model,
)
from custrisk.registry.artifact import sha256_file
from custrisk.scoring.table import (
    check_exports_input,
    is_table_model,
    table_feature_headers,
    table_sources,
    table_target,
)

log = logging.getLogger(__name__)


INDICATORS_FILE = "indicators.yaml"
POINTS_FILE = "points.csv"
BINS_FILE = "bins.csv"
TRAINING_REJECTS_FILE = "training_rejects.csv"


@dataclass
class Features:
    """Model inputs of one workspace: one row per customer, indexed by customer_id."""

    __repr__ = brief_repr  # a notebook prints it: sizes, never the tables' cells

    workspace: Workspace
    config: IndicatorConfig
    X: pd.DataFrame
    as_of: dt.date
    unavailable: dict[str, str] = field(default_factory=dict)
    indicators: IndicatorResult | None = field(default=None, repr=False)


def load_configs(
    indicator_config: IndicatorConfig | str | os.PathLike[str] | None = None,
    sources_config: SourcesConfig | str | os.PathLike[str] | None = None,
) -> tuple[SourcesConfig, IndicatorConfig]:
    """The sources config and the indicator config checked against it (``None``: the
    packaged default of each).

    The one way train, score, evaluate and the monitoring commands load the pair, as
    ``custrisk indicators`` does: indicators may use every column the user's sources
    config declares.
    """
    sources = (
        sources_config
        if isinstance(sources_config, SourcesConfig)
        else load_sources_config(sources_config)
    )
    config = (
        indicator_config
        if isinstance(indicator_config, IndicatorConfig)
        else load_indicator_config(indicator_config, sources=sources)
    )
    return sources, config


def table_names(report: ValidationReport, sources: SourcesConfig) -> list[str]:
    """A flat table's file names (of its one source, the customers), whose month dates a
    table without dates (:func:`custrisk.indicators.compute_indicators`'s ``named``) and
    is checked against its dates; none for exports."""
    credit = report.sources.get(CUSTOMER_SOURCE)
    if credit is None or len(sources.sources) != 1:
        return []
    return [Path(f).name for f in credit.files]


def prepare_features(
    data_dir: str | os.PathLike[str],
    *,
    indicator_config: IndicatorConfig | str | os.PathLike[str] | None = None,
    sources_config: SourcesConfig | str | os.PathLike[str] | None = None,
    encoding: str | None = None,
    as_of: dt.date | str | None = None,
    keys: bool = True,
    loader: Callable[..., Workspace] | None = None,
) -> Features:
    """Load and clean the exports, then compute the indicators of every customer.

    An indicator that needs a source or a column the exports do not have is
    unavailable (``Features.unavailable`` says why), never computed over blanks.
    ``keys=False`` drops the event sources' key columns (txn_id, event_id) that no
    indicator reads from the workspace before the indicators are computed
    (:meth:`Workspace.without_keys`), for a caller that does not read them.

    ``loader`` reads and cleans the exports: :func:`custrisk.data.load_workspace` (the
    default) or a function with its signature, called as
    ``loader(data_dir, config=sources, encoding=encoding)`` with the loaded sources
    config, such as one that hands over the workspace of these exports loaded already
    (the monthly batch's validate stage's), so that they are not read again. The
    workspace it gives is checked (unusable data refused) as a loaded one is.
    """
    sources, config = load_configs(indicator_config, sources_config)
    workspace = (loader or load_workspace)(data_dir, config=sources, encoding=encoding)
    require_usable(workspace.report, workspace.config, workspace.rejects)
    if not keys:
        read = {name: columns_read(config, name) for name in workspace.frames}
        workspace = workspace.without_keys(keep=read)
        release_memory()  # Arrow's pool keeps what it freed until asked
    names = table_names(workspace.report, workspace.config)
    result = compute_indicators(workspace.present_frames(), config, as_of=as_of, named=names)
    X = result.frame.set_index("customer_id")
    return Features(workspace, config, X, result.as_of, dict(result.unavailable), result)


def labelled_features(
    features: Features,
    labels: str | os.PathLike[str] | pd.DataFrame,
    sources: SourcesConfig | None,
    *,
    outcomes_after_as_of: bool = False,
) -> tuple[pd.DataFrame, np.ndarray, pd.Series | None, dict[str, Any]]:
    """The labelled customers' features and outcomes; ``labels`` is a labels file or a
    frame with ``customer_id`` and ``bad`` (a flat table's target).
    ``outcomes_after_as_of`` leaves out the bad outcomes dated on or before the data's
    as-of date, and refuses a labels file of which they are most (an earlier export's)."""
    if isinstance(labels, pd.DataFrame):
        frame, _rejects = labels, pd.DataFrame()
    else:
        frame, _rejects = load_labels(labels, config=sources)
        require_labels(frame, _rejects, labels)
        if outcomes_after_as_of:
            frame = without_outcomes_known_at(frame, features.as_of, labels)
    frame = frame.drop_duplicates("customer_id", keep="first").set_index("customer_id")
    known = text_isin(frame.index, features.X.index)
    unknown = int((~known).sum())
    frame = frame[known]
    X = features.X.loc[text_isin(features.X.index, frame.index)]
    y = frame["bad"].reindex(X.index).astype(int).to_numpy()
    _rejects, blanked = label_faults(_rejects)
    rejected = int(_rejects["line"].nunique()) if len(_rejects) else 0
    counts: dict[str, Any] = {
        "customers": len(features.X),
        "labelled": len(X),
        "unlabelled": len(features.X) - len(X),
        "labels_for_unknown_customers": unknown,
        "label_rows_rejected": rejected,
    }
    if rejected:
        counts["label_rejects"] = label_rejects_summary(_rejects)
    if len(blanked):
        counts["label_values_blanked"] = len(blanked)
        counts["label_blanked"] = label_rejects_summary(blanked)
    if len(X) == 0:
        raise DataError(
            "no labelled customer: none of the label ids is in the credit table"
            + (
                f" ({rejected:,} label rows rejected: {counts['label_rejects']})"
                if rejected
                else ""
            ),
            file=_shown(labels),
            hint="check that the labels belong to this export",
        )
    if len(np.unique(y)) < 2:
        raise DataError(
            f"the labels of the {len(y):,} labelled customers hold only bad={int(y[0])}: "
            "a model is trained and judged (AUC, KS) on goods and bads",
            file=_shown(labels),
            hint="label the customers who went bad as 1 and the others 0, or take labels "
            "over a longer outcome window or more customers so that both outcomes occur",
        )
    dates = frame["label_date"].reindex(X.index) if "label_date" in frame else None
    return X, y, dates, counts


def _shown(labels: object) -> str:
    return "the target column" if isinstance(labels, pd.DataFrame) else str(labels)


def open_model(
    spec: str,
    models_dir: str | os.PathLike[str] | None = None,
    *,
    require_signed: bool | None = None,
    allow_unverified: bool = False,
    background: bool = False,
    predict_only: bool = False,
) -> LoadedModel:
    """Resolve, verify and load a model (path, NAME or NAME@VERSION).

    ``require_signed`` (default: ``CUSTRISK_REQUIRE_SIGNED``) refuses a model whose
    signature is not checked with ``CUSTRISK_SIGNING_KEY``; ``allow_unverified`` loads a
    signed model without the key (with a warning) instead of refusing it; ``background``
    unpickles it in a thread once it is verified; ``predict_only`` loads a scorecard
    without scikit-learn, for a caller that only scores (see
    :func:`custrisk.registry.load_model`).
    """
    return load_model(
        resolve_model(spec, models_dir),
        require_signed=require_signed,
        allow_unverified=allow_unverified,
        background=background,
        predict_only=predict_only,
    )


def as_loaded_model(
    model: LoadedModel | str,
    models_dir: str | os.PathLike[str] | None = None,
    *,
    require_signed: bool | None = None,
    allow_unverified: bool = False,
    background: bool = False,
    predict_only: bool = False,
) -> LoadedModel:
    """``model`` itself when it is loaded, else :func:`open_model` of it (verified)."""
    if isinstance(model, LoadedModel):
        return model
    return open_model(
        model,
        models_dir,
        require_signed=require_signed,
        allow_unverified=allow_unverified,
        background=background,
        predict_only=predict_only,
    )


def model_sources(
    model: LoadedModel,
    data: str | os.PathLike[str],
    sources_config: SourcesConfig | str | os.PathLike[str] | None = None,
) -> tuple[Path, SourcesConfig]:
    """Where ``model`` reads ``data`` from and with which sources config.

    A model trained on a flat table reads a table file with the layout saved in its
    folder (``sources_config`` does not apply); any other model reads a folder of
    exports with ``sources_config`` (``None``: the packaged default).
    """
    data = path_argument(data, "exports", hint="pass the folder of exports (or the table file)")
    if is_table_model(model):
        if sources_config is not None:
            raise UsageError(
                f"--sources does not apply to model {model.model_id}: it was trained on a flat "
                "table, whose layout is saved with the model",
                hint="leave --sources out",
            )
        return table_sources(model, data)
    check_exports_input(model, data)
    sources = (
        sources_config
        if isinstance(sources_config, SourcesConfig)
        else load_sources_config(sources_config)
    )
    check_exports_layout(model, data, sources)
    return Path(data), sources


def check_exports_layout(
    model: LoadedModel, data: str | os.PathLike[str], sources: SourcesConfig
) -> None:
    """Refuse exports of another layout than the model's (custrisk's CSV exports, or a
    profile's such as the CRM's) before the model's indicators are checked against
    them, which would blame the model's own ``indicators.yaml`` for the data's layout.

    The model's layout is that of the export files its card says it was trained on; the
    data's, that of the folder's files (as a profile is detected). Nothing is refused
    when either is of neither kind, or when ``sources`` is a config of the user's own
    (``--sources FILE``): it may map these exports to the model's columns.

    Raises
    ------
    UsageError
        The layouts differ: naming both, with the fix.
    """
    if not is_packaged_config(sources.path):
        return
    trained_on = model.card.get("training", {}).get("input_files_sha256") or {}
    trained = files_layout(name for name in trained_on if not name.startswith("labels:"))
    found = folder_layout(data, headers=first_cells)
    if trained is None or found is None or trained.same_as(found):
        return
    raise UsageError(
        f"model {model.model_id} was trained on {trained.describe()}; {data} holds "
        f"{found.describe()}, another layout",
        hint="pass exports of the model's layout, or --sources with a config that maps "
        "these exports to it",
    )


def model_labels(
    model: LoadedModel, features: Features, labels: str | os.PathLike[str] | None
) -> str | os.PathLike[str] | pd.DataFrame:
    """The labels to measure ``model`` with: the labels file, or for a model trained on a
    flat table without one, the table's own target column."""
    if labels is not None:
        return labels
    if is_table_model(model):
        return table_target(model, features.workspace.frames[CUSTOMER_SOURCE])
    raise UsageError(
        "--labels is required: a labels file (customer_id,bad) for these exports",
        hint="e.g. --labels labels.csv",
    )


def model_indicator_config(
    model: LoadedModel, sources_config: SourcesConfig | str | os.PathLike[str] | None = None
) -> IndicatorConfig:
    """The indicator config the model was trained with, parsed from the bytes verified
    when the model was loaded (the file is not read again), and checked against the
    sources config of the data it is applied to (``None``: the packaged default)."""
    sources = (
        sources_config
        if isinstance(sources_config, SourcesConfig)
        else load_sources_config(sources_config)
    )
    file = str(model.ref.path / INDICATORS_FILE)
    data = load_yaml_text(model.file_text(INDICATORS_FILE), file)
    return parse_indicator_config(data, sources=sources, file=file)


def prepare_model_features(
    model: LoadedModel,
    data_dir: str | os.PathLike[str],
    *,
    sources_config: SourcesConfig | str | os.PathLike[str] | None = None,
    encoding: str | None = None,
    as_of: dt.date | str | None = None,
    indicator_config: IndicatorConfig | None = None,
    keys: bool = True,
    loader: Callable[..., Workspace] | None = None,
) -> Features:
    """The features ``model`` needs, computed from the exports in ``data_dir`` with the
    indicator config the model was trained with (``indicator_config``, when the caller
    has it already from :func:`model_indicator_config`); ``keys`` and ``loader`` as in
    :func:`prepare_features`.

    Raises
    ------
    DataError
        When the data cannot give a feature the model scores with (its source or a
        column it needs is missing): the model's output would be silently wrong.
    """
    sources = (
        sources_config
        if isinstance(sources_config, SourcesConfig)
        else load_sources_config(sources_config)
    )
    features = prepare_features(
        data_dir,
        indicator_config=indicator_config or model_indicator_config(model, sources),
        sources_config=sources,
        encoding=encoding,
        as_of=as_of,
        keys=keys,
        loader=loader,
    )
    # (a table named by the file read, not by the folder it is in)
    files = features.workspace.report.sources[CUSTOMER_SOURCE].files
    shown = files[0] if is_table_model(model) and files else data_dir
    check_features_given(model, features.unavailable, shown)
    return features


#: A feature blank for every customer of data this large (and filled for most customers
#: in training) is an export fault, e.g. a column exported empty; in fewer customers an
#: empty indicator (no complaints, no satisfaction survey) can be the month's truth.
BLANK_FEATURE_MIN_ROWS = 20


def blank_features(model: LoadedModel, X: pd.DataFrame) -> list[str]:
    """The features ``model`` scores with that are blank in every row of ``X`` (none
    when ``X`` has no rows); a feature ``X`` does not have is not among them. The Dask
    engine finds them in each bucket: a feature blank in every bucket is blank in all."""
    if not len(X):
        return []
    return [
        code
        for code in model.card.get("features", [])
        if code in X.columns and not X[code].notna().any()
    ]


def check_features_filled(
    model: LoadedModel, X: pd.DataFrame, data: str | os.PathLike[str]
) -> None:
    """Refuse data in which a feature ``model`` scores with is blank for every customer
    while most of its training customers had a value (:func:`refuse_blank_features`)."""
    refuse_blank_features(model, blank_features(model, X), len(X), data)


def refuse_blank_features(
    model: LoadedModel, blank: Sequence[str], customers: int, data: str | os.PathLike[str]
) -> None:
    """Refuse data of ``customers`` customers for which the features ``blank`` (of
    :func:`blank_features`) are blank for every one, when most of the model's training
    customers had a value: scored, every customer would get the training's 'missing'
    bin, a silently wrong score (a column exported empty this month). Data of fewer than
    :data:`BLANK_FEATURE_MIN_ROWS` customers is not judged.

    Raises
    ------
    DataError
        Naming up to three of the blank features and how many had a value in training.
    """
    if customers < BLANK_FEATURE_MIN_ROWS:
        return
    reference = model.card.get("reference", {}).get("features", {})
    names = table_feature_headers(model) if is_table_model(model) else {}
    refused = []
    for code in blank:
        counts = reference.get(code, {}).get("counts") or []
        filled = sum(counts[:-1])  # the last bin counts the missing
        if counts and filled * 2 >= sum(counts):
            refused.append(f"{names.get(code, code)!r} ({filled:,} of {sum(counts):,} in training)")
    if not refused:
        return
    more = f" and {len(refused) - 3} more" if len(refused) > 3 else ""
    raise DataError(
        f"model {model.model_id} scores with feature(s) blank (or unreadable) for all "
        f"{customers:,} customers here but filled for most in training: "
        f"{', '.join(refused[:3])}{more}; scored, every customer would get the 'missing' bin",
        file=str(data),
        hint="the column came out empty or unreadable in this export ('custrisk validate' "
        "says which rows, 'custrisk drift' how it moved): export it again with its values",
    )


def check_features_given(
    model: LoadedModel, unavailable: Mapping[str, str], data: str | os.PathLike[str]
) -> None:
    """Refuse data that cannot give a feature ``model`` scores with (``unavailable``:
    the indicators that could not be computed, with why): its scores would be silently
    wrong. A flat table's features are named by the columns' headers.

    Raises
    ------
    DataError
        Naming up to three of the missing features and why.
    """
    lacking = [c for c in model.card.get("features", []) if c in unavailable]
    if not lacking:
        return
    more = f" and {len(lacking) - 3} more" if len(lacking) > 3 else ""
    if is_table_model(model):
        headers = table_feature_headers(model)
        shown = ", ".join(repr(headers.get(c, c)) for c in lacking[:3])
        raise DataError(
            f"model {model.model_id} scores with column(s) this table does not have: {shown}{more}",
            file=str(data),
            hint=f"score a table with the columns the model was trained on "
            f"(custrisk models show {model.model_id} lists them)",
        )
    reasons = "; ".join(f"{c}: {unavailable[c]}" for c in lacking[:3])
    raise DataError(
        f"model {model.model_id} needs feature(s) this data cannot give: {reasons}{more}",
        file=str(data),
        hint="apply the model to exports with the sources and columns it was trained on",
    )


def input_files_sha256(
    workspace: Workspace,
    data_dir: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None = None,
) -> dict[str, str]:
    """The SHA-256 of every file the workspace was read from (named relative to
    ``data_dir``; a workbook's sheet by the workbook's bytes) and of the labels file
    (``labels:NAME``): what a model card records of its training data, personal data in
    the names masked. A source read
    by a database query (``query:NAME``) has no file bytes to hash and is left out."""
    data_path = split_sheet(data_dir)[0]
    if data_path.is_file():  # (a flat table: named by its name)
        data_path = data_path.parent
    hashes = {}
    for source in workspace.report.sources.values():
        for file_name, encoding in zip(source.files, source.encodings, strict=False):
            if encoding == SQL_ENCODING:
                continue
            path = Path(file_name)
            shown = path.relative_to(data_path) if path.is_relative_to(data_path) else path
            hashes[str(shown)] = sha256_file(split_sheet(path)[0])
    if labels is not None:
        hashes[f"labels:{Path(labels).name}"] = sha256_file(Path(labels))
    return with_names_masked(hashes)  # (王小明_138****5678.xlsx: a card holds no phone)


def in_sample_files(
    model: LoadedModel,
    features: Features,
    data_dir: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None,
) -> list[str]:
    """The files of outcomes given that ``model`` was trained on: the same labels file,
    or for a flat table the same table (by SHA-256). Metrics measured on them are
    in-sample and flatter the model."""
    trained = set(((model.card.get("training") or {}).get("input_files_sha256") or {}).values())
    if not trained:
        return []
    if is_table_model(model):
        given = input_files_sha256(features.workspace, data_dir)
    elif labels is not None:
        given = {mask_pii_text(Path(labels).name): sha256_file(Path(labels))}
    else:
        return []
    return [name for name, digest in given.items() if digest in trained]


def in_sample_note(files: Sequence[str], model_ids: Sequence[str]) -> str:
    """The warning for metrics measured on the outcomes of a model's training data."""
    models = " and ".join(model_ids)
    were = "were" if len(model_ids) > 1 else "was"
    return (
        f"{', '.join(dict.fromkeys(files))}: the outcomes {models} {were} trained on; "
        "measured on them a model looks better than it is (in-sample). The training "
        "hold-out metrics are the honest figure: measure on customers and outcomes the "
        "model has not seen"
    )


def too_few_note(minimum: DriftConfig, y: Any, what: str) -> str | None:
    """A note when the labels ``y`` hold fewer bads or goods than drift.yaml's
    ``minimum.bads`` (:meth:`DriftConfig.too_few_labels`, the rule ``custrisk drift``
    judges by): ``what`` (``"the metrics are"``) too uncertain to act on either way."""
    bads = int(np.asarray(y).sum())
    shortfall = minimum.too_few_labels(bads, len(y) - bads)
    if shortfall is None:
        return None
    return f"{shortfall}: {what} too uncertain to act on either way"
