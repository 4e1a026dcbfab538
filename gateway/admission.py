"""Load shedding: bounds on in-flight work per connection, per institution and per process.

Beyond a bound a call is refused at once with RESOURCE_EXHAUSTED, before any
validation or I/O, so the calls already accepted keep their latency. The
bounds nest: a connection's and an institution's bounds are below the
process's, so one client (an idle or slow one included) reaches its own bound
long before it could fill the process and lock the other institutions out.
An optional token bucket bounds each institution's rate.

The institution a call is charged to is its identity, never a claim of the
request: the client certificate's common name under mutual TLS (known when the
call starts, before its request is read), the request's ``institution_code``
on a plain-text channel. Health checks are not ClaimGateway calls and are never
counted or shed.
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
    # Calls of one connection still waiting for their request (0: the per-institution
    # bound). A client that opens calls and never sends them holds at most this many.
    per_connection_inflight_max: int = 0
    # How long a call may wait for its request, and for each next message of a stream
    # (an upload's chunks; an export's client reading its answers).
    request_wait_s: float = 10.0

    @property
    def connection_max(self) -> int:
        return self.per_connection_inflight_max or self.per_institution_inflight_max

    @property
    def exports_max(self) -> int:
        """Exports (long server streams) in flight per process: a quarter of the worker's
        bound, so that a few institutions exporting at once leave the rest for claims."""
        return max(1, self.inflight_max // 4)


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


INSTITUTIONS_TRACKED_MAX = 100_000  # bound on the per-institution and per-connection tables


class Admission:
    def __init__(self, config: AdmissionConfig) -> None:
        self.config = config
        self.inflight = 0
        self.exports = 0
        self._per_institution: dict[str, int] = {}
        self._per_connection: dict[str, int] = {}
        self._buckets: dict[str, _Bucket] = {}

    def enter_connection(self, peer: str) -> None:
        """Count a call against its connection while it waits for its request (from the
        moment it starts). Pair every admit with :meth:`leave_connection`."""
        n = self._per_connection.get(peer, 0)
        if n >= self.config.connection_max:
            raise Shed("connection_waiting",
                       f"{n} calls of this connection are waiting for their request; retry")
        if n == 0 and len(self._per_connection) >= INSTITUTIONS_TRACKED_MAX:
            raise Shed("connections", "too many connections in flight; retry")
        self._per_connection[peer] = n + 1

    def leave_connection(self, peer: str) -> None:
        n = self._per_connection[peer] - 1
        if n:
            self._per_connection[peer] = n
        else:
            del self._per_connection[peer]

    def connection_inflight(self, peer: str) -> int:
        return self._per_connection.get(peer, 0)

    def institution_inflight(self, institution: str) -> int:
        return self._per_institution.get(institution, 0)

    def enter(self, institution: str) -> None:
        """Admit a call of an institution or raise :class:`Shed`; pair it with
        :meth:`leave`. These are the institution's own bounds; a call starts to count
        against the worker's bound (:meth:`enter_work`) only once its request has
        arrived, so calls that hold a slot without sending anything are bounded by
        their institution and connection alone and can never fill the worker."""
        c = self.config
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

    def leave(self, institution: str) -> None:
        n = self._per_institution[institution] - 1
        if n:
            self._per_institution[institution] = n
        else:
            del self._per_institution[institution]

    def enter_work(self) -> None:
        """Count a call whose request has arrived against the worker's bound (checked
        after the institution's), or raise :class:`Shed`; pair it with
        :meth:`leave_work`."""
        if self.inflight >= self.config.inflight_max:
            raise Shed("inflight", f"gateway busy: {self.inflight} requests in flight; retry")
        self.inflight += 1

    def leave_work(self) -> None:
        self.inflight -= 1

    def enter_export(self) -> None:
        """Count an export against the worker's export bound, or raise :class:`Shed`;
        pair it with :meth:`leave_export`."""
        if self.exports >= self.config.exports_max:
            raise Shed("exports", f"{self.exports} exports in flight; retry later")
        self.exports += 1

    def leave_export(self) -> None:
        self.exports -= 1

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
