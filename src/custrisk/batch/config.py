"""The RUN.yaml of ``custrisk run``: one file that says where a month's exports are,
which model, policy and rules score them, which reports to render, the drift gate,
retention and notifications. Read once into frozen objects; paths in it are relative to
the folder of the YAML file.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from custrisk.batch import _notify
from custrisk.config._yaml import Node, config_root, load_yaml_file
from custrisk.config.locations import AS_OF_DAYS_AFTER, period_end
from custrisk.config.sources import SourceSpec, load_sources_config
from custrisk.engine.cluster import ENGINES, check_engine_options, memory_limit_bytes
from custrisk.errors import ConfigError, UsageError
from custrisk.io.encoding import normalise_encoding
from custrisk.io.plain import path_argument
from custrisk.policy import alert_rule_owners
from custrisk.vocab import LANGUAGES, LEVELS

#: A period is a month: ``YYYY-MM``, of a year 1900 to 2999 (0000-01 or 9999-12 have
#: no month before or after them in Python's calendar: an internal error, not a month).
#: Unanchored, to be found in a longer pattern (the exports' location).
PERIOD_REGEX = r"(?:19|2\d)\d\d-(?:0[1-9]|1[0-2])"
PERIOD_PATTERN = re.compile(rf"^{PERIOD_REGEX}$")
#: The placeholder of the period in the exports (and labels) location.
PERIOD_FIELD = "{period}"
#: Alert levels (or ``never``) at which the batch exits 1.
ALERTS_FAIL_ON = (*LEVELS, "never")
#: Drift verdicts at which the batch exits 1 (as ``custrisk drift --fail-on``).
DRIFT_FAIL_ON = ("alert", "warn", "never")
#: Which customers get a PDF report.
REPORT_CUSTOMERS = ("with_alerts", "all")
#: The values of ``lock`` (kept for older RUN.yaml files): either way a run holds the lock
#: of its whole runs folder, since a month's run reads the run of the month before.
LOCK_SCOPES = ("period", "all")

TOP_KEYS = (
    "version",
    "exports",
    "runs",
    "sources",
    "encoding",
    "model",
    "models_dir",
    "lang",
    "policy",
    "alert_rules",
    "fail_on",
    "lock",
    "reports",
    "drift",
    "evaluate",
    "retention",
    "notifications",
    "encrypt",
    "engine",
    "scheduler",
    "buckets",
    "memory_limit",
    "parts",
    "checks",
)
#: The keys that apply to ``engine: dask`` only.
DASK_KEYS = ("scheduler", "buckets", "memory_limit", "parts")
#: The keys that say where a run is computed, not what it computes: a run's fingerprint
#: counts RUN.yaml without them (both engines write the same tables; ``parts`` writes
#: the tables of a row per customer as folders of parts, the same rows).
ENGINE_KEYS = ("engine", *DASK_KEYS)


@dataclass(frozen=True)
class ReportSettings:
    enabled: bool = True
    customers: str = "with_alerts"
    alert_levels: tuple[str, ...] = LEVELS
    grades: tuple[str, ...] | None = None
    portfolio: bool = True
    #: processes rendering the PDFs (``None``: one per CPU, as ``custrisk report``; 0: in
    #: the batch's own process)
    workers: int | None = None
    config: Path | None = None
    templates: Path | None = None


@dataclass(frozen=True)
class DriftSettings:
    enabled: bool = True
    config: Path | None = None
    fail_on: str | None = None  # None: the drift YAML's own fail_on
    allow_insufficient: bool | None = None


@dataclass(frozen=True)
class EvaluateSettings:
    labels: str | None = None  # a pattern with {period}; None: no evaluation
    after_months: int = 6


@dataclass(frozen=True)
class ChecksSettings:
    """What the data of a month must pass before its run is published
    (:mod:`custrisk.batch.checks`): its as-of date in the month or at most
    ``as_of_days_after`` days after it, its customers fallen by at most
    ``max_customer_drop`` and each export's rows by at most ``max_rows_drop`` (shares)
    against the previous run's."""

    max_customer_drop: float = 0.5
<<<<<<< HEAD
    as_of_days_after: int = AS_OF_DAYS_AFTER
=======
    as_of_days_after: int = 7
    max_rows_drop: float = 0.5
>>>>>>> trip-cron13


@dataclass(frozen=True)
class EngineSettings:
    """Where the stages with a Dask path (validate, score, drift) compute: ``pandas``
    (one process) or ``dask`` (on the cluster at ``scheduler``, or on a local cluster of
    workers with ``memory_limit`` each), the customers in ``buckets`` buckets."""

    engine: str = "pandas"
    scheduler: str | None = None
    buckets: int | None = None
    memory_limit: str | None = None
    #: The run in parts (None: from PARTS_FROM customers; see docs/scale.md).
    parts: bool | None = None

    @property
    def dask(self) -> bool:
        return self.engine == "dask"


@dataclass(frozen=True)
class RunConfig:
    """A validated RUN.yaml."""

    path: Path
    exports: str  # pattern with {period}, absolute
    runs_dir: Path
    model: str
    models_dir: Path | None = None
    sources: Path | None = None
    encoding: str | None = None
    lang: str = "zh"
    policy: Path | None = None
    alert_rules: Path | None = None
    fail_on: str = "never"
    lock: str = "period"
    reports: ReportSettings = field(default_factory=ReportSettings)
    drift: DriftSettings = field(default_factory=DriftSettings)
    evaluate: EvaluateSettings = field(default_factory=EvaluateSettings)
    keep: int = 0  # periods kept in runs/ (0: all)
    notifications: dict[str, Any] | None = None
    encrypt: bool = False  # customer-data outputs written encrypted (NAME.enc)
    engine: EngineSettings = field(default_factory=EngineSettings)
    checks: ChecksSettings = field(default_factory=ChecksSettings)
    sha256: str = ""

    def exports_for(self, period: str) -> Path:
        return Path(self.exports.replace(PERIOD_FIELD, period))

    def labels_for(self, period: str) -> Path | None:
        if self.evaluate.labels is None:
            return None
        return Path(self.evaluate.labels.replace(PERIOD_FIELD, period))

    def _sources(self) -> Mapping[str, SourceSpec]:
        """The sources of its sources config (name -> spec); none for the packaged one,
        or a broken one (the validate stage reports it)."""
        if self.sources is None:
            return {}
        try:
            return load_sources_config(self.sources).sources
        except ConfigError:
            return {}

    def database_sources(self) -> list[str]:
        """The sources read by a database query (``query:``): rows no file hash covers,
        so that a run of them is never up to date."""
        return [name for name, spec in self._sources().items() if spec.query is not None]

    def query_facts(self, period: str) -> dict[str, Any]:
        """What ``run.json`` records of the sources' queries for the month ``period``
        (:func:`custrisk.io.sql.query_facts`: the hash of each query's text and the
        values bound to its parameters); empty without queries or a readable config."""
        from custrisk.io.sql import query_facts  # (numpy, pyarrow: not at startup)

        return query_facts(self._sources(), period)

    def queries_only(self) -> bool:
        """Whether every source is read by a database query: the month's exports folder
        then holds no export (at most the labels), and need not exist."""
        sources = self._sources()
        return bool(sources) and all(spec.query is not None for spec in sources.values())

    def config_files(self) -> dict[str, Path | None]:
        """Every config file the run reads (None: the packaged default)."""
        return {
            "run": self.path,
            "sources": self.sources,
            "policy": self.policy,
            "alert_rules": self.alert_rules,
            "drift": self.drift.config,
            "reports": self.reports.config,
        }


#: How to run a batch whose sources are all database queries (no exports folder).
QUERIES_ONLY_HINT = (
    "give the month: --period YYYY-MM (the month just ended: --period "
    '$(date -d "$(date +%Y-%m-01) -1 month" +%Y-%m), each % written \\% in a crontab); '
    "no exports folder is needed"
)


def check_period(text: str, where: str = "--period") -> str:
    """``text`` if it is a month ``YYYY-MM``, else a UsageError naming ``where``."""
    if not PERIOD_PATTERN.match(text):
        raise UsageError(
            f"{where} {text!r} is not a month",
            hint="write it as YYYY-MM (a year 1900 to 2999), e.g. 2026-10",
        )
    return text


def shift_period(period: str, months: int) -> str:
    """The month ``months`` after (negative: before) ``period``."""
    year, month = (int(part) for part in period.split("-"))
    index = year * 12 + month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def load_run_config(path: str | os.PathLike[str]) -> RunConfig:
    """Read and check a RUN.yaml.

    Raises
    ------
    ConfigError
        Naming the file and key of anything missing, unknown or not allowed.
    """
    file = path_argument(path, "the run config", hint="pass the RUN.yaml file")
    if not file.is_file():
        raise ConfigError(
            "run config not found",
            file=str(file),
            hint="write one with `custrisk run --init RUN.yaml`",
        )
    raw = file.read_bytes()
    root = config_root(load_yaml_file(file), str(file), allowed=TOP_KEYS, required=("exports",))
    base = file.resolve().parent

    exports = root.text("exports", required=True)
    if PERIOD_FIELD not in exports:
        raise root.error(
            "exports",
            f"{exports!r} has no {PERIOD_FIELD} placeholder",
            hint="e.g. exports/{period}, so that each month has its own folder",
        )
    model = root.text("model", required=True)
    models_dir = root.text("models_dir")  # checked by the run, after the exports
    lang = root.text("lang", "zh", allowed=LANGUAGES)
    fail_on = root.text("fail_on", "never", allowed=ALERTS_FAIL_ON)
    lock = root.text("lock", "period", allowed=LOCK_SCOPES)
    retention = root.child("retention")
    retention.check_keys(("keep",))
    keep = int(retention.number("keep", 0, minimum=0, integer=True))
    if keep == 1:  # the latest month's run was compared with the month before's
        raise retention.error(
            "keep",
            "1 would remove the run of the month before the latest, which the latest "
            "month's run was compared with (its migration, its new and ongoing alerts)",
            hint="keep: 2 or more months, or keep: 0 for every month",
        )
    encoding = root.text("encoding")
    if encoding is not None:
        try:
            normalise_encoding(encoding)
        except LookupError:  # said now, not after the month's exports are found
            raise root.error(
                "encoding",
                f"unknown encoding {encoding!r}",
                hint="utf-8, gbk or gb18030, or leave it out to have it detected",
            ) from None
    notifications = root.get("notifications")
    if notifications is not None and not isinstance(notifications, dict):
        raise root.error("notifications", "expected a mapping of notification settings")
    alert_rules = _config_path(root, "alert_rules", base)
    notify = _notify.parse(notifications, str(file))
    if notify is not None:
        rules = root.text("alert_rules") or "the packaged alerts.yaml"
        _notify.check_owners(notify, alert_rule_owners(alert_rules), str(file), rules)
    return RunConfig(
        path=file.resolve(),
        exports=str(_under(base, exports)),
        runs_dir=_under(base, root.text("runs", "runs")),
        model=model,
        models_dir=_under(base, models_dir) if models_dir else None,
        sources=_config_path(root, "sources", base),
        encoding=encoding,
        lang=lang,
        policy=_config_path(root, "policy", base),
        alert_rules=alert_rules,
        fail_on=fail_on,
        lock=lock,
        reports=_reports(root.child("reports"), base),
        drift=_drift(root.child("drift"), base),
        evaluate=_evaluate(root.child("evaluate"), base),
        keep=keep,
        notifications=notifications or None,
        encrypt=root.flag("encrypt", False),
        engine=_engine(root),
        checks=_checks(root.child("checks")),
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def with_engine(
    config: RunConfig,
    engine: str | None = None,
    *,
    scheduler: str | None = None,
    buckets: int | None = None,
    memory_limit: str | None = None,
    parts: bool | None = None,
) -> RunConfig:
    """``config`` with the engine options of ``custrisk run`` (``None``: not given)
    over its RUN.yaml's. ``--engine pandas`` drops the YAML's Dask settings;
    ``--scheduler`` or ``--memory-limit`` replace both its ``scheduler`` and its
    ``memory_limit`` (the command says which cluster: a running one, or a local one)."""
    given = (engine, scheduler, buckets, memory_limit, parts)
    if all(value is None for value in given):
        return config
    if engine == "pandas":  # the YAML's Dask settings do not apply; what is given with it
        current = EngineSettings(  # is checked
            "pandas", scheduler, buckets, memory_limit, parts
        )
    else:
        current = replace(config.engine, engine=engine or config.engine.engine)
        if scheduler is not None or memory_limit is not None:  # the cluster, as given
            current = replace(current, scheduler=scheduler, memory_limit=memory_limit)
        if buckets is not None:
            current = replace(current, buckets=buckets)
        if parts is not None:
            current = replace(current, parts=parts)
    check_engine_options(
        current.engine,
        current.scheduler,
        current.buckets,
        current.memory_limit,
        current.parts,
    )
    return replace(config, engine=current)


def _engine(root: Node) -> EngineSettings:
    engine = root.text("engine", "pandas", allowed=ENGINES)
    scheduler = root.text("scheduler")
    buckets = root.number("buckets", None, minimum=1, integer=True)
    memory_limit = root.get("memory_limit")
    parts = root.get("parts")
    if parts is not None and not isinstance(parts, bool):
        raise root.error(
            "parts",
            f"expected true or false, got {parts!r}",
            hint="true: the scores, details and follow-up plan as folders of parts; false: "
            "each as one file; absent: parts from 1,000,000 customers",
        )
    if memory_limit is not None:
        if isinstance(memory_limit, bool) or not isinstance(memory_limit, str | int):
            raise root.error("memory_limit", f"expected a size such as 2GB, got {memory_limit!r}")
        try:
            memory_limit_bytes(memory_limit)
        except ValueError as exc:
            raise root.error("memory_limit", str(exc)) from None
        memory_limit = str(memory_limit)
    if engine != "dask":
        for key in DASK_KEYS:
            if root.get(key) is not None:
                raise root.error(
                    key,
                    f"{root.get(key)!r} applies to engine: dask only, and engine is {engine}",
                    hint="add engine: dask, or remove the key",
                )
    if scheduler is not None and memory_limit is not None:
        raise root.error(
            "memory_limit",
            f"{memory_limit!r} sizes the workers of a local cluster, not those of scheduler "
            f"{scheduler}",
            hint="remove it, and start those workers with 'dask worker --memory-limit SIZE'",
        )
    return EngineSettings(
        engine, scheduler, None if buckets is None else int(buckets), memory_limit, parts
    )


def _checks(node: Node) -> ChecksSettings:
    node.check_keys(("max_customer_drop", "as_of_days_after", "max_rows_drop"))
    default = ChecksSettings()
    drops = {}
    for key, what in (("max_customer_drop", "customers"), ("max_rows_drop", "rows of an export")):
        drop = node.number(key, getattr(default, key))
        if not 0 <= drop <= 1:
            raise node.error(
                key,
                f"must be a share from 0 to 1, got {drop}",
                hint=f"e.g. 0.5: a month with less than half the previous run's {what} is "
                "refused; 1: no check",
            )
        drops[key] = float(drop)
    days = node.number("as_of_days_after", default.as_of_days_after, minimum=0, integer=True)
    return ChecksSettings(drops["max_customer_drop"], int(days), drops["max_rows_drop"])


def _under(base: Path, value: str) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base / path


def _config_path(node: Node, key: str, base: Path, *, folder: bool = False) -> Path | None:
    """The config file (``folder``: folder) at ``key``, relative to RUN.yaml's folder
    ``base``; one that is not there is refused now, naming the key, before any work."""
    value = node.text(key)
    if value is None:
        return None
    path = _under(base, value)
    if not (path.is_dir() if folder else path.is_file()):
        raise node.error(
            key,
            f"{value!r} is not {'a folder' if folder else 'a file'} ({path})",
            hint=f"paths are relative to the folder of {node.file}; remove the key for the "
            "packaged one",
        )
    return path


def _reports(node: Node, base: Path) -> ReportSettings:
    node.check_keys(
        (
            "enabled",
            "customers",
            "alert_levels",
            "grades",
            "portfolio",
            "workers",
            "config",
            "templates",
        )
    )
    levels = node.text_list("alert_levels", list(LEVELS))
    assert levels is not None
    for i, level in enumerate(levels):
        if level not in LEVELS:
            raise node.error(
                f"alert_levels[{i}]",
                f"{level!r} is not an alert level",
                hint=f"choose from {', '.join(LEVELS)}",
            )
    workers = node.number("workers", None, minimum=0, integer=True)
    config = _config_path(node, "config", base)
    templates = _config_path(node, "templates", base, folder=True)
    return ReportSettings(
        enabled=node.flag("enabled", True),
        customers=node.text("customers", "with_alerts", allowed=REPORT_CUSTOMERS),
        alert_levels=levels,
        grades=node.text_list("grades"),
        portfolio=node.flag("portfolio", True),
        workers=None if workers is None else int(workers),
        config=config,
        templates=templates,
    )


def _drift(node: Node, base: Path) -> DriftSettings:
    node.check_keys(("enabled", "config", "fail_on", "allow_insufficient"))
    config = _config_path(node, "config", base)
    allow = node.get("allow_insufficient")
    return DriftSettings(
        enabled=node.flag("enabled", True),
        config=config,
        fail_on=node.text("fail_on", allowed=DRIFT_FAIL_ON),
        allow_insufficient=None if allow is None else node.flag("allow_insufficient", False),
    )


def _evaluate(node: Node, base: Path) -> EvaluateSettings:
    node.check_keys(("labels", "after_months"))
    labels = node.text("labels")
    if labels is not None and PERIOD_FIELD not in labels:
        raise node.error(
            "labels",
            f"{labels!r} has no {PERIOD_FIELD} placeholder",
            hint="e.g. exports/{period}/labels.csv: the labels of each month's customers",
        )
    after = node.number("after_months", 6, minimum=1, integer=True)
    return EvaluateSettings(
        labels=str(_under(base, labels)) if labels else None, after_months=int(after)
    )


__all__ = [
    "ALERTS_FAIL_ON",
    "DRIFT_FAIL_ON",
    "ChecksSettings",
    "DriftSettings",
    "EngineSettings",
    "EvaluateSettings",
    "ReportSettings",
    "RunConfig",
    "check_period",
    "load_run_config",
    "period_end",
    "shift_period",
    "with_engine",
]
