"""Real-time decisions over HTTP (``custrisk serve``): a Starlette app on uvicorn that
scores new customers with an application model, stores every decision and accepts
简道云 data pushes. docs/serve.md."""

from custrisk.serve.app import RateLimiter, ServiceState, create_app, openapi_document
from custrisk.serve.jiandaoyun import JdyProfile, load_profile, signature, verify
from custrisk.serve.settings import ServeSettings
from custrisk.serve.store import SCOPES, DecisionStore, TokenInfo, fingerprint, store_url
from custrisk.serve.webhook import generic_webhook_notifier

__all__ = [
    "SCOPES",
    "DecisionStore",
    "JdyProfile",
    "RateLimiter",
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
