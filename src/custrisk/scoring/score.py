"""Applying a model to a month's features: PD, score, reasons, and the per-customer
details that reports read."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from custrisk.config._yaml import join_limited
from custrisk.config.sources import SourcesConfig
from custrisk.data import Workspace
from custrisk.errors import DataError, UsageError
from custrisk.estimators.scored import ScoredTable
from custrisk.expr import to_text
from custrisk.indicators import IndicatorConfig
from custrisk.io.plain import counted
from custrisk.io.sql import query_facts
from custrisk.registry import (
    LoadedModel,
)
from custrisk.results import CREDIT_DETAIL_COLUMNS, INDICATOR_PREFIX
from custrisk.review.followups import BEHAVIOUR_SOURCE, preferred_channels
from custrisk.scoring.features import (
    Features,
    as_loaded_model,
    check_features_filled,
    prepare_model_features,
)
from custrisk.scoring.table import TABLE_CARD_KEY
from custrisk.scoring.unseen import unseen_categories
from custrisk.vocab import check_language

log = logging.getLogger(__name__)


PD_DECIMALS = 6


@dataclass
class ScoreResult:
    """The scores table, the per-customer details reports need, and the run's facts."""

    frame: pd.DataFrame
    details: pd.DataFrame
    run: dict[str, Any]
    features: Features
    model_id: str
    #: The preferred channel of each customer, when the scorer found it (the pandas
    #: engine before it lets the events go, the Dask engine bucket by bucket, where the
    #: behaviour events are); else the follow-up plan finds it from the workspace's
    #: behaviour events.
    channels: pd.Series | None = None


def score_features(
    model: LoadedModel, X: pd.DataFrame, *, as_of: dt.date, lang: str = "zh", top: int | None = None
) -> pd.DataFrame:
    """The scores table for feature rows ``X`` (indexed by customer_id)."""
    return _score(model, X, as_of=as_of, lang=lang, top=top)[0]


def _score(
    model: LoadedModel, X: pd.DataFrame, *, as_of: dt.date, lang: str, top: int | None
) -> tuple[pd.DataFrame, ScoredTable]:
    """The scores table and the one-pass scoring it was built from."""
    check_language(lang)
    estimator = model.model
    top = top or int(model.card.get("reasons_top", 3))
    missing = [c for c in model.card["candidate_features"] if c not in X.columns]
    if missing:
        raise DataError(
            f"the data lacks features the model needs: {', '.join(missing)}",
            hint="score exports with the same sources as the training data",
        )
    scored = estimator.score_table(X[list(model.card["candidate_features"])], top=top)
    columns: dict[str, Any] = {
        "customer_id": X.index.astype(str),
        "as_of": as_of.isoformat(),
        "pd": np.round(scored.pd, PD_DECIMALS),
        "score": scored.score.astype(np.int64, copy=False),
    }
    for rank in range(1, top + 1):
        columns[f"reason_{rank}_code"] = scored.reason_codes(rank)
        columns[f"reason_{rank}_label"] = scored.reason_labels(rank, lang)
    columns["model_id"] = model.model_id
    return pd.DataFrame(columns), scored


def _reason_details(table: pd.DataFrame, scored: ScoredTable) -> pd.DataFrame:
    """customer_id and, per rank, the reason's code, value (as text) and impact."""
    columns: dict[str, Any] = {"customer_id": table["customer_id"]}
    for rank in range(1, scored.top + 1):
        columns[f"reason_{rank}_code"] = table[f"reason_{rank}_code"]
        columns[f"reason_{rank}_value"] = scored.reason_text_column(rank)
        columns[f"reason_{rank}_impact"] = scored.reason_impacts(rank)
    return pd.DataFrame(columns)


def _customer_details(features: Features, reasons: pd.DataFrame) -> pd.DataFrame:
    """Masked identity, credit fields, every indicator and the ``reasons`` details
    (:func:`_reason_details`, rows in the order of ``features.X``), per customer (for
    reports).

    Built once, column by column: a merge of two frames on the customer id copied every
    column again, and the credit table is reindexed for the columns shown only."""
    from custrisk.privacy import mask_id_number, mask_name, mask_phone

    maskers = {"name": mask_name, "phone": mask_phone, "id_number": mask_id_number}
    credit = features.workspace.frames["credit"].set_index("customer_id")
    shown = [c for c in (*maskers, *CREDIT_DETAIL_COLUMNS) if c in credit]
    credit = credit.loc[:, shown].reindex(features.X.index)
    index = features.X.index
    out: dict[str, Any] = {}
    # Series on the index of the frame, kept as they are: a text column through NumPy
    # objects was made into Arrow text again (0.1 s at 200,000 customers)
    for column, masker in maskers.items():
        if column in credit:
            out[f"{column}_masked"] = masker(credit[column]).set_axis(index)
    for column in CREDIT_DETAIL_COLUMNS:
        if column in credit:
            values = credit[column].set_axis(index)
            # a category (region, industry) as its text, as the details file holds it
            # (expanded from the codes by Arrow, not a Python text per customer)
            if isinstance(values.dtype, pd.CategoricalDtype):
                text = to_text(values)
                assert isinstance(text, pd.Series)
                values = text.set_axis(index)
            out[column] = values
        elif column in features.X:
            # An indicator standing for the credit field (a CRM's overdue amount comes
            # from its collection plans): reports show it where they show the field.
            out[column] = features.X[column]
    del credit
    for code in features.X.columns:
        values = features.X[code]
        # a text indicator (region, industry) as the Arrow text it is: through NumPy
        # objects, the frame made it Arrow text again
        arrow = isinstance(values.dtype, pd.StringDtype)
        out[f"{INDICATOR_PREFIX}{code}"] = values.array if arrow else values.to_numpy()
    for column in reasons.columns.drop("customer_id"):
        out[column] = reasons[column].set_axis(index)
    # one frame from all the columns (inserting 50 columns one at a time took a tenth
    # of a second at 200,000 customers), each kept as it is, as the inserts kept them:
    # the default copies all of them into one block (60 MB more at the peak of 200k)
    return pd.DataFrame(out, index=index, copy=False).reset_index(names="customer_id")


def score_data(
    data_dir: str | os.PathLike[str],
    model: LoadedModel,
    *,
    sources_config: SourcesConfig | str | os.PathLike[str] | None = None,
    encoding: str | None = None,
    as_of: dt.date | str | None = None,
    lang: str = "zh",
    indicator_config: IndicatorConfig | None = None,
    details_columns: Sequence[str] | None = None,
    loader: Callable[..., Workspace] | None = None,
) -> ScoreResult:
    """Score every customer of the exports in ``data_dir`` with a loaded model.

    ``details_columns`` names the details columns the caller reads (the policy, the
    alerts and the follow-up plan); this engine returns them all all the same (the
    Dask engine writing its details as parts returns those only). ``loader`` reads and
    cleans the exports (default :func:`custrisk.data.load_workspace`; see
    :func:`custrisk.scoring.prepare_features`).

    Returns the scores table, a details table (masked identity, credit fields, every
    indicator, reason values and impacts), the run's facts for reports and the
    customers' preferred channels. The workspace of its features keeps the customer
    table only: the events (millions of transactions) are let go once the indicators
    and the preferred channels are found from them, before the details are built.
    """
    del details_columns  # one process holds every column anyway
    features = prepare_model_features(
        model,
        data_dir,
        sources_config=sources_config,
        encoding=encoding,
        as_of=as_of,
        indicator_config=indicator_config,
        keys=False,  # nothing here reads the transaction and event ids
        loader=loader,
    )
    # (drift reports such a column, as the move it is, rather than refuse it)
    check_features_filled(model, features.X, data_dir)
    workspace = features.workspace
    # The preferred channels found from the behaviour events in a thread while the
    # customers are scored (sorts and lookups without the GIL beside the details' text)
    with ThreadPoolExecutor(1, thread_name_prefix="custrisk-channels") as pool:
        channels = pool.submit(
            preferred_channels, workspace.frames.get(BEHAVIOUR_SOURCE), features.as_of
        )
        features = replace(features, workspace=workspace.customers_only())
        del workspace
        result = score_prepared(model, features, lang=lang)
        result.channels = channels.result()
    return with_query_facts(result)


def with_query_facts(result: ScoreResult) -> ScoreResult:
    """``result`` with its facts naming the queries its sources were read by (the hash
    of each one's text, the month bound to its parameters), when any was."""
    queried = query_facts(result.features.workspace.config.sources)
    if queried:
        result.run["queries"] = queried
    return result


def score_prepared(model: LoadedModel, features: Features, *, lang: str = "zh") -> ScoreResult:
    """Score customers whose features are computed already (the exports of a month, or
    the records of a request to ``custrisk serve``): the one place both go through."""
    config = features.config
    table, scored = _score(model, features.X, as_of=features.as_of, lang=lang, top=None)
    details = _customer_details(features, _reason_details(table, scored))
    card = model.card
    # A flat table's indicators say no direction; its model card has the ones learnt
    # from the data (the reports flag a customer's riskiest values by them).
    learnt = card.get("feature_labels") or {} if card.get(TABLE_CARD_KEY) else {}
    run = {
        "model_id": model.model_id,
        "algorithm": card.get("algorithm"),
        "as_of": features.as_of.isoformat(),
        "customers": len(table),
        "rows_rejected": features.workspace.report.rows_rejected,
        "model_metrics": card.get("metrics", {}).get("holdout"),
        "model_training": {
            k: card.get("training", {}).get(k) for k in ("as_of", "rows", "bad_rate")
        },
        "scaling": (card.get("model") or {}).get("scaling"),
        "unavailable_indicators": features.unavailable,
        "indicators": {
            i.code: {
                "zh": i.label_zh,
                "en": i.label_en,
                "unit": i.unit,
                "direction": (learnt.get(i.code) or {}).get("direction", i.direction),
                "in_model": i.code in card.get("features", []),
            }
            for i in config.indicators
            if i.output
        },
    }
    unseen = unseen_categories(model, features.X)
    if unseen:  # (categories the model never saw: said by the CLI as a note)
        run["unseen_categories"] = unseen
    return ScoreResult(table, details, run, features, model.model_id)


def score_customer(
    model: LoadedModel | str,
    values: Mapping[str, Any] | pd.Series,
    *,
    top: int | None = None,
    models_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """PD, score and reasons of one customer from a dict of indicator values.

    ``model`` is a loaded model or a name (``retail@1``) or folder, opened (verified)
    from ``models_dir`` as :func:`open_model` does; ``values`` a dict of indicator code
    to value or a row of :func:`prepare_features`' ``X`` (a pandas Series). Fast
    (microseconds after loading): no DataFrame is built.
    """
    loaded = as_loaded_model(model, models_dir, predict_only=True)
    if isinstance(values, pd.Series):
        values = {str(code): value for code, value in values.items()}
    if not isinstance(values, Mapping):
        raise UsageError(
            f"values must be a dict of indicator code -> value; got {type(values).__name__}",
            hint="pass a dict, or a row of prepare_features(...).X (X.loc[customer_id])",
        )
    features = [str(code) for code in loaded.card.get("features", [])]
    absent = [code for code in features if code not in values]
    if absent:
        unknown = [str(key) for key in values if key not in set(features)]
        raise DataError(
            f"values lacks {counted(len(absent), 'feature')} the model uses: "
            f"{join_limited(absent)}"
            + (f"; it has keys the model does not use: {join_limited(unknown)}" if unknown else ""),
            hint="pass None for a missing value",
        )
    return dict(loaded.model.score_one(values, top=top or int(loaded.card.get("reasons_top", 3))))
