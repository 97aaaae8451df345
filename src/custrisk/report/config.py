"""The report config (configs/reports.yaml), validated into a frozen object.

Every label a report shows comes from here or from the templates: the Python code
holds no user-facing text. Colours and the chart font family are validated against
strict patterns because they are written into SVG attributes.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custrisk.config._yaml import Node, join_limited, open_config, percent_written
from custrisk.vocab import LANGUAGES

VALUE_FORMATS = (
    "percent",
    "money",
    "integer",
    "signed_integer",
    "decimal1",
    "decimal2",
)
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_FONT_FAMILY = re.compile(r"^[A-Za-z0-9 ,\-]+$")
_TEXT_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_GRADE_KEY = re.compile(r"^[A-Za-z0-9]{1,8}$")
_LEVEL_KEY = re.compile(r"^[a-z][a-z0-9_]{0,19}$")


@dataclass(frozen=True)
class Labelled:
    """A label in each language and a colour (``#rrggbb``)."""

    zh: str
    en: str
    color: str

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class UnitFormat:
    """How values of one unit are shown: a number format and a suffix per language."""

    format: str
    zh: str = ""
    en: str = ""

    def suffix(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class MoneyFormat:
    """Currency prefix/suffix and the units of large amounts (万/亿 or k/M/B).

    ``scales`` holds ``(divisor, suffix)`` pairs, largest divisor first.
    """

    prefix: str
    suffix: str
    scales: tuple[tuple[float, str], ...]


@dataclass(frozen=True)
class ReportConfig:
    """Everything that decides what the reports show and how."""

    path: str
    text_sha256: str
    company: dict[str, str]
    lgd: float
    pd_bands: tuple[float, ...]
    exposure_bands: tuple[float, ...]
    top_customers: int
    score_bin_width: int
    score_range: tuple[float, float]
    key_indicators: tuple[str, ...]
    flag_riskiest_share: float
    service: dict[str, Any]
    grades: dict[str, Labelled]
    alert_levels: dict[str, Labelled]
    units: dict[str, UnitFormat]
    money: dict[str, MoneyFormat]
    style: dict[str, str]
    compact_font_source: str | None
    workers: int
    max_tasks_per_child: int
    algorithms: dict[str, dict[str, str]] = field(default_factory=dict)
    drift_verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    owners: dict[str, dict[str, str]] = field(default_factory=dict)
    review_frequencies: dict[str, dict[str, str]] = field(default_factory=dict)
    texts: dict[str, dict[str, str]] = field(default_factory=dict)
    customer_alerts: int = 3

    def texts_for(self, lang: str) -> dict[str, str]:
        """All labels in one language, keyed like ``texts`` in the YAML."""
        return dict(self.texts[lang])


def _lang_pair(node: Node, name: str) -> dict[str, str]:
    sub = node.child(name)
    sub.check_keys(LANGUAGES, required=LANGUAGES)
    return {lang: _any_text(sub, lang) for lang in LANGUAGES}


def _any_text(node: Node, name: str, *, allow_empty: bool = False) -> str:
    value = node.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise node.error(name, f"expected a text, got {value!r}")
    text = str(value)
    if not text and not allow_empty:
        raise node.error(name, "expected a non-empty text")
    return text


def _color(node: Node, name: str, default: str | None = None) -> str:
    value = node.get(name, default)
    if not isinstance(value, str) or not _COLOR.match(value):
        raise node.error(
            name, f'expected a colour like "#1f3a5f", got {value!r}', hint="write #rrggbb"
        )
    return value.lower()


def _labelled_map(root: Node, name: str, key_pattern: re.Pattern[str]) -> dict[str, Labelled]:
    out: dict[str, Labelled] = {}
    for key, node in root.children(name).items():
        if not key_pattern.match(key):
            raise node.error(None, f"{key!r} is not allowed as a key here")
        node.check_keys(("zh", "en", "color"), required=("zh", "en", "color"))
        out[key] = Labelled(_any_text(node, "zh"), _any_text(node, "en"), _color(node, "color"))
    if not out:
        raise root.error(name, "expected at least one entry")
    return out


def _edges(root: Node, name: str, *, upper: float | None = None) -> tuple[float, ...]:
    values = root.get(name)
    if (
        not isinstance(values, list)
        or not values
        or any(isinstance(v, bool) or not isinstance(v, int | float) for v in values)
    ):
        raise root.error(name, f"expected a non-empty list of numbers, got {values!r}")
    edges = tuple(float(v) for v in values)
    if any(b <= a for a, b in zip(edges, edges[1:], strict=False)) or edges[0] <= 0:
        raise root.error(name, f"edges must be positive and increasing, got {list(edges)}")
    if upper is not None and edges[-1] >= upper:
        raise root.error(name, f"edges must be below {upper}, got {list(edges)}")
    return edges


def _texts(root: Node) -> dict[str, dict[str, str]]:
    by_lang: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
    for key, node in root.children("texts").items():
        if not _TEXT_KEY.match(key):
            raise node.error(None, f"text key {key!r} must be lower_case_with_underscores")
        node.check_keys(LANGUAGES, required=LANGUAGES)
        for lang in LANGUAGES:
            by_lang[lang][key] = _any_text(node, lang)
    return by_lang


def _units(root: Node) -> dict[str, UnitFormat]:
    out = {}
    for unit, node in root.children("units").items():
        node.check_keys(("format", *LANGUAGES), required=("format",))
        out[unit] = UnitFormat(
            format=node.text("format", allowed=VALUE_FORMATS),
            zh=_any_text(node, "zh", allow_empty=True) if "zh" in node.data else "",
            en=_any_text(node, "en", allow_empty=True) if "en" in node.data else "",
        )
    return out


def _money(root: Node) -> dict[str, MoneyFormat]:
    node = root.child("money")
    node.check_keys(LANGUAGES, required=LANGUAGES)
    out = {}
    for lang in LANGUAGES:
        sub = node.child(lang)
        sub.check_keys(("prefix", "suffix", "scales"), required=("prefix",))
        raw_scales = sub.get("scales", [])
        if not isinstance(raw_scales, list):
            raise sub.error("scales", f"expected a list, got {raw_scales!r}")
        scales = []
        for i, item in enumerate(raw_scales):
            scale = Node(item, sub.file, sub.key(f"scales[{i}]"))
            scale.check_keys(("divisor", "suffix"), required=("divisor", "suffix"))
            scales.append((float(scale.number("divisor", minimum=1)), _any_text(scale, "suffix")))
        out[lang] = MoneyFormat(
            prefix=_any_text(sub, "prefix", allow_empty=True),
            suffix=_any_text(sub, "suffix", allow_empty=True) if "suffix" in sub.data else "",
            scales=tuple(sorted(scales, reverse=True)),
        )
    return out


def _verdicts(root: Node) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, node in root.children("drift_verdicts").items():
        node.check_keys(("zh", "en", "rank"), required=("zh", "en"))
        out[key.lower()] = {
            "zh": _any_text(node, "zh"),
            "en": _any_text(node, "en"),
            "rank": node.number("rank", 0, integer=True),
        }
    return out


def _lang_map(root: Node, name: str) -> dict[str, dict[str, str]]:
    return {key: _lang_pair(root.child(name), key) for key in root.child(name).data}


def _codes(node: Node, key: str, default: str) -> tuple[str, ...]:
    """An indicator code, or a list of them of which the first the data has is used
    (the packaged exports' and a CRM's indicators differ)."""
    if isinstance(node.get(key), list):
        codes = node.text_list(key, [default])
        assert codes is not None
        return tuple(codes)
    return (node.text(key, default),)


def load_report_config(path: str | os.PathLike[str] | None = None) -> ReportConfig:
    """Load and validate a reports YAML.

    Parameters
    ----------
    path : str or path-like, optional
        The YAML file; ``None`` loads the packaged ``reports.yaml``.

    Returns
    -------
    ReportConfig

    Raises
    ------
    ConfigError
        Naming the file, the key path and the bad value.
    """
    root = open_config(
        path,
        "reports.yaml",
        allowed=(
            "version",
            "company",
            "lgd",
            "pd_bands",
            "exposure_bands",
            "top_customers",
            "customer_alerts",
            "score_bin_width",
            "score_range",
            "key_indicators",
            "flag_riskiest_share",
            "service",
            "grades",
            "alert_levels",
            "units",
            "money",
            "style",
            "batch",
            "algorithms",
            "drift_verdicts",
            "owners",
            "review_frequencies",
            "texts",
        ),
        required=("company", "grades", "alert_levels", "money", "texts"),
    )
    path = Path(root.file)
    raw_lgd = root.get("lgd")
    percent = percent_written(raw_lgd)
    if percent is not None:
        raise root.error(
            "lgd",
            f"expected a share between 0 and 1, got {raw_lgd!r}",
            hint=f"write {percent / 100:g} for {percent:g} %",
        )
    lgd = float(root.number("lgd", 0.45, minimum=0))
    if lgd > 1:
        hint = f"write {lgd / 100:g} for {lgd:g} %" if lgd <= 100 else "a share: 0.45 is 45 %"
        raise root.error("lgd", f"must be between 0 and 1, got {lgd:g}", hint=hint)
    score_range = root.get("score_range", [400, 750])
    if (
        not isinstance(score_range, list)
        or len(score_range) != 2
        or any(isinstance(v, bool) or not isinstance(v, int | float) for v in score_range)
        or score_range[0] >= score_range[1]
    ):
        raise root.error("score_range", f"expected [low, high] with low < high, got {score_range}")
    flag_share = float(root.number("flag_riskiest_share", 0.10, minimum=0))
    if flag_share >= 1:
        raise root.error("flag_riskiest_share", f"must be below 1, got {flag_share}")
    service = root.child("service")
    service.check_keys(
        (
            "complaint_rate",
            "response_hours",
            "satisfaction",
            "unresolved",
            "group_by",
            "response_target_hours",
            "satisfaction_floor",
            "complaint_rate_ceiling",
            "breach_customers",
        )
    )
    style = root.child("style")
    style.check_keys(("font_family", "compact_font_source", "primary", "accent", "muted", "grid"))
    compact_source = style.get("compact_font_source")
    if compact_source is not None and (
        not isinstance(compact_source, str) or not _FONT_FAMILY.match(compact_source)
    ):
        raise style.error("compact_font_source", f"{compact_source!r} is not a font family name")
    font_family = style.get("font_family", "Noto Sans CJK SC, sans-serif")
    if not isinstance(font_family, str) or not _FONT_FAMILY.match(font_family):
        raise style.error(
            "font_family",
            f"{font_family!r} is not a plain list of font names",
            hint="use letters, digits, spaces, hyphens and commas only",
        )
    batch = root.child("batch")
    batch.check_keys(("workers", "max_tasks_per_child"))
    texts = _texts(root)
    required_texts = ("confidential", "missing", "title_customer", "title_portfolio")
    missing = [key for key in required_texts if key not in texts["zh"]]
    if missing:
        raise root.error("texts", f"required labels are missing: {join_limited(missing)}")
    return ReportConfig(
        path=str(path),
        text_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        company=_lang_pair(root, "company"),
        lgd=lgd,
        pd_bands=_edges(root, "pd_bands", upper=1.0),
        exposure_bands=_edges(root, "exposure_bands"),
        top_customers=root.number("top_customers", 20, minimum=1, integer=True),
        customer_alerts=root.number("customer_alerts", 3, minimum=1, integer=True),
        score_bin_width=root.number("score_bin_width", 20, minimum=1, integer=True),
        score_range=(float(score_range[0]), float(score_range[1])),
        key_indicators=root.text_list("key_indicators", [], allow_empty=True) or (),
        flag_riskiest_share=flag_share,
        service={
            "complaint_rate": _codes(service, "complaint_rate", "complaint_rate_180d"),
            "response_hours": _codes(service, "response_hours", "avg_response_hours_180d"),
            "satisfaction": _codes(service, "satisfaction", "avg_satisfaction_180d"),
            "unresolved": _codes(service, "unresolved", "unresolved_complaints"),
            "group_by": service.text_list("group_by", ["channel", "region"]),
            "response_target_hours": float(service.number("response_target_hours", 24, minimum=0)),
            "satisfaction_floor": float(service.number("satisfaction_floor", 3, minimum=0)),
            "complaint_rate_ceiling": float(
                service.number("complaint_rate_ceiling", 0.3, minimum=0)
            ),
            "breach_customers": service.number("breach_customers", 5, minimum=1, integer=True),
        },
        grades=_labelled_map(root, "grades", _GRADE_KEY),
        alert_levels=_labelled_map(root, "alert_levels", _LEVEL_KEY),
        units=_units(root),
        money=_money(root),
        style={
            "font_family": font_family,
            "primary": _color(style, "primary", "#1f3a5f"),
            "accent": _color(style, "accent", "#2e6da4"),
            "muted": _color(style, "muted", "#8a94a6"),
            "grid": _color(style, "grid", "#e3e7ee"),
        },
        compact_font_source=compact_source,
        workers=batch.number("workers", 0, minimum=0, integer=True),
        max_tasks_per_child=batch.number("max_tasks_per_child", 200, minimum=1, integer=True),
        algorithms=_lang_map(root, "algorithms"),
        drift_verdicts=_verdicts(root),
        owners=_lang_map(root, "owners"),
        review_frequencies=_lang_map(root, "review_frequencies"),
        texts=texts,
    )


def lang_text(value: Any, lang: str) -> str | None:
    """Text in ``lang`` from a ``{zh, en}`` mapping, a list (joined) or a plain value."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        for key in (lang, "en" if lang == "zh" else "zh"):
            if value.get(key) not in (None, ""):
                return lang_text(value[key], lang)
        return None
    if isinstance(value, list | tuple):
        return "；".join(str(v) for v in value) if lang == "zh" else "; ".join(map(str, value))
    return str(value)
