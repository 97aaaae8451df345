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
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from custrisk.config._yaml import config_root, load_yaml_file
from custrisk.errors import ConfigError
from custrisk.io.header import HeaderMatcher

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


@dataclass(frozen=True)
class JdyProfile:
    """How a 简道云 form maps to the model's input fields."""

    fields: Mapping[str, str]
    id_field: str | None = "_id"
    ops: tuple[str, ...] = OPS
    path: str = "<identity>"
    identity: bool = field(default=False)

    def record(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The model's input fields of a pushed form record, and its id."""
        if self.identity:
            out = {
                k: v
                for k, v in data.items()
                if not str(k).startswith("_") and k not in SYSTEM_FIELDS
            }
        else:
            out = {self.fields[k]: v for k, v in data.items() if k in self.fields}
        record_id = data.get(self.id_field) if self.id_field else None
        return out, str(record_id) if record_id not in (None, "") else None


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
    fields: dict[str, str] = {}
    # (matched as a request's fields are: 年齡 is the model's 年龄)
    matcher = HeaderMatcher(model_fields)
    for form_field, model_field in raw.items():
        found = matcher.find(str(model_field))
        if found is None:
            raise root.error(
                f"fields.{form_field}",
                f"{model_field!r} is not an input field of the model",
                hint="GET /v1/model or custrisk models show MODEL lists them",
            )
        fields[str(form_field)] = found
    ops = root.text_list("ops", list(OPS)) or OPS
    for i, op in enumerate(ops):
        if op not in OPS:
            raise root.error(f"ops[{i}]", f"{op!r} is not a 简道云 op", hint=f"one of {OPS}")
    id_field = root.text("id_field", "_id")
    return JdyProfile(fields, id_field=id_field, ops=tuple(ops), path=file)


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
    "MAX_AGE_SECONDS",
    "OPS",
    "SECRET_ENV",
    "SYSTEM_FIELDS",
    "JdyProfile",
    "check_secret",
    "identity_profile",
    "load_profile",
    "signature",
    "verify",
]
