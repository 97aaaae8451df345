"""When the bearer tokens of ``custrisk serve`` expire: ``--expires`` read into a time,
and what the service and ``serve-token list`` say about a token near or past it.

A token made without ``--expires`` (and every token of a store made before tokens could
expire) never expires.
"""

from __future__ import annotations

import datetime as dt
import re

from custrisk.errors import UsageError

#: A token this close to its expiry is named in the service log (once a day at most).
WARN_BEFORE = dt.timedelta(days=7)
#: How often the service log may name one token that expires soon.
WARN_EVERY = dt.timedelta(days=1)
_SPAN = re.compile(r"(\d+)\s*([dw])")
_EXAMPLES = "e.g. --expires 90d, --expires 12w or --expires 2027-03-01 (00:00 UTC that day)"


def parse_expiry(text: str, now: dt.datetime | None = None) -> str:
    """``--expires``: a span from now (``90d``, ``12w``), a date (its 00:00 UTC) or a
    date and time (UTC unless it names its offset), as the store keeps times (ISO 8601,
    UTC, milliseconds).

    Raises
    ------
    UsageError
        Naming the value and what ``--expires`` takes, for text that is none of those
        or a time that is not in the future.
    """
    now = now or dt.datetime.now(dt.UTC)
    given = text.strip()
    span = _SPAN.fullmatch(given.lower())
    if span is not None:
        digits = span[1].lstrip("0") or "0"  # (int() refuses over 4,300 digits; 8 are
        days = int(digits[:8]) * (7 if span[2] == "w" else 1)  # too far away already)
        if days < 1:
            raise UsageError(f"--expires must be in the future; got {text!r}", hint=_EXAMPLES)
        try:
            when = now + dt.timedelta(days=days)
        except OverflowError:
            raise UsageError(f"--expires {text!r} is too far away", hint=_EXAMPLES) from None
    else:
        try:
            when = dt.datetime.fromisoformat(given.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(
                f"--expires takes a number of days or weeks, a date or a date and time; "
                f"got {text!r}",
                hint=_EXAMPLES,
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        if when <= now:
            raise UsageError(
                f"--expires {text!r} is not in the future (now {_shown(now)})", hint=_EXAMPLES
            )
    try:  # (9999-12-31T23:00-05:00 is past the last time a datetime can hold in UTC)
        return when.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    except OverflowError:
        raise UsageError(f"--expires {text!r} is too far away", hint=_EXAMPLES) from None


def expiry_time(expires_at: str | None) -> dt.datetime | None:
    """A stored expiry as a time (``None``: the token does not expire)."""
    return dt.datetime.fromisoformat(expires_at) if expires_at else None


def has_expired(expires_at: str | None, now: dt.datetime | None = None) -> bool:
    when = expiry_time(expires_at)
    return when is not None and (now or dt.datetime.now(dt.UTC)) >= when


def expires_soon(expires_at: str | None, now: dt.datetime | None = None) -> bool:
    """Whether a token expires within :data:`WARN_BEFORE` (and has not yet)."""
    when = expiry_time(expires_at)
    now = now or dt.datetime.now(dt.UTC)
    return when is not None and now < when <= now + WARN_BEFORE


def time_left(expires_at: str, now: dt.datetime | None = None) -> str:
    """How long until ``expires_at``, in words (``3 days``, ``5 hours``), or ``expired``."""
    left = dt.datetime.fromisoformat(expires_at) - (now or dt.datetime.now(dt.UTC))
    if left <= dt.timedelta(0):
        return "expired"
    if left >= dt.timedelta(days=2):
        return f"{left.days} days"
    hours = int(left.total_seconds() // 3600)
    return f"{hours} hours" if hours >= 2 else f"{max(1, int(left.total_seconds() // 60))} minutes"


def _shown(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def expiry_text(expires_at: str) -> str:
    """A stored expiry as messages write it: ``2027-03-01 00:00 UTC``."""
    return _shown(dt.datetime.fromisoformat(expires_at))


def shown_expiry(expires_at: str | None, now: dt.datetime | None = None) -> str:
    """An expiry as ``serve-token list`` and messages show it: ``2027-03-01 00:00 UTC``,
    with ``(expired)`` or ``(in 3 days)`` when that is near; ``never`` without one."""
    when = expiry_time(expires_at)
    if when is None:
        return "never"
    now = now or dt.datetime.now(dt.UTC)
    if when <= now:
        return f"{_shown(when)} (expired)"
    if when <= now + WARN_BEFORE:
        return f"{_shown(when)} (in {time_left(str(expires_at), now)})"
    return _shown(when)


__all__ = [
    "WARN_BEFORE",
    "WARN_EVERY",
    "expires_soon",
    "expiry_text",
    "expiry_time",
    "has_expired",
    "parse_expiry",
    "shown_expiry",
    "time_left",
]
