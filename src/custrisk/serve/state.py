"""What the decision service's routes share (:class:`ServiceState`): the model it serves,
loaded, reloaded and followed across worker processes, the bearer tokens, the access log,
the per-token rate limit, and the micro-batcher that scores waiting requests together and
stores (inputs masked) and notifies each decision."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from custrisk.data.text import normalised_id
from custrisk.privacy import mask_name_value, mask_pii_text
from custrisk.scoring.features import open_model
from custrisk.scoring.records import RecordError, RecordScorer
from custrisk.serve.jiandaoyun import JdyProfile, identity_profile, load_profile
from custrisk.serve.metrics import Metrics
from custrisk.serve.request import Problem
from custrisk.serve.settings import ServeSettings
from custrisk.serve.shared import Seat, SharedRateLimiter, alive
from custrisk.serve.store import DecisionStore, TokenInfo, fingerprint, now_text
from custrisk.serve.tokens import WARN_EVERY, expires_soon, expiry_text, time_left
from custrisk.serve.writer import BackgroundWriter
from custrisk.vocab import NOTE

log = logging.getLogger(__name__)

#: How long a batch waits for requests that have arrived but are not read yet.
COLLECT_SECONDS = 0.001
#: How often a worker looks whether another worker published a new model version.
FOLLOW_SECONDS = 0.1
#: How long a reload waits for every worker to serve the new version.
RELOAD_WAIT_SECONDS = 120.0


class RateLimiter:
    """A token bucket per caller: ``rate`` requests per second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when a request may pass, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


@dataclass
class ServiceState:
    """What the routes share; :attr:`scorer` is swapped whole on reload."""

    settings: ServeSettings
    store: DecisionStore
    scorer: RecordScorer | None = None
    profile: JdyProfile | None = None
    jdy_secret: str | None = None
    limiter: RateLimiter | SharedRateLimiter = field(default_factory=lambda: RateLimiter(0, 1))
    tokens: dict[str, TokenInfo] = field(default_factory=dict)
    tokens_loaded: float = 0.0
    #: token id -> when (time.monotonic) this process last asked whether to say it expires
    expiry_checked: dict[str, float] = field(default_factory=dict)
    loaded_at: str = ""
    reloads: int = 0
    access: Any = None
    writer: BackgroundWriter | None = None
    notifier: ThreadPoolExecutor | None = None
    batcher: MicroBatcher | None = None
    reload_lock: threading.Lock = field(default_factory=threading.Lock)
    seat: Seat | None = None  # one of several worker processes (--workers N)
    metrics: Metrics = field(default_factory=Metrics)

    # ---------------------------------------------------------------------------------

    def load_scorer(self, folder: str | None = None) -> RecordScorer:
        """Resolve (NAME: its latest version), verify and prepare the model; ``folder``:
        that model folder instead (the version another worker switched to)."""
        return load_scorer(self.settings, folder)

    def reload(self) -> dict[str, Any]:
        """Load the model again (a new version of NAME, a new policy) and switch to it;
        with several workers, every worker switches before this returns."""
        with self.reload_lock:
            old = self.scorer.model_id if self.scorer is not None else None
            scorer = self.load_scorer()
            generation = 0
            if self.seat is not None:  # the others load the very folder this one loaded
                generation = self.seat.board.publish(str(scorer.model.ref.path.resolve()))
            self._switch(scorer, generation)
            # said without -v (a Note:): the policy's warnings, said again at each reload,
            # would otherwise be the only trace of a reload in the log
            log.warning("model reloaded: %s -> %s", old, scorer.model_id, extra=NOTE)
            done: dict[str, Any] = {
                "previous": old,
                "model_id": scorer.model_id,
                "loaded_at": self.loaded_at,
            }
        if self.seat is not None:
            done["workers"] = self._wait_for_workers(generation)
        return done

    def follow(self) -> None:
        """Switch to the model version another worker published (off the event loop)."""
        assert self.seat is not None
        generation, folder = self.seat.board.pinned()
        if folder is None or generation <= self.seat.generation:
            return
        with self.reload_lock:
            if generation <= self.seat.generation:
                return
            old = self.scorer.model_id if self.scorer is not None else "-"
            try:
                scorer = self.load_scorer(folder)
            except Exception as exc:  # keep serving the current model, say so
                log.error(
                    "worker %d could not switch to %s, still serving %s: %s",
                    self.seat.slot,
                    folder,
                    old,
                    exc,
                )
                self.seat.generation = generation  # not retried: the reload reports it
                self.seat.board.take_seat(self.seat.slot, os.getpid(), generation, old)
                return
            self._switch(scorer, generation)
            log.info("worker %d switched: %s -> %s", self.seat.slot, old, scorer.model_id)

    def _switch(self, scorer: RecordScorer, generation: int) -> None:
        profile = self._profile(scorer)
        self.scorer, self.profile = scorer, profile  # one swap each: no request sees half
        self.loaded_at = now_text()
        self.reloads += 1
        self.refresh_tokens(force=True)
        if self.seat is not None:
            self.seat.generation = generation
            self.seat.board.take_seat(self.seat.slot, os.getpid(), generation, scorer.model_id)

    def _wait_for_workers(self, generation: int) -> list[dict[str, Any]]:
        """The workers once each live one serves ``generation`` (or the wait is over)."""
        assert self.seat is not None
        deadline = time.monotonic() + RELOAD_WAIT_SECONDS
        while True:
            seats = [s for s in self.seat.board.seats() if alive(s["pid"])]
            if all(s["generation"] >= generation for s in seats):
                break
            if time.monotonic() > deadline:
                log.error("reload: not every worker switched in %.0f s", RELOAD_WAIT_SECONDS)
                break
            time.sleep(0.02)
        return [{k: s[k] for k in ("worker", "pid", "model_id")} for s in seats]

    def _profile(self, scorer: RecordScorer) -> JdyProfile:
        s = self.settings
        if s.jdy_profile is None:
            return identity_profile()
        return load_profile(s.jdy_profile, {f.header for f in scorer.fields})

    def refresh_tokens(self, *, force: bool = False, older_than: float = 5.0) -> None:
        """Re-read the active tokens (every few seconds: a revoked token stops working;
        ``older_than`` less for a token not known yet: one made a moment ago)."""
        if force or time.monotonic() - self.tokens_loaded > older_than:
            self.tokens = self.store.active_tokens()
            self.tokens_loaded = time.monotonic()

    def warn_if_expiring(self, info: TokenInfo) -> None:
        """Say in the log that a token in use expires within 7 days: once a day at most,
        whichever worker process it reaches (the store keeps when it was said)."""
        if not expires_soon(info.expires_at):
            return
        now = time.monotonic()
        last = self.expiry_checked.get(info.token_id)
        if last is not None and now - last < WARN_EVERY.total_seconds():
            return
        self.expiry_checked[info.token_id] = now
        try:
            due = self.store.claim_expiry_warning(info.token_id)
        except SQLAlchemyError:  # the store is down: better said twice than never
            due = True
        if due:
            assert info.expires_at is not None
            log.warning(
                "token %s (%s) expires at %s, in %s: make a new one (custrisk serve-token new "
                "%s --expires 90d), put it in its client, then revoke this one (custrisk "
                "serve-token revoke %s)",
                info.token_id,
                info.name,
                expiry_text(info.expires_at),
                time_left(info.expires_at),
                info.name,
                info.token_id,
            )

    def log_access(self, entry: dict[str, Any]) -> None:
        if self.writer is not None and self.access is not None:
            self.writer.access_line(json.dumps(entry, ensure_ascii=False) + "\n")


def load_scorer(s: ServeSettings, folder: str | None = None) -> RecordScorer:
    """The model of ``s`` (or ``folder``) resolved, verified and prepared for scoring."""
    model = open_model(
        folder or s.model,
        s.models_dir,
        require_signed=s.require_signed,
        allow_unverified=s.allow_unverified,
        predict_only=True,  # a scorecard scores without importing scikit-learn
    )
    return RecordScorer(model, policy=s.policy, alert_rules=s.alert_rules, lang=s.lang)


async def follow_board(state: ServiceState) -> None:
    """Switch this worker to a model version another worker published."""
    assert state.seat is not None
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(FOLLOW_SECONDS)
        if state.seat.board.generation() > state.seat.generation:
            try:
                await loop.run_in_executor(None, state.follow)
            except Exception:  # never stop following
                log.exception("worker %d: switching models failed", state.seat.slot)


def decide(
    state: ServiceState,
    records: Sequence[Any],
    *,
    caller: str | Sequence[str],
    channel: str | Sequence[str],
    ids: Sequence[str | None] | None = None,
    store: bool = True,
) -> list[dict[str, Any]]:
    """Score, store and (for high-risk decisions) notify; the decisions as answered.

    ``store=False``: neither stored nor notified; each answer carries the row to store
    under ``_stored`` (a 简道云 delivery stores it with its response, then notifies).

    ``caller``, ``channel`` and ``ids`` may be given per record (a micro-batch of several
    requests); a record without an id gets its decision id (upper case: ids are
    normalised so).
    """
    scorer = state.scorer
    assert scorer is not None
    n = len(records)
    callers = [caller] * n if isinstance(caller, str) else list(caller)
    channels = [channel] * n if isinstance(channel, str) else list(channel)
    decision_ids = [uuid.uuid4().hex for _ in records]
    given = list(ids) if ids is not None else [None] * n
    # normalised here as cleaning would (a 简道云 _id is lower case): the caller never sent
    # this id, so cleaning it must not answer a "repaired" it cannot act on
    record_ids = [
        normalised_id(g) or d.upper() if g else d.upper()
        for g, d in zip(given, decision_ids, strict=True)
    ]
    try:
        batch = scorer.score(records, ids=record_ids)
    except RecordError as exc:
        raise Problem(422, exc.one_line(), details=exc.problems) from None
    created = now_text()
    # (a record's keys as it sent them: 手機號 is the field 手机号, personal data too)
    fields = [{str(k): scorer.field_of(str(k)) for k in record} for record in records]
    stored = []
    answers = []
    for i, (decision, record) in enumerate(zip(batch.decisions, records, strict=True)):
        answer = {"decision_id": decision_ids[i], **decision, "as_of": batch.as_of.isoformat()}
        if batch.repaired and batch.repaired[i]:
            # (the value as sent, phones, ID numbers and e-mails masked: the answer is
            # stored with the decision, which holds no personal data in clear)
            answer["repaired"] = [_value_masked(r) for r in batch.repaired[i]]
        sent = next(
            (
                v
                for k, v in record.items()
                if (f := fields[i][str(k)]) is not None
                and f.role == "id"
                and v is not None
                and str(v).strip()
            ),
            None,
        )
        if sent is not None and str(sent) != answer.get("customer_id"):
            answer["record_id"] = str(sent)  # as the caller has it, to match the answer back
        answers.append(answer)
        stored.append(
            {
                "decision_id": decision_ids[i],
                "created_at": created,
                "caller": callers[i],
                "channel": channels[i],
                "input_fingerprint": fingerprint(record),
                "inputs_masked": _masked(
                    record, {k for k, f in fields[i].items() if f is not None and f.pii}
                ),
                "outputs": answer,
            }
        )
    state.metrics.decisions(a["decision"] for a in answers)
    if not store:
        return [dict(a, _stored=s) for a, s in zip(answers, stored, strict=True)]
    if state.writer is not None:
        state.writer.decisions(stored)  # stored by the writer thread, in order
    else:
        state.store.add_decisions(stored)
    notify_high_risk(state, scorer, answers)
    return answers


@dataclass
class _Job:
    records: list[Any]
    caller: str
    future: asyncio.Future[list[dict[str, Any]]]


class MicroBatcher:
    """Requests that arrive while a batch is being scored are scored together next.

    Scoring has a fixed cost per call (cleaning, features, policy over a table) that
    dwarfs the cost per record, so under load one call for the requests waiting costs
    about as much as one for a single request. Scoring runs on the event loop itself
    (``inline``, the default): requests arriving meanwhile wait in the socket buffers and
    are all read before the next batch closes. On a thread instead (``inline=False``) the
    loop and the scorer share the GIL: measured with bench_serve.py, batches were smaller
    (3.2 against 4.3 requests) for about the same throughput, so the simpler way is the
    default. A batch whose records fail validation is scored again request by request,
    so one bad request never fails another.
    """

    def __init__(self, state: ServiceState, max_records: int, *, inline: bool = True) -> None:
        self.state = state
        self.inline = inline
        self.max_records = max_records
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="custrisk-score")
        self.queue: asyncio.Queue[_Job] | None = None
        self.task: asyncio.Task[None] | None = None
        self.batches = 0

    async def submit(self, records: list[Any], caller: str) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        if self.queue is None:
            self.queue = asyncio.Queue()
            self.task = loop.create_task(self._run())
        future: asyncio.Future[list[dict[str, Any]]] = loop.create_future()
        await self.queue.put(_Job(records, caller, future))
        return await future

    async def _run(self) -> None:
        assert self.queue is not None
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            # Let the loop read what has arrived meanwhile (requests queued while the
            # last batch was scored, and their bodies) before the batch is closed.
            await asyncio.sleep(COLLECT_SECONDS)
            size = len(jobs[0].records)
            while not self.queue.empty() and size < self.max_records:
                job = self.queue.get_nowait()
                jobs.append(job)
                size += len(job.records)
            self.batches += 1
            if self.state.seat is not None:
                self.state.seat.board.count_batch(self.state.seat.slot)
            try:
                if self.inline:
                    results = self._score(jobs)
                else:
                    results = await loop.run_in_executor(self.executor, self._score, jobs)
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                results = [exc] * len(jobs)
            for job, result in zip(jobs, results, strict=True):
                if job.future.done():
                    continue
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)

    def _score(self, jobs: list[_Job]) -> list[list[dict[str, Any]] | BaseException]:
        if len(jobs) > 1:
            records = [r for job in jobs for r in job.records]
            callers = [job.caller for job in jobs for _ in job.records]
            try:
                answers = decide(self.state, records, caller=callers, channel="api")
            except Problem:
                pass  # one request's bad record: score them apart
            else:
                out: list[list[dict[str, Any]] | BaseException] = []
                start = 0
                for job in jobs:
                    part = answers[start : start + len(job.records)]
                    for local, answer in enumerate(part):
                        for entry in answer.get("repaired", ()):
                            entry["index"] = local
                    out.append(part)
                    start += len(job.records)
                return out
        results: list[list[dict[str, Any]] | BaseException] = []
        for job in jobs:
            try:
                results.append(decide(self.state, job.records, caller=job.caller, channel="api"))
            except Exception as exc:  # noqa: BLE001 - answered to that request
                results.append(exc)
        return results

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.executor.shutdown(wait=True)


def _value_masked(entry: dict[str, Any]) -> dict[str, Any]:
    value = entry.get("value")
    return dict(entry, value=mask_pii_text(value)) if isinstance(value, str) else entry


def _masked(record: Mapping[str, Any], pii: set[str]) -> dict[str, Any]:
    """The record with personal fields masked: a name keeps its first character
    (``张**``), a phone, id number or e-mail its ends (``138****5678``), anything else
    is ``***``. Other fields' texts have what looks like a phone, ID number or e-mail
    masked (``请致电139****5678`` sent as a region), and so have the field names (a flat
    table's header 联系人13812345678, which its model keeps as 联系人138****5678)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key not in pii or value in (None, ""):
            out[key] = mask_pii_text(value) if isinstance(value, str) else value
            continue
        text = str(value)
        if not any(c.isdigit() or c == "@" for c in text):
            out[key] = mask_name_value(text)
        else:
            masked = mask_pii_text(text)
            out[key] = masked if masked != text else "***"
    return {mask_pii_text(key): value for key, value in out.items()}


def notify_high_risk(
    state: ServiceState, scorer: RecordScorer, answers: Sequence[dict[str, Any]]
) -> None:
    hook = state.settings.on_high_risk
    if hook is None or state.notifier is None:
        return
    for answer in answers:
        if answer["decision"] in scorer.policy.notify:
            state.notifier.submit(_safe_call, hook, dict(answer))


def _safe_call(hook: Callable[[dict[str, Any]], None], decision: dict[str, Any]) -> None:
    try:
        hook(decision)
    except Exception:  # a failing channel never fails the service
        log.exception("high-risk notification failed for decision %s", decision.get("decision_id"))


__all__ = ["RateLimiter", "ServiceState", "load_scorer"]
