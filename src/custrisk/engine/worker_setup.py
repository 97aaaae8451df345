"""Run in every worker process of a local cluster as it starts (a Dask preload).

Ctrl-C at a terminal sends SIGINT to the whole process group: the command's own process
and the cluster's worker processes. The command stops the cluster itself (see
:mod:`custrisk.io.stop`); a worker that took the signal as well would die printing a
KeyboardInterrupt traceback first. So a worker ignores SIGINT: it is ended when the
cluster is closed. (SIGTERM, sent to the group by systemd or ``timeout``, ends a worker
quietly by its default action.) A local cluster's workers are also spawned with SIGINT
blocked (``custrisk.engine.cluster``), which covers the second or so while a worker loads
Dask, before this runs; a worker of a cluster started elsewhere (``dask worker``) has
this alone.
"""

from __future__ import annotations

import signal
import threading
from typing import Any


def dask_setup(worker: Any) -> None:
    """Ignore SIGINT in this worker process (Dask calls this at its start)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
