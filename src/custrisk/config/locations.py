"""Where a source of the sources config is read from, and in which text encoding.

A file (a workbook's sheet named by ``sheet:`` or ``FILE.xlsx#SHEET``), several exports
stacked into one source (``files:``, each with its own ``rename`` and ``values``:
:class:`SourcePart`), or a SQL query and its database URL (``env:NAME``, or a URL that
holds no password; :func:`mask_url` for messages and logs).
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from custrisk.config._yaml import Node

#: Workbook files (read one sheet each: ``sheet:`` or ``FILE.xlsx#SHEET``).
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
#: A database URL is taken from the environment: ``url: env:NAME``.
ENV_PREFIX = "env:"

_PART_KEYS = ("file", "sheet", "rename", "values", "encoding", "description")


@dataclass(frozen=True)
class SourcePart:
    """One of several exports stacked into a source (``files:``), e.g. the contracts and
    the collections workbooks of a CRM both feed ``transactions``: its file or glob, its
    own header mapping, and ``values`` written into declared columns the file does not
    have (``{txn_type: contract}``).

    ``partition`` holds the values a file's hive folders give declared columns
    (``month=2026-10/``), written only where the file has no such column; ``None`` is a
    missing value. It is set for each file found (:func:`custrisk.data.files.source_files`),
    never by a config."""

    file: str
    sheet: str | None
    rename: Mapping[str, str]
    values: Mapping[str, str] = field(default_factory=dict)
    partition: Mapping[str, str | None] = field(default_factory=dict)
    #: The text encoding of this entry's files (over the source's ``encoding``).
    encoding: str | None = None


def parse_encoding(node: Node) -> str | None:
    """``encoding``: a text encoding Python knows (``big5``, ``gbk``, ``utf-8``), or
    ``None`` to detect it. A folder whose exports were written in different encodings (one
    Big5, the others UTF-8) names it on the source that differs."""
    encoding = node.text("encoding")
    if encoding is None:
        return None
    try:  # (as written: the reader takes the codec's canonical name)
        codecs.lookup(encoding)
        return encoding
    except LookupError:
        raise node.error(
            "encoding",
            f"unknown encoding {encoding!r}",
            hint="e.g. utf-8, gbk, gb18030 or big5; leave it out to have it detected",
        ) from None


def parse_parts(node: Node, names: list[str], shared: Mapping[str, str]) -> tuple[SourcePart, ...]:
    """The ``files:`` list: each entry's file (and sheet), rename (over the source's
    ``rename``) and ``values`` for declared columns the file does not have."""
    raw = node.get("files")
    if not isinstance(raw, list) or not raw:
        raise node.error(
            "files",
            "expected a list of {file, rename, values}",
            hint="e.g. files: [{file: 合同*.xlsx, rename: {合同编号: txn_id}}]",
        )
    parts = []
    for i, item in enumerate(raw):
        pnode = Node(item, node.file, node.key(f"files[{i}]"))
        if not isinstance(item, Mapping):
            raise node.error(f"files[{i}]", "expected a mapping {file, rename, values}")
        pnode.check_keys(_PART_KEYS, required=("file",))
        file, sheet = parse_sheet(pnode, pnode.text("file", required=True))
        rename_raw = pnode.get("rename") or {}
        if not isinstance(rename_raw, Mapping):
            raise pnode.error("rename", "expected a mapping {file column: canonical column}")
        rename: dict[str, str] = {}
        merged = dict(shared)
        for src, dst in rename_raw.items():
            if str(dst) not in names:
                raise pnode.error(
                    f"rename.{src}",
                    f"maps to {dst!r}, which is not a declared column",
                    hint=f"declared: {', '.join(names)}",
                )
            merged.pop(str(src), None)
            if str(dst) in merged.values() or str(dst) in rename.values():
                raise pnode.error(f"rename.{src}", f"a second file column maps to {dst!r}")
            rename[str(src)] = str(dst)
        values_raw = pnode.get("values") or {}
        if not isinstance(values_raw, Mapping):
            raise pnode.error("values", "expected a mapping {canonical column: value}")
        values: dict[str, str] = {}
        targets = {*merged.values(), *rename.values()}
        for column, value in values_raw.items():
            column = str(column)
            if column not in names:
                raise pnode.error(
                    f"values.{column}",
                    "is not a declared column",
                    hint=f"declared: {', '.join(names)}",
                )
            if column in targets:
                raise pnode.error(
                    f"values.{column}",
                    "is also read from the file (rename)",
                    hint="either read the column from the file or give it a value, not both",
                )
            if not isinstance(value, str | int | float | bool) or value is None:
                raise pnode.error(f"values.{column}", f"expected one value, got {value!r}")
            values[column] = str(value)
        parts.append(
            SourcePart(
                file=file,
                sheet=sheet,
                rename=MappingProxyType(rename),
                values=MappingProxyType(values),
                encoding=parse_encoding(pnode),
            )
        )
    return tuple(parts)


def is_excel_name(name: str) -> bool:
    """Whether a file name (or glob) names a workbook."""
    return name.lower().endswith(EXCEL_SUFFIXES)


def parse_sheet(node: Node, file: str) -> tuple[str, str | None]:
    """The file and its sheet, from ``sheet:`` or ``FILE.xlsx#SHEET``."""
    sheet = node.get("sheet")
    if sheet is not None and not isinstance(sheet, str | int):
        raise node.error("sheet", f"expected a sheet name, got {sheet!r}")
    named = str(sheet) if sheet is not None else None
    base, hash_, after = file.rpartition("#")
    if hash_ and after and is_excel_name(base):
        if named is not None and named != after:
            raise node.error(
                "sheet",
                f"{named!r} differs from the sheet {after!r} named in file: {file!r}",
                hint="name the sheet in one place",
            )
        file, named = base, after
    if named is not None and not is_excel_name(file):
        raise node.error(
            "sheet",
            f"applies to workbook files ({', '.join(EXCEL_SUFFIXES)}), not {file!r}",
        )
    return file, named


def parse_query(node: Node, labels: bool) -> tuple[str | None, str | None]:
    """A SQL source: the query and its URL (``env:NAME``, or a URL with no password)."""
    if "query" not in node.data and "url" not in node.data:
        return None, None
    if labels:
        raise node.error("query", "the labels file cannot be a query", hint="pass --labels FILE")
    if "file" in node.data:
        raise node.error("query", "a source has either file: or query:, not both")
    query = node.text("query", required=True).strip()
    if not query:
        raise node.error("query", "is empty", hint="write the SELECT that returns the rows")
    unknown = [name for name in query_parameters(query) if name not in QUERY_PARAMETERS]
    if unknown:
        raise node.error(
            "query",
            f"names the parameter :{unknown[0]}, which custrisk does not know",
            hint=f"use {', '.join(':' + p for p in QUERY_PARAMETERS)} (the month of the run); "
            "a colon in a string literal or a quoted name is taken as written",
        )
    raw = node.get("url")
    if raw is None:
        raise node.error(
            "url",
            "is required with query:",
            hint="write url: env:CRM_DB_URL and set CRM_DB_URL to the database URL",
        )
    if not isinstance(raw, str) or not raw.strip():
        raise node.error("url", "expected env:NAME or a database URL")
    url = raw.strip()
    if url.startswith(ENV_PREFIX):
        variable = url[len(ENV_PREFIX) :]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable):
            raise node.error(
                "url",
                f"{variable!r} is not an environment variable name",
                hint="write e.g. url: env:CRM_DB_URL",
            )
        return query, url
    if "://" not in url:
        raise node.error(
            "url",
            "expected env:NAME or a database URL (dialect://...)",
            hint="write e.g. url: env:CRM_DB_URL",
        )
    if has_password(url):
        raise node.error(
            "url",
            f"holds a password ({mask_url(url)}); a password must never be written in a config",
            hint="put the URL in an environment variable and write url: env:CRM_DB_URL",
        )
    return query, url


#: The parameters a query may name (``WHERE month = :period``), bound (never written into
#: the SQL) to the month of the run: ``2026-11``, its first and last days, and the last
#: day again as the as-of date of a month-end snapshot
QUERY_PARAMETERS = ("period", "period_start", "period_end", "as_of")

#: The pieces of SQL in which a colon is text (string literals, E'' strings with their
#: backslashes, quoted names, line comments, dollar-quoted bodies; a block comment's
#: opening, whose end :func:`_comment_end` finds, as PostgreSQL nests them), a ``:name``
#: outside them that is no cast (``::``) and no array slice (``a[lo:hi]``), and any other
#: colon SQLAlchemy's ``text()`` would take for a parameter (``a[1 :2]``, ``:1``)
_SQL_PIECE = re.compile(
    r"""(?P<text>(?<!\w)[Ee]'(?:[^'\\]|\\.|'')*'?
    | '(?:[^']|'')*'?
    | "(?:[^"]|"")*"?
    | --[^\n]*
    | (?<![\w$])\$(?P<tag>[A-Za-z_]\w*|)\$.*?(?:\$(?P=tag)\$|\Z))
    | (?P<comment>/\*)
    | (?<![:\w\\]):(?P<name>[A-Za-z_]\w*)
    | (?P<other>(?<![:\w\\]):\w+(?![:\w]))""",
    re.S | re.X,
)
_COMMENT_MARK = re.compile(r"/\*|\*/")
#: What SQLAlchemy's ``text()`` takes for a parameter (its own pattern): only such a colon
#: is escaped (``\:``); ``text()`` would keep the backslash of any other (``'10 \:30:00'``)
_TEXT_BIND = re.compile(r"(?<![:\w\\])(:\w+)(?![:\w])")


def _comment_end(query: str, start: int) -> int:
    """Where the block comment opened at ``start`` ends (its nested ones closed too), or
    the end of the query."""
    depth = 0
    for mark in _COMMENT_MARK.finditer(query, start):
        depth += 1 if mark.group(0) == "/*" else -1
        if depth == 0:
            return mark.end()
    return len(query)


def _sql_pieces(query: str) -> Iterator[tuple[int, int, str | None]]:
    """The pieces of ``query`` in which a colon is text or may be a parameter, in order:
    ``(start, end, name)``, name the parameter's, ``""`` for another colon that is code,
    ``None`` for text (a literal, a quoted name, a comment)."""
    at = 0
    while (matched := _SQL_PIECE.search(query, at)) is not None:
        if matched.group("comment"):
            end = _comment_end(query, matched.start())
            yield matched.start(), end, None
        else:
            end = matched.end()
            name = matched.group("name") or ("" if matched.group("other") else None)
            yield matched.start(), end, name
        at = end


def period_end(period: str) -> dt.date:
    """The last day of the month ``period`` (``YYYY-MM``): ``:period_end`` and ``:as_of``
    of its queries, the end of a run's as-of window."""
    year, month = (int(part) for part in period.split("-"))
    first = dt.date(year, month, 1)
    return (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


#: Days after its month's last day a month's data may be dated: an export taken on the 1st
#: of the next month, or after a long weekend, holds that day's first events. The default
#: of ``custrisk run``'s ``checks.as_of_days_after`` and the window of ``--period``.
AS_OF_DAYS_AFTER = 7


def as_of_window(period: str, days_after: int = AS_OF_DAYS_AFTER) -> tuple[dt.date, dt.date]:
    """The first and last as-of date accepted for the data of the month ``period``: its
    first day to ``days_after`` days after its last."""
    end = period_end(period)
    return end.replace(day=1), end + dt.timedelta(days=days_after)


def query_parameters(query: str) -> list[str]:
    """The parameters (``:name``) a query names, once each in their order; a colon in a
    literal, a quoted name or a comment is none."""
    found = [name for _, _, name in _sql_pieces(query) if name]
    return list(dict.fromkeys(found))


def bindable_query(query: str) -> str:
    """The query as SQLAlchemy's ``text()`` is to read it: its parameters bound, every
    other colon that ``text()`` would take for one (``' :x'``, ``a[1 :2]``) escaped, and a
    space after a parameter cast with ``::`` (``:period_start::date``, which ``text()``
    misreads)."""
    out: list[str] = []
    at = 0
    for start, end, name in _sql_pieces(query):
        out.append(query[at:start])
        piece = query[start:end]
        if name:
            out.append(piece)
            if query[end : end + 1] == ":":  # a cast (::date), or a colon text() would bind
                out.append(" \\" if re.match(r":\w+(?![:\w])", query[end:]) else " ")
        elif name == "":
            out.append("\\" + piece)
        else:
            out.append(_TEXT_BIND.sub(r"\\\1", piece))
        at = end
    out.append(query[at:])
    return "".join(out)


#: How long a query may run, or wait on a lock, before the database cancels it
#: (``query_timeout``) when neither the config nor the URL's session says: ten minutes.
DEFAULT_QUERY_TIMEOUT = 600.0
_DURATION = re.compile(r"(\d+(?:\.\d*)?)\s*(ms|s|m|min|h)?")
_SECONDS = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_query_timeout(node: Node, inherited: float | None) -> float | None:
    """``query_timeout``: seconds, or a number with its unit (``500ms``, ``30s``,
    ``10min`` or ``10m``, ``2h``); ``0`` for none. ``inherited`` (the defaults' value,
    ``None``: not written) when the node has no such key."""
    if "query_timeout" not in node.data:
        return inherited
    raw = node.get("query_timeout")
    matched = (
        None
        if isinstance(raw, bool) or not isinstance(raw, str | int | float)
        else _DURATION.fullmatch(str(raw).strip().lower())
    )
    if matched is None:
        raise node.error(
            "query_timeout",
            f"{raw!r} is not a duration",
            hint="write seconds or a number with its unit, e.g. 30s, 10min, 2h (0: no timeout)",
        )
    return float(matched.group(1)) * _SECONDS[matched.group(2)]


def shown_duration(seconds: float) -> str:
    """A duration as messages give it: ``500 ms``, ``30 s``, ``10 min``, ``2 h``."""
    for unit, size in (("h", 3600.0), ("min", 60.0), ("s", 1.0)):
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)} {unit}"
    return f"{seconds:g} s" if seconds >= 1 else f"{seconds * 1000:g} ms"


#: A URL's ``user:password@``: the password runs to the last ``@`` (it may hold ``/`` or
#: an unencoded ``@``, which a URL parser would take for the host or the path)
_URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)(\S*)@")


def url_password(url: str) -> str | None:
    """The password of ``user:password@`` in a database URL, or ``None``."""
    found = _URL_PASSWORD.search(url)
    return found.group(2) if found and found.group(2) else None


def has_password(url: str) -> bool:
    """Whether a database URL carries a password (``user:secret@host``)."""
    if re.search(r"(?i)[?&;](?:password|passwd|pwd)=", url) or url_password(url):
        return True
    try:
        return urllib.parse.urlsplit(url).password is not None
    except ValueError:
        return "@" in url


def mask_url(url: str) -> str:
    """A database URL fit for messages and logs: the password as ``***``, and any
    ``password=`` query parameter too."""
    masked = _URL_PASSWORD.sub(r"\1***@", url)
    return re.sub(r"(?i)((?:password|passwd|pwd)=)[^&;\s]*", r"\1***", masked)
