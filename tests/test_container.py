"""The container image's defaults: what it exposes without being told to."""

from __future__ import annotations

import re
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parent.parent / "Dockerfile"


def _env(text: str) -> dict[str, str]:
    """The ``CLAIMGATE_*`` variables the image sets (comments left out)."""
    code = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    return dict(re.findall(r"\b(CLAIMGATE_[A-Z_]+)=(\S+)", code))


def test_metrics_listen_on_loopback_unless_told_otherwise() -> None:
    env = _env(DOCKERFILE.read_text())
    assert env.get("CLAIMGATE_METRICS_ADDR", "127.0.0.1") in ("127.0.0.1", "::1", "localhost")
    # The gRPC port is the one served on all interfaces, and only under mutual TLS.
    assert env["CLAIMGATE_LISTEN"].startswith("0.0.0.0:")
    assert {"CLAIMGATE_TLS_CERT", "CLAIMGATE_TLS_KEY", "CLAIMGATE_TLS_CLIENT_CA"} <= set(env)
