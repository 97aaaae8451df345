"""A scoring run's files: the one writer and the one reader.

``custrisk score --out DIR/scores.csv`` (or ``.parquet``) writes a run of five files:

==========================  =========================================================
``scores.csv``              the scores table: PD, score, grade, limits, reasons, alerts;
                            or the folder of parts ``scores.parquet/``
                            (:class:`TableParts`)
``scores.details.parquet``  per customer: masked identity, credit fields, every
                            indicator (``ind__<code>``), reason values and impacts; a
                            file, or a folder of parts of the same name
``alerts.csv``              the early-warning alerts, one row per rule that fired
``scores.rejects.csv``      rows rejected while cleaning (personal data masked); only
                            when there are any
``alerts.closed.csv``       with a previous run only: the alerts of the previous run
                            that no longer fire (closed since), one row per customer
                            and rule
``followups.csv``           the follow-up plan (回访计划); or the folder of parts
                            ``followups.parquet/``
``scores.run.json``         the run's facts, listing every other file with its SHA-256,
                            and the SHA-256 of each of its own fields (``facts_sha256``)
``scores.xlsx``             with ``--out scores.xlsx`` only: the workbook for people
                            (scores, alerts and summary sheets), beside the CSV
==========================  =========================================================

A workbook is an extra deliverable, not a new layout: ``--out scores.xlsx`` writes the
run as ``scores.csv`` & co. exactly as ``--out scores.csv`` would (same bytes, same run
id) plus ``scores.xlsx``, listed in the facts with its SHA-256. Readers keep reading the
CSV, which round-trips exactly; a workbook would not (Excel's types, its row limit), and
``read_run("scores.xlsx")`` reads the run it belongs to.

The per-customer tables (scores, details, follow-up plan) of millions of customers may be
written as parts while they are computed (:class:`TableParts`, the Dask engine): each is
then a folder of Parquet parts that Arrow, pandas, Spark and DuckDB read as one table,
listed part by part in the facts. Alerts, closed alerts and rejects stay single files.

The set is written as one unit: every file goes to a staging folder first, then the old
facts file is removed, the files are moved into place and the new facts file comes
last. Whatever moment a run is killed, the facts on disk either describe the files
beside them or are absent, and :func:`read_run` checks every file it reads against the
facts (SHA-256), so files of two runs are never read as one. The facts check themselves
the same way: each field's SHA-256 is recorded beside it (``facts_sha256``), so a fact
edited by hand (the as-of date, the model, a count) is refused, naming the field, rather
than read as the run's. A run of layout 1 (written before the facts held their own
hashes) is still read, without that check. A lock on the folder
refuses a second run into it while one is writing; temporary files and staging folders
left by a killed run are removed by the next.

The package's modules, lowest first (each imports only those above it):

==============  ===========================================================================
``layout``      the files' names, the tables' columns, where each file of a run lives
``facts``       the run's facts as written, the SHA-256 of each field, the run id
``storage``     a table staged on disk (or sealed) with its entry in the facts, or read
                back from its bytes; the output folder's lock
``parts``       per-customer tables written part by part (:class:`TableParts`)
``workbook``    the workbook for people beside a run, and the alerts workbook
``write``       :class:`ScoringRun` and :class:`StagedRun`: the run written as one unit
``read``        :func:`read_run` and the other readers: every file checked against the facts
``forget``      one customer removed (or pseudonymised) in a run, rewritten as one unit
==============  ===========================================================================

Code outside the package imports from ``custrisk.results``, not from its modules.
"""

from custrisk.results.facts import check_facts, facts_digests
from custrisk.results.forget import forget_in_run, forgetting_in_run
from custrisk.results.layout import (
    ALERT_COLUMNS,
    ALERT_STATUSES,
    ALERTS_FILE,
    CHANGE_COLUMNS,
    CLOSED_COLUMNS,
    CLOSED_FILE,
    CLOSED_REASONS,
    CREDIT_DETAIL_COLUMNS,
    DEFAULT_LANG,
    DETAILS_PART,
    DETAILS_SUFFIX,
    FACTS_DIGESTS,
    FACTS_SUFFIX,
    FOLLOWUP_ADDED_COLUMNS,
    FOLLOWUP_COLUMNS,
    FOLLOWUP_REQUIRED,
    FOLLOWUPS_FILE,
    FOLLOWUPS_PARTS,
    INDICATOR_PREFIX,
    LANG_FACT,
    LAYOUT_VERSION,
    LIFECYCLE_COLUMNS,
    LOCK_FILE,
    MASKED_COLUMNS,
    NEW_ALERT,
    ONGOING_ALERT,
    OPTIONAL_PARTS,
    PARTED_TABLES,
    PARTS,
    PII_COLUMNS,
    POLICY_COLUMNS,
    REJECTS_SUFFIX,
    REPORTS_DIR,
    SCORES_PARTS_SUFFIX,
    STAGE_PREFIX,
    TABLE_PART,
    RunFiles,
    alert_table,
    details_of,
    holds_repeats,
    run_files,
)
from custrisk.results.parts import DetailsParts, TableParts
from custrisk.results.read import (
    concat_parts,
    is_alerts_csv,
    locate_run,
    read_alerts,
    read_alerts_file,
    read_facts,
    read_language,
    read_previous_run,
    read_previous_scores,
    read_run,
)
from custrisk.results.storage import locked_folder
from custrisk.results.workbook import write_alerts_workbook
from custrisk.results.write import ScoringRun, StagedRun, refuse_another_run

__all__ = [
    "ALERTS_FILE",
    "ALERT_COLUMNS",
    "ALERT_STATUSES",
    "CHANGE_COLUMNS",
    "CLOSED_COLUMNS",
    "CLOSED_FILE",
    "CLOSED_REASONS",
    "CREDIT_DETAIL_COLUMNS",
    "DEFAULT_LANG",
    "DETAILS_PART",
    "DETAILS_SUFFIX",
    "DetailsParts",
    "FACTS_DIGESTS",
    "FACTS_SUFFIX",
    "FOLLOWUPS_FILE",
    "FOLLOWUPS_PARTS",
    "FOLLOWUP_ADDED_COLUMNS",
    "FOLLOWUP_COLUMNS",
    "FOLLOWUP_REQUIRED",
    "INDICATOR_PREFIX",
    "LANG_FACT",
    "LAYOUT_VERSION",
    "LIFECYCLE_COLUMNS",
    "LOCK_FILE",
    "MASKED_COLUMNS",
    "NEW_ALERT",
    "ONGOING_ALERT",
    "OPTIONAL_PARTS",
    "PARTED_TABLES",
    "PARTS",
    "PII_COLUMNS",
    "POLICY_COLUMNS",
    "REJECTS_SUFFIX",
    "REPORTS_DIR",
    "RunFiles",
    "SCORES_PARTS_SUFFIX",
    "STAGE_PREFIX",
    "ScoringRun",
    "refuse_another_run",
    "StagedRun",
    "TABLE_PART",
    "TableParts",
    "alert_table",
    "check_facts",
    "concat_parts",
    "details_of",
    "holds_repeats",
    "facts_digests",
    "forget_in_run",
    "forgetting_in_run",
    "is_alerts_csv",
    "locate_run",
    "locked_folder",
    "read_alerts",
    "read_alerts_file",
    "read_facts",
    "read_language",
    "read_previous_run",
    "read_previous_scores",
    "read_run",
    "run_files",
    "write_alerts_workbook",
]
