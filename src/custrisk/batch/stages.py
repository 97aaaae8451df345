"""The stages of a month's batch, each a call of the library on main.

Every stage writes only its own outputs (:data:`OUTPUTS`) into the run's staging folder
and returns a :class:`StageResult`: status, row counts, and the message of a gate it
failed (alerts at ``fail_on``, drift, failed reports). Later stages read what earlier
ones wrote from that folder, so a resumed run needs nothing from memory.

Order: validate -> score -> drift -> evaluate -> reports -> notify. Drift runs before the
reports so that the portfolio report can show it.

With ``engine: pandas`` the month's exports are read and cleaned once, by validate (or by
score, in a run resumed there or of a flat table): validate hands the workspace over to
score (:class:`ReadOnce`), and drift takes score's features
(:attr:`StageContext.features`).

With ``engine: dask`` the stages that have a Dask path (validate, score, drift) compute
on one cluster for the whole run (:class:`RunCluster`, started by the first of them that
runs); evaluate, reports and notify run in this process as with ``engine: pandas``. The
outputs are the same bytes with either engine.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from custrisk.batch import _notify
from custrisk.batch.checks import check_as_of, check_customer_drop, check_rows_drop
from custrisk.batch.config import EngineSettings, RunConfig, shift_period
from custrisk.batch.layout import RUN_FILE, read_json, write_json
from custrisk.config.sources import SourcesConfig
from custrisk.data import Workspace, load_workspace
from custrisk.data.validation import REPORT_FILE
from custrisk.engine import check_data_drift_dask, dask_client, score_portfolio_dask, validate_dask
from custrisk.errors import CustriskError
from custrisk.io.plain import counted, jsonable
from custrisk.policy import alerts_at_or_above
from custrisk.policy.apply import PreviousRunLater
from custrisk.protect.envelope import SUFFIX
from custrisk.protect.output import existing, plain_bytes
from custrisk.registry import LoadedModel
from custrisk.report.batch import FAILED, PORTFOLIO_FILE, SKIPPED, ReportResult, render_reports
from custrisk.results import PARTS, REPORTS_DIR, ScoringRun, read_run, run_files
from custrisk.scoring import check_data_drift, evaluate_model, score_portfolio
from custrisk.scoring.features import Features

if TYPE_CHECKING:
    from distributed import Client

OK = "ok"
SKIPPED_STATUS = "skipped"

SCORES_FILE = "scores.csv"
DRIFT_FILE = "drift.json"
EVALUATION_FILE = "evaluation.json"
NOTIFICATIONS_FILE = "notifications.json"
VALIDATION_DIR = "validation"

_SCORING = run_files(SCORES_FILE)
#: What each stage writes into the run folder (removed before it runs again).
OUTPUTS: dict[str, tuple[str, ...]] = {
    "validate": (VALIDATION_DIR,),
    "score": tuple(
        dict.fromkeys(  # custrisk.results: each table's file, clear or encrypted
            path.name  # (encrypt: true), or its folder of parts (engine: dask, parts)
            for path in (
                *(form for p in PARTS for form in _SCORING.forms(p)),
                _SCORING.facts,
                _SCORING.facts.with_name(_SCORING.facts.name + SUFFIX),
            )
        )
    ),
    "drift": (DRIFT_FILE,),
    "evaluate": (EVALUATION_FILE,),
    "reports": (REPORTS_DIR,),
    "notify": (NOTIFICATIONS_FILE,),
}
STAGES = tuple(OUTPUTS)
#: The stages with a Dask path (``engine: dask``): the run's cluster is closed after them.
DASK_STAGES = ("validate", "score", "drift")


@dataclass
class StageResult:
    status: str = OK
    rows: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    gate: str | None = None  # why this stage fails the run's gate (exit 1)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "rows": self.rows, "detail": self.detail, "gate": self.gate}


class RunCluster:
    """The Dask cluster of a run with ``engine: dask``: one client for every stage,
    started when the first stage with a Dask path asks for it (a run resumed at the
    reports starts none), closed once the last of them (:data:`DASK_STAGES`) is done,
    or when one fails: the stages after have no use for its workers and folders."""

    def __init__(
        self, settings: EngineSettings, on_start: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        self.settings = settings
        self.on_start = on_start
        self._stack = ExitStack()
        self._client: Client | None = None

    @property
    def buckets(self) -> int | None:
        return self.settings.buckets

    def client(self) -> Client:
        if self._client is None:
            self._client = self._stack.enter_context(
                dask_client(self.settings.scheduler, memory_limit=self.settings.memory_limit)
            )
            if self.on_start is not None:
                self.on_start(
                    {
                        "scheduler": self._client.scheduler.address
                        if self._client.scheduler
                        else None,
                        "workers": len(self._client.scheduler_info().get("workers", {})),
                        "local": self.settings.scheduler is None,
                        "memory_limit": self.settings.memory_limit,
                        "buckets": self.settings.buckets,
                    }
                )
        return self._client

    def close(self, error: BaseException | None = None) -> None:
        """Close the cluster (if started; a client asked for later starts another).
        ``error``: the exception of the stage that failed, given to the cluster's
        context, which raises a worker that died (past its memory limit, say) as one
        line (a :class:`~custrisk.errors.UsageError`); an error it does not translate is
        left to the caller."""
        self._client = None
        stack, self._stack = self._stack, ExitStack()
        if error is None:
            stack.close()
        else:
            stack.__exit__(type(error), error, error.__traceback__)

    def __enter__(self) -> RunCluster:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        # The stage's exception goes to the cluster's context, which says a worker that
        # died (past its memory limit, say) in one line: a close() would not show it and
        # Dask's FutureCancelledError came out as an internal error.
        self._client = None
        return bool(self._stack.__exit__(kind, value, traceback))


class ReadOnce:
    """The month's exports read and cleaned once for validate and score (``engine:
    pandas``): :meth:`load` reads them and holds the workspace until :meth:`take` (the
    ``loader`` score passes to :func:`score_portfolio`) hands it over, holding it no
    more: scoring lets the events go once their indicators are computed, as when it
    reads the exports itself. Asked for other exports (another folder, sources config
    or encoding), or with nothing held (a run resumed at score), :meth:`take` reads
    them as :func:`load_workspace` does."""

    def __init__(self) -> None:
        self._held: tuple[tuple[Any, ...], Workspace] | None = None

    def load(
        self,
        data_dir: Path,
        *,
        config: SourcesConfig | Path | None = None,
        encoding: str | None = None,
    ) -> Workspace:
        """:func:`load_workspace`, the workspace held for :meth:`take`."""
        self._held = None  # (the one held before let go first)
        workspace = load_workspace(data_dir, config=config, encoding=encoding)
        self._held = ((Path(data_dir), workspace.config, encoding), workspace)
        return workspace

    def take(
        self,
        data_dir: str | os.PathLike[str],
        *,
        config: SourcesConfig | str | os.PathLike[str] | None = None,
        encoding: str | None = None,
    ) -> Workspace:
        """The workspace :meth:`load` read of these exports, no longer held; else
        :func:`load_workspace` of them."""
        held, self._held = self._held, None
        if held is not None and held[0] == (Path(data_dir), config, encoding):
            return held[1]
        del held
        return load_workspace(data_dir, config=config, encoding=encoding)


@dataclass
class StageContext:
    """What a stage needs: the config, the period, where to write, the loaded model,
    the previous period's run folder and what earlier stages recorded."""

    config: RunConfig
    period: str
    folder: Path
    final: Path
    model: LoadedModel
    previous: Path | None
    done: dict[str, dict[str, Any]]
    on_report: Callable[[ReportResult], None] | None = None
    cluster: RunCluster | None = None  # engine: dask
    now: dt.datetime | None = None  # the time (a test's clock), default the clock's
    read_once: ReadOnce = field(default_factory=ReadOnce)  # engine: pandas
    features: Features | None = None  # score's, for drift (engine: pandas)

    @property
    def exports(self) -> Path:
        return self.config.exports_for(self.period)

    def previous_run(self) -> ScoringRun | None:
        if self.previous is None:
            return None
        return read_run(self.previous / SCORES_FILE)


def validate(ctx: StageContext) -> StageResult:
    cfg = ctx.config
    if ctx.exports.is_file():
        return StageResult(SKIPPED_STATUS, detail="a flat table: validated while scoring")
    if ctx.cluster is not None:  # each file read and cleaned on the workers
        workspace = validate_dask(
            ctx.exports,
            client=ctx.cluster.client(),
            buckets=ctx.cluster.buckets,
            config=cfg.sources,
            encoding=cfg.encoding,
        )
    else:
        workspace = ctx.read_once.load(ctx.exports, config=cfg.sources, encoding=cfg.encoding)
    workspace.write_validation(ctx.folder / VALIDATION_DIR)
    report = workspace.report
    rows = {
        "rows_in": sum(s.rows_in for s in report.sources.values()),
        "rows_rejected": report.rows_rejected,
        "rows_repaired": report.rows_repaired,
    }
    return StageResult(OK, rows, detail=f"status {report.status}")


def score(ctx: StageContext) -> StageResult:
    cfg = ctx.config
    options: dict[str, Any] = {
        "policy": cfg.policy,
        "alert_rules": cfg.alert_rules,
        "previous": ctx.previous_run(),
        "sources": cfg.sources,
        "encoding": cfg.encoding,
        "lang": cfg.lang,
    }
    try:
        if ctx.cluster is not None:  # the customers in buckets on the workers
            run = score_portfolio_dask(
                ctx.exports,
                ctx.model,
                client=ctx.cluster.client(),
                buckets=ctx.cluster.buckets,
                out=ctx.folder / SCORES_FILE,
                parts=ctx.cluster.settings.parts,
                **options,
            )
        else:  # the exports validate read, handed over (not read again)
            run = score_portfolio(
                ctx.exports, ctx.model, loader=ctx.read_once.take, keep_features=True, **options
            )
            ctx.features = run.extras["features"]  # (for drift: not computed again)
    except PreviousRunLater as exc:
        # a month's folder holding an earlier month's files: said as such (the as-of
        # check), not as two runs given the wrong way round
        if exc.as_of is not None:
            _check_the_month(ctx, exc.as_of, None)
        raise
    _check_the_month(ctx, dt.date.fromisoformat(str(run.facts["as_of"])[:10]), len(run.scores))
    run.write(ctx.folder / SCORES_FILE)
    by_level = run.facts["alerts"]["by_level"]
    rows = {
        "customers": len(run.scores),
        "alerts": len(run.alerts),
        **{f"alerts_{level}": int(n) for level, n in by_level.items()},
        "as_of": str(run.facts["as_of"]),
        "run_id": run.run_id,
    }
    failing = alerts_at_or_above(run.alerts, cfg.fail_on)
    gate = None
    if len(failing):
        gate = f"{len(failing):,} alerts at level {cfg.fail_on} or above (fail_on)"
    detail = f"model {run.facts['model_id']}"
    skipped = [
        counted(len(found), f"{what} rule")
        for what, found in (
            ("alert", (run.facts.get("alerts") or {}).get("skipped_rules") or {}),
            ("limit", (run.facts.get("policy") or {}).get("skipped_limit_rules") or {}),
        )
        if found
    ]
    if skipped:  # (each one's reason in the scoring run's facts)
        detail += f"; {' and '.join(skipped)} skipped (why: {_SCORING.facts.name})"
    return StageResult(OK, rows, detail=detail, gate=gate)


def _check_the_month(ctx: StageContext, as_of: dt.date, customers: int | None) -> None:
    """Stop before the month's scores are written when its data is not the month's
    (its as-of date) or not whole (its customers, and each export's rows a customer,
    against the previous run's; ``None``: not counted yet)."""
    checks = ctx.config.checks
    queried = ctx.config.queries_only()
    check_as_of(
        ctx.period, as_of, days_after=checks.as_of_days_after, exports=ctx.exports, queried=queried
    )
    if ctx.previous is None or customers is None:
        return
    earlier = read_json(ctx.previous / RUN_FILE).get("stages", {}).get("score", {})
    previous_customers = earlier.get("rows", {}).get("customers")
    if not isinstance(previous_customers, int):
        return
    check_customer_drop(
        ctx.period,
        customers,
        previous_period=ctx.previous.name,
        previous_customers=previous_customers,
        max_drop=checks.max_customer_drop,
        exports=ctx.exports,
        queried=queried,
    )
    # each export's rows a customer: an event export cut at a line end keeps them all
    before, now = (
        _export_rows(f / VALIDATION_DIR / REPORT_FILE) for f in (ctx.previous, ctx.folder)
    )
    if before and now:  # (a flat table has no validate stage, nor report)
        check_rows_drop(
            ctx.period,
            now,
            previous_period=ctx.previous.name,
            customers=customers,
            previous_rows={source: rows for source, (rows, _) in before.items()},
            previous_customers=previous_customers,
            max_drop=checks.max_rows_drop,
            queried=queried,
        )


def _export_rows(report: Path) -> dict[str, tuple[int, list[str]]]:
    """Each source's rows read and its files, from a validation report (encrypted
    or not); empty when there is none (a run of a flat table) or it cannot be read."""
    try:
        found = json.loads(plain_bytes(existing(report)))
    except (OSError, ValueError, CustriskError):
        return {}
    sources = found.get("sources") if isinstance(found, dict) else None
    rows: dict[str, tuple[int, list[str]]] = {}
    for name, source in (sources or {}).items():
        if isinstance(source, dict) and isinstance(source.get("rows_in"), int):
            files = [str(f) for f in source.get("files") or []]
            rows[str(name)] = (source["rows_in"], files)
    return rows


def drift(ctx: StageContext) -> StageResult:
    cfg, settings = ctx.config, ctx.config.drift
    features, ctx.features = ctx.features, None  # (not held by the stages after)
    if not settings.enabled:
        return StageResult(SKIPPED_STATUS, detail="drift.enabled is false")
    options: dict[str, Any] = {
        "config": settings.config,
        "fail_on": settings.fail_on,
        "allow_insufficient": settings.allow_insufficient,
        "sources_config": cfg.sources,
        "encoding": cfg.encoding,
        "lang": cfg.lang,  # (the features' labels, as the month's reports show them)
    }
    if ctx.cluster is not None:  # each bucket's bin counts on the workers, added up
        report = check_data_drift_dask(
            ctx.model,
            ctx.exports,
            client=ctx.cluster.client(),
            buckets=ctx.cluster.buckets,
            **options,
        )
    else:
        # score's features of the exports (None in a run resumed here: read again)
        report = check_data_drift(ctx.model, ctx.exports, features=features, **options)
    write_json(ctx.folder / DRIFT_FILE, report.to_dict())
    failures = report.failures()
    gate = None
    if failures:
        # too little data is no drift: said apart, with why and the key that lets it pass
        short = [s for s in failures if s.verdict == "insufficient"]
        judged = [s for s in failures if s.verdict != "insufficient"]
        said = []
        if judged:
            listed = ", ".join(f"{s.id} {s.verdict}" for s in judged[:3])
            said.append(f"{len(judged)} statistics at fail_on {report.config.fail_on} ({listed})")
        if short:
            said.append(
                f"{len(short)} statistics with too little data to judge ({short[0].id}: "
                f"{short[0].message}; drift.allow_insufficient: true lets them pass, or a "
                "small portfolio's drift.config with a lower minimum.rows judges them)"
            )
        gate = "drift: " + "; ".join(said)
    rows = {"statistics": len(report.statistics), **dict(report.counts)}
    return StageResult(OK, rows, detail=f"verdict {report.verdict}", gate=gate)


def evaluate(ctx: StageContext) -> StageResult:
    cfg = ctx.config
    if cfg.evaluate.labels is None:
        return StageResult(SKIPPED_STATUS, detail="no evaluate.labels configured")
    matured = shift_period(ctx.period, -cfg.evaluate.after_months)
    labels, exports = cfg.labels_for(matured), cfg.exports_for(matured)
    assert labels is not None
    if queried := cfg.database_sources():
        # A query reads the database as it is now: the month's customers would be scored
        # on data of months later than the outcomes they are measured against (said
        # first: no labels file or exports folder put in place would change it).
        return StageResult(
            SKIPPED_STATUS,
            {"period": matured, "missing": "exports"},
            detail=f"source(s) {', '.join(queried)} read a database as it is now, not as "
            f"it was in {matured}; measure the model with custrisk evaluate on that month's "
            "data",
        )
    # Named by key and path: a mistyped pattern is otherwise skipped every month unseen.
    if not labels.is_file() or not exports.exists():
        key, path = ("evaluate.labels", labels) if not labels.is_file() else ("exports", exports)
        after = cfg.evaluate.after_months
        return StageResult(
            SKIPPED_STATUS,
            {"period": matured, "missing": key},
            detail=f"{key} {path} not found (month {matured}, after_months {after})",
        )
    result = evaluate_model(
        ctx.model,
        exports,
        labels,
        sources_config=cfg.sources,
        encoding=cfg.encoding,
        config=cfg.drift.config,  # (its minimum.bads: the drift stage's rule)
    )
    write_json(ctx.folder / EVALUATION_FILE, {"period": matured, **result})
    metrics = result.get("metrics") or {}
    auc = metrics.get("auc")
    rows = {
        "period": matured,
        "labelled": result.get("labelled"),
        "auc": auc,
        # evaluation.json says why; the summary line must not show the AUC as a finding
        "in_sample": bool(result.get("in_sample")),
        "too_few": bool(result.get("too_few")),
    }
    return StageResult(OK, rows, detail=f"{matured}: AUC {auc:.4f}" if auc else matured)


def reports(ctx: StageContext) -> StageResult:
    cfg, settings = ctx.config, ctx.config.reports
    if not settings.enabled:
        return StageResult(SKIPPED_STATUS, detail="reports.enabled is false")
    as_of = ctx.done["score"]["rows"]["as_of"]
    drift_file = ctx.folder / DRIFT_FILE
    result = render_reports(
        ctx.folder / SCORES_FILE,
        ctx.folder / REPORTS_DIR,
        grades=settings.grades,
        alert_levels=settings.alert_levels if settings.customers == "with_alerts" else None,
        lang=cfg.lang,
        workers=settings.workers,
        portfolio=settings.portfolio,
        templates=settings.templates,
        config=settings.config,
        history=report_history(ctx, as_of),
        drift=drift_file if drift_file.is_file() else None,
        report_date=dt.date.fromisoformat(as_of),  # the same date whenever it is rendered
        on_result=ctx.on_report,
    )
    rendered = len(result.results) - result.count(SKIPPED) - result.count(FAILED)
    rows = {"documents": len(result.results), "rendered": rendered, "failed": len(result.failed)}
    gate = None
    if result.failed:
        gate = reports_gate(len(result.failed))
    return StageResult(OK, rows, gate=gate)


def report_history(ctx: StageContext, as_of: str) -> list[Path]:
    """The previous run, for the reports' score history and month-over-month KPIs; left
    out when it is as of this run's date too (the same exports again, which score warned
    about): a month is no history of itself, and report refuses it."""
    if ctx.previous is None:
        return []
    earlier = read_json(ctx.previous / RUN_FILE).get("stages", {}).get("score", {})
    if str(earlier.get("rows", {}).get("as_of", ""))[:10] == as_of[:10]:
        return []
    return [ctx.previous / SCORES_FILE]


def notify(ctx: StageContext) -> StageResult:
    cfg = ctx.config
    if not cfg.notifications:
        return StageResult(SKIPPED_STATUS, detail="no notifications configured")
    parsed = _notify.parse(cfg.notifications, f"{cfg.path}: notifications")
    assert parsed is not None
    portfolio = ctx.folder / REPORTS_DIR / PORTFOLIO_FILE
    # The run of the month this one replaces (its inputs changed): a digest that says
    # what it said then, to the same channel, delivered then, is not sent again.
    earlier = _notify.recorded(ctx.final / NOTIFICATIONS_FILE)
    deliveries = _notify.deliver(
        parsed,
        read_run(ctx.folder / SCORES_FILE),
        previous=ctx.previous_run(),
        # The reports are found in the staging folder; the links name the folder the
        # run is moved into right after this stage.
        reports_dir=ctx.folder / REPORTS_DIR,
        reports_link_dir=ctx.final / REPORTS_DIR,
        portfolio_pdf=portfolio if portfolio.is_file() else None,
        lang=cfg.lang,
        already_sent=_notify.delivered_contents(earlier),
    )
    now = _notify.utc_now(ctx.now)  # a failed message is re-sent by a later run, at first
    deliveries = [d if d["ok"] else _notify.record_failure(d, None, now) for d in deliveries]
    written = {"settings_sha256": _notify.settings_digest(cfg.notifications)}
    write_json(ctx.folder / NOTIFICATIONS_FILE, jsonable({**written, "deliveries": deliveries}))
    return notify_result(deliveries, fails_run=_notify.fails_run(parsed))


def notify_result(deliveries: list[dict[str, Any]], *, fails_run: bool) -> StageResult:
    """The notify stage's rows, detail and gate (``fails_run``: failures fail the run)
    for the deliveries of notifications.json: at the stage, and again when a later send
    (the batch re-sending failures, or one by hand) rewrites the file."""
    failed = sum(not d.get("ok") for d in deliveries)
    rows = {"deliveries": len(deliveries), "failed": failed}
    if unchanged := sum(bool(d.get("unchanged")) for d in deliveries):
        rows["unchanged"] = unchanged  # (said only then: a first run's run.json as it was)
    gate = notify_gate(failed) if failed and fails_run else None
    return StageResult(OK, rows, detail=_notify.stage_detail(deliveries), gate=gate)


def reports_gate(failed: int) -> str:
    """The gate failure of reports that failed to render."""
    return f"{counted(failed, 'report')} failed (see {REPORTS_DIR}/manifest.csv)"


def notify_gate(failed: int) -> str:
    """The gate failure of notifications that failed (with ``fail_on_error``)."""
    return f"{counted(failed, 'notification')} failed (fail_on_error; see {NOTIFICATIONS_FILE})"


@contextmanager
def on_the_cluster(ctx: StageContext, name: str) -> Iterator[None]:
    """Stage ``name`` with the run's cluster (``engine: dask``): closed before a stage
    without a Dask path (the reports kept its workers and folder for minutes), and
    told of the stage's exception, which it raises as one line when a worker died (a
    UsageError: what the command prints, log.jsonl records too)."""
    cluster = ctx.cluster
    if cluster is None:
        yield
        return
    if name not in DASK_STAGES:
        cluster.close()  # (none started, or closed already: nothing to do)
    try:
        yield
    except Exception as exc:
        cluster.close(exc)
        raise


RUNNERS: dict[str, Callable[[StageContext], StageResult]] = {
    "validate": validate,
    "score": score,
    "drift": drift,
    "evaluate": evaluate,
    "reports": reports,
    "notify": notify,
}

__all__ = [
    "DASK_STAGES",
    "OUTPUTS",
    "RUNNERS",
    "STAGES",
    "RunCluster",
    "StageContext",
    "StageResult",
    "notify_gate",
    "notify_result",
    "on_the_cluster",
    "reports_gate",
]
