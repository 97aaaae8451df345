"""The tables of the decisions store (:mod:`custrisk.serve.store`): decisions, the 简道云
deliveries and push signatures, idempotency keys, the readiness probe and the tokens."""

from __future__ import annotations

import sqlalchemy as sa

from custrisk.data.text import MAX_ID_CHARS

#: The longest 简道云 deliver id kept (``X-JDY-DeliverId``: a UUID, 36 characters).
MAX_DELIVER_ID_CHARS = 120

metadata = sa.MetaData()
decisions_table = sa.Table(
    "decisions",
    metadata,
    sa.Column("decision_id", sa.String(40), primary_key=True),
    sa.Column("created_at", sa.String(32), nullable=False, index=True),
    sa.Column("caller", sa.String(80), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("model_id", sa.String(120), nullable=False),
    sa.Column("customer_id", sa.String(MAX_ID_CHARS)),
    sa.Column("input_fingerprint", sa.String(64), nullable=False),
    sa.Column("pd", sa.Float),
    sa.Column("score", sa.Integer),
    sa.Column("grade", sa.String(16)),
    sa.Column("decision", sa.String(16), index=True),
    sa.Column("inputs_masked", sa.Text, nullable=False),
    sa.Column("outputs", sa.Text, nullable=False),
)
deliveries_table = sa.Table(
    "deliveries",
    metadata,
    sa.Column("deliver_id", sa.String(MAX_DELIVER_ID_CHARS), primary_key=True),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("response", sa.Text, nullable=False),
)
#: Signatures of the 简道云 pushes accepted lately: one signed push is accepted once
#: (under one deliver id), so a captured push replayed within the freshness window under
#: another deliver id is refused. Rows older than the window are pruned.
push_signatures_table = sa.Table(
    "push_signatures",
    metadata,
    sa.Column("signature", sa.String(64), primary_key=True),
    sa.Column("deliver_id", sa.String(MAX_DELIVER_ID_CHARS), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
)
#: ``POST /v1/score`` requests sent with an ``Idempotency-Key``: per caller (token id) and
#: key, the request's fingerprint and, once answered, the answer and its decision ids
#: (stored in the transaction that stores the decisions). A row without an answer is a
#: request in flight. Rows older than :data:`IDEMPOTENCY_KEEP_SECONDS` are pruned.
idempotency_table = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("caller", sa.String(80), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_fingerprint", sa.String(64), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False, index=True),
    sa.Column("decision_ids", sa.Text, nullable=False),
    sa.Column("response", sa.Text, nullable=False),
)
#: One row, written by each readiness check (``GET /readyz``): the store takes a write.
probe_table = sa.Table(
    "readiness_probe",
    metadata,
    sa.Column("probe", sa.Integer, primary_key=True),
    sa.Column("checked_at", sa.String(32), nullable=False),
)
tokens_table = sa.Table(
    "tokens",
    metadata,
    sa.Column("token_id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.String(80), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("revoked_at", sa.String(32)),
    # (added later: a store made before tokens could expire gets them when opened)
    sa.Column("expires_at", sa.String(32)),  # None: never
    sa.Column("expiry_warned_at", sa.String(32)),  # when the log last said it expires soon
)
#: The columns of ``tokens`` a store made before them may lack.
LATER_TOKEN_COLUMNS = ("expires_at", "expiry_warned_at")


__all__ = [
    "LATER_TOKEN_COLUMNS",
    "MAX_DELIVER_ID_CHARS",
    "decisions_table",
    "deliveries_table",
    "idempotency_table",
    "metadata",
    "probe_table",
    "push_signatures_table",
    "tokens_table",
]
