"""简道云 (Jiandaoyun) data push: signature, freshness, and the profile that maps a form's
fields to the model's input fields.

简道云 POSTs ``{"op": "data_create" | "data_update", "data": {...}}`` with the query
parameters ``timestamp`` and ``nonce`` and the headers ``X-JDY-Signature`` (SHA-1 hex of
``"{nonce}:{payload}:{secret}:{timestamp}"``, payload the raw body) and
``X-JDY-DeliverId`` (the same id on a retried delivery). The secret is the push
setting's key, read from the environment (``CUSTRISK_JDY_SECRET`` by default).

A profile (YAML) says which form fields feed which model fields::

    version: 1
    id_field: _id               # the form record's id becomes the customer id
    ops: [data_create, data_update]
    fields:                     # form field (widget id or label) -> model field
      _widget_1700000000001: 年龄
      月收入: 月收入
      _widget_1700000000003: {field: 地区, part: province}     # an address: one part
      _widget_1700000000004: {field: 有房产, option: 房产}      # a checkbox: yes/no

Widgets that send objects or lists are read as the model's fields can take them
(:func:`widget_value`): an address (地址, 定位) as its region or one part, a member or a
department as its name, a phone widget as its number, a checkbox group or multi-select as
its items joined with 、 or, with ``option``, yes/no whether that option is ticked.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from custrisk.config._yaml import Node, config_root, join_limited, load_yaml_file
from custrisk.errors import ConfigError
from custrisk.io.header import HeaderMatcher
from custrisk.privacy import mask_pii_text

SECRET_ENV = "CUSTRISK_JDY_SECRET"
#: A push older or newer than this (seconds) is refused as stale (a replay).
MAX_AGE_SECONDS = 300
OPS = ("data_create", "data_update")
#: The fields 简道云 adds to every pushed record besides the form's own (``_id`` and the
#: ``_widget_...`` ids start with ``_``): app and form ids, who and when, the flow state.
SYSTEM_FIELDS = frozenset(
    {
        "appId",
        "entryId",
        "creator",
        "updater",
        "deleter",
        "createTime",
        "updateTime",
        "deleteTime",
        "flowState",
    }
)
_KEYS = ("version", "description", "id_field", "ops", "fields")
#: The parts of an address (地址) or a location (定位), in the order an address is written.
ADDRESS_PARTS = ("province", "city", "district", "detail")
#: The parts an address is read as by default: its region, not the street (``detail``,
#: personal data), which a profile names with ``part: detail`` when a field needs it.
REGION_PARTS = ADDRESS_PARTS[:3]
#: The keys of 简道云's objects a profile's ``part`` may pick: an address's parts, a
#: member's name and username (成员), a department's name and number (部门), a phone
#: widget's number (手机).
PARTS = (*ADDRESS_PARTS, "name", "username", "dept_no", "phone")
#: How the items of a checkbox group or multi-select are joined into one text.
JOIN = "、"


@dataclass(frozen=True)
class Target:
    """Where a form field's value goes: a model field, and how a widget's object or list
    is read for it (``part``: one key of the object; ``option``: yes/no, whether the list
    holds that option)."""

    field: str
    part: str | None = None
    option: str | None = None


@dataclass(frozen=True)
class PushedRecord:
    """A pushed form record as the model's fields: ``values`` to score, ``record_id``,
    ``unusable`` (model field -> why its widget's value cannot be read; never the value)
    and ``ignored`` (the form's fields that are no field of the model, without a
    profile)."""

    values: dict[str, Any]
    record_id: str | None
    unusable: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class JdyProfile:
    """How a 简道云 form maps to the model's input fields."""

    fields: Mapping[str, tuple[Target, ...]]
    id_field: str | None = "_id"
    ops: tuple[str, ...] = OPS
    path: str = "<identity>"
    identity: bool = field(default=False)

    def read(
        self, data: Mapping[str, Any], knows: Callable[[str], bool] | None = None
    ) -> PushedRecord:
        """The model's input fields of a pushed form record, and its id.

        Without a profile (``identity``) the form's fields are named as the model's; those
        ``knows`` does not know (other widgets of the form) are left out and listed in
        ``ignored``. A value the model field cannot take (a sub-form, files) is left out
        and listed in ``unusable``."""
        pairs: list[tuple[str, Target, Any]] = []
        ignored: list[str] = []
        if self.identity:
            for k, v in data.items():
                if str(k).startswith("_") or k in SYSTEM_FIELDS:
                    continue
                if knows is not None and not knows(str(k)):
                    ignored.append(mask_pii_text(str(k)))  # named in the answer and log
                else:
                    pairs.append((str(k), Target(str(k)), v))
        else:
            for k, v in data.items():
                for target in self.fields.get(str(k), ()):
                    pairs.append((str(k), target, v))
        values: dict[str, Any] = {}
        unusable: dict[str, str] = {}
        for form_field, target, value in pairs:
            read, why = widget_value(value, target)
            if why is None:
                values[target.field] = read
            else:
                same = form_field == target.field
                shown = target.field if same else f"{form_field} -> {target.field}"
                unusable[target.field] = f"{shown}: {why}"
        record_id = data.get(self.id_field) if self.id_field else None
        if isinstance(record_id, Mapping | list):
            record_id = None
        return PushedRecord(
            values,
            str(record_id) if record_id not in (None, "") else None,
            unusable,
            ignored,
        )

    def record(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The model's input fields of a pushed form record, and its id (:meth:`read`)."""
        pushed = self.read(data)
        return pushed.values, pushed.record_id


def widget_value(value: Any, target: Target) -> tuple[Any, str | None]:
    """A widget's value as ``target``'s model field reads it, and ``None``; or ``None``
    and why it cannot be read (naming its shape, never the value).

    A scalar is kept. An object: its ``part`` when the target names one; else an
    address's (地址, 定位) region written together (江苏省无锡市梁溪区: the street is
    read only as ``part: detail``), a member's
    or a department's ``name``, a phone widget's ``phone``. A list (checkbox group,
    multi-select, several members): with ``option``, whether that option is among its
    items (true/false); else its items read as above, joined with 、 (one item: that item;
    none: blank).
    """
    if target.option is not None:
        if value is None or value == "" or value == []:
            return None, None
        items = value if isinstance(value, list) else [value]
        texts = []
        for item in items:
            text, why = _one(item, target.part)
            if why is not None:
                return None, f"a list holding {why}, not options to tick"
            texts.append(str(text))
        return target.option in texts, None
    if isinstance(value, list):
        read = []
        for item in value:
            text, why = _one(item, target.part)
            if why is not None:
                return None, f"a list holding {why}, not one value (a sub-form or files?)"
            if text not in (None, ""):
                read.append(text)
        if not read:
            return None, None
        return (read[0], None) if len(read) == 1 else (JOIN.join(map(str, read)), None)
    text, why = _one(value, target.part)
    return (None, why) if why is not None else (text, None)


def _one(value: Any, part: str | None) -> tuple[Any, str | None]:
    """One item's value: a scalar as it is, an object as :func:`widget_value` reads it."""
    if isinstance(value, list):
        return None, "a list"
    if not isinstance(value, Mapping):
        return value, None
    # (its keys masked: a hostile or mistaken form may key an object by a phone number)
    keys = mask_pii_text(join_limited(map(str, value), 4))
    if part is not None:
        found = value.get(part)
        if isinstance(found, Mapping | list):
            return None, f"an object whose {part!r} is not a value"
        if part not in value:
            return None, f"an object without {part!r} (its keys: {keys})"
        return found, None
    if any(k in value for k in ADDRESS_PARTS):  # an address or a location (定位)
        # its region: the street (detail) is personal data, read only when named (part)
        parts = [value.get(k) for k in REGION_PARTS]
        return "".join(str(p) for p in parts if isinstance(p, str | int) and p != "") or None, None
    if "url" in value:  # an image, an attachment, a signature: its name is no answer
        return None, f"a file ({keys})"
    for key in ("name", "phone"):  # a member or a department; a phone widget
        if key in value and not isinstance(value[key], Mapping | list):
            return value[key], None
    return None, f"an object ({keys}) with no value to read (part: picks one of {', '.join(PARTS)})"


def identity_profile() -> JdyProfile:
    """No profile: the form's field labels are the model's fields (``_id``, the
    ``_widget_...`` ids and 简道云's system fields, :data:`SYSTEM_FIELDS`, are left out)."""
    return JdyProfile(fields={}, identity=True)


def load_profile(path: str | os.PathLike[str], model_fields: set[str]) -> JdyProfile:
    """Read and check a profile against the model's input fields."""
    file = str(path)
    root = config_root(load_yaml_file(path), file, allowed=_KEYS, required=("fields",))
    raw = root.get("fields")
    if not isinstance(raw, Mapping) or not raw:
        raise root.error("fields", "expected a mapping of form field -> model field")
    fields: dict[str, tuple[Target, ...]] = {}
    # (matched as a request's fields are: 年齡 is the model's 年龄)
    matcher = HeaderMatcher(model_fields)
    for form_field, spec in raw.items():
        key = f"fields.{form_field}"
        specs = spec if isinstance(spec, list) and spec else [spec]
        targets = []
        for i, one in enumerate(specs):
            where = f"{key}[{i}]" if isinstance(spec, list) else key
            targets.append(_target(root, where, one, matcher))
        fields[str(form_field)] = tuple(targets)
    ops = root.text_list("ops", list(OPS)) or OPS
    for i, op in enumerate(ops):
        if op not in OPS:
            raise root.error(f"ops[{i}]", f"{op!r} is not a 简道云 op", hint=f"one of {OPS}")
    id_field = root.text("id_field", "_id")
    return JdyProfile(fields, id_field=id_field, ops=tuple(ops), path=file)


def _target(root: Node, key: str, spec: Any, matcher: HeaderMatcher) -> Target:
    """One form field's target: a model field, or ``{field, part}`` / ``{field, option}``."""
    part = option = None
    if isinstance(spec, Mapping):
        node = Node(spec, root.file, key)
        node.check_keys(("field", "part", "option"), required=("field",))
        model_field = node.text("field")
        part = node.text("part", allowed=PARTS)
        option = node.get("option")
        if option is not None:
            if isinstance(option, bool) or not isinstance(option, str | int | float):
                raise node.error("option", f"expected the text of an option, got {option!r}")
            option = str(option)
    elif isinstance(spec, str | int) and not isinstance(spec, bool):
        model_field = str(spec)
    else:
        raise root.error(
            key,
            f"expected a model field, or {{field: ..., part: ...}} or {{field: ..., option: ...}}; "
            f"got {spec!r}",
        )
    found = matcher.find(model_field)
    if found is None:
        raise root.error(
            key,
            f"{model_field!r} is not an input field of the model",
            hint="GET /v1/model or custrisk models show MODEL lists them",
        )
    return Target(found, part=part, option=option)


def signature(nonce: str, payload: str, secret: str, timestamp: str) -> str:
    """简道云's signature: SHA-1 hex of ``nonce:payload:secret:timestamp``."""
    text = f"{nonce}:{payload}:{secret}:{timestamp}"
    return hashlib.sha1(text.encode("utf-8")).hexdigest()  # noqa: S324 - 简道云's scheme


def verify(
    *,
    nonce: str | None,
    timestamp: str | None,
    payload: str,
    secret: str,
    given: str | None,
    now: float | None = None,
    max_age: int = MAX_AGE_SECONDS,
) -> str | None:
    """``None`` when the push is genuine and fresh, else why not (for the 401)."""
    if not nonce or not timestamp or not given:
        return "missing timestamp, nonce or X-JDY-Signature"
    expected = signature(nonce, payload, secret, timestamp)
    if not hmac.compare_digest(expected, given.strip().lower()):
        return "signature does not match (check the push secret)"
    try:
        sent = int(timestamp)
    except ValueError:
        return "timestamp is not a number of seconds"
    if abs((now if now is not None else time.time()) - sent) > max_age:
        return f"timestamp is more than {max_age} s away from now (a replay or a wrong clock)"
    return None


def secret_from_env(name: str = SECRET_ENV) -> str | None:
    value = os.environ.get(name)
    return value or None


def check_secret(name: str) -> str:
    value = secret_from_env(name)
    if value is None:
        raise ConfigError(
            f"the 简道云 push secret is not set: environment variable {name}",
            key="--jdy-secret-env",
            hint=f"export {name}=<the push setting's secret>, or leave --jdy-profile out",
        )
    return value


__all__ = [
    "ADDRESS_PARTS",
    "MAX_AGE_SECONDS",
    "OPS",
    "SECRET_ENV",
    "SYSTEM_FIELDS",
    "JdyProfile",
    "PushedRecord",
    "Target",
    "check_secret",
    "identity_profile",
    "load_profile",
    "signature",
    "verify",
    "widget_value",
]
