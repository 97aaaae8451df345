"""custrisk: customer risk management from monthly exports.

Everything the command line does is a library call (docs/api.md has an example per
stage)::

    import custrisk

    workspace = custrisk.load_workspace("exports/2026-10")           # validate + clean
    trained = custrisk.train_model("exports/2026-04", "labels/2026-04.csv", name="retail")
    run = custrisk.score_portfolio("exports/2026-10", "retail")       # scores, grades, alerts
    run.write("runs/2026-10/scores.csv")                               # one unit
    report = custrisk.check_data_drift("retail", "exports/2026-10")    # PSI/CSI

The names below are imported on first use, so that ``import custrisk`` stays cheap.
"""

from __future__ import annotations

from custrisk.lazy import lazy_names

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_API = {
    # errors
    "CustriskError": "custrisk.errors",
    "ConfigError": "custrisk.errors",
    "DataError": "custrisk.errors",
    "ModelArtifactError": "custrisk.errors",
    "UsageError": "custrisk.errors",
    "CheckFailed": "custrisk.errors",
    # exports: reading, validating, cleaning
    "load_sources_config": "custrisk.config",
    "load_workspace": "custrisk.data",
    "load_labels": "custrisk.data",
    "Workspace": "custrisk.data",
    "ValidationReport": "custrisk.data",
    # indicators
    "load_indicator_config": "custrisk.indicators",
    "compute_indicators": "custrisk.indicators",
    # models
    "train_model": "custrisk.scoring",
    "train_table": "custrisk.scoring",
    "evaluate_model": "custrisk.scoring",
    "open_model": "custrisk.scoring",
    "prepare_features": "custrisk.scoring",
    "score_customer": "custrisk.scoring",
    "LogisticScorecard": "custrisk.estimators",
    "TreeModel": "custrisk.estimators",
    "WoeBinner": "custrisk.estimators",
    # a month's scoring and its files
    "score_portfolio": "custrisk.scoring",
    "ScoringRun": "custrisk.results",
    "read_run": "custrisk.results",
    # credit policy and early warning
    "load_policy": "custrisk.policy",
    "load_alert_rules": "custrisk.policy",
    "apply_policy": "custrisk.policy",
    "filter_alerts": "custrisk.policy",
    # reports
    "render_reports": "custrisk.report.batch",
    "load_report_inputs": "custrisk.report",
    # notifications
    "parse_notify_config": "custrisk.notify",
    "deliver_notifications": "custrisk.notify",
    # monitoring
    "check_data_drift": "custrisk.scoring",
    "compare_models": "custrisk.scoring",
    "check_drift": "custrisk.monitoring",
    "load_drift_config": "custrisk.monitoring",
    "psi": "custrisk.monitoring",
    # the monthly batch (custrisk run)
    "load_run_config": "custrisk.batch",
    "run_batch": "custrisk.batch",
    "write_init_config": "custrisk.batch",
    # strategy review
    "backtest_run": "custrisk.review.run",
    "backtest_and_write": "custrisk.review.run",
    "write_review": "custrisk.review.output",
    "follow_up_plan": "custrisk.review.followups",
    # sample data
    "generate_sample_data": "custrisk.sample",
    "generate_applications": "custrisk.sample.application",
    # real-time decisions (custrisk serve)
    "RecordScorer": "custrisk.scoring.records",
}

__all__ = ["__version__", *sorted(_API)]


__getattr__, __dir__ = lazy_names(__name__, _API)
