"""Real-time decisions over HTTP (``custrisk serve``): a Starlette app on uvicorn that
scores new customers with an application model, stores every decision and accepts
简道云 data pushes. docs/serve.md.

The names below are imported when first used, so that ``custrisk serve --help`` and the
CLI's other commands (which read ``custrisk.serve.settings``) do not pay for Starlette or
scikit-learn."""

from __future__ import annotations

from typing import TYPE_CHECKING

from custrisk.lazy import lazy_names

if TYPE_CHECKING:
    from custrisk.serve.app import create_app
    from custrisk.serve.jiandaoyun import JdyProfile, load_profile, signature, verify
    from custrisk.serve.openapi import openapi_document
    from custrisk.serve.settings import ServeSettings
    from custrisk.serve.state import RateLimiter, ServiceState
    from custrisk.serve.store import SCOPES, DecisionStore, TokenInfo, fingerprint, store_url
    from custrisk.serve.webhook import generic_webhook_notifier

_WHERE = {
    "RateLimiter": "state",
    "ServiceState": "state",
    "create_app": "app",
    "openapi_document": "openapi",
    "JdyProfile": "jiandaoyun",
    "load_profile": "jiandaoyun",
    "signature": "jiandaoyun",
    "verify": "jiandaoyun",
    "ServeSettings": "settings",
    "SCOPES": "store",
    "DecisionStore": "store",
    "TokenInfo": "store",
    "fingerprint": "store",
    "store_url": "store",
    "generic_webhook_notifier": "webhook",
}

__all__ = [
    "DecisionStore",
    "JdyProfile",
    "RateLimiter",
    "SCOPES",
    "ServeSettings",
    "ServiceState",
    "TokenInfo",
    "create_app",
    "fingerprint",
    "generic_webhook_notifier",
    "load_profile",
    "openapi_document",
    "signature",
    "store_url",
    "verify",
]


__getattr__, __dir__ = lazy_names(__name__, {n: f"{__name__}.{m}" for n, m in _WHERE.items()})
