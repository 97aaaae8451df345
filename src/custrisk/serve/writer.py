"""The background writer of ``custrisk serve``: the decisions and access-log lines a
request queues, written from one thread in one transaction and one write; what it could
not store when the service stops is lost, said in the log (each decision id) and by the
exit code (:class:`DecisionsLost`).

A stopping service gives the writer :data:`WRITER_STOP_SECONDS`: a store that does not
answer by then (a PostgreSQL table locked by a migration, a network that dropped, a disk
that hangs) cannot hold the process until the supervisor or systemd kills it, which would
lose the decisions without naming them. The writer names them and the process ends."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from custrisk.errors import OutputError
from custrisk.serve.store import DecisionStore, without_password

log = logging.getLogger(__name__)

#: How long a stopping service waits for the requests in flight; then they are cancelled
#: (never answered: the client knows to send them again).
REQUESTS_STOP_SECONDS = 10
#: Then how long the writer has to store the decisions queued.
WRITER_STOP_SECONDS = 12.0
#: Then how long the process has to end by itself (a thread may wait on the store) before
#: it is ended. The three are within the supervisor's 30 s (``workers.STOP_SECONDS``).
EXIT_STOP_SECONDS = 5.0
#: A worker's exit code when it stopped with decisions it could not store (it logged them).
LOST_EXIT = 75  # EX_TEMPFAIL

_LOST = (
    "%d decision(s) answered but lost at shutdown: nothing of them is in the decisions store "
    "%s, which cannot be written (%s); the CRM got them (200) and will not send them again: "
    "their decision ids, also in the CRM's answers: %s"
)

_STUCK = (
    "%d decision(s) answered but not stored at shutdown: the decisions store %s did not "
    "finish a write in %.0f s (a write still waits on it, abandoned with the process); "
    "the CRM got them (200) and will not send them again: their decision ids, also in the "
    "CRM's answers: %s"
)


class DecisionsLost(OutputError):
    """``custrisk serve`` stopped with decisions it had answered but could not store
    (exit code 2, an output the store could not take): a stop that lost data is no
    clean stop to systemd or Kubernetes."""


class BackgroundWriter:
    """Writes the service's decisions and access-log lines from one background thread.

    A request only queues what it writes (microseconds); the thread takes everything
    queued at once and writes the decisions in one transaction and the log lines in one
    write, so under load many requests share a commit. :meth:`close` (the service's
    shutdown) writes everything still queued before it returns: no decision is lost on
    a clean stop. A failed write is retried with the next batch or readiness check and
    logged when it starts failing, then once a minute; the service keeps answering.
    """

    def __init__(self, store: DecisionStore, access: Any = None) -> None:
        self.store = store
        self.access = access
        self._queue: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="custrisk-writer", daemon=True)
        self._closed = False
        self.written = 0
        #: why the last write of decisions failed, while some wait to be stored
        self.failing: str | None = None
        #: the ids of the decisions answered but lost when the writer was closed
        self.lost: list[str] = []
        #: the ids of the decisions the store refused (logged, not stored)
        self.refused: list[str] = []
        self._said = 0.0  # (when the log last said decisions wait: once a minute)
        #: the ids of the decisions queued or being written, not stored yet (in order)
        self._waiting: dict[str, None] = {}
        self._waiting_lock = threading.Lock()
        self._thread.start()

    @property
    def closed(self) -> bool:
        return self._closed

    def decisions(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            with self._waiting_lock:
                self._waiting.update((str(r["decision_id"]), None) for r in rows)
            self._queue.put(("decisions", rows))

    def retry(self) -> None:
        """Try again now to store the decisions a failed write left waiting (else retried
        with the next decisions, which a service that is not ready may never get)."""
        if self.failing is not None and not self._closed:
            self._queue.put(("decisions", []))

    def access_line(self, line: str) -> None:
        if self.access is not None:
            self._queue.put(("access", line))

    def close(self, timeout: float | None = None) -> bool:
        """Write what is queued, then stop the thread (idempotent); ``False`` when the
        store did not finish in ``timeout`` seconds: then the decisions not stored are
        named in the log and kept in :attr:`lost`, and the thread is left waiting."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join(timeout)
            if self._thread.is_alive():
                with self._waiting_lock:
                    self.lost = list(self._waiting)
                if self.lost:
                    log.error(
                        _STUCK, len(self.lost), self.store.shown_url, timeout or 0,
                        ", ".join(self.lost),
                    )  # fmt: skip
                return False
        return not self._thread.is_alive()

    def _store(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.store.add_decisions(rows)
        with self._waiting_lock:
            for row in rows:
                self._waiting.pop(str(row["decision_id"]), None)
        self.written += len(rows)

    def _one_by_one(
        self, rows: Sequence[Mapping[str, Any]]
    ) -> tuple[list[Mapping[str, Any]], SQLAlchemyError | None]:
        """Store ``rows`` one at a time after the store refused them together: one the
        store refuses itself (a value too long for a PostgreSQL column, a duplicate id)
        is named in the log and dropped, rather than keep every later decision from
        being stored. The rows left and the error when the store itself fails."""
        for i, row in enumerate(rows):
            try:
                self._store([row])
            except (DataError, IntegrityError) as exc:
                with self._waiting_lock:
                    self._waiting.pop(str(row["decision_id"]), None)
                self.refused.append(str(row["decision_id"]))
                log.error(
                    "decision %s answered but not stored: the decisions store refuses it (%s)",
                    row["decision_id"],
                    _one_line(exc),
                )
            except SQLAlchemyError as exc:  # the store itself: the rest wait
                return list(rows[i:]), exc
        return [], None

    def _run(self) -> None:
        pending: list[Mapping[str, Any]] = []
        while True:
            items = [self._queue.get()]
            while True:  # everything queued meanwhile: one transaction, one write
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            lines: list[str] = []
            stop = False
            for entry in items:
                if entry is None:
                    stop = True
                elif entry[0] == "decisions":
                    pending.extend(entry[1])
                else:
                    lines.append(entry[1])
            if pending:
                try:
                    waited = len(pending)
                    try:
                        self._store(pending)
                    except (DataError, IntegrityError):  # a row refused, not the store down:
                        pending, down = self._one_by_one(pending)  # the others are stored
                        if down is not None:
                            raise down from None
                    if self.failing is not None:  # the log said they wait: say they are kept
                        log.warning(
                            "the decisions store can be written again: the %d decision(s) "
                            "that waited are stored",
                            waited,
                        )
                    pending = []
                    self.failing = None
                except SQLAlchemyError as exc:
                    why, now = without_password(str(exc).splitlines()[0]), time.monotonic()
                    said = self.failing is not None and now < self._said + 60  # once a minute
                    self.failing = f"{len(pending)} decision(s) wait to be stored: {why}"
                    ids = [str(r["decision_id"]) for r in pending]
                    if stop:  # no retry now: what is lost, and where to find it
                        self.lost = ids
                        log.error(_LOST, len(ids), self.store.shown_url, why, ", ".join(ids))
                    elif not said:
                        self._said = now
                        log.error("cannot store %d decision(s) (will retry): %s", len(ids), why)
            if lines and self.access is not None:
                try:
                    self.access.write("".join(lines))
                    self.access.flush()
                except OSError as exc:
                    log.error("cannot write the access log: %s", exc)
            if stop:
                return


def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)  # the driver's words, without the SQL and values
    text = str(orig if orig is not None else exc)
    return without_password(text.splitlines()[0] if text else type(exc).__name__)


def end_process_soon(code: int, seconds: float = EXIT_STOP_SECONDS) -> None:
    """End this process with ``code`` in ``seconds`` unless it has ended by then: a stop
    that gave up on the store (:meth:`BackgroundWriter.close` said what is lost) must not
    wait forever for a thread blocked on it (asyncio's executor, the interpreter's exit
    join their threads)."""

    def end() -> None:
        time.sleep(seconds)
        log.error("a thread still waits on the decisions store: ending the process (exit %d)", code)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(code)

    threading.Thread(target=end, name="custrisk-stop", daemon=True).start()


__all__ = [
    "EXIT_STOP_SECONDS",
    "LOST_EXIT",
    "REQUESTS_STOP_SECONDS",
    "WRITER_STOP_SECONDS",
    "BackgroundWriter",
    "DecisionsLost",
    "end_process_soon",
]
