"""Credit policy and early warning: grades, limits, actions, alerts, grade migration.

>>> from custrisk.policy import load_policy, load_alert_rules, apply_policy
>>> policy = load_policy()                        # doctest: +SKIP
>>> rules = load_alert_rules(policy=policy)       # doctest: +SKIP
>>> result = apply_policy(scores.frame, scores.details, policy, rules)  # doctest: +SKIP
>>> result.scores, result.alerts, result.summary  # doctest: +SKIP

Everything here is a pure function over DataFrames and frozen config objects; a run's
files are written and read by :mod:`custrisk.results`.
"""

from custrisk.policy._names import details_names
from custrisk.policy.apply import (
    PolicyResult,
    apply_policy,
    assign_grades,
    compare_previous,
    details_read,
    previous_read,
    recommend_limits,
)
from custrisk.policy.config import (
    DECISIONS,
    FREEZE_MODES,
    REVIEW_FREQUENCIES,
    Grade,
    LimitRule,
    Policy,
    load_policy,
    parse_policy,
)
from custrisk.policy.io import (
    FAIL_ON,
    alerts_at_or_above,
    alerts_csv_bytes,
    failing_alerts,
    filter_alerts,
    handling_actions,
    read_alerts,
)
from custrisk.policy.migration import DEPARTED, NEW, Migration, migration_matrix
from custrisk.policy.rules import (
    AlertRule,
    AlertRules,
    MessageTemplate,
    alert_rule_owners,
    load_alert_rules,
    parse_alert_rules,
)
from custrisk.results import CHANGE_COLUMNS, POLICY_COLUMNS
from custrisk.vocab import LEVEL_LABELS, LEVEL_RANK, LEVELS

__all__ = [
    "CHANGE_COLUMNS",
    "DEPARTED",
    "FAIL_ON",
    "DECISIONS",
    "FREEZE_MODES",
    "LEVELS",
    "LEVEL_LABELS",
    "LEVEL_RANK",
    "NEW",
    "POLICY_COLUMNS",
    "REVIEW_FREQUENCIES",
    "AlertRule",
    "AlertRules",
    "Grade",
    "LimitRule",
    "MessageTemplate",
    "Migration",
    "Policy",
    "PolicyResult",
    "alert_rule_owners",
    "alerts_at_or_above",
    "failing_alerts",
    "handling_actions",
    "read_alerts",
    "alerts_csv_bytes",
    "apply_policy",
    "assign_grades",
    "compare_previous",
    "details_names",
    "details_read",
    "previous_read",
    "filter_alerts",
    "load_alert_rules",
    "load_policy",
    "migration_matrix",
    "parse_alert_rules",
    "parse_policy",
    "recommend_limits",
]
