"""The decisions store of ``custrisk serve``: every decision, the 简道云 deliveries already
answered and the service's bearer tokens (stored hashed).

SQLite file by default, PostgreSQL (or any SQLAlchemy database) by URL. A decision keeps
an input fingerprint (SHA-256 of the canonical JSON of the inputs), the inputs with
personal data masked, the outputs, the model id, the time and the caller; never a
personal field in clear, never a token.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from custrisk.data.text import normalised_id
from custrisk.errors import ConfigError, UsageError
from custrisk.policy import DECISIONS
from custrisk.privacy import mask_pii_text
from custrisk.serve.ids import KeptIds
from custrisk.serve.schema import (
    LATER_TOKEN_COLUMNS,
    decisions_table,
    deliveries_table,
    idempotency_table,
    metadata,
    probe_table,
    push_signatures_table,
    tokens_table,
)
from custrisk.serve.tokens import WARN_EVERY, parse_expiry

log = logging.getLogger(__name__)

#: Scopes a token may hold: ``score`` (POST /v1/score, GET /v1/model), ``admin``
#: (POST /admin/reload).
SCOPES = ("score", "admin")
#: The environment variable that may hold the store's URL.
STORE_URL_ENV = "CUSTRISK_DECISIONS_URL"
DEFAULT_STORE = Path("serve") / "decisions.db"
_TOKEN_PREFIX = "crk_"
#: A 简道云 delivery claimed this long ago and still unanswered (its worker died) may be
#: claimed again.
CLAIM_STALE_SECONDS = 60.0
#: How long an ``Idempotency-Key`` is remembered (a retry comes within minutes; Stripe
#: keeps keys 24 hours).
IDEMPOTENCY_KEEP_SECONDS = 24 * 3600.0
#: Below this much free space on a SQLite store's disk the service is not ready.
MIN_FREE_BYTES = 16 * 2**20


def now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def fingerprint(inputs: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a record's inputs (same inputs, same print)."""
    text = json.dumps(inputs, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def store_url(
    spec: str | os.PathLike[str] | None, *, create: bool = True, option: str = "--db"
) -> str:
    """A SQLAlchemy URL from ``--db``: a URL, ``env:NAME``, a SQLite file path, or
    ``None`` (``CUSTRISK_DECISIONS_URL``, else ``serve/decisions.db``). ``create=False``
    (a command that reads the store): a SQLite file that does not exist is an error, not
    a new empty store that would show no decision and no token."""
    if spec is None:
        spec = os.environ.get(STORE_URL_ENV) or str(DEFAULT_STORE)
    text = str(spec)
    if text.startswith("env:"):
        name = text[4:]
        value = os.environ.get(name)
        if not value:
            raise UsageError(
                f"{option} {text}: the environment variable {name} is not set",
                hint=f"export {name}=postgresql+psycopg://user@host/db",
            )
        text = value
    if "://" in text:
        return text
    path = Path(text)
    if not create and not path.exists():
        raise UsageError(
            f"no decisions store at {path} ({path.absolute()}): custrisk serve creates it "
            "when it starts",
            hint=f"run this in the service's folder, or pass {option} (or set {STORE_URL_ENV}) "
            "as the service has it",
        )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return f"sqlite:///{path}"


@dataclass(frozen=True)
class TokenInfo:
    """A token as the service sees it (never its secret)."""

    token_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: str
    revoked_at: str | None = None
    expires_at: str | None = None  # None: never


def check_decision_filters(*, limit: int, decision: str | None = None) -> None:
    """Refuse a ``--decision`` that is not approve, review or decline and a negative
    ``--limit`` (0: all; ``custrisk decisions list`` checks them before it opens the store).

    Raises
    ------
    UsageError
        Naming the option, what it takes and the value given.
    """
    if decision is not None and decision not in DECISIONS:
        raise UsageError(f"--decision must be one of {', '.join(DECISIONS)}; got {decision!r}")
    if limit < 0:
        raise UsageError(f"--limit must be 0 (all) or more; got {limit}")


class DecisionStore:
    """Decisions, deliveries and tokens in one database (thread-safe)."""

    def __init__(
        self,
        url: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        option: str = "--db",
    ) -> None:
        self.url = store_url(url, create=create, option=option)  # option: named in errors
        try:
            if self.url.startswith("sqlite"):
                self.engine = sa.create_engine(
                    self.url, connect_args={"check_same_thread": False}, poolclass=sa.StaticPool
                )
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            else:
                self.engine = sa.create_engine(self.url, pool_pre_ping=True)
            metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise ConfigError(
                f"cannot open the decisions store: {type(exc).__name__}: "
                f"{without_password(str(exc).splitlines()[0])}",
                key=option,
                hint="pass a writable SQLite path or a reachable database URL",
            ) from None
        if self.url.startswith("sqlite:///"):
            db = Path(self.url.removeprefix("sqlite:///"))
            if db.exists():
                db.chmod(0o600)
        # Writes take the lock; on SQLite reads take it too: the pool holds one connection
        # shared by the threads (the event loop's reads, the background writer), and a read
        # returning it rolls back whatever transaction another thread has open on it.
        self._lock = threading.RLock()
        self._token_columns = self._upgrade_tokens()
        self._lookups: dict[str, tuple[str, ...]] = {}

    @functools.cached_property
    def ids(self) -> KeptIds:
        """A customer id that is a phone, e-mail or ID number: kept as its token or
        masked (resolved at first use: ``forget --keyfile`` names the key file later)."""
        return KeptIds.of_process()

    def _stored_ids(self, customer: str | None) -> tuple[str, ...] | None:
        """The stored ids a lookup by ``customer`` finds (:meth:`KeptIds.looked_up`: a
        phone as its token or masked), looked up (and its warning said) once per store:
        a listing counts, reads and names the models of one customer's decisions."""
        if customer is None:
            return None
        wanted = normalised_id(customer)
        if wanted not in self._lookups:
            self._lookups[wanted] = self.ids.looked_up(wanted)
        return self._lookups[wanted]

    def _upgrade_tokens(self) -> list[sa.Column[Any]]:
        """Add the token columns a store made before them lacks (its tokens never expire);
        the columns that can be read: all, unless the store cannot be altered (read-only)."""
        have = {c["name"] for c in sa.inspect(self.engine).get_columns("tokens")}
        for name in LATER_TOKEN_COLUMNS:
            if name not in have:
                try:
                    with self._lock, self.engine.begin() as conn:
                        conn.exec_driver_sql(f"ALTER TABLE tokens ADD COLUMN {name} VARCHAR(32)")
                    have.add(name)
                except SQLAlchemyError:  # read-only: read what is there
                    pass
        return [c for c in tokens_table.c if c.name in have]

    def _token_rows(self) -> sa.Select[Any]:
        return sa.select(*self._token_columns)

    @property
    def shown_url(self) -> str:
        """The store's URL as messages name it: without the user and password of a
        database URL (``postgresql+psycopg://u:p@host/db`` -> ``host/db``)."""
        return self.url.split("@")[-1]

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        guard = self._lock if self.url.startswith("sqlite") else contextlib.nullcontext()
        with guard, self.engine.connect() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    def unwritable(self) -> str | None:
        """``None`` when a decision can be stored now, else why not (one line): a write
        to the store fails (a read-only folder or file system, a full disk, a database
        that is down) or a SQLite store's disk has under :data:`MIN_FREE_BYTES` free."""
        if self.url.startswith("sqlite:///"):
            folder = Path(self.url.removeprefix("sqlite:///")).absolute().parent
            try:
                free = shutil.disk_usage(folder).free
            except OSError as exc:
                return f"the decisions store's folder {folder} cannot be read: {exc.strerror}"
            if free < MIN_FREE_BYTES:
                return (
                    f"the disk of the decisions store ({folder}) has {free / 2**20:.1f} MiB "
                    f"free, under {MIN_FREE_BYTES // 2**20} MiB: free some space"
                )
        try:
            with self._lock, self.engine.begin() as conn:
                conn.execute(probe_table.delete())
                conn.execute(probe_table.insert(), {"probe": 1, "checked_at": now_text()})
        except SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None)  # the driver's words, without the SQL
            text = str(orig if orig is not None else exc)
            return (
                "the decisions store cannot be written: "
                f"{without_password(text.splitlines()[0] if text else type(exc).__name__)}"
            )
        return None

    # decisions -----------------------------------------------------------------------

    def add_decisions(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Store decisions (one transaction)."""
        if not rows:
            return
        with self._lock, self.engine.begin() as conn:
            conn.execute(decisions_table.insert(), self._rows(rows))

    def _rows(self, decisions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [_decision_row(r, self.ids) for r in decisions]

    def iter_decisions(
        self,
        *,
        limit: int = 0,
        decision: str | None = None,
        since: str | None = None,
        customer: str | None = None,
        full: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """The latest ``limit`` decisions (0: all), newest first, of one outcome or
        customer when given (checked by :func:`check_decision_filters`), read as they are
        consumed (a server-side cursor on PostgreSQL): a listing of 100,000 decisions
        holds a few hundred in memory. ``full=False``: the columns alone (id, time,
        caller, channel, model, customer, fingerprint, PD, score, grade, decision), the
        inputs and outputs neither read nor masked."""
        check_decision_filters(limit=limit, decision=decision)
        d = decisions_table
        columns = d.c if full else [c for c in d.c if c.name not in ("inputs_masked", "outputs")]
        query = _filtered(sa.select(*columns), decision, since, self._stored_ids(customer))
        query = query.order_by(d.c.created_at.desc())
        with self._reading() as conn:
            result = conn.execution_options(yield_per=500).execute(
                query.limit(limit) if limit else query
            )
            for row in result.mappings():
                yield _decision_out(row) if full else dict(row)

    def list_decisions(self, *, limit: int = 50, **filters: Any) -> list[dict[str, Any]]:
        """:meth:`iter_decisions` as a list (``limit`` 0: all)."""
        return list(self.iter_decisions(limit=limit, **filters))

    def count_decisions(
        self,
        *,
        decision: str | None = None,
        since: str | None = None,
        customer: str | None = None,
    ) -> int:
        """How many decisions there are (of one outcome, customer or since a time)."""
        query = _filtered(sa.select(sa.func.count()), decision, since, self._stored_ids(customer))
        with self._reading() as conn:
            return int(conn.execute(query.select_from(decisions_table)).scalar_one())

    def decision_models(self, *, limit: int = 0, **filters: Any) -> list[str]:
        """The models (sorted) of the latest ``limit`` decisions (0: all) of
        :meth:`iter_decisions` with these filters."""
        d = decisions_table
        latest = _filtered(
            sa.select(d.c.model_id),
            filters.get("decision"),
            filters.get("since"),
            self._stored_ids(filters.get("customer")),
        )
        latest = latest.order_by(d.c.created_at.desc())
        shown = (latest.limit(limit) if limit else latest).subquery()
        with self._reading() as conn:
            return sorted(conn.execute(sa.select(shown.c.model_id).distinct()).scalars())

    def get_decision(self, decision_id: str) -> dict[str, Any] | None:
        with self._reading() as conn:
            row = (
                conn.execute(
                    sa.select(decisions_table).where(decisions_table.c.decision_id == decision_id)
                )
                .mappings()
                .first()
            )
        return _decision_out(row) if row is not None else None

    def get_decision_by_prefix(self, prefix: str) -> dict[str, Any] | None:
        """The one decision whose id starts with ``prefix`` (None if none or several)."""
        with self._reading() as conn:
            rows = (
                conn.execute(
                    sa.select(decisions_table)
                    .where(decisions_table.c.decision_id.startswith(prefix, autoescape=True))
                    .limit(2)
                )
                .mappings()
                .all()
            )
        return _decision_out(rows[0]) if len(rows) == 1 else None

    def find_decision(self, decision_id: str) -> dict[str, Any]:
        """The decision an operator names (``custrisk decisions show``): its id, or the
        first 8 characters or more of it, in any case (ids are lower-case hex; a record's
        customer id, when it sent none, is upper case).

        Raises
        ------
        UsageError
            When no decision, or several, match: naming the id as looked up.
        """
        decision_id = decision_id.strip()
        if re.fullmatch(r"[0-9A-Fa-f]+", decision_id):
            decision_id = decision_id.lower()
        row = self.get_decision(decision_id)
        if row is None and len(decision_id) >= 8:
            row = self.get_decision_by_prefix(decision_id)
        if row is None:
            raise UsageError(
                f"no decision with id {decision_id!r}", hint="custrisk decisions list shows the ids"
            )
        return row

    def forget_customer(self, customer_id: str, token: str | None = None) -> dict[str, int]:
        """Erase one customer's decisions (``custrisk forget --decisions``), in one
        transaction: with ``token`` (``--mode pseudonymise``) they are kept under it, the
        id replaced in the columns, the answer and the masked inputs; without, deleted.
        Either way the stored answers that repeat them (简道云 deliveries, idempotency
        keys) are deleted: a retry of those is scored afresh. Returns the rows changed
        per table."""
        wanted = normalised_id(customer_id)
        exact = self.ids.exact(wanted)  # (as stored: a phone as its token)
        masked = self.ids.masked(wanted) if self.ids.key is None else None
        d = decisions_table
        counts = {"decisions": 0, "deliveries": 0, "idempotency_keys": 0, "masked": 0}
        with self._lock, self.engine.begin() as conn:
            rows = conn.execute(sa.select(d).where(d.c.customer_id.in_(exact))).mappings().all()
            if masked is not None:  # (may be this customer's, or another's: not erased)
                counts["masked"] = conn.execute(
                    sa.select(sa.func.count()).select_from(d).where(d.c.customer_id == masked)
                ).scalar_one()
            ids = [r["decision_id"] for r in rows]
            for decision_id in ids:  # the answers kept for repeats hold the id in clear
                counts["deliveries"] += conn.execute(
                    deliveries_table.delete().where(
                        deliveries_table.c.response.contains(decision_id, autoescape=True)
                    )
                ).rowcount
                counts["idempotency_keys"] += conn.execute(
                    idempotency_table.delete().where(
                        idempotency_table.c.decision_ids.contains(decision_id, autoescape=True)
                    )
                ).rowcount
            if token is None:
                if ids:
                    counts["decisions"] = conn.execute(
                        d.delete().where(d.c.decision_id.in_(ids))
                    ).rowcount
                return counts
            for row in rows:
                outputs = json.loads(row["outputs"])
                outputs.update(
                    _replace_id(
                        {k: outputs[k] for k in ("customer_id", "record_id") if k in outputs},
                        exact,
                        token,
                    )
                )
                # the record as sent: its id field's name is the caller's (客户编号, ...)
                inputs = _replace_id(json.loads(row["inputs_masked"]), exact, token)
                conn.execute(
                    d.update()
                    .where(d.c.decision_id == row["decision_id"])
                    .values(
                        customer_id=token,
                        outputs=json.dumps(outputs, ensure_ascii=False, sort_keys=True),
                        inputs_masked=json.dumps(inputs, ensure_ascii=False, sort_keys=True),
                    )
                )
            counts["decisions"] = len(rows)
        return counts

    # deliveries ----------------------------------------------------------------------

    def delivery(self, deliver_id: str) -> dict[str, Any] | None:
        """The response given to an earlier delivery with this id, if any (``None`` too
        while the delivery is claimed but not answered yet)."""
        with self._reading() as conn:
            text = conn.execute(
                sa.select(deliveries_table.c.response).where(
                    deliveries_table.c.deliver_id == deliver_id
                )
            ).scalar_one_or_none()
        return json.loads(text) if text else None

    def first_use_of_signature(self, signature: str, deliver_id: str, *, keep: float) -> bool:
        """Record a verified push's signature: ``True`` the first time, and for a repeat
        of the same delivery (the same non-empty deliver id: 简道云 retrying); ``False``
        when the signed push was seen under another deliver id or none (a replay).
        Signatures older than ``keep`` seconds (the freshness window: older pushes are
        refused anyway) are forgotten."""
        signature = signature.strip().lower()
        cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=keep)).isoformat(
            timespec="milliseconds"
        )
        with self._lock:
            with self.engine.begin() as conn:
                conn.execute(
                    push_signatures_table.delete().where(
                        push_signatures_table.c.created_at < cutoff
                    )
                )
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        push_signatures_table.insert(),
                        {
                            "signature": signature,
                            "deliver_id": deliver_id,
                            "created_at": now_text(),
                        },
                    )
                return True
            except IntegrityError:
                pass
            with self._reading() as conn:
                first = conn.execute(
                    sa.select(push_signatures_table.c.deliver_id).where(
                        push_signatures_table.c.signature == signature
                    )
                ).scalar_one_or_none()
        return bool(deliver_id) and first == deliver_id

    def claim_delivery(self, deliver_id: str, *, stale_after: float = CLAIM_STALE_SECONDS) -> bool:
        """Claim a delivery before scoring it: ``True`` for the one caller (of any worker
        process) whose row went in, ``False`` when it is answered or claimed already.

        The claim is a row without a response; the deliver id's primary key makes the
        second insert fail. A claim left unanswered for ``stale_after`` seconds (its
        worker died) may be taken over.
        """
        with self._lock:
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        deliveries_table.insert(),
                        {"deliver_id": deliver_id, "created_at": now_text(), "response": ""},
                    )
                return True
            except IntegrityError:
                pass
            cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=stale_after)).isoformat(
                timespec="milliseconds"
            )
            with self.engine.begin() as conn:
                taken = conn.execute(
                    deliveries_table.update()
                    .where(deliveries_table.c.deliver_id == deliver_id)
                    .where(deliveries_table.c.response == "")
                    .where(deliveries_table.c.created_at <= cutoff)
                    .values(created_at=now_text())
                )
            return bool(taken.rowcount)

    def complete_delivery(
        self, deliver_id: str, response: Mapping[str, Any], decisions: Sequence[Mapping[str, Any]]
    ) -> bool:
        """Answer a claimed delivery: its response and decisions stored together;
        ``False`` (nothing stored) when the claim is no longer this caller's."""
        with self._lock, self.engine.begin() as conn:
            done = conn.execute(
                deliveries_table.update()
                .where(deliveries_table.c.deliver_id == deliver_id)
                .where(deliveries_table.c.response == "")
                .values(response=json.dumps(response, ensure_ascii=False))
            )
            if done.rowcount != 1:
                return False
            if decisions:
                conn.execute(decisions_table.insert(), self._rows(decisions))
        return True

    def release_delivery(self, deliver_id: str) -> None:
        """Drop an unanswered claim (the delivery was refused or ignored): a later
        delivery with the same id is handled afresh."""
        with self._lock, self.engine.begin() as conn:
            conn.execute(
                deliveries_table.delete()
                .where(deliveries_table.c.deliver_id == deliver_id)
                .where(deliveries_table.c.response == "")
            )

    def add_delivery(
        self, deliver_id: str, response: Mapping[str, Any], decisions: Sequence[Mapping[str, Any]]
    ) -> bool:
        """Store a delivery's decisions and its response together; ``False`` when the
        same delivery was stored meanwhile (nothing is stored twice)."""
        with self._lock:
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        deliveries_table.insert(),
                        {
                            "deliver_id": deliver_id,
                            "created_at": now_text(),
                            "response": json.dumps(response, ensure_ascii=False),
                        },
                    )
                    if decisions:
                        conn.execute(decisions_table.insert(), self._rows(decisions))
            except IntegrityError:
                return False
        return True

    # idempotency keys ------------------------------------------------------------------

    def claim_idempotency(
        self,
        caller: str,
        key: str,
        request_fingerprint: str,
        *,
        stale_after: float = CLAIM_STALE_SECONDS,
        keep: float = IDEMPOTENCY_KEEP_SECONDS,
    ) -> tuple[str, dict[str, Any] | None]:
        """Claim ``key`` for a request: ``("claimed", None)`` for the one caller (of any
        worker process) whose row went in; ``("replay", answer)`` when the same request
        was answered already; ``("mismatch", None)`` when the key was used with another
        request; ``("busy", None)`` while the first request is still being answered.
        A claim left unanswered for ``stale_after`` seconds (its worker died) is taken
        over; keys older than ``keep`` seconds are forgotten."""
        now = dt.datetime.now(dt.UTC)
        cutoff = (now - dt.timedelta(seconds=keep)).isoformat(timespec="milliseconds")
        stale = (now - dt.timedelta(seconds=stale_after)).isoformat(timespec="milliseconds")
        t = idempotency_table
        mine = (t.c.caller == caller) & (t.c.key == key)
        with self._lock:
            try:
                with self.engine.begin() as conn:
                    conn.execute(t.delete().where(t.c.created_at < cutoff))
                    conn.execute(
                        t.insert(),
                        {
                            "caller": caller,
                            "key": key,
                            "request_fingerprint": request_fingerprint,
                            "created_at": now_text(),
                            "decision_ids": "",
                            "response": "",
                        },
                    )
                return "claimed", None
            except IntegrityError:
                pass
            with self.engine.begin() as conn:
                row = conn.execute(sa.select(t).where(mine)).mappings().first()
                if row is None:  # answered and pruned meanwhile: a new request
                    return self.claim_idempotency(
                        caller, key, request_fingerprint, stale_after=stale_after, keep=keep
                    )
                if row["request_fingerprint"] != request_fingerprint:
                    return "mismatch", None
                if row["response"]:
                    return "replay", json.loads(row["response"])
                taken = conn.execute(
                    t.update()
                    .where(mine)
                    .where(t.c.response == "")
                    .where(t.c.created_at <= stale)
                    .values(created_at=now_text())
                )
            return ("claimed", None) if taken.rowcount else ("busy", None)

    def complete_idempotency(
        self,
        caller: str,
        key: str,
        response: Mapping[str, Any],
        decisions: Sequence[Mapping[str, Any]],
    ) -> bool:
        """Store a keyed request's decisions and its answer in one transaction; ``False``
        (nothing stored) when the claim is no longer this request's."""
        t = idempotency_table
        with self._lock, self.engine.begin() as conn:
            done = conn.execute(
                t.update()
                .where(t.c.caller == caller)
                .where(t.c.key == key)
                .where(t.c.response == "")
                .values(
                    response=json.dumps(response, ensure_ascii=False),
                    decision_ids=" ".join(str(d["decision_id"]) for d in decisions),
                )
            )
            if done.rowcount != 1:
                return False
            if decisions:
                conn.execute(decisions_table.insert(), self._rows(decisions))
        return True

    def release_idempotency(self, caller: str, key: str) -> None:
        """Drop an unanswered claim (the request was refused or failed): the key may be
        sent again, with this body or a corrected one."""
        t = idempotency_table
        with self._lock, self.engine.begin() as conn:
            conn.execute(
                t.delete()
                .where(t.c.caller == caller)
                .where(t.c.key == key)
                .where(t.c.response == "")
            )

    # tokens --------------------------------------------------------------------------

    def create_token(
        self, name: str, scopes: Sequence[str], *, expires: str | None = None
    ) -> tuple[str, TokenInfo]:
        """A new token: its secret (shown once) and its record (stored: a SHA-256).
        ``expires``: as ``--expires`` (:func:`custrisk.serve.tokens.parse_expiry`:
        ``90d``, ``12w``, a date); none, never."""
        expires_at = parse_expiry(expires) if expires is not None else None
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise UsageError(
                f"--scope must be one of {', '.join(SCOPES)}; got {', '.join(bad) or 'none'}",
                hint="e.g. --scope score (add --scope admin for POST /admin/reload)",
            )
        if not name or len(name) > 80:
            raise UsageError("a token's NAME must be 1 to 80 characters (who uses it)")
        token_id = secrets.token_hex(4)
        secret = f"{_TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        info = TokenInfo(
            token_id, name, tuple(dict.fromkeys(scopes)), now_text(), expires_at=expires_at
        )
        row = {
            "token_id": token_id,
            "name": name,
            "sha256": _token_hash(secret),
            "scopes": " ".join(info.scopes),
            "created_at": info.created_at,
        }
        if expires_at is not None:
            if "expires_at" not in {c.name for c in self._token_columns}:
                raise ConfigError(
                    "this decisions store cannot keep an expiry: it was made before tokens "
                    "could expire and cannot be altered (read-only?)",
                    key="--expires",
                    hint="make the token where the store can be written, or leave --expires out",
                )
            row["expires_at"] = expires_at
        with self._lock, self.engine.begin() as conn:
            conn.execute(tokens_table.insert(), row)
        return secret, info

    def tokens(self) -> list[TokenInfo]:
        with self._reading() as conn:
            rows = conn.execute(self._token_rows().order_by(tokens_table.c.created_at)).all()
        return [_token_info(r._mapping) for r in rows]

    def active_tokens(self) -> dict[str, TokenInfo]:
        """SHA-256 of each active token -> its record (what the service checks against)."""
        with self._reading() as conn:
            rows = conn.execute(self._token_rows().where(tokens_table.c.revoked_at.is_(None))).all()
        return {r._mapping["sha256"]: _token_info(r._mapping) for r in rows}

    def revoke_token(self, token_id: str) -> TokenInfo:
        """Revoke the active token ``token_id``; refused naming why when it is revoked
        already, or is the token itself pasted in place of its id (never echoed)."""
        with self._lock, self.engine.begin() as conn:
            done = conn.execute(
                tokens_table.update()
                .where(tokens_table.c.token_id == token_id)
                .where(tokens_table.c.revoked_at.is_(None))
                .values(revoked_at=now_text())
            )
            if done.rowcount == 0:
                raise self._not_revoked(conn, token_id)
            row = conn.execute(self._token_rows().where(tokens_table.c.token_id == token_id)).one()
        return _token_info(row._mapping)

    def claim_expiry_warning(self, token_id: str) -> bool:
        """Whether the service log is to say now that token ``token_id`` expires soon: at
        most once in :data:`~custrisk.serve.tokens.WARN_EVERY` for every worker process
        together (the time is kept in the store)."""
        if "expiry_warned_at" not in {c.name for c in self._token_columns}:
            return True
        cutoff = (dt.datetime.now(dt.UTC) - WARN_EVERY).isoformat(timespec="milliseconds")
        t = tokens_table
        with self._lock, self.engine.begin() as conn:
            done = conn.execute(
                t.update()
                .where(t.c.token_id == token_id)
                .where(t.c.expiry_warned_at.is_(None) | (t.c.expiry_warned_at < cutoff))
                .values(expiry_warned_at=now_text())
            )
        return bool(done.rowcount)

    def _not_revoked(self, conn: sa.Connection, token_id: str) -> UsageError:
        """Why :meth:`revoke_token` revoked nothing."""
        by_id = self._token_rows().where(tokens_table.c.token_id == token_id)
        known = conn.execute(by_id).first()
        if known is not None:  # (not active, or it would have been revoked)
            info = _token_info(known._mapping)
            return UsageError(
                f"token {token_id} ({info.name}) was revoked already, at {info.revoked_at}"
            )
        itself = conn.execute(
            self._token_rows().where(tokens_table.c.sha256 == _token_hash(token_id))
        ).first()
        listed = "custrisk serve-token list shows the ids"
        if itself is not None:  # the token pasted from the CRM's settings: never echoed
            info = _token_info(itself._mapping)
            said = f"that is the token itself, not its id; its id is {info.token_id} ({info.name})"
            if info.revoked_at is not None:
                return UsageError(f"{said}, revoked already, at {info.revoked_at}")
            return UsageError(said, hint=f"custrisk serve-token revoke {info.token_id}")
        if token_id.startswith(_TOKEN_PREFIX) or len(token_id) > 16:  # a secret: not echoed
            shown = f"a {len(token_id)}-character value, not shown"
            return UsageError(f"that is no token id of this store ({shown})", hint=listed)
        return UsageError(f"no active token with id {token_id!r}", hint=listed)


def token_hash(secret: str) -> str:
    return _token_hash(secret)


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _token_info(row: Any) -> TokenInfo:
    return TokenInfo(
        row["token_id"],
        row["name"],
        tuple(str(row["scopes"]).split()),
        row["created_at"],
        row["revoked_at"],
        row.get("expires_at"),
    )


def _decision_row(record: Mapping[str, Any], ids: KeptIds) -> dict[str, Any]:
    """A decision as stored: a customer id that is personal data as its token or masked
    (the answer given keeps it as sent: the caller sent it)."""
    outputs = dict(record["outputs"])
    for name in ("customer_id", "record_id"):
        if isinstance(outputs.get(name), str) and ids.personal(outputs[name]):
            outputs[name] = ids.kept(normalised_id(outputs[name]))
    return {
        "decision_id": record["decision_id"],
        "created_at": record["created_at"],
        "caller": record["caller"],
        "channel": record["channel"],
        "model_id": outputs["model_id"],
        "customer_id": outputs.get("customer_id"),
        "input_fingerprint": record["input_fingerprint"],
        "pd": outputs.get("pd"),
        "score": outputs.get("score"),
        "grade": outputs.get("grade"),
        "decision": outputs.get("decision"),
        "inputs_masked": json.dumps(record["inputs_masked"], ensure_ascii=False, sort_keys=True),
        "outputs": json.dumps(outputs, ensure_ascii=False, sort_keys=True),
    }


def _filtered(
    query: sa.Select[Any],
    decision: str | None,
    since: str | None,
    customers: tuple[str, ...] | None,
) -> sa.Select[Any]:
    """``query`` of the decisions of one outcome, from a time on, of one customer (the
    ids it is stored under: :meth:`DecisionStore._stored_ids`)."""
    d = decisions_table
    if customers is not None:
        query = query.where(d.c.customer_id.in_(customers))
    if decision is not None:
        query = query.where(d.c.decision == decision)
    if since is not None:
        query = query.where(d.c.created_at >= since)
    return query


#: :func:`mask_pii_text` of each distinct text once: a listing of many decisions reads
#: the same field names, regions and reason labels on every row.
_masked_text = functools.lru_cache(maxsize=2**14)(mask_pii_text)


def _decision_out(row: Any) -> dict[str, Any]:
    """A stored decision. One stored by a release before 2026-12 may hold a phone, ID
    number or e-mail in clear in a field name (a flat table's header 联系人13812345678),
    a text field not flagged as personal data, or a reason's label: read masked as this
    release stores them (masking an already masked text changes nothing)."""
    out = {k: row[k] for k in row.keys() if k not in ("inputs_masked", "outputs")}
    inputs = json.loads(row["inputs_masked"])
    out["inputs_masked"] = {
        _masked_text(str(k)): _masked_text(v) if isinstance(v, str) else v
        for k, v in inputs.items()
    }
    outputs = json.loads(row["outputs"])
    if isinstance(outputs.get("reasons"), list):
        outputs["reasons"] = [
            dict(r, label=_masked_text(r["label"]))
            if isinstance(r, dict) and isinstance(r.get("label"), str)
            else r
            for r in outputs["reasons"]
        ]
    out["outputs"] = outputs
    return out


def _replace_id(values: dict[str, Any], stored: Sequence[str], token: str) -> dict[str, Any]:
    """``values`` with every value that is one of the ``stored`` forms of a customer id
    (as sent or normalised) replaced by ``token``."""
    return {
        k: token
        if isinstance(v, str | int) and (v in stored or normalised_id(str(v)) in stored)
        else v
        for k, v in values.items()
    }


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def without_password(text: str) -> str:
    """``text`` with the password of a database URL in it starred."""
    return re.sub(r"(://[^:/@\s]+):[^@\s]*@", r"\1:***@", text)


__all__ = [
    "DEFAULT_STORE",
    "SCOPES",
    "STORE_URL_ENV",
    "DecisionStore",
    "TokenInfo",
    "check_decision_filters",
    "fingerprint",
    "store_url",
    "token_hash",
    "without_password",
]
