"""A request to the decision service as the routes see it: the HTTP error answer
(:class:`Problem`), the access log's record of a call (no personal data), and a JSON
body parsed with its depth and strings checked."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse

from custrisk.privacy import mask_pii_text


class Problem(Exception):
    """An HTTP error answer: status, a one-line message, optional details."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers or {}

    def note(self) -> str:
        """The access log's note: the message, or for records' problems only where they
        are (record and field): a problem's text may quote the value (two ids that
        normalise alike), and the access log holds no field values; a phone, ID number
        or e-mail sent as a field's name is masked."""
        details = self.details
        if isinstance(details, list) and details and all(isinstance(d, dict) for d in details):
            places = [f"record {d.get('index')} field {d.get('field')!r}" for d in details[:3]]
            more = f" and {len(details) - 3} more" if len(details) > 3 else ""
            return mask_pii_text(f"{len(details)} record problem(s): {', '.join(places)}{more}")
        return mask_pii_text(self.message[:200])

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": self.message}
        if self.details is not None:
            body["problems"] = self.details
        return JSONResponse(body, status_code=self.status, headers=self.headers)


@dataclass
class Call:
    """One request as the access log sees it (no personal data)."""

    request_id: str
    caller: str = "-"
    records: int = 0
    decisions: list[str] = field(default_factory=list)
    note: str = ""


#: How deep a request's JSON may nest: a record is an object of values, a batch a list
#: of them, a 简道云 push a few envelopes more; deeper is an attack, not a customer.
MAX_JSON_DEPTH = 16


def parse_json_body(body: bytes, content_type: str = "") -> Any:
    """The request body parsed, or a 400: empty, not JSON (a form's fields, named by the
    ``content_type`` sent), nested deeper than :data:`MAX_JSON_DEPTH`, or a string
    holding a lone surrogate (``"\\ud800"``, valid JSON that no UTF-8 text can hold)."""
    if not body.strip():
        raise Problem(
            400,
            "the body is empty: send one customer as a JSON object, or "
            '{"records": [...]} (Content-Type: application/json)',
        )
    try:
        data = json.loads(body)
    except RecursionError:
        raise Problem(400, f"the body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except UnicodeDecodeError as exc:  # a GBK body, say: json reads UTF-8 (or -16, -32)
        raise Problem(
            400,
            f"the body is not UTF-8 text (byte 0x{body[exc.start]:02x} at offset {exc.start}): "
            "send the JSON encoded as UTF-8",
        ) from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):  # Python's message names its own API
            raise Problem(
                400,
                "the body holds a number with more digits than any value can have "
                f"(over {sys.get_int_max_str_digits():,})",
            ) from None
        kind = content_type.split(";")[0].strip().lower()
        sent = (
            f" (it was sent as {kind}: a form's fields; send the JSON itself)"
            if kind in ("application/x-www-form-urlencoded", "multipart/form-data")
            else ""
        )
        raise Problem(400, f"the body is not valid JSON{sent}: {exc}") from None
    _check_json(data)
    return data


def _check_json(data: Any) -> None:
    """Walk a parsed body without recursion: depth and strings checked (see
    :func:`parse_json_body`). A bad string is named by its place (``records[3].name``),
    never by its value."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        value, depth, place = stack.pop()
        if isinstance(value, str):
            _check_text(value, place or "the body")
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > MAX_JSON_DEPTH:
            raise Problem(
                400, f"the body nests deeper than {MAX_JSON_DEPTH} levels (at {place or '$'})"
            )
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, f"a key in {place or 'the body'}")
                name = key if len(key) <= 40 else key[:40] + "…"
                stack.append((item, depth + 1, f"{place}.{name}" if place else name))
        else:
            stack.extend((item, depth + 1, f"{place}[{i}]") for i, item in enumerate(value))


def _check_text(text: str, place: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Problem(
            400,
            f"{place} holds a lone surrogate (\\u{ord(text[exc.start]):04x}), which no "
            "UTF-8 text can hold: send the character whole (one outside the BMP as a pair)",
        ) from None
