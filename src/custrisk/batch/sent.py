"""The notifications a finished month's run has not delivered, across months and hands:

* :func:`record` -- notifications.json and run.json's notify stage rewritten after a
  send (the batch re-sending failures, or a send by hand);
* :func:`left_behind` -- when the batch starts a new month, the month before's messages
  still undelivered (it no longer re-sends them: one line names them and the command
  that sends them by hand);
* :func:`by_hand` -- ``custrisk notify`` on a run folder of the batch: the messages
  its notifications.json records as delivered are not sent again (unless ``--again``),
  and, holding the runs folder's lock, its deliveries are recorded there, so that the
  batch does not send again what was delivered by hand; a damaged notifications.json
  (:func:`read_record`) is refused, or set aside by ``--again``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custrisk.batch import _notify
from custrisk.batch.layout import RUN_FILE, RunLayout, read_json, sha256_file, write_json
from custrisk.batch.stages import NOTIFICATIONS_FILE, notify_result
from custrisk.errors import DataError
from custrisk.io.lock import exclusive_lock
from custrisk.io.plain import counted, jsonable
from custrisk.notify import Delivery as Sent
from custrisk.notify import NotifyConfig, notify_run
from custrisk.protect.audit import audit_event

Delivery = dict[str, Any]


def undelivered(deliveries: list[Delivery]) -> list[Delivery]:
    """The failed deliveries of a notifications.json whose message was not delivered
    since (failed at the month's run, waiting for their next attempt, or given up)."""
    delivered = delivered_messages(deliveries)
    return [d for d in deliveries if not d.get("ok") and _notify.message_key(d) not in delivered]


def delivered_messages(deliveries: Iterable[Delivery]) -> set[tuple[str, str]]:
    """The messages (:func:`custrisk.batch._notify.message_key`) a notifications.json's
    ``deliveries`` record as delivered."""
    return {_notify.message_key(d) for d in deliveries if d.get("ok")}


def record(
    folder: Path,
    facts: dict[str, Any],
    deliveries: list[Delivery],
    *,
    settings_sha256: str | None,
    fails_run: bool,
) -> int:
    """Write ``deliveries`` as the run's notifications.json and update its run.json
    (``facts``): the notify stage's rows, detail and gate (``fails_run``: failures fail
    it), the run's gate, the file's hash. Returns how many still failed."""
    path = folder / NOTIFICATIONS_FILE
    written: dict[str, Any] = {"settings_sha256": settings_sha256} if settings_sha256 else {}
    write_json(path, jsonable({**written, "deliveries": deliveries}))
    result = notify_result(deliveries, fails_run=fails_run)
    stage = facts.setdefault("stages", {}).setdefault("notify", {})
    stage["status"] = result.status
    stage["rows"] = result.rows
    stage["detail"] = result.detail
    before = stage.pop("gate", None)
    if result.gate is not None:
        stage["gate"] = result.gate
    gate = facts.setdefault("gate", {"failures": []})
    failures = [g for g in gate.get("failures", []) if g != before]
    failures += [stage["gate"]] if "gate" in stage else []
    facts["gate"] = {"failed": bool(failures), "failures": failures}
    facts.setdefault("outputs", {})[NOTIFICATIONS_FILE] = sha256_file(path)
    write_json(folder / RUN_FILE, facts)
    return int(result.rows["failed"])


def left_behind(earlier: Path | None, period: str, config: Path) -> dict[str, Any] | None:
    """What the run of the month ``earlier`` (the one a new month's run of ``period`` is
    compared with) did not deliver: the batch re-sends the latest month's failures only,
    so from now on these are sent by hand. ``None`` when there are none."""
    if earlier is None:
        return None
    failed = undelivered(_notify.recorded(earlier / NOTIFICATIONS_FILE))
    if not failed:
        return None
    channels = sorted({str(d.get("channel")) for d in failed})
    given_up = sum(_notify.gave_up(d) for d in failed)
    states = [f"{given_up} given up"] if given_up else []
    if waiting := len(failed) - given_up:
        states.append(f"{waiting} waiting for a retry")
    command = _notify.hand_command(earlier, config, channels)
    line = (
        f"{counted(len(failed), 'notification')} of {earlier.name} not delivered "
        f"({', '.join(states)}; {_notify.named_channels(channels)}), no longer re-sent "
        f"now that {period} has run; send by hand: {command}"
    )
    return {
        "month": earlier.name,
        "messages": len(failed),
        "given_up": given_up,
        "channels": channels,
        "command": command,
        "line": line,
    }


def merged_by_hand(
    earlier: list[Delivery], sent: list[Delivery], now: dt.datetime
) -> list[Delivery]:
    """The deliveries of notifications.json with those delivered by hand (``sent``)
    in place of the message's earlier delivery or failure (a channel that failed as a
    whole is delivered once none of its messages failed by hand); a failure by hand
    leaves the message's schedule as it was."""
    key = _notify.message_key
    ok = {key(d): {**d, "sent_by_hand": now.isoformat()} for d in sent if d.get("ok")}
    failed_channels = {str(d.get("channel")) for d in sent if not d.get("ok")}
    done_channels = {k[0] for k in ok} - failed_channels
    merged = []
    for d in earlier:
        k = key(d)
        if k in ok:
            merged.append(ok.pop(k))
        elif not d.get("ok") and k[1] == d.get("type") and k[0] in done_channels:
            continue  # the channel failed whole (its messages not built): delivered now
        else:
            merged.append(d)
    return merged + list(ok.values())


def read_record(path: Path, fix: str) -> dict[str, Any]:
    """A month's notifications.json, checked: its ``deliveries`` a list of objects.

    Raises
    ------
    DataError
        Naming the file and what is wrong with it (exit 2), and the fix: restore it, or
        ``fix`` (the command that sends every message again, setting it aside).
    """
    try:
        data: Any = _notify.record_json(path)
    except OSError as exc:
        raise DataError(f"cannot read it ({exc.strerror or exc})", file=str(path)) from None
    except ValueError as exc:  # (UnicodeDecodeError too)
        wrong = f"not valid JSON ({exc})"
    else:
        deliveries = data.get("deliveries") if isinstance(data, dict) else None
        if not isinstance(data, dict):
            wrong = f"a JSON {type(data).__name__}, not an object"
        elif not isinstance(deliveries, list) or not all(isinstance(d, dict) for d in deliveries):
            wrong = "its 'deliveries' is not a list of objects"
        else:
            return data
    raise DataError(
        f"the record of the month's notifications is damaged: {wrong}",
        file=str(path),
        hint=f"restore it from a backup, or send every message again and record them anew "
        f"(the damaged file is set aside): {fix}",
    )


def _set_aside(path: Path, now: dt.datetime) -> Path:
    """Rename a damaged notifications.json to ``notifications.json.damaged-<UTC time>``."""
    aside = path.with_name(f"{path.name}.damaged-{now.strftime('%Y%m%dT%H%M%SZ')}")
    path.replace(aside)
    return aside


@dataclass
class ByHand:
    """``custrisk notify`` on a finished month of the batch (:func:`by_hand`)."""

    #: notifications.json
    path: Path
    #: the messages it records as delivered (:func:`_notify.message_key`): not sent again
    delivered: set[tuple[str, str]]
    #: records what was sent, saying so (``None`` when nothing was recorded)
    record: Callable[[list[Delivery]], str | None]
    #: where the damaged notifications.json was set aside (``--again``, once recorded
    #: anew), None when it was sound
    set_aside: Path | None = None


@contextlib.contextmanager
def by_hand(run_path: Path, *, fix: str, resend_all: bool = False) -> Iterator[ByHand | None]:
    """For ``custrisk notify`` of ``run_path``: ``None`` when it is not a finished run of
    the batch (no notifications.json and run.json beside it); otherwise, holding the
    lock of its runs folder (refused while ``custrisk run`` holds it: LockHeld, exit 2),
    what it records as delivered and a function recording the deliveries sent in its
    notifications.json and run.json. A damaged notifications.json is refused (DataError
    naming ``fix``, the command that sends every message again), or with
    ``resend_all`` (that command) set aside: every message sent is then recorded anew,
    a failure with the batch's schedule of re-sending."""
    path = _month_record(run_path)
    if path is None:
        yield None
        return
    folder = path.parent
    layout = RunLayout(folder.parent, folder.name)
    what = "the runs folder (one command at a time updates a month's notifications)"
    hint = (
        "wait for custrisk run to finish, then send again; custrisk notify records what "
        f"it delivers in {path}, so that the batch does not send it a second time"
    )
    with exclusive_lock(layout.lock_file, what=what, hint=hint):
        facts = read_json(folder / RUN_FILE)
        damaged = False
        try:  # a damaged file: exit 2 before anything is sent
            record_data = read_record(path, fix)
        except DataError:
            if not resend_all:
                raise
            record_data, damaged = {}, True  # (set aside once sent, recorded anew)
        earlier: list[Delivery] = list(record_data.get("deliveries") or [])

        def note(sent: list[Delivery]) -> str | None:
            now = _notify.utc_now()
            sent = [d for d in sent if not d.get("dry_run") and not d.get("already_delivered")]
            delivered = [d for d in sent if d.get("ok")]
            if damaged:  # the record anew: failures re-sent by the batch
                hand.set_aside = _set_aside(path, now)
                fresh = [_notify.record_failure(d, None, now) for d in sent if not d.get("ok")]
                merged = merged_by_hand([], delivered, now) + fresh
            elif delivered:
                merged = merged_by_hand(earlier, delivered, now)
            else:  # a failure by hand: nothing recorded, the batch's schedule as it was
                merged = earlier
            said = []
            if damaged or delivered:
                record(
                    folder,
                    facts,
                    merged,
                    settings_sha256=record_data.get("settings_sha256"),
                    fails_run="gate" in (facts.get("stages") or {}).get("notify", {}),
                )
                audit_event(outputs=[path, folder / RUN_FILE])
                count = counted(len(delivered), "delivery", "deliveries")
                it = "it" if len(delivered) == 1 else "them"
                said.append(f"recorded {count} in {path}: custrisk run does not send {it} again")
            if failing := [d for d in merged if not d.get("ok")]:
                said.append(_undelivered_line(failing, path if not said else None))
            return "; ".join(said) or None

        hand = ByHand(path, set() if resend_all else delivered_messages(earlier), note)
        yield hand


def _undelivered_line(failing: list[Delivery], path: Path | None) -> str:
    """What the batch does with the messages still failing in a month's
    notifications.json: when it tries them again, or that it gave up."""
    there = f"in {path}" if path is not None else "there"
    said = f"{counted(len(failing), 'message')} still undelivered {there}"
    times = sorted(t for d in failing if (t := _notify.next_attempt(d)))
    given_up = sum(_notify.gave_up(d) for d in failing)
    if times:
        said += f" (custrisk run tries again from {_notify.shown_time(times[0])})"
    if given_up:
        said += f" ({given_up} given up by custrisk run: send by hand)"
    return said


def delivered_before(run_path: Path, fix: str) -> set[tuple[str, str]]:
    """The messages the notifications.json of a finished month of the batch records as
    delivered (none for another run), read without its lock (``--dry-run``)."""
    path = _month_record(run_path)
    return set() if path is None else delivered_messages(read_record(path, fix)["deliveries"])


def _month_record(run_path: Path) -> Path | None:
    """The notifications.json of ``run_path`` (a run folder, or a file in one) when it is
    a finished month of the batch (run.json beside it), else ``None``."""
    folder = _run_folder(run_path)
    path = folder / NOTIFICATIONS_FILE
    return path if path.is_file() and (folder / RUN_FILE).is_file() else None


def _run_folder(run_path: Path) -> Path:
    """The folder of ``run_path``, a run folder or a file in one."""
    return run_path if run_path.is_dir() else run_path.parent


def send_by_hand(
    run_dir: Path,
    cfg: NotifyConfig,
    *,
    previous: Path | None = None,
    reports_dir: Path | None = None,
    portfolio_pdf: Path | None = None,
    lang: str | None = None,
    dry_run: bool = False,
    again: bool = False,
    command: str = "custrisk notify RUN -c CONFIG",
    channels: Sequence[str] = (),
) -> tuple[list[Sent], list[str]]:
    """``custrisk notify``: send the digest of ``run_dir`` through ``cfg``
    (:func:`custrisk.notify.notify_run`). On a finished month of ``custrisk run``, the
    messages its notifications.json records as delivered are not sent again (unless
    ``again``) and, unless ``dry_run``, what is sent is sent holding the lock of its runs
    folder and recorded there and in run.json (:func:`by_hand`). ``command`` and
    ``channels``: the command run and its ``--channel``s, for the lines saying how to
    send again (a damaged notifications.json: every channel).

    Returns
    -------
    (deliveries, notes)
        The deliveries, and the lines saying what was skipped, set aside or recorded.
    """
    fix = f"{command} --again"
    hand: contextlib.AbstractContextManager[ByHand | None] = contextlib.nullcontext()
    if not dry_run:
        hand = by_hand(run_dir, fix=fix, resend_all=again)
    with hand as month:
        if month is not None:
            delivered = month.delivered
        else:
            delivered = set() if again else delivered_before(run_dir, fix)
        deliveries = notify_run(
            run_dir,
            cfg,
            previous=previous,
            reports_dir=reports_dir,
            portfolio_pdf=portfolio_pdf,
            lang=lang,
            dry_run=dry_run,
            delivered=delivered,
        )
        recorded = month.record([d.as_dict() for d in deliveries]) if month else None
    notes = []
    if again and _month_record(run_dir) is None:  # nothing recorded: --again changes nothing
        notes.append(
            f"--again changes nothing here: {_run_folder(run_dir)} has no record of "
            f"delivered messages ({NOTIFICATIONS_FILE} of a month of custrisk run): every "
            "message is sent, with or without it"
        )
    if month is not None and month.set_aside is not None:
        notes.append(f"the damaged {month.path.name} was set aside as {month.set_aside}")
    skipped = sum(d.already_delivered for d in deliveries)
    if skipped:
        them = "it" if skipped == 1 else "them"
        again_command = command + _notify.channel_options(channels)
        notes.append(
            f"{counted(skipped, 'message')} delivered before (recorded in "
            f"{_run_folder(run_dir) / NOTIFICATIONS_FILE}) not sent again; to send {them} again: "
            f"{again_command} --again"
        )
    if recorded:
        notes.append(recorded)
    return deliveries, notes


__all__ = [
    "ByHand",
    "by_hand",
    "delivered_before",
    "delivered_messages",
    "left_behind",
    "merged_by_hand",
    "read_record",
    "record",
    "send_by_hand",
    "undelivered",
]
