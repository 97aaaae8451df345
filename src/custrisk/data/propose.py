"""A sources config proposed for a folder of exports in their own layout
(``custrisk init DATA``).

Each file's header and first rows are read (:func:`custrisk.data.infer.infer_table`
decides types and personal data from the values); every header the built-in dictionary
knows (:mod:`custrisk.data.headers`) is renamed to its canonical name and gets the rules
of the packaged sources config for that name, as far as the values allow (an ``allowed``
list, pattern or check the sample does not meet is left out and the comment says so).
The file is assigned to the source (credit, transactions, behaviour) whose canonical
columns it has most of. The config is emitted line by line with a comment per column;
every key and value goes through the YAML emitter and every comment is escaped, so a
hostile header (a newline, a formula, ``#``) cannot change the config's structure. The
text is parsed back and compared with what was meant before it is returned.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from custrisk.config._yaml import load_yaml_text
from custrisk.config.columns import ColumnSpec, traditional_form
from custrisk.config.sources import (
    CUSTOMER_SOURCE,
    KNOWN_SOURCES,
    SourcesConfig,
    load_sources_config,
    parse_sources_config,
)
from custrisk.data.exports import export_format
from custrisk.data.headers import (
    EXTRA_SOURCES,
    VALUE_RECODES,
    canonical_name,
    scaled_field,
    scaled_name,
)
from custrisk.data.infer import InferredColumn, TableSchema, infer_table
from custrisk.data.infer_columns import header_slug
from custrisk.data.infer_values import DATE_ORDER_SHOWN, DATETIME_FORMATS, year_last_formats
from custrisk.data.parse import valid_cn_id_number
from custrisk.data.text import CN_PHONE, cn_phone_form
from custrisk.errors import CustriskError, DataError
from custrisk.io.encoding import LooksLikeBig5
from custrisk.io.excel import visible_worksheets

#: Rows read from each file to decide.
SAMPLE_ROWS = 20_000
#: Headers longer than this are not names: the column is left out of the proposal.
MAX_HEADER_CHARS = 200
#: Share of the sample that must meet a packaged pattern or check for it to be kept.
RULE_SHARE = 0.9
#: Columns shared by several sources: no evidence of which source a file is.
_SHARED = frozenset({"customer_id", "channel"})
_COMMENT_CHARS = 100


@dataclass(frozen=True)
class ProposedColumn:
    header: str  # in the file
    name: str  # canonical name in the config
    spec: dict[str, Any]
    comment: str
    recognised: bool


@dataclass(frozen=True)
class ProposedFile:
    file: str
    source: str | None  # None: not a source (labels, unrecognised, a second file)
    note: str
    columns: tuple[ProposedColumn, ...] = ()
    key: str | None = None
    customer_key: str | None = None
    row_number: str | None = None
    checks: tuple[dict[str, Any], ...] = ()
    left_out: tuple[str, ...] = ()  # headers too long to be names: not read
    #: Columns the packaged config requires of the source that no header was taken for
    missing: tuple[str, ...] = ()
    customer_ids: tuple[str, ...] = ()  # the sample's customer ids (for zero_pad)
    #: An outcomes (labels) file's headers and the names they stand for (客户编号 →
    #: customer_id, 是否违约 → bad), for the proposed ``labels: rename``
    outcome_names: tuple[tuple[str, str], ...] = ()
    delimiter: str = ","  # a CSV file's, found from its header line
    #: Day or month first in its dates with the year last (TableSchema.date_order)
    date_order: str | None = None
    decimal: str = "."  # its numbers' decimal mark (TableSchema.decimal)
    #: Its text encoding when the source must name it (a Big5 export): ``encoding:``
    encoding: str | None = None

    @property
    def unmapped(self) -> list[str]:
        long = [f"{h[:40]}… ({len(h):,} characters: left out)" for h in self.left_out]
        return [c.header for c in self.columns if not c.recognised] + long


@dataclass(frozen=True)
class Proposal:
    """The proposed sources config (YAML text) and what was decided for each file."""

    files: tuple[ProposedFile, ...]
    sources_text: str
    config: SourcesConfig
    notes: tuple[str, ...] = field(default=())

    @property
    def labels_file(self) -> str | None:
        """The outcomes (labels) file found in the folder, for ``--labels``."""
        return next((f.file for f in self.files if f.outcome_names), None)

    @property
    def table_with_outcome(self) -> tuple[str, str] | None:
        """The file taken as the credit source whose column reads as the outcome
        (是否违约 -> bad), and that header: a flat table given as a folder, which
        ``custrisk init FILE --target HEADER`` reads as one table."""
        for f in self.files:
            if f.source == "credit":
                for col in f.columns:
                    if col.name == "bad":
                        return f.file, col.header
        return None


def candidate_files(data_dir: Path) -> list[Path]:
    """The export files of a folder (those ``read_export`` can read), sorted by name; a
    workbook of several visible worksheets as ``FILE.xlsx#SHEET``, one per sheet."""
    found: list[Path] = []
    for path in sorted(data_dir.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        try:
            kind = export_format(path)
        except DataError:
            continue
        sheets = visible_worksheets(path) if kind == "excel" else []
        if len(sheets) > 1:  # each sheet a table of its own (客户, 交易): FILE.xlsx#SHEET
            found.extend(path.with_name(f"{path.name}#{sheet}") for sheet in sheets)
        else:
            found.append(path)
    return found


def propose_sources(
    data_dir: str | Path, *, encoding: str | None = None, sample_rows: int = SAMPLE_ROWS
) -> Proposal:
    """Propose a sources config for the exports in ``data_dir``.

    Raises
    ------
    DataError
        The folder holds no export, or none of them looks like the customer table.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError("data folder not found", file=str(data_dir), hint="check the path")
    paths = candidate_files(data_dir)
    if not paths:
        raise DataError(
            "no CSV or Parquet file in the folder",
            file=str(data_dir),
            hint="pass the folder holding the exports, or one table file",
        )
    packaged = load_sources_config(None)
    files: list[ProposedFile] = []
    taken: dict[str, int] = {}  # source -> evidence of the file that has it
    for path in paths:
        proposed, evidence = _propose_file(path, packaged, encoding, sample_rows)
        source = proposed.source
        if source is not None:
            if source in taken and taken[source] >= evidence:
                proposed = ProposedFile(
                    proposed.file,
                    None,
                    f"also looks like {source}, which another file already is; "
                    "left out (one file per source, or a glob in file:)",
                )
            else:
                if source in taken:
                    files = [_demoted(f, source) for f in files]
                taken[source] = evidence
        files.append(proposed)
    files = _zero_pads(files)
    chosen = {f.source: f for f in files if f.source is not None}
    if CUSTOMER_SOURCE not in chosen:
        seen = "; ".join(f"{f.file}: {f.note}" for f in files)
        raise DataError(
            "no file looks like the customer table (one row per customer with its credit "
            f"data); {_cut(seen, 300)}",
            file=str(data_dir),
            hint="name its columns as in the packaged sources config (customer_id, "
            "credit_limit, ...) or pass the one table file for the flat layout",
        )
    outcomes = next((f for f in files if f.outcome_names), None)
    text = render_sources(
        packaged,
        [chosen[s] for s in KNOWN_SOURCES if s in chosen],
        outcomes=outcomes,
        absent=[s for s in KNOWN_SOURCES if s not in chosen],
    )
    config = parse_sources_config(text, str(data_dir / "sources.yaml"))
    return Proposal(tuple(files), text, config)


_CN_PHONE_FORM = re.compile(CN_PHONE)


def _demoted(f: ProposedFile, source: str) -> ProposedFile:
    if f.source != source:
        return f
    return ProposedFile(f.file, None, f"also looks like {source}; a better match was kept")


def _propose_file(
    path: Path, packaged: SourcesConfig, encoding: str | None, sample_rows: int
) -> tuple[ProposedFile, int]:
    values: dict[str, list[str]] = {}  # (the sample's values: checked against the rules)
    own_encoding = None
    try:
        try:
            schema = infer_table(path, encoding=encoding, sample_rows=sample_rows, samples=values)
        except LooksLikeBig5:
            # (detected: a Big5 export among others is read as Big5 and its source says
            # so, rather than the folder refused for one file)
            own_encoding = "big5"
            values.clear()
            schema = infer_table(path, encoding="big5", sample_rows=sample_rows, samples=values)
    except CustriskError as exc:
        if "no data rows" in str(exc):
            return ProposedFile(path.name, None, "no data rows: left out"), 0
        raise
    canon = _canonical(schema)
    counts = dict.fromkeys((*KNOWN_SOURCES, "labels"), 0)
    for name in canon.values():
        if name not in _SHARED:
            for source in _sources_of(name, packaged):
                counts[source] += 1
    only_outcomes = counts["labels"] + 1 >= len(schema.columns)  # customer_id + outcomes
    if (
        counts["labels"]
        and "customer_id" in canon.values()
        and (len(schema.columns) <= 4 or only_outcomes)
    ):
        names = tuple((header, name) for header, name in canon.items())
        return ProposedFile(
            path.name, None, "outcomes (labels): pass it with --labels", outcome_names=names
        ), 0
    counts.pop("labels")
    best = max(KNOWN_SOURCES, key=lambda s: counts[s])
    if counts[best] == 0:
        return ProposedFile(path.name, None, "no header of a known source recognised"), 0
    recognised = {header: values[header] for header in canon}
    proposed = _build(path, schema, canon, best, packaged, recognised)
    if own_encoding is not None:
        proposed = replace(
            proposed,
            note=f"{proposed.note}; read as Big5 (Traditional Chinese): its bytes are not GBK's",
            encoding=own_encoding,
        )
    return proposed, counts[best]


def _sources_of(name: str, packaged: SourcesConfig) -> list[str]:
    found = [s for s, spec in packaged.sources.items() if name in spec.column_names]
    if name in EXTRA_SOURCES:
        found.append(EXTRA_SOURCES[name])
    return found


def _canonical(schema: TableSchema) -> dict[str, str]:
    """{header: canonical name} for the headers the dictionary knows (first one wins)."""
    out: dict[str, str] = {}
    for col in schema.columns:
        if len(col.header) > MAX_HEADER_CHARS:
            continue
        name = canonical_name(col.header)
        if name is not None and name not in out.values():
            out[col.header] = name
    # An amount in 万元 or a monthly income, read with a scale (scaled_field), when no
    # header names the field as it is
    for col in schema.columns:
        if len(col.header) > MAX_HEADER_CHARS or col.header in out:
            continue
        scaled = scaled_field(col.header)
        if scaled is not None and scaled.name not in out.values():
            out[col.header] = scaled.name
    return out


def _build(
    path: Path,
    schema: TableSchema,
    canon: Mapping[str, str],
    source: str,
    packaged: SourcesConfig,
    values: Mapping[str, list[str]],
) -> ProposedFile:
    spec = packaged.sources[source]
    known = {c.name: c for c in spec.columns}
    used = set(canon.values())
    columns: list[ProposedColumn] = []
    id_header = None
    if "customer_id" not in used and schema.id_column is not None and source == CUSTOMER_SOURCE:
        id_header = schema.id_column  # unique values under an id-like header
        used.add("customer_id")
    for position, col in enumerate(schema.columns, start=1):
        if len(col.header) > MAX_HEADER_CHARS:
            continue
        if col.header in canon:
            name = canon[col.header]
            rules, why = _packaged_rules(known.get(name), col, values.get(col.header, []))
            rules = _blank_when_optional(rules)
            scaled = scaled_field(col.header) if canonical_name(col.header) is None else None
            if scaled is not None:
                rules = {**rules, "type": "float", "scale": scaled.scale}
                why = f"{why}; {scaled.why}: {name} = value × {scaled.scale:,}"
            how = "rules of the packaged config" if name in known else f"kept as {rules['type']}"
            columns.append(
                ProposedColumn(
                    col.header,
                    name,
                    rules,
                    f"recognised as {name} (header dictionary); {how}{why}",
                    True,
                )
            )
        elif col.header == id_header:
            columns.append(
                ProposedColumn(
                    col.header,
                    "customer_id",
                    {"type": "id", "required": True},
                    "recognised as customer_id (unique values under an id-like header)",
                    True,
                )
            )
        else:
            name = _slug(col.header, position, used)
            rules = _blank_when_optional(_inferred_rules(col))
            also = canonical_name(col.header) or scaled_name(col.header)
            note = f"; it also means {also}, taken by another column" if also else ""
            columns.append(
                ProposedColumn(
                    col.header,
                    name,
                    rules,
                    f"not recognised: kept as {rules['type']} ({col.reason}){note}",
                    False,
                )
            )
    names = {c.name for c in columns}
    row_number = None
    key_name = "customer_id" if source == CUSTOMER_SOURCE else spec.key
    if key_name not in names and key_name is not None:
        row_number = key_name
        columns.insert(
            0,
            ProposedColumn(
                "",
                key_name,
                {"type": "id", "required": True},
                "not in the file: each row's line number",
                True,
            ),
        )
    if source != CUSTOMER_SOURCE and "customer_id" not in names:
        return ProposedFile(
            path.name,
            None,
            f"looks like {source} but has no customer id column recognised: left out "
            "(add it to the config by hand with rename: {HEADER: customer_id})",
        )
    checks = tuple(
        {k: v for k, v in vars(c).items() if not (k == "on_fail" and v == "reject")}
        for c in spec.checks
        if c.left in names and c.right in names
    )
    recognised = sum(1 for c in columns if c.recognised and c.header)
    missing = tuple(c.name for c in spec.columns if c.required and c.name not in names)
    # The packaged config's optional columns no header was found for, declared as it
    # declares them: the file lacks them, so they are blank and the indicators reading
    # them are left out (and said) rather than the packaged indicators refused.
    packaged_columns = _packaged_mapping()["sources"][source]["columns"]
    columns += [
        ProposedColumn(
            "",
            c.name,
            dict(packaged_columns[c.name]),
            "no header found: declared as in the packaged config, left blank (map the "
            "file's header to it under rename if it has one)",
            True,
        )
        for c in spec.columns
        if not c.required and c.name not in names and c.name in packaged_columns
    ]
    customer_header = next((c.header for c in columns if c.name == "customer_id"), None)
    return ProposedFile(
        path.name,
        source,
        f"{source}: {recognised} of {len(schema.columns)} columns recognised",
        tuple(columns),
        key=key_name,
        customer_key=None if source == CUSTOMER_SOURCE else "customer_id",
        row_number=row_number,
        checks=checks,
        left_out=tuple(c.header for c in schema.columns if len(c.header) > MAX_HEADER_CHARS),
        missing=missing,
        customer_ids=tuple(values.get(customer_header, ())) if customer_header else (),
        delimiter=schema.delimiter,
        date_order=schema.date_order,
        decimal=schema.decimal,
    )


def _zero_pads(files: list[ProposedFile]) -> list[ProposedFile]:
    """``zero_pad`` on the customer id column of a file whose ids lost the leading zeros
    the other files' have (an export from Excel, whose number cells show ``0000000042``
    as ``42``): the credit table's, or another source's."""
    credit = next((f for f in files if f.source == CUSTOMER_SOURCE), None)
    if credit is None:
        return files
    padded: dict[str, tuple[int, str]] = {}  # file -> width, why
    for f in files:
        if f.source is None or f is credit:
            continue
        lost = _lost_zeros(credit.customer_ids, f.customer_ids)
        if lost is not None:
            shorter, width = lost
            name = f.file if shorter else credit.file
            other = credit.file if shorter else f.file
            padded[name] = (width, f"its ids lost the leading zeros of {other}'s {width} digits")
    return [_padded(f, *padded[f.file]) if f.file in padded else f for f in files]


def _lost_zeros(credit: Sequence[str], linked: Sequence[str]) -> tuple[bool, int] | None:
    """Which of two samples of customer ids lost their leading zeros, and the width
    they had: (True, 10) for the linked file's ``42`` against the credit table's
    ``0000000042`` (every credit id 10 digits, the linked ids digits no wider), (False,
    10) the other way round; only when some id of one is an id of the other once
    padded (the samples are the first rows of each file, so few ids are in both)."""
    numbers = {v for v in credit if v.isascii() and v.isdigit()}
    linked_numbers = {v for v in linked if v.isascii() and v.isdigit()}
    if (
        not numbers
        or not linked_numbers
        or len(numbers) < len(set(credit))
        or len(linked_numbers) < len(set(linked))
    ):
        return None  # ids that are not all numbers: nothing to pad
    for shorter, full, short in ((True, numbers, linked_numbers), (False, linked_numbers, numbers)):
        widths = {len(v) for v in full}
        if len(widths) != 1:
            continue
        width = widths.pop()
        if max(map(len, short)) > width or min(map(len, short)) == width:
            continue
        wide = full if shorter else {v.lstrip("0") or "0" for v in full}
        found = {v.zfill(width) for v in short} if shorter else short
        if wide & found:
            return shorter, width
    return None


def _padded(f: ProposedFile, width: int, why: str) -> ProposedFile:
    """The file with ``zero_pad: width`` on its customer id column, and why."""
    columns = tuple(
        replace(c, spec={**c.spec, "zero_pad": width}, comment=f"{c.comment}; zero_pad: {why}")
        if c.name == "customer_id"
        else c
        for c in f.columns
    )
    return replace(f, columns=columns, note=f"{f.note}; customer ids padded to {width} digits")


def _packaged_rules(
    known: ColumnSpec | None, col: InferredColumn, values: list[str]
) -> tuple[dict[str, Any], str]:
    """The packaged rules of a canonical column, less those the sample does not meet."""
    if known is None:
        return _inferred_rules(col), ""
    rules: dict[str, Any] = {"type": known.type}
    dropped = []
    if known.required:
        rules["required"] = True
    if known.pii:
        rules["pii"] = True
    for bound in ("min", "max"):
        value = getattr(known, bound)
        if value is not None:
            rules[bound] = value.isoformat() if hasattr(value, "isoformat") else value
    if known.allowed is not None:
        allowed = {a.casefold() for a in known.allowed}
        outside = sorted({v for v in values if v.casefold() not in allowed})
        recode = {
            value: target
            for value, target in VALUE_RECODES.get(known.name, {}).items()
            if target in known.allowed
        }
        if any(v not in recode for v in outside):  # a Hong Kong or Taiwan export's 訂單
            recode |= {traditional_form(value): target for value, target in recode.items()}
        if outside and all(v in recode for v in outside):
            rules["allowed"] = list(known.allowed)
            rules["recode"] = recode
            shown = ", ".join(f"{v} = {recode[v]}" for v in outside)
            dropped.append(f"the file's values recoded ({_cut(shown, 60)})")
        elif outside:
            dropped.append(f"allowed list left out (the file has {_cut(', '.join(outside), 40)})")
        else:
            rules["allowed"] = list(known.allowed)
    if known.pattern is not None:
        if _share(values, lambda v: re.fullmatch(known.pattern or "", v) is not None) >= RULE_SHARE:
            rules["pattern"] = known.pattern
        else:
            dropped.append("pattern left out (the values do not follow it)")
    if known.check == "cn_id_number":
        sample = values[:5000]
        valid = valid_cn_id_number(pd.Series(sample, dtype="str")) if sample else None
        if valid is not None and float(valid.mean()) >= RULE_SHARE:
            rules["check"] = known.check
        else:
            dropped.append("id number check left out (the values do not pass it)")
    elif known.check == "cn_phone":
        if _share(values, lambda v: _CN_PHONE_FORM.fullmatch(cn_phone_form(v)) is not None) >= (
            RULE_SHARE
        ):
            rules["check"] = known.check
        else:
            dropped.append("phone number check left out (the values are not mainland numbers)")
    if known.on_invalid != "reject":
        rules["on_invalid"] = known.on_invalid
    numeric = known.type in ("int", "float")
    if numeric and col.unit is not None:
        rules["unit"] = col.unit
        dropped.append(f"its numbers are written with the unit {col.unit}, read without it")
    elif numeric and col.type not in ("int", "float", "bool") and col.role != "ignored":
        dropped.append(f"the values look like {col.type}, not numbers: check them")
    return rules, "".join(f"; {d}" for d in dropped)


def _inferred_rules(col: InferredColumn) -> dict[str, Any]:
    if col.role == "pii" or col.pii:
        return {"type": "string", "pii": True}
    if col.role in ("ignored", "target") or col.type == "id":
        return {"type": "string"}
    return {"type": col.type, **({"unit": col.unit} if col.unit else {})}


def _blank_when_optional(rules: dict[str, Any]) -> dict[str, Any]:
    """The rules with ``on_invalid: blank`` unless the column is required, as in the
    packaged configs: one odd value of an optional column (a phone written +86 ..., a
    formula in a note) is blanked, rather than dropping its row, and with a customer's
    row the customer and all their activity from the month's scoring."""
    if rules.get("required"):
        return rules
    return {**rules, "on_invalid": "blank"}


def _share(values: list[str], test: Any) -> float:
    sample = values[:5000]
    return sum(1 for v in sample if test(v)) / len(sample) if sample else 0.0


def _slug(header: str, position: int, used: set[str]) -> str:
    """A snake_case name for an unrecognised header: its ASCII words, else ``col<N>``."""
    slug = header_slug(header, position, 40)
    name, n = slug, 2
    while name in used:
        name, n = f"{slug}_{n}", n + 1
    used.add(name)
    return name


# --- emitting -------------------------------------------------------------------------


def flow(value: Any) -> str:
    """``value`` as one line of YAML (flow style; strings quoted or escaped as needed)."""
    text = yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=1 << 30
    )
    text = text.removesuffix("...\n").rstrip("\n")
    if "\n" in text:  # cannot happen with an infinite width; never emit a broken line
        raise AssertionError(f"multi-line YAML for {value!r}")
    return text


def comment(text: str) -> str:
    """``text`` as a safe one-line comment: control and line-separator characters escaped,
    cut to a readable length."""
    safe = "".join(ch if ch.isprintable() or ch == " " else f"\\u{ord(ch):04x}" for ch in text)
    return "# " + _cut(safe, _COMMENT_CHARS * 2)


def _cut(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _key(text: str, indent: str) -> str:
    """A mapping key line start; a long key (over YAML's 1024-character simple-key limit)
    is written as an explicit ``? key`` entry."""
    key = flow(text)
    return f"? {key}\n{indent}:" if len(key) > 1000 else f"{key}:"


def _with_times(formats: Iterable[str]) -> list[str]:
    """The packaged date formats, then the date-time layouts of exports (DATETIME_FORMATS)."""
    out = list(formats)
    return out + [f for f in DATETIME_FORMATS if f not in out]


def _year_last(files: Sequence[ProposedFile]) -> tuple[list[str], tuple[str, ...]]:
    """How the files write dates with the year last, day first (17/05/2023) or month
    first (05/17/2023): the comment over ``date_formats`` and the layouts to add to it
    (none when the files write both: one config reads one order)."""
    by_order: dict[str, list[str]] = {}
    for f in files:
        if f.date_order is not None:
            by_order.setdefault(f.date_order, []).append(f.file)
    if not by_order:
        return [], ()
    if len(by_order) == 1:
        ((order, names),) = by_order.items()
        said = f"{', '.join(names)}: dates with the year last, {DATE_ORDER_SHOWN[order]}"
        return ["  " + comment(said)], year_last_formats(order)
    said = (
        f"dates with the year last are {DATE_ORDER_SHOWN['day']} in "
        f"{', '.join(by_order['day'])} and {DATE_ORDER_SHOWN['month']} in "
        f"{', '.join(by_order['month'])}: one config reads one order, so neither is read; "
        "export one of them with dates as YYYY-MM-DD"
    )
    return ["  " + comment(said)], ()


def _packaged_mapping() -> dict[str, Any]:
    from custrisk.config import default_config_path
    from custrisk.config._yaml import load_yaml_file

    return dict(load_yaml_file(default_config_path("sources.yaml")))


def _absent_source(name: str) -> dict[str, Any]:
    """The packaged declaration of a source no file was found for, not required."""
    return {**_packaged_mapping()["sources"][name], "required": False}


def _labels_section(outcomes: ProposedFile) -> dict[str, Any]:
    """The packaged ``labels:`` (the words read as outcomes, the optional outcomes) with
    the outcomes file's own headers renamed: ``train --labels`` reads it as it is."""
    labels = dict(_packaged_mapping()["labels"])
    own = {header: name for header, name in outcomes.outcome_names if header != name}
    named = set(own.values()) | {h for h, n in outcomes.outcome_names if h == n}
    packaged = {h: n for h, n in (labels.get("rename") or {}).items() if n not in named}
    rename = {**packaged, **own}
    if rename:
        labels["rename"] = rename
    else:  # the file has custrisk's own headers: nothing to rename
        labels.pop("rename", None)
    return labels


def render_sources(
    packaged: SourcesConfig,
    files: Iterable[ProposedFile],
    *,
    outcomes: ProposedFile | None = None,
    absent: Sequence[str] = (),
) -> str:
    """The commented sources YAML of the proposed files, and the labels section of the
    ``outcomes`` file when there is one (checked: it parses back to what was meant)."""
    files = list(files)
    year_last, layouts = _year_last(files)
    date_formats = [*_with_times(packaged.date_formats), *layouts]
    lines = [
        "# Sources proposed by `custrisk init` from the headers and first rows of each file.",
        "# Check the types and rules, then run custrisk validate with --config this file.",
        "version: 1",
        "defaults:",
        "  # exports stamp records with a time of day (创建时间, 提交时间): the date counts",
        *year_last,
        f"  date_formats: {flow(date_formats)}",
        f"  true_values: {flow(list(packaged.true_values))}",
        f"  false_values: {flow(list(packaged.false_values))}",
        "sources:",
    ]
    meant: dict[str, Any] = {}
    for f in files:
        assert f.source is not None
        source: dict[str, Any] = {
            "file": glob.escape(f.file),
            "required": f.source == CUSTOMER_SOURCE,
            "key": f.key,
        }
        if f.customer_key:
            source["customer_key"] = f.customer_key
        if f.row_number:
            source["row_number"] = f.row_number
        if f.delimiter != ",":
            source["delimiter"] = f.delimiter
        if f.decimal != ".":
            source["decimal"] = f.decimal
        if f.encoding is not None:
            source["encoding"] = f.encoding
        # A transactions file of no rows makes every customer look inactive: refused
        source["min_rows"] = 1 if f.source in (CUSTOMER_SOURCE, "transactions") else 0
        source["on_duplicate_key"] = "keep_first"
        rename = {c.header: c.name for c in f.columns if c.header and c.header != c.name}
        lines.append(f"  {f.source}:")
        lines.append("    " + comment(f"from {f.file}: {f.note}"))
        if f.missing:
            lines.append(
                "    "
                + comment(
                    f"no header found for {', '.join(f.missing)} (required by the packaged "
                    "config): map the file's column under rename, or export it"
                )
            )
        for key, value in source.items():
            lines.append(f"    {key}: {flow(value)}")
        if rename:
            source["rename"] = rename
            lines.append("    rename:")
            for header, name in rename.items():
                lines.append("      " + _key(header, "      ") + " " + flow(name))
        source["columns"] = {}
        lines.append("    columns:")
        for c in f.columns:
            where = f"{c.header}: " if c.header else ""
            lines.append("      " + comment(where + c.comment))
            lines.append(f"      {c.name}: {flow(c.spec)}")
            source["columns"][c.name] = c.spec
        if f.checks:
            source["checks"] = list(f.checks)
            lines.append("    checks:")
            for check in f.checks:
                lines.append(f"      - {flow(check)}")
        meant[f.source] = source
    for name in absent:
        block = _absent_source(name)
        lines.append(f"  {name}:")
        lines.append(
            "    "
            + comment(
                "no file of this source was found: declared as the packaged config does "
                "(required: false), so that the indicators over it are left out rather than "
                "refused; point file: at its export when there is one"
            )
        )
        for key, value in block.items():
            if key == "columns":
                lines.append("    columns:")
                lines.extend(f"      {col}: {flow(spec)}" for col, spec in value.items())
            elif key == "checks":
                lines.append("    checks:")
                lines.extend(f"      - {flow(check)}" for check in value)
            else:
                lines.append(f"    {key}: {flow(value)}")
        meant[name] = block
    labels = _labels_section(outcomes) if outcomes is not None else None
    if outcomes is not None and labels is not None:
        lines.append("# Labels (outcomes) for train/evaluate/backtest --labels: " + outcomes.file)
        lines.append("labels:")
        lines.append(f"  key: {flow(labels['key'])}")
        if labels.get("rename"):
            lines.append("  rename:")
            for header, name in labels["rename"].items():
                lines.append("    " + _key(header, "    ") + " " + flow(name))
        lines.append("  columns:")
        for name, spec in labels["columns"].items():
            lines.append(f"    {name}: {flow(spec)}")
    text = "\n".join(lines) + "\n"
    parsed = load_yaml_text(text, "<proposed sources.yaml>")
    if parsed.get("sources") != meant or (labels is not None and parsed.get("labels") != labels):
        raise AssertionError("the proposed sources YAML does not parse back to what was meant")
    return text
