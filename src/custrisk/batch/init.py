"""``custrisk run --init``: a commented RUN.yaml for the sample data."""

from __future__ import annotations

import os
from pathlib import Path

from custrisk.errors import UsageError
from custrisk.io.atomic import write_text
from custrisk.vocab import check_language

RUN_TEMPLATE = """\
# custrisk run: the month's batch (validate -> score -> drift -> evaluate -> reports ->
# notifications), for cron. Paths are relative to this file's folder.
#
# Made for the sample data; from this folder:
#   custrisk sample-data exports/2026-10 --as-of 2026-10-31 --seed 7
#   custrisk train exports/2026-10 --labels exports/2026-10/labels.csv --models-dir models
#   custrisk run {name}                 # the latest month in exports/, or --period 2026-10
version: 1

# Each month's exports in their own folder; {{period}} is the month, YYYY-MM.
exports: exports/{{period}}
# One folder per month: runs/2026-10/ (run.json, log.jsonl, scores.csv, reports/, ...).
runs: runs
# sources: configs/sources.yaml    # the exports' layout (default: the packaged one)
# encoding: gbk                     # default: detected (BOM, UTF-8, GB18030)

# The model: a folder, NAME (its latest version) or NAME@VERSION in models_dir.
model: logistic
models_dir: models
lang: {lang}                            # labels and reports: zh or en

# policy: configs/policy.yaml       # grades and limits (default: the packaged one)
# alert_rules: configs/alerts.yaml  # early-warning rules (default: the packaged one)
# Exit 1 when an alert at this level or above fires: red, orange, yellow or never.
fail_on: never
# A second run is refused while one runs, of any month: a run holds the lock of the
# whole runs folder (period and all do the same; one run reads the month before's).
lock: period

reports:
  enabled: true
  # with_alerts: a PDF for each customer at one of alert_levels; all: every customer.
  customers: with_alerts
  alert_levels: [red]
  # grades: [D, E]                  # and only these grades
  portfolio: true                   # portfolio.pdf
  # workers: 2                      # PDF processes (default: one per CPU; 0: in this one)
  # config: configs/reports.yaml
  # templates: report_templates/

drift:
  enabled: true
  # config: configs/drift.yaml
  fail_on: alert                    # exit 1 on: alert, warn (or alert), never
  allow_insufficient: false         # too little data for a statistic fails it

# Model performance once the outcomes of an earlier month are known: the labels of
# month M are looked for after_months later. The sample exports carry their labels, so
# one month suffices here; with real data it is the outcome window, e.g. 12.
evaluate:
  labels: exports/{{period}}/labels.csv
  after_months: 1

retention:
  keep: 24                          # months kept in runs/ (0: all; else 2 or more)

# The month's data is refused (exit 2, nothing published or sent) when its as-of date
# (the latest event date) is not in the month or up to as_of_days_after days after its
# end, or when it holds fewer customers than the previous run by more than
# max_customer_drop, or an export fewer rows by more than max_rows_drop (shares; 1: no
# check): last month's files left in the folder, or a partial export (one copied while
# it was still being written).
checks:
  max_customer_drop: 0.5
  max_rows_drop: 0.5
  as_of_days_after: 7

# Where validate, score and drift compute: pandas (one process) or dask (customers in
# buckets on a Dask cluster, the same run folder; docs/scale.md). With dask: scheduler
# (a running cluster, tcp://HOST:8786; default: 2 local worker processes), buckets
# (default: from the exports' size and the workers' memory) and, for the local cluster,
# memory_limit per worker; parts: true writes the scores, details and follow-up plan as
# folders of Parquet parts, one per bucket (default: from 1,000,000 customers).
# engine: dask
# memory_limit: 2GB

# Every output that holds customer data (scores, details, alerts, rejects, follow-ups,
# reports) written encrypted as NAME.enc with the active key (custrisk keys new;
# docs/security.md); the run reads them back transparently.
# encrypt: true

# Alert digests of the new alerts (red first, per owner, masked names) by e-mail and
# group-robot webhooks; secrets only by the name of the variable holding them
# (docs/notify.md):
# notifications:
#   min_level: orange
#   channels:
#     mail:
#       type: smtp
#       host: smtp.example.com
#       port: 587
#       from: risk@example.com
#       username: risk-bot
#       password_env: SMTP_PASSWORD
#       attach_portfolio: true
#       to: {{collections: [cuishou@example.com], default: [risk@example.com]}}
#     wecom: {{type: wecom, url_env: WECOM_WEBHOOK_URL}}
#     dingtalk: {{type: dingtalk, url_env: DINGTALK_WEBHOOK_URL, secret_env: DINGTALK_SECRET}}
"""


#: The file ``custrisk run --init`` writes when none is named.
DEFAULT_RUN_FILE = "run.yaml"


def write_init_config(
    path: str | os.PathLike[str] | None = None, *, force: bool = False, lang: str = "zh"
) -> Path:
    """Write the commented RUN.yaml for the sample data (to ``run.yaml`` when no path is
    given), its ``lang:`` set to ``lang``; never over a file unless ``force``."""
    check_language(lang)
    target = Path(path if path is not None else DEFAULT_RUN_FILE)
    if target.exists() and not force:
        raise UsageError(
            f"{target} already exists", hint="choose another name, or --force to replace it"
        )
    write_text(target, RUN_TEMPLATE.format(name=target.name, lang=lang), sensitive=False)
    return target


__all__ = ["DEFAULT_RUN_FILE", "RUN_TEMPLATE", "write_init_config"]
