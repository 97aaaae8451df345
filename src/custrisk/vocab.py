"""Words every layer of custrisk shares: the languages of labels, the alert levels, the
owner roles of alerts and follow-ups, and where the model registry is by default.

One definition each, at the bottom of the import graph, so that the policy, the
reports, the results module and the CLI cannot drift apart.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from custrisk.errors import UsageError

#: Languages of labels, messages and reports.
LANGUAGES = ("zh", "en")

#: Alert levels, most severe first.
LEVELS = ("red", "orange", "yellow")
#: Labels of the levels. A level is named by its colour everywhere, in Chinese as in
#: English: the terminal, the CSV files (``level_zh`` of alerts.csv), the e-mail digest
#: and the PDFs (reports.yaml's ``alert_levels``, capitalised in English).
LEVEL_LABELS: Mapping[str, Mapping[str, str]] = {
    "red": {"zh": "红色", "en": "red"},
    "orange": {"zh": "橙色", "en": "orange"},
    "yellow": {"zh": "黄色", "en": "yellow"},
}


def level_shown(level: str, lang: str) -> str:
    """A level as the terminal shows it: ``red 红色`` in Chinese, ``red`` in English (its
    label is its name)."""
    label = LEVEL_LABELS.get(level, {}).get(lang, level)
    return level if label == level else f"{level} {label}"


#: Severity rank of each level (0 = most severe).
LEVEL_RANK: Mapping[str, int] = {level: i for i, level in enumerate(LEVELS)}

#: Owner roles of the packaged alert rules and follow-ups (the ``owner`` column of
#: alerts.csv and followups.csv), with their labels. A rules file may name others.
OWNER_LABELS: Mapping[str, Mapping[str, str]] = {
    "account_manager": {"zh": "客户经理", "en": "account manager"},
    "risk_officer": {"zh": "风控专员", "en": "risk officer"},
    "collections": {"zh": "催收专员", "en": "collections"},
    "service_manager": {"zh": "客服主管", "en": "service manager"},
}


def owner_label(owner: str, lang: str) -> str:
    """``owner``'s label in ``lang`` (the role itself when it has none)."""
    return OWNER_LABELS.get(owner, {}).get(lang, owner)


def owners_named(names: Iterable[str], present: Iterable[str], option: str = "--owner") -> set[str]:
    """The owner roles meant by ``names``: each a role (``risk_officer``) or one of its
    labels (``风控专员``, ``risk officer``; case and ``_``/spaces ignored).

    ``present`` holds the owners of the table being filtered: a name that is neither one
    of them nor a known role is a typo, not an empty selection.

    Raises
    ------
    UsageError
        Naming the option, the unknown value, the role spelt most alike and the owners
        there are.
    """
    present = set(present)

    def plain(text: str) -> str:
        return " ".join(text.replace("_", " ").split()).casefold()

    by_name = {plain(role): role for role in (*OWNER_LABELS, *present)}
    for role, labels in OWNER_LABELS.items():
        by_name.update({plain(label): role for label in labels.values()})
    roles = set()
    for name in names:
        found = by_name.get(plain(name))
        if found is None:
            shown = ", ".join(
                f"{role} ({OWNER_LABELS[role]['zh']})" if role in OWNER_LABELS else role
                for role in sorted(present | set(OWNER_LABELS))
            )
            close = difflib.get_close_matches(plain(name), by_name, n=1)
            did = f"did you mean {by_name[close[0]]!r}? " if close else ""
            raise UsageError(f"{option} {name!r} is not an owner role; {did}the roles are: {shown}")
        roles.add(found)
    return roles


#: The reasons of a follow-up (followups.csv's ``reason``, joined by ``"; "``), with
#: their labels: ``reason_zh`` of followups.csv, the ``followups`` table and the digest.
FOLLOWUP_REASON_LABELS: Mapping[str, Mapping[str, str]] = {
    "open alerts": {"zh": "有未结预警", "en": "open alerts"},
    "never followed up": {"zh": "从未回访", "en": "never followed up"},
    "review due": {"zh": "复核到期", "en": "review due"},
}


def followup_reason(reason: str, lang: str) -> str:
    """A follow-up's ``reason`` (``open alerts; review due``) in ``lang``: ``有未结预警；
    复核到期`` in Chinese; a reason without a label is kept as it is."""
    parts = [part.strip() for part in str(reason).split(";") if part.strip()]
    labels = [FOLLOWUP_REASON_LABELS.get(part, {}).get(lang, part) for part in parts]
    return ("；" if lang == "zh" else "; ").join(labels)


#: Other names of the levels a user may type: the labels, short colours and the labels
#: of earlier versions (高/中/低 in Chinese, high/medium/low in English).
_LEVEL_NAMES: Mapping[str, str] = {
    **{level: level for level in LEVELS},
    **{label: level for level, labels in LEVEL_LABELS.items() for label in labels.values()},
    **{"红": "red", "橙": "orange", "黄": "yellow"},
    **{"高": "red", "中": "orange", "低": "yellow"},
    **{"high": "red", "medium": "orange", "low": "yellow"},
}


def level_named(name: str) -> str | None:
    """The alert level ``name`` stands for (``red``, ``Red``, ``红色``, ``高``, ``high``),
    or ``None``."""
    text = name.strip()
    return _LEVEL_NAMES.get(text.lower()) or _LEVEL_NAMES.get(text.replace("预警", ""))


#: The names :func:`level_named` takes, for messages.
LEVEL_CHOICES = "red, orange, yellow (红色/橙色/黄色, 高/中/低)"


def check_language(lang: str, option: str = "--lang") -> str:
    """``lang`` when it is one of :data:`LANGUAGES`.

    Raises
    ------
    UsageError
        Naming the option, the allowed values and what was given.
    """
    if lang not in LANGUAGES:
        raise UsageError(f"{option} must be one of {', '.join(LANGUAGES)}; got {lang!r}")
    return lang


#: The indicator unit of a share: a column read from percentages (16% read as 0.16), shown
#: as a percent again by the reports (reports.yaml ``units: share: {format: percent}``) and
#: in a scorecard's points and bins tables.
PERCENT_UNIT = "share"

#: The model registry's folder when none is named: ``$CUSTRISK_MODELS_DIR``, else ./models
#: (:func:`models_dir`; the registry reads models there, ``custrisk backup`` archives it).
MODELS_DIR_ENV = "CUSTRISK_MODELS_DIR"
DEFAULT_MODELS_DIR = "models"


def models_dir(given: str | os.PathLike[str] | None = None) -> Path:
    """The registry folder: the option, else $CUSTRISK_MODELS_DIR, else ./models."""
    return Path(given or os.environ.get(MODELS_DIR_ENV) or DEFAULT_MODELS_DIR)


__all__ = [
    "DEFAULT_MODELS_DIR",
    "FOLLOWUP_REASON_LABELS",
    "LANGUAGES",
    "LEVELS",
    "LEVEL_CHOICES",
    "LEVEL_LABELS",
    "LEVEL_RANK",
    "MODELS_DIR_ENV",
    "OWNER_LABELS",
    "check_language",
    "followup_reason",
    "level_named",
    "level_shown",
    "models_dir",
    "owner_label",
    "owners_named",
]

#: The ``extra`` of a log warning whose facts the run also holds (skipped limit and alert
#: rules): a command that prints them from the run's facts leaves the warning out
#: (``custrisk.cli._common.printed_from_facts``), so they are said once.
IN_RUN_FACTS: Mapping[str, bool] = {"custrisk_in_run_facts": True}

#: The ``extra`` of a log warning that is a note, not a warning (what custrisk decided
#: for the user and how to decide otherwise): the CLI says it as ``Note:``.
NOTE: Mapping[str, bool] = {"custrisk_note": True}
