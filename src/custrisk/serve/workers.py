"""``custrisk serve --workers N``: a small supervisor over N worker processes.

The supervisor verifies the model and opens the decisions store (a bad model never
listens), binds the listening socket once and forks the workers, which all accept on it
(the way uvicorn's own ``Multiprocess`` shares one socket, here with ``fork`` so that
the workers start with the libraries already imported). What the workers share:

* the per-token rate limit and the board of which model each serves, in shared memory
  (:mod:`custrisk.serve.shared`);
* the decisions store (SQLite in WAL mode, or PostgreSQL), including the 简道云
  deliveries already answered.

The supervisor replaces a worker that dies (logged; restarted at once, or after a
growing pause when it keeps dying young), forwards SIGHUP to one worker, which reloads
the model and publishes the new version to the others, and on SIGTERM/SIGINT stops every
worker gracefully: each stops accepting, finishes the requests in flight and stores the
decisions queued before it exits.
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from custrisk.errors import CustriskError, UsageError
from custrisk.io.stop import Stopped
from custrisk.scoring.records import RecordScorer
from custrisk.serve.jiandaoyun import check_secret
from custrisk.serve.metrics import Metrics
from custrisk.serve.settings import ServeSettings
from custrisk.serve.shared import ProcessLock, Seat, SharedRateLimiter, WorkerBoard, alive
from custrisk.serve.state import load_scorer
from custrisk.serve.store import DecisionStore
from custrisk.serve.writer import (
    EXIT_STOP_SECONDS,
    LOST_EXIT,
    REQUESTS_STOP_SECONDS,
    WRITER_STOP_SECONDS,
    DecisionsLost,
)

log = logging.getLogger(__name__)

#: How long a worker may take to load the model and start answering.
START_SECONDS = 120.0
#: How long a stopping worker may take to finish its requests before it is killed: more
#: than it gives itself (its requests in flight, then its writer, then its exit), so that
#: a worker whose store hangs names the decisions it could not store before it goes.
STOP_SECONDS = 30.0
assert REQUESTS_STOP_SECONDS + WRITER_STOP_SECONDS + EXIT_STOP_SECONDS < STOP_SECONDS
#: A worker that dies younger than this is restarted after a growing pause.
YOUNG_SECONDS = 10.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

WorkerTarget = Callable[[ServeSettings, Seat, socket.socket, RecordScorer], None]


def worker_count(text: str) -> int:
    """``--workers``: a number from 1, or ``auto`` (the CPUs this process may use)."""
    if text.strip().lower() == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    if not text.strip().isdigit() or int(text) < 1:
        raise UsageError(
            f"--workers must be a whole number from 1 or 'auto'; got {text!r}",
            hint="e.g. --workers 2 (or --workers auto: one per CPU)",
        )
    return int(text)


@dataclass
class _Worker:
    slot: int
    process: Any = None  # multiprocessing.Process (fork context)
    started: float = 0.0
    young_deaths: int = 0
    restart_at: float | None = None


class Supervisor:
    """Start, watch, restart and stop the worker processes of one service."""

    def __init__(
        self,
        settings: ServeSettings,
        workers: int,
        target: WorkerTarget,
        *,
        on_ready: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.count = workers
        self.target = target
        self.on_ready = on_ready
        self.signals: list[int] = []
        #: the name of the signal that stopped the service (SIGTERM, SIGINT)
        self.stopped_by: str | None = None
        #: the workers (slots) that stopped with decisions they could not store
        self.lost_by: list[int] = []
        self.workers = [_Worker(slot) for slot in range(workers)]
        self._context = multiprocessing.get_context("fork")

    # ---------------------------------------------------------------------------------

    def run(self) -> str | None:
        """Serve until SIGTERM/SIGINT (then stop every worker gracefully); the name of
        the signal that stopped it."""
        self.scorer, store = self._preflight()
        model_id = self.scorer.model_id
        sock = bind_socket(self.settings.host, self.settings.port)
        fd, lock_path = tempfile.mkstemp(prefix="custrisk-serve-", suffix=".lock")
        os.close(fd)
        lock = ProcessLock(lock_path)
        self.board = WorkerBoard(self.count, lock)
        self.limiter = SharedRateLimiter(self.settings.rate, self.settings.burst, lock)
        self.metrics = Metrics(self.count)
        self.sock = sock
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (*_STOP_SIGNALS, signal.SIGHUP)
        }
        try:
            for worker in self.workers:
                self._start(worker)
            if not self._wait_ready():
                return self.stopped_by
            if self.on_ready is not None:
                self.on_ready(
                    {
                        "model_id": model_id,
                        "pid": os.getpid(),
                        "store": store,
                        "workers": [w.process.pid for w in self.workers],
                        "port": sock.getsockname()[1],  # --port 0: the one the system chose
                    }
                )
            self._watch()
            return self.stopped_by
        finally:
            # closed here first: once the stopping workers close theirs, a new connection
            # is refused (the client knows its request was not sent, as with one
            # process), not queued on a socket nobody accepts on any more and reset
            # (a request the client cannot tell was answered or not)
            sock.close()
            self._stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.unlink(lock_path)

    def _preflight(self) -> tuple[RecordScorer, str]:
        """The model verified and the store opened here, before any worker starts: the
        workers start with this model (forked: loaded once)."""
        if self.settings.jdy_profile is not None:
            check_secret(self.settings.jdy_secret_env)
        scorer = load_scorer(self.settings)  # first: a refused model leaves no store
        store = DecisionStore(self.settings.db)
        try:
            return scorer, store.shown_url
        finally:
            store.close()  # each worker opens its own connections

    def _on_signal(self, sig: int, _frame: Any) -> None:
        self.signals.append(sig)

    def _start(self, worker: _Worker) -> None:
        worker.process = self._context.Process(
            target=self._worker_main,
            args=(worker.slot,),
            name=f"custrisk-serve-worker-{worker.slot}",
        )
        with warnings.catch_warnings():
            # Python 3.12+ warns of fork in a process with threads (here: a BLAS library's
            # idle pool, which registers its own fork handlers); the workers are forked
            # on purpose, to start with the verified model loaded.
            warnings.filterwarnings(
                "ignore", "This process .* is multi-threaded", DeprecationWarning
            )
            worker.process.start()
        worker.started = time.monotonic()
        worker.restart_at = None
        log.info("worker %d started (pid %d)", worker.slot, worker.process.pid)

    def _worker_main(self, slot: int) -> None:
        """In the worker process (forked): serve on the shared socket."""
        signal.signal(signal.SIGHUP, signal.SIG_DFL)  # uvicorn and the app install theirs
        for sig in _STOP_SIGNALS:  # raised once uvicorn has stopped, as in one process
            signal.signal(sig, _raise_stopped)
        seat = Seat(self.board, slot, self.limiter, metrics=self.metrics.worker(slot))
        try:
            self.target(self.settings, seat, self.sock, self.scorer)
        except Stopped:
            pass  # the normal end: exit 0
        except DecisionsLost:  # its writer logged them; the supervisor says so at the end
            sys.exit(LOST_EXIT)
        except CustriskError as exc:  # one line, as the CLI would print it
            log.error("worker %d: %s", slot, exc.one_line())
            sys.exit(exc.exit_code)

    def _wait_ready(self) -> bool:
        """Every worker serves (``False``: asked to stop meanwhile)."""
        deadline = time.monotonic() + START_SECONDS
        while True:
            seats = self.board.seats()
            if all(
                seat["pid"] == worker.process.pid
                for seat, worker in zip(seats, self.workers, strict=True)
            ):
                return True
            for worker in self.workers:
                if worker.process.exitcode is not None:
                    raise CustriskError(
                        f"worker {worker.slot} of custrisk serve exited while starting "
                        f"(exit code {worker.process.exitcode})",
                        hint="see the messages above; --workers 1 shows the same error directly",
                    )
            stops = [sig for sig in self.signals if sig in _STOP_SIGNALS]
            if stops:
                self.stopped_by = signal.Signals(stops[0]).name
                return False
            if time.monotonic() > deadline:
                raise CustriskError(
                    f"the workers of custrisk serve did not start in {START_SECONDS:.0f} s"
                )
            time.sleep(0.05)

    def _watch(self) -> None:
        while True:
            sentinels = [w.process.sentinel for w in self.workers if w.restart_at is None]
            if sentinels:
                multiprocessing.connection.wait(sentinels, timeout=0.5)
            else:
                time.sleep(0.1)
            while self.signals:
                sig = self.signals.pop(0)
                if sig in _STOP_SIGNALS:
                    self.stopped_by = signal.Signals(sig).name
                    log.info("%s: stopping the workers", self.stopped_by)
                    return
                self._forward_reload()
            now = time.monotonic()
            for worker in self.workers:
                if worker.restart_at is None and worker.process.exitcode is not None:
                    self._died(worker, now)
                if worker.restart_at is not None and now >= worker.restart_at:
                    self._start(worker)

    def _died(self, worker: _Worker, now: float) -> None:
        self.board.leave_seat(worker.slot)
        lived = now - worker.started
        worker.young_deaths = worker.young_deaths + 1 if lived < YOUNG_SECONDS else 0
        pause = 0.0 if worker.young_deaths <= 1 else min(30.0, 0.5 * 2**worker.young_deaths)
        code = worker.process.exitcode
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        if code == LOST_EXIT:  # stopped alone (a SIGTERM to its pid): the service lost them
            self.lost_by.append(worker.slot)
            how = "stopped, losing decisions it could not store"
        log.warning(
            "worker %d (pid %d) died (%s) after %.0f s; starting a new one%s",
            worker.slot,
            worker.process.pid,
            how,
            lived,
            f" in {pause:.1f} s" if pause else "",
        )
        worker.process.close()
        worker.restart_at = now + pause

    def _forward_reload(self) -> None:
        """SIGHUP: one serving worker reloads and the others follow it."""
        for seat in self.board.seats():
            if alive(seat["pid"]):
                log.info("SIGHUP: worker %d reloads the model", seat["worker"])
                os.kill(seat["pid"], signal.SIGHUP)
                return
        log.error("SIGHUP: no worker is serving; the next one started loads the latest model")

    def _stop(self) -> None:
        running = [w for w in self.workers if w.process is not None and w.restart_at is None]
        for worker in running:
            if worker.process.exitcode is None:
                os.kill(worker.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for worker in running:
            process = worker.process
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                log.error("worker pid %d did not stop in %.0f s; killed", process.pid, STOP_SECONDS)
                process.kill()
                process.join()
        self.lost_by += [w.slot for w in running if w.process.exitcode == LOST_EXIT]


def _raise_stopped(signum: int, _frame: Any) -> None:
    raise Stopped(signum)


def bind_socket(host: str, port: int) -> socket.socket:
    """The listening socket every worker accepts on (bound once, here), on the first
    address ``host`` resolves to."""
    sock = bind_sockets(host, port, every_address=False)[0]
    sock.listen(2048)  # connections wait here while a worker starts or is replaced
    sock.set_inheritable(True)
    return sock


def bind_sockets(host: str, port: int, *, every_address: bool = True) -> list[socket.socket]:
    """Sockets bound, not yet listening, to ``host:port``: on every address the name
    resolves to (``localhost``: ``127.0.0.1`` and ``::1``, as uvicorn binds it) or the
    first. A one-line :class:`UsageError` naming the address and the fix when one cannot
    be had (the port in use, a privileged port, an address not of this machine)."""
    bound: list[socket.socket] = []
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        seen = set()
        for family, kind, proto, _name, address in infos if every_address else infos[:1]:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if every_address and family == socket.AF_INET6:  # as asyncio binds them
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in bound:
            sock.close()
        hints = {
            errno.EADDRINUSE: "another process holds the port; pick another with --port",
            errno.EACCES: "a port below 1024 needs privileges; pick another with --port",
        }
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint=hints.get(
                exc.errno or 0,
                "--host must be an address of this machine, e.g. 127.0.0.1 or 0.0.0.0",
            ),
        ) from None
    return bound


__all__ = ["Supervisor", "bind_socket", "bind_sockets", "worker_count"]
