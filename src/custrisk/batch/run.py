"""A month's batch as one library call: :func:`run_batch`.

The run is built in ``runs/.staging-<period>/`` and moved into ``runs/<period>/`` only
when every stage has run. After each stage, ``state.json`` in the staging folder records
what it wrote (with SHA-256s); a run killed at any point is resumed by the next call from
the first stage that did not finish (or whose outputs changed since), and since every
stage is deterministic the outputs are the same bytes as an uninterrupted run's.

A fingerprint of everything a run depends on (input files, config files by their
contents, the model's card, the previous period's run, library versions) decides whether
there is anything to do: a finished run with the same fingerprint is left alone unless
``force``. It holds no path, so a runs folder moved or restored elsewhere is up to date.
RUN.yaml counts by its settings other than the engine's (``engine``, ``scheduler``,
``buckets``, ``memory_limit``): both engines write the same files.

One run at a time holds the runs folder's lock, and a month is compared with the run of
the month before: one that did not finish, or has not run while its exports are there,
stops the run (run it first); the first month of a folder is compared with none.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import json
import os
import re
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

from custrisk.batch import _notify
from custrisk.batch import sent as _sent
from custrisk.batch.config import (
    PERIOD_FIELD,
    PERIOD_REGEX,
    QUERIES_ONLY_HINT,
    RunConfig,
    check_period,
    shift_period,
)
from custrisk.batch.fingerprint import _basis, _facts, _fingerprint
from custrisk.batch.layout import (
    LOG_FILE,
    RUN_FILE,
    STATE_FILE,
    RunLayout,
    apply_retention,
    compared_with,
    file_hashes,
    previous_model_differs,
    previous_run,
    read_json,
    remove_outputs,
    run_ref,
    unfinished,
    write_json,
)
from custrisk.batch.outcome import DONE, NOTHING_TO_DO, BatchOutcome
from custrisk.batch.stages import (
    NOTIFICATIONS_FILE,
    OUTPUTS,
    RUNNERS,
    SCORES_FILE,
    STAGES,
    RunCluster,
    StageContext,
    StageResult,
    on_the_cluster,
)
from custrisk.config._yaml import join_limited
from custrisk.errors import (
    ConfigError,
    CustriskError,
    DataError,
    ModelArtifactError,
    UsageError,
)
from custrisk.io.atomic import ensure_dir, write_refused_hint
from custrisk.io.lock import describe_holder, exclusive_lock
from custrisk.io.plain import counted
from custrisk.io.sql import query_period
from custrisk.io.stop import Stopped
from custrisk.protect.audit import audit_event
from custrisk.protect.erasure import erasing, left_out_line, load_erasures
from custrisk.protect.output import protected_outputs
from custrisk.protect.roles import load_roles
from custrisk.registry import resolve_model
from custrisk.report.batch import PORTFOLIO_FILE, ReportResult
from custrisk.results import REPORTS_DIR, read_run
from custrisk.scoring import open_model

#: Test hook: pause at this point (``before:<stage>``, ``during:reports`` or
#: ``before:publish``), write the pid to ``PAUSE_FILE_ENV`` and wait to be killed.
PAUSE_AT_ENV = "CUSTRISK_TEST_PAUSE_AT"
PAUSE_FILE_ENV = "CUSTRISK_TEST_PAUSE_FILE"
PAUSE_SECONDS = 120


Event = dict[str, Any]


def latest_period(config: RunConfig) -> str:
    """The latest month whose exports are present (the default period)."""
    pattern = config.exports
    regex = re.compile(re.escape(pattern).replace(re.escape(PERIOD_FIELD), f"({PERIOD_REGEX})"))
    wildcard = glob.escape(pattern).replace(glob.escape(PERIOD_FIELD), "*")
    found = {m.group(1) for path in glob.glob(wildcard) if (m := regex.fullmatch(path))}
    if not found:
        queries = config.queries_only()  # (no exports: the month cannot be found)
        raise DataError(
            f"every source of {config.sources} is a database query, and no folder matches "
            f"{pattern} to tell the month from"
            if queries
            else f"no exports match {pattern}",
            file=str(config.path),
            hint=QUERIES_ONLY_HINT if queries else "put a month's exports there, or give --period",
        )
    return max(found)


def run_batch(
    config: RunConfig,
    period: str | None = None,
    *,
    force: bool = False,
    on_event: Callable[[Event], None] | None = None,
    now: dt.datetime | None = None,
) -> BatchOutcome:
    """Run (or resume) the batch of one period.

    Parameters
    ----------
    config : RunConfig
        From :func:`custrisk.batch.config.load_run_config`.
    period : str, optional
        ``YYYY-MM``; default: the latest month whose exports are present.
    force : bool
        Run again even when the finished run is up to date, and start afresh rather
        than resume.
    on_event : callable, optional
        Called with every event also written to the run's JSON-lines log.
    now : datetime, optional
        The time, for the schedule of failed notifications (default: the clock's).

    Raises
    ------
    custrisk.io.lock.LockHeld
        Another run holds the lock of the runs folder (of any period).
    DataError
        The run of the month before did not finish, or has not run while its exports are
        there (run it first).
    CustriskError
        A stage failed on bad input or config; the staging folder is kept and the next
        call resumes from that stage.
    """
    start = time.perf_counter()
    period = check_period(period) if period is not None else latest_period(config)
    exports = config.exports_for(period)
    if not exports.exists() and not config.queries_only():
        raise DataError(
            "the exports of the period are not there",
            file=str(exports),
            hint=f"check exports: in {config.path.name} and --period {period}",
        )
    layout = RunLayout(config.runs_dir, period)
    ensure_dir(config.runs_dir)
    notify_config = _notify.parse(config.notifications, f"{config.path}: notifications")
    del notify_config  # parsed here to refuse a bad section before any work
    what = "the runs folder (one run at a time, of any month)"
    # encrypt: true seals every customer-data output of the stages; without a key this
    # stops here (exit 2 naming what to create), before any work
    sealing = protected_outputs(encrypt=config.encrypt, group=load_roles().output_gid())
    busy = (  # not another folder: a month's run needs the run of the month before
        "wait for it to finish; the runs of one folder go one after the other, oldest month first"
    )
    lock = exclusive_lock(layout.lock_file, what=what, hint=busy)
    with _said_on_stop(layout, force), sealing, lock as held, query_period(period):
        notes: list[str] = []
        if held.taken_over:
            died = describe_holder(held.previous)
            notes.append(f"took over the lock of a run that died ({died})")
        recovered = layout.recover()
        if recovered:
            notes.append(recovered)
        new_month = not (layout.final / RUN_FILE).is_file()
        if foreign := layout.foreign():
            raise UsageError(
                f"{layout.final} is no run of custrisk run (no {RUN_FILE}) but holds "
                f"{join_limited(foreign, 3)}",
                hint="the run would replace the folder and delete them: move them elsewhere "
                "(or set runs: to another folder) and run again",
            )
        if _models_dir_needed(config):
            raise ConfigError(
                f"{str(config.models_dir)!r} is not a folder",
                file=str(config.path),
                key="models_dir",
                hint="the model registry custrisk train --models-dir wrote; paths are relative "
                "to the run config's folder",
            )
        # unpickled while the exports are validated and read
        model = open_model(config.model, config.models_dir, background=True)
        if layout.final.is_dir() and (layout.final / RUN_FILE).is_file() and not force:
            facts = read_json(layout.final / RUN_FILE)
            compared = compared_with(config.runs_dir, period, facts)
            basis = _basis(config, period, model.model_id, model.card, compared)
            queried = config.database_sources()  # rows that may have changed since
            if facts.get("fingerprint") == _fingerprint(basis) and not queried:
                if layout.staging.exists():  # a killed --force run: nothing to resume
                    remove_outputs(config.runs_dir, [layout.staging.name])
                    notes.append(f"removed {layout.staging.name}, left by a killed --force run")
                log = _Log(layout.final / LOG_FILE, period, on_event)
                previous = config.runs_dir / compared["period"] if compared else None
                if previous is not None and not (previous / RUN_FILE).is_file():
                    previous = None  # removed since (retention): the run has its lifecycle
                resent = _notify_again(config, layout.final, facts, previous, log, now)
                for note in notes:
                    log.write("note", message=note)
                log.write("nothing_to_do", run_id=facts.get("run_id"))
                _record_outputs(layout.final)  # (its log, and what a resend updated)
                return BatchOutcome(
                    period,
                    layout.final,
                    NOTHING_TO_DO,
                    facts,
                    time.perf_counter() - start,
                    notes=notes,
                    resent=resent,
                )
            notes.append(
                f"source(s) {', '.join(queried)} read a database, whose rows may have changed "
                f"since run {facts.get('run_id')}: run again"
                if queried
                else f"inputs or configs changed since run {facts.get('run_id')}: run again"
            )
        # customers custrisk forget erased: left out of every stage (a clear error
        # without the pseudonym key their tokens were made with)
        erasures = load_erasures(config.runs_dir)
        if erasures is not None and config.engine.dask:
            raise UsageError(
                f"{erasures.path} lists customers erased by custrisk forget, and the Dask "
                "engine does not leave them out yet",
                hint="run this month with engine: pandas (or --engine pandas)",
            )
        previous, unlike = _choose_previous(config, period)
        if unlike:
            notes.append(unlike)
        other_model = previous_model_differs(previous, model.model_id)
        if other_model:
            notes.append(other_model)
        basis = _basis(config, period, model.model_id, model.card, run_ref(previous))
        fingerprint = _fingerprint(basis)
        state = _open_staging(layout, fingerprint, fresh=force)
        log = _Log(layout.staging / LOG_FILE, period, on_event)
        log.write("start", fingerprint=fingerprint, force=force, pid=os.getpid())
        for note in notes:
            log.write("note", message=note)
        cluster = None
        if config.engine.dask:  # one cluster for every stage with a Dask path
            cluster = RunCluster(
                config.engine, on_start=lambda info: log.write("engine", engine="dask", **info)
            )
        with cluster or contextlib.nullcontext(), erasing(erasures):
            ctx = StageContext(
                config=config,
                period=period,
                folder=layout.staging,
                final=layout.final,
                model=model,
                previous=previous,
                done=state["stages"],
                on_report=_report_hook(),
                cluster=cluster,
                now=now,
            )
            resumed_from = _run_stages(ctx, state, layout, log, force)
        left_out = left_out_line(erasures)
        if left_out:
            log.write("erased_left_out", customers=len(erasures.met) if erasures else 0)
        _pause("before:publish")
        facts = _facts(config, period, basis, fingerprint, state, layout)
        write_json(layout.staging / RUN_FILE, facts)
        layout.publish()
        (layout.final / STATE_FILE).unlink(missing_ok=True)  # kept until now: resumable
        log.path = layout.final / LOG_FILE
        log.write("published", folder=str(layout.final), run_id=facts["run_id"])
        # the batch re-sends the latest month's failed notifications only: the month
        # before's left undelivered are said once, with the command that sends them
        left = _sent.left_behind(previous, period, config.path) if new_month else None
        if left:
            log.write("notify_left_behind", **{k: v for k, v in left.items() if k != "line"})
        removed = apply_retention(config.runs_dir, config.keep, period)
        if removed:
            log.write("retention", removed=removed, keep=config.keep)
        outcome = BatchOutcome(
            period,
            layout.final,
            DONE,
            facts,
            time.perf_counter() - start,
            resumed_from,
            notes,
            left_behind=left["line"] if left else None,
            other_model=other_model,
            left_out=left_out,
        )
        log.write("finished", exit_code=outcome.exit_code, gate=outcome.gate_failures)
        _record_outputs(layout.final)
        return outcome


def _record_outputs(folder: Path) -> None:
    """The run folder's files in this command's audit line (each file, and a folder in it
    such as ``reports/`` as a whole), hashed when the command ends: ``custrisk audit
    trace`` vouches for them by it."""
    audit_event(
        outputs=sorted(
            p for p in folder.iterdir() if not p.name.startswith(".") and not p.is_symlink()
        )
    )


@contextlib.contextmanager
def _said_on_stop(layout: RunLayout, force: bool) -> Iterator[None]:
    """What a run stopped (SIGINT, SIGTERM) outside its stages left, for the one line the
    CLI prints (a stage says it itself); the lock is released by then."""
    try:
        yield
    except Stopped as stop:
        if stop.left:
            raise
        again = "run the same command again"
        if layout.replaced.exists():
            left = (
                f"stopped while moving the run of {layout.period} into place; {again} to finish it"
            )
        elif layout.staging.is_dir():
            with contextlib.suppress(OSError):
                _Log(layout.staging / LOG_FILE, layout.period, None).write(
                    "stopped", signal=stop.signal_name
                )
            left = f"{_kept(_stages_done(layout))} in {layout.staging}; {_resume(layout, force)}"
        elif (layout.final / RUN_FILE).is_file():
            left = f"the run of {layout.period} is in {layout.final}"
        else:
            left = f"nothing written for {layout.period}; {again}"
        stop.leave(f"{left} (the run lock is released)")
        raise


def _resume(layout: RunLayout, force: bool, stage: str | None = None) -> str:
    """What to do after a stop: the same command resumes, bar --force, which starts
    afresh (and without which a month up to date is left as it is)."""
    at = f" at {stage}" if stage else ""
    if not force:
        return f"run the same command again to resume{at}"
    if (layout.final / RUN_FILE).is_file():
        return (
            f"--force runs the month again from its start; without it, the run in "
            f"{layout.final} stays as it is"
        )
    return f"run it again without --force to resume{at} (--force starts afresh)"


def _kept(stages: Collection[str]) -> str:
    """The stages done (in their order), as a stopped run's line says them."""
    done = [stage for stage in STAGES if stage in stages]
    return f"stages {', '.join(done)} kept" if done else "no stage done yet"


def _stages_done(layout: RunLayout) -> dict[str, Any]:
    """The stages recorded in the staging folder's state (none when unreadable)."""
    try:
        stages = read_json(layout.staging / STATE_FILE).get("stages")
    except DataError:
        return {}
    return stages if isinstance(stages, dict) else {}


def _notify_again(
    config: RunConfig,
    folder: Path,
    facts: dict[str, Any],
    previous: Path | None,
    log: _Log,
    now: dt.datetime | None = None,
) -> str | None:
    """Send, for a finished run, the notifications not delivered: those that failed (a
    mail server that was down, a webhook that refused) once their next attempt is due
    (the wait growing after each failure, given up after some days:
    :func:`_notify.record_failure`) and, when the ``notifications`` section was edited
    since, at once, every message it now makes that was not delivered before (a channel
    or recipients added); never again one that was. Update notifications.json and
    run.json (the notify stage, its gate). What was done, or ``None``."""
    if not config.notifications:
        return None
    path = folder / NOTIFICATIONS_FILE
    again_all = _notify.hand_command(folder, config.path) + " --again"
    record = _sent.read_record(path, again_all) if path.is_file() else {}
    earlier = list(record.get("deliveries") or [])
    digest = _notify.settings_digest(config.notifications)
    # (a run that sent none had no section: the one added now is new)
    changed = record.get("settings_sha256", digest if path.is_file() else None) != digest
    key = _notify.message_key
    delivered = _sent.delivered_messages(earlier)
    failed = {key(d): d for d in _sent.undelivered(earlier)}
    clock = _notify.utc_now(now)
    due = {k for k, d in failed.items() if _notify.due(d, clock)}
    if not due and not changed:
        return None  # (the summary says when: the notify stage's detail)
    parsed = _notify.parse(config.notifications, f"{config.path}: notifications")
    assert parsed is not None
    portfolio = folder / REPORTS_DIR / PORTFOLIO_FILE
    previous_run = read_run(previous / SCORES_FILE) if previous is not None else None
    options: dict[str, Any] = {
        "previous": previous_run,
        "reports_dir": folder / REPORTS_DIR,
        "portfolio_pdf": portfolio if portfolio.is_file() else None,
        "lang": config.lang,
    }
    run = read_run(folder / SCORES_FILE)
    planned = None
    if changed:
        made = _notify.deliver(parsed, run, dry_run=True, **options)
        planned = {key(d) for d in made}
        todo = planned - delivered
    else:
        todo = due
    again = _notify.deliver(parsed, run, resend=todo, **options) if todo else []
    sent = {key(d): d for d in again}
    tried = set(sent)  # (sent is emptied as the merge takes its deliveries)
    channels_sent = {d["channel"] for d in again}
    merged = []
    for d in earlier:
        k = key(d)
        if d.get("ok"):
            merged.append(d)
        elif k in sent:  # a failure again goes on with the message's schedule
            new = sent.pop(k)
            merged.append(new if new["ok"] else _notify.record_failure(new, d, clock))
        elif k in delivered or (k[1] == d.get("type") and k[0] in channels_sent):
            continue  # a failure of a message delivered since (or of its whole channel)
        elif planned is None or k in planned:  # (a failure the edit did away with: gone)
            merged.append(d)
    merged += [d if d["ok"] else _notify.record_failure(d, None, clock) for d in sent.values()]
    stage = facts.setdefault("stages", {}).setdefault("notify", {})
    if again:
        stage["resent"] = stage.get("resent", 0) + 1
    still = _sent.record(
        folder, facts, merged, settings_sha256=digest, fails_run=_notify.fails_run(parsed)
    )
    if not again:  # an edit that every delivery already meets (a level, a language)
        return None
    ok = sum(d["ok"] for d in again)
    log.write("notify_resent", resent=len(again), delivered=ok, failed=still, changed=changed)
    if not changed:
        said = (
            f"re-sent {counted(len(again), 'failed notification')}: {ok} delivered, "
            f"{still} still failing"
        )
    else:
        said = (
            f"notifications edited since the run: sent {len(again)} not delivered before "
            f"({ok} delivered, {still} failing)"
        )
    now_given_up = [d for d in merged if _notify.gave_up(d) and key(d) in tried]
    if now_given_up:
        said += "; " + _notify.given_up_line(now_given_up, folder, config.path)
        log.write(
            "notify_gave_up",
            channels=sorted({d["channel"] for d in now_given_up}),
            messages=len(now_given_up),
        )
    return said


def _models_dir_needed(config: RunConfig) -> bool:
    """Whether RUN.yaml's ``models_dir`` is needed and not there: a model named by its
    folder (``model: models/app/1``) needs no registry, whatever ``models_dir`` (which
    ``--init`` writes) says."""
    if config.models_dir is None or config.models_dir.is_dir():
        return False
    try:
        resolve_model(config.model, config.models_dir)
    except ModelArtifactError:
        return True
    return False


def _run_stages(
    ctx: StageContext, state: dict[str, Any], layout: RunLayout, log: _Log, force: bool
) -> str | None:
    """Run every stage not done yet; returns the stage a resumed run started at."""
    stages: dict[str, Any] = state["stages"]
    resumed_from = None
    redo = False
    for name in STAGES:
        recorded = stages.get(name)
        if recorded is not None and not redo:
            if file_hashes(layout.staging, OUTPUTS[name]) == recorded.get("outputs"):
                log.write("stage", stage=name, status="done earlier")
                continue
            log.write("note", message=f"outputs of stage {name} changed since: run it again")
        if stages and resumed_from is None and not redo:
            resumed_from = name
        redo = True
        stages.pop(name, None)
        _pause(f"before:{name}")
        remove_outputs(layout.staging, OUTPUTS[name])
        log.write("stage_start", stage=name)
        began = time.perf_counter()
        try:
            with on_the_cluster(ctx, name):  # (closed after the last stage that uses it)
                result: StageResult = RUNNERS[name](ctx)
        except Stopped as stop:
            # What the stage wrote so far is of no use (a resume runs it again from the
            # start): removed now, the staging folder holds the stages done only.
            remove_outputs(layout.staging, OUTPUTS[name])
            log.write("stage_stopped", stage=name, signal=stop.signal_name)
            stop.leave(
                f"stage {name} of {ctx.period} was running: its partial outputs removed, "
                f"{_kept(stages)} in {layout.staging}, the run lock released; "
                f"{_resume(layout, force, name)}",
                instead=True,  # the stage's own words (reports done) do not hold here
            )
            raise
        except CustriskError as exc:
            log.write("stage_failed", stage=name, error=exc.one_line())
            raise
        except OSError as exc:
            # A write the system refused (the disk full, the file size limit of
            # `ulimit -f`, a folder not writable): one line naming the stage, the staging
            # folder and what to do, and a stage_failed line in the log, as any failure
            remove_outputs(layout.staging, OUTPUTS[name])  # a cut file, and room to resume
            where = f"{exc.filename}: " if exc.filename else ""
            refused = DataError(
                f"stage {name} of {ctx.period}: {where}{exc.strerror or exc}; {_kept(stages)}",
                file=str(layout.staging),
                hint=f"{write_refused_hint(exc)} and {_resume(layout, force, name)}",
            )
            log.write("stage_failed", stage=name, error=refused.one_line())
            raise refused from None
        except Exception as exc:
            log.write("stage_failed", stage=name, error=f"internal: {type(exc).__name__}")
            raise
        entry = {
            **result.as_dict(),
            "seconds": round(time.perf_counter() - began, 3),
            "outputs": file_hashes(layout.staging, OUTPUTS[name]),
        }
        stages[name] = entry
        write_json(layout.staging / STATE_FILE, state)
        log.write(
            "stage_done",
            stage=name,
            status=result.status,
            rows=result.rows,
            detail=result.detail,
            gate=result.gate,
            seconds=entry["seconds"],
        )
    return resumed_from


def _open_staging(layout: RunLayout, fingerprint: str, *, fresh: bool) -> dict[str, Any]:
    """The state of a staging folder to resume, or a new empty one."""
    state_path = layout.staging / STATE_FILE
    if layout.staging.is_dir() and not fresh and state_path.is_file():
        with contextlib.suppress(DataError):
            state = read_json(state_path)
            if state.get("fingerprint") == fingerprint and isinstance(state.get("stages"), dict):
                return state
    if layout.staging.exists():
        remove_outputs(layout.runs_dir, [layout.staging.name])
    ensure_dir(layout.staging)
    state = {"fingerprint": fingerprint, "stages": {}}
    write_json(state_path, state)
    return state


def _choose_previous(config: RunConfig, period: str) -> tuple[Path | None, str | None]:
    """The run ``period`` is compared with: the month before's. Without it, the latest
    earlier run when the month before cannot be run (no exports), none for the first
    month of the folder (with what to say about it); a DataError when the month before
    did not finish or can still be run: run it first."""
    runs = config.runs_dir
    before = shift_period(period, -1)
    latest = previous_run(runs, period)
    if latest is not None and latest.name == before:
        return latest, None
    command = f"custrisk run {config.path.name} --period {before}"
    started = [p for p in unfinished(runs) if p < period]
    if before in started:
        raise DataError(
            f"the run of {before}, the month before {period}, did not finish "
            f"({RunLayout(runs, before).staging.name} is left)",
            file=str(runs),
            hint=f"run it first: {command}",
        )
    if latest is None and not started:
        return (
            None,
            f"no run before {period} in {runs.name}: the first month, compared with no earlier run",
        )
    if config.exports_for(before).exists():
        raise DataError(
            f"no run of {before}, the month before {period}, although its exports are there",
            file=str(runs),
            hint=f"run it first: {command}",
        )
    if latest is None:
        return None, f"no run of {before} (nor its exports): compared with no earlier run"
    return latest, f"no run of {before} (nor its exports): compared with the run of {latest.name}"


class _Log:
    """The run's JSON-lines log (appended; fsynced events survive a kill)."""

    def __init__(self, path: Path, period: str, on_event: Callable[[Event], None] | None) -> None:
        self.path = path
        self.period = period
        self.on_event = on_event

    def write(self, event: str, **fields: Any) -> None:
        record = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "period": self.period,
            "event": event,
            **fields,
        }
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
        if self.on_event is not None:
            self.on_event(record)


def _pause(point: str) -> None:
    """The test hook: stop here (see :data:`PAUSE_AT_ENV`) until killed."""
    if os.environ.get(PAUSE_AT_ENV) != point:
        return
    marker = os.environ.get(PAUSE_FILE_ENV)
    if marker:
        temp = Path(f"{marker}.tmp")
        temp.write_text(str(os.getpid()), encoding="ascii")
        os.replace(temp, marker)
    deadline = time.monotonic() + PAUSE_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.05)


def _report_hook() -> Callable[[ReportResult], None] | None:
    if os.environ.get(PAUSE_AT_ENV) != "during:reports":
        return None
    seen = iter(range(1, 1 << 30))

    def hook(_result: ReportResult) -> None:
        if next(seen) == 2:  # after two documents: a stage half done
            _pause("during:reports")

    return hook


__all__ = ["DONE", "NOTHING_TO_DO", "BatchOutcome", "latest_period", "run_batch"]
