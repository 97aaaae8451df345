"""The digest of a run's alerts: what every channel sends, before formatting.

New alerts first, then by level (red first), customer and rule; grouped by owner role.
Only masked personal data: the customer id, the masked name from the run's details,
and the alert's message (indicator values), each passed through
:func:`custrisk.privacy.mask_pii_text` as a safety net.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custrisk.notify.config import NotifyConfig
from custrisk.policy.lifecycle import alert_lifecycle
from custrisk.privacy import mask_pii_text
from custrisk.report.batch import customer_file_name
from custrisk.results import NEW_ALERT, ONGOING_ALERT, ScoringRun
from custrisk.vocab import LEVEL_LABELS, LEVEL_RANK, LEVELS, OWNER_LABELS, followup_reason
from custrisk.vocab import owner_label as role_label

_WORDS = {
    "zh": {
        "title": "客户风险预警 {as_of}",
        "new": "新增",
        "ongoing": "持续",
        "closed": "已关闭",
        "alerts": "条",
        "more": "另有 {n} 条未列出",
        "none": "本期无新增预警",
        "report": "报告",
        "since": "自",
        "customer": "客户",
        "name": "姓名",
        "grade": "评级",
        "level": "级别",
        "code": "规则",
        "status": "状态",
        "message": "预警内容",
        "due": "处理时限",
        "followups": "回访计划：{n} 位客户到期",
        "followups_more": "另有 {n} 位见 followups.csv",
    },
    "en": {
        "title": "Customer risk alerts {as_of}",
        "new": "new",
        "ongoing": "ongoing",
        "closed": "closed",
        "alerts": "alerts",
        "more": "and {n} more not listed",
        "none": "No new alerts this period",
        "report": "report",
        "since": "since",
        "customer": "customer",
        "name": "name",
        "grade": "grade",
        "level": "level",
        "code": "rule",
        "status": "status",
        "message": "message",
        "due": "due by",
        "followups": "Follow-ups due: {n} customers",
        "followups_more": "and {n} more in followups.csv",
    },
}


@dataclass(frozen=True)
class Item:
    """One alert as the digest shows it (masked)."""

    customer_id: str
    name_masked: str
    grade: str
    level: str
    code: str
    status: str
    since: str
    owner: str
    message: str
    due_by: str
    report: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "name_masked": self.name_masked,
            "grade": self.grade,
            "level": self.level,
            "code": self.code,
            "status": self.status,
            "since": self.since,
            "owner": self.owner,
            "message": self.message,
            "due_by": self.due_by,
            "report": self.report,
        }


@dataclass(frozen=True)
class FollowUp:
    """One customer of the run's follow-up plan (回访计划) due for a call or visit."""

    customer_id: str
    name_masked: str
    grade: str
    owner: str
    reason: str
    open_alerts: str
    channel: str
    due_date: str


#: Follow-ups listed per owner in a digest; the rest are counted (followups.csv has all).
FOLLOWUPS_SHOWN = 5


@dataclass(frozen=True)
class Digest:
    """The alerts to send, grouped by owner, and the run's counts.

    Attributes
    ----------
    items : tuple of Item
        In the order sent: new first, then by level, customer and rule.
    counts : dict
        ``new``, ``ongoing`` and ``closed`` (None when unknown), ``new_by_level``.
    """

    as_of: str
    run_id: str
    lang: str
    items: tuple[Item, ...]
    counts: dict[str, Any] = field(default_factory=dict)
    #: The run's follow-up plan, owners' customers due (empty for a run without one).
    followups: tuple[FollowUp, ...] = ()

    @property
    def owners(self) -> list[str]:
        """Owners in order of their most severe alert, then by name."""
        best: dict[str, tuple[int, str]] = {}
        for item in self.items:
            rank = (LEVEL_RANK[item.level], item.owner)
            best[item.owner] = min(best.get(item.owner, rank), rank)
        return sorted(best, key=lambda o: best[o])

    def for_owners(self, owners: Sequence[str]) -> Digest:
        """The same digest with only these owners' alerts (all when empty)."""
        if not owners:
            return self
        wanted = set(owners)
        return Digest(
            self.as_of,
            self.run_id,
            self.lang,
            tuple(i for i in self.items if i.owner in wanted),
            self.counts,
            tuple(f for f in self.followups if f.owner in wanted),
        )

    def followup_lines(self, owner: str) -> list[str]:
        """The owner's follow-ups due: a heading, the first few, how many more."""
        due = [f for f in self.followups if f.owner == owner]
        if not due:
            return []
        lines = [self.words("followups", n=len(due))]
        for f in due[:FOLLOWUPS_SHOWN]:
            who = f"{f.customer_id} {f.name_masked}".strip()
            why = followup_reason(f.reason, self.lang)
            alerts = f" ({f.open_alerts})" if f.open_alerts else ""
            channel = f", {f.channel}" if f.channel else ""
            lines.append(f"- {who} ({f.grade}) {why}{alerts}; {f.due_date}{channel}")
        if len(due) > FOLLOWUPS_SHOWN:
            lines.append(self.words("followups_more", n=len(due) - FOLLOWUPS_SHOWN))
        return lines

    def words(self, key: str, **values: Any) -> str:
        return _WORDS[self.lang][key].format(**values)

    @property
    def title(self) -> str:
        return self.words("title", as_of=self.as_of)

    def summary_line(self) -> str:
        """E.g. ``新增 5 条（红色 2，橙色 3）；持续 86 条；已关闭 8 条``."""
        w = _WORDS[self.lang]
        new = self.counts.get("new", 0)
        by_level = self.counts.get("new_by_level", {})
        levels = [
            f"{level_label(lv, self.lang)} {by_level[lv]}" for lv in LEVELS if by_level.get(lv)
        ]
        counts = {"ongoing": self.counts.get("ongoing"), "closed": self.counts.get("closed")}
        if self.lang == "zh":  # 新增 5 条（红色 2，橙色 3）；持续 86 条；已关闭 8 条
            first = f"{w['new']} {new} {w['alerts']}" + (
                f"（{'，'.join(levels)}）" if levels else ""
            )
            rest = [f"{w[k]} {n} {w['alerts']}" for k, n in counts.items() if n is not None]
        else:  # 5 new alerts (red 2, orange 3); 86 ongoing; 8 closed
            first = f"{new} {w['new']} {w['alerts']}" + (
                f" ({', '.join(levels)})" if levels else ""
            )
            rest = [f"{n} {w[k]}" for k, n in counts.items() if n is not None]
        parts = [first, *rest]
        return ("；" if self.lang == "zh" else "; ").join(parts)

    def by_owner(self) -> list[tuple[str, list[Item]]]:
        return [(o, [i for i in self.items if i.owner == o]) for o in self.owners]


def level_label(level: str, lang: str) -> str:
    return LEVEL_LABELS[level][lang] if lang in ("zh", "en") else level


def owner_label(owner: str, lang: str) -> str:
    label = role_label(owner, lang)
    return f"{label} ({owner})" if label != owner else owner


def build_digest(
    config: NotifyConfig,
    run: ScoringRun,
    previous: ScoringRun | None = None,
    *,
    reports_dir: str | Path | None = None,
    lang: str | None = None,
    reports_link_dir: str | Path | None = None,
) -> Digest:
    """The digest of ``run``'s alerts under ``config``, in the language of the config's
    ``lang:``, else ``lang``, else the run's.

    The run's own lifecycle (``status`` from ``custrisk score --previous``) is used
    when it has one; otherwise, given ``previous``, alerts that fired there too count
    as ongoing. Without either, every alert is new.
    """
    lang = config.lang or lang or run.lang
    alerts = run.alerts.reset_index(drop=True)
    for column in ("status", "since"):  # alerts made without a lifecycle
        if column not in alerts.columns:
            alerts[column] = ""
    as_of = str(run.facts.get("as_of") or (alerts["as_of"].iloc[0] if len(alerts) else ""))
    lifecycle = (run.facts.get("alerts") or {}).get("lifecycle") or {}
    closed: int | None = len(run.closed) if run.closed is not None else lifecycle.get("closed")
    if not lifecycle.get("previous") and previous is not None and len(alerts):
        found = alert_lifecycle(
            alerts,
            previous.alerts if "code" in previous.alerts.columns else None,
            as_of=as_of,
            customers=run.scores["customer_id"].astype("str").tolist(),
        )
        alerts = found.alerts
        closed = len(found.closed) if found.closed is not None else None
    status = alerts["status"].astype("str").replace("", NEW_ALERT)
    known_status = lifecycle.get("previous") or previous is not None
    counts: dict[str, Any] = {
        "new": int((status != ONGOING_ALERT).sum()),
        "ongoing": int((status == ONGOING_ALERT).sum()) if known_status else None,
        "closed": closed,
        "new_by_level": {
            lv: int(((status != ONGOING_ALERT) & (alerts["level"] == lv)).sum()) for lv in LEVELS
        },
    }
    keep = alerts["level"].map(LEVEL_RANK) <= LEVEL_RANK[config.min_level]
    if config.include == "new":
        keep &= status != ONGOING_ALERT
    chosen = alerts.loc[keep.to_numpy()].assign(_status=status[keep.to_numpy()])
    chosen = chosen.assign(
        _ongoing=(chosen["_status"] == ONGOING_ALERT).astype(int),
        _rank=chosen["level"].map(LEVEL_RANK),
    ).sort_values(["_ongoing", "_rank", "customer_id", "code"], kind="stable")
    names = _masked_names(run)
    message = f"message_{lang}"
    items = tuple(
        Item(
            customer_id=mask_pii_text(str(row["customer_id"])),
            name_masked=names.get(str(row["customer_id"]), ""),
            grade=str(row["grade"]),
            level=str(row["level"]),
            code=str(row["code"]),
            status=str(row["_status"]),
            since=str(row.get("since") or as_of),
            owner=str(row["owner"]),
            message=mask_pii_text(str(row[message])),
            due_by=str(row["due_by"]),
            report=_report_link(
                config, reports_dir, str(row["customer_id"]), as_of, reports_link_dir
            ),
        )
        for row in chosen.to_dict(orient="records")
    )
    return Digest(as_of, str(run.run_id or ""), lang, items, counts, _followups(run))


def _followups(run: ScoringRun) -> tuple[FollowUp, ...]:
    """The run's follow-up plan as digest rows (masked names only, as in the plan)."""
    plan = run.followups
    if plan is None or not len(plan):
        return ()

    def text(row: dict[Any, Any], column: str) -> str:
        value = row.get(column)
        return "" if value is None or value != value else mask_pii_text(str(value))

    return tuple(
        FollowUp(
            customer_id=text(row, "customer_id"),
            name_masked=text(row, "name_masked"),
            grade=text(row, "grade"),
            owner=text(row, "owner"),
            reason=text(row, "reason"),
            open_alerts=text(row, "open_alerts"),
            channel=text(row, "preferred_channel"),
            due_date=text(row, "due_date"),
        )
        for row in plan.to_dict(orient="records")
    )


def _masked_names(run: ScoringRun) -> dict[str, str]:
    details = run.details
    if "name_masked" not in details.columns or "customer_id" not in details.columns:
        return {}
    names = details["name_masked"].where(details["name_masked"].notna(), "")
    return dict(zip(details["customer_id"].astype("str"), names.astype("str"), strict=True))


def _report_link(
    config: NotifyConfig,
    reports_dir: str | Path | None,
    customer_id: str,
    as_of: str,
    link_dir: str | Path | None = None,
) -> str | None:
    """The path or URL of the customer's report, when there is one; none when the id
    itself looks like personal data (a phone number as id), which a file name would show."""
    if reports_dir is None or mask_pii_text(customer_id) != customer_id:
        return None
    name = customer_file_name(customer_id)
    path = Path(reports_dir) / name
    if not path.is_file():
        return None
    if config.report_url:
        return config.report_url.format(period=as_of[:7], file=name, customer_id=name[9:-4])
    return str((Path(link_dir) / name if link_dir is not None else path).resolve())


# -- formats ------------------------------------------------------------------------------


def _row_text(item: Item, digest: Digest) -> str:
    level = level_label(item.level, digest.lang)
    who = f"{item.customer_id} {item.name_masked}".strip()
    status = (
        ""
        if item.status != ONGOING_ALERT
        else f" [{digest.words('ongoing')} {digest.words('since')} {item.since}]"
    )
    report = f" {digest.words('report')}: {item.report}" if item.report else ""
    due = f"{digest.words('due')} {item.due_by}"
    return f"[{level}] {item.code} {who} ({item.grade}) {item.message}; {due}{status}{report}"


def plain_text(digest: Digest, items: Sequence[Item], left_out: int) -> str:
    """The digest as plain text (e-mail body, Feishu text), grouped by owner."""
    lines = [digest.title, digest.summary_line(), ""]
    if not items:
        lines.append(digest.words("none"))
    shown = Digest(digest.as_of, digest.run_id, digest.lang, tuple(items), digest.counts)
    for owner, group in shown.by_owner():
        lines.append(f"== {owner_label(owner, digest.lang)} ({len(group)})")
        lines += [_row_text(i, digest) for i in group]
        lines += digest.followup_lines(owner)
        lines.append("")
    if left_out:
        lines.append(digest.words("more", n=left_out))
    return "\n".join(lines).rstrip() + "\n"


_WECOM_COLOUR = {"red": "warning", "orange": "warning", "yellow": "comment"}


def markdown(digest: Digest, items: Sequence[Item], left_out: int, *, colours: bool) -> str:
    """The digest as robot markdown (WeCom colours levels with ``<font>``)."""
    lines = [f"## {digest.title}", digest.summary_line(), ""]
    if not items:
        lines.append(digest.words("none"))
    shown = Digest(digest.as_of, digest.run_id, digest.lang, tuple(items), digest.counts)
    for owner, group in shown.by_owner():
        lines.append(f"**{owner_label(owner, digest.lang)}** ({len(group)})")
        for item in group:
            level = level_label(item.level, digest.lang)
            if colours:
                level = f'<font color="{_WECOM_COLOUR[item.level]}">{level}</font>'
            who = f"{item.customer_id} {item.name_masked}".strip()
            status = (
                f" _{digest.words('ongoing')} {digest.words('since')} {item.since}_"
                if item.status == ONGOING_ALERT
                else ""
            )
            report = (
                f" [{digest.words('report')}]({item.report})"
                if item.report and item.report.startswith("http")
                else (f" {digest.words('report')}: {item.report}" if item.report else "")
            )
            lines.append(
                f"> {level} {item.code} {who} ({item.grade}) {item.message}{status}{report}"
            )
        lines += digest.followup_lines(owner)
        lines.append("")
    if left_out:
        lines.append(digest.words("more", n=left_out))
    return "\n".join(lines).rstrip() + "\n"


def html_table(digest: Digest, items: Sequence[Item], left_out: int) -> str:
    """The digest as an HTML e-mail body: one table, new first."""
    w = _WORDS[digest.lang]
    esc = html.escape
    head = "".join(
        f"<th>{esc(w[k])}</th>"
        for k in (
            "level",
            "code",
            "customer",
            "name",
            "grade",
            "message",
            "status",
            "due",
            "report",
        )
    )
    rows = []
    colours = {"red": "#c0392b", "orange": "#e67e22", "yellow": "#b7950b"}
    for item in items:
        status = (
            w["new"]
            if item.status != ONGOING_ALERT
            else f"{w['ongoing']} {w['since']} {item.since}"
        )
        report = (
            f'<a href="{esc(item.report)}">{esc(w["report"])}</a>'
            if item.report and item.report.startswith(("http", "file"))
            else esc(item.report or "")
        )
        rows.append(
            "<tr>"
            f'<td style="color:{colours[item.level]}">'
            f"{esc(level_label(item.level, digest.lang))}</td>"
            f"<td>{esc(item.code)}</td><td>{esc(item.customer_id)}</td><td>{esc(item.name_masked)}</td>"
            f"<td>{esc(item.grade)}</td><td>{esc(item.message)}</td><td>{esc(status)}</td>"
            f"<td>{esc(item.due_by)}</td><td>{report}</td></tr>"
        )
    more = f"<p>{esc(digest.words('more', n=left_out))}</p>" if left_out else ""
    owners = {item.owner for item in items}
    for owner in sorted(owners):
        followups = digest.followup_lines(owner)
        if followups:
            listed = "".join(  # (the count of the rest, last, has no "- " to cut)
                f"<li>{esc(line.removeprefix('- '))}</li>" for line in followups[1:]
            )
            more += f"<p>{esc(followups[0])}</p><ul>{listed}</ul>"
    none = f"<p>{esc(digest.words('none'))}</p>" if not items else ""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
        f"<h2>{esc(digest.title)}</h2><p>{esc(digest.summary_line())}</p>{none}"
        + (
            '<table border="1" cellpadding="4" cellspacing="0">'
            f"<tr>{head}</tr>{''.join(rows)}</table>"
            if items
            else ""
        )
        + f"{more}</body></html>"
    )


def fit(
    render: Any, digest: Digest, items: Sequence[Item], max_items: int, max_bytes: int | None
) -> tuple[str, int, int]:
    """Render at most ``max_items`` items, fewer until the text is at most ``max_bytes``
    (UTF-8); the rest become "and N more". Returns the text, items shown, items left out."""
    count = min(len(items), max_items)
    while True:
        text = render(digest, items[:count], len(items) - count)
        if max_bytes is None or len(text.encode("utf-8")) <= max_bytes:
            return text, count, len(items) - count
        if count == 0:  # even the header is too long: cut it at a character boundary
            cut = text.encode("utf-8")[: max_bytes - 3].decode("utf-8", "ignore")
            return cut + "…", 0, len(items)
        # shrink in proportion, at least by one
        size = len(text.encode("utf-8"))
        count = max(0, min(count - 1, int(count * max_bytes / size)))


__all__ = [
    "OWNER_LABELS",
    "Digest",
    "Item",
    "build_digest",
    "fit",
    "html_table",
    "markdown",
    "plain_text",
]
