"""Per-member serialisation inside one process.

Commits are optimistic (a stale read makes the commit script refuse, and the
claim is adjudicated again). Claims of one member that reach the same process
at once would mostly refuse each other; queueing them on a per-member lock
turns that into one read and one commit each. Claims of different members
never wait on each other. Across processes the optimistic check still decides.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class MemberLocks:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, psn_no: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(psn_no, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[psn_no] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[psn_no]
            if users == 1:
                del self._locks[psn_no]  # the table holds only members with waiters
            else:
                self._locks[psn_no] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
