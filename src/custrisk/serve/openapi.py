"""The decision service described: its OpenAPI 3.1 document, the record schema built from
the model's fields, and the page that shows it (``GET /docs``)."""

from __future__ import annotations

from typing import Any

from custrisk import __version__
from custrisk.data.text import MAX_ID_CHARS
from custrisk.scoring.records import RecordScorer

JSON_TYPE = "application/json"

DOCS_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>custrisk serve</title>
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"><p>custrisk decision service: the OpenAPI document is at
<a href="/openapi.json">/openapi.json</a>.</p></div>
<script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>if (window.SwaggerUIBundle) SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
</body></html>"""

_JSON_TYPES = {"int": "integer", "float": "number", "bool": "boolean"}


def openapi_document(scorer: RecordScorer) -> dict[str, Any]:
    """OpenAPI 3.1 of the service, the record schema built from the model's fields."""
    properties: dict[str, Any] = {}
    for f in scorer.fields:
        if f.role == "target":
            continue
        kind = _JSON_TYPES.get(f.type, "string")
        schema: dict[str, Any] = {
            "type": [kind, "string", "null"] if kind != "string" else ["string", "null"]
        }
        if f.allowed is not None:
            # not an enum: a value not seen in training is scored (in the binning's
            # "other" bin), and a client generated from an enum would refuse it itself
            schema["examples"] = list(f.allowed)
        if f.role == "id":
            schema["maxLength"] = MAX_ID_CHARS
        schema["description"] = (
            (f.role if f.role == f.type else f"{f.role}, {f.type}")  # (not "id, id")
            + (
                f", seen in training: {', '.join(f.allowed)} (any other value is scored as 'other')"
                if f.allowed is not None
                else ""
            )
            + (", personal data (stored masked)" if f.pii else "")
            + (
                ", optional: a record without one (or with it empty) gets its decision id "
                "(in upper case) as customer id; one sent is normalised (trimmed, upper "
                "case) and answered as sent under record_id"
                if f.role == "id"
                else ""
            )
            + (f", read as {f.name} = value × {f.scale:,}" if f.scale is not None else "")
            + (f", a number, with or without its unit (35 or '35{f.unit}')" if f.unit else "")
        )
        properties[f.header] = schema
    record = {"type": "object", "properties": properties, "additionalProperties": False}
    decision = {
        "type": "object",
        "properties": {
            "decision_id": {"type": "string"},
            "customer_id": {"type": "string"},
            "record_id": {
                "type": "string",
                "description": "the id as the request sent it, when normalising changed it",
            },
            "pd": {"type": "number"},
            "score": {"type": "integer"},
            "grade": {"type": "string"},
            "grade_label": {"type": "string"},
            "decision": {"type": "string", "enum": ["approve", "review", "decline"]},
            "recommended_limit": {"type": ["number", "null"]},
            "reasons": {"type": "array", "items": {"type": "object"}},
            "model_id": {"type": "string"},
        },
    }
    error = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "problems": {"type": "array"}},
    }
    secured: list[dict[str, list[str]]] = [{"bearer": []}]
    answers = {
        "401": {"description": "missing or unknown token"},
        "413": {"description": "body over the size limit"},
        "422": {
            "description": "a field is unknown or a value invalid",
            "content": {JSON_TYPE: {"schema": error}},
        },
        "429": {"description": "rate limit; see Retry-After"},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "custrisk decision service",
            "version": __version__,
            "description": f"model {scorer.model_id}",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Record": record, "Decision": decision, "Error": error},
        },
        "paths": {
            "/v1/score": {
                "post": {
                    "summary": "Score a customer (a record) or a batch ({records: [...]} or [...])",
                    "security": secured,
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                            "description": "a retry with the same key and body gets the "
                            "stored decision(s), with Idempotent-Replayed: true",
                        }
                    ],
                    "requestBody": {
                        "content": {
                            JSON_TYPE: {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/Record"},
                                        {
                                            "type": "object",
                                            "properties": {
                                                "records": {
                                                    "type": "array",
                                                    "items": {
                                                        "$ref": "#/components/schemas/Record"
                                                    },
                                                }
                                            },
                                        },
                                        {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Record"},
                                            "description": "a batch, as {records: [...]}",
                                        },
                                    ]
                                }
                            }
                        }
                    },
                    "responses": {
                        "200": {
                            "description": "the decision(s)",
                            "content": {
                                JSON_TYPE: {
                                    "schema": {
                                        "oneOf": [
                                            {"$ref": "#/components/schemas/Decision"},
                                            {
                                                "type": "object",
                                                "description": "a batch's, in its order",
                                                "properties": {
                                                    "decisions": {
                                                        "type": "array",
                                                        "items": {
                                                            "$ref": "#/components/schemas/Decision"
                                                        },
                                                    }
                                                },
                                            },
                                        ]
                                    }
                                }
                            },
                        },
                        **answers,
                        "409": {"description": "the same Idempotency-Key is being answered"},
                    },
                }
            },
            "/v1/model": {
                "get": {
                    "summary": "The model's fields, metrics and decisions",
                    "security": secured,
                    "responses": {"200": {"description": "model summary"}},
                }
            },
            "/hooks/jiandaoyun": {
                "post": {
                    "summary": "简道云 data push (signed with X-JDY-Signature)",
                    "responses": {
                        "200": {
                            "description": "the decision; or scored: false, a record that "
                            "cannot be scored (not retried by 简道云)"
                        },
                        "401": {"description": "bad signature or stale"},
                        "422": {"description": "a form the profile does not map (fix, retry)"},
                    },
                }
            },
            "/admin/reload": {
                "post": {
                    "summary": "Switch to the model's latest version (admin scope)",
                    "security": secured,
                    "responses": {"200": {"description": "reloaded"}},
                }
            },
            "/healthz": {
                "get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: the model is loaded and decisions can be stored",
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "not ready; the reason in JSON"},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (text format)",
                    "responses": {"200": {"description": "the metrics"}},
                }
            },
        },
    }


__all__ = ["openapi_document"]
