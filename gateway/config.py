"""Gateway configuration: command-line flags over ``CLAIMGATE_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _env(name: str, default: str) -> str:
    return os.environ.get(f"CLAIMGATE_{name}", default)


@dataclass(slots=True)
class Config:
    listen: str = "127.0.0.1:50051"
    redis_url: str = ""  # empty: start a private redis-server in data_dir
    redis_cluster: bool = False
    data_dir: str = ".claimgate"
    # Embedded server only. "always": an acknowledged settlement survives a power
    # loss; the gateway's default, because a settlement the POS saw must never vanish.
    appendfsync: str = "always"
    # Durability across failover: acknowledge a write only once this many replicas
    # hold it (WAIT), else answer UNAVAILABLE after the timeout. 0: once the master has it.
    replica_ack: int = 0
    replica_ack_timeout_ms: int = 200
    grace_s: float = 10.0  # drain time on SIGTERM
    max_message_bytes: int = 16 * 1024 * 1024
    workers: int = 0  # 0: one per core
    metrics_port: int = 0  # 0: no /metrics endpoint
    metrics_addr: str = "127.0.0.1"
    access_log: bool = True
    budgets_ms: dict[str, int] = field(default_factory=dict)  # overrides of the defaults
    # In flight per worker, sized to the budget: a worker settles ~1,500 claims/s, so
    # 32 waiting claims are ~20 ms of queue. Under 2x overload a larger bound let the
    # refusals and the queue eat the 200 ms budget of claims already accepted.
    inflight_max: int = 32
    per_institution_inflight_max: int = 16
    per_institution_rate_per_s: float = 0.0
    per_connection_inflight_max: int = 0  # 0: the per-institution bound
    # For a call's request, and between stream messages: enough for a large message on a
    # slow link; an idle call holds only its own institution's slots meanwhile.
    request_wait_s: float = 10.0
    # A connection holds a file descriptor: one still in its TLS handshake after this
    # long, or with no call for this long, is closed (the client reconnects on demand).
    handshake_timeout_s: float = 10.0
    connection_idle_s: float = 300.0
    # Mutual TLS: the server's certificate and key, and the CA that issues the
    # institutions' client certificates. Without them, serving needs `plaintext`.
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    plaintext: bool = False

    @classmethod
    def from_env(cls) -> Config:
        from gateway.budget import parse_budgets

        d = cls()
        return cls(
            listen=_env("LISTEN", d.listen),
            redis_url=_env("REDIS_URL", d.redis_url),
            redis_cluster=_env("REDIS_CLUSTER", "0") in ("1", "true", "yes"),
            data_dir=_env("DATA_DIR", d.data_dir),
            appendfsync=_env("APPENDFSYNC", d.appendfsync),
            replica_ack=int(_env("REPLICA_ACK", str(d.replica_ack))),
            replica_ack_timeout_ms=int(
                _env("REPLICA_ACK_TIMEOUT_MS", str(d.replica_ack_timeout_ms))
            ),
            grace_s=float(_env("GRACE_S", str(d.grace_s))),
            workers=int(_env("WORKERS", str(d.workers))),
            metrics_port=int(_env("METRICS_PORT", str(d.metrics_port))),
            metrics_addr=_env("METRICS_ADDR", d.metrics_addr),
            access_log=_env("ACCESS_LOG", "1") in ("1", "true", "yes"),
            budgets_ms=parse_budgets(_env("BUDGETS_MS", "")),
            inflight_max=int(_env("INFLIGHT_MAX", str(d.inflight_max))),
            per_institution_inflight_max=int(
                _env("PER_INSTITUTION_INFLIGHT_MAX", str(d.per_institution_inflight_max))
            ),
            per_institution_rate_per_s=float(
                _env("PER_INSTITUTION_RATE", str(d.per_institution_rate_per_s))
            ),
            per_connection_inflight_max=int(
                _env("PER_CONNECTION_INFLIGHT_MAX", str(d.per_connection_inflight_max))
            ),
            request_wait_s=float(_env("REQUEST_WAIT_S", str(d.request_wait_s))),
            tls_cert=_env("TLS_CERT", ""),
            tls_key=_env("TLS_KEY", ""),
            tls_client_ca=_env("TLS_CLIENT_CA", ""),
            plaintext=_env("PLAINTEXT", "0") in ("1", "true", "yes"),
        )

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert or self.tls_key or self.tls_client_ca)
