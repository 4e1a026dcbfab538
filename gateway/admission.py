"""Load shedding: a bound on in-flight work per process, and per institution.

Beyond a bound a request is refused at once with RESOURCE_EXHAUSTED, before
any validation or I/O, so the requests already accepted keep their latency.
The per-institution limits stop one misbehaving hospital system from starving
the pharmacies: a bound on its concurrent requests and, optionally, a token
bucket on its rate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(slots=True)
class AdmissionConfig:
    inflight_max: int = 32  # per process
    per_institution_inflight_max: int = 16
    per_institution_rate_per_s: float = 0.0  # 0: no rate limit
    per_institution_burst: int = 100


class Shed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


INSTITUTIONS_TRACKED_MAX = 100_000  # bound on the per-institution tables


class Admission:
    def __init__(self, config: AdmissionConfig) -> None:
        self.config = config
        self.inflight = 0
        self._per_institution: dict[str, int] = {}
        self._buckets: dict[str, _Bucket] = {}

    def enter(self, institution: str) -> None:
        """Admit a request or raise :class:`Shed`. Pair every admit with :meth:`leave`."""
        c = self.config
        if self.inflight >= c.inflight_max:
            raise Shed("inflight", f"gateway busy: {self.inflight} requests in flight; retry")
        n = self._per_institution.get(institution, 0)
        if n >= c.per_institution_inflight_max:
            raise Shed(
                "institution_inflight",
                f"institution_code: {n} requests of this institution in flight; retry",
            )
        if c.per_institution_rate_per_s > 0:
            self._take_token(institution)
        if n == 0 and len(self._per_institution) >= INSTITUTIONS_TRACKED_MAX:
            raise Shed("institutions", "too many institutions in flight; retry")
        self._per_institution[institution] = n + 1
        self.inflight += 1

    def leave(self, institution: str) -> None:
        self.inflight -= 1
        n = self._per_institution[institution] - 1
        if n:
            self._per_institution[institution] = n
        else:
            del self._per_institution[institution]

    def _take_token(self, institution: str) -> None:
        c = self.config
        now = time.monotonic()
        b = self._buckets.get(institution)
        if b is None:
            if len(self._buckets) >= INSTITUTIONS_TRACKED_MAX:
                self._buckets.clear()  # forget idle buckets; they refill to full anyway
            b = self._buckets[institution] = _Bucket(float(c.per_institution_burst), now)
        b.tokens = min(float(c.per_institution_burst),
                       b.tokens + (now - b.stamp) * c.per_institution_rate_per_s)
        b.stamp = now
        if b.tokens < 1.0:
            raise Shed("institution_rate", "institution_code: request rate over its limit; retry")
        b.tokens -= 1.0
