"""The clock of what custrisk records: the time written into a model's card
(``created_at``) and a month run's facts (``finished``), and the date taken as the
as-of date of data without any date, pinned by ``SOURCE_DATE_EPOCH`` when it is set.

``SOURCE_DATE_EPOCH`` is the reproducible-builds convention
(https://reproducible-builds.org/specs/source-date-epoch/): a whole number of seconds
since 1970-01-01 00:00 UTC that tools write in place of the current time, so that the
same inputs built twice give the same bytes. Set, two trainings of the same data give
byte-identical model folders. Times that are not recorded facts (a log line's, a lock's,
a key's or an audit line's, the sending of a notification) keep the real clock.
"""

from __future__ import annotations

import datetime as dt
import os
import re

from custrisk.errors import UsageError

#: The environment variable that pins the clock (the reproducible-builds name)
SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"

_WHOLE_SECONDS = re.compile(r"[0-9]+")


def pinned_time() -> dt.datetime | None:
    """The time ``SOURCE_DATE_EPOCH`` sets (UTC), or ``None`` when it is unset or empty.

    Raises
    ------
    UsageError
        A value that is not a whole number of seconds since 1970 (the convention asks
        tools to stop rather than take the real time).
    """
    text = os.environ.get(SOURCE_DATE_EPOCH, "").strip()
    if not text:
        return None
    try:
        if not _WHOLE_SECONDS.fullmatch(text):
            raise ValueError(text)
        return dt.datetime.fromtimestamp(int(text), dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise UsageError(
            f"{SOURCE_DATE_EPOCH}={text[:40]!r} is not a whole number of seconds since "
            "1970-01-01 00:00 UTC",
            hint=f"set it to one, e.g. {SOURCE_DATE_EPOCH}=$(git log -1 --pretty=%ct) or "
            "$(date -d 2026-11-01 +%s), or unset it to record the real time",
        ) from None


def recorded_now() -> dt.datetime:
    """The time to record as now: ``SOURCE_DATE_EPOCH``'s, else the clock's (UTC, to the
    second)."""
    pinned = pinned_time()
    return pinned if pinned is not None else dt.datetime.now(dt.UTC).replace(microsecond=0)


def recorded_today() -> dt.date:
    """The date to record as today: ``SOURCE_DATE_EPOCH``'s (its UTC date), else the
    local date."""
    pinned = pinned_time()
    return pinned.date() if pinned is not None else dt.date.today()
