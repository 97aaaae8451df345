"""Words every layer of custrisk shares: the languages of labels and the alert levels.

One definition each, at the bottom of the import graph, so that the policy, the
reports, the results module and the CLI cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping

from custrisk.errors import UsageError

#: Languages of labels, messages and reports.
LANGUAGES = ("zh", "en")

#: Alert levels, most severe first.
LEVELS = ("red", "orange", "yellow")
#: Labels of the levels.
LEVEL_LABELS: Mapping[str, Mapping[str, str]] = {
    "red": {"zh": "高", "en": "high"},
    "orange": {"zh": "中", "en": "medium"},
    "yellow": {"zh": "低", "en": "low"},
}
#: Severity rank of each level (0 = most severe).
LEVEL_RANK: Mapping[str, int] = {level: i for i, level in enumerate(LEVELS)}


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


__all__ = ["LANGUAGES", "LEVELS", "LEVEL_LABELS", "LEVEL_RANK", "check_language"]
