"""The notifications a finished month's run has not delivered, across months and hands:

* :func:`record` -- notifications.json and run.json's notify stage rewritten after a
  send (the batch re-sending failures, or a send by hand);
* :func:`left_behind` -- when the batch starts a new month, the month before's messages
  still undelivered (it no longer re-sends them: one line names them and the command
  that sends them by hand);
* :func:`by_hand` -- ``custrisk notify`` on a run folder of the batch: holding the runs
  folder's lock, its deliveries are recorded in the month's notifications.json, so that
  the batch does not send again what was delivered by hand.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from custrisk.batch import _notify
from custrisk.batch.layout import RUN_FILE, RunLayout, read_json, sha256_file, write_json
from custrisk.batch.stages import NOTIFICATIONS_FILE, notify_result
from custrisk.io.lock import exclusive_lock
from custrisk.io.plain import jsonable
from custrisk.notify import Delivery as Sent
from custrisk.notify import NotifyConfig, notify_run
from custrisk.protect.audit import audit_event

Delivery = dict[str, Any]


def undelivered(deliveries: list[Delivery]) -> list[Delivery]:
    """The failed deliveries of a notifications.json whose message was not delivered
    since (failed at the month's run, waiting for their next attempt, or given up)."""
    key = _notify.message_key
    delivered = {key(d) for d in deliveries if d.get("ok")}
    return [d for d in deliveries if not d.get("ok") and key(d) not in delivered]


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
    command = _notify.hand_command(earlier, config)
    command += "".join(f" --channel {shlex.quote(c)}" for c in channels)
    line = (
        f"{len(failed)} notification(s) of {earlier.name} not delivered "
        f"({', '.join(states)}; channel {', '.join(channels)}), no longer re-sent now that "
        f"{period} has run; send by hand: {command}"
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


@contextlib.contextmanager
def by_hand(run_path: Path) -> Iterator[Callable[[list[Delivery]], str | None] | None]:
    """For ``custrisk notify`` of ``run_path``: ``None`` when it is not a finished run of
    the batch (no notifications.json and run.json beside it); otherwise, holding the
    lock of its runs folder (refused while ``custrisk run`` holds it: LockHeld, exit 2),
    a function recording the deliveries sent in its notifications.json and run.json and
    saying so (``None`` when none was delivered)."""
    folder = run_path if run_path.is_dir() else run_path.parent
    path = folder / NOTIFICATIONS_FILE
    if not (path.is_file() and (folder / RUN_FILE).is_file()):
        yield None
        return
    layout = RunLayout(folder.parent, folder.name)
    what = "the runs folder (one command at a time updates a month's notifications)"
    hint = (
        "wait for custrisk run to finish, then send again; custrisk notify records what "
        f"it delivers in {path}, so that the batch does not send it a second time"
    )
    with exclusive_lock(layout.lock_file, what=what, hint=hint):
        record_data = read_json(path)  # a damaged file: exit 2 before anything is sent
        facts = read_json(folder / RUN_FILE)

        def note(sent: list[Delivery]) -> str | None:
            delivered = [d for d in sent if d.get("ok") and not d.get("dry_run")]
            if not delivered:
                return None
            earlier = [d for d in record_data.get("deliveries") or [] if isinstance(d, dict)]
            merged = merged_by_hand(earlier, delivered, _notify.utc_now())
            failing = [d for d in merged if not d.get("ok")]
            record(
                folder,
                facts,
                merged,
                settings_sha256=record_data.get("settings_sha256"),
                fails_run="gate" in (facts.get("stages") or {}).get("notify", {}),
            )
            audit_event(outputs=[path, folder / RUN_FILE])
            left = f"; {len(failing)} still undelivered there" if failing else ""
            one = len(delivered) == 1
            count = f"{len(delivered)} deliver" + ("y" if one else "ies")
            it = "it" if one else "them"
            return f"recorded {count} in {path}: custrisk run does not send {it} again{left}"

        yield note


def send_by_hand(
    run_dir: Path,
    cfg: NotifyConfig,
    *,
    previous: Path | None = None,
    reports_dir: Path | None = None,
    portfolio_pdf: Path | None = None,
    lang: str = "zh",
    dry_run: bool = False,
) -> tuple[list[Sent], str | None]:
    """``custrisk notify``: send the digest of ``run_dir`` through ``cfg``
    (:func:`custrisk.notify.notify_run`). On a finished month of ``custrisk run`` and
    unless ``dry_run``, sent holding the lock of its runs folder and recorded in its
    notifications.json and run.json (:func:`by_hand`).

    Returns
    -------
    (deliveries, note)
        The deliveries, and the line saying what was recorded (``None`` when nothing
        was).
    """
    with by_hand(run_dir) if not dry_run else contextlib.nullcontext() as record:
        deliveries = notify_run(
            run_dir,
            cfg,
            previous=previous,
            reports_dir=reports_dir,
            portfolio_pdf=portfolio_pdf,
            lang=lang,
            dry_run=dry_run,
        )
        recorded = record([d.as_dict() for d in deliveries]) if record else None
    return deliveries, recorded


__all__ = ["by_hand", "left_behind", "merged_by_hand", "record", "send_by_hand", "undelivered"]
