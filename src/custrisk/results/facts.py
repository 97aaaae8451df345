"""A run's facts as the facts file writes them, the SHA-256 of each field and their check,
and the run id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from custrisk.config._yaml import join_limited
from custrisk.errors import DataError
from custrisk.results.layout import DEFAULT_LANG, FACTS_DIGESTS, LANG_FACT, READABLE_LAYOUTS
from custrisk.vocab import LANGUAGES


def facts_bytes(facts: Mapping[str, Any]) -> bytes:
    text = json.dumps(facts, ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False)
    return (text + "\n").encode("utf-8")


def _canonical(value: Any) -> bytes:
    """A fact's value as the facts file writes it, without the layout's whitespace."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False).encode("utf-8")


def facts_digests(facts: Mapping[str, Any]) -> dict[str, str]:
    """The SHA-256 of each field of a run's facts (but :data:`FACTS_DIGESTS` itself), of
    its canonical JSON: what the facts file records to check itself by."""
    return {
        str(key): hashlib.sha256(_canonical(value)).hexdigest()
        for key, value in facts.items()
        if key != FACTS_DIGESTS
    }


def check_facts(facts: Mapping[str, Any], path: Path) -> None:
    """Refuse run facts that custrisk did not write as they are: an older or newer
    layout, or (layout 2) a field whose SHA-256 is not the one recorded beside it (an
    edited value, a field added or removed). Layout 1 runs carry no digests and pass.

    Raises
    ------
    DataError
        One line naming the facts file, the fields that do not match and to score again.
    """
    layout = facts.get("layout")
    if not isinstance(facts.get("files"), dict) or layout not in READABLE_LAYOUTS:
        raise DataError(
            f"the run facts list no files or have an unknown layout {layout!r}: written by "
            "another version of custrisk",
            file=str(path),
            hint="score the month again with this version (custrisk score)",
        )
    if layout == 1:
        return  # the previous release: its facts record no digests of themselves
    recorded = facts.get(FACTS_DIGESTS)
    if not isinstance(recorded, dict):
        raise DataError(
            f"the run facts lack the SHA-256 of their fields ({FACTS_DIGESTS}): edited "
            "since custrisk score wrote them",
            file=str(path),
            hint="do not edit a run's files; score the month again (custrisk score)",
        )
    actual = facts_digests(facts)
    changed = sorted(k for k in actual.keys() | recorded.keys() if actual.get(k) != recorded.get(k))
    if changed:
        raise DataError(
            f"the run facts were edited since custrisk score wrote them: "
            f"{join_limited(changed)} do(es) not match the SHA-256 recorded in {FACTS_DIGESTS}",
            file=str(path),
            hint="do not edit a run's facts; score the month again (custrisk score)",
        )


def facts_language(facts: Mapping[str, Any], path: Path | None = None) -> str:
    """The run's language (:data:`LANG_FACT`): ``zh`` or ``en``; ``zh`` for a run
    written before the language was recorded.

    Raises
    ------
    DataError
        A language this version does not know (a run of a newer version), naming it.
    """
    lang = facts.get(LANG_FACT, DEFAULT_LANG)
    if lang not in LANGUAGES:
        raise DataError(
            f"the run facts name the language {lang!r}, not one of {', '.join(LANGUAGES)}: "
            "written by another version of custrisk",
            file=str(path) if path is not None else None,
            hint="pass --lang zh or --lang en, or score the month again with this version",
        )
    return str(lang)


def run_id_of(listed: Mapping[str, Mapping[str, Any]]) -> str:
    """A short id of the run: a hash of its files' hashes (the same outputs, the same id)."""
    joined = "\n".join(f"{part}:{listed[part]['sha256']}" for part in sorted(listed))
    return hashlib.sha256(joined.encode("ascii")).hexdigest()[:16]
