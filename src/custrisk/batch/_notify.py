"""The one place where the batch calls :mod:`custrisk.notify` (alert digests by e-mail
and group-robot webhooks): parsing the run config's ``notifications`` section and
sending a run's digest, with the delivery results as plain dicts for run.json."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shlex
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from custrisk.errors import ConfigError
from custrisk.io.plain import counted
from custrisk.notify import NotifyConfig, deliver_notifications, parse_notify_config
from custrisk.notify import message_key as key_of_message
from custrisk.results import ScoringRun
from custrisk.vocab import OWNER_LABELS


def parse(section: dict[str, Any] | None, where: str) -> NotifyConfig | None:
    """The parsed notifications config (raises ConfigError), or None when the run config
    has no such section."""
    if section is None:
        return None
    return parse_notify_config(section, where, key="notifications")


def check_owners(config: NotifyConfig, owners: Collection[str], file: str, rules: str) -> None:
    """Refuse a channel's ``owners:`` or an e-mail ``to:`` key that names an owner role
    neither an alert rule has (``owners``, from the ``rules`` file) nor custrisk knows
    (``custrisk serve``'s decisions go to ``risk_officer``): a typo there would leave the
    channel, or those recipients, without a message every month, silently."""
    owners = {*owners, *OWNER_LABELS}
    known = ", ".join(sorted(owners))
    for channel in config.channels:
        named = [(f"owners[{i}]", owner) for i, owner in enumerate(channel.owners)]
        to = channel.settings.get("to") or {}
        named += [(f"to.{owner}", owner) for owner in to if owner != "default"]
        for key, owner in named:
            if owner not in owners:
                raise ConfigError(
                    f"{owner!r} is not the owner of any alert rule of {rules} nor a role "
                    "custrisk knows",
                    file=file,
                    key=f"{channel.key}.{key}",
                    hint=f"owners: {known}",
                )


def settings_digest(section: dict[str, Any]) -> str:
    """The SHA-256 of the run config's ``notifications`` section (canonical JSON): kept
    in notifications.json, so that a rerun tells an edited section (a recipient or a
    channel added) from the one the month was sent with."""
    text = json.dumps(section, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fails_run(config: NotifyConfig) -> bool:
    """Whether a failed delivery fails the run's gate (``fail_on_error``)."""
    return bool(config.fail_on_error)


def deliver(
    config: NotifyConfig,
    run: ScoringRun,
    *,
    previous: ScoringRun | None,
    reports_dir: Path | None,
    portfolio_pdf: Path | None,
    lang: str,
    reports_link_dir: Path | None = None,
    resend: Collection[tuple[str, str]] | None = None,
    already_sent: Collection[tuple[str, str]] = (),
    dry_run: bool = False,
) -> list[dict[str, Any]]:
    """Send the notifications (``resend``: only those messages, by channel and target;
    ``already_sent``: not those, by channel and content; ``dry_run``: build them, send
    none); one plain dict per delivery (with its ``ok``)."""
    deliveries = deliver_notifications(
        config,
        run,
        previous=previous,
        reports_dir=reports_dir,
        portfolio_pdf=portfolio_pdf,
        lang=lang,
        reports_link_dir=reports_link_dir,
        resend=resend,
        already_sent=already_sent,
        dry_run=dry_run,
    )
    return [{**d.as_dict(), "ok": bool(d.ok)} for d in deliveries]


#: The largest notifications.json read (a month's record is kilobytes): a larger one is
#: damaged, not read into memory.
MAX_RECORD_BYTES = 64 * 1024 * 1024


def record_json(path: Path) -> Any:
    """The JSON of a notifications.json.

    Raises
    ------
    OSError
        It cannot be read.
    ValueError
        It is not JSON, not UTF-8, over :data:`MAX_RECORD_BYTES` or nested too deep for
        the parser (which raised RecursionError, a traceback).
    """
    with path.open("rb") as file:
        raw = file.read(MAX_RECORD_BYTES + 1)
    if len(raw) > MAX_RECORD_BYTES:
        raise ValueError(f"over {MAX_RECORD_BYTES // 2**20} MiB, more than any month's record")
    try:
        return json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ValueError("nested too deep") from None


def recorded(path: Path) -> list[dict[str, Any]]:
    """The deliveries of a notifications.json, none when it is not there or unreadable
    (then every message is sent, as for a first run)."""
    try:
        data = record_json(path)
    except (OSError, ValueError):
        return []
    deliveries = data.get("deliveries") if isinstance(data, dict) else None
    return [d for d in deliveries if isinstance(d, dict)] if isinstance(deliveries, list) else []


def delivered_contents(deliveries: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """(channel, content_sha256) of the messages delivered (notifications.json of the run
    of the month that a new run replaces): those are not sent again unchanged."""
    return {
        (str(d.get("channel")), str(d["content_sha256"]))
        for d in deliveries
        if d.get("ok") and not d.get("dry_run") and d.get("content_sha256")
    }


def message_key(delivery: dict[str, Any]) -> tuple[str, str]:
    """Which message a delivery of notifications.json was, across reruns
    (:func:`custrisk.notify.message_key`, the key ``custrisk notify`` skips by): a robot
    or webhook channel sends one message, whatever host its URL (read from the
    environment at each call, perhaps unset) names; an e-mail channel one per owner, or
    its type when the channel failed as a whole. ``(channel, type)`` makes ``deliver``
    send the channel whole."""
    channel, kind = str(delivery.get("channel")), str(delivery.get("type"))
    return key_of_message(channel, kind, str(delivery.get("target")))


# -- re-sending a failed message at later runs (cron ticks), with a growing interval -------

#: The wait after a message's first failure; doubled after each failure that follows...
RESEND_FIRST_WAIT = dt.timedelta(hours=1)
#: ... up to this,
RESEND_MAX_WAIT = dt.timedelta(hours=24)
#: and no attempt later than this after its first failure: then the batch gives up.
RESEND_GIVE_UP_AFTER = dt.timedelta(days=7)
#: A run this much before the end of the wait is in time (cron's ticks come at the same
#: minute, and the failure was recorded some seconds after the tick that sent).
RESEND_EARLY = dt.timedelta(minutes=5)


def utc_now(now: dt.datetime | None = None) -> dt.datetime:
    """``now`` (a test's clock) or the time, in UTC to the second."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)


def _time(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value)).astimezone(dt.UTC)
    except ValueError:
        return None


def shown_time(value: str) -> str:
    """An ISO time of notifications.json as a summary line says it: ``2026-12-07 16:00 UTC``."""
    when = _time(value)
    return when.strftime("%Y-%m-%d %H:%M UTC") if when is not None else value


def record_failure(
    delivery: dict[str, Any], earlier: dict[str, Any] | None, now: dt.datetime
) -> dict[str, Any]:
    """``delivery`` (failed at ``now``) with its ``resend`` schedule: how many runs it
    failed in since ``first_failed``, and ``next_attempt`` (the wait doubling from
    :data:`RESEND_FIRST_WAIT` to :data:`RESEND_MAX_WAIT`), or ``gave_up`` when that would
    be later than :data:`RESEND_GIVE_UP_AFTER` after the first failure. ``earlier``: the
    message's failed delivery before (its schedule goes on), None for a first failure."""
    before = (earlier or {}).get("resend") or {}
    failures = int(before.get("failures", 0)) + 1
    first = _time(before.get("first_failed")) or now
    wait = min(RESEND_FIRST_WAIT * 2 ** min(failures - 1, 16), RESEND_MAX_WAIT)
    schedule: dict[str, Any] = {
        "failures": failures,
        "first_failed": first.isoformat(),
        "last_failed": now.isoformat(),
    }
    if now + wait > first + RESEND_GIVE_UP_AFTER:
        schedule["gave_up"] = True
    else:
        schedule["next_attempt"] = (now + wait - RESEND_EARLY).replace(second=0).isoformat()
    return {**delivery, "resend": schedule}


def gave_up(delivery: dict[str, Any]) -> bool:
    """Whether the batch gave up re-sending this failed message."""
    return bool((delivery.get("resend") or {}).get("gave_up"))


def next_attempt(delivery: dict[str, Any]) -> str | None:
    """When a failed message is re-sent next (ISO time), None when at any time (a failure
    recorded before the schedule was kept) or never (given up)."""
    value = (delivery.get("resend") or {}).get("next_attempt")
    return str(value) if value else None


def due(delivery: dict[str, Any], now: dt.datetime) -> bool:
    """Whether a failed message is to be re-sent at ``now``."""
    if gave_up(delivery):
        return False
    when = _time(next_attempt(delivery))
    return when is None or when <= now


def stage_detail(deliveries: list[dict[str, Any]]) -> str:
    """The notify stage's words in run.json and the summary line: how many delivered and
    failed, those not sent again since unchanged, and for the failed ones the next
    attempt of a later run, or that the batch gave up."""
    failed = [d for d in deliveries if not d.get("ok")]
    unchanged = sum(bool(d.get("unchanged")) for d in deliveries)
    said = f"{len(deliveries) - len(failed) - unchanged} delivered, {len(failed)} failed"
    if unchanged:
        said += f", {unchanged} unchanged since sent (not sent again)"
    times = sorted(t for d in failed if (t := next_attempt(d)))
    if times:
        said += f" (next attempt from {shown_time(times[0])})"
    given_up = sum(gave_up(d) for d in failed)
    if given_up:
        said += f" ({given_up} given up: custrisk notify sends by hand)"
    return said


def hand_command(folder: Path, config: Path, channels: Iterable[str] = ()) -> str:
    """``custrisk notify FOLDER -c CONFIG`` (with ``--channel`` each of ``channels``),
    its paths quoted for a shell when they need it (a space in a folder's name): the
    command a line says to copy and run."""
    command = f"custrisk notify {shlex.quote(str(folder))} -c {shlex.quote(str(config))}"
    return command + channel_options(channels)


def channel_options(channels: Iterable[str]) -> str:
    """`` --channel NAME`` for each of ``channels``, quoted for a shell."""
    return "".join(f" --channel {shlex.quote(c)}" for c in channels)


def named_channels(channels: list[str]) -> str:
    """``channel a`` or ``channels a, b``: the channels a line names."""
    return f"{'channel' if len(channels) == 1 else 'channels'} {', '.join(channels)}"


def given_up_line(failed: list[dict[str, Any]], folder: Path, config: Path) -> str:
    """The line of messages the batch gave up re-sending: which channel, since when, and
    the command that sends them by hand."""
    channels = sorted({str(d["channel"]) for d in failed})
    first = min(str(d["resend"]["first_failed"]) for d in failed)
    tries = max(int(d["resend"]["failures"]) for d in failed)
    # (one command for them all: custrisk notify sends what was not delivered only)
    by_hand = hand_command(folder, config, channels)
    return (
        f"gave up re-sending {counted(len(failed), 'notification')} of "
        f"{named_channels(channels)} (failed in {counted(tries, 'run')} since "
        f"{shown_time(first)}); send by hand: {by_hand}"
    )


__all__ = [
    "RESEND_EARLY",
    "RESEND_FIRST_WAIT",
    "RESEND_GIVE_UP_AFTER",
    "RESEND_MAX_WAIT",
    "channel_options",
    "check_owners",
    "deliver",
    "delivered_contents",
    "due",
    "fails_run",
    "gave_up",
    "given_up_line",
    "hand_command",
    "message_key",
    "named_channels",
    "next_attempt",
    "parse",
    "record_failure",
    "recorded",
    "settings_digest",
    "shown_time",
    "stage_detail",
    "utc_now",
]
