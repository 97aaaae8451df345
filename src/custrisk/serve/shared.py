"""State the worker processes of ``custrisk serve --workers N`` share: the per-token rate
limit and the board that says which model each worker serves.

Both live in one anonymous shared memory mapping made by the supervisor before it forks
the workers, guarded by :class:`ProcessLock`: an ``flock`` on a small file that the
kernel releases when its holder dies, so a worker killed while holding it never blocks
the others.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from custrisk.serve.metrics import Metrics

log = logging.getLogger(__name__)

#: Tokens the shared rate limiter keeps a bucket for (open addressing; a new token past
#: this many is let through and logged, never refused).
RATE_SLOTS = 4096
_KEY = 32  # bytes of a bucket's key (a token id; longer keys are hashed)
_BUCKET = struct.Struct(f"<{_KEY}sdd")  # key, tokens, last refill (time.monotonic)

_PIN = 1024  # bytes of the published model folder
_HEADER = struct.Struct(f"<qH{_PIN}s")  # generation, pin length, pin
_MODEL = 120
_SEAT = struct.Struct(f"<qqqdH{_MODEL}s")  # pid, generation, batches, started, len, model id


class ProcessLock:
    """A lock across the worker processes and the threads of each.

    ``flock`` on ``path``, opened anew in each process (an inherited descriptor would be
    one lock shared by parent and child), plus a thread lock for the threads of one
    process. The kernel drops the ``flock`` of a process that dies.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._fd = -1
        self._pid = -1
        self._threads = threading.Lock()

    @contextmanager
    def held(self) -> Iterator[None]:
        if self._pid != os.getpid():  # first use in this process (after the fork)
            self._threads = threading.Lock()
            self._fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
            self._pid = os.getpid()
        with self._threads:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


def _key(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > _KEY:
        raw = hashlib.blake2b(raw, digest_size=_KEY // 2).hexdigest().encode("ascii")
    return raw


class SharedRateLimiter:
    """:class:`custrisk.serve.state.RateLimiter` over shared memory: one token bucket per
    caller for all the workers together, so the limit a client sees does not grow with
    the number of workers."""

    def __init__(
        self, rate: float, burst: int, lock: ProcessLock, *, slots: int = RATE_SLOTS
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.slots = slots
        self._lock = lock
        self._memory = mmap.mmap(-1, slots * _BUCKET.size)  # MAP_SHARED: seen after fork
        self.overflowed = False

    def take(self, key: str) -> float:
        """0 when a request may pass, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        wanted = _key(key)
        start = zlib.crc32(wanted) % self.slots
        with self._lock.held():
            now = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process
            for probe in range(self.slots):
                offset = ((start + probe) % self.slots) * _BUCKET.size
                stored, tokens, last = _BUCKET.unpack_from(self._memory, offset)
                stored = stored.rstrip(b"\0")
                if stored and stored != wanted:
                    continue
                if not stored:  # a new caller: a full bucket
                    tokens, last = float(self.burst), now
                tokens = min(float(self.burst), tokens + (now - last) * self.rate)
                if tokens >= 1:
                    _BUCKET.pack_into(self._memory, offset, wanted, tokens - 1, now)
                    return 0.0
                _BUCKET.pack_into(self._memory, offset, wanted, tokens, now)
                return (1 - tokens) / self.rate
        if not self.overflowed:  # more tokens than buckets: let it through, say so once
            log.warning("rate limit: over %d tokens in use; new tokens are not limited", self.slots)
        self.overflowed = True
        return 0.0


class WorkerBoard:
    """Which model each worker serves, and the model folder they are to switch to.

    A reload publishes the folder of the new model version (``pin``) under a new
    *generation*; every worker loads that folder and records the generation it serves
    in its *seat*. A worker started later (a replacement) loads the pinned folder too.
    """

    def __init__(self, workers: int, lock: ProcessLock) -> None:
        self.workers = workers
        self._lock = lock
        self._memory = mmap.mmap(-1, _HEADER.size + workers * _SEAT.size)

    # the published model ----------------------------------------------------------

    def pinned(self) -> tuple[int, str | None]:
        """The current generation and its model folder (``None`` before any reload)."""
        with self._lock.held():
            generation, length, pin = _HEADER.unpack_from(self._memory, 0)
        return generation, pin[:length].decode("utf-8") if generation else None

    def generation(self) -> int:
        """The current generation, read without the lock (polled by every worker)."""
        return int(struct.unpack_from("<q", self._memory, 0)[0])

    def publish(self, folder: str) -> int:
        """Make ``folder`` the model every worker serves; its generation."""
        raw = folder.encode("utf-8")
        if len(raw) > _PIN:
            raise ValueError(f"model folder path over {_PIN} bytes: {folder}")
        with self._lock.held():
            generation = struct.unpack_from("<q", self._memory, 0)[0] + 1
            _HEADER.pack_into(self._memory, 0, generation, len(raw), raw)
        return int(generation)

    # seats ------------------------------------------------------------------------

    def _seat(self, slot: int) -> int:
        return _HEADER.size + slot * _SEAT.size

    def take_seat(self, slot: int, pid: int, generation: int, model_id: str) -> None:
        """Worker ``slot`` (process ``pid``) serves ``model_id`` of ``generation``."""
        raw = model_id.encode("utf-8")[:_MODEL]
        with self._lock.held():
            batches = struct.unpack_from("<q", self._memory, self._seat(slot) + 16)[0]
            if struct.unpack_from("<q", self._memory, self._seat(slot))[0] != pid:
                batches = 0
            _SEAT.pack_into(
                self._memory, self._seat(slot), pid, generation, batches, time.time(), len(raw), raw
            )

    def leave_seat(self, slot: int) -> None:
        with self._lock.held():
            _SEAT.pack_into(self._memory, self._seat(slot), 0, 0, 0, 0.0, 0, b"")

    def count_batch(self, slot: int) -> None:
        """One more scoring call by worker ``slot`` (its own counter: no lock)."""
        offset = self._seat(slot) + 16
        struct.pack_into(
            "<q", self._memory, offset, struct.unpack_from("<q", self._memory, offset)[0] + 1
        )

    def seats(self) -> list[dict[str, Any]]:
        """Every worker: slot, pid (0: not serving), generation, model id, scoring calls."""
        with self._lock.held():
            rows = [_SEAT.unpack_from(self._memory, self._seat(s)) for s in range(self.workers)]
        return [
            {
                "worker": slot,
                "pid": pid,
                "generation": generation,
                "model_id": raw[:length].decode("utf-8", errors="replace"),
                "scoring_calls": batches,
                "started": started,
            }
            for slot, (pid, generation, batches, started, length, raw) in enumerate(rows)
        ]


@dataclass
class Seat:
    """This process's place among the workers: its slot on the board, the shared rate
    limiter and the generation of the model it serves."""

    board: WorkerBoard
    slot: int
    limiter: SharedRateLimiter
    generation: int = 0
    metrics: Metrics | None = None  # the workers' shared counters (GET /metrics)


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (and is not a zombie waiting for its parent)."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True


__all__ = ["RATE_SLOTS", "ProcessLock", "Seat", "SharedRateLimiter", "WorkerBoard", "alive"]
