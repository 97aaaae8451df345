"""What :func:`custrisk.batch.run.run_batch` did (:class:`BatchOutcome`): its status
(``DONE`` or ``NOTHING_TO_DO``), its exit code and its one-line summary for stdout.

Split from :mod:`custrisk.batch.run`, which re-exports the public names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custrisk.batch.config import shift_period

DONE, NOTHING_TO_DO = "done", "nothing to do"


@dataclass
class BatchOutcome:
    """What :func:`custrisk.batch.run.run_batch` did."""

    period: str
    folder: Path
    status: str  # DONE or NOTHING_TO_DO
    facts: dict[str, Any]
    seconds: float = 0.0
    resumed_from: str | None = None
    notes: list[str] = field(default_factory=list)
    #: What re-sending the notifications that failed did (a run up to date otherwise).
    resent: str | None = None
    #: The month before's notifications left undelivered (a new month's first run).
    left_behind: str | None = None
    #: The previous run was scored by another model (grade changes compare two models).
    other_model: str | None = None
    #: How many customers erased by ``custrisk forget`` were left out (no ids).
    left_out: str | None = None

    @property
    def gate_failures(self) -> list[str]:
        return list(self.facts.get("gate", {}).get("failures", []))

    @property
    def exit_code(self) -> int:
        """0 ok (or nothing to do), 1 a gate failed in this run (or notifications
        re-sent failed again, with ``fail_on_error``)."""
        if self.status == DONE:
            return 1 if self.gate_failures else 0
        notify = self.facts.get("stages", {}).get("notify", {})
        return 1 if self.resent and notify.get("gate") else 0

    def summary(self) -> str:
        """One line for stdout (what monitoring reads)."""
        stages = self.facts.get("stages", {})
        score = stages.get("score", {}).get("rows", {})
        parts = [f"customers {score.get('customers', '?')}"]
        if "alerts" in score:
            parts.append(f"alerts {score['alerts']} (red {score.get('alerts_red', 0)})")
        drift = stages.get("drift", {})
        if drift.get("status") == "ok":
            parts.append(drift.get("detail", "").replace("verdict ", "drift "))
        parts.extend(_evaluation_summary(stages.get("evaluate", {})))
        reports = stages.get("reports", {}).get("rows", {})
        if reports:
            parts.append(f"reports {reports.get('documents', 0)}")
        notify = stages.get("notify", {})
        if notify.get("status") == "ok":
            parts.append(f"notifications {notify.get('detail')}")
        elif notify:
            parts.append("notifications skipped")
        if self.left_behind:
            parts.append(self.left_behind)
        if self.other_model:
            parts.append(self.other_model)
        if self.left_out:
            parts.append(self.left_out)
        if self.status == NOTHING_TO_DO:
            state = f"nothing to do (run {self.facts.get('run_id')} is up to date)"
            if self.resent:
                state += f"; {self.resent}"
        elif self.gate_failures:
            state = "GATE FAILED: " + "; ".join(self.gate_failures)
        else:
            state = "ok"
        compared = self.facts.get("previous")
        before = shift_period(self.period, -1)
        if compared is None:
            parts.append("no earlier run to compare with")
        elif compared.get("period") != before:
            parts.append(f"compared with {compared.get('period')} (no run of {before})")
        resumed = f", resumed at {self.resumed_from}" if self.resumed_from else ""
        return (
            f"custrisk run {self.period}: {state}; {', '.join(parts)}; {self.folder} "
            f"({self.seconds:.1f} s{resumed})"
        )


def _evaluation_summary(stage: dict[str, Any]) -> list[str]:
    """The summary's words on the evaluation: its AUC (and why not to act on it:
    measured on the training outcomes, or too few bads or goods), or why it did not run
    (nothing when no ``evaluate.labels`` is configured)."""
    rows = stage.get("rows") or {}
    if stage.get("status") == "ok":
        auc = rows.get("auc")
        caveats = [
            said
            for key, said in (
                ("in_sample", "in-sample"),
                ("too_few", "too few labels to act on"),
            )
            if rows.get(key)
        ]
        note = f" ({', '.join(caveats)}: see evaluation.json)" if caveats else ""
        return [f"evaluation {rows.get('period')}" + (f" AUC {auc:.4f}" if auc else "") + note]
    if rows.get("missing"):
        return [f"no evaluation: {stage.get('detail')}"]
    return []
