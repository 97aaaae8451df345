"""The Dask cluster the engine runs on: a client of a running scheduler, or of a
LocalCluster started and stopped around a command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from custrisk.errors import UsageError

if TYPE_CHECKING:
    from distributed import Client

#: Workers of the LocalCluster started when no scheduler is given.
LOCAL_WORKERS = 2


@contextmanager
def dask_client(scheduler: str | None = None, *, workers: int = LOCAL_WORKERS) -> Iterator[Client]:
    """A client of the cluster at ``scheduler`` (``tcp://HOST:8786``), or of a
    LocalCluster of ``workers`` processes with one thread each, closed on exit."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - the dask extra is not installed
        raise UsageError(
            "--engine dask needs Dask distributed, which is not installed",
            hint="pip install 'custrisk[dask]'",
        ) from exc
    if scheduler:
        try:
            client = Client(scheduler, timeout="5s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise UsageError(
                f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({exc})",
                hint="start one with 'dask scheduler' (default port 8786) or leave "
                "--scheduler out for a local cluster",
            ) from exc
        with client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


__all__ = ["LOCAL_WORKERS", "dask_client"]
