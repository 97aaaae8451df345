"""``custrisk backtest``: a past run's grades, alerts and policy against what happened."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table

from custrisk.cli._common import protect_command, say_label_blanks, say_label_rejects
from custrisk.cli._console import amount_text, console, counted, say
from custrisk.errors import UsageError

if TYPE_CHECKING:  # the review modules load scipy and sklearn: only when the command runs
    from custrisk.review.run import AlertsSummary
    from custrisk.review.whatif import CutoffProposal

app = typer.Typer()


def _share(text: str, option: str) -> float:
    """``5%`` or ``0.05``; a bare number above 1 (``5``, meant as percent) is refused
    naming both ways to write it, since read as a share it would be 500%."""
    raw = text.strip().replace("％", "%")
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UsageError(f"{option} must be a share such as 5% or 0.05; got {text!r}") from None
    if not raw.endswith("%") and 1 < value <= 100:
        raise UsageError(
            f"{option} {raw} reads as a share of {value:g} ({value * 100:g}%); "
            f"write {raw}% or {value / 100:g} for {raw} percent"
        )
    return value


def _pct(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value * 100:.{digits}f}%"


def _limits_what_if(totals: Any, lang: str) -> str:
    """The limits line of the what-if: approvals, recommended limits and expected loss,
    current -> new, so that a policy changing limits but no grade does not read as no
    change at all. Amounts in 万 (zh) or k (en), as ``custrisk score``'s summary."""
    cur, new = (totals.set_index("policy").loc[name] for name in ("current", "new"))

    def amount(column: str) -> str:
        before, after = float(cur[column]), float(new[column])
        return (
            f"{amount_text(before, lang)} → {amount_text(after, lang)} "
            f"({amount_text(after - before, lang, sign=True)})"
        )

    return (
        f"What-if limits: approved (limit above 0) {int(cur['approved']):,} → "
        f"{int(new['approved']):,} ({_pct(cur['approval_rate'], 2)} → "
        f"{_pct(new['approval_rate'], 2)}), recommended limits {amount('recommended_limits')}, "
        f"expected loss on them {amount('expected_loss_on_limits')}"
    )


def _moves_by(facts: dict[str, Any]) -> str:
    """What a move up or down means in this what-if."""
    from custrisk.review.whatif import MOVES_BY_PD

    if facts.get("moves_by") == MOVES_BY_PD:
        return (
            "the policies' grades differ: up/down is to a grade whose customers have a "
            "lower/higher mean PD, policy_grades.csv"
        )
    return "up/down is to a better/riskier grade"


def _verdicts(proposal: CutoffProposal) -> str:
    """How the proposed bands did on the hold-out, naming every band that did not meet
    its target and why; "every target met" only when each was judged and met it."""
    facts = proposal.facts
    if facts["all_met"]:
        return "; every target met on the hold-out"
    rates, targets = proposal.by_grade("bad_rate_holdout"), proposal.by_grade("target")
    parts = []
    if facts["missed"]:
        parts.append(
            "missed on the hold-out: "
            + ", ".join(
                f"{c} ({_pct(float(rates[c]), 2)} against {_pct(float(targets[c]), 2)})"
                for c in facts["missed"]
            )
        )
    if facts["not_reachable"]:
        parts.append("target not reachable (one-point bands): " + ", ".join(facts["not_reachable"]))
    if facts["not_judged"]:
        parts.append("not judged (no hold-out customers): " + ", ".join(facts["not_judged"]))
    return "; " + "; ".join(parts)


@app.command("backtest", short_help="Back-test a run's grades and alerts against outcomes")
def backtest(
    run: Annotated[
        Path,
        typer.Argument(
            help="A past scoring run: its scores file, run facts or folder.", show_default=False
        ),
    ],
    outcomes: Annotated[
        Path,
        typer.Option(
            "--outcomes",
            help="Outcomes observed since the run: a labels file (customer_id, bad, "
            "optional bad_date or label_date for lead times; optional churned, churn_date, "
            "escalated, escalation_date).",
            show_default=False,
        ),
    ],
    outcome: Annotated[
        str | None,
        typer.Option(
            "--outcome",
            help="Judge the alert rules against: bad, churned, escalated or any (one of "
            "them), comma-separated for several (default: every kind the outcomes hold, "
            "one table each).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder for the tables (CSV), backtest.xlsx, backtest.pdf, backtest.json "
            "and proposed_policy.yaml (default: backtest/ beside the run).",
            show_default=False,
        ),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="A second policy YAML to compare with the run's on the same customers.",
            show_default=False,
        ),
    ] = None,
    target_bad_rate: Annotated[
        str | None,
        typer.Option(
            "--target-bad-rate",
            help="Propose score cut-offs meeting these bad rates, e.g. A=0.5%,B=2%,C=6%,D=18% "
            "(every grade but the riskiest), written as proposed_policy.yaml.",
            show_default=False,
        ),
    ] = None,
    max_alert_share: Annotated[
        str,
        typer.Option(
            "--max-alert-share",
            help="Suggest a threshold per alert rule so that it fires on at most this "
            "share of customers.",
        ),
    ] = "5%",
    holdout: Annotated[
        str,
        typer.Option(
            "--holdout",
            help="Share of customers held out to check proposed cut-offs.",
        ),
    ] = "30%",
    lgd: Annotated[
        str | None,
        typer.Option(
            "--lgd",
            help="Loss given default for the losses, e.g. 45% or 0.45 (default: the report "
            "config's lgd).",
            show_default=False,
        ),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help="Language of the PDF: zh or en [default: the run's language].",
            show_default=False,
        ),
    ] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also render backtest.pdf.")] = True,
    fail_on_inversion: Annotated[
        bool,
        typer.Option(
            "--fail-on-inversion",
            help="Exit 1 when bad rates do not rise grade by grade (for CI).",
        ),
    ] = False,
) -> None:
    """Back-test a past scoring run against the outcomes observed since.

    By grade: customers, exposure, bad rate, expected against observed loss, limit
    utilisation, a check that bad rates rise grade by grade, a binomial test of each
    grade's PD, and the Gini of the grade ordering. Then each alert rule's precision,
    recall, lead time, overlap and flags against each outcome (went bad, churned,
    escalated: --outcome), with a suggested threshold for --max-alert-share. With
    --policy, a second policy on the same customers; with --target-bad-rate, proposed
    cut-offs checked on a hold-out.
    """
    protect_command()  # the role decides how customer data is read
    from custrisk.review.run import backtest_and_write

    done = backtest_and_write(
        run,
        outcomes,
        out=out,
        lang=lang,
        pdf=pdf,
        policy=policy,
        targets=target_bad_rate,
        max_alert_share=_share(max_alert_share, "--max-alert-share"),
        lgd=None if lgd is None else _share(lgd, "--lgd"),
        holdout=_share(holdout, "--holdout"),
        outcome=outcome,
    )
    review = done.review
    if review.facts.get("outcome_rows_rejected"):
        say_label_rejects(
            review.facts["outcome_rows_rejected"],
            "outcome",
            "judged",
            review.facts.get("outcome_rejects"),
        )
    if review.facts.get("outcome_values_blanked"):
        say_label_blanks(
            review.facts["outcome_values_blanked"], "outcome", review.facts.get("outcome_blanked")
        )
    _say_unmatched(review.grades.facts)
    early = review.facts.get("outcomes_dated_before_run") or {}
    if early:
        say(
            "Warning:",
            "outcomes dated before the run's as-of date "
            f"{review.facts.get('as_of')} ("
            + ", ".join(f"{column}: {n:,}" for column, n in early.items())
            + "): those customers had already gone bad when scored, and the alert lead "
            "times on them are negative; check the dates, or back-test an earlier run",
        )
    g = review.grades
    _say_too_few(g.facts)
    table = Table(
        title=f"Grades against outcomes ({counted(g.facts['customers'], 'customer')})",
        title_justify="left",
        box=box.SIMPLE,
        pad_edge=False,
    )
    for name in ("grade", "customers", "bad rate", "mean PD", "obs./exp. loss", "p", "calibration"):
        table.add_column(name, justify="left" if name in ("grade", "calibration") else "right")
    for row in done.grades:
        table.add_row(
            str(row["grade"]),
            f"{row['customers']:,}",
            _pct(row["bad_rate"], 2),
            _pct(row["mean_pd"], 2),
            "—" if row["loss_ratio"] is None else f"{row['loss_ratio']:.2f}",
            "—" if row["p_value"] is None else f"{row['p_value']:.3f}",
            str(row["calibration"]),
        )
    console.print(table)
    gini_text = "—" if g.gini_grades is None else f"{g.gini_grades:.3f}"
    trend = (
        "rise grade by grade"
        if g.monotone
        else "do NOT rise grade by grade: " + ", ".join(f"{a} > {b}" for a, b in g.inversions)
    )
    console.print(f"Bad rates {trend}. Gini of the grades {gini_text}.")
    for i, a in enumerate(done.alerts):
        against = "" if [s.outcome for s in done.alerts] == ["bad"] else f" against {a.outcome}"
        console.print(
            f"Alerts{against}: {_pct(a.facts['alerted_share'])} of customers "
            f"(recall {_pct(a.facts['alerted_recall'])}), red {_pct(a.facts['red_share'])} "
            f"(precision {_pct(a.facts['red_precision'])}; base rate "
            f"{_pct(a.facts['base_rate'])})."
        )
        for rule in a.flagged:
            why = rule["not_evaluated"]  # (as the run's scoring said it: name that command)
            reason = "" if why is None else "; " + why.replace("(--", "(custrisk score --")
            console.print(f"  {rule['code']} {rule['level']}: {rule['flags']}{reason}")
        if i == 0:  # the conditions are the same for every outcome
            _say_over_share(a)
    if done.moves is not None and review.comparison is not None:
        console.print(
            f"What-if ({_moves_by(review.comparison.facts)}): "
            + ", ".join(
                f"{name} {int(done.moves[name]['customers']):,} (bad rate "
                f"{_pct(done.moves[name]['bad_rate'], 2)})"
                for name in ("moved up", "moved down")
            )
        )
        console.print(_limits_what_if(review.comparison.totals, done.lang))
        if not review.comparison.facts["new_monotone"]:
            console.print(
                "Under the new policy bad rates do NOT rise grade by grade: "
                + ", ".join(f"{a} > {b}" for a, b in review.comparison.facts["new_inversions"])
            )
    if done.cutoffs is not None and review.proposal is not None:
        console.print(
            "Proposed cut-offs: "
            + ", ".join(f"{r['grade']} ≥ {r['min_score']:g}" for r in done.cutoffs)
            + _verdicts(review.proposal)
        )
        few = review.proposal.facts["few_holdout"]
        if few:
            held = review.proposal.by_grade("customers_holdout")
            say(
                "Warning:",
                f"{', '.join(f'{c} ({int(held[c])})' for c in few)} "
                f"judged on fewer than {review.proposal.facts['min_holdout_customers']} "
                "hold-out customers: too few for the verdict to mean much",
            )
    console.print(f"Wrote {len(done.written)} files to {done.folder}")
    if fail_on_inversion and not g.monotone:
        raise typer.Exit(1)


def _say_over_share(summary: AlertsSummary) -> None:
    """Each rule that fired on more customers than --max-alert-share, with the condition
    suggested for it, or why there is none."""
    limit = _pct(summary.facts["max_alert_share"], 0)
    for row in summary.over_share:
        head = f"  {row['code']} {row['level']} fires on {_pct(row['share'])} (above {limit})"
        if row["suggested_condition"]:
            console.print(
                f"{head}: suggested {row['suggested_condition']!r} "
                f"({_pct(row['suggested_share'])}, precision {_pct(row['suggested_precision'])})",
                markup=False,
            )
        else:
            console.print(
                f"{head}: no threshold to suggest (its condition has no comparison with a "
                "number on the run's data, or its other parts alone fire this often); "
                "review the rule by hand",
                markup=False,
            )


def _say_too_few(facts: dict[str, Any]) -> None:
    """Warn that a small portfolio's bad rates and alert verdicts are noise (the rule of
    evaluate and drift: drift.yaml's minimum.bads of each outcome)."""
    from custrisk.monitoring.config import load_drift_config

    bads = int(facts.get("bads") or 0)
    few = load_drift_config().too_few_labels(bads, int(facts["customers"]) - bads, counted="judged")
    if few:
        say(
            "Warning:",
            f"{few}: the grades' bad rates, their order and the alert rules' flags "
            "(no better than chance, adds nothing) are too uncertain to act on; back-test "
            "a larger portfolio or a longer outcome window",
        )


def _say_unmatched(facts: dict[str, Any]) -> None:
    """Customers of the run without an outcome and outcomes of other customers: the
    back-test judges the rest, which a share of mismatched ids can bias."""
    unmatched, extra = facts.get("unmatched", 0), facts.get("extra_outcomes", 0)
    if not unmatched and not extra:
        return
    total = facts["customers"] + unmatched
    parts = []
    if unmatched:
        verb = "has" if unmatched == 1 else "have"
        parts.append(f"{unmatched:,} of the run's {total:,} customers {verb} no outcome")
    if extra:
        parts.append(
            "1 outcome is of a customer not in the run"
            if extra == 1
            else f"{extra:,} outcomes are of customers not in the run"
        )
    zeros = facts.get("extra_outcomes_lost_zeros", 0)
    hint = (
        f"{zeros:,} of those outcome ids lost {'its' if zeros == 1 else 'their'} leading "
        "zeros: export them as text"
        if zeros
        else "check that the outcomes file is this run's customers"
    )
    say(
        "Warning:",
        f"{' and '.join(parts)}; the back-test judges the "
        f"{facts['customers']:,} with both ({hint})",
    )
