"""The Dask cluster the engine runs on: a client of a running scheduler, or of a
LocalCluster started and stopped around a command (or around a whole ``custrisk run``)."""

from __future__ import annotations

import logging
import re
import shutil
import signal
import tempfile
import time
import weakref
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import TYPE_CHECKING, Any

from custrisk.errors import UsageError
from custrisk.io.stop import Stopped, stops_held

if TYPE_CHECKING:
    from distributed import Client, Future

log = logging.getLogger(__name__)

#: The engines of ``--engine`` and of ``engine:`` in RUN.yaml.
ENGINES = ("pandas", "dask")

#: Workers of the LocalCluster started when no scheduler is given.
LOCAL_WORKERS = 2

#: Seconds to connect to a scheduler given by ``--scheduler``, and as many again for it
#: to answer as one: Dask bounds the connection but waits for the answer forever.
SCHEDULER_TIMEOUT = 5

#: Seconds a scheduler given by ``--scheduler`` has to have a worker: one with none
#: left the command waiting for ever, with no word.
WORKERS_TIMEOUT = 10

#: Units of a memory size (``2GB``, ``512MiB``, ``2G``); Dask's meaning (as ``dask worker
#: --memory-limit`` reads them): kB = k = 1000, KiB = Ki = 1024.
MEMORY_UNITS = {
    "": 1,
    "b": 1,
    **{
        unit: size
        for power, prefix in enumerate("kmgt", 1)
        for unit, size in (
            (prefix, 10 ** (3 * power)),
            (f"{prefix}b", 10 ** (3 * power)),
            (f"{prefix}i", 2 ** (10 * power)),
            (f"{prefix}ib", 2 ** (10 * power)),
        )
    },
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
#: Smaller than this, a worker cannot hold even Dask's own state.
MIN_MEMORY_LIMIT = 64 * 2**20

#: The local cluster's memory thresholds, as parts of a worker's limit: the results it
#: holds are spilled to disk past 40 % (Dask's default 60 %) and past 50 % of the
#: process's memory (70 %), so that a running task has about half the limit for itself.
#: A bucket's task needs several times the rows it reads; with Dask's defaults, results
#: held up to 60 % of the limit and a task's own memory passed 95 %, and the nanny
#: restarted the worker (1M customers, 64 buckets, 2GB: docs/scale.md).
LOCAL_MEMORY_THRESHOLDS = {
    "distributed.worker.memory.target": 0.40,
    "distributed.worker.memory.spill": 0.50,
    "distributed.worker.memory.pause": 0.80,
    "distributed.worker.memory.terminate": 0.95,
}


def memory_limit_bytes(text: str | int) -> int:
    """The bytes of a memory size such as ``2GB``, ``1.5GiB``, ``512MB`` or a number of
    bytes; ``ValueError`` (saying what is allowed) for anything else."""
    match = _SIZE.match(str(text))
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in MEMORY_UNITS:
        raise ValueError(
            f"{text!r} is not a memory size; write it as a number and a unit, e.g. 2GB, "
            "512MB or 1.5GiB"
        )
    size = int(float(match.group(1)) * MEMORY_UNITS[unit])
    if size < MIN_MEMORY_LIMIT:
        raise ValueError(f"{text!r} is too small for a Dask worker; give at least 64MiB")
    return size


def check_engine_options(
    engine: str,
    scheduler: str | None = None,
    buckets: int | None = None,
    memory_limit: str | None = None,
    parts: bool | None = None,
) -> None:
    """The engine options of a command fit together: a known engine; a scheduler,
    buckets, a memory limit and a run in parts only with the dask engine; a memory
    limit only for the local cluster (a running cluster's workers have their own).
    UsageError naming the options (RUN.yaml's keys are checked at load, by
    custrisk.batch.config)."""
    engine_name, scheduler_name, buckets_name, memory_name = (
        "--engine",
        "--scheduler",
        "--buckets",
        "--memory-limit",
    )
    if engine not in ENGINES:
        raise UsageError(f"{engine_name} must be one of {', '.join(ENGINES)}; got {engine!r}")
    if engine != "dask":
        given = [
            name
            for name, value in (
                (scheduler_name, scheduler),
                (buckets_name, buckets),
                (memory_name, memory_limit),
                ("--parts", parts or None),
            )
            if value is not None
        ]
        if given:
            raise UsageError(
                f"{' and '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to "
                f"{engine_name} dask only",
                hint=f"add {engine_name} dask",
            )
    if buckets is not None and buckets < 1:
        raise UsageError(f"{buckets_name} must be 1 or more; got {buckets}")
    if memory_limit is not None:
        if scheduler is not None:
            raise UsageError(
                f"{memory_name} sizes the local cluster's workers, not those of "
                f"{scheduler_name} {scheduler}",
                hint="start those workers with 'dask worker --memory-limit SIZE'",
            )
        try:
            memory_limit_bytes(memory_limit)
        except ValueError as exc:
            raise UsageError(f"{memory_name}: {exc}") from None


def _same(value: Any) -> Any:
    return value


def shared(client: Client, value: Any) -> Future:
    """``value`` (a config, the model) on the cluster for many tasks, as the result of a
    task that holds it: if the worker holding it dies (restarted past its memory limit),
    Dask computes it again elsewhere, where scattered data would be lost with the worker
    and every task needing it cancelled."""
    return client.submit(_same, value, pure=False)


#: The module each local worker runs as it starts (a Dask preload).
WORKER_SETUP = "custrisk.engine.worker_setup"

#: The prefix of a shuffle folder in TMPDIR (:class:`ShuffleFolder`).
SHUFFLE_PREFIX = "custrisk-shuffle-"

#: The prefix of the folder in TMPDIR of a local cluster's Dask folders (:func:`dask_client`)
DASK_PREFIX = "custrisk-dask-"

#: The removals of the shuffle folders made within each :func:`_shuffle_folders_removed`
#: block (innermost last)
_shuffle_scopes: list[list[weakref.finalize[Any, Any]]] = []


class ShuffleFolder:
    """A folder of this machine (in TMPDIR, 0700: it holds rows) for what a local
    cluster's tasks hand to each other, removed once nothing holds it, when the cluster
    it was made for is closed (:func:`dask_client`: also on an error or a stop), or at
    exit."""

    def __init__(self) -> None:
        # A stop (Ctrl-C) between making the folder and registering its removal left
        # it behind, empty (one run in 15 of a stop test): held back until the removal
        # is registered, the stop then drops this object, which removes the folder.
        with stops_held():
            self.path = tempfile.mkdtemp(prefix=SHUFFLE_PREFIX)
            remove = weakref.finalize(self, _remove_tree, self.path)
            if _shuffle_scopes:
                _shuffle_scopes[-1].append(remove)


def _remove_tree(path: str) -> None:
    """Remove a shuffle folder. Within :func:`dask_client`, only once every worker
    process of the cluster has ended (:class:`_WorkerProcesses`): none writes into it
    any more."""
    shutil.rmtree(path, ignore_errors=True)


#: Seconds to wait, once the local cluster is closed, for a worker process it did not
#: end (Dask joins them as it closes; see :class:`_WorkerProcesses`), before killing it
WORKERS_END_TIMEOUT = 10.0


class _WorkerProcesses:
    """The worker processes of a local cluster, taken just before it closes and waited
    for once it is closed: its shuffle folders are removed after that, when no worker
    can write into them any more.

    Dask's close joins each worker process (its nanny asks the worker to stop and kills
    it after 4 s), but gives up on one that a kill did not end within 5 s more, and on a
    loop already closed: then this waits up to :data:`WORKERS_END_TIMEOUT` seconds, and
    kills what is left."""

    def __init__(self) -> None:
        self.processes: list[Any] = []

    def take(self, cluster: Any) -> None:
        """Note the processes of ``cluster``'s workers (a nanny restarting its worker
        starts a new process: taken as late as possible, once the client is closed)."""
        import psutil

        for nanny in list(cluster.workers.values()):
            pid = getattr(getattr(getattr(nanny, "process", None), "process", None), "pid", None)
            if isinstance(pid, int):
                with suppress(psutil.Error):
                    self.processes.append(psutil.Process(pid))

    def wait(self) -> None:
        """Return once every process taken has ended (a zombie, not yet reaped by Dask,
        has); kill those still running after :data:`WORKERS_END_TIMEOUT` seconds."""
        deadline = time.monotonic() + WORKERS_END_TIMEOUT
        while (running := [p for p in self.processes if _running(p)]) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)
        for process in running:
            log.warning("dask engine: worker process %d still running; killing it", process.pid)
            with suppress(Exception):
                process.kill()
        deadline = time.monotonic() + WORKERS_END_TIMEOUT
        while any(_running(p) for p in running) and time.monotonic() < deadline:
            time.sleep(0.05)


def _running(process: Any) -> bool:
    """Whether a :class:`psutil.Process` still runs (not reaped: it may be another
    process's child, whose exit status is not ours to take)."""
    import psutil

    try:
        return bool(process.is_running()) and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@contextmanager
def _shuffle_folders_removed() -> Iterator[None]:
    """Remove the shuffle folders made in the block when it ends (once the cluster that
    wrote into them is closed: nothing holds them after that)."""
    _shuffle_scopes.append([])
    try:
        yield
    finally:
        for remove in _shuffle_scopes.pop():
            remove()  # a no-op for a folder removed already


#: The reason a client gives the futures it cancels when it loses its scheduler.
LOST_SCHEDULER = "scheduler-connection-lost"

#: The event a nanny logs when it restarts its worker past the memory limit.
MEMORY_RESTART = "worker-restart-memory"


class _Restarted(Exception):
    """A worker was restarted past its memory limit while or before the client waited."""


#: Results gathered at a time: a worker sends what it is asked for at once, each result
#: read back from its spill file and serialised beside the others. A bucket's share of
#: the exports is at most a 64th of a worker's memory (``default_buckets`` in
#: custrisk.engine.partitions), so 16 buckets' results stay within about a quarter of
#: it; all 235 buckets' scores and details at 5,000,000 customers passed 95 % of both
#: workers' 3GB (docs/scale.md).
GATHER_CHUNK = 16


def _watched_client(*args: Any, **kwargs: Any) -> Client:
    """A :class:`distributed.Client` whose ``gather`` of a list fetches
    :data:`GATHER_CHUNK` results at a time, and which stops waiting once a worker was
    restarted past its memory limit (:class:`_MemoryRestarts` sets ``restarted``)."""
    import asyncio

    from distributed import Client

    class WatchedClient(Client):
        restarted = False

        def gather(self, futures: Any, *a: Any, **kw: Any) -> Any:
            # A restart that came while the command was not waiting (ordering results,
            # submitting the next stage) cancelled no wait; tasks submitted since then
            # may hang on lost results that the scheduler would compute again from the
            # exports. Refusing here ends the command at its next wait.
            if self.restarted:
                raise _Restarted
            if a or kw or self.asynchronous:
                return super().gather(futures, *a, **kw)
            if not isinstance(futures, list):
                return self.sync(self._gather_or_stop, futures)
            done: list[Any] = []
            for first in range(0, len(futures), GATHER_CHUNK):
                done += self.sync(self._gather_or_stop, futures[first : first + GATHER_CHUNK])
            return done

        async def _gather_or_stop(self, futures: Any) -> Any:
            # Cancelling the futures ends a gather still waiting for results, not one
            # fetching them: a worker restarted then fails the fetch, Dask marks the
            # results lost (no longer cancelled) and waits for them to be computed again.
            # So the restart flag is looked at while the gather runs.
            gathering = asyncio.ensure_future(self._gather(futures))
            # A stopped command (Ctrl-C, SIGTERM) leaves the wait below while the gather
            # runs on: its end (cancelled with the cluster) is taken here, not printed
            # by asyncio as "Task exception was never retrieved" with a traceback.
            gathering.add_done_callback(_taken)
            while not gathering.done():
                await asyncio.wait({gathering}, timeout=0.25)
                if self.restarted and not gathering.done():
                    gathering.cancel()
                    raise _Restarted
            return gathering.result()

    return WatchedClient(*args, **kwargs)


def _taken(task: Any) -> None:
    if not task.cancelled():
        task.exception()


class _MemoryRestarts:
    """Stops a command at the first worker restarted past its memory limit.

    A nanny restarts its worker past 95 % of the limit; every result the worker held is
    lost and the scheduler computes it again from the exports. The same data then passes
    the limit again, most often at the same place, so the command would start over and
    over without an error (a task is blamed, and ``KilledWorker`` raised, only when it
    was running at each death; a worker killed while holding data blames none). At the
    first such restart every future of the client is cancelled (on the client), so a
    waiting gather ends, and a client of :func:`_watched_client` refuses every later
    gather; :func:`_worker_deaths` says what happened in one line."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.restarts: list[dict[str, Any]] = []
        client.subscribe_topic(MEMORY_RESTART, self._restarted)

    def _restarted(self, event: tuple[float, dict[str, Any]]) -> None:
        # Called on the client's event loop. The futures are cancelled here only, not on
        # the scheduler: the command is about to end and close the client, and Dask's
        # scheduler-side cancel of a task graph whose intermediate results nobody holds
        # fails an assertion (printed as a traceback).
        self.restarts.append(dict(event[1]))
        if len(self.restarts) == 1:  # the next ones are not needed
            self.client.unsubscribe_topic(MEMORY_RESTART)
        if hasattr(self.client, "restarted"):
            self.client.restarted = True
        for state in list(self.client.futures.values()):
            state.cancel(reason=MEMORY_RESTART)

    def said(self) -> str:
        """What the restarts were, for the error: the resident memory of the first."""
        if not self.restarts:
            return ""
        rss = self.restarts[0].get("rss")
        size = f" at {rss / 2**20:,.0f} MiB resident" if isinstance(rss, int | float) else ""
        return f"was restarted past 95 % of its memory limit{size}"


@contextmanager
def _worker_deaths(
    where: str,
    memory_limit: str | None,
    watch: _MemoryRestarts | None = None,
    *,
    scheduler: str | None = None,
) -> Iterator[None]:
    """A worker that died computing a task (most often past its memory limit: the
    nanny restarts it) as one line and exit 2, not a traceback: Dask's ``KilledWorker``
    (the task killed its workers), ``FutureCancelledError`` (the dead worker held data
    sent to the cluster, which cannot be computed again, or ``watch`` cancelled every
    future at a restart past the memory limit), and a gather refused after such a
    restart. ``scheduler``: the address of a cluster given by --scheduler, whose
    scheduler may go away while the command computes."""
    from distributed import KilledWorker
    from distributed.client import FutureCancelledError

    limit = f" (memory limit {memory_limit} each)" if memory_limit else ""
    # --memory-limit is refused with --scheduler: a running cluster's workers are given
    # more memory where they are started.
    more = (
        "start its workers with more memory ('dask worker --memory-limit SIZE')"
        if scheduler
        else "give the workers more memory (--memory-limit; memory_limit: in RUN.yaml)"
    )
    hint = (
        f"{more}, split the customers into more buckets (--buckets), or export a large "
        "source as several files (a worker reads a file whole)"
    )
    try:
        yield
    except (KilledWorker, FutureCancelledError, _Restarted) as exc:
        if getattr(exc, "reason", None) == LOST_SCHEDULER:
            # The client cancels every future when its connection to the scheduler
            # closes: no worker died, and more memory would not help.
            raise UsageError(
                f"--scheduler {scheduler}: the connection to the Dask scheduler was lost "
                "while computing (the scheduler stopped, or the network between them)",
                hint="start the scheduler and its workers again and run the command again "
                "(nothing was written), or leave --scheduler out for a local cluster",
            ) from None
        restarted = watch.said() if watch is not None else ""
        if restarted:
            raise UsageError(f"{where} {restarted}{limit}", hint=hint) from None
        raise UsageError(
            f"{where} died while computing{limit}, most often for want of memory", hint=hint
        ) from None
    except MemoryError as exc:
        # Dask refuses a task whose inputs alone pass a worker's limit ("Task ... has
        # 1.87 GiB worth of input dependencies, but worker ... has memory_limit set to
        # 1.40 GiB"): its own words name sizes and task keys, never customer data.
        said = (str(exc).splitlines() or ["out of memory"])[0]
        raise UsageError(f"{where} ran out of memory{limit}: {said}", hint=hint) from None


@contextmanager
def _said_on_stop() -> Iterator[None]:
    """A stop (Ctrl-C, SIGTERM) says that the local cluster was closed (its workers
    ended) and its temporary folders (shuffle folders, Dask's folder) removed: by then,
    they are."""
    try:
        yield
    except Stopped as stop:
        stop.leave("the local Dask cluster closed, its temporary folders removed")
        raise


_SCHEDULER_HINT = (
    "start one with 'dask scheduler' (default port 8786) and give its address "
    "(tcp://HOST:8786), or leave --scheduler out for a local cluster"
)


def _check_scheduler(address: str) -> None:
    """That a Dask scheduler answers at ``address``: UsageError in one line otherwise.

    :class:`distributed.Client` bounds its connection (``timeout``), not the handshake
    after it: at an address that accepts and says nothing it waits forever, and the
    first bytes of another protocol (an HTTP server's answer) read as the length of a
    Dask message ask for exabytes, a MemoryError. So the scheduler is asked who it is
    first, within :data:`SCHEDULER_TIMEOUT` seconds for the connection and as many for
    the answer, on a loop of its own (the caller may be running one, as Jupyter does).
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.comm import connect, parse_address
    from distributed.comm.registry import get_backend
    from distributed.security import Security

    async def identity() -> Any:
        comm = await connect(
            address,
            timeout=SCHEDULER_TIMEOUT,
            **Security().get_connection_args("client"),
        )
        try:
            await comm.write({"op": "identity", "reply": True})  # every Dask server has it
            return await comm.read()
        finally:
            comm.abort()

    async def bounded() -> Any:
        return await asyncio.wait_for(identity(), 2 * SCHEDULER_TIMEOUT)

    where = f"--scheduler {address}"
    try:  # an unknown scheme (http://) or no port: nothing to connect to
        scheme, location = parse_address(address)
        with suppress(NotImplementedError):  # a transport without host and port
            get_backend(scheme).get_address_host_port(location)
    except ValueError as exc:
        raise UsageError(
            f"{where}: not a Dask scheduler address ({exc})", hint=_SCHEDULER_HINT
        ) from None
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="custrisk-scheduler") as pool:
            answer = pool.submit(asyncio.run, bounded()).result()
    except TimeoutError:
        raise UsageError(
            f"{where}: not a reachable Dask scheduler: it accepted the connection but did "
            f"not answer as one within {2 * SCHEDULER_TIMEOUT} s",
            hint=_SCHEDULER_HINT,
        ) from None
    except OSError as exc:  # refused, no such host, closed: Dask's own words
        raise UsageError(
            f"{where}: cannot reach a Dask scheduler there ({exc})", hint=_SCHEDULER_HINT
        ) from None
    except Exception as exc:  # noqa: BLE001 - whatever another protocol's bytes decode to
        log.debug("%s: not Dask's protocol (%s: %s)", where, type(exc).__name__, exc)
        raise UsageError(
            f"{where}: not a reachable Dask scheduler: something answers there, but not "
            "in Dask's protocol (an HTTP server, say)",
            hint=_SCHEDULER_HINT,
        ) from None
    kind = answer.get("type") if isinstance(answer, dict) else None
    if kind != "Scheduler":
        what = f"a Dask {kind}" if isinstance(kind, str) else "a Dask server"
        raise UsageError(
            f"{where}: not a Dask scheduler: {what} answers there",
            hint="give the scheduler's address (the workers' 'dask worker ADDRESS'), "
            "default port 8786",
        )


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread within the block, and so in the threads it starts
    and the processes they spawn, which keep the mask across ``exec``: a LocalCluster's
    event loop and its worker processes never take Ctrl-C, even while a worker still
    imports Dask (before its preload ignores SIGINT, a Ctrl-C there ended it with a
    traceback). The command itself still gets it: from another thread, or as soon as
    the mask is put back (a signal blocked meanwhile is delivered then), which is
    within :func:`~custrisk.io.stop.stops_held`.
    """
    from multiprocessing import resource_tracker

    # Started first, here: the thread that starts it unblocks SIGINT afterwards
    # (multiprocessing's own blocking around the spawn), which in the cluster's event
    # loop would undo this block before a worker is spawned from there.
    resource_tracker.ensure_running()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _check_workers(client: Client, scheduler: str) -> None:
    """That the scheduler at ``scheduler`` has a worker within :data:`WORKERS_TIMEOUT`
    seconds: UsageError in one line (the client closed) otherwise."""
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
    except TimeoutError:
        client.close()
        raise UsageError(
            f"--scheduler {scheduler}: the Dask scheduler there has no worker (none came "
            f"within {WORKERS_TIMEOUT} s)",
            hint=f"start workers with 'dask worker {scheduler}' where the exports can be "
            "read, or leave --scheduler out for a local cluster",
        ) from None


@contextmanager
def _client_logs_quiet() -> Iterator[None]:
    """The client's own log lines silenced unless custrisk logs at DEBUG, as the local
    cluster's are: a scheduler that stops mid-run made Dask log 'Failed to reconnect to
    scheduler' and two tracebacks before the command's one line."""
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    client_log = logging.getLogger("distributed.client")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        client_log.setLevel(level)


def _auto_limit(cluster: Any) -> str:
    """The memory limit Dask gave each worker of a local cluster started without one (the
    machine's memory shared by the workers), as the errors and the log say it: a worker
    restarted past it said no limit, and the log said 'memory limit auto each'."""
    limits = {
        getattr(getattr(nanny, "memory_manager", None), "memory_limit", None)
        for nanny in cluster.workers.values()
    }
    if len(limits) != 1 or not isinstance(size := limits.pop(), int) or size <= 0:
        return "auto"
    return f"{size / 2**30:.1f}GiB"


@contextmanager
def dask_client(
    scheduler: str | None = None,
    *,
    workers: int = LOCAL_WORKERS,
    memory_limit: str | None = None,
) -> Iterator[Client]:
    """A client of the cluster at ``scheduler`` (``tcp://HOST:8786``), or of a
    LocalCluster of ``workers`` processes with one thread each, closed on exit.

    ``memory_limit`` (e.g. ``2GB``) bounds each local worker: past 40 % of it a worker
    spills its results to disk, past 95 % it is restarted
    (:data:`LOCAL_MEMORY_THRESHOLDS`).
    Without it, Dask gives each worker an equal share of the machine's memory.

    The workers' own log lines (a task's failure with its traceback, lost connections
    while the cluster shuts down) are silenced unless custrisk logs at DEBUG: an error
    on a worker reaches the caller as the exception itself, and its message is the one
    line the command prints.
    """
    try:
        from distributed import LocalCluster
    except ImportError as exc:  # pragma: no cover - the dask extra is not installed
        raise UsageError(
            "--engine dask needs Dask distributed, which is not installed",
            hint="pip install 'custrisk[dask]'",
        ) from exc
    if scheduler:
        if memory_limit is not None:
            raise UsageError(
                f"memory limit {memory_limit}: a running cluster's workers have their own",
                hint="start them with 'dask worker --memory-limit SIZE'",
            )
        _check_scheduler(scheduler)
        try:
            client = _watched_client(scheduler, timeout=f"{SCHEDULER_TIMEOUT}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise UsageError(
                f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({exc})",
                hint=_SCHEDULER_HINT,
            ) from exc
        _check_workers(client, scheduler)
        deaths = _worker_deaths(
            f"a worker of {scheduler}", None, _MemoryRestarts(client), scheduler=scheduler
        )
        with _client_logs_quiet(), client, deaths:
            yield client
        return
    limit: int | str = "auto"
    if memory_limit is not None:
        try:
            limit = memory_limit_bytes(memory_limit)
        except ValueError as exc:
            raise UsageError(f"memory limit: {exc}") from None
    # Above CRITICAL: the in-process scheduler logs a lost connection to the client at
    # CRITICAL, with a traceback, when the client closes while a worker is restarting.
    quiet = logging.WARNING if log.isEnabledFor(logging.DEBUG) else logging.CRITICAL + 1
    import dask

    with _said_on_stop(), _shuffle_folders_removed(), ExitStack() as started:
        # Dask's own folders (the workers' spilled results, its lock files) in a folder
        # removed with the cluster, last: Dask leaves dask-scratch-space in TMPDIR.
        with stops_held():
            dask_folder = tempfile.mkdtemp(prefix=DASK_PREFIX)
            started.callback(shutil.rmtree, dask_folder, ignore_errors=True)
        settings = {**LOCAL_MEMORY_THRESHOLDS, "temporary-directory": dask_folder}
        started.enter_context(dask.config.set(settings))
        # A stop while the cluster starts is raised once it is entered in `started`,
        # which closes it: broken off inside LocalCluster(), the half-started cluster
        # was closed at exit by Dask, printing a traceback.
        # The folders are removed once every worker process has ended.
        processes = _WorkerProcesses()
        started.callback(processes.wait)  # after the cluster's close
        with stops_held(), _sigint_blocked():
            cluster = started.enter_context(
                LocalCluster(
                    n_workers=workers,
                    processes=True,
                    threads_per_worker=1,
                    dashboard_address=":0",
                    memory_limit=limit,
                    silence_logs=quiet,
                    preload=[WORKER_SETUP],  # workers ignore Ctrl-C: the command stops them
                )
            )
            started.callback(processes.take, cluster)  # before its close
            client = started.enter_context(_watched_client(cluster))
        said_limit = memory_limit or _auto_limit(cluster)
        started.enter_context(
            _worker_deaths("a worker of the local cluster", said_limit, _MemoryRestarts(client))
        )
        log.info(
            "dask engine: a local cluster of %d workers (memory limit %s each) at %s",
            workers,
            said_limit,
            cluster.scheduler_address,
        )
        yield client


__all__ = [
    "DASK_PREFIX",
    "ENGINES",
    "LOCAL_WORKERS",
    "SHUFFLE_PREFIX",
    "ShuffleFolder",
    "check_engine_options",
    "dask_client",
    "memory_limit_bytes",
    "shared",
]
