"""The monthly batch of ``custrisk run``: one YAML, one call, a locked, idempotent and
resumable run per period.

* :mod:`~custrisk.batch.config` -- the RUN.yaml (:func:`load_run_config`);
* :mod:`~custrisk.batch.layout` -- the runs folder: staging, run.json, retention;
* :mod:`~custrisk.batch.stages` -- validate, score, drift, evaluate, reports, notify;
* :mod:`~custrisk.batch.run` -- :func:`run_batch`: lock, resume, publish.
* :mod:`~custrisk.batch.fingerprint` -- what a run depends on and records;
* :mod:`~custrisk.batch.outcome` -- :class:`BatchOutcome`: what a run did.
* :mod:`~custrisk.batch.sent` -- notifications undelivered across months, and those
  sent by hand (``custrisk notify``) recorded in the month's run.
"""

from custrisk.batch.config import EngineSettings, RunConfig, load_run_config, with_engine
from custrisk.batch.init import write_init_config
from custrisk.batch.run import DONE, NOTHING_TO_DO, BatchOutcome, latest_period, run_batch

__all__ = [
    "DONE",
    "NOTHING_TO_DO",
    "BatchOutcome",
    "EngineSettings",
    "RunConfig",
    "latest_period",
    "load_run_config",
    "run_batch",
    "with_engine",
    "write_init_config",
]
