"""The tamper-evident audit log: one HMAC-chained JSON line per custrisk command.

Every command appends one line (a JSON object, keys sorted) saying when it ran, who ran
it (OS user, host, role), what it was asked (the command line with secrets, customer ids
and personal data redacted), what it read and wrote (paths with SHA-256), the model, row
counts, the customers it was about (as keyed tokens, never in clear) and its exit code.

Each line carries ``mac`` = HMAC-SHA256 over the line without ``mac``, which includes
``prev``, the ``mac`` of the line before (64 zeros for the first) and ``seq``, its line
number. An edited byte breaks that line's MAC; a deleted line, two swapped lines or a
line copied from elsewhere break the chain at the first line out of place. A signed head
file beside the log (``<log>.head``: the number of lines and the last MAC, with its own
HMAC) catches a log cut short, which the chain alone cannot. Anyone who can rewrite
both without the key is caught; someone holding the key is not, so keep the key away from
the log's readers and copy the log (or its head) off the machine (docs/security.md).

The key: the active key of purpose ``audit`` (``custrisk keys new --purpose audit`` or
``CUSTRISK_AUDIT_KEY``), else a key derived (HKDF-SHA256) from the active encryption key.
Each line names its key id, so the log verifies across key rotation as long as the old
keys are kept: retiring an encryption key keeps the audit key derived from it, and an
audit key the log names is not retired (:func:`key_use` says which lines need a key).

Lines are appended under an exclusive ``flock`` on the log, read-last-line-then-append,
in one ``write`` with ``O_APPEND``: concurrent commands interleave whole lines, in order.

Other code adds facts to the running command's line with :func:`audit_event`; outside a
command it does nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import fcntl
import getpass
import hashlib
import hmac
import json
import logging
import math
import os
import re
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custrisk.errors import CheckFailed, ConfigError, CustriskError, DataError
from custrisk.io.digest import forget_digests, sha256_file, want_digests
from custrisk.privacy import mask_pii_text
from custrisk.protect.keys import (
    AUDIT,
    DERIVED_PREFIX,
    ENCRYPTION,
    Key,
    Keyring,
    default_keyfile,
    derive_audit_key,
    load_keyring,
)

log = logging.getLogger(__name__)

FORMAT = 1
LOG_ENV = "CUSTRISK_AUDIT_LOG"
MODE_ENV = "CUSTRISK_AUDIT"
ROLE_ENV = "CUSTRISK_ROLE"
#: ``auto``: on when a key is available; ``on``: a command refuses to run without it;
#: ``off``: no audit line.
MODES = ("auto", "on", "off")
HEAD_SUFFIX = ".head"
GENESIS = "0" * 64
#: Folders hashed for the log: at most this many files (beyond: counted, not hashed).
MAX_DIR_FILES = 5000
#: Customers named one by one in a line; more is "the portfolio".
MAX_CUSTOMERS = 1000
#: ``scope`` of a line whose command read or wrote every customer of its inputs
PORTFOLIO = "portfolio"
#: ``scope`` of a line whose command erased the customers it names (``custrisk forget``):
#: it rewrites every run it finds, but reads no one else's data for any use
ERASURE = "erasure"
_NO_KEY = "audit log off: no audit or encryption key"
#: A line longer than this is not one custrisk wrote.
MAX_LINE = 1 << 20

_SECRET_NAME = re.compile(r"key|secret|password|passwd|token|passphrase|sign", re.I)
_CUSTOMER_NAME = re.compile(r"^customers?(_ids?)?$|^customer_id$", re.I)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)([^@\s]+)(@)", re.I)
_URL_SECRET = re.compile(r"([?&](?:key|secret|token|sign|password|access_token)=)([^&\s]+)", re.I)


def default_log_path() -> Path:
    """``$CUSTRISK_AUDIT_LOG``, else ``$XDG_STATE_HOME/custrisk/audit.log`` (by default
    ``~/.local/state/custrisk/audit.log``)."""
    named = os.environ.get(LOG_ENV, "").strip()
    if named:
        return Path(named).expanduser()
    state = os.environ.get("XDG_STATE_HOME", "").strip()
    base = Path(state).expanduser() if state else Path.home() / ".local" / "state"
    return base / "custrisk" / "audit.log"


def audit_mode() -> str:
    mode = os.environ.get(MODE_ENV, "").strip().lower() or "auto"
    if mode not in MODES:
        raise ConfigError(
            f"{MODE_ENV}={mode!r} is not one of {', '.join(MODES)}",
            hint=f"unset it (auto: audit when a key is available), or set {MODE_ENV}=on or off",
        )
    return mode


# -- keys -------------------------------------------------------------------------------


def audit_key(keyring: Keyring) -> Key:
    """The key new lines are written with: the active audit key, else one derived from
    the active encryption key."""
    for purpose in (AUDIT, ENCRYPTION):
        with contextlib.suppress(ConfigError):
            key = keyring.active(purpose)
            return key if purpose == AUDIT else derive_audit_key(key)
    raise ConfigError(
        "no audit or encryption key",
        file=keyring.source,
        hint="create one with: custrisk keys new --purpose audit",
    )


def key_for(keyring: Keyring, key_id: str) -> Key | None:
    """The key a line names: from the keyring (a derived key kept when its encryption key
    was retired, too), else derived from its encryption key; None if absent."""
    key = keyring.get(key_id)
    if key is None and key_id.startswith(DERIVED_PREFIX):
        base = keyring.get(key_id[len(DERIVED_PREFIX) :])
        key = derive_audit_key(base) if base is not None else None
    return key


def _missing_key(keyring: Keyring, key_id: str) -> str:
    """Why the key a line or the head names is not available, and where to find it."""
    if key_id.startswith(DERIVED_PREFIX):
        base = key_id[len(DERIVED_PREFIX) :]
        return (
            f"its key '{key_id}' is derived from encryption key '{base}', and neither is "
            f"among the keys of {keyring.source} (was '{base}' retired?); point "
            f"CUSTRISK_KEYFILE at a key file that holds '{base}' (the key file's backup)"
        )
    return (
        f"its key '{key_id}' is not among the keys of {keyring.source}; "
        "point CUSTRISK_KEYFILE at the key file that holds it"
    )


def customer_token(key: Key, customer_id: str) -> str:
    """A keyed token of a customer id: searchable with the key, meaningless without."""
    digest = hmac.new(key.secret, b"customer\x00" + customer_id.encode("utf-8"), "sha256")
    return digest.hexdigest()[:24]


def _mac(key: Key, entry: Mapping[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "mac"}
    return hmac.new(key.secret, canonical(body), "sha256").hexdigest()


def canonical(data: Mapping[str, Any]) -> bytes:
    return json.dumps(
        data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def _head_mac(key: Key, count: int, last: str) -> str:
    message = f"custrisk audit head\x00{count}\x00{last}".encode("ascii")
    return hmac.new(key.secret, message, "sha256").hexdigest()


# -- the facts of one command -----------------------------------------------------------


@dataclass
class AuditRecord:
    """What one command's audit line will say; filled while the command runs."""

    command: str
    argv: list[str]
    role: str = ""
    inputs: dict[str, str] = field(default_factory=dict)  # path -> "input"/"output" kind
    outputs: dict[str, str] = field(default_factory=dict)
    model: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    customers: set[str] = field(default_factory=set)
    scope: str | None = None  # PORTFOLIO (read or wrote every customer) or ERASURE
    facts: dict[str, Any] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)  # values to redact wherever they show
    exit_code: int = 0
    error: str = ""
    hashed: bool = False  # the line will be written: its inputs are hashed as they are read
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


_current: contextvars.ContextVar[AuditRecord | None] = contextvars.ContextVar(
    "custrisk_audit", default=None
)


def current() -> AuditRecord | None:
    """The audit record of the command running in this context, if any."""
    return _current.get()


def audit_event(
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
    outputs: Iterable[str | os.PathLike[str]] = (),
    model: str | None = None,
    rows: Mapping[str, int] | None = None,
    customers: Iterable[str] = (),
    scope: str | None = None,
    role: str | None = None,
    **facts: Any,
) -> None:
    """Add facts to the audit line of the running command (a no-op outside a command).

    Parameters
    ----------
    inputs, outputs : paths
        Files or folders read or written; hashed when the line is written.
    model : str, optional
        The model id used.
    rows : mapping, optional
        Row counts by table (``{"scores": 200, "alerts": 31}``); added up per name.
    customers : str
        Customer ids the command was about; written as keyed tokens, never in clear.
    scope : str, optional
        :data:`PORTFOLIO` when the command read or wrote every customer of its inputs;
        :data:`ERASURE` when it erased the customers it names (kept over a later
        ``PORTFOLIO``: the runs it rewrites to erase them are not read for any use).
    role : str, optional
        The caller's role, once checked.
    facts
        Other plain JSON facts (short; no personal data).
    """
    record = _current.get()
    if record is None:
        return
    inputs = list(inputs)
    for path in inputs:
        record.inputs.setdefault(str(path), "")
    if record.hashed and inputs:
        want_digests(inputs)
    for path in outputs:
        record.outputs.setdefault(str(path), "")
    if model:
        record.model = str(model)
    for name, count in (rows or {}).items():
        record.rows[name] = record.rows.get(name, 0) + int(count)
    record.customers.update(str(c) for c in customers)
    if scope and record.scope != ERASURE:
        record.scope = scope
    if role:
        record.role = role
    record.facts.update(facts)


# -- redaction --------------------------------------------------------------------------


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """A command-line word or message with secrets, URL passwords and personal data
    masked."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _URL_PASSWORD.sub(r"\1***\3", text)
    text = _URL_SECRET.sub(r"\1***", text)
    return mask_pii_text(text)


def classify_params(params: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """From a command's parsed parameters: the values that are secrets (options named like
    key, secret, password, token) and those that are customer ids."""
    secrets: set[str] = set()
    customers: set[str] = set()
    for name, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        texts = {str(v) for v in values if isinstance(v, str) and v}
        if _CUSTOMER_NAME.search(name):  # one id, or several separated by commas
            customers |= {part.strip() for text in texts for part in text.split(",")} - {""}
        elif _SECRET_NAME.search(name) and not name.endswith(("file", "dir", "_id", "purpose")):
            secrets |= texts
    return secrets, customers


def _redact_argv(argv: Sequence[str], record: AuditRecord, key: Key) -> list[str]:
    tokens = {c: f"customer:{customer_token(key, c)}" for c in record.customers}
    out = []
    for word in argv:
        head, sep, value = word.partition("=") if word.startswith("-") else ("", "", word)
        parts = [tokens.get(part.strip(), part) for part in value.split(",")]
        out.append(redact_text(head + sep + ",".join(parts), record.secrets))
    return out


# -- hashing what was read and written --------------------------------------------------


def describe_path(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A file's SHA-256 and size; a folder's digest over its files' names and hashes."""
    target = Path(path)
    entry: dict[str, Any] = {"path": str(target)}
    try:
        if target.is_file():
            entry["sha256"] = sha256_file(target, reuse=True)
            entry["bytes"] = target.stat().st_size
        elif target.is_dir():
            files = sorted(p for p in target.rglob("*") if p.is_file() and not p.is_symlink())
            entry["files"] = len(files)
            if len(files) <= MAX_DIR_FILES:
                digest = hashlib.sha256()
                for file in files:
                    name = file.relative_to(target).as_posix()
                    digest.update(f"{name}\x00{sha256_file(file, reuse=True)}\n".encode())
                entry["sha256"] = digest.hexdigest()
            entry["bytes"] = sum(f.stat().st_size for f in files)
        else:
            entry["missing"] = True
    except OSError as exc:
        entry["error"] = exc.strerror or type(exc).__name__
    return entry


# -- writing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditLog:
    """Where lines go and the key that chains them."""

    path: Path
    key: Key

    @property
    def head(self) -> Path:
        return self.path.with_name(self.path.name + HEAD_SUFFIX)


def open_log(
    keyring: Keyring | None = None, path: str | os.PathLike[str] | None = None
) -> AuditLog:
    """The audit log to write to; a ConfigError when no key is available."""
    keyring = keyring if keyring is not None else load_keyring()
    return AuditLog(Path(path) if path is not None else default_log_path(), audit_key(keyring))


def _last_line(fd: int) -> bytes:
    """The last line of the file (without its newline); b"" for an empty file."""
    size = os.fstat(fd).st_size
    if size == 0:
        return b""
    end = size
    if os.pread(fd, 1, size - 1) == b"\n":
        end -= 1
    start = end
    block = 4096
    while start > 0:
        step = min(block, start)
        chunk = os.pread(fd, step, start - step)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            start = start - step + newline + 1
            break
        start -= step
        if end - start > MAX_LINE:
            break
    return os.pread(fd, end - start, start)


def _count_lines(fd: int) -> int:
    count = 0
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        count += chunk.count(b"\n")
        offset += len(chunk)
    return count


def _ensure_folder(path: Path) -> None:
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, mode=0o700)


def append(audit: AuditLog, entry: Mapping[str, Any]) -> dict[str, Any]:
    """Append ``entry`` to the log as its next line (``seq``, ``prev``, ``key`` and
    ``mac`` added), under an exclusive lock; the head is updated under the same lock."""
    _ensure_folder(audit.path)
    fd = os.open(audit.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            os.write(fd, b"\n")  # a cut line stays cut (verify names it); ours starts anew
        last = _last_line(fd)
        seq, prev = 1, GENESIS
        if last:
            try:
                before = json.loads(last)
                seq, prev = int(before["seq"]) + 1, str(before["mac"])
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                seq = _count_lines(fd) + 1  # damaged: verify says where
                prev = hashlib.sha256(last).hexdigest()
        line = {**entry, "v": FORMAT, "seq": seq, "prev": prev, "key": audit.key.id}
        line["mac"] = _mac(audit.key, line)
        os.write(fd, canonical(line) + b"\n")
        os.fsync(fd)
        _write_head(audit, seq, line["mac"])
        return line
    finally:
        os.close(fd)  # releases the lock


def _write_head(audit: AuditLog, count: int, last: str) -> None:
    head = {"v": FORMAT, "count": count, "last": last, "key": audit.key.id}
    head["mac"] = _head_mac(audit.key, count, last)
    tmp = audit.head.with_name(f".{audit.head.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(canonical(head) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, audit.head)


def build_entry(record: AuditRecord, key: Key) -> dict[str, Any]:
    """The JSON object of a record (without the chain fields)."""
    entry: dict[str, Any] = {
        "time": record.started.isoformat(timespec="milliseconds"),
        "user": _os_user(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "role": record.role or os.environ.get(ROLE_ENV, "").strip() or "-",
        "command": record.command,
        "argv": _redact_argv(record.argv, record, key),
        "exit": record.exit_code,
    }
    if record.error:
        entry["error"] = redact_text(record.error, record.secrets)
    outputs = set(record.outputs)
    inputs = [p for p in record.inputs if p not in outputs]
    if inputs:
        entry["inputs"] = [_public(describe_path(p), record) for p in sorted(inputs)]
    if outputs and produced_outputs(record.exit_code):
        entry["outputs"] = [_public(describe_path(p), record) for p in sorted(outputs)]
    elif outputs:  # what its paths hold now is not its work (an earlier run's file, say)
        entry["not_produced"] = [_public({"path": p}, record) for p in sorted(outputs)]
    if record.model:
        entry["model"] = redact_text(record.model, record.secrets)
    if record.rows:
        entry["rows"] = dict(sorted(record.rows.items()))
    if record.customers:
        if len(record.customers) <= MAX_CUSTOMERS:
            entry["customers"] = sorted(customer_token(key, c) for c in record.customers)
        else:
            entry["customers_count"] = len(record.customers)
            record.scope = record.scope or PORTFOLIO
    if record.scope:
        entry["scope"] = record.scope
    if record.facts:
        entry["facts"] = _redact_value(record.facts, record.secrets)
    return entry


def produced_outputs(exit_code: int) -> bool:
    """Whether a command that ended with ``exit_code`` produced its outputs: it ended
    with 0, or 1 (a check found a problem, after writing). One that stopped with an
    error (2), a bug (3) or a signal wrote nothing it vouches for: its line lists its
    output paths as ``not_produced``, unhashed."""
    return exit_code in (0, 1)


def produced(entry: Mapping[str, Any]) -> bool:
    """Whether a line's command ended in a way that produced its outputs."""
    exit_code = entry.get("exit", 0)
    return isinstance(exit_code, int) and produced_outputs(exit_code)


def _redact_value(value: Any, secrets: set[str]) -> Any:
    """Plain JSON with every string redacted (numbers and booleans kept)."""
    if isinstance(value, Mapping):
        return {str(k): _redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_redact_value(v, secrets) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value), secrets)


def _public(described: dict[str, Any], record: AuditRecord) -> dict[str, Any]:
    """A path may hold a customer id (customer_C001.pdf): tokens instead."""
    path = str(described["path"])
    for customer in record.customers:
        if customer and customer in path:
            path = path.replace(customer, "<customer>")
    described["path"] = redact_text(path, record.secrets)
    return described


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


@dataclass
class AuditSession:
    """The audit of one command: :func:`start` before it runs, :meth:`finish` after."""

    record: AuditRecord
    log: AuditLog | None
    note: str = ""
    _token: contextvars.Token[AuditRecord | None] | None = None

    def finish(self, exit_code: int, error: str = "") -> dict[str, Any] | None:
        """Write the command's line (when auditing); returns it."""
        if self._token is not None:
            with contextlib.suppress(ValueError):
                _current.reset(self._token)
            self._token = None
        self.record.exit_code = exit_code
        self.record.error = error
        if self.log is None and self.note.startswith(_NO_KEY) and audit_mode() != "off":
            with contextlib.suppress(ConfigError):  # the command created the first key
                self.log = open_log()
        try:
            if self.log is None:
                return None
            return append(self.log, build_entry(self.record, self.log.key))
        finally:
            if self.record.hashed:
                forget_digests()


def start(
    command: str,
    argv: Sequence[str],
    params: Mapping[str, Any] | None = None,
    *,
    bootstrap: bool = False,
) -> AuditSession:
    """Begin the audit of a command: which log and key (a note when none), its record set
    as the current one so that :func:`audit_event` reaches it.

    ``bootstrap``: the command makes the first key (``custrisk keys new``), which even
    ``CUSTRISK_AUDIT=on`` lets run without one; its line is written once the key exists.

    Raises
    ------
    ConfigError
        With ``CUSTRISK_AUDIT=on`` and no key (but for ``bootstrap``), or a log that
        cannot be written.
    """
    record = AuditRecord(command=command, argv=list(argv))
    if params:
        record.secrets, record.customers = classify_params(params)
    mode = audit_mode()
    session = AuditSession(record, None)
    if mode != "off":
        try:
            session.log = open_log()
            _ensure_folder(session.log.path)
            os.close(os.open(session.log.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
        except ConfigError as exc:
            if mode == "on" and not bootstrap:
                raise ConfigError(
                    f"{MODE_ENV}=on but the audit log cannot be kept: {exc.one_line()}"
                ) from None
            if default_keyfile().exists() or "CUSTRISK_" in exc.message:
                why = exc.one_line()  # a key file or variable that is there but unusable
            else:
                why = "custrisk keys new --purpose audit"
            session.note = f"{_NO_KEY} ({why}; {MODE_ENV}=off silences this)"
        except OSError as exc:
            where = default_log_path()
            if mode == "on":
                raise ConfigError(
                    f"cannot write the audit log: {exc.strerror or exc}",
                    file=str(where),
                    hint=f"set {LOG_ENV} to a file you can append to",
                ) from None
            session.log = None
            session.note = f"audit log off: {where}: {exc.strerror or exc} (set {LOG_ENV})"
    if session.log is not None:
        record.hashed = True
        want_digests(())  # digests taken on the way are kept for the line
    session._token = _current.set(record)
    return session


# -- reading and verifying --------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """What :func:`verify_log` found: the lines checked and the first problem, if any."""

    path: Path
    lines: int
    bad_line: int | None = None
    problem: str = ""
    keys: tuple[str, ...] = ()
    #: The key the first bad line names when that key is not available (the line itself
    #: may be intact)
    missing_key: str = ""

    @property
    def ok(self) -> bool:
        return self.bad_line is None and not self.problem


@dataclass(frozen=True)
class _Bad:
    """Why a line does not verify."""

    problem: str
    missing_key: str = ""


def verify_log(path: str | os.PathLike[str], keyring: Keyring) -> Verification:
    """Check every line's MAC and the chain, then the head: names the first bad line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            "audit log not found",
            file=str(path),
            hint=f"pass the log (default {default_log_path()}, or ${LOG_ENV})",
        )
    prev, seq = GENESIS, 0
    keys_used: list[str] = []
    number = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            fail = _check_line(raw, number, prev, keyring)
            if isinstance(fail, _Bad):
                return Verification(
                    path, number - 1, number, fail.problem, tuple(keys_used), fail.missing_key
                )
            seq, prev = number, fail["mac"]
            if fail["key"] not in keys_used:
                keys_used.append(fail["key"])
    head_problem = _check_head(path, seq, prev, keyring)
    if head_problem:
        bad = seq + 1 if "more lines" in head_problem else max(seq, 1)
        return Verification(path, seq, bad, head_problem, tuple(keys_used))
    return Verification(path, seq, None, "", tuple(keys_used))


def _check_line(raw: bytes, number: int, prev: str, keyring: Keyring) -> dict[str, Any] | _Bad:
    if not raw.endswith(b"\n"):
        return _Bad("the line is cut short (no end of line): the log was truncated")
    try:
        entry = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _Bad("not a JSON line (edited or damaged)")
    if not isinstance(entry, dict) or not isinstance(entry.get("mac"), str):
        return _Bad("not an audit entry (no mac)")
    key = key_for(keyring, str(entry.get("key", "")))
    if key is None:
        key_id = str(entry.get("key", ""))
        return _Bad(_missing_key(keyring, key_id), missing_key=key_id)
    if not hmac.compare_digest(_mac(key, entry), entry["mac"]):
        return _Bad("its MAC does not match its content: the line was edited")
    if canonical(entry) + b"\n" != raw:
        return _Bad("the line is not in the form custrisk writes (edited)")
    if entry.get("seq") != number:
        return _Bad(
            f"it says it is entry {entry.get('seq')}, but it is line {number}: lines were "
            "deleted, inserted or reordered before it"
        )
    if entry.get("prev") != prev:
        return _Bad("it does not follow the line before it: a line was deleted, inserted or moved")
    return entry


def _check_head(path: Path, count: int, last: str, keyring: Keyring) -> str:
    head_path = path.with_name(path.name + HEAD_SUFFIX)
    if not head_path.is_file():
        if count == 0:
            return ""
        return f"the head file {head_path.name} is missing: truncation cannot be ruled out"
    try:
        head = json.loads(head_path.read_bytes())
        key = key_for(keyring, str(head["key"]))
        stated, stated_last, mac = int(head["count"]), str(head["last"]), str(head["mac"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"the head file {head_path.name} is damaged"
    if key is None or not hmac.compare_digest(_head_mac(key, stated, stated_last), mac):
        return f"the head file {head_path.name} was altered or its key is missing"
    if stated > count:
        return (
            f"the head says the log has {stated} lines but it ends after line {count}: "
            "the log was truncated (more lines were written)"
        )
    if stated < count:
        return f"the log has {count} lines but the head says {stated}: lines were appended"
    if stated_last != last:
        return "the last line is not the one the head names: the tail was replaced"
    return ""


def read_entries(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The entries of a log with their line numbers (lines that do not parse are skipped:
    :func:`verify_log` is the check)."""
    with Path(path).open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                entry = json.loads(raw)
                if isinstance(entry, dict):
                    yield number, entry


@dataclass(frozen=True)
class KeyUse:
    """The lines of an audit log chained with one key (``lines`` 0: none)."""

    log: Path
    key_id: str
    lines: int = 0
    first: int = 0
    last: int = 0

    def describe(self) -> str:
        """``12 line(s) (lines 1-12) of LOG``, for messages."""
        span = (
            f"line {self.first}" if self.first == self.last else f"lines {self.first}-{self.last}"
        )
        return f"{self.lines} line(s) ({span}) of the audit log {self.log}"


def key_use(path: str | os.PathLike[str], key_id: str) -> KeyUse:
    """Which lines of the log at ``path`` are chained with ``key_id`` (none when there is
    no log): they verify only while that key is available."""
    path = Path(path)
    use = KeyUse(path, key_id)
    if not path.is_file():
        return use
    try:
        numbers = [number for number, entry in read_entries(path) if entry.get("key") == key_id]
    except OSError as exc:
        raise DataError(
            f"cannot read the audit log: {exc.strerror or exc}",
            file=str(path),
            hint=f"run as the account that writes it, or set {LOG_ENV} to the log to check",
        ) from None
    if numbers:
        use = KeyUse(path, key_id, len(numbers), numbers[0], numbers[-1])
    return use


def parse_since(text: str) -> dt.datetime:
    """``2026-12-01``, ``2026-12-01T08:00`` (UTC unless it says), or ``7d``/``12h``."""
    text = text.strip()
    match = re.fullmatch(r"(\d+)\s*([dhm])", text)
    if match:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[match.group(2)]
        return dt.datetime.now(dt.UTC) - dt.timedelta(**{unit: int(match.group(1))})
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--since {text!r} is not a date or a duration",
            hint="write 2026-12-01, 2026-12-01T08:00 or 7d / 12h",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def select_entries(
    path: str | os.PathLike[str],
    *,
    since: dt.datetime | None = None,
    user: str | None = None,
    command: str | None = None,
    customer: str | None = None,
    keyring: Keyring | None = None,
) -> list[tuple[int, dict[str, Any], str]]:
    """Entries matching every filter given, with their line and, for ``customer``, how
    they touched that customer (``named``: the command was about the customer;
    ``erased``: it erased the customer; ``portfolio``: it read or wrote every customer
    of its inputs). A line that erased other customers does not match."""
    path = Path(path)
    if not path.is_file():
        raise DataError("audit log not found", file=str(path), hint=f"set {LOG_ENV}")
    if customer is not None and keyring is None:
        raise ConfigError("--customer needs the audit key to compute the customer's token")
    tokens: dict[str, str] = {}
    found = []
    for number, entry in read_entries(path):
        if since is not None:
            try:
                when = dt.datetime.fromisoformat(str(entry.get("time")))
            except ValueError:
                continue
            if when < since:
                continue
        if user is not None and entry.get("user") != user:
            continue
        if command is not None and not str(entry.get("command", "")).startswith(command):
            continue
        how = ""
        if customer is not None and keyring is not None:
            key_id = str(entry.get("key", ""))
            if key_id not in tokens:
                key = key_for(keyring, key_id)
                tokens[key_id] = customer_token(key, customer) if key else ""
            if tokens[key_id] and tokens[key_id] in (entry.get("customers") or []):
                erased = entry.get("scope") == ERASURE and produced(entry)
                how = "erased" if erased else "named"
            elif entry.get("scope") == PORTFOLIO:
                how = "portfolio"
            else:
                continue
        found.append((number, entry, how))
    return found


def require_ok(result: Verification) -> Verification:
    """Raise CheckFailed (exit 1) naming the first bad line."""
    if not result.ok:
        raise CheckFailed(
            f"line {result.bad_line}: {result.problem} ({result.lines} line(s) before it verified)",
            hint="the lines from there on are not verified until the key is found"
            if result.missing_key
            else "keep the damaged log as evidence and investigate; a backup or the copy "
            "shipped off the machine shows the original lines",
        )
    return result


def safe_message(exc: BaseException) -> str:
    """An error's one-line text for the log (personal data masked when written)."""
    if isinstance(exc, CustriskError):
        return exc.one_line()
    return f"{type(exc).__name__}: {exc}"


__all__ = [
    "ERASURE",
    "PORTFOLIO",
    "AuditLog",
    "AuditRecord",
    "AuditSession",
    "KeyUse",
    "Verification",
    "audit_event",
    "audit_key",
    "current",
    "customer_token",
    "default_log_path",
    "derive_audit_key",
    "key_use",
    "open_log",
    "parse_since",
    "produced",
    "produced_outputs",
    "read_entries",
    "require_ok",
    "select_entries",
    "start",
    "verify_log",
]
