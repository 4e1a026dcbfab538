"""Gateway configuration: command-line flags over ``CLAIMGATE_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass


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
    grace_s: float = 10.0  # drain time on SIGTERM
    max_message_bytes: int = 16 * 1024 * 1024

    @classmethod
    def from_env(cls) -> Config:
        d = cls()
        return cls(
            listen=_env("LISTEN", d.listen),
            redis_url=_env("REDIS_URL", d.redis_url),
            redis_cluster=_env("REDIS_CLUSTER", "0") in ("1", "true", "yes"),
            data_dir=_env("DATA_DIR", d.data_dir),
            appendfsync=_env("APPENDFSYNC", d.appendfsync),
            grace_s=float(_env("GRACE_S", str(d.grace_s))),
        )
