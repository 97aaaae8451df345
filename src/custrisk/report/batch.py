"""Rendering many reports: a process pool, a manifest, resume, failures kept apart.

The parent loads and checks the inputs once, computes the portfolio statistics and
hands both to each worker process (spawn start method) when it starts. A worker
starts by importing the caller's main script again (spawn's rule): a script that calls
:func:`render_reports` outside ``if __name__ == "__main__":`` would call it again in
every worker, so the call refuses to run while a worker is starting, and a worker that
ends before its work is done (it could not start, or was killed) stops the batch with
one error instead of a wait that never ends. A worker
imports WeasyPrint, compiles the templates and parses the stylesheet once, then renders
one document per task; workers are replaced after ``max_tasks_per_child`` documents.

Each document's *inputs hash* (its context without the report date, the templates, the
config and the custrisk version) is recorded in ``manifest.csv``; a later run skips a
document whose hash, file and file checksum are unchanged (unless ``force``). A failing
customer is recorded with its error and the batch goes on.

Stopping (Ctrl-C, or SIGTERM inside :func:`custrisk.io.stop.stop_on_signals`) ends the
workers, writes the manifest of the documents done and raises
:class:`~custrisk.io.stop.Stopped`: the same call again resumes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import json
import logging
import multiprocessing
import multiprocessing.pool
import multiprocessing.util
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from custrisk import __version__
from custrisk.errors import CustriskError, OutputError, UsageError
from custrisk.io.atomic import (
    Sealer,
    active_group,
    active_sealer,
    ensure_dir,
    out_of_room,
    private_dir,
    sealing,
    write_bytes,
)
from custrisk.io.plain import brief_repr
from custrisk.io.safe_csv import read_csv, write_csv
from custrisk.protect.output import existing, open_plain, plain_bytes
from custrisk.report.config import ReportConfig, load_report_config
from custrisk.report.context import PortfolioStats, portfolio_stats
from custrisk.report.customer import build_customer_context
from custrisk.report.fonts import FontFace, build_subset_fonts, font_work_dir
from custrisk.report.inputs import ReportInputs, load_report_inputs, select_customers
from custrisk.report.portfolio import build_portfolio_context
from custrisk.report.render import (
    ReportRenderer,
    check_cjk_font,
    harfbuzz_subset_available,
    resolve_templates_dir,
    templates_hash,
)
from custrisk.results import locked_folder, read_language
from custrisk.vocab import check_language

log = logging.getLogger(__name__)

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = (
    "customer_id",
    "file",
    "sha256",
    "pages",
    "status",
    "error",
    "kind",
    "inputs_hash",
)
PORTFOLIO_FILE = "portfolio.pdf"
OK, SKIPPED, FAILED = "ok", "skipped", "failed"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_MAX_ID_CHARS = 64
_FLUSH_EVERY = 50


def customer_file_name(customer_id: str) -> str:
    """``customer_<id>.pdf`` with the id reduced to letters, digits, ``_`` and ``-``.

    An id that had to be changed (or was cut) gets a short hash of the original, so two
    different ids never share a file.
    """
    clean = _UNSAFE.sub("_", customer_id)[:_MAX_ID_CHARS]
    if clean != customer_id or not clean:
        clean = f"{clean}-{hashlib.sha256(customer_id.encode('utf-8')).hexdigest()[:10]}"
    return f"customer_{clean}.pdf"


#: Temporary files a killed report run leaves in its folder (removed by the next run).
REPORT_TEMP_PATTERNS = (".*.pdf.*.tmp", ".manifest.csv.*.tmp")


@dataclass
class ReportResult:
    """One row of the manifest: what happened to one document."""

    kind: str
    customer_id: str
    file: str
    sha256: str = ""
    pages: int | None = None
    status: str = OK
    error: str = ""
    inputs_hash: str = ""
    seconds: float = 0.0
    #: The disk took no more (full, over quota, read-only): the batch stops here
    stop: bool = False

    def row(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("seconds")
        data.pop("stop")
        data["pages"] = "" if self.pages is None else self.pages
        return data


@dataclass
class BatchResult:
    """The outcome of a batch: one result per document, in a stable order."""

    __repr__ = brief_repr  # a notebook prints it: sizes, never the tables' cells

    out_dir: Path
    results: list[ReportResult] = field(default_factory=list)
    seconds: float = 0.0
    harfbuzz_subset: bool = True
    #: worker processes that rendered (0: the calling process)
    workers: int = 0

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> list[ReportResult]:
        return [r for r in self.results if r.status == FAILED]

    @property
    def customers(self) -> int:
        """Customer reports in the batch (rendered, up to date or failed)."""
        return sum(r.kind != "portfolio" for r in self.results)

    @property
    def rendered(self) -> int:
        """Documents rendered by this batch (neither skipped as up to date nor failed)."""
        return len(self.results) - self.count(SKIPPED) - self.count(FAILED)

    @property
    def manifest(self) -> Path:
        return existing(self.out_dir / MANIFEST)


@dataclass(frozen=True)
class _Job:
    """What a worker needs to render: sent once per worker process."""

    inputs: ReportInputs
    stats: PortfolioStats
    config_path: str | None
    templates_dir: str
    templates_sha256: str
    lang: str
    out_dir: str
    report_date: str
    force: bool
    font_faces: tuple[FontFace, ...] = ()
    #: ``--encrypt``: the sealer and group of the outputs (workers do not inherit them)
    sealer: Sealer | None = None
    group: int | None = None


class _Worker:
    """Per-process state: the job, the config and one renderer (compiled templates)."""

    def __init__(self, job: _Job) -> None:
        self.job = job
        self.config = load_report_config(job.config_path)
        self.renderer = ReportRenderer(
            self.config,
            lang=job.lang,
            templates_dir=job.templates_dir,
            font_faces=job.font_faces,
        )
        self.report_date = dt.date.fromisoformat(job.report_date)

    def context(self, kind: str, customer_id: str) -> dict[str, Any]:
        job = self.job
        if kind == "portfolio":
            return build_portfolio_context(
                job.inputs, config=self.config, lang=job.lang, report_date=self.report_date
            )
        return build_customer_context(
            job.inputs,
            customer_id,
            config=self.config,
            lang=job.lang,
            stats=job.stats,
            report_date=self.report_date,
        )

    def inputs_hash(self, context: dict[str, Any]) -> str:
        stable = {k: v for k, v in context.items() if k != "report_date"}
        payload = json.dumps(
            {
                "context": stable,
                "templates": self.job.templates_sha256,
                "config": self.config.text_sha256,
                "custrisk": __version__,
            },
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def run(self, kind: str, customer_id: str, previous: dict[str, str] | None) -> ReportResult:
        start = time.perf_counter()
        name = PORTFOLIO_FILE if kind == "portfolio" else customer_file_name(customer_id)
        result = ReportResult(kind=kind, customer_id=customer_id, file=name)
        try:
            context = self.context(kind, customer_id)
            result.inputs_hash = self.inputs_hash(context)
            target = Path(self.job.out_dir) / name
            if not self.job.force and _up_to_date(previous, result.inputs_hash, target):
                assert previous is not None
                result.status = SKIPPED
                result.file = previous.get("file") or name
                result.sha256 = previous["sha256"]
                result.pages = int(previous["pages"]) if previous.get("pages") else None
                return result
            rendered = self.renderer.render(context)
            with sealing(self.job.sealer, group=self.job.group):
                result.file = write_bytes(target, rendered.pdf).name
            result.sha256 = hashlib.sha256(rendered.pdf).hexdigest()
            result.pages = rendered.pages
            if rendered.missing_glyphs:
                result.error = "warning: " + "; ".join(sorted(set(rendered.missing_glyphs)))[:300]
                log.warning("%s: %s", name, result.error)
        except CustriskError as exc:
            result.status, result.error = FAILED, exc.one_line()
        except OSError as exc:
            result.status, result.stop = FAILED, out_of_room(exc)
            result.error = (
                str(exc.strerror) if result.stop else f"{type(exc).__name__}: {exc}"[:500]
            )
        except Exception as exc:  # noqa: BLE001 - one document's failure must not stop the batch
            result.status, result.error = FAILED, f"{type(exc).__name__}: {exc}"[:500]
        finally:
            result.seconds = time.perf_counter() - start
        if result.status == FAILED and not result.stop:  # a stop is said once, with the path
            log.error("%s: %s", name, result.error)
        return result


def _up_to_date(previous: dict[str, str] | None, inputs_hash: str, target: Path) -> bool:
    if not previous or previous.get("status") not in (OK, SKIPPED):
        return False
    if previous.get("file"):  # the name it was written under (.enc when encrypted)
        target = target.with_name(Path(previous["file"]).name)
    if previous.get("inputs_hash") != inputs_hash or not target.is_file():
        return False
    digest = hashlib.sha256(plain_bytes(target)).hexdigest()
    return digest == previous.get("sha256")


_WORKER: _Worker | None = None
_INIT_ERROR: str | None = None
_DONE = 0
#: Every this many documents a worker collects its older garbage too (see _run_task).
_GC_OLDER_EVERY = 20
_GC_FULL_EVERY = 100


def _init_worker(job: _Job) -> None:
    """Pool initializer: builds this process's renderer (imports WeasyPrint).

    A failure is kept and reported by every task: a raising initializer would make the
    pool start replacement workers forever.
    """
    global _WORKER, _INIT_ERROR
    # Ctrl-C reaches every process of the terminal's group: the parent alone decides to
    # stop and ends the workers (SIGTERM, whose default action exits quietly). A worker
    # raising KeyboardInterrupt itself would print its traceback, and another one when
    # it can no longer send its result to the parent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _WORKER = _Worker(job)
        _WORKER.renderer.engine  # noqa: B018 - import WeasyPrint and load fonts up front
    except Exception as exc:  # noqa: BLE001
        _INIT_ERROR = f"worker start failed: {type(exc).__name__}: {exc}"[:500]
        return
    # The renderer is dropped while the interpreter is whole: left to the shutdown,
    # WeasyPrint's FontConfiguration.__del__ runs after its module's globals are gone
    # and prints a traceback on the user's terminal.
    multiprocessing.util.Finalize(None, _drop_worker, exitpriority=100)
    # The worker's long-lived objects (inputs, fonts, modules) are frozen out of the
    # garbage collector, and collection runs between documents instead of inside them:
    # automatic full collections over WeasyPrint's many objects made one document in
    # ten take twice as long.
    gc.collect()
    gc.freeze()
    gc.disable()


def _drop_worker() -> None:
    global _WORKER
    _WORKER = None
    gc.unfreeze()
    gc.enable()
    gc.collect()


def _run_task(task: tuple[str, str, dict[str, str] | None]) -> ReportResult:
    kind, customer_id, previous = task
    if _WORKER is None:
        name = PORTFOLIO_FILE if kind == "portfolio" else customer_file_name(customer_id)
        return ReportResult(kind, customer_id, name, status=FAILED, error=_INIT_ERROR or "?")
    global _DONE
    result = _WORKER.run(kind, customer_id, previous)
    _DONE += 1
    if _DONE % _GC_FULL_EVERY == 0:
        gc.collect()
    else:
        gc.collect(1 if _DONE % _GC_OLDER_EVERY == 0 else 0)
    return result


def read_manifest(out_dir: str | os.PathLike[str]) -> dict[tuple[str, str], dict[str, str]]:
    """The previous manifest of ``out_dir``, keyed by (kind, customer_id); empty if none."""
    path = existing(Path(out_dir) / MANIFEST)
    if not path.is_file():
        return {}
    try:
        with open_plain(path) as handle:
            frame = read_csv(handle, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        log.warning("ignoring the unreadable manifest %s (%s): every report is rendered", path, exc)
        return {}
    rows: list[dict[str, str]] = frame.to_dict(orient="records")  # type: ignore[assignment]
    return {(row.get("kind", ""), row.get("customer_id", "")): row for row in rows}


def write_manifest(
    out_dir: Path,
    results: Iterable[ReportResult],
    previous: dict[tuple[str, str], dict[str, str]],
    order: Sequence[tuple[str, str]],
    *,
    csv_encoding: str | None = None,
) -> Path:
    """Write ``manifest.csv`` atomically: this batch's rows, then earlier rows kept.

    Ids and errors that a spreadsheet would run as formulas are escaped; UTF-8 with a
    BOM unless ``csv_encoding`` is ``utf-8``.
    """
    rows: dict[tuple[str, str], dict[str, Any]] = dict(previous)
    for result in results:
        rows[(result.kind, result.customer_id)] = result.row()
    position = {key: i for i, key in enumerate(order)}
    keys = sorted(rows, key=lambda k: (position.get(k, len(position)), k))
    table = pd.DataFrame(
        [[_manifest_cell(rows[key].get(c, "")) for c in MANIFEST_COLUMNS] for key in keys],
        columns=list(MANIFEST_COLUMNS),
        dtype=object,
    )
    return write_csv(table, out_dir / MANIFEST, encoding=csv_encoding)


def _final_manifest(
    out: Path,
    done: list[ReportResult],
    previous: dict[tuple[str, str], dict[str, str]],
    order: Sequence[tuple[str, str]],
    csv_encoding: str | None,
    stopped: bool,
) -> bool:
    """Write the batch's manifest; whether it could be. A batch stopped by a full disk
    reports that instead of the manifest's own failure to be written."""
    try:
        write_manifest(out, done, previous, order, csv_encoding=csv_encoding)
    except OSError as exc:
        if not (stopped and out_of_room(exc)):
            raise
        log.warning("could not write %s: %s", out / MANIFEST, exc.strerror or exc)
        return False
    return True


def _stopped_error(
    out: Path, stopped: ReportResult, done: list[ReportResult], total: int, manifest: bool
) -> OutputError:
    rendered = sum(r.status == OK for r in done)
    kept = (
        "the reports written are kept and skipped as up to date"
        if manifest
        else f"{MANIFEST} could not be updated, so the reports are rendered again"
    )
    return OutputError(
        f"{out / stopped.file}: {stopped.error}; the batch stopped after {rendered:,} of "
        f"{total:,} document(s) rendered",
        hint=f"free space on that disk (or make it writable) and run the same command "
        f"again: {kept}",
    )


def _manifest_cell(value: Any) -> str:
    """A manifest cell as text (``None``: empty), the way :mod:`csv` wrote it."""
    return "" if value is None else str(value)


def _results(
    job: _Job, tasks: list[tuple[str, str, dict[str, str] | None]], workers: int, per_child: int
) -> Generator[ReportResult, None, None]:
    if workers == 0:
        worker = _Worker(job)
        for task in tasks:
            yield worker.run(*task)
        return
    with _WatchedPool(
        processes=workers,
        initializer=_init_worker,
        initargs=(job,),
        maxtasksperchild=per_child,
        context=multiprocessing.get_context("spawn"),
    ) as pool:
        pending = pool.imap_unordered(_run_task, tasks, chunksize=1)
        while True:
            ended = pool.ended_worker()
            if ended is not None:
                raise _worker_ended_error(ended)
            try:
                yield pending.next(timeout=_WATCH_SECONDS)
            except StopIteration:
                return
            except multiprocessing.TimeoutError:
                continue


#: How often the parent looks at its workers while it waits for a result.
_WATCH_SECONDS = 0.5


class _WatchedPool(multiprocessing.pool.Pool):
    """A pool that sees a worker end before its work is done.

    :class:`multiprocessing.pool.Pool` replaces a worker that died and says nothing: a
    worker that cannot start (its import of the main script failed) is started again
    and again, and the document a killed worker held never comes back, so the batch
    would wait forever. The pool keeps the workers it starts (``Process`` is the hook
    Pool starts them through) until they end; one that ended with a code other than 0
    (0: replaced after ``maxtasksperchild`` documents) is given by :meth:`ended_worker`.
    (concurrent.futures' ProcessPoolExecutor sees a dead worker, but with
    ``max_tasks_per_child`` it stops starting replacements and hangs on Python 3.11 to
    3.13: CPython gh-115634.)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._started: list[Any] = []
        self._started_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    # Pool starts each worker through self.Process(ctx, ...): a method here, a
    # staticmethod in Pool (mypy's override check), so that the pool keeps its own.
    def Process(self, ctx: Any, *args: Any, **kwds: Any) -> Any:  # type: ignore[override]  # noqa: N802
        process = ctx.Process(*args, **kwds)
        with self._started_lock:
            self._started.append(process)
        return process

    def ended_worker(self) -> int | None:
        """The exit code of a worker that ended before its work was done, if one has."""
        with self._started_lock:
            # Workers that ended well are let go (their pipes close when Pool drops them)
            self._started = [p for p in self._started if p.exitcode != 0]
            ended = [p.exitcode for p in self._started if p.exitcode is not None]
        return ended[0] if ended else None


def _main_script() -> str | None:
    """The script run as ``python SCRIPT``, which spawned workers import again; None
    for ``python -m`` (custrisk's CLI), ``-c``, or an interactive session."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        return None
    path = getattr(main, "__file__", None)
    return str(path) if path else None


_GUARD = 'if __name__ == "__main__":'


def _worker_ended_error(code: int) -> CustriskError:
    """What a worker that ended before its work was done means, as one line."""
    script = _main_script()
    if code > 0 and script is not None:
        return UsageError(
            f"render_reports: a report worker process could not start (exit code {code}): "
            f"each worker starts by running the script {script} again, and a script that "
            f"calls render_reports (or does any work) outside `{_GUARD}` does it again "
            "there",
            hint=f"put the script's work under `{_GUARD}` (docs/api.md), or render in "
            "this process with workers=0; the reports done so far are kept",
        )
    if code > 0:
        return UsageError(
            f"render_reports: a report worker process could not start (exit code {code}); "
            "its error is printed above",
            hint="render in this process (workers=0, --workers 0) to see it as an error "
            "of the call; the reports done so far are kept",
        )
    try:
        how = f"killed by {signal.Signals(-code).name}"
    except ValueError:
        how = f"ended by signal {-code}"
    return UsageError(
        f"render_reports: a report worker process was {how} while rendering (most often "
        "the system ran out of memory)",
        hint="run the same call again with fewer workers: the reports done are kept and "
        "skipped as up to date",
    )


def _starting_as_worker() -> bool:
    """Whether this process is a worker that multiprocessing is still starting, running
    the parent's main script again: ``_inheriting`` is the flag multiprocessing's own
    "before the current process has finished its bootstrapping phase" check reads."""
    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))


#: Documents below which the default renders in the calling process: a spawned worker
#: imports WeasyPrint and loads its fonts (about a second) before its first document,
#: which then takes about an eighth of that.
AUTO_PROCESSES_FROM = 16


def _auto_workers(documents: int) -> int:
    """The default number of worker processes: one per CPU for a batch large enough to
    repay starting them, else none."""
    return (os.cpu_count() or 1) if documents >= AUTO_PROCESSES_FROM else 0


def render_reports(
    scores: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    customers: Sequence[str] | None = None,
    customers_option: str = "--customers",
    grades: Sequence[str] | None = None,
    alert_levels: Sequence[str] | None = None,
    lang: str | None = None,
    workers: int | None = None,
    portfolio: bool = True,
    customer_reports: bool = True,
    templates: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | None = None,
    history: Sequence[str | os.PathLike[str]] = (),
    drift: str | os.PathLike[str] | None = None,
    alerts: str | os.PathLike[str] | None = None,
    force: bool = False,
    report_date: dt.date | None = None,
    max_tasks_per_child: int | None = None,
    csv_encoding: str | None = None,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[ReportResult], None] | None = None,
) -> BatchResult:
    """Render the portfolio report and one report per selected customer into ``out_dir``.

    Parameters
    ----------
    scores : path-like
        The scores file of a run (its details and run files are read from beside it).
    out_dir : path-like
        Output folder: ``portfolio.pdf``, ``customer_<id>.pdf`` and ``manifest.csv``.
    customers, grades, alert_levels : sequence of str, optional
        Filters (all given filters apply); none selects every customer.
    customers_option : str
        The customers' option as typed (``--customer`` or ``--customers``), named by the
        error for an unknown id.
    lang : {"zh", "en"}, optional
        Report language (default: the run's, recorded when it was scored).
    workers : int, optional
        Worker processes; 0 renders in this process; ``None`` takes the config's value
        (0 there: one per CPU for :data:`AUTO_PROCESSES_FROM` documents or more, else
        in this process).
    portfolio : bool
        Render ``portfolio.pdf`` too.
    customer_reports : bool
        Render the selected customers' reports (``False``: the portfolio report only).
    templates, config : path-like, optional
        Template folder and reports YAML (default: the packaged ones).
    history : sequence of path-like
        Previous scores files (score history, grade migration).
    drift : path-like, optional
        A drift JSON for the portfolio report.
    alerts : path-like, optional
        The alerts file (default: ``alerts.csv`` beside the scores).
    force : bool
        Render even documents whose manifest entry is up to date.
    report_date : datetime.date, optional
        Date printed on the reports (default: today).
    max_tasks_per_child : int, optional
        Documents per worker before it is replaced (default: from the config).
    csv_encoding : {"utf-8-sig", "utf-8"}, optional
        Encoding of ``manifest.csv``: UTF-8 with a BOM (the default) or without.
    on_start, on_result : callable, optional
        Called with the number of documents, then with each result as it arrives.

    Returns
    -------
    BatchResult
        Every document's result; check :attr:`BatchResult.failed`.

    Raises
    ------
    ConfigError, DataError, UsageError
        Before anything is rendered: missing CJK font, bad config or templates,
        unreadable inputs, unknown customer ids.
    UsageError
        A worker process ended before its work was done: it could not start (most often
        a script calling this outside ``if __name__ == "__main__":``, which every worker
        runs again), or it was killed. The manifest of the documents done is written
        first. Called in such a worker while it starts, it raises at once.
    KeyboardInterrupt
        Ctrl-C (:class:`custrisk.io.stop.Stopped` for SIGINT or SIGTERM within
        :func:`custrisk.io.stop.stop_on_signals`, as every command of the CLI runs):
        the workers are ended and the manifest of the documents done is written first,
        so the same call again resumes.
    """
    if _starting_as_worker():
        raise UsageError(
            "render_reports was called in a worker process that is starting: workers "
            "run the main script again, and this one calls render_reports outside "
            f"`{_GUARD}`",
            hint=f"put the script's work under `{_GUARD}` (docs/api.md)",
        )
    start = time.perf_counter()
    lang = check_language(lang) if lang is not None else read_language(scores)
    report_config: ReportConfig = load_report_config(config)
    templates_dir = resolve_templates_dir(templates)
    ReportRenderer(report_config, lang=lang, templates_dir=templates_dir)  # checks templates
    check_cjk_font()
    hb_subset = harfbuzz_subset_available()
    inputs = load_report_inputs(scores, alerts=alerts, history=history, drift=drift)
    selected = select_customers(
        inputs,
        customers=customers,
        grades=grades,
        alert_levels=alert_levels,
        option=customers_option,
    )
    out = ensure_dir(out_dir)
    with locked_folder(out, REPORT_TEMP_PATTERNS):
        with contextlib.suppress(OSError):
            private_dir(out)
        previous = read_manifest(out)
        order: list[tuple[str, str]] = [("portfolio", "")] if portfolio else []
        order += [("customer", cid) for cid in selected] if customer_reports else []
        tasks = [(kind, cid, previous.get((kind, cid))) for kind, cid in order]
        if workers is None:
            workers = report_config.workers or _auto_workers(len(tasks))
        workers = min(workers, len(tasks)) if tasks else 0
        per_child = max_tasks_per_child or report_config.max_tasks_per_child
        if on_start:
            on_start(len(tasks))
        done: list[ReportResult] = []
        font_dir = font_work_dir()
        try:
            source = report_config.compact_font_source
            job = _Job(
                inputs=inputs,
                stats=portfolio_stats(inputs),
                config_path=report_config.path,
                templates_dir=str(templates_dir),
                templates_sha256=templates_hash(templates_dir),
                lang=lang,
                out_dir=str(out),
                report_date=(report_date or dt.date.today()).isoformat(),
                force=force,
                font_faces=tuple(build_subset_fonts(source, font_dir)) if source else (),
                sealer=active_sealer(),
                group=active_group(),
            )
            last_flush = time.monotonic()
            stopped: ReportResult | None = None
            results = _results(job, tasks, workers, per_child)
            try:
                for result in results:
                    done.append(result)
                    if on_result:
                        on_result(result)
                    if result.stop:
                        stopped = result
                        break
                    if len(done) % _FLUSH_EVERY == 0 or time.monotonic() - last_flush > 10:
                        write_manifest(out, done, previous, order, csv_encoding=csv_encoding)
                        last_flush = time.monotonic()
            finally:
                # A stopped batch's workers (full disk, Ctrl-C, SIGTERM) are ended, not
                # waited for: closing the generator leaves the pool's block, which
                # terminates them before their pipes are closed.
                results.close()
                manifest_written = _final_manifest(
                    out, done, previous, order, csv_encoding, stopped is not None
                )
        finally:
            shutil.rmtree(font_dir, ignore_errors=True)
        if stopped is not None:
            raise _stopped_error(out, stopped, done, len(tasks), manifest_written)
        position = {key: i for i, key in enumerate(order)}
        done.sort(key=lambda r: position[(r.kind, r.customer_id)])
        return BatchResult(
            out_dir=out,
            results=done,
            seconds=time.perf_counter() - start,
            harfbuzz_subset=hb_subset,
            workers=workers,
        )
