"""Drift checks: PSI of the score and PD, CSI of each feature, performance decay.

New data is put into the bins stored in the model card at training (see
:mod:`custrisk.monitoring.reference`), bin for bin, including the "other" bin of
categorical features and the "missing" bin of every variable, and compared with the
training counts:

``PSI = sum over bins of (a_i - e_i) * ln(a_i / e_i)``

with ``e_i`` and ``a_i`` the expected (training) and actual (new) shares of bin ``i``.
**Empty bins** are smoothed with a share floor: ``share = max(count / total, epsilon)``
(``epsilon`` = 1e-4 by default, ``epsilon`` in drift.yaml), so PSI is always finite; a
bin empty on both sides contributes 0. The bin tables report the raw shares and the
contribution of each bin after smoothing. "CSI" is the same statistic on a feature.

With labels, performance decay is measured against the model card's hold-out metrics:
the absolute drop in AUC and KS, the relative change of the bad rate against the
training bad rate, and calibration as the observed bad rate over the mean PD
(``O/E - 1``), with a per-decile calibration table.

**Verdicts.** Each statistic is ``stable`` (below ``warn``), ``warn`` (from ``warn``),
``alert`` (from ``alert``) or ``insufficient`` (too few rows for PSI/CSI, too few bads or
goods for a performance statistic by :meth:`DriftConfig.too_few_labels`, or no reference
value: the statistic is not trusted either way). Thresholds come from
``configs/drift.yaml`` (0.10/0.25 for PSI and CSI by default).

**Failing a check** (``fail_on``, the CLI's ``--fail-on``): ``alert`` (default) fails on
any alert, ``warn`` on any warn or alert, ``never`` never fails. An ``insufficient``
statistic fails the check too (whatever ``fail_on`` is, except ``never``) unless
``allow_insufficient`` is set: a gate that could not look must not pass silently. The
overall verdict is the worst one, in the order stable < warn < insufficient < alert.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from custrisk.config._yaml import join_limited, load_yaml_text
from custrisk.data.infer_values import cut_text
from custrisk.errors import ConfigError, DataError, ModelArtifactError
from custrisk.estimators.metrics import auc, calibration_table, ks
from custrisk.monitoring.config import (
    INSUFFICIENT,
    DriftConfig,
    Thresholds,
    load_drift_config,
)
from custrisk.monitoring.psi import psi
from custrisk.monitoring.reference import OTHER, Reference, reference_from_dict
from custrisk.monitoring.report import NO_BASELINE, BinRow, DriftReport, Statistic
from custrisk.privacy import mask_pii_text
from custrisk.vocab import PERCENT_UNIT, check_language

if TYPE_CHECKING:
    from custrisk.registry import LoadedModel

log = logging.getLogger(__name__)


def _insufficient_rows(n_new: int, n_ref: int, minimum: int) -> str | None:
    if n_new < minimum:
        return f"{n_new:,} rows in the new data, below minimum.rows {minimum:,}"
    if n_ref < minimum:
        return f"{n_ref:,} rows in the reference, below minimum.rows {minimum:,}"
    return None


def _bin_counts(name: str, reference: Reference, values: Any) -> np.ndarray:
    try:
        return reference.bin_counts(values)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{name}: the new values do not fit the model's {reference.kind} reference bins "
            f"({exc})",
            hint="compute the indicators with the model's own indicators.yaml",
        ) from None


#: New categories named in the label of a feature's "other" bin, the most frequent first
SHOWN_NEW_VALUES = 3


def _other_label(new_values: Mapping[str, int] | None) -> str:
    """The "other" bin's label naming the categories new since training that it holds
    (``other (new: 成都, 重庆)``), their personal data masked as in every output."""
    if not new_values:
        return OTHER
    ranked = sorted(new_values.items(), key=lambda item: (-item[1], item[0]))
    shown = join_limited((cut_text(mask_pii_text(v)) for v, _ in ranked), SHOWN_NEW_VALUES)
    return f"{OTHER} (new: {shown})"


def _distribution_stat(
    *,
    group: str,
    name: str,
    metric: str,
    reference: Reference,
    actual: np.ndarray,
    thresholds: Thresholds,
    config: DriftConfig,
    in_model: bool | None = None,
    label: str = "",
    coded: bool = False,
    new_values: Mapping[str, int] | None = None,
) -> Statistic:
    expected = np.asarray(reference.counts, dtype=np.int64)
    n_new, n_ref = int(actual.sum()), int(expected.sum())
    value: float | None = None
    contributions: list[float | None] = [None] * len(expected)
    if n_new and n_ref:
        result = psi(expected, actual, config.epsilon)
        value = result.value
        contributions = [float(c) for c in result.contributions]
    other = _other_label(new_values)
    bins = tuple(
        BinRow(
            label=other if bin_label == OTHER and reference.kind == "categorical" else bin_label,
            expected_count=int(e),
            expected_share=float(e / n_ref) if n_ref else 0.0,
            actual_count=int(a),
            actual_share=float(a / n_new) if n_new else 0.0,
            contribution=c,
        )
        for bin_label, e, a, c in zip(
            reference.labels, expected, actual, contributions, strict=True
        )
    )
    stat_id = f"{metric}:{name}"
    shown = metric.upper()
    short = _insufficient_rows(n_new, n_ref, config.min_rows)
    if short is not None or value is None:
        reason = short or "no rows to compare"
        computed = f"; {shown} {value:.4f} not judged" if value is not None else ""
        return Statistic(
            stat_id,
            group,
            name,
            metric,
            value,
            INSUFFICIENT,
            thresholds,
            reason + computed,
            in_model=in_model,
            bins=bins,
            label=label,
            coded=coded,
        )
    top = max(bins, key=lambda b: b.contribution or 0.0)
    message = (
        f"{shown} {value:.4f}; largest shift {top.label}: "
        f"{top.expected_share:.1%} -> {top.actual_share:.1%}"
    )
    return Statistic(
        stat_id,
        group,
        name,
        metric,
        value,
        thresholds.verdict(value),
        thresholds,
        message,
        in_model=in_model,
        bins=bins,
        severity=value / thresholds.alert if thresholds.alert else 0.0,
        label=label,
        coded=coded,
    )


def _reference(model: LoadedModel) -> Mapping[str, Any]:
    """The reference distributions of ``model``'s card, every one checked: a damaged
    baseline is an artifact error (exit 2), never a drift verdict or a crash."""
    stored = model.card.get("reference")
    if (
        not isinstance(stored, Mapping)
        or not isinstance(stored.get("score"), Mapping)
        or not isinstance(stored.get("features"), Mapping)
    ):
        raise ModelArtifactError(
            f"model {model.model_id} has no reference distributions in its model card",
            hint="retrain it with this custrisk version (custrisk train) to check drift",
        )
    entries = [("score", stored["score"])]
    if "pd" in stored:
        entries.append(("pd", stored["pd"]))
    entries += [(f"features.{code}", data) for code, data in stored["features"].items()]
    problem = None
    for key, data in entries:
        try:
            reference_from_dict(data)
        except ValueError as exc:
            problem = f"reference.{key}: {exc}"
            break
    rows = stored.get("rows", 0)
    if problem is None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 0):
        problem = f"reference.rows is {rows!r}, not a number of rows"
    if problem is not None:
        raise ModelArtifactError(
            f"{model.ref.path / 'model.json'}: the drift baseline of model {model.model_id} "
            f"is damaged ({problem}); the check cannot compare against it",
            hint="restore the model folder from a backup or retrain the model (custrisk "
            "train); sign models (CUSTRISK_SIGNING_KEY) so that an edited card is refused "
            "when it is loaded",
        )
    return stored


def _labels_for(labels: pd.Series, index: pd.Index) -> tuple[pd.Series, dict[str, Any]]:
    source = labels.attrs.get("file")
    values = pd.to_numeric(pd.Series(labels, copy=False), errors="coerce")
    if bool(values.isna().any()) or not values.isin((0, 1)).all():
        bad = labels[values.isna() | ~values.isin((0, 1))]
        raise DataError(
            f"labels must be 0/1 bad flags without missing values, got {bad.iloc[0]!r} for "
            f"customer {bad.index[0]!r}",
            file=source,
        )
    flags = pd.Series(values.to_numpy(dtype=np.int8), index=labels.index.astype(str))
    flags = flags[~flags.index.duplicated(keep="first")]
    known = flags.index.isin(index)
    if not known.any():
        raise DataError(
            f"none of the {len(flags):,} labelled customers is among the data's "
            f"{len(index):,} customers",
            file=source,
            hint="check that the labels belong to this export",
        )
    aligned = flags[known]
    info = {
        "labelled": len(aligned),
        "bads": int(aligned.sum()),
        "labels_for_unknown_customers": int((~known).sum()),
    }
    return aligned, info


def _performance_baseline(model: LoadedModel) -> None:
    """The card's figures the performance statistics compare with (hold-out AUC and KS,
    training bad rate), when present, are numbers: a damaged one is an artifact error
    (exit 2), not a crash."""
    card = model.card
    problem = None
    metrics, training = card.get("metrics"), card.get("training")
    holdout = metrics.get("holdout") if isinstance(metrics, Mapping) else None
    for key, value in (("metrics", metrics), ("metrics.holdout", holdout), ("training", training)):
        if value is not None and not isinstance(value, Mapping):
            problem = f"{key} is {type(value).__name__}, not a table"
            break
    checked = [(f"metrics.holdout.{k}", (holdout or {}).get(k)) for k in ("auc", "ks")]
    checked.append(("training.bad_rate", (training or {}).get("bad_rate")))
    for key, value in checked if problem is None else ():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if value is not None and not (number and 0 <= float(value) <= 1):
            problem = f"{key} is {value!r}, not a number from 0 to 1"
            break
    if problem is not None:
        raise ModelArtifactError(
            f"{model.ref.path / 'model.json'}: the performance baseline of model "
            f"{model.model_id} is damaged ({problem}); the check cannot compare against it",
            hint="restore the model folder from a backup or retrain the model (custrisk "
            "train), or leave out --labels to check the distributions only",
        )


def _performance_stats(
    card: Mapping[str, Any],
    y: np.ndarray,
    pd_bad: np.ndarray,
    config: DriftConfig,
) -> list[Statistic]:
    holdout = (card.get("metrics") or {}).get("holdout") or {}
    n = int(y.size)
    n_bad = int(y.sum())
    n_good = n - n_bad
    both = n_bad > 0 and n_good > 0
    too_few = config.too_few_labels(n_bad, n_good)
    stats: list[Statistic] = []
    for metric, name, shown, fn, thresholds in (
        ("auc_drop", "auc", "AUC", auc, config.auc_drop),
        ("ks_drop", "ks", "KS", ks, config.ks_drop),
    ):
        current = float(fn(y, pd_bad)) if both else None
        reference = holdout.get(name)
        reason = too_few
        if reason is None and reference is None:
            reason = f"{NO_BASELINE} hold-out {shown}"
        if reason is not None or current is None or reference is None:
            stats.append(
                Statistic(
                    name,
                    "performance",
                    name,
                    metric,
                    None,
                    INSUFFICIENT,
                    thresholds,
                    reason or "not computable",
                    current=current,
                    reference=reference,
                )
            )
            continue
        drop = float(reference) - current
        stats.append(
            Statistic(
                name,
                "performance",
                name,
                metric,
                drop,
                thresholds.verdict(drop),
                thresholds,
                f"{shown} {current:.3f} vs hold-out {float(reference):.3f}: drop {drop:+.3f}",
                current=current,
                reference=float(reference),
                severity=drop / thresholds.alert if thresholds.alert else 0.0,
            )
        )
    training_rate = (card.get("training") or {}).get("bad_rate")
    rate = float(y.mean()) if n else None
    if not training_rate:
        reason = f"{NO_BASELINE} training bad rate"
    else:  # a rate far below (or above) the training rate's forecast is a finding
        forecast = n * float(training_rate)
        reason = config.too_few_labels(
            max(n_bad, forecast),
            max(n_good, n - forecast),
            counted="labelled or expected at the training rate",
        )
    if reason is not None or rate is None or not training_rate:
        stats.append(
            Statistic(
                "bad_rate",
                "performance",
                "bad_rate",
                "bad_rate_change",
                None,
                INSUFFICIENT,
                config.bad_rate_change,
                reason or "no labelled customer",
                current=rate,
                reference=training_rate,
            )
        )
    else:
        change = rate / float(training_rate) - 1.0
        stats.append(
            Statistic(
                "bad_rate",
                "performance",
                "bad_rate",
                "bad_rate_change",
                change,
                config.bad_rate_change.verdict(abs(change)),
                config.bad_rate_change,
                f"bad rate {rate:.2%} vs training {float(training_rate):.2%} ({change:+.0%})",
                current=rate,
                reference=float(training_rate),
                severity=abs(change) / config.bad_rate_change.alert
                if config.bad_rate_change.alert
                else 0.0,
            )
        )
    stats.append(_calibration_stat(holdout, y, pd_bad, config))
    return stats


def _holdout_error(holdout: Mapping[str, Any]) -> float | None:
    """Observed over expected bads minus 1 on the training hold-out, if the card says."""
    table = holdout.get("calibration") or []
    try:
        count = sum(float(r["count"]) for r in table)
        expected = sum(float(r["count"]) * float(r["mean_pd"]) for r in table)
        observed = sum(float(r["bads"]) for r in table)
    except (KeyError, TypeError, ValueError):
        return None
    if not count or not expected:
        return None
    return observed / expected - 1.0


def _calibration_stat(
    holdout: Mapping[str, Any],
    y: np.ndarray,
    pd_bad: np.ndarray,
    config: DriftConfig,
) -> Statistic:
    thresholds = config.calibration_error
    reference = _holdout_error(holdout)
    n = int(y.size)
    expected = float(pd_bad.mean()) if n else 0.0
    observed = float(y.mean()) if n else 0.0
    table: tuple[dict[str, Any], ...] = ()
    if n and 0 < int(y.sum()) < n:
        frame = calibration_table(y, pd_bad, config.calibration_bins)
        table = tuple(
            {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")
        )
    forecast = float(pd_bad.sum()) if n else 0.0  # the bads the model's PDs forecast
    n_bad = int(y.sum())
    too_few = config.too_few_labels(
        max(n_bad, forecast),
        max(n - n_bad, n - forecast),
        counted="labelled or expected by the PDs",
    )
    if too_few or expected <= 0:
        return Statistic(
            "calibration",
            "performance",
            "calibration",
            "calibration_error",
            None,
            INSUFFICIENT,
            thresholds,
            too_few or "the mean PD is 0",
            current=None,
            reference=reference,
            table=table,
        )
    error = observed / expected - 1.0
    return Statistic(
        "calibration",
        "performance",
        "calibration",
        "calibration_error",
        error,
        thresholds.verdict(abs(error)),
        thresholds,
        f"observed bad rate {observed:.2%} vs mean PD {expected:.2%} "
        f"(O/E {observed / expected:.2f})",
        current=error,
        reference=reference,
        table=table,
        severity=abs(error) / thresholds.alert if thresholds.alert else 0.0,
    )


@dataclass(frozen=True)
class DriftCounts:
    """New data in a model's reference bins: the rows, each checked variable's bin counts
    (``score``, ``pd`` and the feature codes, in the report's order) and the PD of each
    row (``pd_bad``, with its customer ``index``). Counts add up across parts of the data
    (:meth:`merge`), so a drift check can be computed part by part and reduced (the Dask
    engine does, see docs/scale.md)."""

    rows: int
    counts: dict[str, np.ndarray]
    pd_bad: np.ndarray
    index: pd.Index
    #: categories a feature's reference did not see at training, and their rows
    new_values: dict[str, dict[str, int]] = field(default_factory=dict)

    def __sizeof__(self) -> int:
        """Its bytes (the PDs and ids of every row): what ``dask.sizeof`` counts for a
        bucket's counts a worker holds."""
        bins = sum(c.nbytes for c in self.counts.values())
        ids = int(self.index.memory_usage(deep=True))
        return object.__sizeof__(self) + bins + self.pd_bad.nbytes + ids

    @staticmethod
    def merge(parts: list[DriftCounts], order: np.ndarray | None = None) -> DriftCounts:
        """The counts of ``parts`` together: bin counts summed, PDs and index concatenated
        (then taken in ``order``, positions into the concatenation, when given)."""
        if not parts:
            raise ValueError("merge needs at least one part")
        counts: dict[str, np.ndarray] = {
            key: np.asarray(np.sum([part.counts[key] for part in parts], axis=0, dtype=np.int64))
            for key in parts[0].counts
        }
        pd_all = np.concatenate([part.pd_bad for part in parts])
        index = parts[0].index.append([part.index for part in parts[1:]])
        if order is not None:
            pd_all, index = pd_all[order], index[order]
        new_values: dict[str, dict[str, int]] = {}
        for part in parts:
            for key, found in part.new_values.items():
                merged = new_values.setdefault(key, {})
                for value, rows in found.items():
                    merged[value] = merged.get(value, 0) + rows
        return DriftCounts(sum(part.rows for part in parts), counts, pd_all, index, new_values)


def _shares(model: LoadedModel) -> set[str]:
    """The features read from percentages (unit ``share``), the model's and the candidates
    its ``indicators.yaml`` declares: their bins are shown in percents, as the data, the
    points and the bins tables show them."""
    specs = (model.card.get("model") or {}).get("specs") or {}
    units = {
        str(code): spec.get("unit")
        for code, spec in (specs.items() if isinstance(specs, Mapping) else ())
        if isinstance(spec, Mapping)
    }
    try:  # (the verified bytes of the model folder; a model without one has no more)
        text = model.file_text("indicators.yaml")
        declared = (load_yaml_text(text, model.ref.path / "indicators.yaml") or {}).get(
            "indicators"
        )
    except (ModelArtifactError, ConfigError, AttributeError):
        declared = None
    if isinstance(declared, Mapping):
        for code, entry in declared.items():
            if isinstance(entry, Mapping):
                units.setdefault(str(code), entry.get("unit"))
    return {code for code, unit in units.items() if unit == PERCENT_UNIT}


def _stored_reference(data: Mapping[str, Any], *, percent: bool) -> Reference:
    """A reference of the card, its bins labelled in percents for a share (:func:`_shares`)."""
    reference = reference_from_dict(dict(data))
    return reference.in_percent() if percent else reference


def _feature_label(card: Mapping[str, Any], code: str, lang: str = "zh") -> str:
    """The card's label of a feature in ``lang`` (else in the other language; a flat
    table's are its column headers), or ``""`` when it has none or it says no more than
    the code."""
    info = (card.get("feature_labels") or {}).get(code) or {}
    other = "en" if lang == "zh" else "zh"
    label = str(info.get(lang) or info.get(other) or "").strip()
    return "" if label == code else label


def _checked(
    card: Mapping[str, Any], stored: Mapping[str, Any], config: DriftConfig
) -> list[tuple[str, str, str, Mapping[str, Any], Thresholds, bool | None]]:
    """What a check compares, in its order: (key, group, metric, stored reference,
    thresholds, in the model) for the score, the PD and each feature in scope."""
    checked: list[tuple[str, str, str, Mapping[str, Any], Thresholds, bool | None]] = [
        (name, "score", "psi", stored[name], config.psi, None)
        # The score's reference is always stored; the PD's in cards that have it.
        for name in ("score", "pd")
        if name == "score" or isinstance(stored.get(name), Mapping)
    ]
    used = {str(c) for c in card.get("features", [])}
    for code, data in stored["features"].items():
        if code in config.csi_exclude or (config.csi_scope == "model" and code not in used):
            continue
        checked.append((str(code), "feature", "csi", data, config.csi, code in used))
    return checked


def count_drift(
    model: LoadedModel, features: pd.DataFrame, config: DriftConfig | None = None
) -> DriftCounts:
    """The new data's counts in the reference bins of ``model`` (score, PD, each feature
    in scope) and its PDs: the part of :func:`check_drift` that reads the rows.

    Raises
    ------
    ModelArtifactError
        When the card has no reference distributions.
    DataError
        When the data lacks features the model needs or values do not fit their bins.
    """
    config = config if config is not None else load_drift_config()
    card = model.card
    stored = _reference(model)
    X = features
    needed = [str(c) for c in card.get("candidate_features", card.get("features", []))]
    missing = [c for c in needed if c not in X.columns]
    if missing:
        raise DataError(
            f"the data lacks {len(missing)} features model {model.model_id} needs: "
            f"{join_limited(missing)}",
            hint="compute the indicators with the model's indicators.yaml and the same sources",
        )
    inputs = X[needed]
    if len(inputs):
        pd_new = np.asarray(model.model.predict_pd(inputs), dtype=np.float64)
        score_new = np.asarray(model.model.predict_score(inputs), dtype=np.float64)
    else:
        pd_new = score_new = np.empty(0, dtype=np.float64)
    predicted = {"score": score_new, "pd": pd_new}
    counts: dict[str, np.ndarray] = {}
    new_values: dict[str, dict[str, int]] = {}
    for key, group, _metric, data, _thresholds, _in_model in _checked(card, stored, config):
        reference = reference_from_dict(dict(data))
        if group == "score":
            values: Any = pd.Series(predicted[key], dtype="float64")
        elif key not in X.columns:
            raise DataError(
                f"the data lacks feature {key!r} of the model's reference",
                hint="compute the indicators with the model's indicators.yaml",
            )
        else:
            values = X[key]
            if found := reference.new_categories(values):
                new_values[key] = found
        counts[key] = _bin_counts(key, reference, values)
    return DriftCounts(len(inputs), counts, pd_new, inputs.index, new_values)


def _warn_unknown_exclusions(
    model: LoadedModel, stored: Mapping[str, Any], config: DriftConfig
) -> None:
    unknown_exclusions = [c for c in config.csi_exclude if c not in stored["features"]]
    if unknown_exclusions:
        log.warning(
            "csi.exclude names features model %s has no reference for: %s",
            model.model_id,
            join_limited(unknown_exclusions),
        )


def drift_report(
    model: LoadedModel,
    counts: DriftCounts,
    labels: pd.Series | None = None,
    config: DriftConfig | None = None,
    *,
    as_of: dt.date | str | None = None,
    info: Mapping[str, Any] | None = None,
    lang: str = "zh",
) -> DriftReport:
    """The drift report of ``model`` from the new data's :class:`DriftCounts` (of the
    whole data, or the :meth:`DriftCounts.merge` of its parts): the statistics and
    verdicts of :func:`check_drift`, with the same parameters."""
    check_language(lang)
    config = config if config is not None else load_drift_config()
    card = model.card
    stored = _reference(model)
    _warn_unknown_exclusions(model, stored, config)
    as_of_text = as_of.isoformat() if isinstance(as_of, dt.date) else as_of
    extra = dict(info or {})
    shares = _shares(model)
    stats = [
        _distribution_stat(
            group=group,
            name=key,
            metric=metric,
            reference=_stored_reference(data, percent=group == "feature" and key in shares),
            actual=counts.counts[key],
            thresholds=thresholds,
            config=config,
            in_model=in_model,
            label=_feature_label(card, key, lang) if group == "feature" else "",
            # a flat table's features are coded by column position (col4)
            coded=group == "feature" and bool(card.get("table")),
            new_values=counts.new_values.get(key),
        )
        for key, group, metric, data, thresholds, in_model in _checked(card, stored, config)
    ]
    training = card.get("training") or {}
    facts: dict[str, Any] = {
        "rows": counts.rows,
        "reference_rows": int(stored.get("rows") or 0),
        "reference_as_of": training.get("as_of"),
        **extra,
    }
    if labels is not None:
        _performance_baseline(model)
        flags, label_info = _labels_for(labels, counts.index)
        facts.update(label_info)
        mask = counts.index.isin(flags.index)
        y = flags.reindex(counts.index[mask]).to_numpy(dtype=np.int8)
        stats.extend(_performance_stats(card, y, counts.pd_bad[mask], config))
    report = DriftReport(
        model.model_id, as_of_text, tuple(stats), config, facts, model_trust=model.trust
    )
    log.info(
        "drift of %s: %s (%s)",
        model.model_id,
        report.verdict,
        ", ".join(f"{k} {v}" for k, v in report.counts.items() if v),
    )
    return report


def check_drift(
    model: LoadedModel,
    features: pd.DataFrame,
    labels: pd.Series | None = None,
    config: DriftConfig | None = None,
    *,
    as_of: dt.date | str | None = None,
    info: Mapping[str, Any] | None = None,
    lang: str = "zh",
) -> DriftReport:
    """Compare new data with the reference stored in the model card.

    Parameters
    ----------
    model : LoadedModel
        A verified model whose card holds ``reference`` distributions.
    features : pandas.DataFrame
        The new data's indicators, computed with the model's own indicator config,
        indexed by customer_id (:func:`custrisk.scoring.check_data_drift` computes them
        from exports).
    labels : pandas.Series, optional
        Bad flags (0/1) indexed by customer_id (see :func:`custrisk.scoring.read_labels`); adds the
        performance statistics for the labelled customers of ``features``.
    config : DriftConfig, optional
        Thresholds, minimums and fail rule (default: the packaged drift.yaml).
    as_of : date or str, optional
        As-of date of the data, reported.
    info : mapping, optional
        Facts about the data to report with the result (e.g. rows rejected).
    lang : {"zh", "en"}
        Language of the features' labels (``label`` of each statistic).

    Returns
    -------
    DriftReport

    Raises
    ------
    ModelArtifactError
        When the card has no reference distributions.
    DataError
        When the data lacks features the model needs, or the labels match no customer.

    Notes
    -----
    The same as :func:`drift_report` of :func:`count_drift`: the rows are read only to
    count them into the reference bins, so a check can also be made part by part.
    """
    config = config if config is not None else load_drift_config()
    counts = count_drift(model, features, config)
    return drift_report(model, counts, labels, config, as_of=as_of, info=info, lang=lang)


__all__ = ["DriftCounts", "check_drift", "count_drift", "drift_report"]
