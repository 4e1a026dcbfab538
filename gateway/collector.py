"""The cycle collector's settings for a long-running process of the project (a gateway
worker, a bench client process): it allocates many short-lived objects and few cycles.
A module of its own, so that a process can take them without importing the server."""

from __future__ import annotations

import gc


def tune_gc() -> None:
    """Move everything alive after start-up (modules, compiled kernels, reference
    tables) out of the collector's sight, and collect the young generation less
    often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
