"""The decision service's Prometheus metrics (``GET /metrics``, text format 0.0.4): the
requests answered by route and status, their latency as a histogram by route, the
decisions given by outcome, and the model served as an info metric. No customer data:
the labels are the service's own routes, status codes, decisions and model id.

The counters live in shared memory, one region per worker process (each worker adds to
its own; ``/metrics`` on any worker sums them all), so a scrape sees one service whatever
worker answers it, and a worker replaced after a crash keeps counting where it stopped.
Written without ``prometheus_client`` (not a dependency of custrisk)."""

from __future__ import annotations

import bisect
import mmap
import struct
import threading
from collections.abc import Iterable

from custrisk import __version__

#: The routes counted by name; any other path (a 404) is counted as ``other``, so a scan
#: of random paths cannot grow the number of series.
ROUTES = (
    "/v1/score",
    "/v1/model",
    "/hooks/jiandaoyun",
    "/admin/reload",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "other",
)
OUTCOMES = ("approve", "review", "decline")
#: Upper bounds (seconds) of the latency histogram's buckets (+Inf is the count).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_STATUSES = 500  # 100 to 599
_DOUBLE = struct.Struct("<d")
# A region: requests[route][status], decisions[outcome], then per route the histogram's
# buckets, its sum and its count.
_REQUESTS = 0
_DECISIONS = _REQUESTS + len(ROUTES) * _STATUSES
_LATENCY = _DECISIONS + len(OUTCOMES)
_PER_ROUTE = len(BUCKETS) + 2
_REGION = _LATENCY + len(ROUTES) * _PER_ROUTE

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """Counters for ``regions`` processes (made before the workers fork: the memory is
    shared); :meth:`worker` is one process's view, which adds to its own region."""

    def __init__(self, regions: int = 1) -> None:
        self.regions = regions
        self._memory = mmap.mmap(-1, regions * _REGION * _DOUBLE.size)  # MAP_SHARED
        self.region = 0
        self._lock = threading.Lock()  # the event loop and the scoring threads add

    def worker(self, slot: int) -> Metrics:
        """The view of worker ``slot`` (same memory, its own region)."""
        view = Metrics.__new__(Metrics)
        view.regions, view._memory, view.region = self.regions, self._memory, slot
        view._lock = threading.Lock()
        return view

    def _add(self, index: int, amount: float = 1.0) -> None:
        offset = (self.region * _REGION + index) * _DOUBLE.size
        value = _DOUBLE.unpack_from(self._memory, offset)[0]
        _DOUBLE.pack_into(self._memory, offset, value + amount)

    def _total(self, index: int) -> float:
        return sum(
            _DOUBLE.unpack_from(self._memory, (r * _REGION + index) * _DOUBLE.size)[0]
            for r in range(self.regions)
        )

    def request(self, path: str, status: int, seconds: float | None) -> None:
        """Count one answered request and its latency (``None``: not measured, as for an
        unknown path, which Starlette answers before any route)."""
        route = ROUTES.index(path) if path in ROUTES else len(ROUTES) - 1
        status = status if 100 <= status < 100 + _STATUSES else 500
        latency = _LATENCY + route * _PER_ROUTE
        with self._lock:
            self._add(_REQUESTS + route * _STATUSES + status - 100)
            if seconds is None:
                return
            bucket = bisect.bisect_left(BUCKETS, seconds)
            if bucket < len(BUCKETS):
                self._add(latency + bucket)
            self._add(latency + len(BUCKETS), seconds)
            self._add(latency + len(BUCKETS) + 1)

    def decisions(self, outcomes: Iterable[str]) -> None:
        """Count decisions given (new ones: a replayed answer is not counted again)."""
        with self._lock:
            for outcome in outcomes:
                if outcome in OUTCOMES:
                    self._add(_DECISIONS + OUTCOMES.index(outcome))

    def render(self, model_id: str) -> str:
        """The Prometheus text exposition of every worker's counters together."""
        lines = [
            "# HELP custrisk_http_requests_total Requests answered, by route and status.",
            "# TYPE custrisk_http_requests_total counter",
        ]
        for r, route in enumerate(ROUTES):
            for s in range(_STATUSES):
                count = self._total(_REQUESTS + r * _STATUSES + s)
                if count:
                    lines.append(
                        f'custrisk_http_requests_total{{route="{route}",status="{s + 100}"}} '
                        f"{count:g}"
                    )
        lines += [
            "# HELP custrisk_http_request_duration_seconds Time to answer a request, by route.",
            "# TYPE custrisk_http_request_duration_seconds histogram",
        ]
        for r, route in enumerate(ROUTES):
            base = _LATENCY + r * _PER_ROUTE
            count = self._total(base + len(BUCKETS) + 1)
            if not count:
                continue
            running = 0.0
            name = "custrisk_http_request_duration_seconds"
            for b, bound in enumerate(BUCKETS):
                running += self._total(base + b)
                lines.append(f'{name}_bucket{{route="{route}",le="{bound:g}"}} {running:g}')
            lines.append(f'{name}_bucket{{route="{route}",le="+Inf"}} {count:g}')
            lines.append(f'{name}_sum{{route="{route}"}} {self._total(base + len(BUCKETS)):.6f}')
            lines.append(f'{name}_count{{route="{route}"}} {count:g}')
        lines += [
            "# HELP custrisk_decisions_total Decisions given, by decision.",
            "# TYPE custrisk_decisions_total counter",
        ]
        for o, outcome in enumerate(OUTCOMES):
            total = self._total(_DECISIONS + o)
            lines.append(f'custrisk_decisions_total{{decision="{outcome}"}} {total:g}')
        lines += [
            "# HELP custrisk_model_info The model served (and the custrisk version).",
            "# TYPE custrisk_model_info gauge",
            f'custrisk_model_info{{model_id="{_label(model_id)}",'
            f'version="{_label(__version__)}"}} 1',
        ]
        return "\n".join(lines) + "\n"


def _label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


__all__ = ["CONTENT_TYPE", "Metrics"]
