"""Models saved by earlier releases, read as this release saves them.

A flat table's model keeps each column's header (the card's ``table``, ``sources.yaml``'s
``rename`` keys, ``indicators.yaml``'s labels, the card's ``feature_labels``). Releases
before 2026-12 kept them as the table had them: a header holding a phone number, an ID
number or an e-mail address (``紧急联系人13812345678``) put it in clear in every label of
every output scored with the model (reasons, details, run facts, ``/v1/model``,
``models show``). This release keeps such a header masked (``紧急联系人138****5678``), and
reads next month's clear header as it; :func:`mask_table_headers` gives an older model's
card and files the same masked headers in memory, once they are verified (the folder,
its hashes and its signature are left as they were).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import yaml

from custrisk.estimators.features import FeatureSpec
from custrisk.privacy import mask_pii_text

#: The card's section holding a flat table's layout (scoring.table.TABLE_CARD_KEY)
_TABLE = "table"
#: The files of a flat table's model that name its headers
_LAYOUT_FILES = ("sources.yaml", "indicators.yaml")


def clear_headers(card: Mapping[str, Any]) -> dict[str, str]:
    """``{header: masked header}`` of the table columns whose header holds personal
    data in clear (none for a model saved by this release, or not of a flat table).
    Empty too when two headers would become alike once masked: such a model is read as
    it was saved (masking would merge two columns)."""
    table = card.get(_TABLE)
    columns = table.get("columns") if isinstance(table, Mapping) else None
    if not isinstance(columns, list):
        return {}
    headers = [str(c.get("header")) for c in columns if isinstance(c, Mapping)]
    masked = [mask_pii_text(h) for h in headers]
    if len(set(masked)) < len(set(headers)):
        return {}
    return {h: m for h, m in zip(headers, masked, strict=True) if h != m}


def mask_table_headers(
    card: dict[str, Any], files: dict[str, bytes], headers: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The card and files of a model saved with ``headers`` in clear
    (:func:`clear_headers`), with them masked wherever they occur."""
    if not headers:
        return card, files
    card = _replaced(card, headers)
    files = dict(files)
    for name in _LAYOUT_FILES:
        if name in files:
            files[name] = _masked_yaml(files[name], headers)
    return card, files


def _replace_text(text: str, headers: Mapping[str, str]) -> str:
    for clear in sorted(headers, key=len, reverse=True):  # (a longer one first)
        text = text.replace(clear, headers[clear])
    return text


def _replaced(value: Any, headers: Mapping[str, str]) -> Any:
    """``value`` (parsed JSON or YAML) with each header replaced in its texts and keys."""
    if isinstance(value, str):
        return _replace_text(value, headers)
    if isinstance(value, dict):
        return {_replaced(k, headers): _replaced(v, headers) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, headers) for v in value]
    return value


def _masked_yaml(data: bytes, headers: Mapping[str, str]) -> bytes:
    """A YAML file's bytes with the headers masked: replaced in its text (its comments
    too) when that reads as the parsed file with them replaced, else dumped again."""
    try:
        text = data.decode("utf-8-sig")
        wanted = _replaced(yaml.safe_load(text), headers)
    except (UnicodeDecodeError, yaml.YAMLError):
        return data  # (the loader says what is wrong with it, naming the file)
    replaced = _replace_text(text, headers)
    try:
        if yaml.safe_load(replaced) == wanted:
            return replaced.encode("utf-8")
    except yaml.YAMLError:
        pass
    return yaml.safe_dump(wanted, allow_unicode=True, sort_keys=False).encode("utf-8")


def mask_feature_labels(model: Any, headers: Mapping[str, str]) -> None:
    """Mask ``headers`` in the labels of an unpickled estimator's feature specs (a
    scorecard's ``binner_.specs_``, a tree's ``specs_``): the reasons' labels."""
    if not headers:
        return
    for owner in (model, getattr(model, "binner_", None)):
        specs = getattr(owner, "specs_", None)
        if not isinstance(specs, dict):
            continue
        for code, spec in list(specs.items()):
            if isinstance(spec, FeatureSpec):
                specs[code] = dataclasses.replace(
                    spec,
                    label_zh=_replace_text(str(spec.label_zh), headers),
                    label_en=_replace_text(str(spec.label_en), headers),
                )
