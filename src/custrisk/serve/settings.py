"""Settings of ``custrisk serve`` (one frozen object, built by the CLI or a caller)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Body of a request above this many bytes is refused (413).
DEFAULT_MAX_BODY = 1 << 20
#: Records in one POST /v1/score at most.
DEFAULT_MAX_BATCH = 1000
#: Requests per second per token (sustained) and the burst above it.
DEFAULT_RATE = 50.0
DEFAULT_BURST = 100


@dataclass(frozen=True)
class ServeSettings:
    """What the service serves and how.

    Attributes
    ----------
    model : str
        Model folder, NAME (latest version, re-resolved on reload) or NAME@VERSION.
    on_high_risk : callable, optional
        Called with a decision (masked: no personal data) whose decision is in the
        policy's ``decision.notify`` list, off the request path (a background thread);
        the CLI's ``--notify-webhook URL`` posts it as JSON.
    """

    model: str
    models_dir: str | os.PathLike[str] | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    db: str | os.PathLike[str] | None = None
    access_log: str | os.PathLike[str] | None = Path("serve") / "access.jsonl"
    policy: str | os.PathLike[str] | None = None
    alert_rules: str | os.PathLike[str] | None = None
    lang: str = "zh"
    max_body: int = DEFAULT_MAX_BODY
    max_batch: int = DEFAULT_MAX_BATCH
    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    jdy_profile: str | os.PathLike[str] | None = None
    jdy_secret_env: str = "CUSTRISK_JDY_SECRET"
    require_signed: bool | None = None
    allow_unverified: bool = False
    on_high_risk: Callable[[dict[str, Any]], None] | None = None


__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_BODY",
    "DEFAULT_RATE",
    "ServeSettings",
]
