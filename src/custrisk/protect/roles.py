"""Access by role: who may see customers' personal data in clear (``configs/roles.yaml``).

A role is a set of rights (``clear_pii``: write personal data in clear, e.g.
``--rejects-unmasked``; ``decrypt``: ``custrisk decrypt``, the re-identification table,
``custrisk keys export``). The caller's role comes from the operating system: the user
name (``users:``), else the process's groups (``groups:``; the most privileged of them),
else ``default_role``. ``CUSTRISK_ROLE`` may only choose a role with no more rights than
that (an admin working as analyst), so a variable never grants anything.

Every check goes through :func:`require`; a refusal is a :class:`RoleRefused` (exit 2,
one line naming the user, the role and what was refused) and is passed to the refusal
listeners first (:func:`add_refusal_listener`: the audit log records them).
"""

from __future__ import annotations

import datetime as dt
import grp
import os
import pwd
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from custrisk.config._yaml import open_config
from custrisk.errors import ConfigError, UsageError

ROLES_ENV = "CUSTRISK_ROLES"
ROLE_ENV = "CUSTRISK_ROLE"
CLEAR_PII = "clear_pii"
DECRYPT = "decrypt"
RIGHTS = (CLEAR_PII, DECRYPT)


class RoleRefused(UsageError):
    """The caller's role does not allow what was asked (exit 2)."""


@dataclass(frozen=True)
class Role:
    name: str
    rights: frozenset[str]
    description: str = ""
    #: Every command of this role pseudonymises its outputs, as with --pseudonymise.
    pseudonymise: bool = False


@dataclass(frozen=True)
class RolesConfig:
    path: str
    roles: dict[str, Role]
    default_role: str
    users: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    output_group: str | None = None

    def output_gid(self) -> int | None:
        """The gid outputs are shared with (mode 0640), or ``None`` (0600)."""
        if self.output_group is None:
            return None
        try:
            return grp.getgrnam(self.output_group).gr_gid
        except KeyError:
            raise ConfigError(
                f"output_group '{self.output_group}' is not a group of this system",
                file=self.path,
                key="output_group",
                hint="create the group or set output_group: null",
            ) from None


@dataclass(frozen=True)
class Caller:
    """Who runs this command and as which role."""

    user: str
    groups: tuple[str, ...]
    role: Role
    bound: str  # how the role was found: user, group NAME, default, CUSTRISK_ROLE

    def may(self, right: str) -> bool:
        return right in self.role.rights


@dataclass(frozen=True)
class Refusal:
    """What a refusal listener receives."""

    time: str
    user: str
    role: str
    right: str
    action: str


_LISTENERS: list[Callable[[Refusal], None]] = []


def add_refusal_listener(listener: Callable[[Refusal], None]) -> None:
    """Call ``listener`` with every refusal (before it is raised): the hook of the audit
    log. A listener that fails does not hide the refusal."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


def remove_refusal_listener(listener: Callable[[Refusal], None]) -> None:
    if listener in _LISTENERS:
        _LISTENERS.remove(listener)


def load_roles(path: str | os.PathLike[str] | None = None) -> RolesConfig:
    """The roles config: ``path``, else ``$CUSTRISK_ROLES``, else the packaged one."""
    if path is None:
        named = os.environ.get(ROLES_ENV, "").strip()
        path = Path(named) if named else None
    root = open_config(
        path,
        "roles.yaml",
        allowed=("version", "roles", "default_role", "users", "groups", "output_group"),
        required=("roles", "default_role"),
    )
    roles: dict[str, Role] = {}
    for name, node in root.children("roles").items():
        node.check_keys(("description", "rights", "pseudonymise"))
        rights = node.text_list("rights", [], allow_empty=True) or ()
        unknown = [r for r in rights if r not in RIGHTS]
        if unknown:
            raise node.error(
                "rights", f"unknown right '{unknown[0]}'", hint=f"rights: {', '.join(RIGHTS)}"
            )
        roles[name] = Role(
            name,
            frozenset(rights),
            str(node.get("description") or ""),
            node.flag("pseudonymise", False),
        )
    if not roles:
        raise root.error("roles", "no roles defined")

    def role_name(value: object, key: str) -> str:
        if not isinstance(value, str) or value not in roles:
            raise root.error(
                key, f"'{value}' is not a role", hint=f"roles: {', '.join(sorted(roles))}"
            )
        return value

    default = role_name(root.get("default_role"), "default_role")
    bindings: dict[str, dict[str, str]] = {}
    for kind in ("users", "groups"):
        table = root.get(kind) or {}
        if not isinstance(table, dict):
            raise root.error(kind, "expected a mapping of name: role")
        bindings[kind] = {str(k): role_name(v, f"{kind}.{k}") for k, v in table.items()}
    group = root.get("output_group")
    if group is not None and (not isinstance(group, str) or not group):
        raise root.error("output_group", "expected a group name or null")
    return RolesConfig(
        root.file, roles, default, bindings["users"], bindings["groups"], group or None
    )


def _user_and_groups() -> tuple[str, tuple[str, ...]]:
    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    names = []
    for gid in sorted({os.getgid(), *os.getgroups()}):
        try:
            names.append(grp.getgrgid(gid).gr_name)
        except KeyError:
            names.append(str(gid))
    return user, tuple(names)


def current_caller(config: RolesConfig | None = None) -> Caller:
    """The caller of this process and its role (see the module)."""
    config = config or load_roles()
    user, groups = _user_and_groups()
    if user in config.users:
        role, bound = config.roles[config.users[user]], f"user {user}"
    else:
        found = [config.roles[config.groups[g]] for g in groups if g in config.groups]
        if found:
            role = max(found, key=lambda r: (len(r.rights), r.name))
            bound = "group " + next(g for g in groups if config.groups.get(g) == role.name)
        else:
            role, bound = config.roles[config.default_role], "default"
    asked = os.environ.get(ROLE_ENV, "").strip()
    if asked and asked != role.name:
        if asked not in config.roles:
            raise ConfigError(
                f"{ROLE_ENV}={asked} is not a role of {config.path}",
                hint=f"roles: {', '.join(sorted(config.roles))}",
            )
        chosen = config.roles[asked]
        if not chosen.rights <= role.rights or (role.pseudonymise and not chosen.pseudonymise):
            _refuse(
                Caller(user, groups, role, bound),
                "role",
                f"act as role '{asked}' ({ROLE_ENV}), which has rights role '{role.name}' lacks",
            )
        role, bound = chosen, ROLE_ENV
    return Caller(user, groups, role, bound)


def _refuse(caller: Caller, right: str, action: str) -> None:
    refusal = Refusal(
        dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        caller.user,
        caller.role.name,
        right,
        action,
    )
    for listener in list(_LISTENERS):
        try:
            listener(refusal)
        except Exception:  # noqa: BLE001, S110 - a broken listener must not hide the refusal
            pass
    raise RoleRefused(
        f"user {caller.user} (role {caller.role.name}, from {caller.bound}) may not {action}",
        hint=(
            f"this needs the right '{right}'"
            if right in RIGHTS
            else f"{ROLE_ENV} may only lower your role"
        )
        + f"; ask an administrator, or see the roles config (${ROLES_ENV})",
    )


def require(right: str, action: str, config: RolesConfig | None = None) -> Caller:
    """The caller, when its role has ``right``; else a :class:`RoleRefused` (after the
    refusal listeners). ``action`` says what was refused, e.g. "decrypt scores.csv.enc"."""
    if right not in RIGHTS:
        raise ValueError(f"unknown right {right!r}")
    caller = current_caller(config)
    if not caller.may(right):
        _refuse(caller, right, action)
    return caller
